// A small push-mode client (/rendezvous/legacy/1.0.0, proto/push.proto) over
// js-libp2p streams: length-prefixed protobuf Messages, encoded and decoded
// with the field helpers of rendezvous.mjs.

import { multiaddr } from '@multiformats/multiaddr'

import { decodeFields, encodeFields, openMsgStream } from './rendezvous.mjs'

export const PUSH_PROTOCOL = '/rendezvous/legacy/1.0.0'
export const PT = { REGISTER: 0, UNREGISTER: 1, RENDEZVOUS: 2, DISCOVER: 3 }
export const PS = {
  OK: 0,
  E_INVALID_NAMESPACE: 100,
  E_INVALID_PEER: 101,
  E_INVALID_REQUEST: 102,
  E_NOT_AUTHORIZED: 200,
  E_UNAVAILABLE: 400
}

const utf8d = new TextDecoder()

const peerMsg = (id, addrs = []) =>
  encodeFields([[1, 'bytes', id], ...addrs.map((a) => [2, 'bytes', multiaddr(a).bytes])])

/**
 * A push Message. Entries: register [{ ns, id, addrs }], unregister [ns],
 * rendezvous [ns], discover [{ ns, limit }]. `type` undefined leaves the
 * field out (REGISTER).
 */
export function pushMessage ({ type, register = [], unregister = [], rendezvous = [], discover = [] } = {}) {
  return encodeFields([
    [1, 'varint', type],
    ...register.map((r) => [2, 'msg', encodeFields([[1, 'bytes', r.ns], [2, 'msg', peerMsg(r.id, r.addrs)]])]),
    ...unregister.map((ns) => [3, 'msg', encodeFields([[1, 'bytes', ns]])]),
    ...rendezvous.map((ns) => [4, 'msg', encodeFields([[1, 'bytes', ns]])]),
    ...discover.map((d) => [5, 'msg', encodeFields([[1, 'bytes', d.ns], [2, 'varint', d.limit]])])
  ])
}

/**
 * { type, status, statusText, register: [{ ns, peer, addrs }],
 *   unregister: [{ ns, peer }] } with addrs as text multiaddrs.
 */
export function decodePush (bytes) {
  const m = decodeFields(bytes)
  const entry = (e) => {
    const f = decodeFields(e)
    const p = decodeFields(f.get(2)?.[0] ?? new Uint8Array(0))
    return {
      ns: utf8d.decode(f.get(1)?.[0] ?? new Uint8Array(0)),
      peer: utf8d.decode(p.get(1)?.[0] ?? new Uint8Array(0)),
      addrs: (p.get(2) ?? []).map((a) => multiaddr(a).toString())
    }
  }
  return {
    type: Number(m.get(1)?.[0] ?? 0n),
    status: Number(m.get(6)?.[0] ?? 0n),
    statusText: m.has(7) ? utf8d.decode(m.get(7)[0]) : undefined,
    register: (m.get(2) ?? []).map(entry),
    unregister: (m.get(3) ?? []).map((e) => { const { ns, peer } = entry(e); return { ns, peer } })
  }
}

/** One push session (a stream) on a js-libp2p connection. */
export class PushSession {
  constructor (ms) {
    this.ms = ms
  }

  static async open (conn, signal) {
    return new PushSession(await openMsgStream(conn, PUSH_PROTOCOL, signal))
  }

  send (msg) { this.ms.send(msg) }
  register (ns, id, addrs = []) { this.send(pushMessage({ type: PT.REGISTER, register: [{ ns, id, addrs }] })) }
  unregister (ns) { this.send(pushMessage({ type: PT.UNREGISTER, unregister: [ns] })) }
  rendezvous (ns) { this.send(pushMessage({ type: PT.RENDEZVOUS, rendezvous: [ns] })) }
  discover (ns, limit) { this.send(pushMessage({ type: PT.DISCOVER, discover: [{ ns, limit }] })) }

  /** The next Message, decoded; null once the server has closed its side. */
  async next (ms) {
    const b = await this.ms.next(ms)
    return b == null ? null : decodePush(b)
  }

  /**
   * The next `n` announcements as ['+', peer, addrs...] / ['-', peer], read
   * from as many Messages as they come in.
   */
  async events (n, ms) {
    const out = []
    while (out.length < n) {
      const m = await this.next(ms)
      if (m == null) throw new Error(`the session ended after ${out.length} of ${n} announcements`)
      if (m.status !== 0) throw new Error(`status ${m.status}: ${m.statusText}`)
      for (const r of m.register) out.push(['+', r.peer, ...r.addrs])
      for (const u of m.unregister) out.push(['-', u.peer])
    }
    return out
  }

  /** DISCOVER answer: [[peer, addrs...], ...]. */
  async list (ns, limit) {
    this.discover(ns, limit)
    const m = await this.next()
    if (m == null) throw new Error('the session ended without an answer')
    if (m.status !== 0) throw new Error(`status ${m.status}: ${m.statusText}`)
    return m.register.map((r) => [r.peer, ...r.addrs])
  }

  close () { return this.ms.close() }
  abort () { this.ms.stream.abort(new Error('aborted by the test')) }
}
