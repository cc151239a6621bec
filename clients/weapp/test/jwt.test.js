'use strict'
// The client against the real service in its JWT mode (TOKEN_FORMAT=jwt): an expired access
// token is refreshed once however many requests see it, and the requests are retried; a refresh
// that fails falls back to one new login. Expired tokens are made with the service's own key
// (the test writes it), from a real login's claims: the service then answers 401 as it would
// after ACCESS_TOKEN_TTL_SECONDS.
const { describe, test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const { createClient } = require('..')
const { createFakeWx } = require('../testing/fakes')
const { startService } = require('../testing/service')

let service
let signingKey
let keyDir

before(async () => {
  keyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'weapp-jwt-'))
  signingKey = crypto.generateKeyPairSync('ed25519').privateKey
  const keyFile = path.join(keyDir, 'signing.pem')
  fs.writeFileSync(keyFile, signingKey.export({ type: 'pkcs8', format: 'pem' }))
  service = await startService({ env: { TOKEN_FORMAT: 'jwt', JWT_SIGNING_KEY_FILE: keyFile } })
}, { timeout: 45000 })
after(async () => {
  if (service) await service.stop()
  if (keyDir) fs.rmSync(keyDir, { recursive: true, force: true })
})

const b64 = (buffer) => Buffer.from(buffer).toString('base64url')

/** `token` with the same header and claims, but expired a minute ago, signed by the service's key. */
function expired (token) {
  const [header, payload] = token.split('.')
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
  claims.exp = Math.floor(Date.now() / 1000) - 60
  const input = header + '.' + b64(JSON.stringify(claims))
  return input + '.' + b64(crypto.sign(null, Buffer.from(input), signingKey))
}

function paths (wx) {
  return wx.requests.map((r) => r.method + ' ' + r.path)
}

/** A device whose storage holds a login's refresh token and an expired access token. */
async function deviceWithExpiredToken (user, refreshToken) {
  const storage = new Map()
  const first = createFakeWx({ user: user, storage: storage })
  await createClient({ baseUrl: service.baseUrl, wx: first }).login()
  const token = storage.get('weapp-login:token')
  assert.ok(storage.get('weapp-login:token:refresh'), 'the login stored a refresh token')
  storage.set('weapp-login:token', expired(token))
  if (refreshToken !== undefined) storage.set('weapp-login:token:refresh', refreshToken)
  const wx = createFakeWx({ user: user, storage: storage })
  return { wx: wx, storage: storage, client: createClient({ baseUrl: service.baseUrl, wx: wx }) }
}

describe('JWT mode', () => {
  test('a login stores the access token and the refresh token', async () => {
    const wx = createFakeWx({ user: 'jwt-ivan' })
    const client = createClient({ baseUrl: service.baseUrl, wx: wx })

    await client.login()

    assert.equal(client.getToken().split('.').length, 3)
    assert.ok(wx.storage.get('weapp-login:token:refresh'))
  })

  test('ten requests that see an expired access token share one refresh, then all succeed', async () => {
    const { wx, storage, client } = await deviceWithExpiredToken('jwt-judy')
    const oldRefresh = storage.get('weapp-login:token:refresh')

    const answers = await Promise.all(Array.from({ length: 10 }, () => client.request({ url: '/api/v1/me' })))

    assert.ok(answers.every((res) => res.statusCode === 200))
    assert.equal(wx.loginCalls, 0)
    const refreshes = wx.requestsTo('/api/v1/token/refresh')
    assert.equal(refreshes.length, 1)
    assert.deepEqual(refreshes[0].body, { refresh_token: oldRefresh })
    assert.equal(wx.requestsTo('/api/v1/me').length, 20) // ten 401s, ten retries
    assert.notEqual(storage.get('weapp-login:token:refresh'), oldRefresh) // rotated
  })

  test('a refused refresh falls back to one new login, and the requests succeed', async () => {
    const { wx, client } = await deviceWithExpiredToken('jwt-ken', 'a-refresh-token-the-service-never-issued')

    const answers = await Promise.all(Array.from({ length: 5 }, () => client.request({ url: '/api/v1/me' })))

    assert.ok(answers.every((res) => res.statusCode === 200))
    assert.equal(wx.requestsTo('/api/v1/token/refresh').length, 1)
    assert.equal(wx.loginCalls, 1)
    assert.deepEqual(paths(wx).filter((p) => !p.endsWith('/api/v1/me')),
      ['POST /api/v1/token/refresh', 'POST /api/v1/login'])
  })

  test('logout forgets the refresh token too', async () => {
    const wx = createFakeWx({ user: 'jwt-mike' })
    const client = createClient({ baseUrl: service.baseUrl, wx: wx })
    await client.login()

    await client.logout()

    assert.equal(wx.storage.has('weapp-login:token'), false)
    assert.equal(wx.storage.has('weapp-login:token:refresh'), false)
  })
})
