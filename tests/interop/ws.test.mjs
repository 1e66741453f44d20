// js-libp2p <-> rendezvousd over WebSocket (WIRE.md §12): /ws and /tls/ws
// listeners (Noise and yamux inside), identify's addresses, and the C dialer
// (`rdv ping`) against a js-libp2p /ws listener.
//
// Run: cd tests/interop && node --test --test-concurrency=1 --test-reporter=spec ./*.test.mjs

import './lib/polyfill.mjs'

import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'

import { webSockets } from '@libp2p/websockets'
import NodeWebSocket from 'ws'

import {
  IDENTIFY_PROTOCOL,
  PING_PROTOCOL,
  binPath,
  createNode,
  deadline,
  run,
  startDaemon,
  tempDir,
  withoutPeerId
} from './lib/daemon.mjs'

const T = { timeout: 60_000 }

// @libp2p/websockets dials with the global WebSocket, which Node 20 lacks:
// use the `ws` package, trusting the test's own CA when one is set.
let trustedCa
class TestWebSocket extends NodeWebSocket {
  constructor (url, protocols) {
    super(url, protocols, trustedCa ? { ca: trustedCa } : {})
  }
}
if (typeof globalThis.WebSocket !== 'function') globalThis.WebSocket = TestWebSocket

/** The printed address whose transport part matches `re` (e.g. /\/ws\//). */
function addrMatching (daemon, re) {
  const a = daemon.addrs.find((m) => re.test(m.toString()))
  assert.ok(a, `daemon printed no address matching ${re}: ${daemon.addrs.join(', ')}`)
  return a
}

/** A js-libp2p node that speaks only WebSocket. */
function createWsNode (t, opts = {}) {
  return createNode(t, { transports: [webSockets()], ...opts })
}

/** A self-signed certificate for 127.0.0.1 / localhost, made with openssl req. */
async function makeCert (dir) {
  const cert = path.join(dir, 'cert.pem')
  const key = path.join(dir, 'key.pem')
  await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
    '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'])
  return { cert, key }
}

test('/ws: the printed address is /ws with the real port; Noise authenticates it; ping works', T, async (t) => {
  const dir = await tempDir(t)
  const daemon = await startDaemon(t, ['--listen', '/ip4/127.0.0.1/tcp/0', '--listen', '/ip4/127.0.0.1/tcp/0/ws',
    '--key', path.join(dir, 'server.key')])
  const addr = addrMatching(daemon, /\/ws\//)
  assert.match(addr.toString(), /^\/ip4\/127\.0\.0\.1\/tcp\/[1-9][0-9]*\/ws\/p2p\/12D3KooW[1-9A-HJ-NP-Za-km-z]+$/)

  const node = await createWsNode(t)
  const conn = await node.dial(addr, { signal: deadline() })
  assert.equal(conn.remotePeer.toString(), daemon.peerId.toString())
  assert.equal(conn.encryption, '/noise')
  assert.equal(conn.multiplexer, '/yamux/1.0.0')
  assert.equal(withoutPeerId(conn.remoteAddr), withoutPeerId(addr))

  for (let i = 0; i < 3; i++) {
    const rtt = await node.services.ping.ping(addr, { signal: deadline() })
    assert.ok(rtt >= 0, `ping rtt ${rtt}`)
  }
  // Many streams at once travel as interleaved yamux frames inside WebSocket messages.
  const rtts = await Promise.all(Array.from({ length: 16 }, () => node.services.ping.ping(addr, { signal: deadline() })))
  assert.equal(rtts.length, 16)
  assert.equal(node.getConnections(daemon.peerId).length, 1, 'pings opened more connections')
})

test('/ws: identify lists both listen addresses and the protocols', T, async (t) => {
  const dir = await tempDir(t)
  const daemon = await startDaemon(t, ['--listen', '/ip4/127.0.0.1/tcp/0', '--listen', '/ip4/127.0.0.1/tcp/0/ws',
    '--key', path.join(dir, 'server.key')])
  const addr = addrMatching(daemon, /\/ws\//)
  const node = await createWsNode(t, { identifyInit: { runOnConnectionOpen: false } })
  const conn = await node.dial(addr, { signal: deadline() })
  const result = await node.services.identify.identify(conn, { signal: deadline() })
  assert.equal(result.peerId.toString(), daemon.peerId.toString())
  const listen = result.listenAddrs.map(String)
  for (const a of daemon.addrs.map(withoutPeerId)) {
    assert.ok(listen.includes(a), `identify listenAddrs ${JSON.stringify(listen)} lack ${a}`)
  }
  for (const p of [IDENTIFY_PROTOCOL, PING_PROTOCOL]) {
    assert.ok(result.protocols.includes(p), `identify protocols ${JSON.stringify(result.protocols)} lack ${p}`)
  }
  assert.ok(result.signedPeerRecord != null, 'no signed peer record was accepted')
  const recordAddrs = result.signedPeerRecord.addresses.map(String)
  assert.ok(recordAddrs.includes(withoutPeerId(addr)), `signed record ${JSON.stringify(recordAddrs)} lacks the /ws address`)
})

test('/tls/ws and /wss: TLS with a certificate made here, Noise still inside', T, async (t) => {
  const dir = await tempDir(t)
  const { cert, key } = await makeCert(dir)
  const daemon = await startDaemon(t, ['--listen', '/ip4/127.0.0.1/tcp/0/tls/ws', '--listen', '/ip4/127.0.0.1/tcp/0/wss',
    '--tls-cert', cert, '--tls-key', key, '--key', path.join(dir, 'server.key')])
  const tlsAddr = addrMatching(daemon, /\/tls\/ws\//)
  const wssAddr = addrMatching(daemon, /\/wss\//)

  trustedCa = await readFile(cert)
  t.after(() => { trustedCa = undefined })
  const node = await createWsNode(t)
  for (const addr of [tlsAddr, wssAddr]) {
    const conn = await node.dial(addr, { signal: deadline() })
    assert.equal(conn.remotePeer.toString(), daemon.peerId.toString())
    assert.equal(conn.encryption, '/noise')
    const rtt = await node.services.ping.ping(addr, { signal: deadline() })
    assert.ok(rtt >= 0)
  }

  // Without trusting the certificate the TLS handshake must fail.
  trustedCa = undefined
  const other = await createWsNode(t)
  // The WebSocket transport rejects with the socket's error event.
  await assert.rejects(other.dial(tlsAddr, { signal: deadline() }), (err) => {
    assert.match(String(err?.message), /self-signed certificate/, `unexpected error: ${err?.stack ?? err}`)
    return true
  }, 'an untrusted certificate was accepted')
})

test('rdv ping over /ws to a js-libp2p /ws listener', T, async (t) => {
  const node = await createWsNode(t, { listen: ['/ip4/127.0.0.1/tcp/0/ws'] })
  const addr = node.getMultiaddrs().find((a) => a.toString().includes('/ws'))
  assert.ok(addr, `js node listens on ${node.getMultiaddrs().join(', ')}`)
  const res = await run(binPath('rdv'), ['ping', '--server', addr.toString(), '--count', '3'])
  assert.equal(res.code, 0, `rdv ping failed:\n${res.stderr}`)
  const pongs = res.stdout.trim().split('\n').filter((l) => l.startsWith(`pong from ${node.peerId}`))
  assert.equal(pongs.length, 3, `unexpected output: ${res.stdout}`)
})

test('rdv ping over /ws and /tls/ws against the daemon', T, async (t) => {
  const dir = await tempDir(t)
  const { cert, key } = await makeCert(dir)
  const daemon = await startDaemon(t, ['--listen', '/ip4/127.0.0.1/tcp/0/ws', '--listen', '/ip4/127.0.0.1/tcp/0/tls/ws',
    '--tls-cert', cert, '--tls-key', key])
  // run() passes our environment on: SSL_CERT_FILE makes rdv's OpenSSL trust the test certificate.
  process.env.SSL_CERT_FILE = cert
  t.after(() => { delete process.env.SSL_CERT_FILE })
  for (const re of [/\/ws\//, /\/tls\/ws\//]) {
    const addr = addrMatching(daemon, re).toString()
    const res = await run(binPath('rdv'), ['ping', '--server', addr], 30_000)
    assert.equal(res.code, 0, `rdv ping ${addr} failed:\n${res.stderr}`)
    assert.match(res.stdout, new RegExp(`^pong from ${daemon.peerId}`))
  }
})
