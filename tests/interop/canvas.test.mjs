// @canvas-js/libp2p-rendezvous, a published js rendezvous client, against
// rendezvousd serving the standard wire format under the client's own
// protocol id (--rendezvous-protocol /canvas/rendezvous/1.0.0). The client
// is built on js-libp2p 2, so it lives in its own tree, canvas/ (installed
// with `npm ci --ignore-scripts` by tools/install-deps.sh: its better-sqlite3
// belongs to the canvas server, which the client never loads), and runs as
// a child process (canvas/client.mjs).
//
// Run: cd tests/interop && node --test --test-concurrency=1 ./canvas.test.mjs
// RDV_BUILD selects the folder holding rendezvousd and rdv (default: ../../build).

import './lib/polyfill.mjs'

import assert from 'node:assert/strict'
import { constants as fsConstants } from 'node:fs'
import { access } from 'node:fs/promises'
import path from 'node:path'
import { test } from 'node:test'

import { INTEROP_DIR, run, startDaemon, tcpAddr } from './lib/daemon.mjs'
import { RDV1_PROTOCOL } from './lib/rendezvous.mjs'

const TT = { timeout: 60_000 }
const CANVAS = '/canvas/rendezvous/1.0.0'
const CANVAS_DIR = path.join(INTEROP_DIR, 'canvas')

test('canvas-js client: registers, is discovered, unregisters, with its own protocol id', TT, async (t) => {
  try {
    await access(path.join(CANVAS_DIR, 'node_modules', '@canvas-js', 'libp2p-rendezvous'), fsConstants.R_OK)
  } catch {
    assert.fail(`${CANVAS_DIR}/node_modules is missing: run make deps (or npm ci --ignore-scripts there)`)
  }
  const daemon = await startDaemon(t, ['--listen', '/ip4/127.0.0.1/tcp/0', '--metrics', 'off',
    '--rendezvous-protocol', RDV1_PROTOCOL, '--rendezvous-protocol', CANVAS])
  const res = await run(process.execPath, [path.join(CANVAS_DIR, 'client.mjs'), tcpAddr(daemon).toString(), 'canvas-room'], 45_000)
  assert.equal(res.code, 0, `canvas client failed:\n${res.stderr}`)
  const out = JSON.parse(res.stdout.trim().split('\n').pop())
  assert.deepEqual(out.register, { ttl: 7200 })
  assert.deepEqual(out.discovered, [{ id: out.a, addrs: ['/ip4/10.0.0.1/tcp/4001'] }])
  assert.equal(out.after, 0)
})

test('canvas-js client against a daemon without the alias: UnsupportedProtocolError', TT, async (t) => {
  const daemon = await startDaemon(t, ['--listen', '/ip4/127.0.0.1/tcp/0', '--metrics', 'off'])
  const res = await run(process.execPath, [path.join(CANVAS_DIR, 'client.mjs'), tcpAddr(daemon).toString(), 'canvas-room'], 45_000)
  assert.notEqual(res.code, 0, `canvas client succeeded without the alias:\n${res.stdout}`)
  assert.match(res.stderr, /UnsupportedProtocolError: protocol selection failed/, res.stderr)
})
