// The published form of the package: `npm pack` makes a tarball that
// installs into an empty folder and imports there, exports and types
// included. npm takes the dependencies from its cache when it has them.

import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

import { tempDir } from './lib/setup.mjs'

const run = promisify(execFile)
const PKG = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

test('npm pack: the tarball installs into an empty folder and imports', { timeout: 120_000 }, async (t) => {
  const out = await tempDir(t, 'rdv-pack-')
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', out], { cwd: PKG, timeout: 60_000 })
  const [info] = JSON.parse(stdout)
  const files = info.files.map((f) => f.path).sort()
  assert.ok(files.includes('src/index.js') && files.includes('types/index.d.ts') && files.includes('README.md'), files.join(' '))
  assert.ok(!files.some((f) => f.startsWith('test/') || f.startsWith('node_modules/')), `unexpected files: ${files.join(' ')}`)

  const app = await tempDir(t, 'rdv-app-')
  await writeFile(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }))
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', path.join(out, info.filename)],
    { cwd: app, timeout: 90_000 })
  const manifest = JSON.parse(await readFile(path.join(app, 'node_modules/rendezvousd-client/package.json'), 'utf8'))
  assert.equal(manifest.name, 'rendezvousd-client')

  const probe = `
    import { pushRendezvous, rendezvousClient, RendezvousError, Status } from 'rendezvousd-client'
    const e = new RendezvousError(Status.E_INVALID_TTL, 'too long')
    const f = pushRendezvous({ servers: ['/ip4/127.0.0.1/tcp/1/p2p/12D3KooWGRYZDHBembyGJQqQ6WgLqJWYNjnECGDuGvb6MXJtoVY5'] })
    console.log(JSON.stringify([typeof f, typeof rendezvousClient, e.status, e instanceof Error]))
  `
  const res = await run(process.execPath, ['--input-type=module', '-e', probe], { cwd: app, timeout: 30_000 })
  assert.deepEqual(JSON.parse(res.stdout), ['function', 'function', 102, true])
  const dts = await readFile(path.join(app, 'node_modules/rendezvousd-client', manifest.types), 'utf8')
  assert.match(dts, /export declare function pushRendezvous/)
})
