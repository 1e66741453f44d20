// The browser's libp2p node: WebSockets, Noise, yamux, identify.

import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

/**
 * Starts a node with a fresh Ed25519 identity and returns { node, privateKey }
 * (the key signs our peer record). It listens nowhere: a page can only dial.
 *
 * @libp2p/websockets 10 dials both ws:// and wss:// addresses (older versions
 * needed `filter: filters.all` for plain ws). But in a browser js-libp2p's
 * default connection gater refuses private and loopback addresses, so a
 * server on 127.0.0.1 or a LAN needs the gater below; keep the default for a
 * server with a public address. Browsers allow plain ws:// from http://
 * pages and, from https:// pages, only to localhost / 127.0.0.1; anything
 * public needs a /tls/ws listener with a certificate the browser trusts.
 */
export async function startNode () {
  const privateKey = await generateKeyPair('Ed25519')
  const node = await createLibp2p({
    privateKey,
    transports: [webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() },
    connectionGater: { denyDialMultiaddr: () => false }
  })
  await node.start()
  return { node, privateKey }
}

/** Dials the rendezvous server (a multiaddr ending in /p2p/<id>) and returns the connection. */
export async function dialServer (node, server) {
  return node.dial(multiaddr(server.trim()), { signal: AbortSignal.timeout(15_000) })
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
