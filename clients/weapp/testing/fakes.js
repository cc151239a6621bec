'use strict'
/**
 * Stand-ins for every mini-program API the client uses, in Node: `wx`, `qq`, `tt`, Alipay's `my`,
 * WeCom's `wx` (with `wx.qy`), uni-app's `uni` and Taro's `Taro`. Their logins hand out codes the
 * test controls; their `request` does real HTTP (or asks a scripted `respond`); storage lives in
 * a Map. Each keeps the quirks of its platform that matter to the client:
 * - wx, qq, tt, uni, Taro: `header` in, `statusCode`/`header` out, success for every HTTP status;
 * - tt.login answers `anonymousCode` and `isLogin` beside `code`;
 * - Alipay: `my.getAuthCode({scopes})` answers `authCode`; `my.request` takes `headers` and
 *   `dataType` (default 'json', which fails with error 14 on a body that is not JSON), answers
 *   `status`/`headers`, and sends a status outside 2xx to `fail` (error 19) with the response on
 *   it; storage takes objects (`{key}`, `{key, data}`) and answers `{data}`;
 * - WeCom: only `wx.qy.login` gives a WeCom code; plain `wx.login` gives codes the service refuses;
 * - uni and Taro: `hostsAlipay: true` sends a status outside 2xx to `fail` as Alipay does; Taro's
 *   calls also return Promises that reject on failure.
 */
const http = require('node:http')

let sequence = 0
const runId = Date.now().toString(36) + process.pid.toString(36)

/** A code the built-in simulator accepts once, for `user` (the text before the first ':'). */
function uniqueCode (user) {
  sequence += 1
  return user + ':' + runId + '-' + sequence
}

/** 'retry-after' → 'Retry-After': platforms hand headers over in whatever case they like. */
function titleCase (name) {
  return name.replace(/(^|-)([a-z])/g, function (_, dash, letter) { return dash + letter.toUpperCase() })
}

function encodeQuery (data) {
  return Object.keys(data).map(function (key) {
    return encodeURIComponent(key) + '=' + encodeURIComponent(String(data[key]))
  }).join('&')
}

function parseJson (text) {
  if (text === undefined) return undefined
  try { return JSON.parse(text) } catch (err) { return text }
}

function httpExchange (method, url, header, body) {
  return new Promise(function (resolve, reject) {
    const req = http.request(url, { method: method, headers: header }, function (res) {
      const chunks = []
      res.on('data', function (chunk) { chunks.push(chunk) })
      res.on('end', function () {
        const headers = {}
        for (const name of Object.keys(res.headers)) headers[titleCase(name)] = res.headers[name]
        resolve({ statusCode: res.statusCode, text: Buffer.concat(chunks).toString('utf8'), header: headers })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    if (body !== undefined) req.write(body)
    req.end()
  })
}

/**
 * What every fake shares: the queue of codes, the records and the transport.
 * - `user`: whose codes the login hands out once `codes` (a queue tests may push to, an Error
 *   makes the login fail) is empty;
 * - `storage`: a Map shared between fakes to model an app restart on the same phone;
 * - `rewrite`: { 'https://your-host': 'http://127.0.0.1:1234' } origins to redirect;
 * - `respond(call)`: a scripted server instead of HTTP; returns { statusCode, data, header }
 *   or { fail: 'message' }.
 * Records `loginCalls`, `loginArgs` and every `requests` entry as
 * { method, url, path, header, body, options } (`options`: what the client passed).
 */
function createDevice (options) {
  const opts = options || {}
  const rewrite = opts.rewrite || {}
  const device = {
    codes: [],
    loginCalls: 0,
    loginArgs: [],
    requests: [],
    storage: opts.storage || new Map(),

    /** The next code for a login called with `args`, or an Error. */
    nextCode: function (args) {
      device.loginCalls += 1
      const recorded = {}
      for (const key of Object.keys(args || {})) if (typeof args[key] !== 'function') recorded[key] = args[key]
      device.loginArgs.push(recorded)
      return device.codes.length ? device.codes.shift() : uniqueCode(opts.user || 'alice')
    },

    /** → Promise of { statusCode, text, header }; rejects with an Error on transport failure. */
    exchange: function (o, header) {
      const method = (o.method || 'GET').toUpperCase()
      let url = o.url
      for (const from of Object.keys(rewrite)) {
        if (url.indexOf(from) === 0) url = rewrite[from] + url.slice(from.length)
      }
      let body
      if (o.data !== undefined && method === 'GET') {
        if (typeof o.data === 'object') url += (url.indexOf('?') < 0 ? '?' : '&') + encodeQuery(o.data)
      } else if (o.data !== undefined) {
        body = typeof o.data === 'string' ? o.data : JSON.stringify(o.data)
      }
      const call = {
        method: method,
        url: o.url,
        path: new URL(url).pathname,
        header: Object.assign({}, header),
        body: parseJson(body),
        options: o
      }
      device.requests.push(call)
      if (!opts.respond) return httpExchange(method, url, header, body)
      return Promise.resolve().then(function () { return opts.respond(call) }).then(function (res) {
        if (res.fail) throw new Error(res.fail)
        const text = typeof res.data === 'string' || res.data === undefined ? res.data : JSON.stringify(res.data)
        return { statusCode: res.statusCode, text: text === undefined ? '' : text, header: res.header || {} }
      })
    },

    /** The requests made to `path` (and `method`, when given). */
    requestsTo: function (path, method) {
      return device.requests.filter(function (r) {
        return r.path === path && (!method || r.method === method)
      })
    }
  }
  return device
}

/** Calls `o.success` or `o.fail` on the next turn, as the platforms do. */
function later (o, ok, res) {
  setImmediate(function () {
    if (ok) { if (o.success) o.success(res) } else if (o.fail) o.fail(res)
  })
}

/** A login in the wx style: { code } or { errMsg } (tt adds anonymousCode and isLogin). */
function wxLogin (device, name, extra) {
  return function (o) {
    const code = device.nextCode(o)
    if (code instanceof Error) later(o, false, { errMsg: name + ':fail ' + code.message })
    else later(o, true, Object.assign({ code: code, errMsg: name + ':ok' }, extra))
  }
}

/**
 * A request in the wx style. With `alipayHost`, a status outside 2xx goes to `fail` with the
 * response on it, as Alipay (and uni-app or Taro on Alipay) does.
 */
function wxRequest (device, alipayHost) {
  return function (o) {
    return device.exchange(o, o.header).then(function (res) {
      const answer = { statusCode: res.statusCode, data: parseJson(res.text), header: res.header, errMsg: 'request:ok' }
      if (alipayHost && (res.statusCode < 200 || res.statusCode >= 300)) {
        later(o, false, Object.assign(answer, { error: 19, errMsg: 'request:fail http status error', status: res.statusCode, headers: res.header }))
      } else {
        later(o, true, answer)
      }
    }, function (err) {
      later(o, false, { errMsg: 'request:fail ' + err.message })
    })
  }
}

function wxStorage (device) {
  return {
    getStorageSync: function (key) { return device.storage.has(key) ? device.storage.get(key) : '' },
    setStorageSync: function (key, value) { device.storage.set(key, value) },
    removeStorageSync: function (key) { device.storage.delete(key) }
  }
}

/** WeChat's `wx` (and, with `name`, QQ's `qq`, whose API has the same shapes). */
function createFakeWx (options, name) {
  const device = createDevice(options)
  return Object.assign(device, wxStorage(device), {
    login: wxLogin(device, name || 'login'),
    request: wxRequest(device, false)
  })
}

function createFakeQq (options) {
  return createFakeWx(options, 'qq.login')
}

/** Douyin's `tt`: tt.login also answers the anonymous code and whether the user is logged in. */
function createFakeTt (options) {
  const device = createDevice(options)
  return Object.assign(device, wxStorage(device), {
    login: wxLogin(device, 'login', { anonymousCode: 'anon-' + uniqueCode('anonymous'), isLogin: true }),
    request: wxRequest(device, false)
  })
}

/** WeCom's `wx`: `wx.qy.login` gives the WeCom code; `wx.login` a WeChat code the service refuses. */
function createFakeWecom (options) {
  const device = createDevice(options)
  const fake = Object.assign(device, wxStorage(device), {
    wxLoginCalls: 0,
    login: function (o) {
      fake.wxLoginCalls += 1
      later(o, true, { code: uniqueCode('invalid-wechat-code-in-wecom'), errMsg: 'login:ok' })
    },
    qy: { login: wxLogin(device, 'qy.login') },
    request: wxRequest(device, false)
  })
  return fake
}

/** Alipay's `my`: getAuthCode, request with `headers`/`dataType`/`status`, object storage. */
function createFakeMy (options) {
  const device = createDevice(options)
  return Object.assign(device, {
    getAuthCode: function (o) {
      const code = device.nextCode(o)
      if (code instanceof Error) later(o, false, { error: 11, errorMessage: code.message })
      else later(o, true, { authCode: code, authSuccessScopes: [].concat(o.scopes || 'auth_base'), authErrorScopes: {} })
    },
    request: function (o) {
      device.exchange(o, o.headers).then(function (res) {
        let data = res.text
        if ((o.dataType || 'json') === 'json') {
          try { data = JSON.parse(res.text) } catch (err) {
            return later(o, false, { error: 14, errorMessage: 'JSON parse data error' })
          }
        }
        const answer = { status: res.statusCode, headers: res.header, data: data }
        if (res.statusCode >= 200 && res.statusCode < 300) later(o, true, answer)
        else later(o, false, Object.assign({ error: 19, errorMessage: 'http status error' }, answer))
      }, function (err) {
        later(o, false, { error: 12, errorMessage: err.message })
      })
    },
    getStorageSync: function (o) { return { data: device.storage.has(o.key) ? device.storage.get(o.key) : null } },
    setStorageSync: function (o) { device.storage.set(o.key, o.data); return { success: true } },
    removeStorageSync: function (o) { device.storage.delete(o.key); return { success: true } }
  })
}

/** uni-app's `uni`: uni.login({provider}) on every platform; `hostsAlipay` as described above. */
function createFakeUni (options) {
  const device = createDevice(options)
  return Object.assign(device, wxStorage(device), {
    login: wxLogin(device, 'login'),
    request: wxRequest(device, Boolean(options && options.hostsAlipay))
  })
}

/** Taro's `Taro`: callbacks and a Promise from each call (rejecting on failure, like Taro's). */
function createFakeTaro (options) {
  const device = createDevice(options)
  const promised = function (fn) {
    return function (o) {
      return new Promise(function (resolve, reject) {
        fn(Object.assign({}, o, {
          success: function (res) { if (o.success) o.success(res); resolve(res) },
          fail: function (err) { if (o.fail) o.fail(err); reject(err) }
        }))
      })
    }
  }
  return Object.assign(device, wxStorage(device), {
    login: promised(wxLogin(device, 'login')),
    request: promised(wxRequest(device, Boolean(options && options.hostsAlipay)))
  })
}

/**
 * Every way the client logs in, as { name, platform, runtime, create(options) → fake }:
 * the client takes `{ platform, runtime, api: fake }`.
 */
const SETUPS = [
  { name: 'WeChat', platform: 'wechat', runtime: 'native', create: createFakeWx },
  { name: 'QQ', platform: 'qq', runtime: 'native', create: createFakeQq },
  { name: 'Douyin', platform: 'douyin', runtime: 'native', create: createFakeTt },
  { name: 'Alipay', platform: 'alipay', runtime: 'native', create: createFakeMy },
  { name: 'WeCom', platform: 'wecom', runtime: 'native', create: createFakeWecom },
  { name: 'uni-app on WeChat', platform: 'wechat', runtime: 'uni', create: createFakeUni },
  { name: 'uni-app on Douyin', platform: 'douyin', runtime: 'uni', create: createFakeUni },
  {
    name: 'uni-app on Alipay',
    platform: 'alipay',
    runtime: 'uni',
    create: function (o) { return createFakeUni(Object.assign({ hostsAlipay: true }, o)) }
  },
  { name: 'Taro on QQ', platform: 'qq', runtime: 'taro', create: createFakeTaro },
  {
    name: 'Taro on Alipay',
    platform: 'alipay',
    runtime: 'taro',
    create: function (o) { return createFakeTaro(Object.assign({ hostsAlipay: true }, o)) }
  }
]

module.exports = {
  uniqueCode: uniqueCode,
  createFakeWx: createFakeWx,
  createFakeQq: createFakeQq,
  createFakeTt: createFakeTt,
  createFakeMy: createFakeMy,
  createFakeWecom: createFakeWecom,
  createFakeUni: createFakeUni,
  createFakeTaro: createFakeTaro,
  SETUPS: SETUPS
}
