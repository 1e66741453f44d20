// pushRendezvous against the real daemon: rooms, members, join/leave events,
// leave, typed errors, and the exact difference after a daemon restart.

import assert from 'node:assert/strict'
import { test } from 'node:test'

import { pushRendezvous, RendezvousError, Status } from '../src/index.js'
import { daemon, node, once, recorder, withTimeout, OP_MS } from './lib/setup.mjs'

const T = { timeout: 60_000 }
const id = (n) => n.peerId.toString()
const presence = (server, extra = {}) => ({ presence: pushRendezvous({ servers: [server], ...extra }) })

test('join: members map, join events both ways, never self', T, async (t) => {
  const d = await daemon(t)
  const a = await node(t, presence(d.server))
  const b = await node(t, presence(d.server))

  const roomA = await a.services.presence.join('chat-room')
  assert.equal(roomA.members.size, 0)
  const seenByA = recorder(roomA)

  const roomB = await b.services.presence.join('chat-room')
  // B's list is complete when join() resolves: A is in it, with A's addresses.
  assert.deepEqual([...roomB.members.keys()], [id(a)])
  assert.deepEqual(roomB.members.get(id(a)).multiaddrs.map(String), a.getMultiaddrs().map(String))
  assert.equal(roomB.members.get(id(a)).metadata.length, 0)
  // ...and a listener added right after join() hears A as a 'join'.
  const seenByB = recorder(roomB)
  await seenByB.wait((l) => l.length >= 1, 'B hearing A')
  assert.deepEqual([...seenByB], [['join', id(a)]])

  await seenByA.wait((l) => l.length >= 1, 'A hearing B')
  assert.deepEqual([...seenByA], [['join', id(b)]])
  const detail = seenByA.details[0]
  assert.deepEqual(detail.multiaddrs.map(String), b.getMultiaddrs().map(String))
  assert.ok(detail.metadata instanceof Uint8Array)
  assert.deepEqual([...roomA.members.keys()], [id(b)])

  // B leaves: A hears it; B hears nothing more, even when C arrives.
  await roomB.leave()
  assert.equal(roomB.members.size, 0)
  await seenByA.wait((l) => l.length >= 2, 'A hearing B leave')
  assert.deepEqual(seenByA[1], ['leave', id(b)])
  assert.deepEqual([...roomA.members.keys()], [])

  const c = await node(t, presence(d.server))
  const roomC = await c.services.presence.join('chat-room')
  assert.deepEqual([...roomC.members.keys()], [id(a)], 'B left: only A is listed')
  await seenByA.wait((l) => l.length >= 3, 'A hearing C')
  assert.deepEqual(seenByA[2], ['join', id(c)])
  assert.deepEqual([...seenByB], [['join', id(a)]], 'B heard nothing after its leave')
  for (const [, peer] of [...seenByA, ...seenByB]) assert.notEqual(peer, undefined)
  assert.ok(![...seenByA].some(([, p]) => p === id(a)), 'A never hears itself')
})

test('a member whose node stops is announced as leaving; rejoining after leave() lists the room again', T, async (t) => {
  const d = await daemon(t)
  const a = await node(t, presence(d.server))
  const b = await node(t, presence(d.server))
  const c = await node(t, presence(d.server))
  let roomA = await a.services.presence.join('r')
  const seen = recorder(roomA)
  await b.services.presence.join('r')
  await c.services.presence.join('other')
  await c.services.presence.join('r')
  await seen.wait((l) => l.length >= 2, 'the snapshot events')
  assert.deepEqual(new Set(roomA.members.keys()), new Set([id(b), id(c)]))

  // A leaves 'r' but stays in 'x' (same session): the server cannot unsubscribe,
  // so a second join of 'r' on that session must still list everybody.
  await a.services.presence.join('x')
  await roomA.leave()
  await b.stop()
  roomA = await a.services.presence.join('r')
  assert.deepEqual([...roomA.members.keys()], [id(c)])
  assert.deepEqual([...a.services.presence.rooms.keys()].sort(), ['r', 'x'])

  const again = recorder(roomA)
  await again.wait((l) => l.length >= 1)
  await c.stop()
  await again.wait((l) => l.length >= 2, 'C leaving')
  assert.deepEqual([...again], [['join', id(c)], ['leave', id(c)]])
})

test('typed errors: a namespace the server refuses is a RendezvousError with its status', T, async (t) => {
  const d = await daemon(t)
  const a = await node(t, presence(d.server))
  const err = await a.services.presence.join('n'.repeat(300)).then(() => null, (e) => e)
  assert.ok(err instanceof RendezvousError, `got ${err}`)
  assert.equal(err.status, Status.E_INVALID_NAMESPACE)
  assert.match(err.statusText, /namespace/i)
  assert.equal(a.services.presence.rooms.size, 0)
  // The session carries on: a valid join works.
  const room = await a.services.presence.join('fine')
  assert.equal(room.namespace, 'fine')
  // And a server that is not there is an error from join(), not a hang.
  const b = await node(t, presence('/ip4/127.0.0.1/tcp/1/p2p/' + d.peerId))
  await assert.rejects(withTimeout(b.services.presence.join('x'), OP_MS, 'join to a closed port'))
})

test('reconnect across a daemon restart: only the difference becomes events', T, async (t) => {
  const d1 = await daemon(t)
  const fast = { reconnectDelay: 100, maxReconnectDelay: 500, leaveGrace: 3000 }
  const a = await node(t, presence(d1.server, fast))
  const stays = await node(t, presence(d1.server, fast))
  const goes = await node(t, presence(d1.server, fast))
  const roomA = await a.services.presence.join('lobby')
  const seen = recorder(roomA)
  await stays.services.presence.join('lobby')
  await goes.services.presence.join('lobby')
  await seen.wait((l) => l.length >= 2, 'the other two')
  seen.length = 0

  const down = once(a.services.presence, 'disconnect')
  await d1.stop()
  await down
  assert.equal(a.services.presence.status, 'reconnecting')
  await goes.stop() // leaves while the server is away
  assert.equal(roomA.members.size, 2, 'members stay listed during the outage')

  const up = once(a.services.presence, 'connect')
  const staysUp = once(stays.services.presence, 'connect')
  const d2 = await daemon(t, { key: d1.key, port: d1.port })
  const arrives = await node(t, presence(d2.server, fast))
  await arrives.services.presence.join('lobby')
  await up
  await staysUp

  await seen.wait((l) => l.some(([ty]) => ty === 'leave') && l.some(([ty]) => ty === 'join'), 'the difference', 10_000)
  assert.deepEqual([...seen].sort(), [['join', id(arrives)], ['leave', id(goes)]])
  assert.deepEqual(new Set(roomA.members.keys()), new Set([id(stays), id(arrives)]))
  assert.equal(a.services.presence.status, 'connected')
})

test('a limited (relayed) connection to the server is used only when asked for', T, async () => {
  // No relay in front of a daemon here: the connection manager is a stand-in
  // that hands out a limited connection and records how it is used.
  const { PushRendezvous, LimitedConnectionError } = await import('../src/index.js')
  const opened = []
  const components = (peerId) => ({
    peerId,
    events: new EventTarget(),
    addressManager: { getAddresses: () => [] },
    connectionManager: {
      openConnection: async () => ({
        limits: { bytes: 1n << 17n, seconds: 120 },
        newStream: async (protocol, options) => {
          opened.push({ protocol, runOnLimitedConnection: options.runOnLimitedConnection })
          throw new Error('stand-in: no stream')
        }
      })
    }
  })
  const server = '/ip4/192.0.2.1/tcp/4001/p2p/12D3KooWGRYZDHBembyGJQqQ6WgLqJWYNjnECGDuGvb6MXJtoVY5'
  const id = { toString: () => '12D3KooWNvSZnPi3RrhrTwEY4LuuBeB6K6facKUCJcyWG1aoDd2p' }

  const strict = new PushRendezvous(components(id), { servers: [server] })
  strict.start()
  const err = await strict.join('room').then(() => null, (e) => e)
  assert.ok(err instanceof LimitedConnectionError, `got ${err}`)
  assert.match(err.message, /runOnLimitedConnection: true/)
  assert.deepEqual(opened, [], 'no stream was opened on the limited connection')

  const relaxed = new PushRendezvous(components(id), { servers: [server], runOnLimitedConnection: true })
  relaxed.start()
  await assert.rejects(relaxed.join('room'), /stand-in: no stream/)
  assert.deepEqual(opened, [{ protocol: '/rendezvous/legacy/1.0.0', runOnLimitedConnection: true }])
  await strict.stop()
  await relaxed.stop()
})
