// Pages for the example and client tests: served from 127.0.0.1 on an
// ephemeral port, waited for in Debian's headless Chromium (launched by
// lib/browser.mjs, whose launcher and openPage are re-exported here).

import { readFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import path from 'node:path'

import { launchChromium } from './browser.mjs'

export { openPage } from './browser.mjs'

/** Headless Chromium, closed after the test. */
export const launch = (t) => launchChromium(t)

/** Bound for anything a page is waited for. */
export const PAGE_MS = 15_000

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.map': 'application/json' }

/**
 * Serves the files under `root` on 127.0.0.1 (ephemeral port), `/` being
 * index.html; `extra` maps more URL paths to files. Closed after the test.
 * Resolves with the site's base URL.
 */
export async function serveDir (t, root, extra = {}) {
  const server = createServer(async (req, res) => {
    const url = decodeURIComponent(new URL(req.url, 'http://x').pathname)
    const rel = url.replace(/^\/+/, '') || 'index.html'
    const file = extra[url] ?? path.resolve(root, rel)
    if (extra[url] == null && !file.startsWith(root + path.sep)) { res.writeHead(403).end(); return }
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

/** Waits for `fn(arg)` to be truthy in the page; the page's log goes into the error. */
export async function waitIn (page, what, fn, arg, ms = PAGE_MS) {
  try {
    return await (await page.waitForFunction(fn, arg, { timeout: ms, polling: 50 })).jsonValue()
  } catch (err) {
    throw new Error(`${what}: ${err.message.split('\n')[0]}\n--- page log ---\n${page.output()}`)
  }
}
