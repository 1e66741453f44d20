// rdv's hints against a server it did not come with: `rdv register
// --dialect standard` without --addr takes the address the server observed
// (identify's observedAddr); a server whose identify names none gets a
// refusal that says what to pass, and nothing is registered.
//
// Run: cd tests/interop && node --test --test-concurrency=1 ./cli-hints.test.mjs
// RDV_BUILD selects the folder holding rendezvousd and rdv (default: ../../build).

import './lib/polyfill.mjs'

import assert from 'node:assert/strict'
import { test } from 'node:test'

import { ping } from '@libp2p/ping'

import { IDENTIFY_PROTOCOL, OP_TIMEOUT_MS, binPath, createNode, run } from './lib/daemon.mjs'
import { RDV1_PROTOCOL, concat, varint } from './lib/rendezvous.mjs'

const TT = { timeout: 60_000 }

test('rdv register --dialect standard without --addr, against a server that observed no address: refused with a hint', TT, async (t) => {
  // A js-libp2p node whose identify answers with a protocol version and no
  // observedAddr, and which counts rendezvous streams (there must be none).
  const node = await createNode(t, {
    listen: ['/ip4/127.0.0.1/tcp/0'],
    services: { ping: ping({ timeout: OP_TIMEOUT_MS }) }
  })
  const version = new TextEncoder().encode('ipfs/0.1.0')
  await node.handle(IDENTIFY_PROTOCOL, async (stream) => {
    const msg = concat([Uint8Array.of(0x2a), varint(version.length), version]) // field 5: protocolVersion
    stream.send(concat([varint(msg.length), msg]))
    await stream.close()
  })
  let rdvStreams = 0
  await node.handle(RDV1_PROTOCOL, (stream) => { rdvStreams++; stream.abort(new Error('not expected')) })

  const server = node.getMultiaddrs()[0].toString()
  const res = await run(binPath('rdv'), ['register', '--server', server, '--dialect', 'standard', 'chat'])
  assert.equal(res.code, 1, `rdv register: exit ${res.code}\n${res.stdout}${res.stderr}`)
  assert.match(res.stderr, new RegExp(`no --addr, and ${node.peerId} did not say which address it sees us at: ` +
    'pass --addr MULTIADDR, the address other peers should dial'))
  assert.equal(res.stdout, '')
  assert.equal(rdvStreams, 0)
})
