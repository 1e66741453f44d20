// Push mode (/rendezvous/legacy/1.0.0, proto/push.proto): join a namespace,
// i.e. REGISTER ourselves and subscribe with RENDEZVOUS, then show members
// as the server announces them arriving (REGISTER) and leaving (UNREGISTER).

import { multiaddr } from '@multiformats/multiaddr'

import { dialServer, logLine, param, startNode } from './node.js'
import { Framed, decode, encode, first, text } from './wire.js'

export const PUSH_PROTOCOL = '/rendezvous/legacy/1.0.0'
const REGISTER = 0
const UNREGISTER = 1
const RENDEZVOUS = 2

/** Message { type, register: [{ ns, peer { id, addrs } }] } */
const registerMsg = (ns, id, addrs) => encode([
  [1, 'varint', REGISTER],
  [2, 'bytes', encode([[1, 'bytes', ns],
    [2, 'bytes', encode([[1, 'bytes', id], ...addrs.map((a) => [2, 'bytes', multiaddr(a).bytes])])]])]
])
const unregisterMsg = (ns) => encode([[1, 'varint', UNREGISTER], [3, 'bytes', encode([[1, 'bytes', ns]])]])
const rendezvousMsg = (ns) => encode([[1, 'varint', RENDEZVOUS], [4, 'bytes', encode([[1, 'bytes', ns]])]])

/** A received Message: { type, status, statusText, register: [...], unregister: [...] }. */
function parse (bytes) {
  const m = decode(bytes)
  const entry = (b) => {
    const e = decode(b)
    const p = decode(first(e, 2) ?? new Uint8Array(0))
    return {
      ns: text(first(e, 1)) ?? '',
      peer: text(first(p, 1)) ?? '',
      addrs: (p.get(2) ?? []).map((a) => multiaddr(a).toString())
    }
  }
  return {
    type: Number(first(m, 1) ?? 0n),
    status: Number(first(m, 6) ?? 0n),
    statusText: text(first(m, 7)),
    register: (m.get(2) ?? []).map(entry),
    unregister: (m.get(3) ?? []).map(entry)
  }
}

const $ = (id) => document.getElementById(id)
const log = $('log')
const members = $('members')
let state // { node, session, ns }

function addMember (peer, addrs) {
  let li = members.querySelector(`li[data-peer="${CSS.escape(peer)}"]`)
  if (li == null) {
    li = document.createElement('li')
    li.dataset.peer = peer
    members.append(li)
  }
  li.dataset.addrs = addrs.join(' ')
  li.textContent = addrs.length ? `${peer} ${addrs.join(' ')}` : peer
}

function removeMember (peer) {
  members.querySelector(`li[data-peer="${CSS.escape(peer)}"]`)?.remove()
}

async function join () {
  const server = $('server').value
  const ns = $('ns').value.trim()
  $('join').disabled = true
  try {
    if (state == null) {
      const { node } = await startNode()
      state = { node }
      $('self').textContent = node.peerId.toString()
      logLine(log, `Node started with id ${node.peerId}`)
    }
    const conn = await dialServer(state.node, server)
    logLine(log, `connected to ${conn.remotePeer}`)
    const stream = await conn.newStream(PUSH_PROTOCOL, { signal: AbortSignal.timeout(15_000) })
    const session = new Framed(stream)
    state.session = session
    state.ns = ns
    // A browser has no address of its own to announce; a relayed node would list its /p2p-circuit addresses.
    const addrs = state.node.getMultiaddrs().map(String)
    session.send(registerMsg(ns, state.node.peerId.toString(), addrs))
    session.send(rendezvousMsg(ns))
    logLine(log, `joined ${ns}`)
    document.body.dataset.joined = ns
    $('leave').disabled = false
    for (;;) {
      const bytes = await session.next()
      if (bytes == null) break
      const msg = parse(bytes)
      if (msg.status !== 0) {
        logLine(log, `error ${msg.status}: ${msg.statusText}`)
        continue
      }
      for (const r of msg.register) {
        logLine(log, `+ ${r.peer} ${r.addrs.join(' ')}`.trimEnd())
        addMember(r.peer, r.addrs)
      }
      for (const u of msg.unregister) {
        logLine(log, `- ${u.peer}`)
        removeMember(u.peer)
      }
    }
    logLine(log, 'the server ended the session')
  } catch (err) {
    logLine(log, `error: ${err.message}`)
  } finally {
    delete document.body.dataset.joined
    $('join').disabled = false
    $('leave').disabled = true
  }
}

async function leave () {
  const { session, ns } = state ?? {}
  if (session == null) return
  session.send(unregisterMsg(ns))
  await session.stream.close().catch(() => {})
  members.replaceChildren()
  logLine(log, `left ${ns}`)
}

$('server').value = param('server')
$('ns').value = param('ns', 'chat-room')
$('join').addEventListener('click', join)
$('leave').addEventListener('click', leave)
if (param('join') === '1') join()
