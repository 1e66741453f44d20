// The listener/dialer flow of the js-libp2p rendezvous example, with
// rendezvousd-client's /rendezvous/1.0.0 service: the listener registers a
// signed peer record in example-namespace (kept fresh before its TTL runs
// out); the dialer discovers it and shows its peer id and multiaddrs.

import { rendezvousClient } from 'rendezvousd-client'

import { logLine, param, startNode } from './node.js'

const $ = (id) => document.getElementById(id)
const log = $('log')
let node

async function started () {
  if (node == null) {
    node = await startNode({ rendezvous: rendezvousClient({ servers: [$('server').value.trim()] }) })
    $('self').textContent = node.peerId.toString()
    logLine(log, `Node started with id ${node.peerId}`)
  }
  return node
}

/** Listener: register our addresses (or the ones typed in) in the namespace. */
async function register () {
  const n = await started()
  const ns = $('ns').value.trim()
  const typed = $('addrs').value.split(/\s+/).filter(Boolean)
  // A plain browser node has no address of its own; one with a relay
  // reservation has /p2p-circuit ones, which is what the default registers.
  const { ttl } = await n.services.rendezvous.register(ns, {
    ttl: Number($('ttl').value) || 7200,
    addrs: typed.length ? typed : undefined
  })
  logLine(log, `Registered to: ${ns} (ttl ${ttl} s)`)
  document.body.dataset.registered = ns
}

/** Dialer: discover the namespace and list every peer found. */
async function discover () {
  const n = await started()
  const ns = $('ns').value.trim()
  const list = $('discovered')
  list.replaceChildren()
  for await (const r of n.services.rendezvous.discoverAll(ns, { pageSize: 100 })) {
    const addrs = r.multiaddrs.map(String)
    logLine(log, `Discovered peer with id: ${r.peerId} and multiaddrs ${addrs.join(',')}`)
    const li = document.createElement('li')
    li.dataset.peer = r.peerId
    li.dataset.addrs = addrs.join(' ')
    li.textContent = `${r.peerId} ${addrs.join(' ')}`.trimEnd()
    list.append(li)
  }
  logLine(log, `discovered ${list.children.length} in ${ns}`)
  document.body.dataset.discovered = String(list.children.length)
}

const guard = (fn) => async () => {
  try {
    await fn()
  } catch (err) {
    logLine(log, `error: ${err.message}`)
    document.body.dataset.error = err.message
  }
}

$('server').value = param('server')
$('ns').value = param('ns', 'example-namespace')
$('addrs').value = new URLSearchParams(location.search).getAll('addr').join('\n')
$('register').addEventListener('click', guard(register))
$('discover').addEventListener('click', guard(discover))
const role = param('role')
if (role === 'listener') guard(register)()
if (role === 'dialer') guard(discover)()
