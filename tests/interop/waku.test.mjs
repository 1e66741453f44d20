// js-libp2p <-> rendezvousd: the Waku dialect /vac/waku/rendezvous/0.0.1
// (seed 004, LANDSCAPE.md WK0): its own message numbering, proto3 zero-value
// omission, TTLs in seconds (default and maximum 20 s), no UNREGISTER, random
// DISCOVER samples, records signed by Ed25519 and secp256k1 keys, and the one
// registry it shares with /rendezvous/1.0.0 and push mode.
//
// Run: cd tests/interop && node --test --test-concurrency=1 ./waku.test.mjs

import './lib/polyfill.mjs'

import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'

import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { PeerRecord, RecordEnvelope } from '@libp2p/peer-record'

import { createNode, deadline, startDaemon, tcpAddr } from './lib/daemon.mjs'
import {
  RDV1_PROTOCOL, S, WAKU_PROTOCOL, WT,
  decodeFields, decodeRdv1, decodeWaku, encodeFields, expectNoAnswerThenEnd, hex, openMsgStream,
  parseCookie, rdv1Discover, rdv1Register, request, signedRecord, wakuDiscover, wakuMessage,
  wakuRegister
} from './lib/rendezvous.mjs'

const TT = { timeout: 60_000 }
const ADDR = '/ip4/10.0.0.7/tcp/60000'
const listenArgs = (...extra) => ['--listen', '/ip4/127.0.0.1/tcp/0', ...extra]

async function client (t, daemon, keyType = 'Ed25519') {
  const privateKey = await generateKeyPair(keyType)
  const node = await createNode(t, { privateKey })
  const conn = await node.dial(tcpAddr(daemon), { signal: deadline() })
  return {
    privateKey,
    peerId: peerIdFromPrivateKey(privateKey),
    conn,
    waku: () => openMsgStream(conn, WAKU_PROTOCOL, deadline()),
    std: () => openMsgStream(conn, RDV1_PROTOCOL, deadline()),
    record: (addrs = [ADDR]) => signedRecord(privateKey, addrs)
  }
}

async function wRegister (c, ns, ttl, record) {
  const s = await c.waku()
  const ans = await request(s, wakuRegister(ns, record ?? await c.record(), ttl), decodeWaku)
  await s.close()
  return ans
}

async function wDiscover (c, ns, limit) {
  const s = await c.waku()
  const ans = await request(s, wakuDiscover(ns, limit), decodeWaku)
  await s.close()
  return ans
}

function assertRegistered (ans, ttl) {
  assert.equal(ans.type, WT.REGISTER_RESPONSE)
  assert.equal(ans.registerResponse?.status, S.OK, `status ${ans.registerResponse?.status}: ${ans.registerResponse?.statusText}`)
  assert.equal(ans.registerResponse.ttl, BigInt(ttl))
}

function assertRefused (ans, status) {
  const r = ans.registerResponse ?? ans.discoverResponse
  assert.ok(r, 'no response')
  assert.equal(r.status, status, `expected ${status}, got ${r.status} (${r.statusText})`)
  assert.ok(r.statusText?.length > 0, 'error without statusText')
  if (ans.registerResponse) assert.equal(ans.registerResponse.ttl, undefined)
  else assert.equal(ans.discoverResponse.registrations.length, 0)
}

function okDiscover (ans) {
  assert.equal(ans.type, WT.DISCOVER_RESPONSE)
  const dr = ans.discoverResponse
  assert.ok(dr, 'no discoverResponse')
  assert.equal(dr.status, S.OK, `status ${dr.status}: ${dr.statusText}`)
  for (const r of dr.registrations) {
    assert.ok(r.ns && r.signedPeerRecord?.length > 0 && r.ttl >= 1n, 'incomplete registration')
  }
  return dr
}

async function recordPeer (bytes) {
  const env = await RecordEnvelope.openAndCertify(bytes, PeerRecord.DOMAIN)
  return PeerRecord.createFromProtobuf(env.payload).peerId.toString()
}

for (const keyType of ['Ed25519', 'secp256k1']) {
  test(`register and discover with a ${keyType}-signed record`, TT, async (t) => {
    const daemon = await startDaemon(t, listenArgs())
    const a = await client(t, daemon, keyType)
    const b = await client(t, daemon, keyType)
    const record = await a.record()

    const s = await a.waku()
    s.send(wakuRegister('waku-ns', record))
    const raw = decodeFields(await s.next())
    assert.deepEqual(raw.get(1), [1n], 'type REGISTER_RESPONSE not written')
    const rr = decodeFields(raw.get(3)[0])
    assert.deepEqual(rr.get(1), [0n], 'status OK not written')
    assert.deepEqual(rr.get(3), [20n], 'default TTL is not 20 s')
    await s.close()

    const dr = okDiscover(await wDiscover(b, 'waku-ns'))
    assert.equal(dr.registrations.length, 1)
    const reg = dr.registrations[0]
    assert.equal(reg.ns, 'waku-ns')
    assert.equal(hex(reg.signedPeerRecord), hex(record))
    assert.ok(reg.ttl <= 20n && reg.ttl >= 10n, `remaining ttl ${reg.ttl}`)
    assert.equal(await recordPeer(reg.signedPeerRecord), a.peerId.toString())
    const env = await RecordEnvelope.openAndCertify(reg.signedPeerRecord, PeerRecord.DOMAIN)
    assert.equal(env.publicKey.type, keyType)
  })
}

test('Waku numbering: DISCOVER = 2, Message.discover = 4, discoverResponse = 5, status written', TT, async (t) => {
  const daemon = await startDaemon(t, listenArgs())
  const a = await client(t, daemon)
  assertRegistered(await wRegister(a, 'numbers'), 20)
  const s = await a.waku()
  s.send(encodeFields([[1, 'varint', 2], [4, 'msg', encodeFields([[1, 'bytes', 'numbers']])]]))
  const raw = decodeFields(await s.next())
  assert.deepEqual(raw.get(1), [3n], 'type DISCOVER_RESPONSE (3) not written')
  assert.equal(raw.get(6), undefined, 'a standard discoverResponse (field 6) in a Waku answer')
  const dr = decodeFields(raw.get(5)[0])
  assert.deepEqual(dr.get(3), [0n], 'status OK not written')
  assert.equal(dr.get(2), undefined, 'a cookie in a Waku answer')
  assert.equal(dr.get(1)?.length, 1)
  await s.close()
})

test('TTL: seconds, absent or 0 → 20, over 20 or negative → 102', TT, async (t) => {
  const daemon = await startDaemon(t, listenArgs())
  const a = await client(t, daemon)
  assertRegistered(await wRegister(a, 'ttl-1'), 20)
  assertRegistered(await wRegister(a, 'ttl-2', 0n), 20)
  assertRegistered(await wRegister(a, 'ttl-3', 5n), 5)
  assertRegistered(await wRegister(a, 'ttl-4', 20n), 20)
  assertRefused(await wRegister(a, 'ttl-5', 21n), S.E_INVALID_TTL)
  assertRefused(await wRegister(a, 'ttl-5', 7200n), S.E_INVALID_TTL)
  assertRefused(await wRegister(a, 'ttl-5', -1n), S.E_INVALID_TTL)
  assertRefused(await wRegister(a, 'ttl-5', -(1n << 62n)), S.E_INVALID_TTL)
  assert.equal(okDiscover(await wDiscover(a, 'ttl-5')).registrations.length, 0)
})

test('proto3 senders: no type, no ttl', TT, async (t) => {
  const daemon = await startDaemon(t, listenArgs())
  const a = await client(t, daemon)
  const s = await a.waku()
  assertRegistered(await request(s, wakuMessage({ register: { ns: 'p3', signedPeerRecord: await a.record() } }), decodeWaku), 20)
  // A DISCOVER with limit 0 omitted; many requests on one stream.
  for (let i = 0; i < 5; i++) {
    assert.equal(okDiscover(await request(s, wakuMessage({ type: WT.DISCOVER, discover: { ns: 'p3' } }), decodeWaku)).registrations.length, 1)
  }
  await s.close()
  assert.equal(await s.next(), null, 'the daemon did not close its side after ours')
})

test('DISCOVER: a random sample of up to limit registrations', TT, async (t) => {
  const daemon = await startDaemon(t, listenArgs())
  const ids = new Set()
  for (let i = 0; i < 6; i++) {
    const c = await client(t, daemon, i % 2 ? 'secp256k1' : 'Ed25519')
    assertRegistered(await wRegister(c, 'sample'), 20)
    ids.add(c.peerId.toString())
  }
  const q = await client(t, daemon)
  const s = await q.waku()
  for (const limit of [undefined, 0n, -5n, 100n]) {
    const dr = okDiscover(await request(s, wakuDiscover('sample', limit), decodeWaku))
    const got = await Promise.all(dr.registrations.map((r) => recordPeer(r.signedPeerRecord)))
    assert.deepEqual(new Set(got), ids, `limit ${limit}`)
    assert.equal(got.length, 6)
  }
  const firsts = new Set()
  for (let i = 0; i < 30; i++) {
    const dr = okDiscover(await request(s, wakuDiscover('sample', 3n), decodeWaku))
    const got = await Promise.all(dr.registrations.map((r) => recordPeer(r.signedPeerRecord)))
    assert.equal(got.length, 3)
    assert.equal(new Set(got).size, 3, 'a sample repeats a peer')
    for (const id of got) assert.ok(ids.has(id))
    firsts.add(got.join(','))
  }
  assert.ok(firsts.size > 1, 'the same sample 30 times: not random')
  assert.equal(okDiscover(await request(s, wakuDiscover('nobody', 3n), decodeWaku)).registrations.length, 0)
  await s.close()
})

test('namespaces and records: empty or 256-byte ns → 100, other peer → 200, garbage → 101', TT, async (t) => {
  const daemon = await startDaemon(t, listenArgs())
  const a = await client(t, daemon)
  assertRefused(await wRegister(a, ''), S.E_INVALID_NAMESPACE)
  assertRefused(await wRegister(a, 'w'.repeat(256)), S.E_INVALID_NAMESPACE)
  assertRegistered(await wRegister(a, 'w'.repeat(255)), 20)
  assertRefused(await wDiscover(a, ''), S.E_INVALID_NAMESPACE)
  assertRefused(await wDiscover(a, 'w'.repeat(256)), S.E_INVALID_NAMESPACE)
  const s = await a.waku()
  assertRefused(await request(s, wakuMessage({ type: WT.DISCOVER, discover: {} }), decodeWaku), S.E_INVALID_NAMESPACE)
  await s.close()

  const other = await generateKeyPair('secp256k1')
  assertRefused(await wRegister(a, 'rec', undefined, await signedRecord(other, [ADDR])), S.E_NOT_AUTHORIZED)
  // 101 is E_INVALID_PEER_INFO in the Waku enum.
  assertRefused(await wRegister(a, 'rec', undefined, randomBytes(64)), S.E_INVALID_SIGNED_PEER_RECORD)
  const bad = Uint8Array.from(await a.record())
  bad[bad.length - 2] ^= 0x40
  assertRefused(await wRegister(a, 'rec', undefined, bad), S.E_INVALID_SIGNED_PEER_RECORD)
  assert.equal(okDiscover(await wDiscover(a, 'rec')).registrations.length, 0)
})

test('requests that are not Waku requests reset the stream', TT, async (t) => {
  const daemon = await startDaemon(t, listenArgs())
  const a = await client(t, daemon)
  const bad = {
    'REGISTER_RESPONSE from the client': wakuMessage({ type: WT.REGISTER_RESPONSE }),
    'DISCOVER_RESPONSE from the client': wakuMessage({ type: WT.DISCOVER_RESPONSE }),
    'type 4 (there is no UNREGISTER)': wakuMessage({ type: 4 }),
    'REGISTER without its body': wakuMessage({ type: WT.REGISTER }),
    'not protobuf': Uint8Array.from([0x0a, 0x05, 0x01])
  }
  for (const [what, msg] of Object.entries(bad)) {
    const s = await a.waku()
    s.send(msg)
    assert.equal(await expectNoAnswerThenEnd(s), 'reset', what)
  }
  assert.equal(a.conn.status, 'open')
  assertRegistered(await wRegister(a, 'fine'), 20)
})

test('one registry: Waku and standard registrations see each other', TT, async (t) => {
  const daemon = await startDaemon(t, listenArgs())
  const w = await client(t, daemon, 'secp256k1')
  const st = await client(t, daemon)
  assertRegistered(await wRegister(w, 'shared'), 20)
  const s = await st.std()
  const ans = await request(s, rdv1Register('shared', await st.record()))
  assert.equal(ans.registerResponse.status, S.OK)

  // Standard DISCOVER: both, with ttl, cookie and the envelopes as registered.
  const dr = decodeRdv1(await (async () => { s.send(rdv1Discover('shared')); return s.next() })()).discoverResponse
  assert.equal(dr.status, S.OK)
  assert.equal(parseCookie(dr.cookie).ns, 'shared')
  assert.deepEqual(await Promise.all(dr.registrations.map((r) => recordPeer(r.signedPeerRecord))),
    [w.peerId.toString(), st.peerId.toString()])
  assert.ok(dr.registrations[0].ttl <= 20n)
  await s.close()

  // Waku DISCOVER: both too.
  const wd = okDiscover(await wDiscover(w, 'shared'))
  assert.deepEqual(new Set(await Promise.all(wd.registrations.map((r) => recordPeer(r.signedPeerRecord)))),
    new Set([w.peerId.toString(), st.peerId.toString()]))

  // A Waku REGISTER of the same peer and namespace replaces the standard one.
  assertRegistered(await wRegister(st, 'shared', 10n), 10)
  const again = okDiscover(await wDiscover(w, 'shared'))
  assert.equal(again.registrations.length, 2)
  const mine = again.registrations.find((r) => r.ttl <= 10n)
  assert.ok(mine, 'the replaced registration does not carry the Waku TTL')
})

test('Waku registrations expire, and push subscribers see them come and go', TT, async (t) => {
  // 5 s: long enough to discover it first even under ASan on a loaded
  // machine; the expiry itself is awaited as an event, without a deadline
  // tighter than the test's own.
  const daemon = await startDaemon(t, listenArgs('--waku-ttl-default', '5', '--waku-ttl-max', '5'))
  const sc = await client(t, daemon)
  const sub = await openMsgStream(sc.conn, '/rendezvous/legacy/1.0.0', deadline())
  sub.send(encodeFields([[1, 'varint', 2], [4, 'msg', encodeFields([[1, 'bytes', 'short']])]]))

  const a = await client(t, daemon, 'secp256k1')
  assertRegistered(await wRegister(a, 'short'), 5)
  assertRefused(await wRegister(a, 'short', 6n), S.E_INVALID_TTL)

  const announce = async (ms) => {
    const m = decodeFields(await sub.next(ms))
    const type = Number(m.get(1)?.[0] ?? 0n)
    const e = decodeFields((m.get(type === 0 ? 2 : 3) ?? [])[0])
    const peer = decodeFields(e.get(2)?.[0] ?? new Uint8Array(0))
    return [type === 0 ? 'register' : 'unregister', new TextDecoder().decode(peer.get(1)?.[0])]
  }
  assert.deepEqual(await announce(), ['register', a.peerId.toString()])
  assert.equal(okDiscover(await wDiscover(sc, 'short')).registrations.length, 1)
  assert.deepEqual(await announce(30_000), ['unregister', a.peerId.toString()])
  assert.equal(okDiscover(await wDiscover(sc, 'short')).registrations.length, 0)
})
