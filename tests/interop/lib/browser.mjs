// Debian's headless Chromium for the browser tests, driven by playwright-core
// (no browser download): launching it and opening pages whose console and
// errors are kept for failure messages.

import { constants as fsConstants } from 'node:fs'
import { access } from 'node:fs/promises'

import { chromium } from 'playwright-core'

import { withTimeout } from './daemon.mjs'

export const CHROMIUM = '/usr/bin/chromium'

/** Headless Chromium (extra command-line flags in `args`); closed after the test. */
export async function launchChromium (t, { timeout = 15_000, args = [] } = {}) {
  try {
    await access(CHROMIUM, fsConstants.X_OK)
  } catch {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium package (tools/install-deps.sh does)`)
  }
  const browser = await withTimeout(chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic', ...args]
  }), timeout + 1000, 'launching chromium')
  t.after(() => withTimeout(browser.close(), 10_000, 'closing chromium').catch(() => {}))
  return browser
}

/** A new page at `url`; page.output() is its console and errors so far. */
export async function openPage (browser, url, timeout = 15_000) {
  const page = await browser.newPage()
  const lines = []
  page.on('console', (m) => lines.push(`[console.${m.type()}] ${m.text()}`))
  page.on('pageerror', (e) => lines.push(`[pageerror] ${e.message}`))
  page.output = () => lines.join('\n')
  await page.goto(url, { timeout })
  return page
}
