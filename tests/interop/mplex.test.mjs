// js-libp2p with @libp2p/mplex as its only muxer, against rendezvousd:
// seed 001's listener and dialer (WebSockets + Noise + mplex) register and
// discover; the push dialect's announcements; which muxer a dialer offering
// both gets; many streams at once; and rdv, the C dialer, falling back to
// mplex against a js-libp2p node that offers nothing else.
//
// Run: cd tests/interop && node --test --test-concurrency=1 ./mplex.test.mjs
// RDV_BUILD selects the folder holding rendezvousd and rdv (default: ../../build).

import './lib/polyfill.mjs'

import assert from 'node:assert/strict'
import { test } from 'node:test'

import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { mplex } from '@libp2p/mplex'
import { PeerRecord, RecordEnvelope } from '@libp2p/peer-record'
import { webSockets } from '@libp2p/websockets'
import NodeWebSocket from 'ws'

import { binPath, createNode, deadline, run, startDaemon, tcpAddr } from './lib/daemon.mjs'
import { PushSession } from './lib/push-client.mjs'
import { RDV1_PROTOCOL, S, T, openMsgStream, rdv1Discover, rdv1Register, request, signedRecord } from './lib/rendezvous.mjs'

const TT = { timeout: 60_000 }
const MPLEX = '/mplex/6.7.0'
const YAMUX = '/yamux/1.0.0'

// @libp2p/websockets dials with the global WebSocket, which Node 20 lacks.
if (typeof globalThis.WebSocket !== 'function') globalThis.WebSocket = NodeWebSocket

const mplexOnly = (extra = {}) => ({ streamMuxers: [mplex()], ...extra })

function wsAddr (daemon) {
  const a = daemon.addrs.find((m) => m.toString().includes('/ws/'))
  assert.ok(a, `daemon printed no /ws address: ${daemon.addrs.join(', ')}`)
  return a
}

test('seed 001 over /ws with mplex only: a listener registers its signed record, a dialer discovers it', TT, async (t) => {
  const daemon = await startDaemon(t, ['--listen', '/ip4/127.0.0.1/tcp/0/ws', '--metrics', 'off'])
  const server = wsAddr(daemon)

  // 1. The listener: WebSockets, Noise, mplex; listens on /ws and registers.
  const privateKey = await generateKeyPair('Ed25519')
  const listener = await createNode(t, mplexOnly({ privateKey, transports: [webSockets()], listen: ['/ip4/127.0.0.1/tcp/0/ws'] }))
  const lconn = await listener.dial(server, { signal: deadline() })
  assert.equal(lconn.multiplexer, MPLEX)
  const addrs = listener.getMultiaddrs().map((a) => a.decapsulateCode(421).toString())
  assert.ok(addrs.some((a) => a.endsWith('/ws')), `listener addresses: ${addrs}`)
  const rs = await openMsgStream(lconn, RDV1_PROTOCOL, deadline())
  const reg = await request(rs, rdv1Register('example-namespace', await signedRecord(privateKey, addrs), 7200))
  assert.equal(reg.type, T.REGISTER_RESPONSE)
  assert.equal(reg.registerResponse.status, S.OK, reg.registerResponse.statusText)
  await rs.close()

  // 2. The dialer discovers it and certifies the record.
  const dialer = await createNode(t, mplexOnly({ transports: [webSockets()] }))
  const dconn = await dialer.dial(server, { signal: deadline() })
  assert.equal(dconn.multiplexer, MPLEX)
  const ds = await openMsgStream(dconn, RDV1_PROTOCOL, deadline())
  const ans = await request(ds, rdv1Discover('example-namespace', 10))
  assert.equal(ans.discoverResponse.status, S.OK)
  assert.equal(ans.discoverResponse.registrations.length, 1)
  const env = await RecordEnvelope.openAndCertify(ans.discoverResponse.registrations[0].signedPeerRecord, PeerRecord.DOMAIN)
  const rec = PeerRecord.createFromProtobuf(env.payload)
  assert.equal(rec.peerId.toString(), listener.peerId.toString())
  assert.deepEqual(rec.multiaddrs.map(String), addrs)
  await ds.close()

  // 3. ... and can dial the listener at the discovered address (mplex both ends).
  const direct = await dialer.dial(rec.multiaddrs[0].encapsulate(`/p2p/${rec.peerId}`), { signal: deadline() })
  assert.equal(direct.remotePeer.toString(), listener.peerId.toString())
})

test('push dialect over mplex: members receive each other\'s announcements and see one leave', TT, async (t) => {
  const daemon = await startDaemon(t, ['--listen', '/ip4/127.0.0.1/tcp/0', '--metrics', 'off'])
  const member = async () => {
    const node = await createNode(t, mplexOnly())
    const conn = await node.dial(tcpAddr(daemon), { signal: deadline() })
    assert.equal(conn.multiplexer, MPLEX)
    return { node, conn, id: node.peerId.toString(), session: await PushSession.open(conn, deadline()) }
  }
  const a = await member()
  const b = await member()
  a.session.register('my-app', a.id, ['/ip4/10.0.0.1/tcp/4001'])
  a.session.rendezvous('my-app')
  assert.deepEqual(await a.session.list('none'), [])
  b.session.register('my-app', undefined, ['/ip4/10.0.0.2/tcp/4002'])
  b.session.rendezvous('my-app')
  assert.deepEqual(await b.session.events(1), [['+', a.id, '/ip4/10.0.0.1/tcp/4001']])
  assert.deepEqual(await a.session.events(1), [['+', b.id, '/ip4/10.0.0.2/tcp/4002']])
  // A's stream is reset: B is told A left.
  a.session.abort()
  assert.deepEqual(await b.session.events(1), [['-', a.id]])
})

test('muxer choice: the dialer\'s order decides; identify, ping and 48 concurrent streams over mplex', TT, async (t) => {
  const daemon = await startDaemon(t, ['--listen', '/ip4/127.0.0.1/tcp/0', '--metrics', 'off'])
  const yFirst = await createNode(t, { streamMuxers: [yamux(), mplex()] })
  assert.equal((await yFirst.dial(tcpAddr(daemon), { signal: deadline() })).multiplexer, YAMUX)
  const key = await generateKeyPair('Ed25519')
  const mFirst = await createNode(t, { privateKey: key, streamMuxers: [mplex(), yamux()] })
  const conn = await mFirst.dial(tcpAddr(daemon), { signal: deadline() })
  assert.equal(conn.multiplexer, MPLEX)

  const rtt = await mFirst.services.ping.ping(conn.remoteAddr, { signal: deadline() })
  assert.ok(rtt >= 0)
  const id = await mFirst.services.identify.identify(conn, { signal: deadline() })
  assert.ok(id.protocols.includes(RDV1_PROTOCOL), `identify: ${id.protocols}`)

  // Streams opened together: each gets its own answer.
  const rs = await openMsgStream(conn, RDV1_PROTOCOL, deadline())
  const reg = await request(rs, rdv1Register('many', await signedRecord(key, ['/ip4/10.0.0.9/tcp/1']), 120))
  assert.equal(reg.registerResponse.status, S.OK)
  await rs.close()
  // (js-libp2p allows 64 outbound streams per protocol.)
  const answers = await Promise.all(Array.from({ length: 48 }, async () => {
    const s = await openMsgStream(conn, RDV1_PROTOCOL, deadline())
    const ans = await request(s, rdv1Discover('many', 10))
    await s.close()
    return ans.discoverResponse
  }))
  for (const a of answers) {
    assert.equal(a.status, S.OK)
    assert.equal(a.registrations.length, 1)
  }
})

test('rdv (the C dialer) gets mplex from a js-libp2p node that offers nothing else', TT, async (t) => {
  const node = await createNode(t, mplexOnly({ listen: ['/ip4/127.0.0.1/tcp/0'] }))
  const addr = node.getMultiaddrs()[0]
  const res = await run(binPath('rdv'), ['ping', '--server', addr.toString(), '--count', '3'])
  assert.equal(res.code, 0, `rdv ping failed:\n${res.stderr}`)
  const pongs = res.stdout.trim().split('\n').filter((l) => l.startsWith(`pong from ${node.peerId}`))
  assert.equal(pongs.length, 3, `unexpected output: ${res.stdout}`)
})
