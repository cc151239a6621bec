'use strict'
// The client on every platform and runtime, against each platform's fake API and a scripted
// service: which login it calls, how it sends requests, reads answers and keeps the token.
const { describe, test } = require('node:test')
const assert = require('node:assert/strict')

const { createClient, WeappLoginError } = require('..')
const fakes = require('../testing/fakes')

const BASE = 'https://api.example.test'
const PROVIDERS = { wechat: 'weixin', qq: 'qq', douyin: 'toutiao', alipay: 'alipay' }

function json (statusCode, data, header) {
  return { statusCode: statusCode, data: data, header: header || {} }
}

function apiError (statusCode, code, header, extra) {
  return json(statusCode, { error: Object.assign({ code: code, message: code + ' (scripted)' }, extra) }, header)
}

/** A scripted service: /api/v1/login hands out tok-1, tok-2, …; `routes` answer the rest. */
function scripted (routes) {
  let issued = 0
  return function (call) {
    const route = routes[call.method + ' ' + call.path]
    if (route) return route(call)
    if (call.path === '/api/v1/login') {
      issued += 1
      return json(200, { token: 'tok-' + issued, token_type: 'Bearer', expires_in: 60, user: { id: 7, created: false } })
    }
    return apiError(404, 'not_found')
  }
}

function setUp (setup, routes, options) {
  const fake = setup.create(Object.assign({ respond: scripted(routes || {}) }, options))
  const client = createClient({ baseUrl: BASE, app: 'shop', platform: setup.platform, runtime: setup.runtime, api: fake })
  return { fake, client }
}

async function rejection (promise) {
  try {
    await promise
  } catch (err) {
    return err
  }
  assert.fail('expected a rejection')
}

for (const setup of fakes.SETUPS) {
  describe(setup.name, () => {
    test('login sends the platform code and the app, and keeps the token in storage', async () => {
      const { fake, client } = setUp(setup)
      fake.codes.push('alice:' + setup.platform)

      const { user } = await client.login()

      assert.equal(user.id, 7)
      assert.equal(fake.loginCalls, 1)
      const [call] = fake.requestsTo('/api/v1/login', 'POST')
      assert.deepEqual(call.body, { code: 'alice:' + setup.platform, app: 'shop' })
      assert.equal(call.url, BASE + '/api/v1/login')
      assert.equal(call.header['content-type'], 'application/json')
      assert.equal(call.header.Authorization, undefined)
      assert.equal(fake.storage.get('weapp-login:token'), 'tok-1')
      assert.equal(client.getToken(), 'tok-1')
    })

    test('a request carries the token and a dead token is replaced by one re-login', async () => {
      let calls = 0
      const { fake, client } = setUp(setup, {
        'GET /api/v1/me': (call) => {
          calls += 1
          return calls === 1 ? apiError(401, 'unauthorized') : json(200, { user: { id: 7 }, auth: call.header.Authorization })
        }
      })

      const res = await client.request({ url: '/api/v1/me' })

      assert.equal(res.statusCode, 200)
      assert.deepEqual(res.data, { user: { id: 7 }, auth: 'Bearer tok-2' })
      assert.equal(fake.loginCalls, 2)
      assert.deepEqual(fake.requests.map((r) => r.method + ' ' + r.path),
        ['POST /api/v1/login', 'GET /api/v1/me', 'POST /api/v1/login', 'GET /api/v1/me'])
    })

    test('an API error carries its code, status, retry delay, request id and platform', async () => {
      const { client } = setUp(setup, {
        'POST /api/v1/login': () => apiError(429, 'rate_limited', { 'Retry-After': '30', 'X-Request-ID': 'req-1' },
          { platform: setup.platform })
      })

      const err = await rejection(client.login())

      assert.ok(err instanceof WeappLoginError)
      assert.deepEqual([err.code, err.status, err.retryAfter, err.requestId, err.platform],
        ['rate_limited', 429, 30, 'req-1', setup.platform])
      assert.equal(client.getToken(), null)
    })

    test('a restarted app keeps its login from the platform storage', async () => {
      const storage = new Map()
      await setUp(setup, {}, { storage }).client.login()

      const { fake, client } = setUp(setup, { 'GET /api/v1/me': (call) => json(200, { auth: call.header.Authorization }) }, { storage })
      const res = await client.request({ url: '/api/v1/me' })

      assert.equal(res.data.auth, 'Bearer tok-1')
      assert.equal(fake.loginCalls, 0)
    })

    test('logout forgets the token in the platform storage', async () => {
      const { fake, client } = setUp(setup, { 'POST /api/v1/logout': () => json(204, '') })
      await client.login()

      await client.logout({ all: true })

      assert.deepEqual(fake.requestsTo('/api/v1/logout')[0].body, { all: true })
      assert.equal(fake.storage.has('weapp-login:token'), false)
      assert.equal(client.getToken(), null)
    })

    test('a transport failure is a network_error without a status', async () => {
      const { client } = setUp(setup, { 'POST /api/v1/login': () => ({ fail: 'timeout' }) })

      const err = await rejection(client.login())

      assert.equal(err.code, 'network_error')
      assert.equal(err.status, null)
      assert.match(err.message, /timeout/)
    })

    test('a failed platform login is a login_failed error and sends nothing', async () => {
      const { fake, client } = setUp(setup)
      fake.codes.push(new Error('user cancelled'))

      const err = await rejection(client.login())

      assert.equal(err.code, 'login_failed')
      assert.match(err.message, /user cancelled/)
      assert.equal(fake.requests.length, 0)
    })
  })
}

describe('which login each platform calls', () => {
  test('native Alipay asks my.getAuthCode for the silent auth_base scope and reads authCode', async () => {
    const { fake, client } = setUp(fakes.SETUPS.find((s) => s.name === 'Alipay'))

    await client.login()

    assert.deepEqual(fake.loginArgs, [{ scopes: 'auth_base' }])
  })

  test('uni-app gets the platform as its provider, and Alipay the auth_base scope too', async () => {
    for (const setup of fakes.SETUPS.filter((s) => s.runtime === 'uni')) {
      const { fake, client } = setUp(setup)
      await client.login()
      const expected = { provider: PROVIDERS[setup.platform] }
      if (setup.platform === 'alipay') expected.scopes = 'auth_base'
      assert.deepEqual(fake.loginArgs, [expected], setup.name)
    }
  })

  test('wx, qq, tt and Taro logins get no arguments of ours', async () => {
    for (const setup of fakes.SETUPS.filter((s) => s.runtime === 'taro' || ['wechat', 'qq', 'douyin'].includes(s.platform))) {
      if (setup.runtime === 'uni') continue
      const { fake, client } = setUp(setup)
      await client.login()
      assert.deepEqual(fake.loginArgs, [{}], setup.name)
    }
  })

  test('WeCom logs in with wx.qy.login, never with the WeChat wx.login', async () => {
    const { fake, client } = setUp(fakes.SETUPS.find((s) => s.platform === 'wecom'))

    await client.login()

    assert.equal(fake.loginCalls, 1)
    assert.equal(fake.wxLoginCalls, 0)
  })

  test('WeCom under uni-app or Taro logs in with the global wx.qy.login and requests through the runtime', async (t) => {
    const wecom = fakes.createFakeWecom({ respond: scripted({}) })
    globalThis.wx = wecom
    t.after(() => { delete globalThis.wx })
    for (const [runtime, create] of [['uni', fakes.createFakeUni], ['taro', fakes.createFakeTaro]]) {
      const api = create({ respond: scripted({}) })
      await createClient({ baseUrl: BASE, platform: 'wecom', runtime, api }).login()
      assert.equal(api.loginCalls, 0, runtime)
      assert.equal(api.requestsTo('/api/v1/login').length, 1, runtime)
    }
    assert.equal(wecom.loginCalls, 2)
    assert.equal(wecom.wxLoginCalls, 0)
  })

  test('a Douyin login without a code (the user declined to log in) is login_failed', async () => {
    const { fake, client } = setUp(fakes.SETUPS.find((s) => s.name === 'Douyin'))
    fake.codes.push('')

    const err = await rejection(client.login())

    assert.equal(err.code, 'login_failed')
    assert.equal(fake.requests.length, 0)
  })
})

describe("Alipay's request", () => {
  const alipay = fakes.SETUPS.find((s) => s.name === 'Alipay')

  test('sends headers (not header) and asks for text, and parses the JSON itself', async () => {
    const { fake, client } = setUp(alipay, { 'GET /api/v1/me': () => json(200, { user: { id: 7 } }) })

    const res = await client.request({ url: '/api/v1/me', header: { 'X-Trace': 't' } })

    assert.deepEqual(res, { statusCode: 200, data: { user: { id: 7 } }, header: {} })
    const { options } = fake.requestsTo('/api/v1/me')[0]
    assert.equal(options.header, undefined)
    assert.deepEqual(options.headers, { 'X-Trace': 't', 'content-type': 'application/json', Authorization: 'Bearer tok-1' })
    assert.equal(options.dataType, 'text')
  })

  test('an HTML error page is an http_error with its status, not a parse failure', async () => {
    const { client } = setUp(alipay, { 'GET /gateway': () => json(502, '<html>Bad Gateway</html>') })

    const err = await rejection(client.request({ url: '/gateway' }))

    assert.equal(err.code, 'http_error')
    assert.equal(err.status, 502)
  })
})

describe('a busy platform', () => {
  const wechat = fakes.SETUPS[0]

  function busyThenOk (code, retryAfter) {
    let calls = 0
    return {
      'POST /api/v1/login': () => {
        calls += 1
        if (calls === 1) return apiError(503, code, { 'Retry-After': retryAfter })
        return json(200, { token: 'tok-after-busy', user: { id: 7, created: false } })
      }
    }
  }

  for (const code of ['platform_busy', 'wechat_busy']) {
    test(`${code} is retried once with the same code after Retry-After`, async () => {
      const { fake, client } = setUp(wechat, busyThenOk(code, '0'))

      await client.login()

      assert.equal(fake.loginCalls, 1)
      const posts = fake.requestsTo('/api/v1/login')
      assert.equal(posts.length, 2)
      assert.deepEqual(posts[0].body, posts[1].body)
      assert.equal(client.getToken(), 'tok-after-busy')
    })
  }

  test('a second busy answer is thrown with its retry delay', async () => {
    const { fake, client } = setUp(wechat, { 'POST /api/v1/login': () => apiError(503, 'platform_busy', { 'Retry-After': '0' }) })

    const err = await rejection(client.login())

    assert.equal(err.code, 'platform_busy')
    assert.equal(err.retryAfter, 0)
    assert.equal(fake.requestsTo('/api/v1/login').length, 2)
  })

  test('busyRetries: 0 throws the first busy answer', async () => {
    const fake = fakes.createFakeWx({ respond: scripted(busyThenOk('platform_busy', '0')) })
    const client = createClient({ baseUrl: BASE, api: fake, busyRetries: 0 })

    const err = await rejection(client.login())

    assert.equal(err.code, 'platform_busy')
    assert.equal(fake.requestsTo('/api/v1/login').length, 1)
  })

  test('a Retry-After longer than a few seconds is left to the app', async () => {
    const { fake, client } = setUp(wechat, busyThenOk('platform_busy', '60'))

    const err = await rejection(client.login())

    assert.equal(err.retryAfter, 60)
    assert.equal(fake.requestsTo('/api/v1/login').length, 1)
  })

  test('other errors are not retried', async () => {
    for (const [status, code] of [[429, 'rate_limited'], [502, 'platform_error'], [504, 'platform_timeout'], [503, 'unavailable']]) {
      const { fake, client } = setUp(wechat, { 'POST /api/v1/login': () => apiError(status, code, { 'Retry-After': '0' }) })
      const err = await rejection(client.login())
      assert.equal(err.code, code)
      assert.equal(fake.requestsTo('/api/v1/login').length, 1, code)
    }
  })
})

describe('createClient', () => {
  test('finds each native platform object and uni among the globals', async (t) => {
    for (const [name, platform, runtime, create] of [
      ['qq', 'qq', undefined, fakes.createFakeQq],
      ['tt', 'douyin', undefined, fakes.createFakeTt],
      ['my', 'alipay', undefined, fakes.createFakeMy],
      ['wx', 'wecom', undefined, fakes.createFakeWecom],
      ['uni', 'douyin', 'uni', fakes.createFakeUni]
    ]) {
      const fake = create({ respond: scripted({}) })
      globalThis[name] = fake
      t.after(() => { delete globalThis[name] })
      await createClient({ baseUrl: BASE, platform, runtime }).login()
      assert.equal(fake.loginCalls, 1, name)
      delete globalThis[name]
    }
  })

  test('leaves app out of the login body when it is not given', async () => {
    const fake = fakes.createFakeTt({ respond: scripted({}) })

    await createClient({ baseUrl: BASE, platform: 'douyin', api: fake }).login()

    assert.deepEqual(Object.keys(fake.requests[0].body), ['code'])
  })

  test('refuses an unknown platform or runtime, an empty app and a missing platform object', () => {
    const api = fakes.createFakeWx({})
    assert.throws(() => createClient({ baseUrl: BASE, api, platform: 'baidu' }), /platform must be one of/)
    assert.throws(() => createClient({ baseUrl: BASE, api, runtime: 'remax' }), /runtime must be one of/)
    assert.throws(() => createClient({ baseUrl: BASE, api, app: '' }), /app must be/)
    assert.throws(() => createClient({ baseUrl: BASE, platform: 'alipay' }), /no my object/)
    assert.throws(() => createClient({ baseUrl: BASE, runtime: 'taro' }), /no Taro object/)
    assert.throws(() => createClient({ baseUrl: BASE, platform: 'wecom', api: fakes.createFakeWx({}) }), /no login API for wecom/)
  })
})
