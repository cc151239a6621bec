'use strict'
/**
 * weapp-login client for mini-programs (WeChat, QQ, Douyin, Alipay, WeCom; natively, under
 * uni-app or under Taro): log in once, attach the token, renew it on 401 (with the refresh
 * token in the service's JWT mode, else by a new login).
 *
 * Dependency-free ES2017 + CommonJS, so every mini-program runtime and Node load it.
 * Every failure is a WeappLoginError carrying the API's error code, the HTTP status and, on
 * 429/503, the Retry-After delay in seconds.
 */

const DEFAULT_STORAGE_KEY = 'weapp-login:token'
const REFRESH_SUFFIX = ':refresh' // the refresh token's key (JWT mode): the token's key + this
const DEFAULT_FRESH_SECONDS = 240
const DEFAULT_BUSY_RETRIES = 1
const MAX_BUSY_WAIT_SECONDS = 5 // a longer wait is the app's call: the code lives 3-5 minutes
// The API's "platform is busy" code, and its v1 name (servers before 2.0 send that one).
const BUSY_CODES = ['platform_busy', 'wechat_busy']

/** Each platform: the global of its native API and uni-app's name for it (`provider`). */
const PLATFORMS = {
  wechat: { global: 'wx', provider: 'weixin' },
  qq: { global: 'qq', provider: 'qq' },
  douyin: { global: 'tt', provider: 'toutiao' },
  alipay: { global: 'my', provider: 'alipay' },
  wecom: { global: 'wx', provider: null } // logs in with wx.qy.login under every runtime
}
const RUNTIMES = ['native', 'uni', 'taro']

/* eslint-disable no-undef */
// Free variables, not globalThis: some mini-program runtimes hand these in as module arguments.
const GLOBALS = {
  wx: function () { return typeof wx === 'undefined' ? undefined : wx },
  qq: function () { return typeof qq === 'undefined' ? undefined : qq },
  tt: function () { return typeof tt === 'undefined' ? undefined : tt },
  my: function () { return typeof my === 'undefined' ? undefined : my },
  uni: function () { return typeof uni === 'undefined' ? undefined : uni },
  Taro: function () { return typeof Taro === 'undefined' ? undefined : Taro }
}
/* eslint-enable no-undef */

/** A failed login or API call: `code` is the API's `error.code` (or a client-side code). */
class WeappLoginError extends Error {
  constructor (message, details) {
    super(message)
    const d = details || {}
    this.name = 'WeappLoginError'
    this.code = d.code || 'unknown_error'
    this.status = d.status == null ? null : d.status
    this.retryAfter = d.retryAfter == null ? null : d.retryAfter
    this.requestId = d.requestId == null ? null : d.requestId
    this.platform = d.platform == null ? null : d.platform
  }
}

/** Response header names come in whatever case the platform (or a proxy) chose. */
function headerValue (header, name) {
  if (!header) return undefined
  const wanted = name.toLowerCase()
  for (const key of Object.keys(header)) {
    if (key.toLowerCase() === wanted) return header[key]
  }
  return undefined
}

/** Retry-After is delta-seconds or an HTTP date; either way the caller gets seconds. */
function parseRetryAfter (value) {
  if (value == null || value === '') return null
  const text = String(value).trim()
  if (/^\d+$/.test(text)) return Number(text)
  const at = Date.parse(text)
  if (Number.isNaN(at)) return null
  return Math.max(0, Math.ceil((at - Date.now()) / 1000))
}

function errorFromResponse (res) {
  const body = res.data && typeof res.data === 'object' ? res.data : null
  const error = body && body.error && typeof body.error === 'object' ? body.error : null
  const status = res.statusCode
  const retryAfter = status === 429 || status === 503
    ? parseRetryAfter(headerValue(res.header, 'Retry-After'))
    : null
  return new WeappLoginError(
    (error && error.message) || 'HTTP ' + status,
    {
      code: (error && error.code) || 'http_error',
      status: status,
      retryAfter: retryAfter,
      requestId: headerValue(res.header, 'X-Request-ID'),
      platform: error && error.platform
    }
  )
}

function isAbsoluteUrl (url) {
  return /^[a-z][a-z0-9+.-]*:/i.test(url) || url.indexOf('//') === 0
}

function messageOf (err, fallback) {
  // wx, qq, tt, uni and Taro say `errMsg`; Alipay says `errorMessage` and a numeric `error`.
  if (err && err.errMsg) return err.errMsg
  if (err && err.errorMessage) return err.errorMessage
  if (err && err.error != null) return fallback + ' (error ' + err.error + ')'
  return fallback
}

/** Alipay answers an HTTP status outside 2xx through `fail` (error 19), with the response on it. */
function httpStatusOf (res) {
  const status = res && (typeof res.statusCode === 'number' ? res.statusCode : res.status)
  return typeof status === 'number' && status >= 100 && status <= 599 ? status : null
}

function parseJsonText (data) {
  if (typeof data !== 'string') return data
  try { return JSON.parse(data) } catch (err) { return data }
}

/** Calls a callback-style API; a Promise it may also return (Taro, uni) must not go unhandled. */
function callApi (fn, self, args, success, fail) {
  const returned = fn.call(self, Object.assign({}, args, { success: success, fail: fail }))
  if (returned && typeof returned.then === 'function') returned.then(null, function () {})
  return returned
}

/**
 * The one place that knows each platform's and runtime's API: how to get a login code, make an
 * HTTP request and use storage. Returns { login(), request(call), storage }.
 */
function platformApi (opts) {
  const platform = opts.platform || 'wechat'
  const runtime = opts.runtime || 'native'
  if (!PLATFORMS[platform]) {
    throw new TypeError('createClient: platform must be one of ' + Object.keys(PLATFORMS).join(', '))
  }
  if (RUNTIMES.indexOf(runtime) < 0) {
    throw new TypeError('createClient: runtime must be one of ' + RUNTIMES.join(', '))
  }
  const globalName = runtime === 'native' ? PLATFORMS[platform].global : (runtime === 'uni' ? 'uni' : 'Taro')
  const api = opts.api || opts.wx || GLOBALS[globalName]()
  if (!api || typeof api.request !== 'function') {
    throw new TypeError('createClient: no ' + globalName + ' object (pass { api })')
  }
  // Only Alipay's own `my` differs from wx's shapes: uni-app and Taro smooth it over themselves.
  const alipay = runtime === 'native' && platform === 'alipay'

  function loginCall () {
    if (platform === 'wecom') { // WeCom's code comes from wx.qy.login, whichever runtime
      const host = api.qy ? api : GLOBALS.wx()
      return host && host.qy && typeof host.qy.login === 'function' ? [host.qy.login, host.qy, {}] : null
    }
    if (alipay) return [api.getAuthCode, api, { scopes: 'auth_base' }]
    if (runtime === 'uni') {
      const args = { provider: PLATFORMS[platform].provider }
      if (platform === 'alipay') args.scopes = 'auth_base'
      return [api.login, api, args]
    }
    return [api.login, api, {}] // wx, qq, tt and Taro (which maps Alipay onto getAuthCode itself)
  }
  const loginArgs = loginCall()
  if (!loginArgs || typeof loginArgs[0] !== 'function') {
    throw new TypeError('createClient: no login API for ' + platform + ' on ' + globalName)
  }

  function login () {
    return new Promise(function (resolve, reject) {
      const failed = function (message) { return new WeappLoginError(message, { code: 'login_failed' }) }
      callApi(loginArgs[0], loginArgs[1], loginArgs[2], function (res) {
        const code = res && (res.code || res.authCode) // Alipay's native answer: authCode
        if (code) resolve(code)
        else reject(failed(platform + ' login gave no code'))
      }, function (err) {
        reject(failed(messageOf(err, platform + ' login failed')))
      })
    })
  }

  /** One HTTP request: every status resolves as { statusCode, data, header }; transport fails. */
  function request (call) {
    return new Promise(function (resolve, reject) {
      const args = { url: call.url, method: call.method }
      if (alipay) {
        args.headers = call.header
        args.dataType = 'text' // parsed here: an HTML error page must not become a "parse" failure
        if (call.data !== undefined) {
          args.data = call.method !== 'GET' && typeof call.data === 'object' ? JSON.stringify(call.data) : call.data
        }
      } else {
        args.header = call.header
        if (call.data !== undefined) args.data = call.data
      }
      if (call.timeout) args.timeout = call.timeout
      const answer = function (res) {
        resolve({
          statusCode: httpStatusOf(res),
          data: alipay ? parseJsonText(res.data) : res.data,
          header: res.header || res.headers || {}
        })
      }
      callApi(api.request, api, args, answer, function (err) {
        if (httpStatusOf(err) !== null) answer(err)
        else reject(new WeappLoginError(messageOf(err, 'request failed'), { code: 'network_error' }))
      })
    })
  }

  const storage = alipay
    ? {
        get: function (key) { const res = api.getStorageSync({ key: key }); return res && res.data },
        set: function (key, value) { api.setStorageSync({ key: key, data: value }) },
        remove: function (key) { api.removeStorageSync({ key: key }) }
      }
    : {
        get: function (key) { return api.getStorageSync(key) },
        set: function (key, value) { api.setStorageSync(key, value) },
        remove: function (key) {
          if (typeof api.removeStorageSync === 'function') api.removeStorageSync(key)
          else api.setStorageSync(key, '')
        }
      }

  return { login: login, request: request, storage: storage }
}

function sleep (seconds) {
  return new Promise(function (resolve) { setTimeout(resolve, seconds * 1000) })
}

/**
 * createClient({ baseUrl, app, platform, runtime, api, storageKey, freshSeconds, busyRetries })
 * → client. The README describes every option.
 */
function createClient (options) {
  const opts = options || {}
  if (!opts.baseUrl || typeof opts.baseUrl !== 'string') {
    throw new TypeError('createClient: baseUrl is required')
  }
  if (opts.app !== undefined && (typeof opts.app !== 'string' || !opts.app)) {
    throw new TypeError('createClient: app must be a non-empty string')
  }
  const device = platformApi(opts)
  const baseUrl = opts.baseUrl.replace(/\/+$/, '')
  const app = opts.app
  const storageKey = opts.storageKey || DEFAULT_STORAGE_KEY
  const freshMs = 1000 * (opts.freshSeconds == null ? DEFAULT_FRESH_SECONDS : opts.freshSeconds)
  const busyRetries = opts.busyRetries == null ? DEFAULT_BUSY_RETRIES : opts.busyRetries

  const refreshKey = storageKey + REFRESH_SUFFIX
  let token = readStored(storageKey)
  let refreshToken = readStored(refreshKey) // JWT mode only: the server sends one with the token
  let loggedInAt = null // only a login made by this client counts as fresh
  let loginInFlight = null
  let renewInFlight = null

  function readStored (key) {
    try {
      const stored = device.storage.get(key)
      return typeof stored === 'string' && stored ? stored : null
    } catch (err) {
      return null
    }
  }

  function store (key, value) {
    try {
      if (value) device.storage.set(key, value)
      else device.storage.remove(key)
    } catch (err) {
      // Storage full or unavailable: the token still works for this run.
    }
  }

  function storeToken (value) {
    token = value
    store(storageKey, value)
  }

  function storeRefreshToken (value) {
    refreshToken = value
    store(refreshKey, value)
  }

  /** A login's or a refresh's answer: the access token, and in JWT mode the refresh token. */
  function keepTokens (res) {
    const answer = res.data
    if (!answer || typeof answer !== 'object' || typeof answer.token !== 'string' || !answer.token) {
      throw new WeappLoginError('the service answered without a token', {
        code: 'invalid_response', status: res.statusCode
      })
    }
    storeToken(answer.token)
    storeRefreshToken(typeof answer.refresh_token === 'string' ? answer.refresh_token : null)
    return answer
  }

  /** One request to the service as a Promise; any HTTP status resolves, transport failures reject. */
  function send (p, withToken) {
    const headers = {}
    let hasContentType = false
    for (const key of Object.keys(p.header || {})) {
      if (key.toLowerCase() === 'authorization') continue
      if (key.toLowerCase() === 'content-type') hasContentType = true
      headers[key] = p.header[key]
    }
    if (!hasContentType) headers['content-type'] = 'application/json'
    if (withToken && token) headers.Authorization = 'Bearer ' + token
    return device.request({
      url: baseUrl + (p.url.charAt(0) === '/' ? p.url : '/' + p.url),
      method: (p.method || 'GET').toUpperCase(),
      header: headers,
      data: p.data,
      timeout: p.timeout
    })
  }

  /** A busy platform did not use the code: the API allows sending it again after Retry-After. */
  function mayRetryBusy (err, attempt) {
    const wait = err.retryAfter == null ? 1 : err.retryAfter
    return BUSY_CODES.indexOf(err.code) >= 0 && attempt < busyRetries && wait <= MAX_BUSY_WAIT_SECONDS
  }

  async function performLogin () {
    const code = await device.login()
    const body = { code: code }
    if (app !== undefined) body.app = app
    let res
    for (let attempt = 0; ; attempt += 1) {
      res = await send({ url: '/api/v1/login', method: 'POST', data: body }, false)
      if (res.statusCode >= 200 && res.statusCode < 300) break
      const err = errorFromResponse(res)
      if (!mayRetryBusy(err, attempt)) throw err
      await sleep(err.retryAfter == null ? 1 : err.retryAfter)
    }
    const answer = keepTokens(res)
    loggedInAt = Date.now()
    return { user: answer.user }
  }

  /** JWT mode: new tokens for the refresh token; false when the service refused it. */
  async function performRefresh () {
    const sent = refreshToken
    const res = await send({ url: '/api/v1/token/refresh', method: 'POST', data: { refresh_token: sent } }, false)
    if (res.statusCode >= 200 && res.statusCode < 300) {
      keepTokens(res)
      return true
    }
    if (refreshToken === sent) storeRefreshToken(null) // refused (or reused): never sent again
    return false
  }

  /**
   * After a 401: new tokens, once for every request that saw the dead token. With a refresh
   * token (JWT mode) it is refreshed; a refresh that fails falls back to one new login.
   */
  async function renew () {
    if (refreshToken) {
      let refreshed = false
      try {
        refreshed = await performRefresh()
      } catch (err) {
        refreshed = false // the network failed: a login is the one way left
      }
      if (refreshed) return
    }
    await login()
  }

  /** Single-flight: every caller during one login shares its platform login and its POST. */
  function login () {
    if (!loginInFlight) {
      const current = performLogin()
      loginInFlight = current
      const clear = function () { if (loginInFlight === current) loginInFlight = null }
      current.then(clear, clear)
    }
    return loginInFlight
  }

  /**
   * After a 401 with `usedToken`: share a running login or renewal, or accept a newer token,
   * or renew (refresh, else log in) for everyone.
   */
  async function renewAfter (usedToken) {
    if (renewInFlight) return renewInFlight
    if (loginInFlight) {
      await loginInFlight
      return
    }
    if (token && token !== usedToken) return
    const current = renew()
    renewInFlight = current
    const clear = function () { if (renewInFlight === current) renewInFlight = null }
    current.then(clear, clear)
    return current
  }

  function isUnauthorized (res) {
    if (res.statusCode !== 401) return false
    const body = res.data
    const code = body && typeof body === 'object' && body.error ? body.error.code : undefined
    return code === undefined || code === 'unauthorized'
  }

  async function request (params) {
    const p = params || {}
    if (typeof p.url !== 'string' || isAbsoluteUrl(p.url)) {
      throw new TypeError('request: url must be a path relative to baseUrl') // the token stays home
    }
    if (renewInFlight) await renewInFlight
    if (!token || loginInFlight) await login()
    const usedToken = token
    let res = await send(p, true)
    if (isUnauthorized(res)) {
      if (token === usedToken) storeToken(null)
      await renewAfter(usedToken)
      res = await send(p, true) // once: a second 401 is thrown, never looped on
    }
    if (res.statusCode < 200 || res.statusCode >= 300) throw errorFromResponse(res)
    return res
  }

  /**
   * Ends this token (or, with `all`, every token of the user) and forgets it locally, also when
   * the server already considered it dead (401). On other failures the token is kept so the
   * call can be retried.
   */
  async function logout (params) {
    const all = Boolean(params && params.all)
    if (loginInFlight) await loginInFlight.catch(function () {})
    if (!token) return
    const body = all ? { all: true } : undefined
    const res = await send({ url: '/api/v1/logout', method: 'POST', data: body }, true)
    if (res.statusCode === 401 || (res.statusCode >= 200 && res.statusCode < 300)) {
      storeToken(null)
      storeRefreshToken(null)
      loggedInAt = null
      return
    }
    throw errorFromResponse(res)
  }

  function isFresh () {
    return loggedInAt !== null && Date.now() - loggedInAt < freshMs
  }

  /**
   * Logs in unless this client logged in within `freshSeconds`, so the server holds the
   * session_key the platform uses now. Call it before obtaining encryptedData, too: a login
   * made afterwards may rotate the key the data was encrypted with.
   */
  async function ensureFresh () {
    if (!isFresh()) await login()
  }

  async function getPhoneNumber (code) {
    await ensureFresh()
    const res = await request({ url: '/api/v1/me/phone', method: 'POST', data: { code: code } })
    return res.data.phone
  }

  async function decrypt (params) {
    const p = params || {}
    await ensureFresh()
    const body = { encrypted_data: p.encryptedData, iv: p.iv }
    if (p.rawData !== undefined) body.raw_data = p.rawData
    if (p.signature !== undefined) body.signature = p.signature
    const res = await request({ url: '/api/v1/me/decrypt', method: 'POST', data: body })
    return res.data.data
  }

  async function checkSessionKey () {
    await ensureFresh()
    const res = await request({ url: '/api/v1/me/session-key', method: 'GET' })
    return res.data.valid
  }

  return {
    login: login,
    request: request,
    logout: logout,
    ensureFresh: ensureFresh,
    getPhoneNumber: getPhoneNumber,
    decrypt: decrypt,
    checkSessionKey: checkSessionKey,
    getToken: function () { return token }
  }
}

module.exports = { createClient: createClient, WeappLoginError: WeappLoginError }
