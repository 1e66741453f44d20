// A page for relay-browser.test.mjs: a js-libp2p node that only dials
// rendezvousd over /ws, reserves a slot on it (circuit relay v2), joins a
// push-mode room with its /p2p-circuit address (rendezvousd-client), and
// talks to another page through the relay, then over direct WebRTC.
// The test drives it through window.relayTest.

import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { webRTC } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

import { pushRendezvous } from '../../../clients/js/src/index.js'

const CHAT = '/relay-test/chat/1.0.0'
const log = (...a) => console.log('[relay-page]', ...a)

/** Sends text on a new CHAT stream to `ma` and resolves with the answer. */
async function say (node, ma, text) {
  const stream = await node.dialProtocol(multiaddr(ma), CHAT, { runOnLimitedConnection: true, signal: AbortSignal.timeout(30000) })
  const answer = new Promise((resolve, reject) => {
    stream.addEventListener('message', (evt) => resolve(new TextDecoder().decode(evt.data.subarray())))
    stream.addEventListener('close', (evt) => reject(evt.error ?? new Error('closed without an answer')))
  })
  stream.send(new TextEncoder().encode(text))
  const got = await answer
  await stream.close().catch(() => {})
  return got
}

window.relayTest = {
  async start (server, ns) {
    const node = await createLibp2p({
      addresses: { listen: [`${server}/p2p-circuit`, '/webrtc'] },
      transports: [webSockets(), circuitRelayTransport(), webRTC()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      // The server is on 127.0.0.1, which a browser node refuses by default.
      connectionGater: { denyDialMultiaddr: () => false },
      services: { identify: identify(), presence: pushRendezvous({ servers: [server] }) }
    })
    this.node = node
    await node.handle(CHAT, (stream, conn) => {
      stream.addEventListener('message', (evt) => {
        const text = new TextDecoder().decode(evt.data.subarray())
        const via = conn.remoteAddr.toString().includes('/p2p-circuit') ? 'relay' : 'direct'
        stream.send(new TextEncoder().encode(`${text} (answered over ${via} by ${node.peerId})`))
      })
    }, { runOnLimitedConnection: true })
    const circuit = () => node.getMultiaddrs().map(String).filter((a) => a.includes('/p2p-circuit'))
    while (circuit().length === 0) await new Promise((resolve) => setTimeout(resolve, 50))
    log('addresses', node.getMultiaddrs().map(String).join(' '))
    this.room = await node.services.presence.join(ns, { addrs: node.getMultiaddrs() })
    return { id: node.peerId.toString(), addrs: node.getMultiaddrs().map(String) }
  },

  /** Members of the room as [[peer, addrs...]] (not this page). */
  members () {
    return [...this.room.members].map(([id, m]) => [id, ...m.multiaddrs.map(String)])
  },

  /** Says hello to `peer` at its relayed address (not the WebRTC one). */
  async viaRelay (peer) {
    const m = this.room.members.get(peer)
    const ma = m.multiaddrs.map(String).find((a) => a.includes('/p2p-circuit') && !a.includes('/webrtc'))
    return say(this.node, ma.includes(`/p2p/${peer}`) ? ma : `${ma}/p2p/${peer}`, 'hello through the relay')
  },

  /** Dials `peer` over WebRTC (signalled through the relay) and says hello there. */
  async viaWebRTC (peer) {
    const m = this.room.members.get(peer)
    let ma = m.multiaddrs.map(String).find((a) => a.includes('/webrtc'))
    if (ma == null) {
      const relayed = m.multiaddrs.map(String).find((a) => a.includes('/p2p-circuit'))
      ma = `${relayed.replace(`/p2p/${peer}`, '')}/webrtc/p2p/${peer}`
    }
    log('dialing', ma)
    const answer = await say(this.node, ma, 'hello over WebRTC')
    const conns = this.node.getConnections().filter((c) => c.remotePeer.toString() === peer)
    return { answer, conns: conns.map((c) => ({ addr: c.remoteAddr.toString(), limited: c.limits != null, status: c.status })) }
  }
}
