// A node:test reporter for tests/run.sh: one line per finished test, tab
// separated, that a shell can count without parsing the human-readable
// output:
//
//   pass<TAB>name     a top-level test that ran and passed
//   fail<TAB>name     a top-level test that failed, was cancelled or timed out
//   skip<TAB>name     a skipped or todo test, at any depth (name of a subtest:
//                     "parent > child")
//   empty<TAB>file    a file that reported no test at all (it exited before
//                     registering any, e.g. process.exit(0) at the top)
//
// Node reports a file itself as a test only when the file's own tests did not
// account for its outcome: passing means it ran none, failing means it
// crashed or ran out of time.

import path from 'node:path'

export default async function * tally (source) {
  const stack = [] // names of the tests started and not finished, by depth
  for await (const ev of source) {
    const d = ev.data
    if (ev.type === 'test:start') {
      stack[d.nesting] = d.name
      stack.length = d.nesting + 1
      continue
    }
    if (ev.type !== 'test:pass' && ev.type !== 'test:fail') continue
    const isFile = d.file && path.resolve(d.name) === path.resolve(d.file)
    const name = [...stack.slice(0, d.nesting), d.name].join(' > ')
    if (ev.type === 'test:pass' && (d.skip || d.todo)) {
      yield `skip\t${name}\n`
    } else if (isFile) {
      yield ev.type === 'test:pass' ? `empty\t${d.name}\n` : `fail\t${d.name}\n`
    } else if (d.nesting === 0) {
      yield `${ev.type === 'test:pass' ? 'pass' : 'fail'}\t${name}\n`
    }
  }
}
