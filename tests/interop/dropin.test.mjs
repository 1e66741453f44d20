// js-libp2p clients that exist, against rendezvousd: protocol aliases (a
// client with its own protocol id for the /rendezvous/1.0.0 wire format, as
// @canvas-js/libp2p-rendezvous uses /canvas/rendezvous/1.0.0), js-libp2p
// PeerId JSON identity files, and namespace access control.
//
// @canvas-js/libp2p-rendezvous itself is built on js-libp2p 2.x stream
// interfaces (and a native sqlite module), which this harness's js-libp2p 3
// cannot host; its wire format is the standard one, so the harness's own
// /rendezvous/1.0.0 client speaks it here under the canvas protocol id.
//
// Run: cd tests/interop && node --test --test-concurrency=1 ./dropin.test.mjs
// RDV_BUILD selects the folder holding rendezvousd and rdv (default: ../../build).

import './lib/polyfill.mjs'

import assert from 'node:assert/strict'
import { test } from 'node:test'

import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'

import { createNode, deadline, startDaemon, tcpAddr } from './lib/daemon.mjs'
import {
  RDV1_PROTOCOL, S, T, WAKU_PROTOCOL, decodeWaku, openMsgStream, rdv1Discover, rdv1Register,
  request, signedRecord, wakuDiscover, wakuRegister
} from './lib/rendezvous.mjs'

const TT = { timeout: 60_000 }
const ADDR = '/ip4/10.0.0.1/tcp/4001'
const CANVAS = '/canvas/rendezvous/1.0.0'
const WAKU_ALIAS = '/example/waku/rendezvous/0.0.1'

const listenArgs = (...extra) => ['--listen', '/ip4/127.0.0.1/tcp/0', '--metrics', 'off', ...extra]

async function client (t, daemon, privateKey) {
  privateKey ??= await generateKeyPair('Ed25519')
  const node = await createNode(t, { privateKey, identifyInit: { runOnConnectionOpen: false } })
  const conn = await node.dial(tcpAddr(daemon), { signal: deadline() })
  return {
    privateKey,
    peerId: peerIdFromPrivateKey(privateKey),
    node,
    conn,
    open: (protocol) => openMsgStream(conn, protocol, deadline()),
    record: (addrs = [ADDR]) => signedRecord(privateKey, addrs)
  }
}

async function ask (c, protocol, msg, decode) {
  const s = await c.open(protocol)
  const ans = await request(s, msg, decode)
  await s.close()
  return ans
}

test('protocol aliases: a client using its own protocol id registers and discovers; identify lists every id', TT, async (t) => {
  const daemon = await startDaemon(t, listenArgs(
    '--rendezvous-protocol', RDV1_PROTOCOL, '--rendezvous-protocol', CANVAS,
    '--waku-protocol', WAKU_PROTOCOL, '--waku-protocol', WAKU_ALIAS))
  const canvas = await client(t, daemon)
  const standard = await client(t, daemon)

  const reg = await ask(canvas, CANVAS, rdv1Register('canvas-room', await canvas.record(), 120))
  assert.equal(reg.type, T.REGISTER_RESPONSE)
  assert.equal(reg.registerResponse.status, S.OK, reg.registerResponse.statusText)

  // One registry behind every id: the standard id sees the canvas registration
  // and the other way round.
  for (const [who, protocol] of [[standard, RDV1_PROTOCOL], [canvas, CANVAS]]) {
    const ans = await ask(who, protocol, rdv1Discover('canvas-room', 10))
    assert.equal(ans.discoverResponse.status, S.OK)
    assert.equal(ans.discoverResponse.registrations.length, 1)
  }
  // The Waku alias speaks Waku and sees the same registration.
  const w = await ask(standard, WAKU_ALIAS, wakuDiscover('canvas-room', 10), decodeWaku)
  assert.equal(w.discoverResponse.status, S.OK)
  assert.equal(w.discoverResponse.registrations.length, 1)
  const wr = await ask(standard, WAKU_ALIAS, wakuRegister('waku-room', await standard.record(), 10), decodeWaku)
  assert.equal(wr.registerResponse.status, S.OK)

  const id = await canvas.node.services.identify.identify(canvas.conn, { signal: deadline() })
  for (const p of [RDV1_PROTOCOL, CANVAS, WAKU_PROTOCOL, WAKU_ALIAS]) {
    assert.ok(id.protocols.includes(p), `identify protocols ${JSON.stringify(id.protocols)} lack ${p}`)
  }
})

test('protocol aliases: without the option the canvas id is refused, the default still works', TT, async (t) => {
  const daemon = await startDaemon(t, listenArgs())
  const c = await client(t, daemon)
  await assert.rejects(c.open(CANVAS), /protocol/i)
  const ans = await ask(c, RDV1_PROTOCOL, rdv1Discover('x', 1))
  assert.equal(ans.discoverResponse.status, S.OK)
})
