// Bundles the page with esbuild into dist/ (run `npm install` here first).
//
//   node build.mjs
//
// Also importable: `await build()` resolves when the bundle is written.

import path from 'node:path'
import { fileURLToPath } from 'node:url'

import { build as esbuild } from 'esbuild'

const HERE = path.dirname(fileURLToPath(import.meta.url))

export async function build ({ minify = true } = {}) {
  return esbuild({
    entryPoints: [path.join(HERE, 'src/page.js')],
    outdir: path.join(HERE, 'dist'),
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    minify,
    sourcemap: true,
    // rendezvousd-client is linked from the repository (file:../../clients/js);
    // what it imports resolves from here too.
    nodePaths: [path.join(HERE, 'node_modules')],
    logLevel: 'warning'
  })
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await build()
  console.log(`built ${path.join(HERE, 'dist')}/page.js`)
}
