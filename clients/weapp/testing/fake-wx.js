'use strict'
/**
 * A stand-in for the mini-program's `wx` in Node: `login` hands out codes the test controls,
 * `request` does real HTTP (or asks a scripted `respond`), storage lives in a Map.
 * It mimics wx.request's quirks that matter here: success for every HTTP status, fail only on
 * transport errors, JSON bodies serialised and parsed, GET data sent as the query string.
 */
const http = require('node:http')

let sequence = 0
const runId = Date.now().toString(36) + process.pid.toString(36)

/** A code the built-in simulator accepts once, for `user` (the text before the first ':'). */
function uniqueCode (user) {
  sequence += 1
  return user + ':' + runId + '-' + sequence
}

/** 'retry-after' → 'Retry-After': wx hands headers over in whatever case it likes. */
function titleCase (name) {
  return name.replace(/(^|-)([a-z])/g, function (_, dash, letter) { return dash + letter.toUpperCase() })
}

function encodeQuery (data) {
  return Object.keys(data).map(function (key) {
    return encodeURIComponent(key) + '=' + encodeURIComponent(String(data[key]))
  }).join('&')
}

function parseBody (body) {
  if (body === undefined) return undefined
  try { return JSON.parse(body) } catch (err) { return body }
}

function httpRequest (call, url, body) {
  return new Promise(function (resolve, reject) {
    const req = http.request(url, { method: call.method, headers: call.header }, function (res) {
      const chunks = []
      res.on('data', function (chunk) { chunks.push(chunk) })
      res.on('end', function () {
        const text = Buffer.concat(chunks).toString('utf8')
        let data = text
        try { data = JSON.parse(text) } catch (err) { /* wx leaves a non-JSON body as text */ }
        const header = {}
        for (const name of Object.keys(res.headers)) header[titleCase(name)] = res.headers[name]
        resolve({ statusCode: res.statusCode, data: data, header: header })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    if (body !== undefined) req.write(body)
    req.end()
  })
}

/**
 * createFakeWx({ user, storage, rewrite, respond })
 * - `user`: whose codes `login` hands out once `codes` (a queue tests may push to) is empty;
 * - `storage`: a Map shared between fakes to model an app restart on the same phone;
 * - `rewrite`: { 'https://your-host': 'http://127.0.0.1:1234' } origins to redirect;
 * - `respond(call)`: a scripted server instead of HTTP; returns { statusCode, data, header }
 *   or { fail: 'errMsg' }.
 * Records `loginCalls` and every `requests` entry as { method, url, path, header, body }.
 */
function createFakeWx (options) {
  const opts = options || {}
  const storage = opts.storage || new Map()
  const rewrite = opts.rewrite || {}
  const fake = {
    codes: [],
    loginCalls: 0,
    requests: [],
    storage: storage,

    login: function (o) {
      fake.loginCalls += 1
      const code = fake.codes.length ? fake.codes.shift() : uniqueCode(opts.user || 'alice')
      setImmediate(function () {
        if (code instanceof Error) o.fail({ errMsg: 'login:fail ' + code.message })
        else o.success({ code: code, errMsg: 'login:ok' })
      })
    },

    request: function (o) {
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
        header: Object.assign({}, o.header),
        body: parseBody(body)
      }
      fake.requests.push(call)
      const answer = opts.respond
        ? Promise.resolve().then(function () { return opts.respond(call) })
        : httpRequest({ method: method, header: o.header }, url, body)
      answer.then(function (res) {
        if (res.fail) o.fail({ errMsg: 'request:fail ' + res.fail })
        else o.success({ statusCode: res.statusCode, data: res.data, header: res.header || {} })
      }, function (err) {
        o.fail({ errMsg: 'request:fail ' + err.message })
      })
    },

    getStorageSync: function (key) {
      return storage.has(key) ? storage.get(key) : ''
    },
    setStorageSync: function (key, value) { storage.set(key, value) },
    removeStorageSync: function (key) { storage.delete(key) },

    /** The requests made to `path` (and `method`, when given). */
    requestsTo: function (path, method) {
      return fake.requests.filter(function (r) {
        return r.path === path && (!method || r.method === method)
      })
    }
  }
  return fake
}

module.exports = { createFakeWx: createFakeWx, uniqueCode: uniqueCode }
