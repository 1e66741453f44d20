// --data-dir: what a client was told is registered survives SIGKILL.
//
// js-libp2p clients register through /rendezvous/1.0.0 with real signed peer
// records, the daemon is killed with SIGKILL and restarted with the same
// --data-dir and key, and DISCOVER must return every acknowledged
// registration with its remaining TTL and its envelope byte for byte; a
// cookie taken before the kill pages on after it; what expired while the
// daemon was down and what was UNREGISTERed stays gone. Then a REGISTER loop
// is killed at random moments, several times over, and every acknowledged
// registration must still be there.
//
// Run: cd tests/interop && node --test --test-concurrency=1 ./persist.test.mjs
// RDV_BUILD selects the folder holding rendezvousd (default: ../../build).

import './lib/polyfill.mjs'

import assert from 'node:assert/strict'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { test } from 'node:test'

import { generateKeyPair } from '@libp2p/crypto/keys'

import { createNode, daemonArgs, deadline, startDaemon, tcpAddr, tempDir } from './lib/daemon.mjs'
import {
  RDV1_PROTOCOL, S, T,
  decodeRdv1, hex, openMsgStream, rdv1Discover, rdv1Register, rdv1Unregister, request, signedRecord, sleep
} from './lib/rendezvous.mjs'

const TT = { timeout: 180_000 }
const LONG_TTL = 3600
const SHORT_TTL = 5

async function client (t, daemon, i) {
  const privateKey = await generateKeyPair('Ed25519')
  const node = await createNode(t, { privateKey })
  const conn = await node.dial(tcpAddr(daemon), { signal: deadline() })
  const record = await signedRecord(privateKey, [`/ip4/10.0.${i & 255}.${i >> 8}/tcp/4001`])
  return { node, conn, record, stream: () => openMsgStream(conn, RDV1_PROTOCOL, deadline()) }
}

/** Sends every message at once on one stream, then reads `n` answers
 * (default: one per message; UNREGISTER has none). */
async function pipeline (c, msgs, n = msgs.length) {
  const s = await c.stream()
  for (const m of msgs) s.send(m)
  const answers = []
  for (let i = 0; i < n; i++) {
    const m = await s.next()
    if (m == null) throw new Error('the stream ended without an answer')
    answers.push(decodeRdv1(m))
  }
  await s.close()
  return answers
}

async function discover (c, ns, limit, cookie) {
  const s = await c.stream()
  const ans = await request(s, rdv1Discover(ns, limit, cookie))
  await s.close()
  const dr = ans.discoverResponse
  assert.equal(dr?.status, S.OK, `DISCOVER ${ns}: ${dr?.status} ${dr?.statusText}`)
  return dr
}

/** Every registration of the all-namespace listing after `cookie`, in order. */
async function discoverAll (c, cookie) {
  const all = []
  for (;;) {
    const dr = await discover(c, '', 1000, cookie)
    all.push(...dr.registrations)
    cookie = dr.cookie
    if (dr.registrations.length < 1000) return { all, cookie }
  }
}

const key = (r) => `${r.ns} ${hex(r.signedPeerRecord)}`

function assertOk (ans, what) {
  assert.equal(ans.type, T.REGISTER_RESPONSE, what)
  assert.equal(ans.registerResponse.status, S.OK, `${what}: ${ans.registerResponse.statusText}`)
}

test('1,000 acknowledged REGISTERs survive SIGKILL: envelopes, TTLs, cookies; expired and unregistered stay gone', TT, async (t) => {
  const dir = await tempDir(t)
  const args = daemonArgs(path.join(dir, 'daemon.key'), '--data-dir', path.join(dir, 'data'),
    '--ttl-min', String(SHORT_TTL), '--register-rate', '0', '--metrics', 'off')
  let daemon = await startDaemon(t, args)
  const peerId = daemon.peerId

  const clients = []
  for (let i = 0; i < 10; i++) clients.push(await client(t, daemon, i))
  // 10 peers x 100 namespaces, each peer's REGISTERs pipelined on one stream
  const t0 = performance.now()
  await Promise.all(clients.map(async (c, i) => {
    const answers = await pipeline(c, Array.from({ length: 100 }, (_, j) => rdv1Register(`p-${j}`, c.record, LONG_TTL)))
    answers.forEach((a, j) => assertOk(a, `client ${i} p-${j}`))
  }))
  // short-lived ones, which run out while the daemon is down
  const tShort = performance.now()
  await Promise.all(clients.slice(0, 5).map(async (c) => {
    assertOk((await pipeline(c, [rdv1Register('short', c.record, SHORT_TTL)]))[0], 'short')
  }))
  // registered, then unregistered: the DISCOVER behind the UNREGISTER on the
  // same stream is answered only after it was handled (and committed)
  {
    const c = clients[0]
    const [reg, disc] = await pipeline(c, [rdv1Register('gone', c.record, LONG_TTL), rdv1Unregister('gone'), rdv1Discover('gone', 10)], 2)
    assertOk(reg, 'gone')
    assert.equal(disc.discoverResponse.registrations.length, 0)
  }

  // listings and cookies taken before the kill
  const c0 = clients[0]
  const p0 = (await discover(c0, 'p-0', 100)).registrations
  assert.equal(p0.length, 10)
  const firstPage = await discover(c0, 'p-0', 4)
  assert.equal(firstPage.registrations.length, 4)
  const allPage = await discover(c0, '', 300)
  const rest = (await discoverAll(c0, allPage.cookie)).all.filter((r) => r.ns !== 'short')
  assert.equal(rest.length, 1000 - 300)

  await daemon.kill()
  const wait = SHORT_TTL * 1000 + 500 - (performance.now() - tShort)
  if (wait > 0) await sleep(wait)

  daemon = await startDaemon(t, args)
  assert.equal(daemon.peerId.toString(), peerId.toString())
  assert.match(daemon.output(), /store: loaded 1000 registrations from .* \(5 had expired, 0 were over the limits\)/)
  const d = await client(t, daemon, 99)
  const elapsed = (performance.now() - t0) / 1000

  for (let j = 0; j < 100; j++) {
    const regs = (await discover(d, `p-${j}`, 100)).registrations
    assert.equal(regs.length, 10, `p-${j}`)
    const want = new Set(clients.map((c) => hex(c.record)))
    for (const r of regs) {
      assert.ok(want.delete(hex(r.signedPeerRecord)), `p-${j}: an envelope that was not sent, or twice`)
      assert.ok(r.ttl <= BigInt(LONG_TTL) && r.ttl >= BigInt(Math.floor(LONG_TTL - elapsed - 2)), `p-${j}: ttl ${r.ttl}`)
    }
  }
  assert.deepEqual((await discover(d, 'p-0', 100)).registrations.map(key), p0.map(key), 'p-0 order')
  assert.equal((await discover(d, 'short', 100)).registrations.length, 0, 'expired while down')
  assert.equal((await discover(d, 'gone', 100)).registrations.length, 0, 'unregistered')

  // cookies from before the kill page on
  const next = await discover(d, 'p-0', 100, firstPage.cookie)
  assert.deepEqual(next.registrations.map(key), p0.slice(4).map(key))
  assert.deepEqual((await discoverAll(d, allPage.cookie)).all.map(key), rest.map(key))
  // and a registration made now comes after them
  assertOk((await pipeline(d, [rdv1Register('p-0', d.record, LONG_TTL)]))[0], 'after restart')
  const after = await discover(d, 'p-0', 100, next.cookie)
  assert.deepEqual(after.registrations.map(key), [`p-0 ${hex(d.record)}`])
})

test('a REGISTER loop killed at random moments: every acknowledged registration survives', TT, async (t) => {
  const dir = await tempDir(t)
  const args = daemonArgs(path.join(dir, 'daemon.key'), '--data-dir', path.join(dir, 'data'),
    '--register-rate', '0', '--metrics', 'off')
  const acked = new Set()
  let total = 0
  for (let round = 0; round < 5; round++) {
    const daemon = await startDaemon(t, args)
    const clients = []
    for (let i = 0; i < 4; i++) clients.push(await client(t, daemon, round * 4 + i))
    let killed = false
    const loops = clients.map(async (c, i) => {
      let s
      try {
        s = await c.stream()
        for (let k = 0; !killed; k++) {
          const ns = `r${round}-${i}-${k}`
          const ans = await request(s, rdv1Register(ns, c.record, LONG_TTL))
          assertOk(ans, ns)
          acked.add(`${ns} ${hex(c.record)}`)
          total++
        }
      } catch (err) {
        if (!killed) throw err // only the kill may end the loop
      }
    })
    await sleep(150 + Math.floor(Math.random() * 600))
    killed = true
    await daemon.kill()
    await Promise.all(loops)
  }
  assert.ok(total > 100, `only ${total} REGISTERs were acknowledged`)

  const daemon = await startDaemon(t, args)
  const d = await client(t, daemon, 999)
  const stored = new Set((await discoverAll(d, undefined)).all.map(key))
  const lost = [...acked].filter((k) => !stored.has(k))
  assert.deepEqual(lost, [], `${lost.length} of ${acked.size} acknowledged registrations were lost`)
})
