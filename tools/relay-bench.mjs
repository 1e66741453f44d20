// Circuit relay figures for `make bench` (BENCHMARKS.md has the latest):
// rendezvousd --relay on loopback against a direct connection, with
// js-libp2p nodes (TCP, Noise, yamux, @libp2p/circuit-relay-v2) on both ends.
//
//  * throughput: one stream sending as fast as it can for a few seconds,
//    directly and through one circuit (no relay limits);
//  * latency: round trips of 64 bytes on an echo stream, directly and
//    through the relay (median and p99);
//  * memory: the daemon's RSS before and after R reservations (R peers, one
//    connection each) and after C open circuits, per reservation and per
//    circuit.
//
// Figures are printed, never asserted. The js-libp2p ends cost more CPU
// than the relay: the throughput figure is a floor for the relay, and the
// two cores are shared by the daemon and both ends.
//
//   node tools/relay-bench.mjs [--daemon build/rendezvousd] [--quick]

import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const MODULES = path.resolve(HERE, '../tests/interop/node_modules')
const load = (name) => import(path.join(MODULES, name))
await import(path.resolve(HERE, '../tests/interop/lib/polyfill.mjs'))

const { noise } = await load('@chainsafe/libp2p-noise/dist/src/index.js')
const { yamux } = await load('@chainsafe/libp2p-yamux/dist/src/index.js')
const { circuitRelayTransport } = await load('@libp2p/circuit-relay-v2/dist/src/index.js')
const { identify } = await load('@libp2p/identify/dist/src/index.js')
const { tcp } = await load('@libp2p/tcp/dist/src/index.js')
const { multiaddr } = await load('@multiformats/multiaddr/dist/src/index.js')
const { createLibp2p } = await load('libp2p/dist/src/index.js')
const { concat, encodeFields, openMsgStream, varint } = await import(path.resolve(HERE, '../tests/interop/lib/rendezvous.mjs'))

const args = process.argv.slice(2)
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt }
const quick = args.includes('--quick')
const DAEMON = path.resolve(opt('--daemon', path.join(HERE, '../build/rendezvousd')))
const SECONDS = quick ? 3 : 10
const RTTS = quick ? 500 : 3000
const RESERVATIONS = quick ? 200 : 500
const CIRCUITS = quick ? 100 : 200 // all to one target: under its connection's 256 streams
const BULK = '/bench/bulk/1.0.0'
const ECHO = '/bench/echo/1.0.0'
const HOP = '/libp2p/circuit/relay/0.2.0/hop'
const STOP = '/libp2p/circuit/relay/0.2.0/stop'

function startDaemon () {
  const proc = spawn(DAEMON, ['--listen', '/ip4/127.0.0.1/tcp/0', '--metrics', 'off', '--relay',
    '--relay-circuit-duration', '0', '--relay-circuit-data', '0',
    '--relay-max-reservations', '100000', '--relay-max-reservations-per-ip', '100000',
    '--relay-max-circuits-per-peer', '100000', '--max-connections-per-ip', '100000',
    '--handshake-rate', '0', '--log-level', process.env.RELAY_BENCH_LOG ?? 'warn'], { stdio: ['ignore', 'pipe', 'inherit'] })
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: proc.stdout })
    rl.on('line', (line) => { if (line.startsWith('/ip4/')) resolve({ proc, addr: line.trim() }) })
    proc.once('exit', (code) => reject(new Error(`rendezvousd exited with ${code}`)))
  })
}

const rss = (pid) => Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/)[1]) * 1024

async function node (listen = [], circuits = true) {
  return createLibp2p({
    addresses: { listen },
    transports: circuits ? [tcp(), circuitRelayTransport()] : [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() },
    connectionManager: { maxConnections: 100000 }
  })
}

async function waitCircuit (n) {
  while (!n.getMultiaddrs().some((a) => a.toString().includes('/p2p-circuit'))) await new Promise((r) => setTimeout(r, 20))
  return n.getMultiaddrs().find((a) => a.toString().includes('/p2p-circuit'))
}

let received = 0 /* bytes the target's BULK handler got */

/** Bytes per second the target receives on one stream from `from` to `ma`
 * (after a second of warm-up, for SECONDS). */
async function throughput (from, ma) {
  const stream = await from.dialProtocol(ma, BULK, { runOnLimitedConnection: true })
  const chunk = new Uint8Array(64 * 1024)
  const start = performance.now()
  let r0 = null
  let t0 = 0
  for (;;) {
    const now = performance.now()
    if (r0 == null && now - start >= 1000) { r0 = received; t0 = now }
    if (r0 != null && now - t0 >= SECONDS * 1000) break
    if (!stream.send(chunk)) await new Promise((resolve) => stream.addEventListener('drain', resolve, { once: true }))
  }
  const rate = (received - r0) / ((performance.now() - t0) / 1000)
  stream.abort(new Error('done'))
  return rate
}

/** Round-trip times (ms, sorted) of 64-byte echoes on one stream to `ma`. */
async function rtts (from, ma) {
  const stream = await from.dialProtocol(ma, ECHO, { runOnLimitedConnection: true })
  const msg = new Uint8Array(64)
  const out = []
  for (let i = 0; i < RTTS; i++) {
    const t0 = performance.now()
    await new Promise((resolve) => {
      let got = 0
      const on = (evt) => {
        got += evt.data.byteLength
        if (got >= msg.length) { stream.removeEventListener('message', on); resolve() }
      }
      stream.addEventListener('message', on)
      stream.send(msg)
    })
    out.push(performance.now() - t0)
  }
  await stream.close()
  return out.sort((a, b) => a - b)
}

const q = (xs, p) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))]
const mb = (x) => (x / 1e6).toFixed(1)

process.on('uncaughtException', (err) => console.error('relay-bench: uncaught:', err))
const daemon = await startDaemon()
const relay = multiaddr(daemon.addr)
try {
  // Memory: R reservations (a peer and a connection each), then C circuits
  // held open (hand-made hop and stop messages: no js-libp2p upgrade on
  // top, so what is measured is the relay's side).
  const rss0 = rss(daemon.proc.pid)
  const peers = []
  for (let i = 0; i < RESERVATIONS; i++) {
    const p = await node([], false)
    const conn = await p.dial(relay)
    const s = await openMsgStream(conn, HOP)
    s.send(encodeFields([[1, 'varint', 0]]))
    await s.next()
    peers.push({ p, conn })
  }
  const rss1 = rss(daemon.proc.pid)
  const { p: tgt } = peers[0]
  await tgt.handle(STOP, (stream) => {
    stream.addEventListener('message', function once () {
      stream.removeEventListener('message', once)
      const ok = encodeFields([[1, 'varint', 1], [4, 'varint', 100]])
      stream.send(concat([varint(ok.length), ok]))
    })
  }, { runOnLimitedConnection: true })
  const circuits = []
  for (let i = 0; i < CIRCUITS; i++) {
    const s = await openMsgStream(peers[1 + (i % (peers.length - 1))].conn, HOP)
    s.send(encodeFields([[1, 'varint', 1], [2, 'msg', encodeFields([[1, 'bytes', tgt.peerId.toMultihash().bytes]])]]))
    await s.next()
    circuits.push(s)
  }
  const rss2 = rss(daemon.proc.pid)
  console.log(`relay memory       ${((rss1 - rss0) / RESERVATIONS / 1024).toFixed(1)} KiB per reservation (its connection included; ${RESERVATIONS} peers), ` +
    `${((rss2 - rss1) / CIRCUITS / 1024).toFixed(1)} KiB per open circuit (${CIRCUITS} circuits; daemon RSS ${mb(rss2)} MB)`)
  await Promise.all(peers.map(({ p }) => p.stop()))

  // Target: reachable directly (TCP) and through the relay.
  const target = await node(['/ip4/127.0.0.1/tcp/0', `${relay}/p2p-circuit`])
  await target.handle(BULK, (stream) => {
    stream.addEventListener('message', (evt) => { received += evt.data.byteLength })
  }, { runOnLimitedConnection: true })
  await target.handle(ECHO, (stream) => {
    stream.addEventListener('message', (evt) => stream.send(evt.data.subarray()))
  }, { runOnLimitedConnection: true })
  const relayed = await waitCircuit(target)
  const direct = target.getMultiaddrs().find((a) => !a.toString().includes('/p2p-circuit'))
  const source = await node()
  const sourceR = await node()
  await sourceR.dial(relay)

  const tDirect = await throughput(source, direct)
  const tRelay = await throughput(sourceR, relayed)
  const rDirect = await rtts(source, direct)
  const rRelay = await rtts(sourceR, relayed)
  console.log(`relay throughput   direct ${mb(tDirect)} MB/s, relayed ${mb(tRelay)} MB/s (${(100 * tRelay / tDirect).toFixed(0)} % of direct; one stream, ${SECONDS} s)`)
  console.log(`relay round trip   direct p50 ${q(rDirect, 0.5).toFixed(3)} / p99 ${q(rDirect, 0.99).toFixed(3)} ms, relayed p50 ${q(rRelay, 0.5).toFixed(3)} / p99 ${q(rRelay, 0.99).toFixed(3)} ms (added p50 ${(q(rRelay, 0.5) - q(rDirect, 0.5)).toFixed(3)} ms; 64 B, ${RTTS} round trips)`)
  await Promise.all([source.stop(), sourceR.stop()])

  await target.stop()
} finally {
  daemon.proc.kill('SIGTERM')
}
