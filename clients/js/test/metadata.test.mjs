// Presence metadata (push Peer field 3): set at join (bytes, or a string as
// UTF-8), listed in members, changed with room.update() as an 'update'
// event, kept across a reconnect without an event, refused beyond the
// server's --max-metadata-bytes with a RendezvousError.

import assert from 'node:assert/strict'
import { test } from 'node:test'

import { pushRendezvous, RendezvousError } from '../src/index.js'
import { daemon, node, once, recorder } from './lib/setup.mjs'

const T = { timeout: 60_000 }
const id = (n) => n.peerId.toString()
const utf8 = (b) => new TextDecoder().decode(b)
const presence = (server, extra = {}) => ({ presence: pushRendezvous({ servers: [server], ...extra }) })

test('metadata: join with a name, update it, others see join then update', T, async (t) => {
  const d = await daemon(t)
  const a = await node(t, presence(d.server))
  const b = await node(t, presence(d.server))
  const roomA = await a.services.presence.join('chat', { metadata: 'Alice' })
  const seenByA = recorder(roomA)
  const roomB = await b.services.presence.join('chat', { metadata: Uint8Array.from([0, 1, 2, 255]) })
  assert.equal(utf8(roomB.members.get(id(a)).metadata), 'Alice')
  await seenByA.wait((l) => l.length >= 1, 'A hearing B')
  assert.deepEqual([...seenByA.details[0].metadata], [0, 1, 2, 255])

  const seenByB = recorder(roomB)
  await seenByB.wait((l) => l.length >= 1, 'B hearing A (the snapshot)')
  await roomA.update('Alice (away)')
  await seenByB.wait((l) => l.length >= 2, 'B hearing the update')
  assert.deepEqual([...seenByB], [['join', id(a)], ['update', id(a)]])
  assert.equal(utf8(seenByB.details[1].metadata), 'Alice (away)')
  assert.equal(utf8(roomB.members.get(id(a)).metadata), 'Alice (away)')
  assert.deepEqual(roomB.members.get(id(a)).multiaddrs.map(String), a.getMultiaddrs().map(String))
  assert.equal(utf8(roomA.metadata), 'Alice (away)')

  // An update to the same value changes nothing anybody hears.
  await roomA.update('Alice (away)')
  await roomA.update('Alice')
  await seenByB.wait((l) => l.length >= 3, 'B hearing the second update')
  assert.deepEqual([...seenByB].map(([ty]) => ty), ['join', 'update', 'update'])
  assert.equal(utf8(seenByB.details[2].metadata), 'Alice')
  assert.deepEqual([...seenByA], [['join', id(b)]], 'A hears nothing of its own updates')
})

test('metadata over the server limit is a RendezvousError; the room keeps its old value', T, async (t) => {
  const d = await daemon(t, { extra: ['--max-metadata-bytes', '16'] })
  const a = await node(t, presence(d.server))
  const tooBig = 'x'.repeat(17)
  const err = await a.services.presence.join('r', { metadata: tooBig }).then(() => null, (e) => e)
  assert.ok(err instanceof RendezvousError, `got ${err}`)
  assert.ok(err.status > 0)
  assert.ok(err.statusText.length > 0)
  const room = await a.services.presence.join('r', { metadata: 'x'.repeat(16) })
  await assert.rejects(room.update(tooBig), RendezvousError)
})

test('metadata survives a daemon restart without an event', T, async (t) => {
  const d1 = await daemon(t)
  const fast = { reconnectDelay: 100, maxReconnectDelay: 500, leaveGrace: 3000 }
  const a = await node(t, presence(d1.server, fast))
  const b = await node(t, presence(d1.server, fast))
  const roomA = await a.services.presence.join('m', { metadata: 'A' })
  const seen = recorder(roomA)
  await b.services.presence.join('m', { metadata: 'B' })
  await seen.wait((l) => l.length >= 1)
  const upA = once(a.services.presence, 'connect')
  const upB = once(b.services.presence, 'connect')
  await d1.stop()
  await daemon(t, { key: d1.key, port: d1.port })
  await upA
  await upB
  // B's session is back: its REGISTER (with its metadata) reached the server
  // before its 'connect', so A has it listed, and heard nothing.
  const c = await node(t, presence(d1.server))
  const roomC = await c.services.presence.join('m')
  assert.deepEqual(Object.fromEntries([...roomC.members].map(([k, v]) => [k, utf8(v.metadata)])), { [id(a)]: 'A', [id(b)]: 'B' })
  await seen.wait((l) => l.length >= 2, 'A hearing C')
  assert.deepEqual([...seen], [['join', id(b)], ['join', id(c)]])
  assert.equal(utf8(roomA.members.get(id(b)).metadata), 'B')
})
