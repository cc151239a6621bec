'use strict'
// index.d.ts is checked by TypeScript (the client's one dev dependency, `npm ci`): the uses in
// test/types.test-d.ts compile under --strict, the marked mistakes do not, and the declared
// exports and client methods are the ones index.js has.
const test = require('node:test')
const assert = require('node:assert/strict')
const childProcess = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const weapp = require('..')
const { createFakeWx } = require('../testing/fakes')

const ROOT = path.join(__dirname, '..')
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
const DECLARATIONS = fs.readFileSync(path.join(ROOT, 'index.d.ts'), 'utf8')

function tsc (file) {
  return childProcess.spawnSync(process.execPath, [
    TSC, '--noEmit', '--strict', '--target', 'es2017', '--module', 'commonjs',
    '--moduleResolution', 'node', file
  ], { cwd: ROOT, encoding: 'utf8' })
}

test('the declarations compile under --strict with the uses and mistakes of test/types.test-d.ts', (t) => {
  if (!fs.existsSync(TSC)) {
    // `make test-client` installs TypeScript and sets WEAPP_REQUIRE_TSC, so there it must run.
    assert.ok(!process.env.WEAPP_REQUIRE_TSC, 'TypeScript is not installed: run npm ci in clients/weapp')
    t.skip('TypeScript is not installed (npm ci)')
    return
  }
  const run = tsc(path.join('test', 'types.test-d.ts'))
  assert.equal(run.status, 0, run.stdout + run.stderr)
})

test('the declarations name exactly the exports and client methods of index.js', () => {
  const exported = Array.from(DECLARATIONS.matchAll(/^export (?:function|class) (\w+)/gm), (m) => m[1])
  assert.deepEqual(exported.sort(), Object.keys(weapp).sort())

  const body = /export interface Client \{([\s\S]*?)\n\}/.exec(DECLARATIONS)[1]
  const declared = Array.from(body.matchAll(/^ {2}(\w+)[<(]/gm), (m) => m[1])
  const client = weapp.createClient({ baseUrl: 'https://your-host', api: createFakeWx({}) })
  assert.deepEqual(declared.sort(), Object.keys(client).sort())
})
