'use strict'
// The client against a scripted `wx` (no service): the edge cases a real server rarely shows.
const test = require('node:test')
const assert = require('node:assert/strict')
const childProcess = require('node:child_process')
const path = require('node:path')

const { createClient, WeappLoginError } = require('..')
const { createFakeWx } = require('../testing/fakes')

const BASE = 'https://api.example.test'

function json (statusCode, data, header) {
  return { statusCode: statusCode, data: data, header: header || {} }
}

function apiError (statusCode, code, header) {
  return json(statusCode, { error: { code: code, message: code + ' (scripted)' } }, header)
}

/** A scripted service: /api/v1/login hands out tok-1, tok-2, …; `routes` answer the rest. */
function scriptedWx (routes, options) {
  let issued = 0
  return createFakeWx(Object.assign({
    respond: function (call) {
      if (call.path === '/api/v1/login') {
        issued += 1
        return json(200, { token: 'tok-' + issued, token_type: 'Bearer', expires_in: 60, user: { id: 7, created: false } })
      }
      const route = routes[call.method + ' ' + call.path]
      return route ? route(call) : apiError(404, 'not_found')
    }
  }, options))
}

async function rejection (promise) {
  try {
    await promise
  } catch (err) {
    return err
  }
  assert.fail('expected a rejection')
}

test('a second 401 is thrown instead of looping', async () => {
  const wx = scriptedWx({ 'GET /api/v1/me': () => apiError(401, 'unauthorized') })
  const client = createClient({ baseUrl: BASE, wx })

  const err = await rejection(client.request({ url: '/api/v1/me' }))

  assert.ok(err instanceof WeappLoginError)
  assert.equal(err.code, 'unauthorized')
  assert.equal(err.status, 401)
  assert.equal(wx.loginCalls, 2)
  assert.deepEqual(wx.requests.map((r) => r.path),
    ['/api/v1/login', '/api/v1/me', '/api/v1/login', '/api/v1/me'])
})

test('concurrent requests rejected with the same dead token share one re-login', async () => {
  const storage = new Map([['weapp-login:token', 'dead']])
  const wx = scriptedWx({
    'GET /api/v1/me': (call) => call.header.Authorization === 'Bearer dead'
      ? apiError(401, 'unauthorized')
      : json(200, { user: { id: 7 } })
  }, { storage })
  const client = createClient({ baseUrl: BASE, wx })

  const results = await Promise.all(Array.from({ length: 5 }, () => client.request({ url: '/api/v1/me' })))

  assert.ok(results.every((r) => r.statusCode === 200))
  assert.equal(wx.loginCalls, 1)
  assert.equal(wx.requestsTo('/api/v1/login').length, 1)
  assert.equal(storage.get('weapp-login:token'), 'tok-1')
})

test('a 401 invalid_code at login is thrown, not retried', async () => {
  const wx = createFakeWx({ respond: () => apiError(401, 'invalid_code') })
  const client = createClient({ baseUrl: BASE, wx })

  const err = await rejection(client.request({ url: '/api/v1/me' }))

  assert.equal(err.code, 'invalid_code')
  assert.equal(err.status, 401)
  assert.equal(wx.loginCalls, 1)
  assert.equal(wx.requests.length, 1)
})

test('retry after is read from the header in any case, as a number of seconds', async () => {
  for (const name of ['retry-after', 'Retry-After', 'RETRY-AFTER']) {
    const wx = createFakeWx({ respond: () => apiError(503, 'wechat_busy', { [name]: '7' }) })
    const err = await rejection(createClient({ baseUrl: BASE, wx }).login())
    assert.equal(err.code, 'wechat_busy')
    assert.equal(err.status, 503)
    assert.equal(err.retryAfter, 7)
  }
})

test('retry after given as an http date becomes seconds from now', async () => {
  const at = new Date(Date.now() + 30000).toUTCString()
  const wx = createFakeWx({ respond: () => apiError(429, 'rate_limited', { 'Retry-After': at }) })

  const err = await rejection(createClient({ baseUrl: BASE, wx }).login())

  assert.equal(err.code, 'rate_limited')
  assert.ok(err.retryAfter >= 28 && err.retryAfter <= 30, String(err.retryAfter))
})

test('errors other than 429 and 503 carry no retry after', async () => {
  const wx = createFakeWx({ respond: () => apiError(502, 'wechat_error', { 'Retry-After': '5' }) })

  const err = await rejection(createClient({ baseUrl: BASE, wx }).login())

  assert.equal(err.code, 'wechat_error')
  assert.equal(err.retryAfter, null)
})

test('an error response without the error body is an http_error with its status', async () => {
  const wx = scriptedWx({ 'GET /gateway': () => json(502, '<html>Bad Gateway</html>') })

  const err = await rejection(createClient({ baseUrl: BASE, wx }).request({ url: '/gateway' }))

  assert.equal(err.code, 'http_error')
  assert.equal(err.status, 502)
})

test('a failed wx.request is a network_error without a status', async () => {
  const wx = createFakeWx({ respond: () => ({ fail: 'timeout' }) })

  const err = await rejection(createClient({ baseUrl: BASE, wx }).login())

  assert.ok(err instanceof WeappLoginError)
  assert.equal(err.code, 'network_error')
  assert.equal(err.status, null)
  assert.match(err.message, /timeout/)
})

test('a failed platform login is a login_failed error and sends nothing', async () => {
  const wx = scriptedWx({})
  wx.codes.push(new Error('no network'))

  const err = await rejection(createClient({ baseUrl: BASE, wx }).login())

  assert.equal(err.code, 'login_failed')
  assert.equal(wx.requests.length, 0)
})

test('a login answer without a token is an invalid_response', async () => {
  const wx = createFakeWx({ respond: () => json(200, { user: { id: 1 } }) })

  const err = await rejection(createClient({ baseUrl: BASE, wx }).login())

  assert.equal(err.code, 'invalid_response')
})

test('a token in storage is used without logging in, under a custom key too', async () => {
  const storage = new Map([['my-key', 'kept']])
  const wx = scriptedWx({ 'GET /api/v1/me': () => json(200, { user: { id: 7 } }) }, { storage })
  const client = createClient({ baseUrl: BASE, wx, storageKey: 'my-key' })

  await client.request({ url: '/api/v1/me' })

  assert.equal(wx.loginCalls, 0)
  assert.equal(wx.requests[0].header.Authorization, 'Bearer kept')
})

test('the login token is not sent to the login endpoint', async () => {
  const storage = new Map([['weapp-login:token', 'old']])
  const wx = scriptedWx({}, { storage })

  await createClient({ baseUrl: BASE, wx }).login()

  assert.equal(wx.requests[0].header.Authorization, undefined)
  assert.deepEqual(Object.keys(wx.requests[0].body), ['code'])
})

test('request passes method, data and headers through and replaces a caller authorization', async () => {
  const wx = scriptedWx({ 'PUT /api/v1/things': () => json(200, { ok: true }) })
  const client = createClient({ baseUrl: BASE + '/', wx })

  const res = await client.request({
    url: 'api/v1/things', method: 'put', data: { a: 1 }, header: { 'X-Trace': 't', authorization: 'Bearer mine' }
  })

  assert.deepEqual(res, { statusCode: 200, data: { ok: true }, header: {} })
  const call = wx.requestsTo('/api/v1/things')[0]
  assert.equal(call.url, BASE + '/api/v1/things')
  assert.equal(call.method, 'PUT')
  assert.deepEqual(call.body, { a: 1 })
  assert.equal(call.header['X-Trace'], 't')
  assert.equal(call.header.authorization, undefined)
  assert.equal(call.header.Authorization, 'Bearer tok-1')
})

test('an absolute url is refused so the token never leaves the base url', async () => {
  const wx = scriptedWx({})
  const client = createClient({ baseUrl: BASE, wx })

  for (const url of ['https://evil.test/x', '//evil.test/x']) {
    await assert.rejects(client.request({ url }), TypeError)
  }
  assert.equal(wx.requests.length, 0)
})

test('logout forgets the token also when the server says 401', async () => {
  const storage = new Map([['weapp-login:token', 'gone']])
  const wx = scriptedWx({ 'POST /api/v1/logout': () => apiError(401, 'unauthorized') }, { storage })
  const client = createClient({ baseUrl: BASE, wx })

  await client.logout()

  assert.equal(storage.has('weapp-login:token'), false)
  assert.equal(client.getToken(), null)
})

test('logout keeps the token when the server cannot be reached, so it can be retried', async () => {
  const storage = new Map([['weapp-login:token', 'alive']])
  const wx = scriptedWx({ 'POST /api/v1/logout': () => apiError(503, 'unavailable') }, { storage })
  const client = createClient({ baseUrl: BASE, wx })

  const err = await rejection(client.logout({ all: true }))

  assert.equal(err.code, 'unavailable')
  assert.equal(storage.get('weapp-login:token'), 'alive')
  assert.deepEqual(wx.requests[0].body, { all: true })
})

test('logout without a token sends nothing', async () => {
  const wx = scriptedWx({})

  await createClient({ baseUrl: BASE, wx }).logout()

  assert.equal(wx.requests.length, 0)
})

test('the helpers log in again once the last login is older than freshSeconds', async (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: 1000000 }) // the clock moves only when told
  const wx = scriptedWx({ 'GET /api/v1/me/session-key': () => json(200, { valid: true }) })
  const client = createClient({ baseUrl: BASE, wx, freshSeconds: 60 })

  assert.equal(await client.checkSessionKey(), true)
  t.mock.timers.tick(59999)
  assert.equal(await client.checkSessionKey(), true)
  assert.equal(wx.loginCalls, 1)
  t.mock.timers.tick(1)
  assert.equal(await client.checkSessionKey(), true)

  assert.equal(wx.loginCalls, 2)
})

test('the global wx is used when none is passed', async (t) => {
  const wx = scriptedWx({})
  globalThis.wx = wx
  t.after(() => { delete globalThis.wx })

  await createClient({ baseUrl: BASE }).login()

  assert.equal(wx.loginCalls, 1)
})

test('createClient refuses to start without a base url or a wx object', () => {
  assert.throws(() => createClient({ wx: scriptedWx({}) }), TypeError)
  assert.throws(() => createClient({ baseUrl: BASE }), TypeError)
})

test('the module parses as ES2017 so the mini-program runtime loads it', (t) => {
  const script = [
    "const acorn = require('internal/deps/acorn/acorn/dist/acorn')",
    "const source = require('fs').readFileSync(process.argv[1], 'utf8')",
    "acorn.parse(source, { ecmaVersion: 2017, sourceType: 'script' })"
  ].join(';')
  const file = path.join(__dirname, '..', 'index.js')
  const run = childProcess.spawnSync(process.execPath, ['--expose-internals', '-e', script, file], { encoding: 'utf8' })
  if (/Cannot find module/.test(run.stderr)) {
    t.skip('this Node has no bundled acorn')
    return
  }
  assert.equal(run.status, 0, run.stderr)
})
