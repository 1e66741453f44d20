// The page's libp2p node: WebSockets, Noise, yamux, identify, and the
// rendezvous services of rendezvousd-client.
//
// In a browser js-libp2p's default connection gater refuses private and
// loopback addresses, so a server on 127.0.0.1 or a LAN needs the gater
// below; keep the default for a server with a public address. Browsers open
// plain ws:// only from http:// pages or to localhost; anything public needs
// a /tls/ws listener with a certificate the browser trusts.

import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { webSockets } from '@libp2p/websockets'
import { createLibp2p } from 'libp2p'

/** A started node (fresh identity, listening nowhere) with `services`. */
export async function startNode (services) {
  return createLibp2p({
    transports: [webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), ...services },
    connectionGater: { denyDialMultiaddr: () => false }
  })
}

/** Query parameter `name`, or `fallback`. */
export function param (name, fallback = '') {
  return new URLSearchParams(location.search).get(name) ?? fallback
}

/** Appends a line to the element `log`. */
export function logLine (log, line) {
  const div = document.createElement('div')
  div.textContent = line
  log.append(div)
  console.log(line)
}
