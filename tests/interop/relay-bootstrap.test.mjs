// examples/relay-bootstrap as its README runs it: rendezvousd and the
// example's circuit relay on loopback, two headless Chromium pages that
// reserve a slot on the relay, join a room at rendezvousd with their
// /p2p-circuit addresses, find each other and exchange a message through
// the relay.

import './lib/polyfill.mjs'

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { test } from 'node:test'

import { launch, openPage, serveDir, waitIn } from './lib/chromium.mjs'
import { INTEROP_DIR, startDaemon, tempDir, withTimeout } from './lib/daemon.mjs'

const EXAMPLE_DIR = path.resolve(INTEROP_DIR, '../../examples/relay-bootstrap')

/** Runs the example's relay.mjs; resolves with its printed /ws address. Stopped after the test. */
async function startRelay (t) {
  const proc = spawn(process.execPath, [path.join(EXAMPLE_DIR, 'relay.mjs')], { stdio: ['ignore', 'pipe', 'pipe'] })
  const output = []
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })))
  t.after(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM')
    const { code } = await withTimeout(exited, 10_000, 'the relay stopping').catch((err) => { proc.kill('SIGKILL'); throw err })
    assert.equal(code, 0, `relay exit\n${output.join('\n')}`)
  })
  createInterface({ input: proc.stderr }).on('line', (l) => output.push(`[stderr] ${l}`))
  const addr = new Promise((resolve, reject) => {
    createInterface({ input: proc.stdout }).on('line', (l) => {
      output.push(l)
      if (l.startsWith('/') && l.includes('/ws/p2p/')) resolve(l.trim())
    })
    exited.then(({ code }) => reject(new Error(`relay exited (${code}) before printing its address\n${output.join('\n')}`)))
  })
  return withTimeout(addr, 15_000, 'the relay address')
}

test('relay bootstrap: two browsers reserve on the relay, meet at rendezvousd and talk through the relay', { timeout: 90_000 }, async (t) => {
  const { build } = await import(path.join(EXAMPLE_DIR, 'build.mjs'))
  await withTimeout(build({ minify: false }), 30_000, 'building the example bundle')
  const dir = await tempDir(t)
  const daemon = await startDaemon(t, ['--listen', '/ip4/127.0.0.1/tcp/0/ws', '--key', path.join(dir, 'server.key')])
  const server = daemon.addrs.map(String).find((a) => a.includes('/ws/p2p/'))
  const relay = await startRelay(t)
  const relayId = relay.split('/p2p/')[1]
  const site = await serveDir(t, EXAMPLE_DIR)
  const browser = await launch(t)
  const url = `${site}/index.html?relay=${encodeURIComponent(relay)}&server=${encodeURIComponent(server)}&ns=relayed-browsers&start=1`

  const open = async () => {
    const page = await openPage(browser, url)
    await waitIn(page, 'joining', () => document.body.dataset.joined || document.body.dataset.error)
    assert.equal(await page.evaluate(() => document.body.dataset.error), undefined, page.output())
    await waitIn(page, 'the relay reservation', () => document.body.dataset.reserved)
    const id = await page.evaluate(() => document.getElementById('self').textContent)
    const addrs = await page.evaluate(() => document.getElementById('addrs').textContent)
    // js-libp2p 3: the relayed address already ends in /p2p/<self>.
    assert.equal(addrs, `${relay}/p2p-circuit/p2p/${id}`)
    return { page, id }
  }
  const a = await open()
  const b = await open()

  // Each lists the other with its relayed address (registered again once the
  // reservation was up), and receives the other's hello over a relayed connection.
  for (const [me, other] of [[a, b], [b, a]]) {
    await waitIn(me.page, `${me.id} hearing from ${other.id}`,
      (id) => document.querySelector(`#received li[data-peer="${id}"]`) != null, other.id)
    const got = await me.page.$eval(`#received li[data-peer="${other.id}"]`, (li) => ({ text: li.textContent, relayed: li.dataset.relayed }))
    assert.deepEqual(got, { text: `hello from ${other.id}`, relayed: 'true' })
    const listed = await me.page.$eval(`#members li[data-peer="${other.id}"]`, (li) => li.textContent)
    assert.ok(listed.includes(`/p2p/${relayId}/p2p-circuit/p2p/${other.id}`), listed)
  }
})
