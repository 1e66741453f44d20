// The package in Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core through the interop tests' helpers): two pages join one
// namespace over /ws with their names as metadata and see each other arrive
// with them; one closes and the other sees it leave.

import assert from 'node:assert/strict'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

import { build } from 'esbuild'

import { launch, openPage, serveDir, waitIn } from '../../../tests/interop/lib/chromium.mjs'
import { daemon, tempDir, withTimeout } from './lib/setup.mjs'

const HERE = path.dirname(fileURLToPath(import.meta.url))

/** Waits for `fn` in the page; the page's window.presence goes into the error. */
async function waitPresence (page, what, fn, arg) {
  try {
    return await waitIn(page, what, fn, arg)
  } catch (err) {
    const state = await page.evaluate(() => JSON.stringify(window.presence)).catch(() => '?')
    throw new Error(`${err.message}\n--- window.presence ---\n${state}`)
  }
}

test('Chromium: two pages see each other arrive with their names; one closes, the other sees it leave', { timeout: 90_000 }, async (t) => {
  const out = await tempDir(t, 'rdv-js-browser-')
  await withTimeout(build({
    entryPoints: [path.join(HERE, 'browser/page.js')],
    outfile: path.join(out, 'page.js'),
    bundle: true, format: 'esm', platform: 'browser', target: 'es2022', logLevel: 'warning'
  }), 60_000, 'bundling the test page')
  const d = await daemon(t, { transport: 'ws' })
  const site = await serveDir(t, path.join(HERE, 'browser'), { '/page.js': path.join(out, 'page.js') })
  const browser = await launch(t)
  const url = (name) => `${site}/index.html?server=${encodeURIComponent(d.server)}&ns=browser-room&name=${encodeURIComponent(name)}`

  const joined = (page, who) => waitPresence(page, `${who} joining`, () => window.presence?.joined || window.presence?.error)
  const alice = await openPage(browser, url('Alice'))
  await joined(alice, 'Alice')
  const bob = await openPage(browser, url('Bob ☕'))
  await joined(bob, 'Bob')
  const [a, b] = await Promise.all([alice, bob].map((p) => p.evaluate(() => window.presence)))
  assert.equal(a.error, null)
  assert.equal(b.error, null)

  // Bob found Alice already there; Alice hears Bob arrive.
  assert.deepEqual(b.members, { [a.self]: 'Alice' })
  await waitPresence(alice, 'Alice seeing Bob', (id) => window.presence.members[id] != null, b.self)
  assert.deepEqual(await alice.evaluate(() => window.presence.members), { [b.self]: 'Bob ☕' })
  assert.deepEqual(await alice.evaluate(() => window.presence.events), [['join', b.self, 'Bob ☕']])

  // Bob's tab closes: his session ends and Alice sees him leave.
  await bob.close()
  await waitPresence(alice, 'Alice seeing Bob leave', (id) => window.presence.events.some(([ty, p]) => ty === 'leave' && p === id), b.self)
  assert.deepEqual(await alice.evaluate(() => window.presence.members), {})
  assert.deepEqual(await alice.evaluate(() => window.presence.events.map(([ty, p]) => [ty, p])), [['join', b.self], ['leave', b.self]])
})
