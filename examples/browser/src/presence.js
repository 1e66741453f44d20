// Presence in a chat room, with rendezvousd-client's push mode: join a
// namespace with a display name as metadata, list the others by name and
// short peer id, follow arrivals, departures and name changes, and show the
// connection state while the service reconnects by itself.

import { pushRendezvous } from 'rendezvousd-client'

import { logLine, param, startNode } from './node.js'

const $ = (id) => document.getElementById(id)
const log = $('log')
const utf8d = new TextDecoder()
let node
let room

const nameOf = (metadata) => utf8d.decode(metadata) || '(no name)'
const short = (peerId) => `${peerId.slice(0, 8)}…${peerId.slice(-4)}`
const who = (peerId, metadata) => `${nameOf(metadata)} (${short(peerId)})`

function setStatus (text) {
  $('status').textContent = text
  document.body.dataset.status = text
}

/** Redraws the member list from room.members. */
function render () {
  const items = [...(room?.members ?? [])].map(([peerId, m]) => {
    const li = document.createElement('li')
    li.dataset.peer = peerId
    li.dataset.name = utf8d.decode(m.metadata)
    li.dataset.addrs = m.multiaddrs.join(' ')
    li.textContent = who(peerId, m.metadata)
    li.title = [peerId, ...m.multiaddrs.map(String)].join('\n')
    return li
  })
  $('members').replaceChildren(...items)
}

async function join () {
  $('join').disabled = true
  try {
    if (node == null) {
      node = await startNode({ presence: pushRendezvous({ servers: [$('server').value.trim()] }) })
      $('self').textContent = node.peerId.toString()
      const presence = node.services.presence
      presence.addEventListener('disconnect', () => { setStatus('reconnecting'); logLine(log, 'connection lost, reconnecting') })
      presence.addEventListener('connect', () => { setStatus('connected'); logLine(log, 'reconnected') })
    }
    setStatus('connecting')
    const ns = $('ns').value.trim()
    room = await node.services.presence.join(ns, { metadata: $('name').value.trim() })
    room.addEventListener('join', (e) => { logLine(log, `+ ${who(e.detail.peerId, e.detail.metadata)}`); render() })
    room.addEventListener('leave', (e) => { logLine(log, `- ${short(e.detail.peerId)}`); render() })
    room.addEventListener('update', (e) => { logLine(log, `~ ${who(e.detail.peerId, e.detail.metadata)}`); render() })
    room.addEventListener('error', (e) => { logLine(log, `error: ${e.detail.message}`) })
    render()
    setStatus('connected')
    logLine(log, `joined ${ns} as ${$('name').value.trim() || '(no name)'}`)
    document.body.dataset.joined = ns
    $('leave').disabled = false
    $('rename').disabled = false
  } catch (err) {
    setStatus('error')
    logLine(log, `error: ${err.message}`)
    $('join').disabled = false
  }
}

async function leave () {
  if (room == null) return
  const r = room
  room = null
  $('leave').disabled = true
  $('rename').disabled = true
  await r.leave()
  render()
  delete document.body.dataset.joined
  setStatus('left')
  logLine(log, `left ${r.namespace}`)
  $('join').disabled = false
}

async function rename () {
  if (room == null) return
  try {
    await room.update($('name').value.trim())
    logLine(log, `now called ${$('name').value.trim() || '(no name)'}`)
  } catch (err) {
    logLine(log, `error: ${err.message}`)
  }
}

$('server').value = param('server')
$('ns').value = param('ns', 'chat-room')
$('name').value = param('name', `guest-${Math.floor(Math.random() * 1000)}`)
$('join').addEventListener('click', join)
$('leave').addEventListener('click', leave)
$('rename').addEventListener('click', rename)
setStatus('not joined')
if (param('join') === '1') join()
