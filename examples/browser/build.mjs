// Bundles the example pages with esbuild into examples/browser/dist/.
// The npm packages come from tests/interop/node_modules (one lockfile for the
// repository): run `npm ci` there first (tools/install-deps.sh does).
//
//   node examples/browser/build.mjs
//
// Also importable: `await build()` resolves when the bundles are written.

import path from 'node:path'
import { fileURLToPath } from 'node:url'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const MODULES = path.resolve(HERE, '../../tests/interop/node_modules')

export async function build ({ minify = true } = {}) {
  const { build: esbuild } = await import(path.join(MODULES, 'esbuild/lib/main.js'))
  return esbuild({
    entryPoints: { push: path.join(HERE, 'src/push.js'), seed001: path.join(HERE, 'src/seed001.js') },
    outdir: path.join(HERE, 'dist'),
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    minify,
    sourcemap: true,
    nodePaths: [MODULES],
    logLevel: 'warning'
  })
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await build()
  console.log(`built ${path.join(HERE, 'dist')}/{push,seed001}.js`)
}
