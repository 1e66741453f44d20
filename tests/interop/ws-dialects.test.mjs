// The rendezvous dialects over WebSocket (WIRE.md §12) with js-libp2p nodes
// in Node.js dialing the daemon's /ws listener: push mode (members see each
// other arrive and leave) and /rendezvous/1.0.0 with signed peer records; and
// identify's observed address on /ws and /tls/ws connections.

import './lib/polyfill.mjs'

import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'

import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { PeerRecord, RecordEnvelope } from '@libp2p/peer-record'
import { webSockets } from '@libp2p/websockets'
import NodeWebSocket from 'ws'

import { createNode, deadline, startDaemon, tempDir, withoutPeerId } from './lib/daemon.mjs'
import { PushSession } from './lib/push-client.mjs'
import { RDV1_PROTOCOL, S, T as RT, openMsgStream, rdv1Discover, rdv1Register, request, signedRecord } from './lib/rendezvous.mjs'

const T = { timeout: 60_000 }

// Node 20 has no global WebSocket, which @libp2p/websockets dials with: use
// the `ws` package, trusting the test's certificate when one is set.
let trustedCa
class TestWebSocket extends NodeWebSocket {
  constructor (url, protocols) {
    super(url, protocols, trustedCa ? { ca: trustedCa } : {})
  }
}
if (typeof globalThis.WebSocket !== 'function') globalThis.WebSocket = TestWebSocket

/** A daemon with only a /ws listener; returns { daemon, ws (its /ws multiaddr) }. */
async function wsDaemon (t, extra = []) {
  const dir = await tempDir(t)
  const daemon = await startDaemon(t, ['--listen', '/ip4/127.0.0.1/tcp/0/ws', '--key', path.join(dir, 'server.key'), ...extra])
  const ws = daemon.addrs.find((a) => /\/ws\//.test(a.toString()))
  assert.ok(ws, `no /ws address printed: ${daemon.addrs.join(', ')}`)
  return { daemon, ws }
}

/** A WebSocket-only js-libp2p node connected to `addr`: { node, conn, id, privateKey }. */
async function wsMember (t, addr) {
  const privateKey = await generateKeyPair('Ed25519')
  const node = await createNode(t, { privateKey, transports: [webSockets()] })
  const conn = await node.dial(addr, { signal: deadline() })
  assert.ok(/\/ws(\/|$)/.test(conn.remoteAddr.toString()), `connected over ${conn.remoteAddr}`)
  return { node, conn, id: node.peerId.toString(), privateKey }
}

test('/ws push mode: two members see each other join, then one leave', T, async (t) => {
  const { daemon, ws } = await wsDaemon(t)
  const a = await wsMember(t, ws)
  const b = await wsMember(t, ws)
  const addrA = '/ip4/198.51.100.1/tcp/4001/ws'
  // B is reachable through a relay (the relay-bootstrap case of the README).
  const addrB = `/ip4/198.51.100.2/tcp/443/tls/ws/p2p/${daemon.peerId}/p2p-circuit`

  const sa = await PushSession.open(a.conn, deadline())
  sa.register('ws-room', a.id, [addrA])
  sa.rendezvous('ws-room')
  assert.deepEqual(await sa.list('ws-room'), [], 'A is alone (and not told about itself)')

  const sb = await PushSession.open(b.conn, deadline())
  sb.register('ws-room', b.id, [addrB])
  sb.rendezvous('ws-room')
  // A hears B's REGISTER announced; B gets A in its subscription snapshot.
  assert.deepEqual(await sa.events(1), [['+', b.id, addrB]])
  assert.deepEqual(await sb.events(1), [['+', a.id, addrA]])

  // B's node stops: its WebSocket connection closes and A hears the UNREGISTER.
  await b.node.stop()
  assert.deepEqual(await sa.events(1), [['-', b.id]])
  assert.deepEqual(await sa.list('ws-room'), [])
})

test('/ws /rendezvous/1.0.0: register a signed record, discover and verify it', T, async (t) => {
  const { daemon, ws } = await wsDaemon(t)
  const listener = await wsMember(t, ws)
  const dialer = await wsMember(t, ws)
  const addrs = ['/ip4/127.0.0.1/tcp/50347/ws', `${withoutPeerId(ws)}/p2p/${daemon.peerId}/p2p-circuit`]

  const lm = await openMsgStream(listener.conn, RDV1_PROTOCOL, deadline())
  const reg = await request(lm, rdv1Register('example-namespace', await signedRecord(listener.privateKey, addrs), 7200))
  assert.equal(reg.type, RT.REGISTER_RESPONSE)
  assert.equal(reg.registerResponse.status ?? S.OK, S.OK, reg.registerResponse.statusText)
  assert.equal(Number(reg.registerResponse.ttl), 7200)

  const dm = await openMsgStream(dialer.conn, RDV1_PROTOCOL, deadline())
  const res = await request(dm, rdv1Discover('example-namespace', 10))
  assert.equal(res.type, RT.DISCOVER_RESPONSE)
  assert.equal(res.discoverResponse.status ?? S.OK, S.OK, res.discoverResponse.statusText)
  const regs = res.discoverResponse.registrations
  assert.equal(regs.length, 1)
  assert.equal(regs[0].ns, 'example-namespace')
  const env = await RecordEnvelope.openAndCertify(regs[0].signedPeerRecord, PeerRecord.DOMAIN)
  const rec = PeerRecord.createFromProtobuf(env.payload)
  assert.equal(rec.peerId.toString(), listener.id)
  assert.equal(peerIdFromPublicKey(env.publicKey).toString(), listener.id)
  assert.deepEqual(rec.multiaddrs.map(String), addrs)
})

test('identify over /ws and /tls/ws: observedAddr carries the WebSocket part', T, async (t) => {
  const dir = await tempDir(t)
  const cert = path.join(dir, 'cert.pem')
  const key = path.join(dir, 'key.pem')
  await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
    '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=IP:127.0.0.1'])
  const daemon = await startDaemon(t, ['--listen', '/ip4/127.0.0.1/tcp/0', '--listen', '/ip4/127.0.0.1/tcp/0/ws',
    '--listen', '/ip4/127.0.0.1/tcp/0/tls/ws', '--tls-cert', cert, '--tls-key', key])
  trustedCa = await readFile(cert)
  t.after(() => { trustedCa = undefined })

  const node = await createNode(t, { transports: [webSockets()], identifyInit: { runOnConnectionOpen: false } })
  const expect = { '/ws/': /^\/ip4\/127\.0\.0\.1\/tcp\/[1-9][0-9]*\/ws$/, '/tls/ws/': /^\/ip4\/127\.0\.0\.1\/tcp\/[1-9][0-9]*\/tls\/ws$/ }
  for (const [part, re] of Object.entries(expect)) {
    const addr = daemon.addrs.find((a) => a.toString().includes(part))
    assert.ok(addr, `no ${part} address printed: ${daemon.addrs.join(', ')}`)
    const conn = await node.dial(addr, { signal: deadline() })
    const result = await node.services.identify.identify(conn, { signal: deadline() })
    assert.match(String(result.observedAddr), re)
    await conn.close()
  }
})
