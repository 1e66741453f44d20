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
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { test } from 'node:test'

import { generateKeyPair, privateKeyToProtobuf, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'

import { binPath, createNode, deadline, run, startDaemon, tcpAddr, tempDir } from './lib/daemon.mjs'
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

/** A js-libp2p PeerId JSON file ({ id, privKey, pubKey }, as peer-id-factory's
 * exportToJSON writes it) for privateKey; `id` overrides the id. */
async function peerIdJson (dir, name, privateKey, id) {
  const file = path.join(dir, name)
  await writeFile(file, JSON.stringify({
    id: id ?? peerIdFromPrivateKey(privateKey).toString(),
    privKey: Buffer.from(privateKeyToProtobuf(privateKey)).toString('base64'),
    pubKey: Buffer.from(publicKeyToProtobuf(privateKey.publicKey)).toString('base64')
  }, null, 2), { mode: 0o600 })
  return file
}

test('PeerId JSON: a js-libp2p identity file keeps its peer id (--peerId and --key), proven in Noise', TT, async (t) => {
  const dir = await tempDir(t)
  const privateKey = await generateKeyPair('Ed25519')
  const want = peerIdFromPrivateKey(privateKey)
  const file = await peerIdJson(dir, 'id.json', privateKey)
  for (const flag of ['--peerId', '--key']) {
    const daemon = await startDaemon(t, listenArgs(flag, file))
    assert.equal(daemon.peerId.toString(), want.toString())
    // The dial names the id, so Noise checks the daemon proves that key.
    const c = await client(t, daemon)
    assert.equal(c.conn.remotePeer.toString(), want.toString())
    await daemon.stop()
  }
  const id = await run(binPath('rdv'), ['id', file])
  assert.equal(id.stdout.trim(), want.toString())
})

test('PeerId JSON: an id that is not the key\'s, and secp256k1 and RSA server keys, are refused clearly', TT, async (t) => {
  const dir = await tempDir(t)
  const privateKey = await generateKeyPair('Ed25519')
  const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
  const mine = peerIdFromPrivateKey(privateKey).toString()
  const wrong = await peerIdJson(dir, 'wrong.json', privateKey, other)
  let r = await run(binPath('rendezvousd'), [...listenArgs('--peerId', wrong), '--check-config'])
  assert.equal(r.code, 1)
  assert.match(r.stderr, new RegExp(`id ${other} does not match its privKey, whose peer id is ${mine}`))

  for (const [type, name] of [['secp256k1', 'a secp256k1 key'], ['RSA', 'an RSA key']]) {
    const k = type === 'RSA' ? await generateKeyPair('RSA', 2048) : await generateKeyPair(type)
    const file = await peerIdJson(dir, `${type}.json`, k)
    r = await run(binPath('rendezvousd'), listenArgs('--peerId', file))
    assert.equal(r.code, 1, r.stderr)
    assert.match(r.stderr, new RegExp(`${name}; rendezvousd signs its Noise handshake and peer record with Ed25519 only`))
  }
})
