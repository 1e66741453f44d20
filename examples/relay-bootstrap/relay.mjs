// The circuit relay (v2) of the example: a js-libp2p node that browsers
// reach over WebSockets and reserve a slot on, so that other browsers can
// dial them through it. Everything about the relay is in this file; the
// pages only need its address.
//
//   node relay.mjs [listen multiaddr]      default /ip4/127.0.0.1/tcp/0/ws
//
// It prints "Relay listening on:" and its addresses (ending in /p2p/<id>),
// then runs until SIGINT or SIGTERM.

import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayServer } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { webSockets } from '@libp2p/websockets'
import { createLibp2p } from 'libp2p'

// js-libp2p 3 calls Promise.withResolvers(), which Node has from v22 on.
Promise.withResolvers ??= function () {
  let resolve, reject
  const promise = new Promise((res, rej) => { resolve = res; reject = rej })
  return { promise, resolve, reject }
}

const listen = process.argv[2] ?? '/ip4/127.0.0.1/tcp/0/ws'
const relay = await createLibp2p({
  addresses: { listen: [listen] },
  transports: [webSockets()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: {
    identify: identify(),
    // Relayed connections are "limited" (by default 2 minutes and 128 KiB
    // each way): enough to introduce two browsers and pass a few messages.
    relay: circuitRelayServer({ reservations: { maxReservations: 128 } })
  }
})

console.log('Relay listening on:')
for (const ma of relay.getMultiaddrs()) console.log(ma.toString()) // already ends in /p2p/<relay id>
console.log('')

const stop = async () => { await relay.stop(); process.exit(0) }
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
