// examples/relay-bootstrap as its README runs it: rendezvousd --relay on
// loopback as the one well-known node, two headless Chromium pages that
// reserve a slot on its relay, join a room at it with their /p2p-circuit
// addresses, find each other and exchange a message through the relay
// (within the default circuit limits: 2 minutes, 128 KiB each way).

import './lib/polyfill.mjs'

import assert from 'node:assert/strict'
import path from 'node:path'
import { test } from 'node:test'

import { launch, openPage, serveDir, waitIn } from './lib/chromium.mjs'
import { INTEROP_DIR, deadline, startDaemon, tempDir, withTimeout } from './lib/daemon.mjs'

const EXAMPLE_DIR = path.resolve(INTEROP_DIR, '../../examples/relay-bootstrap')

/** The value of one rendezvousd_relay_* series on the daemon's metrics page. */
async function relayMetric (daemon, series) {
  const url = daemon.output().match(/Metrics: (http:\/\/\S+)/)?.[1]
  assert.ok(url, 'the daemon prints its metrics address')
  const text = await (await fetch(url, { signal: deadline() })).text()
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  assert.ok(line != null, `${series} on the metrics page`)
  return Number(line.slice(series.length + 1))
}

test('relay bootstrap: two browsers reserve on rendezvousd --relay, meet there and talk through it', { timeout: 90_000 }, async (t) => {
  const { build } = await import(path.join(EXAMPLE_DIR, 'build.mjs'))
  await withTimeout(build({ minify: false }), 30_000, 'building the example bundle')
  const dir = await tempDir(t)
  // As the README runs it: one daemon, relay and rendezvous point, default circuit limits.
  const daemon = await startDaemon(t, ['--listen', '/ip4/127.0.0.1/tcp/0/ws', '--key', path.join(dir, 'server.key'),
    '--relay', '--metrics', '127.0.0.1:0'])
  const server = daemon.addrs.map(String).find((a) => a.includes('/ws/p2p/'))
  const serverId = server.split('/p2p/')[1]
  const site = await serveDir(t, EXAMPLE_DIR)
  const browser = await launch(t)
  const url = `${site}/index.html?server=${encodeURIComponent(server)}&ns=relayed-browsers&start=1`

  const open = async () => {
    const page = await openPage(browser, url)
    await waitIn(page, 'joining', () => document.body.dataset.joined || document.body.dataset.error)
    assert.equal(await page.evaluate(() => document.body.dataset.error), undefined, page.output())
    await waitIn(page, 'the relay reservation', () => document.body.dataset.reserved)
    const id = await page.evaluate(() => document.getElementById('self').textContent)
    const addrs = await page.evaluate(() => document.getElementById('addrs').textContent)
    // js-libp2p 3: the relayed address already ends in /p2p/<self>.
    assert.equal(addrs, `${server}/p2p-circuit/p2p/${id}`)
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
    assert.ok(listed.includes(`/p2p/${serverId}/p2p-circuit/p2p/${other.id}`), listed)
  }

  // The hellos went through the daemon's relay, and its limits cut nothing.
  assert.equal(await relayMetric(daemon, 'rendezvousd_relay_reservations'), 2)
  assert.ok(await relayMetric(daemon, 'rendezvousd_relay_circuits_total') >= 1)
  for (const reason of ['data', 'duration']) {
    assert.equal(await relayMetric(daemon, `rendezvousd_relay_circuits_ended_total{reason="${reason}"}`), 0, reason)
  }
})
