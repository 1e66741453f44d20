// Helpers for the js-libp2p interop tests: start/stop the rendezvousd binary,
// create js-libp2p nodes, temp folders, and bounded waits.
//
// Every helper that takes the node:test context `t` registers its own cleanup
// with t.after(), so daemons are stopped and nodes stopped however a test
// ends. A daemon is stopped with SIGTERM and must exit 0 without a sanitizer
// report (the ASan build checks for leaks at exit); SIGKILL only if it does
// not exit in time, and that fails the test.

import './polyfill.mjs'

import { spawn } from 'node:child_process'
import { setMaxListeners } from 'node:events'
import { constants as fsConstants } from 'node:fs'
import { access, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

const HERE = path.dirname(fileURLToPath(import.meta.url))

/** tests/interop, whatever the current directory is. */
export const INTEROP_DIR = path.resolve(HERE, '..')

/** Folder holding the rendezvousd and rdv binaries (RDV_BUILD, else <repo>/build). */
export const BUILD_DIR = path.resolve(INTEROP_DIR, process.env.RDV_BUILD || '../../build')

/** Upper bound for any single network operation in the tests. */
export const OP_TIMEOUT_MS = 10_000

/** How long the daemon may take to print its listening block. */
export const START_TIMEOUT_MS = 10_000

/** How long the daemon may take to exit after SIGTERM (ASan's leak check included). */
export const STOP_TIMEOUT_MS = 30_000

/** A line that starts an ASan, LSan or UBSan report. */
const SANITIZER_REPORT = /ERROR: AddressSanitizer|ERROR: LeakSanitizer|LeakSanitizer|runtime error:/

/** The address block ends after this long without a new address line. */
export const QUIET_MS = 300

/** The line that opens the daemon's address block. */
export const LISTEN_HEADER = 'Rendezvous server listening on:'

/** Protocol ids the tests use. */
export const IDENTIFY_PROTOCOL = '/ipfs/id/1.0.0'
export const PING_PROTOCOL = '/ipfs/ping/1.0.0'

/** Multiaddr protocol code of /p2p. */
const P2P_CODE = 421

/** Child processes still running; killed when the test process exits. */
const live = new Set()
process.on('exit', () => {
  for (const proc of live) {
    try { proc.kill('SIGKILL') } catch {}
  }
})

/** Path of a binary in BUILD_DIR. */
export function binPath (name) {
  return path.join(BUILD_DIR, name)
}

/** Throws a readable error if `file` is not an executable file. */
export async function requireExecutable (file) {
  try {
    await access(file, fsConstants.X_OK)
  } catch (err) {
    throw new Error(`${file} is missing or not executable (${err.code}); build it first (make) or set RDV_BUILD`)
  }
}

/** A fresh temp folder, removed after the test. */
export async function tempDir (t, prefix = 'rdv-interop-') {
  const dir = await mkdtemp(path.join(tmpdir(), prefix))
  t.after(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** Arguments for a daemon on an ephemeral loopback TCP port with the given key file. */
export function daemonArgs (keyFile, ...extra) {
  return ['--listen', '/ip4/127.0.0.1/tcp/0', '--key', keyFile, ...extra]
}

/** Rejects with `<what> timed out after <ms> ms` unless `promise` settles first. */
export function withTimeout (promise, ms, what) {
  let timer
  const timeout = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** An AbortSignal that fires after `ms`; it may be shared by many operations. */
export function deadline (ms = OP_TIMEOUT_MS) {
  const signal = AbortSignal.timeout(ms)
  setMaxListeners(Infinity, signal)
  return signal
}

/**
 * Resolves with the first `name` event on `target` whose detail passes
 * `filter`; rejects after `ms`. Call it before doing what triggers the event.
 */
export function nextEvent (target, name, filter = () => true, ms = OP_TIMEOUT_MS) {
  let listener
  const seen = new Promise(resolve => {
    listener = (evt) => {
      if (filter(evt.detail, evt)) resolve(evt.detail)
    }
    target.addEventListener(name, listener)
  })
  return withTimeout(seen, ms, `waiting for event "${name}"`)
    .finally(() => target.removeEventListener(name, listener))
}

/** `ma` without its /p2p/<id> part, as a string. */
export function withoutPeerId (ma) {
  return multiaddr(ma).decapsulateCode(P2P_CODE).toString()
}

/**
 * Starts `rendezvousd` with `args` and waits for its listening block:
 *
 *     Rendezvous server listening on:
 *     /ip4/127.0.0.1/tcp/<port>/p2p/12D3KooW...
 *
 * Lines starting with '/' after the header are collected until a line that is
 * not a multiaddr arrives or QUIET_MS pass without a new one. Both stdout and
 * stderr are watched. After the test `t` the daemon is stopped with SIGTERM if
 * it still runs; the test fails unless it exits 0 within STOP_TIMEOUT_MS
 * with no sanitizer report, or if it had exited on its own meanwhile.
 *
 * Returns { proc, addrs (Multiaddr[]), peerId, output(), stop(), kill() }.
 * stop() sends SIGTERM, waits for the exit and returns the exit code (null if
 * a signal ended it; see daemon.exitSignal); it throws if the daemon has to
 * be killed or its stderr holds a sanitizer report. kill() is SIGKILL, for a
 * daemon that failed to start.
 */
export async function startDaemon (t, args = [], opts = {}) {
  const bin = opts.bin ?? binPath('rendezvousd')
  const startTimeout = opts.timeout ?? START_TIMEOUT_MS
  await requireExecutable(bin)

  const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  live.add(proc)

  const lines = [] // last lines of output, for error messages
  const remember = (name, line) => {
    lines.push(`[${name}] ${line}`)
    if (lines.length > 200) lines.shift()
  }
  const output = () => lines.join('\n')
  const report = [] // a sanitizer report on stderr, from its first line
  const describe = () => `${bin} ${args.join(' ')}\n--- daemon output ---\n${output()}` +
    (report.length ? `\n--- sanitizer report ---\n${report.join('\n')}` : '')
  let stopping = false // stop() or kill() was called: the exit is expected

  const exited = new Promise(resolve => {
    proc.once('exit', (code, signal) => {
      live.delete(proc)
      resolve({ code, signal })
    })
    // spawn failures (EACCES, ENOEXEC, ...) may emit no 'exit'
    proc.once('error', (error) => {
      live.delete(proc)
      resolve({ code: null, signal: null, error })
    })
  })

  // 'close' comes after the last line of output was read.
  const streamsDone = new Promise(resolve => {
    proc.once('close', resolve)
    proc.once('error', resolve)
  })

  const daemon = {
    proc,
    addrs: [],
    peerId: undefined,
    exitCode: undefined,
    exitSignal: undefined,
    output,
    exited,
    async stop (timeoutMs = STOP_TIMEOUT_MS) {
      stopping = true
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM')
      let res
      try {
        res = await withTimeout(exited, timeoutMs, `${path.basename(bin)} exit after SIGTERM`)
      } catch (err) {
        proc.kill('SIGKILL')
        await exited
        throw new Error(`${err.message}; killed it\n--- daemon command: ${describe()}`)
      }
      daemon.exitCode = res.code
      daemon.exitSignal = res.signal
      await streamsDone
      if (report.length) throw new Error(`sanitizer report from the daemon\n--- daemon command: ${describe()}`)
      return res.code
    },
    async kill () {
      stopping = true
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
      await exited
    }
  }
  // The check's failure is thrown from a hook added last, so that the
  // test's other cleanups (js-libp2p nodes) still run: one hook throwing
  // skips the hooks after it, and a node left running keeps the file alive.
  t?.after(async () => {
    if (stopping) return
    const running = proc.exitCode === null && proc.signalCode === null
    let failure
    try {
      const code = await daemon.stop()
      if (!running) failure = `the daemon exited during the test (code ${code}, signal ${daemon.exitSignal})`
      else if (code !== 0) failure = `the daemon exited with code ${code}, signal ${daemon.exitSignal} after SIGTERM`
    } catch (err) {
      failure = err.message
    }
    if (failure) {
      const err = new Error(failure.includes('--- daemon command') ? failure : `${failure}\n--- daemon command: ${describe()}`)
      t.after(() => { throw err })
    }
  })

  const ready = new Promise((resolve, reject) => {
    let header = false
    let done = false
    let quiet
    const found = []

    const finish = () => {
      if (done) return
      done = true
      clearTimeout(quiet)
      try {
        resolve(parseBlock(found))
      } catch (err) {
        reject(err)
      }
    }

    const onLine = (name) => (raw) => {
      remember(name, raw)
      if (done) return
      const line = raw.trim()
      if (!header) {
        if (line.includes(LISTEN_HEADER)) header = true
        return
      }
      if (line.startsWith('/')) {
        found.push(line)
        clearTimeout(quiet)
        quiet = setTimeout(finish, QUIET_MS)
      } else if (found.length > 0) {
        finish()
      }
    }
    createInterface({ input: proc.stdout }).on('line', onLine('stdout'))
    createInterface({ input: proc.stderr }).on('line', onLine('stderr'))
      .on('line', (line) => {
        if (report.length === 0 && !SANITIZER_REPORT.test(line)) return
        if (report.length < 400) report.push(line)
      })

    exited.then(({ code, signal, error }) => {
      if (done) return
      if (error) { done = true; return reject(error) }
      // give the pipes a moment to deliver what was printed just before the exit
      setTimeout(() => {
        if (done) return
        if (found.length > 0) return finish()
        done = true
        reject(new Error(`${bin} exited (code ${code}, signal ${signal}) before printing its addresses`))
      }, 100)
    })
  })

  try {
    const { addrs, peerId } = await withTimeout(ready, startTimeout, `waiting for "${LISTEN_HEADER}" from ${path.basename(bin)}`)
    daemon.addrs = addrs
    daemon.peerId = peerId
  } catch (err) {
    await daemon.kill()
    err.message += `\n--- daemon command: ${describe()}`
    throw err
  }
  return daemon
}

/** Checks the collected address lines; all must carry the same /p2p/ id. */
function parseBlock (found) {
  if (found.length === 0) throw new Error('listening block had no address')
  const addrs = found.map(s => {
    try {
      return multiaddr(s)
    } catch (err) {
      throw new Error(`printed address is not a multiaddr: ${JSON.stringify(s)} (${err.message})`)
    }
  })
  const ids = new Set(addrs.map(a => a.getComponents().find(c => c.code === P2P_CODE)?.value))
  if (ids.has(undefined)) throw new Error(`printed address without /p2p/<id>: ${found.join(', ')}`)
  if (ids.size !== 1) throw new Error(`printed addresses name different peers: ${found.join(', ')}`)
  return { addrs, peerId: peerIdFromString([...ids][0]) }
}

/** The daemon's first /ip4/127.0.0.1/tcp address (with /p2p), or its first address. */
export function tcpAddr (daemon) {
  return daemon.addrs.find(a => a.toString().startsWith('/ip4/127.0.0.1/tcp/') && !a.toString().includes('/ws')) ?? daemon.addrs[0]
}

/**
 * A started js-libp2p node: TCP + Noise + yamux + identify + ping. It listens
 * only on `listen` (none by default) and is stopped after the test.
 * `identifyInit` goes to identify() (e.g. { runOnConnectionOpen: false }).
 */
export async function createNode (t, { listen = [], identifyInit = {}, ...config } = {}) {
  const node = await createLibp2p({
    addresses: { listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(identifyInit),
      // The ping service also sets this node's per-connection limit of
      // outbound ping streams (default 1); the stream tests open more.
      ping: ping({ maxOutboundStreams: 64, timeout: OP_TIMEOUT_MS })
    },
    ...config
  })
  t?.after(() => withTimeout(node.stop(), OP_TIMEOUT_MS, 'stopping js-libp2p node').catch(() => {}))
  return node
}

/**
 * Sends `data` on `stream` and resolves with the first data.length bytes
 * received back. Rejects if the stream ends first or `signal` fires.
 */
export function echo (stream, data, signal) {
  return new Promise((resolve, reject) => {
    const chunks = []
    let got = 0
    const cleanup = () => {
      stream.removeEventListener('message', onMessage)
      stream.removeEventListener('close', onClose)
      stream.removeEventListener('remoteCloseWrite', onRemoteClose)
      signal?.removeEventListener('abort', onAbort)
    }
    const fail = (err) => { cleanup(); reject(err) }
    const onMessage = (evt) => {
      const bytes = evt.data.subarray()
      chunks.push(bytes)
      got += bytes.length
      if (got >= data.length) {
        cleanup()
        const all = new Uint8Array(got)
        let off = 0
        for (const c of chunks) { all.set(c, off); off += c.length }
        resolve(all.subarray(0, data.length))
      }
    }
    const onClose = (evt) => fail(evt.error ?? new Error(`stream ${stream.id} closed after ${got} of ${data.length} bytes`))
    const onRemoteClose = () => fail(new Error(`remote closed stream ${stream.id} after ${got} of ${data.length} bytes`))
    const onAbort = () => fail(new Error(`no echo on stream ${stream.id} within the deadline (${got} of ${data.length} bytes)`))
    if (signal?.aborted) return onAbort()
    stream.addEventListener('message', onMessage)
    stream.addEventListener('close', onClose)
    stream.addEventListener('remoteCloseWrite', onRemoteClose)
    signal?.addEventListener('abort', onAbort)
    stream.send(data)
  })
}

/**
 * Runs `file` with `args`; resolves { code, signal, stdout, stderr }. The
 * process is killed (and the promise rejected) after `ms`.
 */
export async function run (file, args, ms = 30_000) {
  await requireExecutable(file)
  return new Promise((resolve, reject) => {
    const proc = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    live.add(proc)
    let stdout = ''
    let stderr = ''
    proc.stdout.setEncoding('utf8').on('data', d => { stdout += d })
    proc.stderr.setEncoding('utf8').on('data', d => { stderr += d })
    const timer = setTimeout(() => {
      proc.kill('SIGKILL')
      reject(new Error(`${path.basename(file)} ${args.join(' ')} did not exit within ${ms} ms\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`))
    }, ms)
    proc.once('error', err => { clearTimeout(timer); live.delete(proc); reject(err) })
    proc.once('close', (code, signal) => {
      clearTimeout(timer)
      live.delete(proc)
      resolve({ code, signal, stdout, stderr })
    })
  })
}
