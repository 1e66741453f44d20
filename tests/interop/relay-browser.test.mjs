// rendezvousd as the one bootstrap node of a browser-only network: two
// headless Chromium pages (Debian's chromium, driven by playwright-core)
// dial nothing but the daemon's /ws address, reserve a slot on it (--relay),
// join a push-mode room with their /p2p-circuit addresses
// (rendezvousd-client), find each other there, talk through the relay, and
// then upgrade to a direct WebRTC connection (@libp2p/webrtc), signalled
// over the relayed connection.
//
// The page is tests/interop/relay-page/page.js, bundled with esbuild.

import './lib/polyfill.mjs'

import assert from 'node:assert/strict'
import { copyFile, readFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import path from 'node:path'
import { test } from 'node:test'

import { launchChromium, openPage } from './lib/browser.mjs'
import { INTEROP_DIR, startDaemon, tempDir, withTimeout } from './lib/daemon.mjs'

const PAGE_DIR = path.join(INTEROP_DIR, 'relay-page')
const PAGE_MS = 30_000

/** Bundles the page into dir (page.js) and copies its HTML. */
async function buildPage (dir) {
  const { build } = await import(path.join(INTEROP_DIR, 'node_modules/esbuild/lib/main.js'))
  await build({
    entryPoints: [path.join(PAGE_DIR, 'page.js')],
    outfile: path.join(dir, 'page.js'),
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    nodePaths: [path.join(INTEROP_DIR, 'node_modules')],
    logLevel: 'warning'
  })
  await copyFile(path.join(PAGE_DIR, 'index.html'), path.join(dir, 'index.html'))
}

async function serve (t, dir) {
  const server = createServer(async (req, res) => {
    const name = path.basename(new URL(req.url, 'http://x').pathname) || 'index.html'
    let body
    try {
      body = await readFile(path.join(dir, name))
    } catch {
      res.writeHead(404).end()
      return
    }
    res.writeHead(200, { 'content-type': name.endsWith('.js') ? 'text/javascript' : 'text/html' }).end(body)
  })
  await new Promise((resolve, reject) => server.listen(0, '127.0.0.1', resolve).once('error', reject))
  t.after(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve) }))
  return `http://127.0.0.1:${server.address().port}`
}

/** Host ICE candidates as plain addresses: no mDNS on this loopback. */
const launch = (t) => launchChromium(t, { timeout: PAGE_MS, args: ['--disable-features=WebRtcHideLocalIpsWithMdns'] })

/** page.evaluate with the page's log in the error. */
async function inPage (page, what, fn, arg) {
  try {
    return await withTimeout(page.evaluate(fn, arg), PAGE_MS, what)
  } catch (err) {
    throw new Error(`${what}: ${err.message.split('\n')[0]}\n--- page log ---\n${page.output()}`)
  }
}

test('two browser pages use rendezvousd as rendezvous point and relay, then go direct over WebRTC', { timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t)
  const built = buildPage(dir)
  const daemon = await startDaemon(t, ['--listen', '/ip4/127.0.0.1/tcp/0/ws', '--key', path.join(dir, 'server.key'), '--relay'])
  const server = daemon.addrs.find((a) => a.toString().includes('/ws/')).toString()
  await withTimeout(built, 60_000, 'bundling the page')
  const site = await serve(t, dir)
  const browser = await launch(t)
  const ns = 'relay-browser-room'

  const pa = await openPage(browser, `${site}/index.html`, PAGE_MS)
  const pb = await openPage(browser, `${site}/index.html`, PAGE_MS)
  const a = await inPage(pa, 'page A starting', ([s, n]) => window.relayTest.start(s, n), [server, ns])
  const b = await inPage(pb, 'page B starting', ([s, n]) => window.relayTest.start(s, n), [server, ns])
  for (const p of [a, b]) {
    assert.ok(p.addrs.some((x) => x.startsWith(`${server}/p2p-circuit`)), p.addrs.join(' '))
  }

  // Each finds the other in the room, with its relayed address.
  const seen = (page, other) => inPage(page, 'waiting for the other page in the room', async (id) => {
    for (;;) {
      const m = window.relayTest.members().find((e) => e[0] === id)
      if (m) return m
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }, other)
  const bInA = await seen(pa, b.id)
  const aInB = await seen(pb, a.id)
  assert.ok(bInA.some((x) => x.includes('/p2p-circuit')))
  assert.ok(aInB.some((x) => x.includes('/p2p-circuit')))

  // Through the relay.
  const relayed = await inPage(pb, 'B talking to A through the relay', (id) => window.relayTest.viaRelay(id), a.id)
  assert.equal(relayed, `hello through the relay (answered over relay by ${a.id})`)

  // Direct: WebRTC, signalled over the relayed connection.
  const direct = await inPage(pb, 'B talking to A over WebRTC', (id) => window.relayTest.viaWebRTC(id), a.id)
  assert.equal(direct.answer, `hello over WebRTC (answered over direct by ${a.id})`)
  assert.ok(direct.conns.some((c) => c.addr.includes('/webrtc') && !c.limited), JSON.stringify(direct.conns))
})
