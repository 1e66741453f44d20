// Wire helpers for the /rendezvous/1.0.0 and /vac/waku/rendezvous/0.0.1
// interop tests: a tiny protobuf codec that keeps field presence (the tests
// check which fields the daemon writes, so a generated codec that fills in
// defaults would hide exactly what matters), message builders for both
// dialects, a length-prefixed reader over a js-libp2p stream, and signed
// peer records in both record dialects (WIRE.md §1, §8; seed 004).

import { createHash, generateKeyPairSync, sign as nodeSign } from 'node:crypto'

import { publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { PeerRecord, RecordEnvelope } from '@libp2p/peer-record'
import { multiaddr } from '@multiformats/multiaddr'

import { OP_TIMEOUT_MS, withTimeout } from './daemon.mjs'

export const RDV1_PROTOCOL = '/rendezvous/1.0.0'
export const WAKU_PROTOCOL = '/vac/waku/rendezvous/0.0.1'

/** /rendezvous/1.0.0 message types and statuses (WIRE.md §1.2). */
export const T = { REGISTER: 0, REGISTER_RESPONSE: 1, UNREGISTER: 2, DISCOVER: 3, DISCOVER_RESPONSE: 4 }
/** Waku message types (seed 004): its own numbering. */
export const WT = { REGISTER: 0, REGISTER_RESPONSE: 1, DISCOVER: 2, DISCOVER_RESPONSE: 3 }
export const S = {
  OK: 0,
  E_INVALID_NAMESPACE: 100,
  E_INVALID_SIGNED_PEER_RECORD: 101,
  E_INVALID_TTL: 102,
  E_INVALID_COOKIE: 103,
  E_NOT_AUTHORIZED: 200,
  E_INTERNAL_ERROR: 300,
  E_UNAVAILABLE: 400
}

const utf8 = new TextEncoder()
const utf8d = new TextDecoder('utf-8', { fatal: true })

// ---- protobuf ------------------------------------------------------------

/** Varint of a non-negative bigint/number, or of a negative int64 as its 10-byte two's complement. */
export function varint (v) {
  let x = BigInt(v)
  if (x < 0n) x += 1n << 64n
  const out = []
  do {
    let b = Number(x & 0x7fn)
    x >>= 7n
    if (x > 0n) b |= 0x80
    out.push(b)
  } while (x > 0n)
  return Uint8Array.from(out)
}

export function concat (parts) {
  const len = parts.reduce((n, p) => n + p.length, 0)
  const out = new Uint8Array(len)
  let off = 0
  for (const p of parts) { out.set(p, off); off += p.length }
  return out
}

const asBytes = (v) => typeof v === 'string' ? utf8.encode(v) : v

/**
 * Encodes fields in the order given: [[number, kind, value], ...] with kind
 * 'varint' (number/bigint, negative = int64), 'bytes' (Uint8Array or string)
 * or 'msg' (Uint8Array of an encoded message). Entries whose value is
 * undefined are left out, so a field is present exactly when it is given.
 */
export function encodeFields (fields) {
  const parts = []
  for (const [no, kind, value] of fields) {
    if (value === undefined) continue
    if (kind === 'varint') {
      parts.push(varint(no << 3), varint(value))
    } else {
      const b = asBytes(value)
      parts.push(varint((no << 3) | 2), varint(b.length), b)
    }
  }
  return concat(parts)
}

function readVarint (buf, pos) {
  let x = 0n
  let shift = 0n
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated varint')
    const b = buf[pos++]
    x |= BigInt(b & 0x7f) << shift
    if ((b & 0x80) === 0) return [x, pos]
    shift += 7n
    if (shift > 63n) throw new Error('varint too long')
  }
}

/** Decodes one message level: Map(number → [values]); varints as bigint, length-delimited as Uint8Array. */
export function decodeFields (buf) {
  const out = new Map()
  let pos = 0
  while (pos < buf.length) {
    let key
    ;[key, pos] = readVarint(buf, pos)
    const no = Number(key >> 3n)
    const wt = Number(key & 7n)
    let v
    if (wt === 0) {
      ;[v, pos] = readVarint(buf, pos)
    } else if (wt === 2) {
      let len
      ;[len, pos] = readVarint(buf, pos)
      if (pos + Number(len) > buf.length) throw new Error('truncated field')
      v = buf.subarray(pos, pos + Number(len))
      pos += Number(len)
    } else {
      throw new Error(`unexpected wire type ${wt}`)
    }
    if (!out.has(no)) out.set(no, [])
    out.get(no).push(v)
  }
  return out
}

const last = (m, no) => m.get(no)?.at(-1)
const str = (b) => b === undefined ? undefined : utf8d.decode(b)
const int64 = (v) => v === undefined ? undefined : BigInt.asIntN(64, v)

// ---- /rendezvous/1.0.0 ------------------------------------------------------

/**
 * A /rendezvous/1.0.0 Message. `type` undefined leaves the field out (as
 * proto3 senders do for REGISTER = 0).
 */
export function rdv1Message ({ type, register, unregister, discover } = {}) {
  return encodeFields([
    [1, 'varint', type],
    [2, 'msg', register && encodeFields([
      [1, 'bytes', register.ns], [2, 'bytes', register.signedPeerRecord], [3, 'varint', register.ttl]])],
    [4, 'msg', unregister && encodeFields([[1, 'bytes', unregister.ns]])],
    [5, 'msg', discover && encodeFields([
      [1, 'bytes', discover.ns], [2, 'varint', discover.limit], [3, 'bytes', discover.cookie]])]
  ])
}

export const rdv1Register = (ns, signedPeerRecord, ttl) =>
  rdv1Message({ type: T.REGISTER, register: { ns, signedPeerRecord, ttl } })
export const rdv1Unregister = (ns) => rdv1Message({ type: T.UNREGISTER, unregister: { ns } })
export const rdv1Discover = (ns, limit, cookie) =>
  rdv1Message({ type: T.DISCOVER, discover: { ns, limit, cookie } })

/**
 * Decodes a /rendezvous/1.0.0 answer. Absent fields stay undefined, so the
 * tests can tell "status absent" from "status = 0".
 */
export function decodeRdv1 (bytes) {
  const m = decodeFields(bytes)
  const out = { type: last(m, 1) === undefined ? undefined : Number(last(m, 1)), raw: m }
  const rr = last(m, 3)
  if (rr) {
    const f = decodeFields(rr)
    out.registerResponse = {
      status: last(f, 1) === undefined ? undefined : Number(last(f, 1)),
      statusText: str(last(f, 2)),
      ttl: last(f, 3)
    }
  }
  const dr = last(m, 6)
  if (dr) {
    const f = decodeFields(dr)
    out.discoverResponse = {
      registrations: (f.get(1) ?? []).map((r) => {
        const g = decodeFields(r)
        return { ns: str(last(g, 1)), signedPeerRecord: last(g, 2), ttl: last(g, 3) }
      }),
      cookie: last(f, 2),
      status: last(f, 3) === undefined ? undefined : Number(last(f, 3)),
      statusText: str(last(f, 4))
    }
  }
  return out
}

// ---- Waku ----------------------------------------------------------------

/** A Waku Message (seed 004 numbering; int64 ttl/limit may be negative). */
export function wakuMessage ({ type, register, discover } = {}) {
  return encodeFields([
    [1, 'varint', type],
    [2, 'msg', register && encodeFields([
      [1, 'bytes', register.ns], [2, 'bytes', register.signedPeerRecord], [3, 'varint', register.ttl]])],
    [4, 'msg', discover && encodeFields([[1, 'bytes', discover.ns], [2, 'varint', discover.limit]])]
  ])
}

export const wakuRegister = (ns, signedPeerRecord, ttl) =>
  wakuMessage({ type: WT.REGISTER, register: { ns, signedPeerRecord, ttl } })
export const wakuDiscover = (ns, limit) => wakuMessage({ type: WT.DISCOVER, discover: { ns, limit } })

export function decodeWaku (bytes) {
  const m = decodeFields(bytes)
  const out = { type: last(m, 1) === undefined ? undefined : Number(last(m, 1)), raw: m }
  const rr = last(m, 3)
  if (rr) {
    const f = decodeFields(rr)
    out.registerResponse = {
      status: last(f, 1) === undefined ? undefined : Number(last(f, 1)),
      statusText: str(last(f, 2)),
      ttl: int64(last(f, 3))
    }
  }
  const dr = last(m, 5)
  if (dr) {
    const f = decodeFields(dr)
    out.discoverResponse = {
      registrations: (f.get(1) ?? []).map((r) => {
        const g = decodeFields(r)
        return { ns: str(last(g, 1)), signedPeerRecord: last(g, 2), ttl: int64(last(g, 3)) }
      }),
      status: last(f, 3) === undefined ? undefined : Number(last(f, 3)),
      statusText: str(last(f, 4))
    }
  }
  return out
}

// ---- cookies ---------------------------------------------------------------

/** Splits a cookie the way rust-libp2p does: BE64 id, then the namespace as UTF-8 (throws if not). */
export function parseCookie (cookie) {
  if (!(cookie instanceof Uint8Array) || cookie.length < 8) throw new Error(`cookie of ${cookie?.length} bytes`)
  const ns = utf8d.decode(cookie.subarray(8))
  if (utf8.encode(ns).length > 255) throw new Error('cookie namespace over 255 bytes')
  const seq = new DataView(cookie.buffer, cookie.byteOffset, 8).getBigUint64(0)
  return { seq, ns }
}

// ---- streams -----------------------------------------------------------------

/**
 * Length-prefixed messages over a js-libp2p stream. next() resolves with
 * the next message, or null once the remote has closed its side with
 * nothing left; it rejects if the stream is reset or after `ms`.
 */
export class MsgStream {
  constructor (stream) {
    this.stream = stream
    this.buf = new Uint8Array(0)
    this.ended = false
    this.error = null
    this.waiters = []
    stream.addEventListener('message', (evt) => {
      const d = evt.data.subarray()
      this.buf = concat([this.buf, d])
      this.wake()
    })
    stream.addEventListener('remoteCloseWrite', () => { this.ended = true; this.wake() })
    stream.addEventListener('close', (evt) => {
      this.ended = true
      if (evt.error != null) this.error = evt.error
      this.wake()
    })
  }

  wake () {
    const w = this.waiters
    this.waiters = []
    for (const fn of w) fn()
  }

  /** A whole message at the front of the buffer, or undefined. */
  take () {
    let len, pos
    try {
      ;[len, pos] = readVarint(this.buf, 0)
    } catch {
      return undefined
    }
    if (pos + Number(len) > this.buf.length) return undefined
    const msg = this.buf.slice(pos, pos + Number(len))
    this.buf = this.buf.slice(pos + Number(len))
    return msg
  }

  async next (ms = OP_TIMEOUT_MS) {
    const wait = async () => {
      for (;;) {
        const msg = this.take()
        if (msg) return msg
        if (this.error) throw this.error
        if (this.ended) {
          if (this.buf.length) throw new Error(`stream ended inside a message (${this.buf.length} bytes left)`)
          return null
        }
        await new Promise((resolve) => this.waiters.push(resolve))
      }
    }
    return withTimeout(wait(), ms, `reading a message on stream ${this.stream.id}`)
  }

  send (msg) {
    this.stream.send(concat([varint(msg.length), msg]))
  }

  /** Sends raw bytes (no length prefix). */
  sendRaw (bytes) {
    this.stream.send(bytes)
  }

  close () {
    return this.stream.close()
  }
}

/** Opens `protocol` on `conn` and wraps it. */
export async function openMsgStream (conn, protocol, signal) {
  const stream = await conn.newStream(protocol, { signal })
  return new MsgStream(stream)
}

/** Sends one message and reads one answer. */
export async function request (ms, msg, decode = decodeRdv1) {
  ms.send(msg)
  const ans = await ms.next()
  if (ans == null) throw new Error('the stream ended without an answer')
  return decode(ans)
}

/**
 * Resolves when the remote resets the stream (or closes it without sending
 * anything more); rejects if a message arrives or after `ms`.
 */
export async function expectNoAnswerThenEnd (ms, timeout = OP_TIMEOUT_MS) {
  try {
    const msg = await ms.next(timeout)
    if (msg != null) throw new Error(`unexpected answer of ${msg.length} bytes`)
    return 'closed'
  } catch (err) {
    if (/timed out/.test(err.message)) throw err
    if (/unexpected answer/.test(err.message)) throw err
    return 'reset'
  }
}

// ---- signed peer records -------------------------------------------------------

/** A standard-dialect signed peer record (js-libp2p's own code), marshaled. */
export async function signedRecord (privateKey, addrs = [], seqNumber = BigInt(Date.now())) {
  const peerId = peerIdFromPrivateKey(privateKey)
  const record = new PeerRecord({ peerId, multiaddrs: addrs.map((a) => multiaddr(a)), seqNumber })
  const env = await RecordEnvelope.seal(record, privateKey)
  return env.marshal()
}

/**
 * A legacy-dialect record as rust-libp2p (through libp2p-core 0.44) signs it:
 * domain "libp2p-routing-state", payload type "/libp2p/routing-state-record",
 * the same PeerRecord payload and Envelope (WIRE.md §8). Built and signed by
 * hand, since js-libp2p only makes the standard dialect.
 */
export async function legacySignedRecord (privateKey, addrs = [], seqNumber = BigInt(Date.now())) {
  const peerId = peerIdFromPrivateKey(privateKey)
  const payload = encodeFields([
    [1, 'bytes', peerId.toMultihash().bytes],
    [2, 'varint', seqNumber],
    ...addrs.map((a) => [3, 'msg', encodeFields([[1, 'bytes', multiaddr(a).bytes]])])
  ])
  const domain = utf8.encode('libp2p-routing-state')
  const payloadType = utf8.encode('/libp2p/routing-state-record')
  const signed = concat([varint(domain.length), domain, varint(payloadType.length), payloadType,
    varint(payload.length), payload])
  const signature = await privateKey.sign(signed)
  return encodeFields([
    [1, 'msg', publicKeyToProtobuf(privateKey.publicKey)],
    [2, 'bytes', payloadType],
    [3, 'bytes', payload],
    [5, 'bytes', signature]
  ])
}

/**
 * A standard-dialect record signed by a fresh ECDSA P-256 key, built with
 * node:crypto because js-libp2p has no ECDSA peer ids and signs ECDSA in the
 * raw r‖s form, while libp2p (go, WIRE.md §7) uses DER. Returns
 * { record, peerIdBytes }: the key's peer id is the sha2-256 multihash of its
 * PublicKey protobuf (Type 3, Data = SPKI DER).
 */
export function ecdsaSignedRecord (addrs = [], seqNumber = BigInt(Date.now())) {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const spki = publicKey.export({ format: 'der', type: 'spki' })
  const pubProto = encodeFields([[1, 'varint', 3], [2, 'bytes', new Uint8Array(spki)]])
  const peerIdBytes = concat([Uint8Array.from([0x12, 0x20]), createHash('sha256').update(pubProto).digest()])
  const payload = encodeFields([
    [1, 'bytes', peerIdBytes],
    [2, 'varint', seqNumber],
    ...addrs.map((a) => [3, 'msg', encodeFields([[1, 'bytes', multiaddr(a).bytes]])])
  ])
  const domain = utf8.encode(PeerRecord.DOMAIN)
  const payloadType = PeerRecord.CODEC
  const signed = concat([varint(domain.length), domain, varint(payloadType.length), payloadType,
    varint(payload.length), payload])
  const signature = nodeSign('sha256', signed, { key: privateKey, dsaEncoding: 'der' })
  const record = encodeFields([[1, 'msg', pubProto], [2, 'bytes', payloadType], [3, 'bytes', payload],
    [5, 'bytes', new Uint8Array(signature)]])
  return { record, peerIdBytes }
}

export const hex = (b) => Buffer.from(b).toString('hex')
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
