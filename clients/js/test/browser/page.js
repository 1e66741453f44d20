// A test page for the package in a browser: joins a namespace in push mode
// with its name as metadata and mirrors the room into window.presence for
// the test to read.

import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { webSockets } from '@libp2p/websockets'
import { createLibp2p } from 'libp2p'

import { pushRendezvous } from '../../src/index.js'

const q = new URLSearchParams(location.search)
const utf8d = new TextDecoder()
const presence = { self: null, joined: false, members: {}, events: [], error: null }
window.presence = presence

try {
  const node = await createLibp2p({
    transports: [webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: () => false }, // the server is on 127.0.0.1
    services: { identify: identify(), presence: pushRendezvous({ servers: [q.get('server')] }) }
  })
  presence.self = node.peerId.toString()
  const room = await node.services.presence.join(q.get('ns'), { metadata: q.get('name') })
  const show = () => {
    presence.members = Object.fromEntries([...room.members].map(([id, m]) => [id, utf8d.decode(m.metadata)]))
  }
  for (const type of ['join', 'leave', 'update']) {
    room.addEventListener(type, (e) => {
      presence.events.push([type, e.detail.peerId, e.detail.metadata ? utf8d.decode(e.detail.metadata) : null])
      show()
    })
  }
  show()
  presence.joined = true
} catch (err) {
  presence.error = `${err.name}: ${err.message}`
}
