// js-libp2p <-> rendezvousd: /rendezvous/1.0.0 (WIRE.md §1) with real signed
// peer records from @libp2p/peer-record, over js-libp2p TCP + Noise + yamux.
//
// Every status code path, the fields rust-libp2p insists on (§1.7), cookies,
// paging, all-namespace DISCOVER, many requests per stream and one per
// stream, all four key types, legacy (rust) records, limits, the 1 MiB cap,
// and TTL expiry seen both by DISCOVER and by a push-mode subscriber.
//
// Run: cd tests/interop && node --test --test-concurrency=1 ./rdv1.test.mjs
// RDV_BUILD selects the folder holding rendezvousd and rdv (default: ../../build).

import './lib/polyfill.mjs'

import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'

import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { PeerRecord, RecordEnvelope } from '@libp2p/peer-record'

import { createNode, deadline, startDaemon, tcpAddr } from './lib/daemon.mjs'
import {
  RDV1_PROTOCOL, S, T,
  concat, decodeFields, decodeRdv1, ecdsaSignedRecord, encodeFields, expectNoAnswerThenEnd, hex, legacySignedRecord,
  openMsgStream, parseCookie, rdv1Discover, rdv1Message, rdv1Register, rdv1Unregister, request,
  signedRecord, sleep
} from './lib/rendezvous.mjs'

const TEST_TIMEOUT_MS = 60_000
const TT = { timeout: TEST_TIMEOUT_MS }
const ADDR = '/ip4/10.0.0.1/tcp/4001'

const listenArgs = (...extra) => ['--listen', '/ip4/127.0.0.1/tcp/0', ...extra]

/** A js-libp2p client with its own identity, connected to the daemon. */
async function client (t, daemon, keyType = 'Ed25519') {
  const privateKey = keyType === 'RSA' ? await generateKeyPair('RSA', 2048) : await generateKeyPair(keyType)
  const node = await createNode(t, { privateKey })
  const conn = await node.dial(tcpAddr(daemon), { signal: deadline() })
  const peerId = peerIdFromPrivateKey(privateKey)
  return {
    privateKey,
    peerId,
    node,
    conn,
    stream: () => openMsgStream(conn, RDV1_PROTOCOL, deadline()),
    record: (addrs = [ADDR]) => signedRecord(privateKey, addrs)
  }
}

/** REGISTER on a fresh stream; returns the decoded answer. */
async function register (c, ns, ttl, record) {
  const s = await c.stream()
  const ans = await request(s, rdv1Register(ns, record ?? await c.record(), ttl))
  await s.close()
  return ans
}

async function discover (c, ns, limit, cookie) {
  const s = await c.stream()
  const ans = await request(s, rdv1Discover(ns, limit, cookie))
  await s.close()
  return ans
}

function assertRegistered (ans, ttl) {
  assert.equal(ans.type, T.REGISTER_RESPONSE)
  const rr = ans.registerResponse
  assert.ok(rr, 'no registerResponse')
  assert.equal(rr.status, S.OK, `status ${rr.status}: ${rr.statusText}`)
  assert.equal(rr.ttl, BigInt(ttl))
}

function assertRefused (ans, status) {
  if (ans.type === T.REGISTER_RESPONSE) {
    const rr = ans.registerResponse
    assert.equal(rr.status, status, `expected status ${status}, got ${rr.status} (${rr.statusText})`)
    assert.ok(rr.statusText?.length > 0, 'error without statusText')
    assert.equal(rr.ttl, undefined, 'error answer carries a ttl')
  } else {
    assert.equal(ans.type, T.DISCOVER_RESPONSE)
    const dr = ans.discoverResponse
    assert.equal(dr.status, status, `expected status ${status}, got ${dr.status} (${dr.statusText})`)
    assert.ok(dr.statusText?.length > 0, 'error without statusText')
    assert.equal(dr.cookie, undefined, 'error answer carries a cookie')
    assert.equal(dr.registrations.length, 0, 'error answer carries registrations')
  }
}

/** An OK DISCOVER_RESPONSE, checked as rust-libp2p would (WIRE.md §1.7). */
function okDiscover (ans, ns) {
  assert.equal(ans.type, T.DISCOVER_RESPONSE)
  const dr = ans.discoverResponse
  assert.ok(dr, 'no discoverResponse')
  assert.equal(dr.status, S.OK, `status ${dr.status}: ${dr.statusText}`)
  assert.ok(dr.cookie, 'OK DISCOVER_RESPONSE without a cookie')
  const c = parseCookie(dr.cookie)
  assert.equal(c.ns, ns ?? '', 'cookie namespace is not the query namespace')
  for (const r of dr.registrations) {
    assert.ok(r.ns !== undefined, 'registration without ns')
    assert.ok(r.signedPeerRecord?.length > 0, 'registration without signedPeerRecord')
    assert.ok(r.ttl !== undefined && r.ttl >= 1n, `registration ttl ${r.ttl}`)
  }
  return dr
}

/** Opens a returned record the way js-libp2p consumes it and gives its peer id text. */
async function recordPeer (bytes) {
  const env = await RecordEnvelope.openAndCertify(bytes, PeerRecord.DOMAIN)
  return PeerRecord.createFromProtobuf(env.payload).peerId.toString()
}

test('register, discover and unregister with a real signed peer record', TT, async (t) => {
  const daemon = await startDaemon(t, listenArgs())
  const a = await client(t, daemon)
  const b = await client(t, daemon)
  const record = await a.record()

  assertRegistered(await register(a, 'chat', undefined, record), 7200)

  const dr = okDiscover(await discover(b, 'chat'), 'chat')
  assert.equal(dr.registrations.length, 1)
  const reg = dr.registrations[0]
  assert.equal(reg.ns, 'chat')
  assert.equal(hex(reg.signedPeerRecord), hex(record), 'envelope not returned byte for byte')
  assert.ok(reg.ttl <= 7200n && reg.ttl >= 7190n, `remaining ttl ${reg.ttl}`)
  assert.equal(await recordPeer(reg.signedPeerRecord), a.peerId.toString())
  const env = await RecordEnvelope.openAndCertify(reg.signedPeerRecord, PeerRecord.DOMAIN)
  assert.deepEqual(PeerRecord.createFromProtobuf(env.payload).multiaddrs.map(String), [ADDR])

  // UNREGISTER has no answer: the next message on the stream answers the DISCOVER.
  const s = await a.stream()
  s.send(rdv1Unregister('chat'))
  const after = okDiscover(await request(s, rdv1Discover('chat')), 'chat')
  assert.equal(after.registrations.length, 0, 'still registered after UNREGISTER')
  await s.close()
  assert.equal(await s.next(), null, 'the daemon did not close its side after ours')
})

test('answers carry the fields rust-libp2p requires, errors carry none of them', TT, async (t) => {
  const daemon = await startDaemon(t, listenArgs())
  const a = await client(t, daemon)
  const s = await a.stream()

  s.send(rdv1Register('fields', await a.record(), 120n))
  let raw = decodeFields(await s.next())
  assert.deepEqual(raw.get(1), [1n], 'type REGISTER_RESPONSE not written')
  let sub = decodeFields(raw.get(3)[0])
  assert.deepEqual(sub.get(1), [0n], 'status OK not written explicitly')
  assert.deepEqual(sub.get(3), [120n], 'granted ttl not written')

  s.send(rdv1Discover('fields'))
  raw = decodeFields(await s.next())
  assert.deepEqual(raw.get(1), [4n])
  sub = decodeFields(raw.get(6)[0])
  assert.deepEqual(sub.get(3), [0n], 'DISCOVER_RESPONSE status OK not written')
  assert.equal(sub.get(2)?.length, 1, 'no cookie')
  const entry = decodeFields(sub.get(1)[0])
  for (const f of [1, 2, 3]) assert.equal(entry.get(f)?.length, 1, `registration field ${f} missing`)

  // An empty namespace: error answer with status and text only.
  s.send(rdv1Register('', await a.record()))
  raw = decodeFields(await s.next())
  sub = decodeFields(raw.get(3)[0])
  assert.deepEqual(sub.get(1), [100n])
  assert.ok(sub.get(2)?.[0].length > 0, 'no statusText')
  assert.equal(sub.get(3), undefined, 'ttl in an error answer')

  // An empty DISCOVER result still has status and a cookie.
  const empty = okDiscover(await request(s, rdv1Discover('nobody-here')), 'nobody-here')
  assert.equal(empty.registrations.length, 0)
  await s.close()
})

test('TTL: absent or 0 means 7200 s, the granted TTL is returned and counts down', TT, async (t) => {
  const daemon = await startDaemon(t, listenArgs())
  const a = await client(t, daemon)
  assertRegistered(await register(a, 'ttl-a', 0n), 7200)
  assertRegistered(await register(a, 'ttl-b', 3600n), 3600)
  assertRegistered(await register(a, 'ttl-c', 60n), 60)
  assertRegistered(await register(a, 'ttl-d', 259200n), 259200)
  // A refresh replaces the TTL.
  assertRegistered(await register(a, 'ttl-b', 90n), 90)
  await sleep(1100)
  const dr = okDiscover(await discover(a, 'ttl-b'), 'ttl-b')
  assert.equal(dr.registrations.length, 1)
  assert.ok(dr.registrations[0].ttl <= 89n && dr.registrations[0].ttl >= 30n,
    `remaining ttl ${dr.registrations[0].ttl} after 1.1 s of 90`)
})

test('cookie paging: 5 peers, limit 2 → 2, 2, 1, then empty with a cookie', TT, async (t) => {
  const daemon = await startDaemon(t, listenArgs())
  const peers = []
  for (let i = 0; i < 5; i++) {
    const c = await client(t, daemon)
    assertRegistered(await register(c, 'paging'), 7200)
    peers.push(c.peerId.toString())
  }
  const q = await client(t, daemon)
  const s = await q.stream()
  const seen = []
  let cookie
  for (const want of [2, 2, 1, 0]) {
    const dr = okDiscover(await request(s, rdv1Discover('paging', 2n, cookie)), 'paging')
    assert.equal(dr.registrations.length, want, `page of ${dr.registrations.length}, expected ${want}`)
    for (const r of dr.registrations) seen.push(await recordPeer(r.signedPeerRecord))
    assert.ok(dr.cookie, 'page without a cookie')
    cookie = dr.cookie
  }
  assert.deepEqual(seen, peers, 'pages are not the registrations in registration order')

  // Polling with the last cookie: nothing until someone new registers.
  const late = await client(t, daemon)
  assertRegistered(await register(late, 'paging'), 7200)
  const dr = okDiscover(await request(s, rdv1Discover('paging', 2n, cookie)), 'paging')
  assert.deepEqual(await Promise.all(dr.registrations.map((r) => recordPeer(r.signedPeerRecord))),
    [late.peerId.toString()])
  await s.close()
})

test('a re-registration is reported again to cookie holders', TT, async (t) => {
  const daemon = await startDaemon(t, listenArgs())
  const a = await client(t, daemon)
  const b = await client(t, daemon)
  assertRegistered(await register(a, 'refresh'), 7200)
  assertRegistered(await register(b, 'refresh'), 7200)
  const first = okDiscover(await discover(a, 'refresh'), 'refresh')
  assert.equal(first.registrations.length, 2)
  assertRegistered(await register(a, 'refresh', 600n), 600)
  const next = okDiscover(await discover(a, 'refresh', undefined, first.cookie), 'refresh')
  assert.equal(next.registrations.length, 1)
  assert.equal(await recordPeer(next.registrations[0].signedPeerRecord), a.peerId.toString())
  assert.ok(next.registrations[0].ttl <= 600n)
})

test('DISCOVER of all namespaces: ns absent or empty', TT, async (t) => {
  const daemon = await startDaemon(t, listenArgs())
  const a = await client(t, daemon)
  const b = await client(t, daemon)
  assertRegistered(await register(a, 'ns-one'), 7200)
  assertRegistered(await register(b, 'ns-two'), 7200)
  assertRegistered(await register(b, 'ns-three'), 7200)

  for (const ns of [undefined, '']) {
    const dr = okDiscover(await discover(a, ns), '')
    assert.deepEqual(dr.registrations.map((r) => r.ns).sort(), ['ns-one', 'ns-three', 'ns-two'])
    assert.equal(dr.cookie.length, 8, 'all-namespaces cookie has a namespace tail')
  }
  // Paging across namespaces with the all-namespaces cookie.
  const p1 = okDiscover(await discover(a, undefined, 2n), '')
  assert.equal(p1.registrations.length, 2)
  const p2 = okDiscover(await discover(a, undefined, 2n, p1.cookie), '')
  assert.deepEqual(p2.registrations.map((r) => r.ns), ['ns-three'])
  // That cookie is not valid for a single namespace, and vice versa.
  assertRefused(await discover(a, 'ns-one', undefined, p1.cookie), S.E_INVALID_COOKIE)
  const one = okDiscover(await discover(a, 'ns-one'), 'ns-one')
  assertRefused(await discover(a, undefined, undefined, one.cookie), S.E_INVALID_COOKIE)
})

test('many requests on one stream, and one request per half-closed stream', TT, async (t) => {
  const daemon = await startDaemon(t, listenArgs())
  const a = await client(t, daemon)

  // go-style: everything on one stream, answered in order.
  const s = await a.stream()
  s.send(rdv1Register('multi-1', await a.record()))
  s.send(rdv1Register('multi-2', await a.record(), 300n))
  s.send(rdv1Discover('multi-1'))
  s.send(rdv1Unregister('multi-1'))
  s.send(rdv1Discover())
  assertRegistered(decodeRdv1(await s.next()), 7200)
  assertRegistered(decodeRdv1(await s.next()), 300)
  assert.equal(okDiscover(decodeRdv1(await s.next()), 'multi-1').registrations.length, 1)
  const all = okDiscover(decodeRdv1(await s.next()), '')
  assert.deepEqual(all.registrations.map((r) => r.ns), ['multi-2'])
  for (let i = 0; i < 20; i++) {
    okDiscover(await request(s, rdv1Discover('multi-2', 1n)), 'multi-2')
  }
  await s.close()
  assert.equal(await s.next(), null)

  // rust-style: write one request, half-close, read the answer, see the FIN.
  for (const msg of [rdv1Register('multi-3', await a.record()), rdv1Discover('multi-3')]) {
    const one = await a.stream()
    one.send(msg)
    await one.close()
    const ans = decodeRdv1(await one.next())
    assert.ok(ans.registerResponse?.status === 0 || ans.discoverResponse?.status === 0)
    assert.equal(await one.next(), null, 'no FIN after the single answer')
  }
  // UNREGISTER alone on a stream: no answer, just the FIN.
  const u = await a.stream()
  u.send(rdv1Unregister('multi-3'))
  await u.close()
  assert.equal(await u.next(), null)
  assert.equal(okDiscover(await discover(a, 'multi-3'), 'multi-3').registrations.length, 0)
  assert.equal(a.conn.status, 'open')
})

test('signed peer record problems: another key → 200, bad envelopes → 101', TT, async (t) => {
  const daemon = await startDaemon(t, listenArgs())
  const a = await client(t, daemon)
  const other = await generateKeyPair('Ed25519')

  // Valid record, but of another peer than the one on the connection.
  assertRefused(await register(a, 'auth', undefined, await signedRecord(other, [ADDR])), S.E_NOT_AUTHORIZED)

  // Tampered signature.
  const good = await a.record()
  const bad = Uint8Array.from(good)
  bad[bad.length - 1] ^= 0x01
  assertRefused(await register(a, 'auth', undefined, bad), S.E_INVALID_SIGNED_PEER_RECORD)

  // Public key of someone else in the envelope (signature no longer matches).
  const env = decodeFields(good)
  const swapped = encodeFields([
    [1, 'msg', decodeFields(await signedRecord(other)).get(1)[0]],
    [2, 'bytes', env.get(2)[0]], [3, 'bytes', env.get(3)[0]], [5, 'bytes', env.get(5)[0]]])
  assertRefused(await register(a, 'auth', undefined, swapped), S.E_INVALID_SIGNED_PEER_RECORD)

  // Wrong payload type (not a peer record), garbage, and no record at all.
  const wrongType = encodeFields([
    [1, 'msg', env.get(1)[0]], [2, 'bytes', Uint8Array.from([0x03, 0x02])],
    [3, 'bytes', env.get(3)[0]], [5, 'bytes', env.get(5)[0]]])
  assertRefused(await register(a, 'auth', undefined, wrongType), S.E_INVALID_SIGNED_PEER_RECORD)
  assertRefused(await register(a, 'auth', undefined, randomBytes(100)), S.E_INVALID_SIGNED_PEER_RECORD)
  const s = await a.stream()
  assertRefused(await request(s, rdv1Message({ type: T.REGISTER, register: { ns: 'auth' } })),
    S.E_INVALID_SIGNED_PEER_RECORD)
  await s.close()

  assert.equal(okDiscover(await discover(a, 'auth'), 'auth').registrations.length, 0)
})

test('namespaces: 255 bytes ok; 256 bytes, empty or not UTF-8 → 100', TT, async (t) => {
  const daemon = await startDaemon(t, listenArgs())
  const a = await client(t, daemon)
  const ns255 = 'n'.repeat(255)
  assertRegistered(await register(a, ns255), 7200)
  assertRefused(await register(a, 'n'.repeat(256)), S.E_INVALID_NAMESPACE)
  assertRefused(await register(a, ''), S.E_INVALID_NAMESPACE)
  assertRefused(await register(a, Uint8Array.from([0x61, 0xff, 0x62])), S.E_INVALID_NAMESPACE)
  assertRefused(await register(a, Uint8Array.from([0x61, 0x00, 0x62])), S.E_INVALID_NAMESPACE)
  // 255 bytes of multi-byte UTF-8 are fine, 256 are not.
  assertRegistered(await register(a, 'é'.repeat(127) + 'x'), 7200)
  assertRefused(await register(a, 'é'.repeat(128)), S.E_INVALID_NAMESPACE)
  // A REGISTER without ns.
  const s = await a.stream()
  assertRefused(await request(s, rdv1Message({ type: T.REGISTER, register: { signedPeerRecord: await a.record() } })),
    S.E_INVALID_NAMESPACE)
  await s.close()

  assertRefused(await discover(a, 'n'.repeat(256)), S.E_INVALID_NAMESPACE)
  assertRefused(await discover(a, Uint8Array.from([0xc0, 0x80])), S.E_INVALID_NAMESPACE)
  const dr = okDiscover(await discover(a, ns255), ns255)
  assert.equal(dr.registrations.length, 1)
  assert.equal(dr.registrations[0].ns, ns255)
})

test('TTL outside the accepted range → 102', TT, async (t) => {
  const daemon = await startDaemon(t, listenArgs())
  const a = await client(t, daemon)
  assertRefused(await register(a, 'ttl', 259201n), S.E_INVALID_TTL)
  assertRefused(await register(a, 'ttl', 59n), S.E_INVALID_TTL)
  assertRefused(await register(a, 'ttl', 1n), S.E_INVALID_TTL)
  // An old int64 sender's -1 arrives as a huge uint64.
  assertRefused(await register(a, 'ttl', -1n), S.E_INVALID_TTL)
  assert.equal(okDiscover(await discover(a, 'ttl'), 'ttl').registrations.length, 0)
})

test('forged and mismatched cookies → 103', TT, async (t) => {
  const daemon = await startDaemon(t, listenArgs())
  const a = await client(t, daemon)
  assertRegistered(await register(a, 'cookies'), 7200)
  const good = okDiscover(await discover(a, 'cookies'), 'cookies').cookie

  const future = Uint8Array.from(good)
  future.fill(0xff, 0, 8)
  const cases = {
    'random bytes': randomBytes(24),
    'too short': Uint8Array.from([1, 2, 3, 4]),
    'seq never issued': future,
    'another namespace': concat([good.subarray(0, 8), new TextEncoder().encode('other')])
  }
  for (const [what, cookie] of Object.entries(cases)) {
    const ans = await discover(a, 'cookies', undefined, cookie)
    assert.equal(ans.discoverResponse?.status, S.E_INVALID_COOKIE, `${what}: status ${ans.discoverResponse?.status}`)
    assertRefused(ans, S.E_INVALID_COOKIE)
  }
  // The real one still works.
  assert.equal(okDiscover(await discover(a, 'cookies', undefined, good), 'cookies').registrations.length, 0)
})

test('identity and record keys: Ed25519, secp256k1, RSA and ECDSA', TT, async (t) => {
  const daemon = await startDaemon(t, listenArgs())
  const ids = []
  for (const type of ['Ed25519', 'secp256k1', 'RSA']) {
    const c = await client(t, daemon, type)
    assertRegistered(await register(c, 'keys'), 7200)
    ids.push(c.peerId.toString())
  }
  const q = await client(t, daemon)
  const dr = okDiscover(await discover(q, 'keys'), 'keys')
  assert.deepEqual(await Promise.all(dr.registrations.map((r) => recordPeer(r.signedPeerRecord))), ids)

  // js-libp2p cannot be an ECDSA peer, so an ECDSA record can only come from
  // someone else than the sender: verified (200, not 101), then refused.
  const { record } = ecdsaSignedRecord([ADDR])
  assertRefused(await register(q, 'keys', undefined, record), S.E_NOT_AUTHORIZED)
  const tampered = Uint8Array.from(record)
  tampered[tampered.length - 3] ^= 0x10
  assertRefused(await register(q, 'keys', undefined, tampered), S.E_INVALID_SIGNED_PEER_RECORD)
})

test('legacy rust-libp2p records (libp2p-routing-state) are accepted and returned unchanged', TT, async (t) => {
  const daemon = await startDaemon(t, listenArgs())
  for (const type of ['Ed25519', 'secp256k1']) {
    const a = await client(t, daemon, type)
    const legacy = await legacySignedRecord(a.privateKey, [ADDR, '/ip4/10.0.0.2/udp/4001/quic-v1'])
    assertRegistered(await register(a, `legacy-${type}`, undefined, legacy), 7200)
    const dr = okDiscover(await discover(a, `legacy-${type}`), `legacy-${type}`)
    assert.equal(dr.registrations.length, 1)
    assert.equal(hex(dr.registrations[0].signedPeerRecord), hex(legacy))

    // Signed under the legacy domain but labelled as a standard record: refused.
    const f = decodeFields(legacy)
    const mislabelled = encodeFields([[1, 'msg', f.get(1)[0]], [2, 'bytes', Uint8Array.from([3, 1])],
      [3, 'bytes', f.get(3)[0]], [5, 'bytes', f.get(5)[0]]])
    assertRefused(await register(a, 'legacy-bad', undefined, mislabelled), S.E_INVALID_SIGNED_PEER_RECORD)
  }
})

test('proto3 senders: an absent type is REGISTER, absent ttl the default', TT, async (t) => {
  const daemon = await startDaemon(t, listenArgs())
  const a = await client(t, daemon)
  const s = await a.stream()
  assertRegistered(await request(s, rdv1Message({ register: { ns: 'proto3', signedPeerRecord: await a.record() } })), 7200)
  // The deprecated Unregister.id field (2) is ignored.
  s.send(encodeFields([[1, 'varint', T.UNREGISTER],
    [4, 'msg', encodeFields([[1, 'bytes', 'proto3'], [2, 'bytes', randomBytes(38)]])]]))
  assert.equal(okDiscover(await request(s, rdv1Discover('proto3')), 'proto3').registrations.length, 0)
  await s.close()
})

test('UNREGISTER only removes the sender\'s own registration; unknown is a no-op', TT, async (t) => {
  const daemon = await startDaemon(t, listenArgs())
  const a = await client(t, daemon)
  const b = await client(t, daemon)
  assertRegistered(await register(a, 'mine'), 7200)
  const s = await b.stream()
  s.send(rdv1Unregister('mine'))
  s.send(rdv1Unregister('never-registered'))
  s.send(rdv1Unregister('n'.repeat(300)))
  const dr = okDiscover(await request(s, rdv1Discover('mine')), 'mine')
  assert.equal(dr.registrations.length, 1)
  assert.equal(await recordPeer(dr.registrations[0].signedPeerRecord), a.peerId.toString())
  await s.close()
})

test('a request that is not a rendezvous request resets only its stream', TT, async (t) => {
  const daemon = await startDaemon(t, listenArgs())
  const a = await client(t, daemon)
  const bad = {
    'a REGISTER_RESPONSE from the client': rdv1Message({ type: T.REGISTER_RESPONSE }),
    'a DISCOVER_RESPONSE from the client': rdv1Message({ type: T.DISCOVER_RESPONSE }),
    'an unknown type': rdv1Message({ type: 9 }),
    'REGISTER without its body': rdv1Message({ type: T.REGISTER }),
    'bytes that are not protobuf': Uint8Array.from([0xff, 0xff, 0xff])
  }
  for (const [what, msg] of Object.entries(bad)) {
    const s = await a.stream()
    s.send(msg)
    assert.equal(await expectNoAnswerThenEnd(s), 'reset', `${what}: stream was not reset`)
  }
  // An oversize length prefix (over 1 MiB) is refused too.
  const big = await a.stream()
  big.sendRaw(Uint8Array.from([0x80, 0x80, 0x80, 0x01]))
  assert.equal(await expectNoAnswerThenEnd(big), 'reset')

  assert.equal(a.conn.status, 'open')
  assertRegistered(await register(a, 'still-fine'), 7200)
})

test('limits: registrations per peer and in total → 400', TT, async (t) => {
  const daemon = await startDaemon(t, listenArgs('--max-registrations-per-peer', '2', '--max-registrations', '3'))
  const a = await client(t, daemon)
  assertRegistered(await register(a, 'lim-1'), 7200)
  assertRegistered(await register(a, 'lim-2'), 7200)
  assertRefused(await register(a, 'lim-3'), S.E_UNAVAILABLE)
  // Refreshing an existing registration is not a new one.
  assertRegistered(await register(a, 'lim-2', 120n), 120)
  const b = await client(t, daemon)
  assertRegistered(await register(b, 'lim-1'), 7200)
  assertRefused(await register(b, 'lim-2'), S.E_UNAVAILABLE)
  // Room again after an UNREGISTER.
  const s = await a.stream()
  s.send(rdv1Unregister('lim-1'))
  assertRegistered(await request(s, rdv1Register('lim-3', await a.record())), 7200)
  await s.close()
})

test('DISCOVER limit: absent or 0 → the server default, capped at the maximum', TT, async (t) => {
  const daemon = await startDaemon(t, listenArgs('--discover-default', '3', '--discover-max', '4'))
  const q = await client(t, daemon)
  for (let i = 0; i < 6; i++) {
    const c = await client(t, daemon)
    assertRegistered(await register(c, 'limits'), 7200)
  }
  assert.equal(okDiscover(await discover(q, 'limits'), 'limits').registrations.length, 3)
  assert.equal(okDiscover(await discover(q, 'limits', 0n), 'limits').registrations.length, 3)
  assert.equal(okDiscover(await discover(q, 'limits', 1n), 'limits').registrations.length, 1)
  const capped = okDiscover(await discover(q, 'limits', 1000n), 'limits')
  assert.equal(capped.registrations.length, 4)
  const rest = okDiscover(await discover(q, 'limits', 1000n, capped.cookie), 'limits')
  assert.equal(rest.registrations.length, 2)
})

test('DISCOVER answers stay within 1 MiB and the cookie continues after the last one sent', TT, async (t) => {
  // one peer registers in 600 namespaces at once: beyond the default burst
  const daemon = await startDaemon(t, listenArgs('--register-rate', '0'))
  const a = await client(t, daemon)
  // ~2.1 KiB records (the registry keeps at most 2048 address bytes) in 600
  // namespaces: 1.3 MB in all.
  const addrs = Array.from({ length: 16 }, (_, i) => `/dns4/${'h'.repeat(100)}${i}.example/tcp/4001`)
  const record = await a.record(addrs)
  const s = await a.stream()
  const N = 600
  for (let i = 0; i < N; i++) s.send(rdv1Register(`big-${i}`, record))
  for (let i = 0; i < N; i++) assertRegistered(decodeRdv1(await s.next()), 7200)

  const seen = new Set()
  let cookie
  let pages = 0
  for (;;) {
    s.send(rdv1Discover(undefined, 1000n, cookie))
    const msg = await s.next()
    assert.ok(msg.length <= 1 << 20, `answer of ${msg.length} bytes`)
    const dr = okDiscover(decodeRdv1(msg), '')
    pages++
    for (const r of dr.registrations) {
      assert.ok(!seen.has(r.ns), `${r.ns} returned twice`)
      seen.add(r.ns)
    }
    cookie = dr.cookie
    if (dr.registrations.length === 0) break
  }
  assert.equal(seen.size, N)
  assert.ok(pages >= 3, `only ${pages} pages for ${N} registrations of 2 KiB`)
  await s.close()
})

/**
 * A push-mode (/rendezvous/legacy/1.0.0, WIRE.md §2.3) subscriber: sends
 * RENDEZVOUS{ns} and collects REGISTER / UNREGISTER announcements.
 */
async function pushSubscriber (t, daemon, ns) {
  const c = await client(t, daemon)
  const s = await openMsgStream(c.conn, '/rendezvous/legacy/1.0.0', deadline())
  s.send(encodeFields([[1, 'varint', 2], [4, 'msg', encodeFields([[1, 'bytes', ns]])]]))
  return {
    /** Next announcement: { type: 'register'|'unregister', ns, peer, addrs }. */
    async next (ms) {
      const m = decodeFields(await s.next(ms))
      const type = Number(m.get(1)?.[0] ?? 0n)
      const entries = m.get(type === 0 ? 2 : 3) ?? []
      return entries.map((e) => {
        const f = decodeFields(e)
        const peer = decodeFields(f.get(2)?.[0] ?? new Uint8Array(0))
        return {
          type: type === 0 ? 'register' : 'unregister',
          ns: new TextDecoder().decode(f.get(1)?.[0]),
          peer: new TextDecoder().decode(peer.get(1)?.[0]),
          addrs: (peer.get(2) ?? []).map(hex)
        }
      })
    }
  }
}

test('expiry: a registration past its TTL leaves DISCOVER and is announced to push subscribers', TT, async (t) => {
  const daemon = await startDaemon(t, listenArgs('--ttl-min', '1'))
  const sub = await pushSubscriber(t, daemon, 'expiring')
  const a = await client(t, daemon)
  const b = await client(t, daemon)
  const record = await a.record()
  // 6 s: long enough to see it arrive and discover it first even under ASan
  // on a loaded machine; the expiry is awaited as an event.
  assertRegistered(await register(a, 'expiring', 6n, record), 6)
  assertRegistered(await register(b, 'expiring', 30n), 30)

  // The push subscriber sees both arrive, with the peer and addresses of the record.
  const arrived = [...await sub.next(), ...await sub.next()]
  assert.deepEqual(arrived.map((e) => [e.type, e.ns, e.peer]),
    [['register', 'expiring', a.peerId.toString()], ['register', 'expiring', b.peerId.toString()]])
  const env = await RecordEnvelope.openAndCertify(record, PeerRecord.DOMAIN)
  assert.deepEqual(arrived[0].addrs, PeerRecord.createFromProtobuf(env.payload).multiaddrs.map((m) => hex(m.bytes)))

  assert.equal(okDiscover(await discover(b, 'expiring'), 'expiring').registrations.length, 2)
  const left = await sub.next(30_000)
  assert.deepEqual(left.map((e) => [e.type, e.ns, e.peer]), [['unregister', 'expiring', a.peerId.toString()]])
  const dr = okDiscover(await discover(b, 'expiring'), 'expiring')
  assert.deepEqual(await Promise.all(dr.registrations.map((r) => recordPeer(r.signedPeerRecord))),
    [b.peerId.toString()])

  // An UNREGISTER is announced the same way.
  const s = await b.stream()
  s.send(rdv1Unregister('expiring'))
  await s.close()
  const gone = await sub.next()
  assert.deepEqual(gone.map((e) => [e.type, e.peer]), [['unregister', b.peerId.toString()]])
})
