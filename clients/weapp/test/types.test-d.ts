// Compiled, never run, by test/types.test.js (`tsc --noEmit --strict`): the declarations in
// index.d.ts accept the README's uses and refuse the mistakes marked @ts-expect-error.
import { createClient, WeappLoginError, Client, ErrorCode, Phone, Platform, Response } from '..'

declare const Taro: { login(options: object): Promise<{ code: string }>; request(options: object): Promise<unknown> }
declare const uni: { login(options: object): void; request(options: object): void }

const wechat: Client = createClient({ baseUrl: 'https://your-host' })
const alipay: Client = createClient({ baseUrl: 'https://your-host', app: 'shop-alipay', platform: 'alipay' })
const onUni: Client = createClient({ baseUrl: 'https://your-host', app: 'shop-douyin', platform: 'douyin', runtime: 'uni', api: uni })
const onTaro: Client = createClient({
  baseUrl: 'https://your-host',
  app: 'staff',
  platform: 'wecom',
  runtime: 'taro',
  api: Taro,
  storageKey: 'login',
  freshSeconds: 60,
  busyRetries: 0
})

interface Me { user: { id: number; created_at: string }; app: string; platform: Platform }

async function use (client: Client): Promise<number> {
  const { user } = await client.login()
  const created: boolean = user.created
  const me: Response<Me> = await client.request<Me>({ url: '/api/v1/me', method: 'GET', header: { 'X-Trace': 't' } })
  const platform: Platform = me.data.platform
  await client.request({ url: '/api/v1/things', method: 'POST', data: { a: 1 }, timeout: 3000 })
  const phone: Phone = await client.getPhoneNumber('phone-code')
  const decrypted = await client.decrypt<{ nickName: string }>({ encryptedData: 'ZW5j', iv: 'aXY=' })
  const nickName: string = decrypted.nickName
  const valid: boolean = await client.checkSessionKey()
  await client.ensureFresh()
  await client.logout({ all: true })
  await client.logout()
  const token: string | null = client.getToken()
  void [created, platform, phone, nickName, valid, token]
  return user.id
}

function explain (err: unknown): string {
  if (err instanceof WeappLoginError) {
    const code: ErrorCode | string = err.code
    const wait: number | null = err.retryAfter
    const status: number | null = err.status
    const requestId: string | null = err.requestId
    const platform: Platform | null = err.platform
    if (err.code === 'platform_busy' || err.code === 'wechat_busy') return `busy, retry in ${wait ?? 1} s`
    return [code, status, requestId, platform].join(' ')
  }
  return String(err)
}

void [wechat, alipay, onUni, onTaro, use, explain, new WeappLoginError('m', { code: 'login_failed' })]

// @ts-expect-error: baseUrl is required
createClient({ platform: 'qq' })
// @ts-expect-error: not a platform the service serves
createClient({ baseUrl: 'https://your-host', platform: 'baidu' })
// @ts-expect-error: runtime is 'native', 'uni' or 'taro'
createClient({ baseUrl: 'https://your-host', runtime: 'remax' })
// @ts-expect-error: app is a string, the app's id in the service
createClient({ baseUrl: 'https://your-host', app: 3 })
// @ts-expect-error: request needs a url
wechat.request({ method: 'GET' })
// @ts-expect-error: the token may be null
const sure: string = wechat.getToken()
async function misread (): Promise<void> {
  // @ts-expect-error: a user id is a number
  const id: string = (await wechat.login()).user.id
  void id
}
void [sure, misread]
