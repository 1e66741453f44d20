// js-libp2p clients that exist, against rendezvousd: protocol aliases (a
// client with its own protocol id for the /rendezvous/1.0.0 wire format, as
// @canvas-js/libp2p-rendezvous uses /canvas/rendezvous/1.0.0), js-libp2p
// PeerId JSON identity files, and namespace access control.
//
// Here the harness's own /rendezvous/1.0.0 client speaks under the canvas
// protocol id; @canvas-js/libp2p-rendezvous itself (js-libp2p 2) runs in its
// own tree, in canvas.test.mjs.
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
import { PS, PT, PushSession } from './lib/push-client.mjs'
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

/** Resolves once `text` shows in the daemon's output (a log line). */
async function logged (daemon, text, ms = 10_000) {
  const start = performance.now()
  while (!daemon.output().includes(text)) {
    if (performance.now() - start > ms) throw new Error(`no "${text}" in the daemon's output:\n${daemon.output()}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** The daemon's metrics text (it was started with --metrics 127.0.0.1:0). */
async function metrics (daemon) {
  const url = daemon.output().match(/Metrics: (http:\/\/\S+)/)?.[1]
  assert.ok(url, 'no metrics address printed')
  return (await fetch(url)).text()
}

test('access rules: every dialect answers E_NOT_AUTHORIZED outside the rules, $peer spaces, counted, reloaded', TT, async (t) => {
  const dir = await tempDir(t)
  const aclFile = path.join(dir, 'acl')
  await writeFile(aclFile, [
    '# who may do what where',
    'allow register,subscribe,discover open/*',
    'allow all room/$peer/*',
    'allow discover room/*'
  ].join('\n') + '\n')
  const daemon = await startDaemon(t, ['--listen', '/ip4/127.0.0.1/tcp/0', '--metrics', '127.0.0.1:0',
    '--acl-file', aclFile, '-v'])
  const a = await client(t, daemon)
  const b = await client(t, daemon)
  const own = `room/${a.peerId}/notes`

  // /rendezvous/1.0.0
  const std = (c, msg) => ask(c, RDV1_PROTOCOL, msg)
  let r = await std(a, rdv1Register('open/x', await a.record(), 120))
  assert.equal(r.registerResponse.status, S.OK, r.registerResponse.statusText)
  r = await std(a, rdv1Register('closed', await a.record(), 120))
  assert.equal(r.registerResponse.status, S.E_NOT_AUTHORIZED)
  assert.match(r.registerResponse.statusText, /not authorized to register/)
  r = await std(a, rdv1Register(own, await a.record(), 120))
  assert.equal(r.registerResponse.status, S.OK, 'a peer may register in its own space')
  r = await std(b, rdv1Register(own, await b.record(), 120))
  assert.equal(r.registerResponse.status, S.E_NOT_AUTHORIZED, 'another peer may not')
  r = await std(b, rdv1Discover(own, 10))
  assert.equal(r.discoverResponse.status, S.OK, 'anyone may discover room/*')
  assert.equal(r.discoverResponse.registrations.length, 1)
  r = await std(b, rdv1Discover('closed', 10))
  assert.equal(r.discoverResponse.status, S.E_NOT_AUTHORIZED)
  r = await std(b, rdv1Discover(undefined, 10))
  assert.equal(r.discoverResponse.status, S.E_NOT_AUTHORIZED, 'no rule grants a DISCOVER of every namespace')

  // Waku
  const waku = (c, msg) => ask(c, WAKU_PROTOCOL, msg, decodeWaku)
  r = await waku(b, wakuRegister('closed', await b.record(), 10))
  assert.equal(r.registerResponse.status, S.E_NOT_AUTHORIZED)
  r = await waku(b, wakuDiscover('closed', 10))
  assert.equal(r.discoverResponse.status, S.E_NOT_AUTHORIZED)
  r = await waku(b, wakuDiscover('open/x', 10))
  assert.equal(r.discoverResponse.status, S.OK)
  assert.equal(r.discoverResponse.registrations.length, 1)

  // Push mode: every refusal is a Message with status and text; allowed ones work.
  const push = await PushSession.open(b.conn, deadline())
  for (const [send, type] of [[() => push.register('closed', b.peerId.toString()), PT.REGISTER],
    [() => push.rendezvous('closed'), PT.RENDEZVOUS], [() => push.discover('closed', 10), PT.DISCOVER]]) {
    send()
    const m = await push.next()
    assert.equal(m.type, type)
    assert.equal(m.status, PS.E_NOT_AUTHORIZED)
    assert.match(m.statusText, /not authorized/)
  }
  push.rendezvous('open/x')
  assert.deepEqual(await push.events(1), [['+', a.peerId.toString(), ADDR]])

  // Counted, and logged at debug.
  const text = await metrics(daemon)
  for (const [dialect, action, n] of [['standard', 'register', 2], ['standard', 'discover', 2],
    ['waku', 'register', 1], ['waku', 'discover', 1], ['push', 'register', 1], ['push', 'subscribe', 1],
    ['push', 'discover', 1]]) {
    assert.ok(text.includes(`rendezvousd_requests_denied_total{dialect="${dialect}",action="${action}"} ${n}\n`),
      `${dialect} ${action} ${n}:\n${text.split('\n').filter((l) => l.includes('denied')).join('\n')}`)
  }
  assert.match(daemon.output(), /request standard REGISTER ns="closed" status=E_NOT_AUTHORIZED peer=/)

  // SIGHUP applies a new file; a bad one keeps the rules in force.
  await writeFile(aclFile, 'allow all *\n')
  daemon.proc.kill('SIGHUP')
  await logged(daemon, `access rules: 1 from ${aclFile}`)
  r = await std(b, rdv1Register('closed', await b.record(), 120))
  assert.equal(r.registerResponse.status, S.OK, 'the reloaded rules allow everything')
  await writeFile(aclFile, 'allow everything *\n')
  daemon.proc.kill('SIGHUP')
  await logged(daemon, `${aclFile}:1: 'everything' is not an action`)
  r = await std(b, rdv1Register('closed2', await b.record(), 120))
  assert.equal(r.registerResponse.status, S.OK, 'a bad file kept the rules in force')
})

test('access rules: a bad file stops the start with FILE:LINE, and --check-config says so', TT, async (t) => {
  const dir = await tempDir(t)
  const aclFile = path.join(dir, 'acl')
  await writeFile(aclFile, 'allow register open/*\ndeny all a*b\n')
  for (const extra of [[], ['--check-config']]) {
    const r = await run(binPath('rendezvousd'), [...listenArgs('--acl-file', aclFile), ...extra])
    assert.equal(r.code, 1)
    assert.match(r.stderr, new RegExp(`${aclFile}:2: '\\*' may only end a pattern`))
  }
})
