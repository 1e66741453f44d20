// Push mode (/rendezvous/legacy/1.0.0, proto/push.proto) as a js-libp2p
// service: join a namespace (REGISTER + RENDEZVOUS) and keep a live member
// list from the server's announcements.
//
// One session (stream) per service carries every joined room. The server
// answers REGISTER, UNREGISTER and RENDEZVOUS only when it refuses them, so
// each operation ends with a DISCOVER of a namespace nobody uses: its answer,
// the only REGISTER Message without entries, arrives after everything the
// operation caused (refusals, the snapshot), and the refusals before it
// belong to that operation. After a reconnect every room is joined again
// into a fresh member list, and only the difference to the old one becomes
// events.

import { multiaddr } from '@multiformats/multiaddr'

import { backoffDelay, openStream, ownAddrs, serverAddrs, sleep } from './dial.js'
import { LimitedConnectionError, ProtocolError, RendezvousError } from './errors.js'
import { Framed, encode, decode, field, num, text, toBytes } from './wire.js'

export const PUSH_PROTOCOL = '/rendezvous/legacy/1.0.0'

const T = { REGISTER: 0, UNREGISTER: 1, RENDEZVOUS: 2, DISCOVER: 3 }
const TYPE_NAMES = ['REGISTER', 'UNREGISTER', 'RENDEZVOUS', 'DISCOVER']
const EMPTY = new Uint8Array(0)

// ---- messages --------------------------------------------------------------

const peerMsg = (id, addrs, metadata) => encode([
  [1, 'bytes', id],
  ...addrs.map((a) => [2, 'bytes', a.bytes]),
  [3, 'bytes', metadata?.length ? metadata : undefined]
])
const registerMsg = (ns, id, addrs, metadata) =>
  encode([[1, 'varint', T.REGISTER], [2, 'bytes', encode([[1, 'bytes', ns], [2, 'bytes', peerMsg(id, addrs, metadata)]])]])
const unregisterMsg = (ns) => encode([[1, 'varint', T.UNREGISTER], [3, 'bytes', encode([[1, 'bytes', ns]])]])
const rendezvousMsg = (ns) => encode([[1, 'varint', T.RENDEZVOUS], [4, 'bytes', encode([[1, 'bytes', ns]])]])
const discoverMsg = (ns, limit) => encode([[1, 'varint', T.DISCOVER], [5, 'bytes', encode([[1, 'bytes', ns], [2, 'varint', limit]])]])

/** A received Message: { type, status, statusText, register: [...], unregister: [...] }. */
function parse (bytes) {
  const m = decode(bytes)
  const entry = (b) => {
    const e = decode(b)
    const p = decode(field(e, 2) ?? EMPTY)
    return {
      ns: text(field(e, 1)) ?? '',
      peerId: text(field(p, 1)) ?? '',
      multiaddrs: (p.get(2) ?? []).map((a) => multiaddr(a)),
      metadata: field(p, 3) ?? EMPTY
    }
  }
  return {
    type: num(field(m, 1)),
    status: num(field(m, 6)),
    statusText: text(field(m, 7)) ?? '',
    register: (m.get(2) ?? []).map(entry),
    unregister: (m.get(3) ?? []).map(entry)
  }
}

const sameBytes = (a, b) => a.length === b.length && a.every((x, i) => x === b[i])
const sameAddrs = (a, b) => a.length === b.length && a.every((x, i) => x.equals(b[i]))
const member = (e) => ({ multiaddrs: e.multiaddrs, metadata: e.metadata })

function randomHex (n) {
  const b = crypto.getRandomValues(new Uint8Array(n))
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('')
}

// ---- the session ---------------------------------------------------------------

/** The session ended (server gone, connection lost): operations are retried on the next one. */
class SessionLost extends Error {
  constructor (cause) {
    super(`the rendezvous session ended${cause?.message ? `: ${cause.message}` : ''}`, { cause })
    this.name = 'SessionLost'
  }
}

/** One stream to one server, its reader, and the operations waiting for their barrier. */
class Session {
  constructor (framed, server, onMessage) {
    this.framed = framed
    this.server = server
    this.barrierNs = `rendezvousd-client/barrier/${randomHex(12)}`
    this.waiting = [] // [{ resolve, reject, errors }], oldest first
    // Namespaces this session subscribed to. The protocol has no way to
    // unsubscribe, so after a leave the members are still followed here
    // (without events), ready for a join of the same namespace.
    this.subscribed = new Set()
    this.shadows = new Map() // ns → Map(peer id → member), for left rooms
    this.ended = false
    this.closed = this.#read(onMessage)
  }

  async #read (onMessage) {
    let error
    try {
      for (;;) {
        const bytes = await this.framed.next()
        if (bytes == null) break
        let m
        try {
          m = parse(bytes)
        } catch (err) {
          throw new ProtocolError(`undecodable message from ${this.server}: ${err.message}`)
        }
        if (m.status !== 0) {
          const err = new RendezvousError(m.status, m.statusText, { server: this.server.toString(), request: TYPE_NAMES[m.type] ?? `type ${m.type}` })
          if (m.type === T.DISCOVER) this.#barrier(err)
          else if (this.waiting.length) this.waiting[0].errors.push(err)
          else onMessage(null, err)
        } else if (m.register.length === 0 && m.unregister.length === 0) {
          this.#barrier()
        } else {
          onMessage(m)
        }
      }
    } catch (err) {
      error = err
    }
    this.ended = true
    const lost = new SessionLost(error)
    for (const w of this.waiting.splice(0)) w.reject(lost)
    return error
  }

  #barrier (err) {
    const w = this.waiting.shift()
    if (w == null) return
    if (err) w.errors.push(err)
    w.resolve(w.errors)
  }

  /**
   * Sends `msgs`, then the barrier; resolves with the refusals the server
   * sent for them (RendezvousError[]). Rejects with SessionLost.
   */
  request (msgs) {
    if (this.ended) return Promise.reject(new SessionLost())
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject, errors: [] })
      try {
        for (const m of msgs) this.framed.send(m)
        this.framed.send(discoverMsg(this.barrierNs, 1))
      } catch (err) {
        this.abort(err)
      }
    })
  }

  /** Sends without waiting: only right before close(), where no refusal can be misattributed. */
  send (msg) {
    if (!this.ended) {
      try { this.framed.send(msg) } catch {}
    }
  }

  async close () {
    this.ended = true
    await this.framed.stream.close().catch(() => {})
  }

  abort (err) {
    this.framed.stream.abort(err)
  }
}

// ---- rooms -------------------------------------------------------------------

/**
 * A joined namespace. `members`: Map(peer id text → { multiaddrs, metadata })
 * of everybody else in it. Events: 'join' { peerId, multiaddrs, metadata },
 * 'leave' { peerId }, 'update' { peerId, multiaddrs, metadata }, and 'error'
 * (a RendezvousError the server sent after a reconnect or an address change).
 */
export class Room extends EventTarget {
  #service
  #fixedAddrs
  #pending = null // the member list being rebuilt during a (re)join
  #departing = new Map() // peer id → timer: missing after a reconnect, 'leave' when it fires
  #left = false
  joined = false // the first join completed; a reconnect joins it again

  constructor (service, ns, { addrs, metadata }) {
    super()
    this.#service = service
    this.namespace = ns
    this.members = new Map()
    this.#fixedAddrs = addrs == null ? null : addrs.map((a) => typeof a === 'string' ? multiaddr(a) : a)
    this.metadata = toBytes(metadata) ?? EMPTY
    this.sentAddrs = null // what the last REGISTER carried
  }

  /** True once leave() was called (or the service stopped). */
  get left () { return this.#left }

  /** The addresses to register: the given ones, else the node's own. */
  addrs () {
    return this.#fixedAddrs ?? ownAddrs(this.#service.components)
  }

  get followsNodeAddrs () { return this.#fixedAddrs == null }

  /** Replaces this member's metadata (a Uint8Array; a string is taken as UTF-8); others get 'update'. */
  async update (metadata) {
    if (this.#left) throw new Error(`left ${this.namespace} already`)
    this.metadata = toBytes(metadata) ?? EMPTY
    await this.#service.reregister(this)
  }

  /** Unregisters and unsubscribes; no more events from this room. */
  async leave () {
    if (this.#left) return
    this.#left = true
    const members = this.members
    this.members = new Map()
    await this.#service.leave(this, members)
  }

  /** Ends the room without telling the server (service stopped). */
  end () {
    this.#left = true
    this.members.clear()
    for (const timer of this.#departing.values()) clearTimeout(timer)
    this.#departing.clear()
  }

  // -- called by the service --

  /** Starts rebuilding the member list, from `base` (a subscription kept since an earlier leave) or empty. */
  beginSync (base) { this.#pending = new Map(base ?? []) }

  /**
   * Installs the rebuilt list; returns the events that tell the difference.
   * With `grace` (ms, after a reconnect) a member missing from the new list
   * stays listed that long before its 'leave': after a server restart the
   * others come back one by one, and those that do produce no event.
   */
  endSync (grace = 0) {
    const next = this.#pending
    this.#pending = null
    if (next == null) return []
    const events = []
    for (const [id, m] of next) {
      const old = this.members.get(id)
      this.#stillHere(id)
      if (old == null) events.push(['join', { peerId: id, ...m }])
      else if (!sameAddrs(old.multiaddrs, m.multiaddrs) || !sameBytes(old.metadata, m.metadata)) events.push(['update', { peerId: id, ...m }])
    }
    for (const [id, m] of this.members) {
      if (next.has(id)) continue
      if (grace > 0) {
        next.set(id, m) // still listed until its grace runs out
        if (!this.#departing.has(id)) this.#departing.set(id, setTimeout(() => this.#departed(id), grace))
      } else {
        this.#stillHere(id)
        events.push(['leave', { peerId: id }])
      }
    }
    this.members = next
    return events
  }

  #departed (id) {
    this.#departing.delete(id)
    if (this.members.delete(id)) this.emit('leave', { peerId: id })
  }

  #stillHere (id) {
    clearTimeout(this.#departing.get(id))
    this.#departing.delete(id)
  }

  abortSync () { this.#pending = null }

  /** Announcements go to this room (joined, or its join under way on this session). */
  get following () { return !this.#left && (this.joined || this.#pending != null) }

  onRegister (e) {
    if (this.#left) return
    if (this.#pending) { this.#pending.set(e.peerId, member(e)); return }
    this.#stillHere(e.peerId)
    const old = this.members.get(e.peerId)
    this.members.set(e.peerId, member(e))
    if (old == null) this.emit('join', { peerId: e.peerId, ...member(e) })
    else if (!sameAddrs(old.multiaddrs, e.multiaddrs) || !sameBytes(old.metadata, e.metadata)) this.emit('update', { peerId: e.peerId, ...member(e) })
  }

  onUnregister (e) {
    if (this.#left) return
    if (this.#pending) { this.#pending.delete(e.peerId); return }
    this.#stillHere(e.peerId)
    if (this.members.delete(e.peerId)) this.emit('leave', { peerId: e.peerId })
  }

  emit (type, detail) {
    if (!this.#left) this.dispatchEvent(new CustomEvent(type, { detail }))
  }
}

// ---- the service ---------------------------------------------------------------

/**
 * The push-mode service. Events: 'connect' { server } when a session is up
 * (again), 'disconnect' { server, error } when it ended and a reconnect
 * begins, 'error' (a refusal not tied to any operation).
 */
export class PushRendezvous extends EventTarget {
  #servers
  #opts
  #rooms = new Map()
  #session = null
  #opening = null
  #reconnecting = null
  #serverIndex = 0
  #stopped = new AbortController()
  #onSelfUpdate = () => { this.#addrsChanged() }

  constructor (components, init = {}) {
    super()
    this.components = components
    this.#servers = serverAddrs(init.servers)
    this.#opts = {
      runOnLimitedConnection: init.runOnLimitedConnection === true,
      timeout: init.timeout ?? 10_000,
      backoff: { min: init.reconnectDelay ?? 500, max: init.maxReconnectDelay ?? 10_000 }
    }
    // Longer than the largest reconnect delay (with its jitter) plus a connection set-up.
    this.#opts.leaveGrace = init.leaveGrace ?? Math.round(this.#opts.backoff.max * 1.2) + 2_000
    this.status = 'idle' // 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'stopped'
  }

  get [Symbol.toStringTag] () { return 'rendezvousd-client/push' }

  start () {
    this.#stopped = new AbortController()
    this.status = 'idle'
    this.components.events.addEventListener('self:peer:update', this.#onSelfUpdate)
  }

  async stop () {
    this.components.events.removeEventListener('self:peer:update', this.#onSelfUpdate)
    this.#stopped.abort(new Error('the rendezvous service stopped'))
    this.status = 'stopped'
    for (const room of this.#rooms.values()) room.end()
    this.#rooms.clear()
    const s = this.#session
    this.#session = null
    if (s) await s.close()
  }

  /** The rooms joined and not left, by namespace. */
  get rooms () { return new Map(this.#rooms) }

  /** The server of the current session, or undefined. */
  get server () { return this.#session?.server }

  /**
   * Joins `ns`: registers this node (with `addrs`, by default its own
   * multiaddrs, kept up to date; and `metadata`) and subscribes. Resolves
   * with the Room once the server has answered, its members listed.
   */
  async join (ns, { addrs, metadata, signal } = {}) {
    if (typeof ns !== 'string' || ns === '') throw new TypeError('join: the namespace must be a non-empty string')
    if (this.#stopped.signal.aborted) throw new Error('the rendezvous service is not started')
    if (this.#rooms.has(ns)) throw new Error(`already joined ${ns}`)
    const room = new Room(this, ns, { addrs, metadata })
    this.#rooms.set(ns, room)
    try {
      for (;;) {
        const session = await this.#ready(signal)
        let errors
        try {
          errors = await this.#registerAndSubscribe(session, room)
        } catch (err) {
          room.abortSync()
          if (err instanceof SessionLost) continue // the reconnect joins it again; or we do
          throw err
        }
        if (errors.length) {
          room.abortSync()
          // Undo what did work (a REGISTER when only the RENDEZVOUS was refused).
          await session.request([unregisterMsg(ns)]).catch(() => {})
          if (session.subscribed.has(ns)) session.shadows.set(ns, new Map())
          throw errors[0]
        }
        const events = room.endSync()
        room.joined = true
        // Listeners added right after `await join()` hear the members already there.
        setTimeout(() => { for (const [type, detail] of events) room.emit(type, detail) }, 0)
        return room
      }
    } catch (err) {
      if (this.#rooms.get(ns) === room) this.#rooms.delete(ns)
      room.end()
      throw err
    }
  }

  // -- for Room --

  async reregister (room) {
    for (;;) {
      const session = await this.#ready()
      if (room.left) return
      let errors
      try {
        errors = await session.request([this.#registerMsg(room)])
      } catch (err) {
        if (err instanceof SessionLost) continue
        throw err
      }
      if (errors.length) throw errors[0]
      return
    }
  }

  async leave (room, members) {
    if (this.#rooms.get(room.namespace) === room) this.#rooms.delete(room.namespace)
    const session = this.#session
    if (session == null || session.ended) return
    if (this.#rooms.size === 0) {
      session.send(unregisterMsg(room.namespace))
      // Nothing left to follow: the session ends (which also ends its subscriptions).
      this.#session = null
      this.status = 'idle'
      await session.close()
    } else {
      if (session.subscribed.has(room.namespace)) session.shadows.set(room.namespace, members)
      await session.request([unregisterMsg(room.namespace)]).catch(() => {})
    }
  }

  // -- internals --

  #registerMsg (room) {
    const addrs = room.addrs()
    room.sentAddrs = addrs
    return registerMsg(room.namespace, this.components.peerId.toString(), addrs, room.metadata)
  }

  #registerAndSubscribe (session, room) {
    const ns = room.namespace
    if (session.subscribed.has(ns)) {
      room.beginSync(session.shadows.get(ns))
      session.shadows.delete(ns)
      return session.request([this.#registerMsg(room)])
    }
    session.subscribed.add(ns)
    room.beginSync()
    return session.request([this.#registerMsg(room), rendezvousMsg(ns)])
  }

  /** The open session, opening one (first server that answers) if there is none. */
  async #ready (signal) {
    if (this.#session && !this.#session.ended) return this.#session
    if (this.#reconnecting) {
      await this.#reconnecting
      if (this.#session && !this.#session.ended) return this.#session
    }
    this.#opening ??= this.#open(signal).finally(() => { this.#opening = null })
    return this.#opening
  }

  async #open (signal) {
    this.status = this.status === 'reconnecting' ? 'reconnecting' : 'connecting'
    let lastError
    for (let i = 0; i < this.#servers.length; i++) {
      const k = (this.#serverIndex + i) % this.#servers.length
      const server = this.#servers[k]
      try {
        const signals = [this.#stopped.signal, AbortSignal.timeout(this.#opts.timeout)]
        if (signal) signals.push(signal)
        const stream = await openStream(this.components, server, PUSH_PROTOCOL, {
          runOnLimitedConnection: this.#opts.runOnLimitedConnection,
          signal: AbortSignal.any(signals)
        })
        this.#serverIndex = k
        const session = new Session(new Framed(stream), server, (m, err) => this.#onMessage(m, err))
        this.#session = session
        this.status = 'connected'
        session.closed.then((error) => this.#onClosed(session, error))
        return session
      } catch (err) {
        if (this.#stopped.signal.aborted) throw this.#stopped.signal.reason
        if (err instanceof LimitedConnectionError) throw err
        lastError = err
      }
    }
    if (this.status === 'connecting') this.status = 'idle'
    throw lastError
  }

  #onMessage (m, err) {
    if (err) {
      this.dispatchEvent(new CustomEvent('error', { detail: err }))
      return
    }
    const self = this.components.peerId.toString()
    const shadows = this.#session?.shadows
    for (const e of m.register) {
      if (e.peerId === self) continue
      const room = this.#rooms.get(e.ns)
      if (room?.following) room.onRegister(e)
      else shadows?.get(e.ns)?.set(e.peerId, member(e))
    }
    for (const e of m.unregister) {
      if (e.peerId === self) continue
      const room = this.#rooms.get(e.ns)
      if (room?.following) room.onUnregister(e)
      else shadows?.get(e.ns)?.delete(e.peerId)
    }
  }

  #onClosed (session, error) {
    if (this.#session !== session) return // closed on purpose (leave, stop)
    this.#session = null
    if (this.#stopped.signal.aborted) return
    if (this.#rooms.size === 0) { this.status = 'idle'; return }
    this.status = 'reconnecting'
    this.dispatchEvent(new CustomEvent('disconnect', { detail: { server: session.server, error } }))
    this.#reconnecting = this.#reconnect().finally(() => { this.#reconnecting = null })
  }

  /** Redials with backoff until a session is up and every room is joined again. */
  async #reconnect () {
    for (let attempt = 0; !this.#stopped.signal.aborted && this.#rooms.size > 0; attempt++) {
      try {
        await sleep(backoffDelay(attempt, this.#opts.backoff), this.#stopped.signal)
        this.#opening ??= this.#open().finally(() => { this.#opening = null })
        const session = await this.#opening
        await this.#rejoinAll(session)
        this.dispatchEvent(new CustomEvent('connect', { detail: { server: session.server } }))
        return
      } catch (err) {
        if (this.#stopped.signal.aborted) return
        if (this.#session && !this.#session.ended) return // a new session took over; its own close handler reconnects
      }
    }
    if (!this.#stopped.signal.aborted && this.#rooms.size === 0) this.status = 'idle'
  }

  async #rejoinAll (session) {
    const rooms = [...this.#rooms.values()].filter((room) => room.joined)
    let results
    try {
      results = await Promise.all(rooms.map((room) => this.#registerAndSubscribe(session, room)))
    } catch (err) {
      for (const room of rooms) room.abortSync()
      throw err
    }
    rooms.forEach((room, i) => {
      const errors = results[i]
      if (errors.length) {
        // The server now refuses this room (an ACL or a limit): it ends.
        room.abortSync()
        for (const id of [...room.members.keys()]) room.emit('leave', { peerId: id })
        if (this.#rooms.get(room.namespace) === room) this.#rooms.delete(room.namespace)
        room.emit('error', errors[0])
        room.end()
        return
      }
      for (const [type, detail] of room.endSync(this.#opts.leaveGrace)) room.emit(type, detail)
    })
  }

  /** The node's addresses changed (a new relay reservation): rooms that follow them register again. */
  #addrsChanged () {
    const session = this.#session
    if (session == null || session.ended) return
    for (const room of this.#rooms.values()) {
      if (!room.followsNodeAddrs || room.sentAddrs == null || sameAddrs(room.sentAddrs, room.addrs())) continue
      session.request([this.#registerMsg(room)]).then((errors) => {
        if (errors.length) room.emit('error', errors[0])
      }, () => {}) // a lost session re-registers on reconnect
    }
  }
}

/**
 * The push-mode service factory for createLibp2p's `services`:
 * `presence: pushRendezvous({ servers: ['/ip4/…/tcp/…/p2p/12D3KooW…'] })`.
 */
export function pushRendezvous (init = {}) {
  serverAddrs(init.servers) // fail early on a bad configuration
  return (components) => new PushRendezvous(components, init)
}
