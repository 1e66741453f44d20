// js-libp2p <-> rendezvousd interop: the libp2p host layer (TCP, Noise, yamux,
// multistream-select, identify, ping), key persistence, shutdown, and the C
// `rdv ping` dialer against a js-libp2p listener.
//
// Run: cd tests/interop && node --test --test-concurrency=1 --test-reporter=spec ./*.test.mjs
// RDV_BUILD selects the folder holding rendezvousd and rdv (default: ../../build).

import './lib/polyfill.mjs'

import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { stat } from 'node:fs/promises'
import path from 'node:path'
import { test } from 'node:test'

import { generateKeyPair, publicKeyFromProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromPublicKey } from '@libp2p/peer-id'
import { PeerRecord, RecordEnvelope } from '@libp2p/peer-record'
import { multiaddr } from '@multiformats/multiaddr'

import {
  IDENTIFY_PROTOCOL,
  OP_TIMEOUT_MS,
  PING_PROTOCOL,
  binPath,
  createNode,
  daemonArgs,
  deadline,
  echo,
  nextEvent,
  requireExecutable,
  run,
  startDaemon,
  tcpAddr,
  tempDir,
  withTimeout,
  withoutPeerId
} from './lib/daemon.mjs'

/** Outer bound per test; every operation inside has its own, shorter one. */
const TEST_TIMEOUT_MS = 60_000
const T = { timeout: TEST_TIMEOUT_MS }

/** A daemon on an ephemeral loopback port with a key file in a temp folder. */
async function startKeyedDaemon (t) {
  const dir = await tempDir(t)
  return startDaemon(t, daemonArgs(path.join(dir, 'server.key')))
}

const hex = (bytes) => Buffer.from(bytes).toString('hex')

/** Resolves once the remote has half-closed `stream` (FIN); rejects on reset or after `ms`. */
function remoteClosed (stream, ms = OP_TIMEOUT_MS) {
  if (stream.remoteWriteStatus === 'closed') return Promise.resolve()
  return withTimeout(new Promise((resolve, reject) => {
    stream.addEventListener('remoteCloseWrite', () => resolve(), { once: true })
    stream.addEventListener('close', (evt) => {
      if (evt.error != null) reject(evt.error)
      else resolve()
    }, { once: true })
  }), ms, `remote end of stream ${stream.id} closing`)
}

test('dial over TCP: the connection authenticates the printed peer id', T, async (t) => {
  const daemon = await startKeyedDaemon(t)
  const addr = tcpAddr(daemon)
  assert.match(addr.toString(), /^\/ip4\/127\.0\.0\.1\/tcp\/[1-9][0-9]*\/p2p\/12D3KooW[1-9A-HJ-NP-Za-km-z]+$/,
    `printed address ${addr} is not /ip4/127.0.0.1/tcp/<port>/p2p/<Ed25519 peer id>`)

  const node = await createNode(t)
  const conn = await node.dial(addr, { signal: deadline() })
  assert.equal(conn.remotePeer.toString(), daemon.peerId.toString())
  assert.equal(conn.status, 'open')
  assert.equal(conn.encryption, '/noise')
  assert.equal(conn.multiplexer, '/yamux/1.0.0')
  assert.equal(withoutPeerId(conn.remoteAddr), withoutPeerId(addr))
  assert.equal(node.getConnections(daemon.peerId).length, 1)

  // The Noise handshake must prove the daemon's identity: the same address
  // with someone else's peer id has to be refused.
  const stranger = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
  const wrong = multiaddr(`${withoutPeerId(addr)}/p2p/${stranger}`)
  // js-libp2p's Noise refuses the handshake: the daemon proved another key.
  await assert.rejects(node.dial(wrong, { signal: deadline() }), (err) => {
    assert.equal(err.name, 'EncryptionFailedError', `unexpected error: ${err.stack}`)
    assert.match(err.message, new RegExp(`identity key ${daemon.peerId} does not match expected remote identity key ${stranger}`))
    return true
  }, 'dialing the daemon under a different peer id succeeded')
  assert.equal(node.getConnections(stranger).length, 0)
})

test('identify: public key, listen addresses, protocols and a signed peer record', T, async (t) => {
  const daemon = await startKeyedDaemon(t)
  const addr = tcpAddr(daemon)
  const printed = withoutPeerId(addr)
  // Identify is run by hand (not on connection open) so that a rejected
  // message fails the test with js-libp2p's own error, not a timeout.
  const node = await createNode(t, { identifyInit: { runOnConnectionOpen: false } })
  const conn = await node.dial(addr, { signal: deadline() })

  // identify() checks the key against the connection's peer, verifies any
  // signed peer record, stores everything in the peer store and returns what
  // it accepted (the same object as the peer:identify event).
  const result = await node.services.identify.identify(conn, { signal: deadline() })
  assert.equal(result.peerId.toString(), daemon.peerId.toString())

  // publicKey (field 1): present, Ed25519, and it hashes to the printed id.
  assert.ok(result.publicKey?.length > 0, 'identify carried no publicKey')
  const publicKey = publicKeyFromProtobuf(result.publicKey)
  assert.equal(publicKey.type, 'Ed25519')
  assert.equal(peerIdFromPublicKey(publicKey).toString(), daemon.peerId.toString())

  // listenAddrs (field 2) include the printed address without /p2p.
  const listenAddrs = result.listenAddrs.map(String)
  assert.ok(listenAddrs.includes(printed), `listenAddrs ${JSON.stringify(listenAddrs)} lack ${printed}`)

  // protocols (field 3).
  for (const p of [IDENTIFY_PROTOCOL, PING_PROTOCOL]) {
    assert.ok(result.protocols.includes(p), `identify protocols ${JSON.stringify(result.protocols)} lack ${p}`)
  }

  // signedPeerRecord (field 8) was verified and accepted by js-libp2p.
  assert.ok(result.signedPeerRecord != null, 'no signed peer record was accepted from identify')
  const recordAddrs = result.signedPeerRecord.addresses.map(String)
  assert.ok(recordAddrs.includes(printed), `signed record addresses ${JSON.stringify(recordAddrs)} lack ${printed}`)

  // The peer store holds the same facts.
  const peer = await node.peerStore.get(daemon.peerId)
  assert.ok(peer.id.publicKey?.equals(publicKey), 'peer store has no (or another) public key for the daemon')
  for (const p of [IDENTIFY_PROTOCOL, PING_PROTOCOL]) {
    assert.ok(peer.protocols.includes(p), `peer store protocols ${JSON.stringify(peer.protocols)} lack ${p}`)
  }
  const certified = peer.addresses.filter((a) => a.isCertified).map((a) => a.multiaddr.toString())
  assert.ok(certified.includes(printed), `certified addresses ${JSON.stringify(certified)} lack ${printed}`)

  // The stored envelope opens under the peer-record domain, is signed by the
  // daemon's key and names the daemon.
  assert.ok(peer.peerRecordEnvelope?.length > 0, 'peer store has no peerRecordEnvelope for the daemon')
  const envelope = await RecordEnvelope.openAndCertify(peer.peerRecordEnvelope, PeerRecord.DOMAIN)
  assert.ok(envelope.publicKey.equals(publicKey), 'envelope was signed by another key')
  assert.equal(hex(envelope.payloadType), hex(PeerRecord.CODEC))
  const record = PeerRecord.createFromProtobuf(envelope.payload)
  assert.equal(record.peerId.toString(), daemon.peerId.toString())
  assert.ok(record.multiaddrs.map(String).includes(printed), 'peer record lacks the listen address')
  assert.ok(record.seqNumber > 0n, `peer record seq ${record.seqNumber} is not positive`)
})

test('ping: five round trips in a row on one connection', T, async (t) => {
  const daemon = await startKeyedDaemon(t)
  const addr = tcpAddr(daemon)
  const node = await createNode(t)
  await node.dial(addr, { signal: deadline() })

  for (let i = 0; i < 5; i++) {
    // ping() sends 32 random bytes and rejects unless the same 32 come back.
    const rtt = await node.services.ping.ping(addr, { signal: deadline() })
    assert.equal(typeof rtt, 'number', `ping #${i + 1} returned ${rtt}`)
    assert.ok(Number.isFinite(rtt) && rtt >= 0 && rtt < OP_TIMEOUT_MS, `ping #${i + 1} latency ${rtt}`)
  }
  assert.equal(node.getConnections(daemon.peerId).length, 1)
})

test('yamux: 20 concurrent ping streams on one connection all echo', T, async (t) => {
  const N = 20
  const daemon = await startKeyedDaemon(t)
  const node = await createNode(t)
  const conn = await node.dial(tcpAddr(daemon), { signal: deadline() })

  // Open all N first, so they are really open at the same time.
  const opening = deadline()
  const streams = await Promise.all(Array.from({ length: N }, () => conn.newStream(PING_PROTOCOL, { signal: opening })))
  assert.equal(new Set(streams.map((s) => s.id)).size, N)
  for (const s of streams) {
    assert.equal(s.protocol, PING_PROTOCOL)
    assert.equal(s.status, 'open', `stream ${s.id} is ${s.status} right after negotiation (does the daemon cap ping streams per peer below ${N}?)`)
  }
  const open = conn.streams.filter((s) => s.protocol === PING_PROTOCOL && s.direction === 'outbound' && s.status === 'open')
  assert.ok(open.length >= N, `only ${open.length} ping streams open at once`)

  const payloads = streams.map(() => new Uint8Array(randomBytes(32)))
  const exchanging = deadline()
  const echoes = await Promise.all(streams.map((s, i) => echo(s, payloads[i], exchanging)))
  for (let i = 0; i < N; i++) {
    assert.equal(hex(echoes[i]), hex(payloads[i]), `stream ${streams[i].id} echoed other bytes`)
  }

  // Half-close each stream; the daemon must finish echoing and close its side.
  await Promise.all(streams.map((s) => s.close({ signal: deadline() })))
  await Promise.all(streams.map((s) => remoteClosed(s)))

  assert.equal(node.getConnections(daemon.peerId).length, 1)
  assert.equal(conn.status, 'open')
})

test('key file: same key file keeps the peer id, a fresh one changes it', T, async (t) => {
  const dir = await tempDir(t)
  const keyFile = path.join(dir, 'server.key')

  const first = await startDaemon(t, daemonArgs(keyFile))
  const id = first.peerId.toString()
  const st = await stat(keyFile).catch(() => null)
  assert.ok(st?.isFile(), `daemon did not create its key file ${path.basename(keyFile)}`)
  assert.equal(st.mode & 0o077, 0, `key file mode is ${(st.mode & 0o777).toString(8)}, expected 600`)
  await first.stop()

  const second = await startDaemon(t, daemonArgs(keyFile))
  assert.equal(second.peerId.toString(), id, 'peer id changed across a restart with the same key file')
  // The key is really used for the handshake, not just printed.
  const node = await createNode(t)
  const conn = await node.dial(tcpAddr(second), { signal: deadline() })
  assert.equal(conn.remotePeer.toString(), id)
  await second.stop()

  const third = await startDaemon(t, daemonArgs(path.join(dir, 'other.key')))
  assert.notEqual(third.peerId.toString(), id, 'a fresh key file gave the same peer id')
  await third.stop()
})

test('multistream-select: unknown protocol is refused, the connection stays usable', T, async (t) => {
  const daemon = await startKeyedDaemon(t)
  const node = await createNode(t)
  const conn = await node.dial(tcpAddr(daemon), { signal: deadline() })

  await assert.rejects(conn.newStream('/does/not/exist/1.0.0', { signal: deadline() }), (err) => {
    assert.equal(err.name, 'UnsupportedProtocolError', `expected UnsupportedProtocolError, got ${err.name}: ${err.message}`)
    return true
  })
  assert.equal(conn.status, 'open')

  const rtt = await node.services.ping.ping(daemon.peerId, { signal: deadline() })
  assert.ok(Number.isFinite(rtt) && rtt >= 0, `ping after refusal returned ${rtt}`)

  // After "na" the daemon must keep reading proposals on the same stream.
  const stream = await conn.newStream(['/does/not/exist/1.0.0', PING_PROTOCOL], { signal: deadline() })
  assert.equal(stream.protocol, PING_PROTOCOL)
  const data = new Uint8Array(randomBytes(32))
  assert.equal(hex(await echo(stream, data, deadline())), hex(data))
  await stream.close({ signal: deadline() })

  const conns = node.getConnections(daemon.peerId)
  assert.equal(conns.length, 1)
  assert.equal(conns[0].id, conn.id, 'a new connection replaced the first one')
})

test('rdv ping (C dialer) against a js-libp2p listener', T, async (t) => {
  const rdv = binPath('rdv')
  await requireExecutable(rdv)

  const node = await createNode(t, { listen: ['/ip4/127.0.0.1/tcp/0'] })
  const listenAddr = node.getMultiaddrs().find((a) => a.toString().startsWith('/ip4/127.0.0.1/tcp/'))
  assert.ok(listenAddr, `js node has no loopback TCP address: ${node.getMultiaddrs().join(', ')}`)
  assert.ok(listenAddr.toString().endsWith(`/p2p/${node.peerId}`))

  let inbound = 0
  node.addEventListener('connection:open', (evt) => {
    if (evt.detail.direction === 'inbound') inbound++
  })

  const res = await run(rdv, ['ping', '--server', listenAddr.toString(), '--count', '3'], 30_000)
  const shown = `\n--- stdout ---\n${res.stdout}--- stderr ---\n${res.stderr}`
  assert.equal(res.code, 0, `rdv exited with code ${res.code} (signal ${res.signal})${shown}`)

  const pong = /^pong from (12D3KooW\S+) in ([0-9.]+) ms$/
  const pongs = res.stdout.split('\n').map((l) => l.match(pong)).filter(Boolean)
  assert.equal(pongs.length, 3, `expected 3 pong lines${shown}`)
  for (const [line, id, ms] of pongs) {
    assert.equal(id, node.peerId.toString(), `rdv printed another peer id: ${line}`)
    assert.ok(Number.isFinite(Number(ms)) && Number(ms) >= 0, `bad latency ${ms}`)
  }
  assert.ok(inbound >= 1, 'the js node saw no inbound connection from rdv')
})

test('graceful stop: SIGTERM closes client connections and exits 0', T, async (t) => {
  const daemon = await startKeyedDaemon(t)
  const node = await createNode(t)
  const conn = await node.dial(tcpAddr(daemon), { signal: deadline() })
  await node.services.ping.ping(daemon.peerId, { signal: deadline() })

  const closed = nextEvent(node, 'connection:close', (c) => c.id === conn.id, 2 * OP_TIMEOUT_MS)
  closed.catch(() => {}) // awaited below, after the exit code is checked
  const code = await daemon.stop()
  assert.equal(code, 0, `daemon exit code ${code}, signal ${daemon.exitSignal}\n--- daemon output ---\n${daemon.output()}`)
  await closed
  assert.notEqual(conn.status, 'open')
  assert.equal(node.getConnections(daemon.peerId).length, 0)
})
