// Test helpers for the package: the daemon comes from the repository's
// interop helpers (start on ephemeral ports, SIGTERM with a sanitizer check
// after the test); the js-libp2p nodes are built from this package's own
// dependencies, so the package is tested against what it declares.

import '../../../../tests/interop/lib/polyfill.mjs'

import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'

import { startDaemon, tempDir, withTimeout } from '../../../../tests/interop/lib/daemon.mjs'

export { startDaemon, tempDir, withTimeout }

export const OP_MS = 10_000

/** A daemon on an ephemeral loopback TCP (or `transport: 'ws'`) port; returns it with `server` (its address text) and `port`. */
export async function daemon (t, { key, port = 0, transport = 'tcp', extra = [] } = {}) {
  const keyFile = key ?? `${await tempDir(t)}/server.key`
  const ws = transport === 'ws' ? '/ws' : ''
  const d = await startDaemon(t, ['--listen', `/ip4/127.0.0.1/tcp/${port}${ws}`, '--key', keyFile, ...extra])
  const server = d.addrs.map(String).find((a) => a.startsWith('/ip4/127.0.0.1/tcp/') && a.includes(`${ws}/p2p/`))
  d.server = server
  d.port = Number(server.split('/')[4])
  d.key = keyFile
  return d
}

/** A started node (TCP on loopback, Noise, yamux, identify) with `services`; stopped after the test. */
export async function node (t, services = {}, { listen = ['/ip4/127.0.0.1/tcp/0'] } = {}) {
  const n = await createLibp2p({
    addresses: { listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), ...services }
  })
  t.after(() => withTimeout(n.stop(), OP_MS, 'stopping a node').catch(() => {}))
  return n
}

/**
 * Records the events of `types` on `target` as [type, peer id] pairs (and the
 * details in `.details`); `.wait(pred)` resolves once pred(list) holds.
 */
export function recorder (target, types = ['join', 'leave', 'update']) {
  const list = []
  list.details = []
  let check = () => {}
  for (const type of types) {
    target.addEventListener(type, (e) => {
      list.push([type, e.detail?.peerId])
      list.details.push({ type, ...e.detail })
      check()
    })
  }
  list.wait = (pred, what = 'events', ms = OP_MS) => withTimeout(new Promise((resolve) => {
    check = () => { if (pred(list)) resolve(list) }
    check()
  }), ms, `waiting for ${what} (have ${JSON.stringify(list)})`)
  return list
}

/** Resolves with the detail of the next `type` event on `target`. */
export function once (target, type, ms = OP_MS) {
  return withTimeout(new Promise((resolve) => target.addEventListener(type, (e) => resolve(e.detail), { once: true })),
    ms, `waiting for "${type}"`)
}
