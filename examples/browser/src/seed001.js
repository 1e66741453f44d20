// The listener/dialer flow of the js-libp2p rendezvous example, with
// /rendezvous/1.0.0: the listener registers a signed peer record in
// example-namespace; the dialer discovers it and shows its peer id and
// multiaddrs, checked against the record's signature.

import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { PeerRecord, RecordEnvelope } from '@libp2p/peer-record'
import { multiaddr } from '@multiformats/multiaddr'

import { dialServer, logLine, param, startNode } from './node.js'
import { Framed, decode, encode, first, text } from './wire.js'

export const RDV_PROTOCOL = '/rendezvous/1.0.0'
const REGISTER = 0
const REGISTER_RESPONSE = 1
const DISCOVER = 3
const DISCOVER_RESPONSE = 4

const $ = (id) => document.getElementById(id)
const log = $('log')
let started // { node, privateKey }

async function session () {
  if (started == null) {
    started = await startNode()
    $('self').textContent = started.node.peerId.toString()
    logLine(log, `Node started with id ${started.node.peerId}`)
  }
  const conn = await dialServer(started.node, $('server').value)
  const stream = await conn.newStream(RDV_PROTOCOL, { signal: AbortSignal.timeout(15_000) })
  return new Framed(stream)
}

async function request (s, msg) {
  s.send(msg)
  const answer = await s.next()
  if (answer == null) throw new Error('the server closed the stream without answering')
  return decode(answer)
}

/** Listener: REGISTER { ns, signedPeerRecord, ttl } and wait for REGISTER_RESPONSE. */
async function register () {
  const ns = $('ns').value.trim()
  const s = await session()
  const { node, privateKey } = started
  // Our own addresses (none for a plain browser node; /p2p-circuit ones with a
  // relay reservation) and the ones typed in.
  const addrs = [...node.getMultiaddrs().map(String),
    ...$('addrs').value.split(/\s+/).filter(Boolean)].map((a) => multiaddr(a))
  const record = new PeerRecord({ peerId: node.peerId, multiaddrs: addrs, seqNumber: BigInt(Date.now()) })
  const envelope = await RecordEnvelope.seal(record, privateKey)
  const ttl = Number($('ttl').value) || 7200
  const m = await request(s, encode([
    [1, 'varint', REGISTER],
    [2, 'bytes', encode([[1, 'bytes', ns], [2, 'bytes', envelope.marshal()], [3, 'varint', ttl]])]
  ]))
  if (Number(first(m, 1)) !== REGISTER_RESPONSE) throw new Error('unexpected answer to REGISTER')
  const rr = decode(first(m, 3) ?? new Uint8Array(0))
  const status = Number(first(rr, 1) ?? 0n)
  if (status !== 0) throw new Error(`REGISTER refused: ${status} ${text(first(rr, 2)) ?? ''}`)
  logLine(log, `Registered to: ${ns} (ttl ${first(rr, 3) ?? ttl} s)`)
  document.body.dataset.registered = ns
  await s.stream.close().catch(() => {})
}

/** Dialer: DISCOVER { ns, limit } and show every verified record. */
async function discover () {
  const ns = $('ns').value.trim()
  const s = await session()
  const m = await request(s, encode([
    [1, 'varint', DISCOVER],
    [5, 'bytes', encode([[1, 'bytes', ns], [2, 'varint', 100]])]
  ]))
  if (Number(first(m, 1)) !== DISCOVER_RESPONSE) throw new Error('unexpected answer to DISCOVER')
  const dr = decode(first(m, 6) ?? new Uint8Array(0))
  const status = Number(first(dr, 3) ?? 0n)
  if (status !== 0) throw new Error(`DISCOVER refused: ${status} ${text(first(dr, 4)) ?? ''}`)
  const list = $('discovered')
  list.replaceChildren()
  for (const reg of dr.get(1) ?? []) {
    const r = decode(reg)
    // openAndCertify checks the signature; the signer must also be the record's peer.
    const envelope = await RecordEnvelope.openAndCertify(first(r, 2), PeerRecord.DOMAIN)
    const rec = PeerRecord.createFromProtobuf(envelope.payload)
    if (!peerIdFromPublicKey(envelope.publicKey).equals(rec.peerId)) {
      logLine(log, `skipped a record of ${rec.peerId} signed by another key`)
      continue
    }
    const addrs = rec.multiaddrs.map(String)
    logLine(log, `Discovered peer with id: ${rec.peerId} and multiaddrs ${addrs.join(',')}`)
    const li = document.createElement('li')
    li.dataset.peer = rec.peerId.toString()
    li.dataset.addrs = addrs.join(' ')
    li.textContent = `${rec.peerId} ${addrs.join(' ')}`.trimEnd()
    list.append(li)
  }
  logLine(log, `discovered ${list.children.length} in ${ns}`)
  document.body.dataset.discovered = String(list.children.length)
  await s.stream.close().catch(() => {})
}

const guard = (fn) => async () => {
  try {
    await fn()
  } catch (err) {
    logLine(log, `error: ${err.message}`)
    document.body.dataset.error = err.message
  }
}

$('server').value = param('server')
$('ns').value = param('ns', 'example-namespace')
$('addrs').value = new URLSearchParams(location.search).getAll('addr').join('\n')
$('register').addEventListener('click', guard(register))
$('discover').addEventListener('click', guard(discover))
const role = param('role')
if (role === 'listener') guard(register)()
if (role === 'dialer') guard(discover)()
