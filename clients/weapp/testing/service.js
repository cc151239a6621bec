'use strict'
/**
 * Starts the real service (`python -m entrypoints`) on loopback for the tests: a free port, a
 * SQLite file in a temp dir, the built-in simulator, the in-memory session store, no login rate
 * limit. Stopped by PID (its process group) in the tests' `after` hook.
 *
 * `startService({ env })` adds settings (e.g. `TOKEN_FORMAT: 'jwt'`).
 * `startService({ apps })` serves the given apps (an APPS_FILE of simulator apps) instead of the
 * one WeChat app `default`, and tells whether this server picks the app by the login's `app`
 * (servers before 2.0 ignore the field and log every code in at their one WeChat app).
 */
const childProcess = require('node:child_process')
const fs = require('node:fs')
const http = require('node:http')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..')
const START_TIMEOUT_MS = 30000
const STOP_TIMEOUT_MS = 10000
// Settings of the service that must not leak in from the developer's shell.
const SCRUBBED = new RegExp('^(WECHAT_|REDIS_|SESSION_|DATABASE_URL$|APP_ENV$|ADMIN_TOKEN$|APPS_FILE$|' +
  'WORKERS$|TRUSTED_PROXY_COUNT$|LOGIN_RATE_PER_MINUTE$|HOST$|PORT$|LOG_LEVEL$|TOKEN_|JWT_|' +
  'ACCESS_TOKEN_TTL_SECONDS$|SERVICE_TOKEN$)')

function freePort () {
  return new Promise(function (resolve, reject) {
    const server = net.createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', function () {
      const port = server.address().port
      server.close(function () { resolve(port) })
    })
  })
}

/** GET `url` with optional headers → { statusCode, data }, for checks that bypass the client. */
function get (url, headers) {
  return new Promise(function (resolve, reject) {
    const req = http.get(url, { headers: headers || {}, agent: false }, function (res) {
      const chunks = []
      res.on('data', function (chunk) { chunks.push(chunk) })
      res.on('end', function () {
        const text = Buffer.concat(chunks).toString('utf8')
        let data = text
        try { data = JSON.parse(text) } catch (err) { /* not JSON */ }
        resolve({ statusCode: res.statusCode, data: data })
      })
      res.on('error', reject)
    })
    req.setTimeout(2000, function () { req.destroy(new Error('timeout')) })
    req.on('error', reject)
  })
}

function sleep (ms) {
  return new Promise(function (resolve) { setTimeout(resolve, ms) })
}

/** A login with `app` naming no app: 400 unknown_app where the server routes by app. */
function routesByApp (baseUrl) {
  return new Promise(function (resolve, reject) {
    const body = JSON.stringify({ code: 'probe:' + process.pid + '-' + Date.now(), app: 'no-such-app' })
    const req = http.request(baseUrl + '/api/v1/login', {
      method: 'POST', agent: false, headers: { 'content-type': 'application/json' }
    }, function (res) {
      const chunks = []
      res.on('data', function (chunk) { chunks.push(chunk) })
      res.on('end', function () {
        let data = null
        try { data = JSON.parse(Buffer.concat(chunks).toString('utf8')) } catch (err) { /* not JSON */ }
        resolve(res.statusCode === 400 && Boolean(data && data.error && data.error.code === 'unknown_app'))
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** The APPS_FILE for `apps`: [{ id, platform }], each served by the built-in simulator. */
function appsToml (apps) {
  return apps.map(function (app) {
    return '[apps.' + app.id + ']\nplatform = "' + app.platform + '"\nsimulator = true\n'
  }).join('\n')
}

/**
 * → { baseUrl, routesByApp, stop(), output() } once GET /healthz answers 200; rejects with the
 * log tail. `routesByApp` is only asked when `apps` are given.
 */
async function startService (options) {
  const apps = options && options.apps
  const python = process.env.WEAPP_PYTHON || path.join(REPO_ROOT, '.venv', 'bin', 'python')
  const port = await freePort()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weapp-client-'))
  const env = {}
  for (const key of Object.keys(process.env)) if (!SCRUBBED.test(key)) env[key] = process.env[key]
  Object.assign(env, {
    HOST: '127.0.0.1',
    PORT: String(port),
    DATABASE_URL: 'sqlite+aiosqlite:///' + path.join(dir, 'weapp.db'),
    LOGIN_RATE_PER_MINUTE: '0',
    LOG_LEVEL: 'WARNING'
  })
  Object.assign(env, (options && options.env) || {})
  if (apps) {
    env.APPS_FILE = path.join(dir, 'apps.toml')
    fs.writeFileSync(env.APPS_FILE, appsToml(apps))
  }
  const child = childProcess.spawn(python, ['-m', 'entrypoints'], {
    cwd: REPO_ROOT, env: env, detached: true, stdio: ['ignore', 'pipe', 'pipe']
  })
  let log = ''
  const keep = function (chunk) { log = (log + chunk.toString('utf8')).slice(-8000) }
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  let exited = null
  const exit = new Promise(function (resolve) {
    child.on('exit', function (code, signal) { exited = { code: code, signal: signal }; resolve() })
    child.on('error', function (err) { exited = { error: err.message }; resolve() })
  })
  const baseUrl = 'http://127.0.0.1:' + port

  async function stop () {
    if (exited === null) {
      signalGroup(child.pid, 'SIGTERM')
      const timer = setTimeout(function () { signalGroup(child.pid, 'SIGKILL') }, STOP_TIMEOUT_MS)
      await exit
      clearTimeout(timer)
    }
    fs.rmSync(dir, { recursive: true, force: true })
  }

  const deadline = Date.now() + START_TIMEOUT_MS
  while (Date.now() < deadline) {
    if (exited !== null) {
      await stop()
      throw new Error('service exited at start (' + JSON.stringify(exited) + '):\n' + log)
    }
    try {
      if ((await get(baseUrl + '/healthz')).statusCode === 200) {
        const routes = apps ? await routesByApp(baseUrl) : false
        return { baseUrl: baseUrl, routesByApp: routes, stop: stop, output: function () { return log } }
      }
    } catch (err) { /* not listening yet */ }
    await sleep(150)
  }
  await stop()
  throw new Error('service did not answer /healthz within 30 s:\n' + log)
}

/** The child leads its own process group, so Sanic's worker processes go with it. */
function signalGroup (pid, signal) {
  try { process.kill(-pid, signal) } catch (err) { /* already gone */ }
}

module.exports = { startService: startService, get: get, REPO_ROOT: REPO_ROOT }
