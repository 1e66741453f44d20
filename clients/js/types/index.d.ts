// Type declarations of rendezvousd-client (the code is plain ESM JavaScript in src/).

import type { ComponentLogger, PeerDiscovery, PeerDiscoveryEvents, PeerId, PeerInfo, PrivateKey, TypedEventTarget } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export declare const PUSH_PROTOCOL: '/rendezvous/legacy/1.0.0'
export declare const RENDEZVOUS_PROTOCOL: '/rendezvous/1.0.0'

/** Status codes of both dialects. */
export declare const Status: Readonly<{
  OK: 0
  E_INVALID_NAMESPACE: 100
  E_INVALID_PEER: 101
  E_INVALID_SIGNED_PEER_RECORD: 101
  E_INVALID_TTL: 102
  E_INVALID_REQUEST: 102
  E_INVALID_COOKIE: 103
  E_NOT_AUTHORIZED: 200
  E_INTERNAL_ERROR: 300
  E_UNAVAILABLE: 400
}>

/** A request the server refused. */
export declare class RendezvousError extends Error {
  constructor (status: number, statusText?: string, options?: { server?: string, request?: string })
  readonly name: 'RendezvousError'
  readonly code: 'ERR_RENDEZVOUS'
  /** The server's status code (see Status). */
  readonly status: number
  /** The server's reason. */
  readonly statusText: string
  /** The server's multiaddr. */
  readonly server?: string
}

/** The connection to the server is relayed and `runOnLimitedConnection` was not set. */
export declare class LimitedConnectionError extends Error {
  readonly name: 'LimitedConnectionError'
  readonly code: 'ERR_RENDEZVOUS_LIMITED_CONNECTION'
  readonly server: string
}

/** The server sent something this client cannot read. */
export declare class ProtocolError extends Error {
  readonly name: 'ProtocolError'
  readonly code: 'ERR_RENDEZVOUS_PROTOCOL'
}

/** What the services need from libp2p (createLibp2p passes it). */
export interface RendezvousComponents {
  peerId: PeerId
  privateKey: PrivateKey
  logger?: ComponentLogger
  connectionManager: any
  addressManager: { getAddresses(): Multiaddr[] }
  events: EventTarget
}

interface CommonInit {
  /** Rendezvous servers, each ending in /p2p/<peer id>. Push mode uses the first that answers and fails over in order. */
  servers: Array<string | Multiaddr>
  /** Use a relayed (limited) connection to the server; without it such a connection is a LimitedConnectionError. Default false. */
  runOnLimitedConnection?: boolean
  /** Bound for dialing and for one request, ms. Default 10 000. */
  timeout?: number
  /** First reconnect (or refresh retry) delay, ms; it doubles up to maxReconnectDelay. Default 500. */
  reconnectDelay?: number
  /** Largest reconnect delay, ms (±20 % jitter). Default 10 000. */
  maxReconnectDelay?: number
}

// ---- push mode ----------------------------------------------------------------

export interface PushRendezvousInit extends CommonInit {
  /**
   * After a reconnect, a member missing from the server's new list stays
   * listed this long (ms) before its 'leave': after a server restart the
   * others come back one by one. Default 1.2 × maxReconnectDelay + 2 000 (14 000).
   */
  leaveGrace?: number
}

export interface Member {
  multiaddrs: Multiaddr[]
  /** The member's presence metadata; empty when it set none. */
  metadata: Uint8Array
}

export interface MemberEvent extends Member {
  /** The member's peer id as text. */
  peerId: string
}

export interface RoomEvents {
  join: CustomEvent<MemberEvent>
  leave: CustomEvent<{ peerId: string }>
  update: CustomEvent<MemberEvent>
  error: CustomEvent<RendezvousError>
}

export interface JoinOptions {
  /** Addresses to register; default: the node's own multiaddrs, registered again when they change. */
  addrs?: Array<string | Multiaddr>
  /** Presence metadata (a string is taken as UTF-8). */
  metadata?: Uint8Array | string
  signal?: AbortSignal
}

export interface Room extends TypedEventTarget<RoomEvents> {
  readonly namespace: string
  /** Everybody else in the namespace (never this node), by peer id text. */
  readonly members: Map<string, Member>
  /** This node's current metadata. */
  readonly metadata: Uint8Array
  /** True once left (or the service stopped). */
  readonly left: boolean
  /** Replaces this node's metadata; the others get an 'update'. */
  update (metadata: Uint8Array | string): Promise<void>
  /** Unregisters; no more events from this room. */
  leave (): Promise<void>
}

export interface PushRendezvousEvents {
  connect: CustomEvent<{ server: Multiaddr }>
  disconnect: CustomEvent<{ server: Multiaddr, error?: Error }>
  error: CustomEvent<RendezvousError>
}

export interface PushRendezvous extends TypedEventTarget<PushRendezvousEvents> {
  readonly status: 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'stopped'
  /** The server of the current session. */
  readonly server?: Multiaddr
  /** The rooms joined, by namespace. */
  readonly rooms: Map<string, Room>
  /** Registers this node in `ns` and subscribes; resolves once the members are listed. */
  join (ns: string, options?: JoinOptions): Promise<Room>
}

export declare function pushRendezvous (init: PushRendezvousInit): (components: RendezvousComponents) => PushRendezvous

// ---- /rendezvous/1.0.0 --------------------------------------------------------

export interface RendezvousClientInit extends CommonInit {
  /** Refresh a registration when this share of its granted TTL has passed. Default 0.8. */
  refreshAt?: number
}

export interface Registration {
  peerId: string
  multiaddrs: Multiaddr[]
  ns: string
  ttl: number
}

export interface DiscoverResult {
  registrations: Registration[]
  /** Pass back (with `server`) for the registrations after these. */
  cookie?: Uint8Array
  /** The server that answered. */
  server: string
}

export interface RendezvousClientEvents extends PeerDiscoveryEvents {
  register: CustomEvent<{ ns: string, ttl: number }>
  error: CustomEvent<Error>
}

export interface RendezvousClient extends PeerDiscovery, TypedEventTarget<RendezvousClientEvents> {
  /** Namespaces registered and kept fresh, with the granted TTL. */
  readonly registrations: Map<string, { ttl: number }>
  register (ns: string, options?: { ttl?: number, addrs?: Array<string | Multiaddr>, signal?: AbortSignal }): Promise<{ ttl: number }>
  unregister (ns: string, options?: { signal?: AbortSignal }): Promise<void>
  discover (ns?: string, options?: { limit?: number, cookie?: Uint8Array, server?: string | Multiaddr, signal?: AbortSignal }): Promise<DiscoverResult>
  discoverAll (ns?: string, options?: { pageSize?: number, signal?: AbortSignal }): AsyncGenerator<Registration>
}

export declare function rendezvousClient (init: RendezvousClientInit): (components: RendezvousComponents) => RendezvousClient

export type { PeerInfo }
