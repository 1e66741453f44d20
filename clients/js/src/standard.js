// The standard dialect (/rendezvous/1.0.0, libp2p/specs rendezvous r3) as a
// js-libp2p service: REGISTER a signed peer record with a TTL and refresh it
// before it expires, DISCOVER with limits and cookies, UNREGISTER. It is a
// peer discovery module too: every peer it discovers is a 'peer' event,
// which libp2p turns into 'peer:discovery'.
//
// Each request is one stream: write the request, read the one response.

import { peerDiscoverySymbol } from '@libp2p/interface'
import { peerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id'
import { PeerRecord, RecordEnvelope } from '@libp2p/peer-record'
import { multiaddr } from '@multiformats/multiaddr'

import { backoffDelay, openStream, ownAddrs, serverAddrs, withoutPeer } from './dial.js'
import { ProtocolError, RendezvousError } from './errors.js'
import { Framed, encode, decode, field, num, text } from './wire.js'

export const RENDEZVOUS_PROTOCOL = '/rendezvous/1.0.0'

const T = { REGISTER: 0, REGISTER_RESPONSE: 1, UNREGISTER: 2, DISCOVER: 3, DISCOVER_RESPONSE: 4 }

const registerMsg = (ns, record, ttl) => encode([
  [1, 'varint', T.REGISTER],
  [2, 'bytes', encode([[1, 'bytes', ns], [2, 'bytes', record], [3, 'varint', ttl]])]
])
const unregisterMsg = (ns) => encode([[1, 'varint', T.UNREGISTER], [4, 'bytes', encode([[1, 'bytes', ns]])]])
const discoverMsg = (ns, limit, cookie) => encode([
  [1, 'varint', T.DISCOVER],
  [5, 'bytes', encode([[1, 'bytes', ns || undefined], [2, 'varint', limit], [3, 'bytes', cookie]])]
])

/**
 * The `/rendezvous/1.0.0` service. Events: 'peer' (PeerInfo, for libp2p's
 * peer discovery), 'register' { ns, ttl } after every (re-)registration,
 * 'error' (a failed automatic refresh; it is retried with backoff).
 */
export class RendezvousClient extends EventTarget {
  #servers
  #opts
  #regs = new Map() // ns → { ttl, addrs, timers, granted }
  #stopped = new AbortController()
  #onSelfUpdate = () => { this.#addrsChanged() }

  constructor (components, init = {}) {
    super()
    this.components = components
    this.#servers = serverAddrs(init.servers)
    this.#opts = {
      runOnLimitedConnection: init.runOnLimitedConnection === true,
      timeout: init.timeout ?? 10_000,
      // Refresh when this share of the granted TTL has passed.
      refreshAt: init.refreshAt ?? 0.8,
      backoff: { min: init.reconnectDelay ?? 500, max: init.maxReconnectDelay ?? 10_000 }
    }
  }

  get [peerDiscoverySymbol] () { return this }
  get [Symbol.toStringTag] () { return 'rendezvousd-client/standard' }

  start () {
    this.#stopped = new AbortController()
    this.components.events.addEventListener('self:peer:update', this.#onSelfUpdate)
  }

  stop () {
    this.components.events.removeEventListener('self:peer:update', this.#onSelfUpdate)
    this.#stopped.abort(new Error('the rendezvous service stopped'))
    for (const reg of this.#regs.values()) clearTimeout(reg.timer)
    this.#regs.clear()
  }

  /** The namespaces registered (and kept fresh), with the TTL each server granted. */
  get registrations () {
    return new Map([...this.#regs].map(([ns, r]) => [ns, { ttl: r.granted }]))
  }

  /**
   * Registers this node in `ns` at every server with a signed peer record
   * of `addrs` (by default its own multiaddrs, followed when they change)
   * for `ttl` seconds (the server's default if absent), and keeps it
   * registered until unregister(). Resolves with { ttl } (the smallest
   * granted); rejects with a RendezvousError if a server refuses.
   */
  async register (ns, { ttl, addrs, signal } = {}) {
    if (typeof ns !== 'string' || ns === '') throw new TypeError('register: the namespace must be a non-empty string')
    const old = this.#regs.get(ns)
    if (old) clearTimeout(old.timer)
    const reg = { ns, ttl, addrs: addrs?.map((a) => typeof a === 'string' ? multiaddr(a) : a), timer: undefined, granted: undefined }
    this.#regs.set(ns, reg)
    try {
      await this.#registerOnce(reg, signal)
    } catch (err) {
      if (this.#regs.get(ns) === reg) this.#regs.delete(ns)
      throw err
    }
    return { ttl: reg.granted }
  }

  /** Stops refreshing `ns` and unregisters at every server (no answer is expected). */
  async unregister (ns, { signal } = {}) {
    const reg = this.#regs.get(ns)
    if (reg) clearTimeout(reg.timer)
    this.#regs.delete(ns)
    await Promise.all(this.#servers.map(async (server) => {
      const stream = await this.#stream(server, signal)
      new Framed(stream).send(unregisterMsg(ns))
      await stream.close({ signal: this.#signal(signal) })
    }))
  }

  /**
   * One DISCOVER: at most `limit` registrations in `ns` (every namespace
   * if empty), those after `cookie` if given. Resolves with
   * { registrations: [{ peerId, multiaddrs, ns, ttl }], cookie, server };
   * pass `cookie` and `server` back for the next page. Each peer found is
   * also a 'peer' event.
   */
  async discover (ns = '', { limit, cookie, server, signal } = {}) {
    const servers = server ? [typeof server === 'string' ? multiaddr(server) : server] : this.#servers
    let lastError
    for (const s of servers) {
      let res
      try {
        res = await this.#request(s, discoverMsg(ns, limit, cookie), signal)
      } catch (err) {
        if (err instanceof RendezvousError || servers.length === 1) throw err
        lastError = err
        continue
      }
      const d = decode(field(res, 6) ?? new Uint8Array(0))
      const status = num(field(d, 3))
      if (num(field(res, 1)) !== T.DISCOVER_RESPONSE) throw new ProtocolError(`expected DISCOVER_RESPONSE from ${s}`)
      if (status !== 0) throw new RendezvousError(status, text(field(d, 4)), { server: s.toString(), request: 'DISCOVER' })
      const registrations = []
      for (const b of d.get(1) ?? []) {
        const r = await this.#registration(decode(b))
        if (r == null) continue
        registrations.push(r)
        this.dispatchEvent(new CustomEvent('peer', { detail: { id: peerIdFromString(r.peerId), multiaddrs: r.multiaddrs } }))
      }
      return { registrations, cookie: field(d, 2), server: s.toString() }
    }
    throw lastError
  }

  /**
   * Every registration in `ns`, page by page (`pageSize` each) until a page
   * comes back short: an async iterator of registrations.
   */
  async * discoverAll (ns = '', { pageSize = 100, signal } = {}) {
    let cookie
    let server
    for (;;) {
      const page = await this.discover(ns, { limit: pageSize, cookie, server, signal })
      yield * page.registrations
      if (page.registrations.length < pageSize || page.cookie == null) return
      cookie = page.cookie
      server = page.server
    }
  }

  // -- internals --

  #signal (signal) {
    const signals = [this.#stopped.signal, AbortSignal.timeout(this.#opts.timeout)]
    if (signal) signals.push(signal)
    return AbortSignal.any(signals)
  }

  #stream (server, signal) {
    return openStream(this.components, server, RENDEZVOUS_PROTOCOL, {
      runOnLimitedConnection: this.#opts.runOnLimitedConnection,
      signal: this.#signal(signal)
    })
  }

  /** Sends one request on a new stream and returns the decoded response. */
  async #request (server, msg, signal) {
    const stream = await this.#stream(server, signal)
    try {
      const framed = new Framed(stream)
      framed.send(msg)
      const onAbort = () => stream.abort(new Error('no answer in time'))
      const sig = this.#signal(signal)
      sig.addEventListener('abort', onAbort, { once: true })
      let bytes
      try {
        bytes = await framed.next()
      } finally {
        sig.removeEventListener('abort', onAbort)
      }
      if (bytes == null) throw new ProtocolError(`${server} closed the stream without an answer`)
      return decode(bytes)
    } finally {
      stream.close().catch(() => {})
    }
  }

  /** A registration of a DISCOVER_RESPONSE, its record checked; null if it is not a valid peer record. */
  async #registration (r) {
    try {
      const env = await RecordEnvelope.openAndCertify(field(r, 2), PeerRecord.DOMAIN)
      const rec = PeerRecord.createFromProtobuf(env.payload)
      if (!rec.peerId.equals(peerIdFromPublicKey(env.publicKey))) return null // a record about someone else
      return { peerId: rec.peerId.toString(), multiaddrs: rec.multiaddrs, ns: text(field(r, 1)) ?? '', ttl: num(field(r, 3)) }
    } catch {
      return null // another record dialect, or a bad one: not for us
    }
  }

  async #record (reg) {
    const addrs = (reg.addrs ?? ownAddrs(this.components)).map(withoutPeer)
    reg.sentAddrs = addrs
    const record = new PeerRecord({ peerId: this.components.peerId, multiaddrs: addrs, seqNumber: BigInt(Date.now()) * 1000n })
    const env = await RecordEnvelope.seal(record, this.components.privateKey)
    return env.marshal()
  }

  /** REGISTERs at every server and schedules the refresh. */
  async #registerOnce (reg, signal) {
    const record = await this.#record(reg)
    const results = await Promise.allSettled(this.#servers.map(async (server) => {
      const res = await this.#request(server, registerMsg(reg.ns, record, reg.ttl), signal)
      if (num(field(res, 1)) !== T.REGISTER_RESPONSE) throw new ProtocolError(`expected REGISTER_RESPONSE from ${server}`)
      const r = decode(field(res, 3) ?? new Uint8Array(0))
      const status = num(field(r, 1))
      if (status !== 0) throw new RendezvousError(status, text(field(r, 2)), { server: server.toString(), request: 'REGISTER' })
      return num(field(r, 3), reg.ttl ?? 7200)
    }))
    const failed = results.find((r) => r.status === 'rejected')
    if (failed) throw failed.reason
    reg.granted = Math.min(...results.map((r) => r.value))
    this.#schedule(reg, reg.granted * this.#opts.refreshAt * 1000)
    this.dispatchEvent(new CustomEvent('register', { detail: { ns: reg.ns, ttl: reg.granted } }))
  }

  #schedule (reg, ms) {
    clearTimeout(reg.timer)
    reg.timer = setTimeout(() => this.#refresh(reg), Math.max(0, ms))
  }

  /** Re-registers; retries with backoff until it works, unregister() or stop(). */
  async #refresh (reg, attempt = 0) {
    if (this.#regs.get(reg.ns) !== reg || this.#stopped.signal.aborted) return
    try {
      await this.#registerOnce(reg)
    } catch (err) {
      if (this.#regs.get(reg.ns) !== reg || this.#stopped.signal.aborted) return
      this.dispatchEvent(new CustomEvent('error', { detail: err }))
      clearTimeout(reg.timer)
      reg.timer = setTimeout(() => this.#refresh(reg, attempt + 1), backoffDelay(attempt, this.#opts.backoff))
    }
  }

  #addrsChanged () {
    for (const reg of this.#regs.values()) {
      if (reg.addrs != null || reg.sentAddrs == null) continue
      const now = ownAddrs(this.components).map(withoutPeer)
      if (now.length === reg.sentAddrs.length && now.every((a, i) => a.equals(reg.sentAddrs[i]))) continue
      this.#schedule(reg, 0)
    }
  }
}

/**
 * The `/rendezvous/1.0.0` service factory for createLibp2p's `services`:
 * `rendezvous: rendezvousClient({ servers: ['/ip4/…/tcp/…/p2p/12D3KooW…'] })`.
 */
export function rendezvousClient (init = {}) {
  serverAddrs(init.servers)
  return (components) => new RendezvousClient(components, init)
}
