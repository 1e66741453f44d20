// The few protobuf and framing pieces the rendezvous messages need: varints,
// length-delimited fields, and a reader that turns a js-libp2p stream into
// whole length-prefixed messages. Every length a server sends is checked
// against a bound before anything is allocated for it.

const utf8 = new TextEncoder()
const utf8d = new TextDecoder('utf-8', { fatal: true })

/** Largest message accepted from a server (the daemon's own limit is 1 MiB). */
export const MAX_MESSAGE_BYTES = 1 << 20

/** Unsigned varint of a non-negative integer (number or bigint). */
export function uvarint (v) {
  let x = BigInt(v)
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
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let off = 0
  for (const p of parts) { out.set(p, off); off += p.length }
  return out
}

/**
 * Encodes [[fieldNumber, 'varint' | 'bytes', value], ...] in that order.
 * Strings are UTF-8; a field whose value is undefined is left out.
 */
export function encode (fields) {
  const parts = []
  for (const [no, kind, value] of fields) {
    if (value === undefined) continue
    if (kind === 'varint') {
      parts.push(uvarint(no << 3), uvarint(value))
    } else {
      const b = typeof value === 'string' ? utf8.encode(value) : value
      parts.push(uvarint((no << 3) | 2), uvarint(b.length), b)
    }
  }
  return concat(parts)
}

/** [value (bigint), next position], or undefined when buf ends first. */
function readUvarint (buf, pos) {
  let x = 0n
  let shift = 0n
  while (pos < buf.length) {
    const b = buf[pos++]
    x |= BigInt(b & 0x7f) << shift
    if ((b & 0x80) === 0) return [x, pos]
    shift += 7n
    if (shift > 63n) throw new Error('varint longer than 10 bytes')
  }
  return undefined
}

/**
 * One message level: Map(fieldNumber → [values]), varints as bigint and
 * length-delimited fields as Uint8Array views. Fixed-width fields are
 * skipped (none of ours uses them).
 */
export function decode (buf) {
  const out = new Map()
  let pos = 0
  const need = (r) => {
    if (r === undefined) throw new Error('truncated protobuf field')
    return r
  }
  while (pos < buf.length) {
    let key
    ;[key, pos] = need(readUvarint(buf, pos))
    const no = Number(key >> 3n)
    const wt = Number(key & 7n)
    let v
    if (wt === 0) {
      ;[v, pos] = need(readUvarint(buf, pos))
    } else if (wt === 2) {
      let len
      ;[len, pos] = need(readUvarint(buf, pos))
      if (len > BigInt(buf.length - pos)) throw new Error('truncated protobuf field')
      v = buf.subarray(pos, pos + Number(len))
      pos += Number(len)
    } else if (wt === 1 || wt === 5) {
      pos += wt === 1 ? 8 : 4
      if (pos > buf.length) throw new Error('truncated protobuf field')
      continue
    } else {
      throw new Error(`unsupported protobuf wire type ${wt}`)
    }
    if (!out.has(no)) out.set(no, [])
    out.get(no).push(v)
  }
  return out
}

/** The last value of a field (proto2 "last one wins"), or undefined. */
export const field = (m, no) => m.get(no)?.at(-1)
/** A length-delimited field as text, or undefined. */
export const text = (b) => b === undefined ? undefined : utf8d.decode(b)
/** A varint field as a number, or `dflt`. */
export const num = (v, dflt = 0) => v === undefined ? dflt : Number(BigInt.asIntN(64, v))

/** bytes → Uint8Array: a string is taken as UTF-8. */
export function toBytes (v) {
  if (v == null) return undefined
  if (typeof v === 'string') return utf8.encode(v)
  if (v instanceof Uint8Array) return v
  throw new TypeError('expected a Uint8Array or a string')
}

/**
 * Length-prefixed messages on a js-libp2p stream. next() resolves with the
 * next message, or null once the other side has finished writing; it
 * rejects when the stream fails or a length is over the bound.
 */
export class Framed {
  constructor (stream, maxBytes = MAX_MESSAGE_BYTES) {
    this.stream = stream
    this.max = maxBytes
    this.chunks = []
    this.size = 0
    this.done = false
    this.error = undefined
    this.wakeup = () => {}
    stream.addEventListener('message', (evt) => {
      const b = evt.data.subarray()
      this.chunks.push(b)
      this.size += b.length
      this.wakeup()
    })
    stream.addEventListener('remoteCloseWrite', () => { this.done = true; this.wakeup() })
    stream.addEventListener('close', (evt) => {
      this.done = true
      this.error = evt.error
      this.wakeup()
    })
  }

  send (msg) {
    this.stream.send(concat([uvarint(msg.length), msg]))
  }

  /** Joins what has arrived into one buffer (kept as the only chunk). */
  #joined () {
    if (this.chunks.length > 1) this.chunks = [concat(this.chunks)]
    return this.chunks[0] ?? new Uint8Array(0)
  }

  async next () {
    for (;;) {
      const buf = this.#joined()
      const len = buf.length ? readUvarint(buf, 0) : undefined
      if (len !== undefined) {
        if (len[0] > BigInt(this.max)) {
          const err = new Error(`message of ${len[0]} bytes is over the ${this.max}-byte limit`)
          this.stream.abort(err)
          throw err
        }
        const end = len[1] + Number(len[0])
        if (end <= buf.length) {
          const msg = buf.slice(len[1], end)
          this.chunks = end < buf.length ? [buf.subarray(end)] : []
          this.size = buf.length - end
          return msg
        }
      }
      if (this.error) throw this.error
      if (this.done) return null
      await new Promise((resolve) => { this.wakeup = resolve })
    }
  }
}
