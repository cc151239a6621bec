'use strict'
/**
 * weapp-login client for WeChat mini-programs: log in once, attach the token, re-login on 401.
 *
 * Dependency-free ES2017 + CommonJS, so the mini-program runtime and Node both load it.
 * Every failure is a WeappLoginError carrying the API's error code, the HTTP status and, on
 * 429/503, the Retry-After delay in seconds.
 */

const DEFAULT_STORAGE_KEY = 'weapp-login:token'
const DEFAULT_FRESH_SECONDS = 240

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
      requestId: headerValue(res.header, 'X-Request-ID')
    }
  )
}

function isAbsoluteUrl (url) {
  return /^[a-z][a-z0-9+.-]*:/i.test(url) || url.indexOf('//') === 0
}

function findGlobalWx () {
  // In the mini-program runtime `wx` is a global; in Node tests it may be put on globalThis.
  if (typeof wx !== 'undefined') return wx // eslint-disable-line no-undef
  return undefined
}

/**
 * createClient({ baseUrl, wx, storageKey, freshSeconds }) → client.
 *
 * - `baseUrl`: the service's origin (and optional prefix), e.g. 'https://api.example.com'.
 * - `wx`: the platform object (defaults to the global `wx`).
 * - `storageKey`: where the token lives in wx storage, so a restart keeps the login.
 * - `freshSeconds`: how recent this client's own login must be for the platform helpers to skip
 *   a new one (their payloads are tied to the newest session_key).
 */
function createClient (options) {
  const opts = options || {}
  if (!opts.baseUrl || typeof opts.baseUrl !== 'string') {
    throw new TypeError('createClient: baseUrl is required')
  }
  const platform = opts.wx || findGlobalWx()
  if (!platform || typeof platform.request !== 'function' || typeof platform.login !== 'function') {
    throw new TypeError('createClient: no wx object (pass { wx })')
  }
  const baseUrl = opts.baseUrl.replace(/\/+$/, '')
  const storageKey = opts.storageKey || DEFAULT_STORAGE_KEY
  const freshMs = 1000 * (opts.freshSeconds == null ? DEFAULT_FRESH_SECONDS : opts.freshSeconds)

  let token = readStoredToken()
  let loggedInAt = null // only a login made by this client counts as fresh
  let loginInFlight = null

  function readStoredToken () {
    try {
      const stored = platform.getStorageSync(storageKey)
      return typeof stored === 'string' && stored ? stored : null
    } catch (err) {
      return null
    }
  }

  function storeToken (value) {
    token = value
    try {
      if (value) platform.setStorageSync(storageKey, value)
      else if (typeof platform.removeStorageSync === 'function') platform.removeStorageSync(storageKey)
      else platform.setStorageSync(storageKey, '')
    } catch (err) {
      // Storage full or unavailable: the token still works for this run.
    }
  }

  function wxLogin () {
    return new Promise(function (resolve, reject) {
      platform.login({
        success: function (res) {
          if (res && res.code) resolve(res.code)
          else reject(new WeappLoginError('wx.login gave no code', { code: 'wx_login_failed' }))
        },
        fail: function (err) {
          const message = (err && err.errMsg) || 'wx.login failed'
          reject(new WeappLoginError(message, { code: 'wx_login_failed' }))
        }
      })
    })
  }

  /** One wx.request as a Promise; any HTTP status resolves, only transport failures reject. */
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
    return new Promise(function (resolve, reject) {
      const call = {
        url: baseUrl + (p.url.charAt(0) === '/' ? p.url : '/' + p.url),
        method: (p.method || 'GET').toUpperCase(),
        header: headers,
        success: function (res) {
          resolve({ statusCode: res.statusCode, data: res.data, header: res.header || {} })
        },
        fail: function (err) {
          const message = (err && err.errMsg) || 'request failed'
          reject(new WeappLoginError(message, { code: 'network_error' }))
        }
      }
      if (p.data !== undefined) call.data = p.data
      if (p.timeout) call.timeout = p.timeout
      platform.request(call)
    })
  }

  async function performLogin () {
    const code = await wxLogin()
    const res = await send({ url: '/api/v1/login', method: 'POST', data: { code: code } }, false)
    if (res.statusCode < 200 || res.statusCode >= 300) throw errorFromResponse(res)
    const body = res.data
    if (!body || typeof body !== 'object' || typeof body.token !== 'string' || !body.token) {
      throw new WeappLoginError('login answered without a token', {
        code: 'invalid_response', status: res.statusCode
      })
    }
    storeToken(body.token)
    loggedInAt = Date.now()
    return { user: body.user }
  }

  /** Single-flight: every caller during one login shares its wx.login and its POST. */
  function login () {
    if (!loginInFlight) {
      const current = performLogin()
      loginInFlight = current
      const clear = function () { if (loginInFlight === current) loginInFlight = null }
      current.then(clear, clear)
    }
    return loginInFlight
  }

  /** After a 401 with `usedToken`: share a running login, or accept a newer token, or log in. */
  async function renewAfter (usedToken) {
    if (loginInFlight) {
      await loginInFlight
      return
    }
    if (token && token !== usedToken) return
    await login()
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
   * session_key the platform uses now. Call it before obtaining encryptedData, too: a wx.login
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
