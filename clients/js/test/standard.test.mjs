// rendezvousClient (/rendezvous/1.0.0) against the real daemon: register
// with a TTL and its automatic refresh, discover with paging and cookies,
// peer discovery events, unregister, typed errors.

import assert from 'node:assert/strict'
import { test } from 'node:test'

import { rendezvousClient, RendezvousError, Status } from '../src/index.js'
import { daemon, node, once, withTimeout, OP_MS } from './lib/setup.mjs'

const T = { timeout: 60_000 }
const id = (n) => n.peerId.toString()
const rendezvous = (server, extra = {}) => ({ rendezvous: rendezvousClient({ servers: [server], ...extra }) })

test('register, discover (with peer:discovery), unregister', T, async (t) => {
  const d = await daemon(t)
  const a = await node(t, rendezvous(d.server))
  const b = await node(t, rendezvous(d.server))

  const { ttl } = await a.services.rendezvous.register('chat-room', { ttl: 3600 })
  assert.equal(ttl, 3600)
  assert.deepEqual([...a.services.rendezvous.registrations.keys()], ['chat-room'])

  const discovered = withTimeout(new Promise((resolve) => b.addEventListener('peer:discovery', (e) => {
    if (e.detail.id.toString() === id(a)) resolve(e.detail)
  })), OP_MS, 'peer:discovery of A')
  const page = await b.services.rendezvous.discover('chat-room')
  assert.equal(page.registrations.length, 1)
  const [r] = page.registrations
  assert.equal(r.peerId, id(a))
  assert.equal(r.ns, 'chat-room')
  assert.ok(r.ttl > 0 && r.ttl <= 3600)
  // The record carries A's listening addresses (without the /p2p/<self> suffix).
  assert.deepEqual(r.multiaddrs.map(String), a.getMultiaddrs().map((m) => m.toString().replace(`/p2p/${id(a)}`, '')))
  assert.ok(page.cookie instanceof Uint8Array && page.cookie.length > 0)
  const info = await discovered
  assert.deepEqual(info.multiaddrs.map(String), r.multiaddrs.map(String))

  // Nothing new since the cookie.
  const again = await b.services.rendezvous.discover('chat-room', { cookie: page.cookie, server: page.server })
  assert.deepEqual(again.registrations, [])

  await a.services.rendezvous.unregister('chat-room')
  assert.equal(a.services.rendezvous.registrations.size, 0)
  // UNREGISTER has no answer: a DISCOVER on A's own connection comes after it.
  const after = await a.services.rendezvous.discover('chat-room')
  assert.deepEqual(after.registrations, [])
  assert.deepEqual((await b.services.rendezvous.discover('chat-room')).registrations, [])
})

test('discover pages through a namespace with cookies; discoverAll follows them', T, async (t) => {
  const d = await daemon(t)
  const members = []
  for (let i = 0; i < 5; i++) {
    const n = await node(t, rendezvous(d.server))
    await n.services.rendezvous.register('paged', { ttl: 600 })
    members.push(id(n))
  }
  const reader = await node(t, rendezvous(d.server))
  const seen = []
  let cookie
  let server
  const sizes = []
  for (;;) {
    const page = await reader.services.rendezvous.discover('paged', { limit: 2, cookie, server })
    sizes.push(page.registrations.length)
    seen.push(...page.registrations.map((r) => r.peerId))
    if (page.registrations.length < 2) break
    ;({ cookie, server } = page)
  }
  assert.deepEqual(sizes, [2, 2, 1])
  assert.deepEqual(seen, members, 'every member once, in registration order')

  const all = []
  for await (const r of reader.services.rendezvous.discoverAll('paged', { pageSize: 2 })) all.push(r.peerId)
  assert.deepEqual(all, members)
})

test('the registration is refreshed before its TTL runs out', T, async (t) => {
  const d = await daemon(t, { extra: ['--ttl-min', '5'] })
  const a = await node(t, rendezvous(d.server, { refreshAt: 0.5 }))
  const b = await node(t, rendezvous(d.server))
  const t0 = performance.now()
  const refreshes = []
  a.services.rendezvous.addEventListener('register', (e) => refreshes.push([performance.now() - t0, e.detail]))
  await a.services.rendezvous.register('short', { ttl: 5 })
  // Two refreshes: at about half the TTL each.
  await withTimeout(new Promise((resolve) => a.services.rendezvous.addEventListener('register', () => {
    if (refreshes.length >= 3) resolve()
  })), 15_000, 'two refreshes')
  assert.ok(refreshes.every(([, r]) => r.ns === 'short' && r.ttl === 5))
  // Past the first registration's expiry, A is still there.
  const wait = 5_500 - (performance.now() - t0)
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
  const found = await b.services.rendezvous.discover('short')
  assert.deepEqual(found.registrations.map((r) => r.peerId), [id(a)])
})

test('typed errors: TTL, cookie and namespace refusals carry the server status', T, async (t) => {
  const d = await daemon(t, { extra: ['--ttl-max', '3600'] })
  const a = await node(t, rendezvous(d.server))
  const refusal = (p) => p.then(() => assert.fail('expected a refusal'), (e) => {
    assert.ok(e instanceof RendezvousError, `not a RendezvousError: ${e}`)
    return e
  })
  const ttl = await refusal(a.services.rendezvous.register('ns', { ttl: 999_999 }))
  assert.equal(ttl.status, Status.E_INVALID_TTL)
  assert.ok(ttl.statusText.length > 0)
  assert.equal(a.services.rendezvous.registrations.size, 0, 'a refused registration is not kept')

  const cookie = await refusal(a.services.rendezvous.discover('ns', { cookie: new Uint8Array([1, 2, 3]) }))
  assert.equal(cookie.status, Status.E_INVALID_COOKIE)

  const ns = await refusal(a.services.rendezvous.register('n'.repeat(300)))
  assert.equal(ns.status, Status.E_INVALID_NAMESPACE)
  assert.equal(ns.server, d.server)
})

test('a refresh that finds no server is an error event, retried until the server is back', T, async (t) => {
  const d1 = await daemon(t, { extra: ['--ttl-min', '5'] })
  const a = await node(t, rendezvous(d1.server, { refreshAt: 0.5, reconnectDelay: 100, maxReconnectDelay: 500 }))
  await a.services.rendezvous.register('comeback', { ttl: 5 })
  await d1.stop()
  const failed = await once(a.services.rendezvous, 'error', 15_000)
  assert.ok(failed instanceof Error)
  const back = once(a.services.rendezvous, 'register', 15_000)
  const d2 = await daemon(t, { key: d1.key, port: d1.port, extra: ['--ttl-min', '5'] })
  assert.deepEqual(await back, { ns: 'comeback', ttl: 5 })
  const b = await node(t, rendezvous(d2.server))
  const found = await b.services.rendezvous.discover('comeback')
  assert.deepEqual(found.registrations.map((r) => r.peerId), [id(a)])
})
