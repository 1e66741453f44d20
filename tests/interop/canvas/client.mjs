// @canvas-js/libp2p-rendezvous, on js-libp2p 2 as it is published, against
// a rendezvous server: node A registers, node B discovers A (with the
// address A's signed record holds), A unregisters, B discovers nothing. Prints one JSON line with what each step returned;
// canvas.test.mjs (one folder up) runs it against rendezvousd.
//
// Usage: node client.mjs SERVER_MULTIADDR NAMESPACE

import '../lib/polyfill.mjs'

import { rendezvousClient } from '@canvas-js/libp2p-rendezvous/client'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

const [server, ns] = process.argv.slice(2)
if (!server || !ns) {
  console.error('usage: node client.mjs SERVER_MULTIADDR NAMESPACE')
  process.exit(2)
}

const node = () => createLibp2p({
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: { identify: identify(), rendezvous: rendezvousClient({ autoDiscover: false }) }
})

const a = await node()
const b = await node()
const out = { a: a.peerId.toString() }
try {
  const addr = multiaddr(server)
  out.register = await a.services.rendezvous.connect(addr, (point) =>
    point.register(ns, { ttl: 7200, multiaddrs: [multiaddr('/ip4/10.0.0.1/tcp/4001')] }))
  const found = await b.services.rendezvous.connect(addr, (point) => point.discover(ns))
  out.discovered = found.map((p) => ({ id: p.id.toString(), addrs: p.addresses.map((x) => x.multiaddr.toString()) }))
  // UNREGISTER has no answer: A's DISCOVER behind it on the same stream is
  // the barrier that says it was handled.
  await a.services.rendezvous.connect(addr, async (point) => { await point.unregister(ns); await point.discover(ns) })
  out.after = (await b.services.rendezvous.connect(addr, (point) => point.discover(ns))).length
} finally {
  await Promise.all([a.stop(), b.stop()])
}
console.log(JSON.stringify(out))
