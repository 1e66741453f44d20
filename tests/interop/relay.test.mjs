// js-libp2p <-> rendezvousd as a circuit relay v2 (--relay, WIRE.md §11):
// nodes with @libp2p/circuit-relay-v2's transport reserve a slot on the
// daemon, register their /p2p-circuit addresses there (push mode and
// /rendezvous/1.0.0), find each other and talk through the daemon. Then the
// relay's rules, driven by hand-made hop and stop messages so that nothing
// on the client side enforces them: the data and duration limits cut a
// circuit, a target that does not read throttles the source (the relay
// holds a window, not the stream), reservations are counted per IP, a peer
// cannot open circuits to itself, and a peer the access rules allow "relay"
// relays without limits.
//
// Run: cd tests/interop && node --test --test-concurrency=1 ./relay.test.mjs
// RDV_BUILD selects the folder holding rendezvousd (default: ../../build).

import './lib/polyfill.mjs'

import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { test } from 'node:test'

import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { RecordEnvelope } from '@libp2p/peer-record'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'

import { binPath, createNode, deadline, nextEvent, run, startDaemon, tcpAddr, tempDir, withTimeout, OP_TIMEOUT_MS } from './lib/daemon.mjs'
import { PushSession } from './lib/push-client.mjs'
import {
  concat, decodeFields, encodeFields, openMsgStream, rdv1Register, request,
  signedRecord, S, varint
} from './lib/rendezvous.mjs'

const TT = { timeout: 90_000 }
const HOP = '/libp2p/circuit/relay/0.2.0/hop'
const STOP = '/libp2p/circuit/relay/0.2.0/stop'
const ECHO = '/relay-test/echo/1.0.0'
const RS = { OK: 100, RESERVATION_REFUSED: 200, RESOURCE_LIMIT_EXCEEDED: 201, PERMISSION_DENIED: 202, NO_RESERVATION: 204 }
const relayArgs = (...extra) => ['--listen', '/ip4/127.0.0.1/tcp/0', '--metrics', '127.0.0.1:0', '--relay', ...extra]

/** The daemon's metrics as { 'name{labels}': value }. */
async function metrics (daemon) {
  const url = daemon.output().match(/Metrics: (http:\/\/\S+)/)?.[1]
  assert.ok(url, 'the daemon prints its metrics address')
  const text = await (await fetch(url, { signal: deadline() })).text()
  const out = {}
  for (const line of text.split('\n')) {
    const m = line.match(/^(rendezvousd_relay_\S+) (\d+)$/)
    if (m) out[m[1]] = Number(m[2])
  }
  return out
}

/** A js-libp2p node with the circuit relay transport that reserves on the daemon. */
async function relayedNode (t, daemon) {
  const privateKey = await generateKeyPair('Ed25519')
  const node = await createNode(t, {
    privateKey,
    transports: [tcp(), circuitRelayTransport()],
    listen: [`${tcpAddr(daemon)}/p2p-circuit`]
  })
  const circuit = () => node.getMultiaddrs().filter((a) => a.toString().includes('/p2p-circuit'))
  if (circuit().length === 0) {
    await nextEvent(node, 'self:peer:update', () => circuit().length > 0)
  }
  await node.handle(ECHO, (stream) => {
    stream.addEventListener('message', (evt) => stream.send(evt.data.subarray()))
    stream.addEventListener('remoteCloseWrite', () => stream.close())
  }, { runOnLimitedConnection: true })
  return { node, privateKey, id: node.peerId.toString(), circuit: circuit().map(String) }
}

/** Sends text on a new ECHO stream through `addr` and returns what came back. */
async function echoThrough (node, addr, text) {
  const stream = await node.dialProtocol(multiaddr(addr), ECHO, { signal: deadline(), runOnLimitedConnection: true })
  const got = []
  const done = new Promise((resolve, reject) => {
    stream.addEventListener('message', (evt) => {
      got.push(Buffer.from(evt.data.subarray()))
      if (Buffer.concat(got).length >= text.length) resolve(Buffer.concat(got).toString())
    })
    stream.addEventListener('close', (evt) => reject(evt.error ?? new Error('closed before the echo')))
  })
  stream.send(Buffer.from(text))
  const answer = await withTimeout(done, OP_TIMEOUT_MS, 'echo through the relay')
  await stream.close()
  return answer
}

test('two js-libp2p nodes reserve on rendezvousd, find each other there and talk through it', TT, async (t) => {
  const daemon = await startDaemon(t, relayArgs())
  const a = await relayedNode(t, daemon)
  const b = await relayedNode(t, daemon)
  const relayId = daemon.peerId.toString()
  for (const n of [a, b]) {
    assert.ok(n.circuit.some((x) => x.includes(`/p2p/${relayId}/p2p-circuit/p2p/${n.id}`)), n.circuit.join(' '))
  }
  // identify told them the daemon is a relay
  const protocols = await a.node.peerStore.get(daemon.peerId).then((p) => p.protocols)
  assert.ok(protocols.includes(HOP), protocols.join(' '))
  assert.ok(!protocols.includes(STOP))

  // A registers in push mode, B with /rendezvous/1.0.0 (a signed record).
  const connA = a.node.getConnections(daemon.peerId)[0]
  const connB = b.node.getConnections(daemon.peerId)[0]
  const sa = await PushSession.open(connA, deadline())
  sa.register('relay-app', a.id, a.circuit)
  sa.rendezvous('relay-app')
  assert.deepEqual(await sa.list('none'), []) // barrier: A is registered and subscribed
  const rb = await openMsgStream(connB, '/rendezvous/1.0.0', deadline())
  const reg = await request(rb, rdv1Register('relay-app', await signedRecord(b.privateKey, b.circuit), 120n))
  assert.equal(reg.registerResponse.status, S.OK)

  // A hears of B (push, B's signed record's addresses); B finds A with a
  // push DISCOVER (the addresses A registered).
  const ev = await sa.events(1)
  assert.equal(ev[0][1], b.id)
  assert.deepEqual(ev[0].slice(2), b.circuit)
  const sb = await PushSession.open(connB, deadline())
  const found = await sb.list('relay-app')
  const entryA = found.find((e) => e[0] === a.id)
  assert.deepEqual(entryA.slice(1), a.circuit)

  // Both ways through the relay.
  assert.equal(await echoThrough(b.node, entryA[1], 'hello from B'), 'hello from B')
  assert.equal(await echoThrough(a.node, ev[0][2], 'hello from A'), 'hello from A')
  const conns = b.node.getConnections(a.node.peerId)
  assert.ok(conns.length >= 1 && conns.every((c) => c.limits != null), 'a limited (relayed) connection')

  const m = await metrics(daemon)
  assert.equal(m.rendezvousd_relay_reservations, 2)
  assert.ok(m.rendezvousd_relay_circuits_total >= 1)
  assert.ok(m.rendezvousd_relay_bytes_total > 24)

  // A leaves: its reservation and its push registration go with its connection.
  sb.rendezvous('relay-app')
  const snap = await sb.next()
  assert.deepEqual(snap.register.map((r) => r.peer), [a.id])
  await a.node.stop()
  assert.deepEqual(await sb.events(1), [['-', a.id]])
  assert.equal((await metrics(daemon)).rendezvousd_relay_reservations, 1)
})

// ---- hand-made hop and stop messages -----------------------------------------

const reserve = () => encodeFields([[1, 'varint', 0]])
const connect = (peerId) => encodeFields([[1, 'varint', 1], [2, 'msg', encodeFields([[1, 'bytes', peerId.toMultihash().bytes]])]])
/** A framed StopMessage STATUS. */
const stopStatus = (code) => {
  const m = encodeFields([[1, 'varint', 1], [4, 'varint', code]])
  return concat([varint(m.length), m])
}

/** { type, status, limit: {duration, data}, reservation: {expire, addrs, voucher} } of a HopMessage. */
function decodeHop (bytes) {
  const m = decodeFields(bytes)
  const one = (k) => m.get(k)?.[0]
  const sub = (k) => one(k) == null ? undefined : decodeFields(one(k))
  const limit = sub(4)
  const rsvp = sub(3)
  return {
    type: Number(one(1) ?? 0),
    status: Number(one(5) ?? 0),
    limit: limit && { duration: Number(limit.get(1)?.[0] ?? 0), data: Number(limit.get(2)?.[0] ?? 0) },
    reservation: rsvp && { expire: Number(rsvp.get(1)[0]), addrs: rsvp.get(2) ?? [], voucher: rsvp.get(3)?.[0] }
  }
}

/** A plain node (no relay transport) on the daemon. */
async function plainNode (t, daemon) {
  const node = await createNode(t)
  const conn = await node.dial(tcpAddr(daemon), { signal: deadline() })
  return { node, conn }
}

async function hop (conn, msg) {
  const s = await openMsgStream(conn, HOP, deadline())
  s.send(msg)
  const ans = await s.next()
  assert.ok(ans, 'an answer to the hop request')
  return { s, ans: decodeHop(ans) }
}

/**
 * A target that reserves by hand and accepts stop streams itself: each
 * accepted circuit is handed to `onCircuit(stream, connectMsg)` after OK.
 */
async function handTarget (t, daemon, onCircuit) {
  const tg = await plainNode(t, daemon)
  await tg.node.handle(STOP, (stream) => {
    let buf = new Uint8Array(0)
    const first = (evt) => {
      buf = concat([buf, evt.data.subarray()])
      const len = buf[0] // messages here are < 128 bytes
      if (buf.length < 1 + len) return
      stream.removeEventListener('message', first)
      const msg = decodeFields(buf.subarray(1, 1 + len))
      stream.send(stopStatus(100))
      onCircuit(stream, msg)
    }
    stream.addEventListener('message', first)
  }, { runOnLimitedConnection: true })
  const r = await hop(tg.conn, reserve())
  assert.equal(r.ans.status, RS.OK)
  return { ...tg, rsvp: r.ans }
}

/** A source's circuit to `target`: the hop stream, after STATUS OK. */
async function openCircuit (conn, target) {
  const { s, ans } = await hop(conn, connect(target))
  assert.equal(ans.status, RS.OK, `CONNECT answered ${ans.status}`)
  return { s, ans }
}

/** Resolves with how the stream ended ('reset' or 'closed') and the bytes it got. */
function watchEnd (stream) {
  let bytes = 0
  stream.addEventListener('message', (evt) => { bytes += evt.data.byteLength })
  return withTimeout(new Promise((resolve) => {
    stream.addEventListener('close', (evt) => resolve({ how: evt.error ? 'reset' : 'closed', bytes: () => bytes }))
  }), 30_000, 'the circuit ending')
}

test('a reservation: expiry, voucher, the relay\'s addresses, and the limits', TT, async (t) => {
  const daemon = await startDaemon(t, relayArgs('--relay-circuit-data', '4096', '--relay-circuit-duration', '30'))
  const { node, conn } = await plainNode(t, daemon)
  const { ans } = await hop(conn, reserve())
  assert.equal(ans.status, RS.OK)
  const now = Date.now() / 1000
  assert.ok(ans.reservation.expire > now + 3500 && ans.reservation.expire < now + 3700, String(ans.reservation.expire))
  assert.deepEqual(ans.limit, { duration: 30, data: 4096 })
  assert.deepEqual(ans.reservation.addrs.map((x) => multiaddr(x).toString()), daemon.addrs.map(String))
  // The voucher: an envelope signed by the relay for this peer.
  const env = await RecordEnvelope.openAndCertify(ans.reservation.voucher, 'libp2p-relay-rsvp')
  assert.deepEqual([...env.payloadType], [0x03, 0x02])
  const v = decodeFields(env.payload)
  assert.deepEqual([...v.get(1)[0]], [...daemon.peerId.toMultihash().bytes])
  assert.deepEqual([...v.get(2)[0]], [...node.peerId.toMultihash().bytes])
  assert.equal(Number(v.get(3)[0]), ans.reservation.expire)

  // CONNECT to a peer without a reservation; to oneself (a loop of them).
  const other = await plainNode(t, daemon)
  assert.equal((await hop(conn, connect(other.node.peerId))).ans.status, RS.NO_RESERVATION)
  for (let i = 0; i < 20; i++) {
    assert.equal((await hop(conn, connect(node.peerId))).ans.status, RS.PERMISSION_DENIED)
  }
  const m = await metrics(daemon)
  assert.equal(m['rendezvousd_relay_refusals_total{reason="self"}'], 20)
  assert.equal(m['rendezvousd_relay_refusals_total{reason="no_reservation"}'], 1)
  assert.equal(m.rendezvousd_relay_circuits, 0)
})

test('a circuit is cut at its data limit, and at its duration', TT, async (t) => {
  const daemon = await startDaemon(t, relayArgs('--relay-circuit-data', '4096', '--relay-circuit-duration', '2'))
  let got = null
  const target = await handTarget(t, daemon, (stream) => { got = watchEnd(stream) })
  const src = await plainNode(t, daemon)

  // 4096 bytes go across; the byte after them ends the circuit.
  const c1 = await openCircuit(src.conn, target.node.peerId)
  assert.deepEqual(c1.ans.limit, { duration: 2, data: 4096 })
  const srcEnd = watchEnd(c1.s.stream)
  c1.s.sendRaw(new Uint8Array(4096 + 1000).fill(7))
  const [s1, t1] = await Promise.all([srcEnd, (async () => { while (!got) await new Promise((r) => setTimeout(r, 10)); return got })()])
  assert.equal(s1.how, 'reset')
  assert.equal(t1.bytes(), 4096)
  got = null

  // A quiet circuit ends after its duration.
  const c2 = await openCircuit(src.conn, target.node.peerId)
  const started = Date.now()
  const s2 = await watchEnd(c2.s.stream)
  assert.equal(s2.how, 'reset')
  assert.ok(Date.now() - started >= 1500, `ended after ${Date.now() - started} ms`)
  const m = await metrics(daemon)
  assert.equal(m['rendezvousd_relay_circuits_ended_total{reason="data"}'], 1)
  assert.equal(m['rendezvousd_relay_circuits_ended_total{reason="duration"}'], 1)
  assert.equal(m.rendezvousd_relay_circuits, 0)
})

test('a target that does not read throttles the source; the relay holds a window, not the stream', TT, async (t) => {
  const daemon = await startDaemon(t, relayArgs('--relay-circuit-data', '0', '--relay-circuit-duration', '0'))
  let targetStream = null
  const received = []
  const target = await handTarget(t, daemon, (stream) => {
    stream.pause() // reads nothing: no window goes back to the relay
    stream.addEventListener('message', (evt) => received.push(Buffer.from(evt.data.subarray())))
    targetStream = stream
  })
  const src = await plainNode(t, daemon)
  const c = await openCircuit(src.conn, target.node.peerId)
  assert.equal(c.ans.limit, undefined) // no limits configured

  const total = 4 << 20
  const data = Buffer.alloc(total)
  for (let i = 0; i < total; i += 4) data.writeUInt32LE(i, i)
  let sent = 0
  const writer = (async () => {
    while (sent < total) {
      const chunk = data.subarray(sent, sent + 65536)
      sent += chunk.length
      if (!c.s.stream.send(chunk)) await nextEvent(c.s.stream, 'drain', () => true, 60_000)
    }
  })()
  // The target's window (256 KiB) fills and the relay holds at most the
  // source's window more: the source stalls far short of 4 MiB.
  let m
  for (let i = 0; i < 200; i++) {
    m = await metrics(daemon)
    if (m.rendezvousd_relay_bytes_total >= 256 * 1024) break
    await new Promise((r) => setTimeout(r, 25))
  }
  const url = daemon.output().match(/Metrics: (http:\/\/\S+)/)[1]
  const text = await (await fetch(url)).text()
  const held = Number(text.match(/^rendezvousd_buffered_bytes\{direction="in"\} (\d+)$/m)[1])
  assert.ok(held <= 512 * 1024, `relay holds ${held} bytes`)
  assert.ok(m.rendezvousd_relay_bytes_total <= 1 << 20, `relay passed ${m.rendezvousd_relay_bytes_total} bytes`)
  assert.ok(sent < total, 'the source is throttled')

  // The target reads again: everything arrives, in order.
  targetStream.resume()
  await withTimeout(writer, 60_000, 'the source writing 4 MiB')
  await withTimeout((async () => {
    while (received.reduce((n, b) => n + b.length, 0) < total) await new Promise((r) => setTimeout(r, 20))
  })(), 60_000, 'the target receiving 4 MiB')
  assert.ok(Buffer.concat(received).equals(data))
})

test('reservations from many peer ids on one IP stop at the per-IP limit', TT, async (t) => {
  const daemon = await startDaemon(t, relayArgs('--relay-max-reservations-per-ip', '3'))
  const statuses = []
  const nodes = []
  for (let i = 0; i < 5; i++) {
    const n = await plainNode(t, daemon)
    nodes.push(n)
    statuses.push((await hop(n.conn, reserve())).ans.status)
  }
  assert.deepEqual(statuses, [RS.OK, RS.OK, RS.OK, RS.RESERVATION_REFUSED, RS.RESERVATION_REFUSED])
  // A refresh of a held reservation is not a new one.
  assert.equal((await hop(nodes[0].conn, reserve())).ans.status, RS.OK)
  // One leaves: its slot is free again once the daemon has seen it go.
  await nodes[1].node.stop()
  let st
  for (let i = 0; i < 200 && st !== RS.OK; i++) {
    st = (await hop(nodes[4].conn, reserve())).ans.status
    if (st !== RS.OK) await new Promise((r) => setTimeout(r, 20))
  }
  assert.equal(st, RS.OK)
  const m = await metrics(daemon)
  assert.ok(m['rendezvousd_relay_refusals_total{reason="ip_reservations"}'] >= 2)
  assert.equal(m.rendezvousd_relay_reservations, 3)
})

test('circuits per peer: a target with the most circuits refuses more until one ends', TT, async (t) => {
  const daemon = await startDaemon(t, relayArgs('--relay-max-circuits-per-peer', '2'))
  const target = await handTarget(t, daemon, () => {})
  const src = await plainNode(t, daemon)
  const c1 = await openCircuit(src.conn, target.node.peerId)
  await openCircuit(src.conn, target.node.peerId)
  assert.equal((await hop(src.conn, connect(target.node.peerId))).ans.status, RS.RESOURCE_LIMIT_EXCEEDED)
  const end = watchEnd(c1.s.stream)
  c1.s.stream.abort(new Error('done'))
  await end
  let st
  for (let i = 0; i < 200 && st !== RS.OK; i++) {
    st = (await hop(src.conn, connect(target.node.peerId))).ans.status
    if (st !== RS.OK) await new Promise((r) => setTimeout(r, 20))
  }
  assert.equal(st, RS.OK)
  const m = await metrics(daemon)
  assert.ok(m['rendezvousd_relay_refusals_total{reason="circuits"}'] >= 1)
  assert.equal(m.rendezvousd_relay_circuits, 2)
})

test('the access rules lift the limits for a peer allowed "relay"', TT, async (t) => {
  const dir = await tempDir(t)
  const privateKey = await generateKeyPair('Ed25519')
  const { peerIdFromPrivateKey } = await import('@libp2p/peer-id')
  const id = peerIdFromPrivateKey(privateKey)
  const acl = path.join(dir, 'acl')
  await writeFile(acl, `allow all * *\nallow relay * ${id}\n`)
  const daemon = await startDaemon(t, relayArgs('--acl-file', acl))
  const trusted = await createNode(t, { privateKey })
  const conn = await trusted.dial(tcpAddr(daemon), { signal: deadline() })
  const { ans } = await hop(conn, reserve())
  assert.equal(ans.status, RS.OK)
  assert.equal(ans.limit, undefined)
  const other = await plainNode(t, daemon)
  const r2 = await hop(other.conn, reserve())
  assert.deepEqual(r2.ans.limit, { duration: 120, data: 131072 })
  // A circuit to the trusted peer carries no limit either.
  await trusted.handle(STOP, (stream) => {
    stream.addEventListener('message', function first () {
      stream.removeEventListener('message', first)
      stream.send(stopStatus(100))
    })
  }, { runOnLimitedConnection: true })
  const c = await openCircuit(other.conn, trusted.peerId)
  assert.equal(c.ans.limit, undefined)
})

test('a reservation that expires while its connection stays refuses new circuits but does not end the push session', TT, async (t) => {
  const daemon = await startDaemon(t, relayArgs('--relay-reservation-ttl', '5'))
  const target = await handTarget(t, daemon, () => {})
  const s = await PushSession.open(target.conn, deadline())
  s.register('expiry-room', target.node.peerId.toString(), [`${tcpAddr(daemon)}/p2p-circuit`])
  assert.deepEqual(await s.list('none'), []) // barrier: registered
  const src = await plainNode(t, daemon)
  await openCircuit(src.conn, target.node.peerId) // within the TTL
  let st = RS.OK
  const t0 = Date.now()
  while (st === RS.OK && Date.now() - t0 < 20_000) {
    await new Promise((resolve) => setTimeout(resolve, 250))
    const r = await hop(src.conn, connect(target.node.peerId))
    st = r.ans.status
    r.s.stream.abort(new Error('only asking'))
  }
  assert.equal(st, RS.NO_RESERVATION)
  assert.ok(Date.now() - t0 >= 4000, `expired after ${Date.now() - t0} ms`)
  const sp = await PushSession.open(src.conn, deadline())
  assert.deepEqual((await sp.list('expiry-room')).map((e) => e[0]), [target.node.peerId.toString()])
  assert.equal((await metrics(daemon)).rendezvousd_relay_reservations, 0)
})

test('the relay is refused with more than one worker (reservations live in one process)', TT, async () => {
  const r = await run(binPath('rendezvousd'), ['--relay', '--workers', '2', '--cluster', 'redis://127.0.0.1:1', '--listen', '/ip4/127.0.0.1/tcp/0'])
  assert.equal(r.code, 2)
  assert.match(r.stderr, /--relay: the relay needs one worker/)
})

test('reservations in all: refused at the limit, until expired ones make room', TT, async (t) => {
  const daemon = await startDaemon(t, relayArgs('--relay-max-reservations', '2', '--relay-reservation-ttl', '5'))
  const nodes = []
  for (let i = 0; i < 3; i++) nodes.push(await plainNode(t, daemon))
  assert.equal((await hop(nodes[0].conn, reserve())).ans.status, RS.OK)
  assert.equal((await hop(nodes[1].conn, reserve())).ans.status, RS.OK)
  assert.equal((await hop(nodes[2].conn, reserve())).ans.status, RS.RESERVATION_REFUSED)
  let st = RS.RESERVATION_REFUSED
  const t0 = Date.now()
  while (st !== RS.OK && Date.now() - t0 < 20_000) {
    await new Promise((resolve) => setTimeout(resolve, 250))
    st = (await hop(nodes[2].conn, reserve())).ans.status
  }
  assert.equal(st, RS.OK)
  const m = await metrics(daemon)
  assert.equal(m.rendezvousd_relay_reservations, 1)
  assert.ok(m['rendezvousd_relay_refusals_total{reason="reservations"}'] >= 1)
})
