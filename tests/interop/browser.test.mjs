// The browser example (examples/browser) in a real browser: Debian's
// headless Chromium driven by playwright-core (no browser download), the
// pages served from 127.0.0.1 and talking to rendezvousd over /ws.
//
//  * presence (push mode): two pages join one room with display names, each
//    lists the other by name; one renames itself and the other shows the
//    new name; one leaves (no error on its own page) and the other sees it
//    go; a closed page is seen leaving too.
//  * register and discover with /rendezvous/1.0.0: a listener page registers
//    a signed peer record, a dialer page discovers it.
//
// Needs /usr/bin/chromium (lib/chromium.mjs).

import './lib/polyfill.mjs'

import assert from 'node:assert/strict'
import path from 'node:path'
import { before, test } from 'node:test'

import { launch, openPage, serveDir, waitIn } from './lib/chromium.mjs'
import { INTEROP_DIR, startDaemon, tempDir, withTimeout } from './lib/daemon.mjs'

const EXAMPLE_DIR = path.resolve(INTEROP_DIR, '../../examples/browser')
const T = { timeout: 60_000 }

/** The page's own peer id, once its node has started. */
const selfId = (page) => waitIn(page, 'the page node starting',
  () => /^12D3KooW/.test(document.getElementById('self').textContent) && document.getElementById('self').textContent)

/** The members list as [{ peer, name }]. */
const members = (page) => page.$$eval('#members li', (lis) => lis.map((li) => ({ peer: li.dataset.peer, name: li.dataset.name })))
const logLines = (page) => page.$$eval('#log div', (ds) => ds.map((d) => d.textContent))

before(async () => {
  const { build } = await import(path.join(EXAMPLE_DIR, 'build.mjs'))
  await withTimeout(build({ minify: false }), 30_000, 'building the example bundle')
})

async function setup (t) {
  const dir = await tempDir(t)
  const daemon = await startDaemon(t, ['--listen', '/ip4/127.0.0.1/tcp/0/ws', '--key', path.join(dir, 'server.key')])
  const ws = daemon.addrs.find((a) => a.toString().includes('/ws/'))
  assert.ok(ws, `daemon printed no /ws address: ${daemon.addrs.join(', ')}`)
  const site = await serveDir(t, EXAMPLE_DIR)
  const browser = await launch(t)
  return { daemon, server: ws.toString(), site, browser }
}

test('browser, presence: names as metadata, join, rename, leave, close', T, async (t) => {
  const { server, site, browser } = await setup(t)
  const join = async (name) => {
    const page = await openPage(browser, `${site}/index.html?server=${encodeURIComponent(server)}&ns=browser-room&name=${encodeURIComponent(name)}`)
    await page.click('#join')
    const id = await selfId(page)
    await waitIn(page, `${name} joining`, () => document.body.dataset.joined === 'browser-room' || document.body.dataset.status === 'error')
    assert.equal(await page.evaluate(() => document.body.dataset.status), 'connected')
    return { page, id, name }
  }
  const short = (id) => `${id.slice(0, 8)}…${id.slice(-4)}`
  const a = await join('Alice')
  const b = await join('Bob')
  const c = await join('Carol')

  for (const me of [a, b, c]) {
    const others = [a, b, c].filter((o) => o !== me)
    await waitIn(me.page, `${me.name} listing the others`, (n) => document.querySelectorAll('#members li').length === n, others.length)
    assert.deepEqual((await members(me.page)).sort((x, y) => x.name.localeCompare(y.name)),
      others.map((o) => ({ peer: o.id, name: o.name })), `${me.name}'s list (never itself)`)
    const text = await me.page.$$eval('#members li', (lis) => lis.map((li) => li.textContent))
    for (const o of others) assert.ok(text.includes(`${o.name} (${short(o.id)})`), JSON.stringify(text))
  }
  assert.ok((await logLines(a.page)).includes(`+ Bob (${short(b.id)})`))

  // Bob renames himself: Alice sees the new name, as an update.
  await b.page.fill('#name', 'Bob (away)')
  await b.page.click('#rename')
  await waitIn(a.page, 'Alice seeing the rename', (id) => document.querySelector(`#members li[data-peer="${id}"]`)?.dataset.name === 'Bob (away)', b.id)
  assert.ok((await logLines(a.page)).includes(`~ Bob (away) (${short(b.id)})`))

  // Carol leaves: her own page says so without any error, Alice sees her go.
  await c.page.click('#leave')
  await waitIn(c.page, 'Carol leaving', () => document.body.dataset.status === 'left')
  await waitIn(a.page, 'Alice seeing Carol leave', (id) => document.querySelector(`#members li[data-peer="${id}"]`) == null, c.id)
  const carolLog = await logLines(c.page)
  assert.ok(!carolLog.some((l) => /error|ended/i.test(l)), JSON.stringify(carolLog))
  assert.deepEqual(await members(c.page), [])

  // Bob's tab goes away: his connection ends and Alice sees him leave.
  await b.page.close()
  await waitIn(a.page, 'Alice seeing Bob leave', (id) => document.querySelector(`#members li[data-peer="${id}"]`) == null &&
    [...document.querySelectorAll('#log div')].some((d) => d.textContent === `- ${id.slice(0, 8)}…${id.slice(-4)}`), b.id)
  assert.deepEqual(await members(a.page), [])
})

test('browser, register and discover: a listener page registers a signed record, a dialer page discovers it', T, async (t) => {
  const { daemon, server, site, browser } = await setup(t)
  // The listener advertises an address through a relay, as a browser holding a
  // circuit reservation would (here the relay is the rendezvous server's id).
  const circuit = `${server}/p2p-circuit`
  const q = (role, extra = '') => `${site}/register-discover.html?role=${role}&server=${encodeURIComponent(server)}${extra}`

  const listener = await openPage(browser, q('listener', `&addr=${encodeURIComponent(circuit)}`))
  const listenerId = await selfId(listener)
  await waitIn(listener, 'registering', () => document.body.dataset.registered || document.body.dataset.error)
  assert.equal(await listener.evaluate(() => document.body.dataset.error), undefined)
  assert.equal(await listener.evaluate(() => document.body.dataset.registered), 'example-namespace')

  const dialer = await openPage(browser, q('dialer'))
  const dialerId = await selfId(dialer)
  assert.notEqual(dialerId, listenerId)
  await waitIn(dialer, 'discovering', () => document.body.dataset.discovered || document.body.dataset.error)
  assert.equal(await dialer.evaluate(() => document.body.dataset.error), undefined)
  const found = await dialer.$$eval('#discovered li', (lis) => lis.map((li) => ({ peer: li.dataset.peer, addrs: li.dataset.addrs })))
  assert.deepEqual(found, [{ peer: listenerId, addrs: circuit }])
  const log = await dialer.$$eval('#log div', (ds) => ds.map((d) => d.textContent))
  assert.ok(log.includes(`Discovered peer with id: ${listenerId} and multiaddrs ${circuit}`), JSON.stringify(log))
  assert.ok(circuit.includes(`/p2p/${daemon.peerId}/p2p-circuit`))
})
