// Bundles the example pages with esbuild into examples/browser/dist/.
// The npm packages come from clients/js/node_modules (the client package's
// development dependencies: js-libp2p, its transports, esbuild): run
// `npm ci` there first (tools/install-deps.sh does). `rendezvousd-client`
// is the package in clients/js; an app of your own installs it instead.
//
//   node examples/browser/build.mjs
//
// Also importable: `await build()` resolves when the bundles are written.

import path from 'node:path'
import { fileURLToPath } from 'node:url'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const CLIENT = path.resolve(HERE, '../../clients/js')
const MODULES = path.join(CLIENT, 'node_modules')

export async function build ({ minify = true } = {}) {
  const { build: esbuild } = await import(path.join(MODULES, 'esbuild/lib/main.js'))
  return esbuild({
    entryPoints: {
      presence: path.join(HERE, 'src/presence.js'),
      'register-discover': path.join(HERE, 'src/register-discover.js')
    },
    outdir: path.join(HERE, 'dist'),
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    minify,
    sourcemap: true,
    alias: { 'rendezvousd-client': path.join(CLIENT, 'src/index.js') },
    nodePaths: [MODULES],
    logLevel: 'warning'
  })
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await build()
  console.log(`built ${path.join(HERE, 'dist')}/{presence,register-discover}.js`)
}
