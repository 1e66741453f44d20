// Wire helpers shared by the example pages: protobuf fields (just what the
// rendezvous messages need), uvarint length prefixes, and a reader that turns
// a js-libp2p stream into whole messages.

const utf8 = new TextEncoder()
const utf8d = new TextDecoder()

export const text = (b) => b === undefined ? undefined : utf8d.decode(b)

/** Unsigned varint of a number or bigint. */
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
 * [[fieldNumber, 'varint' | 'bytes', value], ...] → bytes. Strings are
 * UTF-8; fields whose value is undefined are left out.
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

/** Reads a varint at pos: [value (bigint), next pos], or undefined if incomplete. */
function readUvarint (buf, pos) {
  let x = 0n
  let shift = 0n
  while (pos < buf.length) {
    const b = buf[pos++]
    x |= BigInt(b & 0x7f) << shift
    if ((b & 0x80) === 0) return [x, pos]
    shift += 7n
    if (shift > 63n) throw new Error('varint too long')
  }
  return undefined
}

/** One message level → Map(fieldNumber → [values]): varints as bigint, the rest as bytes. */
export function decode (buf) {
  const out = new Map()
  let pos = 0
  while (pos < buf.length) {
    const k = readUvarint(buf, pos)
    if (k === undefined) throw new Error('truncated field key')
    let key
    ;[key, pos] = k
    const no = Number(key >> 3n)
    let v
    if ((key & 7n) === 0n) {
      const r = readUvarint(buf, pos)
      if (r === undefined) throw new Error('truncated varint')
      ;[v, pos] = r
    } else if ((key & 7n) === 2n) {
      const r = readUvarint(buf, pos)
      if (r === undefined || pos + Number(r[0]) > buf.length) throw new Error('truncated field')
      pos = r[1]
      v = buf.subarray(pos, pos + Number(r[0]))
      pos += Number(r[0])
    } else {
      throw new Error(`unsupported wire type ${key & 7n}`)
    }
    if (!out.has(no)) out.set(no, [])
    out.get(no).push(v)
  }
  return out
}

/** The first value of a field, or undefined. */
export const first = (m, no) => m.get(no)?.[0]

/**
 * Length-prefixed messages on a js-libp2p stream. next() resolves with the
 * next message, or null when the other side has finished.
 */
export class Framed {
  constructor (stream) {
    this.stream = stream
    this.buf = new Uint8Array(0)
    this.done = false
    this.error = undefined
    this.wakeup = () => {}
    stream.addEventListener('message', (evt) => {
      this.buf = concat([this.buf, evt.data.subarray()])
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

  async next () {
    for (;;) {
      const len = readUvarint(this.buf, 0)
      if (len !== undefined && len[1] + Number(len[0]) <= this.buf.length) {
        const end = len[1] + Number(len[0])
        const msg = this.buf.slice(len[1], end)
        this.buf = this.buf.slice(end)
        return msg
      }
      if (this.error) throw this.error
      if (this.done) return null
      await new Promise((resolve) => { this.wakeup = resolve })
    }
  }
}
