// The browser example (examples/browser) in a real browser: Debian's
// headless Chromium driven by playwright-core (no browser download), the
// pages served from 127.0.0.1 and talking to rendezvousd over /ws.
//
//  * push mode: two pages join one namespace, each sees the other arrive;
//    one page closes and the other sees it leave.
//  * the seed 001 flow with /rendezvous/1.0.0: a listener page registers a
//    signed peer record, a dialer page discovers it.
//
// Needs /usr/bin/chromium (tools/install-deps.sh installs the `chromium`
// package); without it the tests fail rather than skip.

import './lib/polyfill.mjs'

import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import path from 'node:path'
import { before, test } from 'node:test'

import { launchChromium, openPage } from './lib/browser.mjs'
import { INTEROP_DIR, startDaemon, tempDir, withTimeout } from './lib/daemon.mjs'

const EXAMPLE_DIR = path.resolve(INTEROP_DIR, '../../examples/browser')
const T = { timeout: 60_000 }
/** Bound for anything a page is waited for. */
const PAGE_MS = 15_000

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.map': 'application/json' }

/** Serves examples/browser on 127.0.0.1 (ephemeral port); closed after the test. */
async function serveExample (t) {
  const server = createServer(async (req, res) => {
    const rel = decodeURIComponent(new URL(req.url, 'http://x').pathname).replace(/^\/+/, '') || 'index.html'
    const file = path.resolve(EXAMPLE_DIR, rel)
    if (!file.startsWith(EXAMPLE_DIR + path.sep)) { res.writeHead(403).end(); return }
    try {
      const body = await readFile(file)
      res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' }).end(body)
    } catch {
      res.writeHead(404).end()
    }
  })
  await new Promise((resolve, reject) => server.listen(0, '127.0.0.1', resolve).once('error', reject))
  t.after(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve) }))
  return `http://127.0.0.1:${server.address().port}`
}

const launch = (t) => launchChromium(t, { timeout: PAGE_MS })

/** Waits for `fn(arg)` to be truthy in the page; the page's log goes into the error. */
async function waitIn (page, what, fn, arg) {
  try {
    return await (await page.waitForFunction(fn, arg, { timeout: PAGE_MS, polling: 50 })).jsonValue()
  } catch (err) {
    throw new Error(`${what}: ${err.message.split('\n')[0]}\n--- page log ---\n${page.output()}`)
  }
}

/** The page's own peer id, once its node has started. */
const selfId = (page) => waitIn(page, 'the page node starting',
  () => /^12D3KooW/.test(document.getElementById('self').textContent) && document.getElementById('self').textContent)

/** The members list as [{ peer, addrs }]. */
const members = (page) => page.$$eval('#members li', (lis) => lis.map((li) => ({ peer: li.dataset.peer, addrs: li.dataset.addrs })))

before(async () => {
  const { build } = await import(path.join(EXAMPLE_DIR, 'build.mjs'))
  await withTimeout(build({ minify: false }), 30_000, 'building the example bundle')
})

async function setup (t) {
  const dir = await tempDir(t)
  const daemon = await startDaemon(t, ['--listen', '/ip4/127.0.0.1/tcp/0/ws', '--key', path.join(dir, 'server.key')])
  const ws = daemon.addrs.find((a) => a.toString().includes('/ws/'))
  assert.ok(ws, `daemon printed no /ws address: ${daemon.addrs.join(', ')}`)
  const site = await serveExample(t)
  const browser = await launch(t)
  return { daemon, server: ws.toString(), site, browser }
}

test('browser, push mode: two pages see each other join, then one leave', T, async (t) => {
  const { server, site, browser } = await setup(t)
  const ns = 'browser-room'

  const join = async () => {
    const page = await openPage(browser, `${site}/index.html`)
    await page.fill('#server', server)
    await page.fill('#ns', ns)
    await page.click('#join')
    const id = await selfId(page)
    await waitIn(page, 'joining', (n) => document.body.dataset.joined === n, ns)
    return { page, id }
  }
  const a = await join()
  const b = await join()
  assert.notEqual(a.id, b.id)

  // A was there first: it hears B's REGISTER announced; B gets A in the snapshot.
  for (const [me, other] of [[a, b], [b, a]]) {
    await waitIn(me.page, `page ${me.id} seeing ${other.id} arrive`,
      (id) => document.querySelector(`#members li[data-peer="${id}"]`) != null, other.id)
    assert.deepEqual((await members(me.page)).map((m) => m.peer), [other.id], 'nobody else (and not itself) is listed')
    const log = await me.page.$$eval('#log div', (ds) => ds.map((d) => d.textContent))
    assert.ok(log.includes(`+ ${other.id}`), `no REGISTER line for ${other.id} in ${JSON.stringify(log)}`)
  }

  // B's tab goes away: its connection ends, the server unregisters it and tells A.
  await b.page.close()
  await waitIn(a.page, `page ${a.id} seeing ${b.id} leave`,
    (id) => document.querySelector(`#members li[data-peer="${id}"]`) == null &&
      [...document.querySelectorAll('#log div')].some((d) => d.textContent === `- ${id}`), b.id)
  assert.deepEqual(await members(a.page), [])
})

test('browser, seed 001 flow: a listener page registers a signed record, a dialer page discovers it', T, async (t) => {
  const { daemon, server, site, browser } = await setup(t)
  // The listener advertises an address through a relay, as a browser holding a
  // circuit reservation would (here the relay is the rendezvous server's id).
  const circuit = `${server}/p2p-circuit`
  const q = (role, extra = '') => `${site}/rendezvous.html?role=${role}&server=${encodeURIComponent(server)}${extra}`

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
