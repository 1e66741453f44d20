// Errors of this package. A server's refusal is a RendezvousError carrying
// the status code and the reason the server gave.

/** Status codes of both dialects, by name (proto/push.proto, WIRE.md §1.2). */
export const Status = Object.freeze({
  OK: 0,
  E_INVALID_NAMESPACE: 100,
  E_INVALID_PEER: 101, // push mode
  E_INVALID_SIGNED_PEER_RECORD: 101, // /rendezvous/1.0.0
  E_INVALID_TTL: 102, // /rendezvous/1.0.0
  E_INVALID_REQUEST: 102, // push mode
  E_INVALID_COOKIE: 103,
  E_NOT_AUTHORIZED: 200,
  E_INTERNAL_ERROR: 300,
  E_UNAVAILABLE: 400
})

/** A request the server refused: `status` is its code, `statusText` its reason. */
export class RendezvousError extends Error {
  constructor (status, statusText = '', { server, request } = {}) {
    super(`rendezvous server refused ${request ?? 'the request'}: status ${status}${statusText ? ` (${statusText})` : ''}`)
    this.name = 'RendezvousError'
    this.code = 'ERR_RENDEZVOUS'
    this.status = status
    this.statusText = statusText
    this.server = server
  }
}

/**
 * The connection to the server is relayed (a circuit relay "limited"
 * connection) and the service was not told it may use one.
 */
export class LimitedConnectionError extends Error {
  constructor (server) {
    super(`the connection to ${server} is limited (relayed); pass runOnLimitedConnection: true to the service to use it`)
    this.name = 'LimitedConnectionError'
    this.code = 'ERR_RENDEZVOUS_LIMITED_CONNECTION'
    this.server = server
  }
}

/** The server answered with something this client cannot read. */
export class ProtocolError extends Error {
  constructor (message) {
    super(message)
    this.name = 'ProtocolError'
    this.code = 'ERR_RENDEZVOUS_PROTOCOL'
  }
}
