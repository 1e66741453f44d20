// js-libp2p <-> rendezvousd in push mode (/rendezvous/legacy/1.0.0, WIRE.md
// §2): js-libp2p nodes register, subscribe and receive each other's
// announcements through the daemon, and see each other leave - by stream
// reset (stream.abort()), by the node stopping (connection close) and by
// the daemon's idle timeout. Rejections carry their status; garbage resets
// only its own stream.
//
// Run: cd tests/interop && node --test --test-concurrency=1 ./push.test.mjs
// RDV_BUILD selects the folder holding rendezvousd and rdv (default: ../../build).

import './lib/polyfill.mjs'

import assert from 'node:assert/strict'
import { test } from 'node:test'

import { createNode, deadline, startDaemon, tcpAddr } from './lib/daemon.mjs'
import { PS, PT, PushSession, pushMessage } from './lib/push-client.mjs'
import { expectNoAnswerThenEnd } from './lib/rendezvous.mjs'

const TT = { timeout: 60_000 }
const listenArgs = (...extra) => ['--listen', '/ip4/127.0.0.1/tcp/0', ...extra]

/** A js-libp2p node connected to the daemon; `config` goes to createLibp2p. */
async function member (t, daemon, config = {}) {
  const node = await createNode(t, config)
  const conn = await node.dial(tcpAddr(daemon), { signal: deadline() })
  const id = node.peerId.toString()
  return { node, conn, id, session: () => PushSession.open(conn, deadline()) }
}

test('two js-libp2p nodes receive each other\'s announcements (seed 003 order)', TT, async (t) => {
  const daemon = await startDaemon(t, listenArgs())
  const a = await member(t, daemon)
  const b = await member(t, daemon)
  const c = await member(t, daemon)
  const sa = await a.session()
  const sb = await b.session()

  // A registers (its own id given) and enters; B registers with no id (= me).
  sa.register('my-app', a.id, ['/ip4/10.0.0.1/tcp/4001'])
  sa.rendezvous('my-app')
  assert.deepEqual(await sa.list('none'), []) // A is subscribed now
  sb.register('my-app', undefined, ['/ip4/10.0.0.2/tcp/4002', '/ip6/::1/tcp/4002/ws'])
  sb.rendezvous('my-app')
  assert.deepEqual(await sb.events(1), [['+', a.id, '/ip4/10.0.0.1/tcp/4001']])
  assert.deepEqual(await sa.events(1), [['+', b.id, '/ip4/10.0.0.2/tcp/4002', '/ip6/::1/tcp/4002/ws']])

  // C enters: it gets A and B in one Message; A and B get C.
  const sc = await c.session()
  sc.register('my-app', c.id)
  sc.rendezvous('my-app')
  const snap = await sc.next()
  assert.deepEqual(snap.register.map((r) => r.peer), [a.id, b.id])
  assert.deepEqual(await sa.events(1), [['+', c.id]])
  assert.deepEqual(await sb.events(1), [['+', c.id]])

  // D discovers: A, B, C in order; with a limit, the first ones.
  const d = await member(t, daemon)
  const sd = await d.session()
  assert.deepEqual((await sd.list('my-app')).map((e) => e[0]), [a.id, b.id, c.id])
  assert.deepEqual((await sd.list('my-app', 2)).map((e) => e[0]), [a.id, b.id])

  // UNREGISTER is announced; B's re-REGISTER too, with its new address.
  sc.unregister('my-app')
  assert.deepEqual(await sa.events(1), [['-', c.id]])
  assert.deepEqual(await sb.events(1), [['-', c.id]])
  sb.register('my-app', b.id, ['/ip4/10.9.9.9/tcp/1'])
  assert.deepEqual(await sa.events(1), [['+', b.id, '/ip4/10.9.9.9/tcp/1']])
  assert.deepEqual(await sc.events(1), [['+', b.id, '/ip4/10.9.9.9/tcp/1']])
})

test('a stream reset (abort) and a stopped node are announced as UNREGISTER', TT, async (t) => {
  const daemon = await startDaemon(t, listenArgs())
  const w = await member(t, daemon)
  const sw = await w.session()
  sw.rendezvous('room')
  assert.deepEqual(await sw.list('none'), [])

  const r = await member(t, daemon)
  const sr = await r.session()
  sr.register('room', r.id)
  assert.deepEqual(await sw.events(1), [['+', r.id]])
  sr.abort()
  assert.deepEqual(await sw.events(1), [['-', r.id]])
  // The connection survives the reset: a new session registers again.
  const sr2 = await r.session()
  sr2.register('room', r.id)
  assert.deepEqual(await sw.events(1), [['+', r.id]])

  const s = await member(t, daemon)
  const ss = await s.session()
  ss.register('room', s.id)
  assert.deepEqual(await sw.events(1), [['+', s.id]])
  await s.node.stop()
  assert.deepEqual(await sw.events(1), [['-', s.id]])
  await r.node.stop()
  assert.deepEqual(await sw.events(1), [['-', r.id]])
})

test('the daemon\'s idle timeout ends a silent member\'s session', TT, async (t) => {
  const daemon = await startDaemon(t, listenArgs('--idle-timeout', '2'))
  // The watcher pings every 300 ms; the member does not ping at all.
  const w = await member(t, daemon, { connectionMonitor: { pingInterval: 300 } })
  const sw = await w.session()
  sw.rendezvous('quiet')
  assert.deepEqual(await sw.list('none'), [])
  const m = await member(t, daemon, { connectionMonitor: { enabled: false } })
  const sm = await m.session()
  sm.register('quiet', m.id)
  assert.deepEqual(await sw.events(1), [['+', m.id]])
  const started = performance.now()
  assert.deepEqual(await sw.events(1, 10_000), [['-', m.id]])
  assert.ok(performance.now() - started >= 1000, 'removed before the idle timeout')
  assert.equal(w.conn.status, 'open')
})

test('rejections carry a status; garbage resets only its stream', TT, async (t) => {
  const daemon = await startDaemon(t, listenArgs())
  const a = await member(t, daemon)
  const b = await member(t, daemon)
  const s = await a.session()

  const status = async (msg) => {
    s.send(msg)
    const m = await s.next()
    return [m.status, m.statusText]
  }
  assert.equal((await status(pushMessage({ type: PT.REGISTER, register: [{ ns: 'x', id: b.id }] })))[0], PS.E_NOT_AUTHORIZED)
  assert.equal((await status(pushMessage({ type: PT.REGISTER, register: [{ ns: 'x', id: 'nonsense' }] })))[0], PS.E_INVALID_PEER)
  assert.equal((await status(pushMessage({ type: PT.REGISTER, register: [{ id: a.id }] })))[0], PS.E_INVALID_NAMESPACE)
  assert.equal((await status(pushMessage({ type: PT.RENDEZVOUS, rendezvous: ['n'.repeat(256)] })))[0], PS.E_INVALID_NAMESPACE)
  assert.equal((await status(pushMessage({ type: 7, rendezvous: ['x'] })))[0], PS.E_INVALID_REQUEST)
  assert.equal((await status(pushMessage({ type: PT.DISCOVER })))[0], PS.E_INVALID_REQUEST)
  // The session carries on.
  assert.deepEqual(await s.list('x'), [])

  // Undecodable bytes and an oversized length: that stream is reset...
  for (const bytes of [Uint8Array.from([4, 0xff, 0xff, 0xff, 0xff]), Uint8Array.from([0x80, 0x80, 0x80, 0x01])]) {
    const bad = await a.session()
    bad.ms.sendRaw(bytes)
    assert.equal(await expectNoAnswerThenEnd(bad.ms), 'reset')
  }
  // ... and the first session on the same connection is still served.
  s.register('x', a.id)
  const sb = await b.session()
  assert.deepEqual(await sb.list('x'), [[a.id]])
  assert.equal(a.conn.status, 'open')
})
