// rendezvousd-client: js-libp2p services for a rendezvousd server.
//
//   pushRendezvous   push mode (/rendezvous/legacy/1.0.0): rooms with live members
//   rendezvousClient the standard dialect (/rendezvous/1.0.0): register, discover

export { pushRendezvous, PushRendezvous, Room, PUSH_PROTOCOL } from './push.js'
export { rendezvousClient, RendezvousClient, RENDEZVOUS_PROTOCOL } from './standard.js'
export { RendezvousError, LimitedConnectionError, ProtocolError, Status } from './errors.js'
