// A browser that can be dialed by other browsers: it reserves a slot on
// rendezvousd's circuit relay (rendezvousd --relay), joins a room at the same
// rendezvousd (its /p2p-circuit address is what it registers, and registered
// again whenever it changes), and says hello to every member through the
// relay. One well-known node is all it needs.

import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { webSockets } from '@libp2p/websockets'
import { createLibp2p } from 'libp2p'
import { pushRendezvous } from 'rendezvousd-client'

const HELLO = '/example/hello/1.0.0'
const $ = (id) => document.getElementById(id)
const q = new URLSearchParams(location.search)
const utf8 = new TextEncoder()
const utf8d = new TextDecoder()

function logLine (line) {
  const div = document.createElement('div')
  div.textContent = line
  $('log').append(div)
  console.log(line)
}

async function start (server, ns) {
  const node = await createLibp2p({
    // Listening on <server>/p2p-circuit makes a reservation on rendezvousd's
    // relay, over the same connection the room uses.
    addresses: { listen: [`${server}/p2p-circuit`] },
    transports: [webSockets(), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // rendezvousd is on 127.0.0.1 here; keep js-libp2p's
    // default gater for public addresses.
    connectionGater: { denyDialMultiaddr: () => false },
    services: {
      identify: identify(),
      presence: pushRendezvous({ servers: [server] })
    }
  })
  $('self').textContent = node.peerId.toString()

  // Relayed connections are "limited" (rendezvousd's defaults: 2 minutes and
  // 128 KiB each way per circuit): a protocol runs on them only when it says
  // so, on both sides. A hello is a few hundred bytes.
  await node.handle(HELLO, async (stream, connection) => {
    const chunks = []
    stream.addEventListener('message', (e) => chunks.push(e.data.subarray()))
    await new Promise((resolve) => stream.addEventListener('remoteCloseWrite', resolve, { once: true }))
    const text = chunks.map((c) => utf8d.decode(c)).join('')
    logLine(`received from ${connection.remotePeer}: ${text}`)
    const li = document.createElement('li')
    li.dataset.peer = connection.remotePeer.toString()
    li.dataset.relayed = String(connection.limits != null)
    li.textContent = text
    $('received').append(li)
    await stream.close()
  }, { runOnLimitedConnection: true })

  // getMultiaddrs() already ends every address in /p2p/<self>; the relayed
  // one is <server>/p2p-circuit/p2p/<self>.
  const circuit = () => node.getMultiaddrs().filter((ma) => ma.toString().includes('/p2p-circuit'))
  node.addEventListener('self:peer:update', () => {
    const addrs = circuit().map(String)
    if (addrs.length) { $('addrs').textContent = addrs.join(' '); document.body.dataset.reserved = '1' }
  })

  const room = await node.services.presence.join(ns)
  const greeted = new Set()
  const greet = async (peerId, multiaddrs) => {
    const via = multiaddrs.find((ma) => ma.toString().includes('/p2p-circuit'))
    if (via == null || greeted.has(peerId)) return // no reservation yet: its 'update' will bring one
    greeted.add(peerId)
    try {
      const stream = await node.dialProtocol(via, HELLO, { runOnLimitedConnection: true, signal: AbortSignal.timeout(15_000) })
      stream.send(utf8.encode(`hello from ${node.peerId}`))
      await stream.close()
      logLine(`said hello to ${peerId} via ${via}`)
    } catch (err) {
      greeted.delete(peerId)
      logLine(`error: could not reach ${peerId}: ${err.message}`)
    }
  }
  const show = () => {
    $('members').replaceChildren(...[...room.members].map(([peerId, m]) => {
      const li = document.createElement('li')
      li.dataset.peer = peerId
      li.textContent = `${peerId} ${m.multiaddrs.join(' ')}`
      return li
    }))
  }
  for (const type of ['join', 'update']) {
    room.addEventListener(type, (e) => { show(); greet(e.detail.peerId, e.detail.multiaddrs) })
  }
  room.addEventListener('leave', show)
  document.body.dataset.joined = ns
  logLine(`joined ${ns}`)
}

$('server').value = q.get('server') ?? ''
$('ns').value = q.get('ns') ?? 'relayed-browsers'
$('start').addEventListener('click', () => {
  $('start').disabled = true
  start($('server').value.trim(), $('ns').value.trim()).catch((err) => {
    logLine(`error: ${err.message}`)
    document.body.dataset.error = err.message
  })
})
if (q.get('start') === '1') $('start').click()
