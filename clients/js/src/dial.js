// Reaching a rendezvous server: a stream for a protocol on a connection to
// one of the configured servers, refusing a limited (relayed) connection
// unless the service was told it may use one, and backoff delays.

import { multiaddr } from '@multiformats/multiaddr'

import { LimitedConnectionError } from './errors.js'

/** Multiaddr objects of `servers` (strings or Multiaddrs); each must end in /p2p/<id>. */
export function serverAddrs (servers) {
  if (!Array.isArray(servers) || servers.length === 0) {
    throw new TypeError('servers: give at least one rendezvous server multiaddr')
  }
  return servers.map((s) => {
    const ma = typeof s === 'string' ? multiaddr(s) : s
    if (ma.getComponents().findLast((c) => c.name === 'p2p') == null) {
      throw new TypeError(`server ${ma} has no /p2p/<peer id>`)
    }
    return ma
  })
}

/**
 * Opens a stream for `protocol` to `server`. A relayed connection is used
 * only with `runOnLimitedConnection`; otherwise it is a LimitedConnectionError.
 */
export async function openStream (components, server, protocol, { runOnLimitedConnection = false, signal } = {}) {
  const conn = await components.connectionManager.openConnection(server, { signal })
  if (conn.limits != null && !runOnLimitedConnection) throw new LimitedConnectionError(server.toString())
  return conn.newStream(protocol, { signal, runOnLimitedConnection })
}

/** Delay before reconnect attempt `n` (0, 1, ...): doubling from `min` up to `max`, ±20 % jitter. */
export function backoffDelay (n, { min = 500, max = 10_000 } = {}) {
  const base = Math.min(max, min * 2 ** Math.min(n, 20))
  return Math.round(base * (0.8 + Math.random() * 0.4))
}

/** Resolves after `ms`, or rejects when `signal` fires. */
export function sleep (ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve() }, ms)
    const onAbort = () => { clearTimeout(timer); reject(signal.reason) }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** The node's own multiaddrs (js-libp2p 3 ends them in /p2p/<self> already). */
export function ownAddrs (components) {
  return components.addressManager.getAddresses()
}

/** `ma` without a trailing /p2p/<id>. */
export function withoutPeer (ma) {
  const comps = ma.getComponents()
  return comps.at(-1)?.name === 'p2p' ? multiaddr(comps.slice(0, -1)) : ma
}
