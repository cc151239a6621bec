'use strict'
// Every platform and runtime against the real service (`python -m entrypoints`) serving five
// simulator apps, one per platform: each fake's `request` does real HTTP, its login hands out
// simulator codes. The client names its app only where the server picks the app by it (2.0 on);
// an older server logs every code in at its one WeChat app, which still tests the client's
// platform plumbing end to end.
const { describe, test, before, after } = require('node:test')
const assert = require('node:assert/strict')

const { createClient, WeappLoginError } = require('..')
const { SETUPS, uniqueCode } = require('../testing/fakes')
const { startService, get } = require('../testing/service')

const APPS = [
  { id: 'shop', platform: 'wechat' },
  { id: 'shop-qq', platform: 'qq' },
  { id: 'shop-douyin', platform: 'douyin' },
  { id: 'shop-alipay', platform: 'alipay' },
  { id: 'staff', platform: 'wecom' }
]

let service

before(async () => { service = await startService({ apps: APPS }) }, { timeout: 45000 })
after(async () => { if (service) await service.stop() })

function appOf (platform) {
  return APPS.find((app) => app.platform === platform).id
}

function device (setup, user, storage) {
  const fake = setup.create({ user, storage })
  const app = service.routesByApp ? appOf(setup.platform) : undefined
  const client = createClient({ baseUrl: service.baseUrl, app, platform: setup.platform, runtime: setup.runtime, api: fake })
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

for (const setup of SETUPS) {
  describe(setup.name, () => {
    const user = setup.name.toLowerCase().replace(/[^a-z0-9]+/g, '-')

    test('logs a user in once per device, keeps them on their app, and logs them out', async () => {
      const phone = device(setup, user)
      const results = await Promise.all([phone.client.login(), phone.client.login()])
      assert.equal(phone.fake.loginCalls, 1)
      assert.deepEqual(results[0], results[1])
      assert.equal(results[0].user.created, true)

      const me = await phone.client.request({ url: '/api/v1/me' })
      assert.equal(me.statusCode, 200)
      assert.equal(me.data.user.id, results[0].user.id)
      if (service.routesByApp) {
        assert.equal(me.data.app, appOf(setup.platform))
        assert.equal(me.data.platform, setup.platform)
      }

      const tablet = device(setup, user)
      const again = await tablet.client.login()
      assert.deepEqual(again.user, { id: results[0].user.id, created: false })

      const token = phone.client.getToken()
      await phone.client.logout()
      assert.equal(phone.fake.storage.has('weapp-login:token'), false)
      assert.equal((await get(service.baseUrl + '/api/v1/me', { Authorization: 'Bearer ' + token })).statusCode, 401)
      assert.equal((await tablet.client.request({ url: '/api/v1/me' })).statusCode, 200)
    })

    test('a restarted app keeps its login in the platform storage', async () => {
      const storage = new Map()
      const { user: first } = await device(setup, user + '-restart', storage).client.login()

      const restarted = device(setup, user + '-restart', storage)
      const me = await restarted.client.request({ url: '/api/v1/me' })

      assert.equal(me.data.user.id, first.id)
      assert.equal(restarted.fake.loginCalls, 0)
    })

    test('an invalid code is a 401 invalid_code read through the platform request', async () => {
      const { fake, client } = device(setup, user)
      fake.codes.push(uniqueCode('invalid'))

      const err = await rejection(client.login())

      assert.ok(err instanceof WeappLoginError)
      assert.equal(err.code, 'invalid_code')
      assert.equal(err.status, 401)
      assert.equal(typeof err.requestId, 'string')
      assert.equal(client.getToken(), null)
    })
  })
}
