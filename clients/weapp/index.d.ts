// Type declarations of the weapp-login mini-program client (index.js). README.md describes it.

/** The mini-program platform the app runs on; it picks the login call. */
export type Platform = 'wechat' | 'qq' | 'douyin' | 'alipay' | 'wecom'

/**
 * Whose API the client calls: the platform's own (`wx`, `qq`, `tt`, `my`), uni-app's `uni` or
 * Taro's `Taro`.
 */
export type Runtime = 'native' | 'uni' | 'taro'

export interface ClientOptions {
  /** The service's origin (and optional path prefix), e.g. 'https://api.example.com'. */
  baseUrl: string
  /** The app's id in the service's APPS_FILE; leave it out when the service has one app. */
  app?: string
  /** Default 'wechat'. */
  platform?: Platform
  /** Default 'native'. */
  runtime?: Runtime
  /**
   * The object whose login, request and storage the client calls. Default: the global of the
   * runtime (`wx`, `qq`, `tt` or `my` by platform; `uni`); Taro's must be passed (`api: Taro`).
   */
  api?: object
  /** The v1 name of `api`. */
  wx?: object
  /**
   * Where the token is kept in the platform's storage. Default 'weapp-login:token'; in the
   * service's JWT mode the refresh token is kept under this key + ':refresh'.
   */
  storageKey?: string
  /** How recent this client's own login must be for the helpers to skip a new one. Default 240. */
  freshSeconds?: number
  /** How often a login answered "platform busy" is sent again after Retry-After. Default 1. */
  busyRetries?: number
}

export interface User {
  id: number
  /** True only for the login that created the user. */
  created: boolean
}

export interface LoginResult {
  user: User
}

export interface RequestOptions {
  /** A path under baseUrl: absolute URLs are refused, so the token never leaves the service. */
  url: string
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD' | 'OPTIONS'
  data?: string | object
  header?: Record<string, string>
  /** Milliseconds. */
  timeout?: number
}

export interface Response<T = any> {
  statusCode: number
  data: T
  header: Record<string, string>
}

export interface Phone {
  /** E.164, e.g. '+8613800138000'. */
  phone_number: string
  pure_phone_number: string
  country_code: string
}

export interface EncryptedPayload {
  encryptedData: string
  iv: string
  rawData?: string
  signature?: string
}

export interface Client {
  /** The platform's login and POST /api/v1/login, shared by every caller while it runs. */
  login(): Promise<LoginResult>
  /**
   * A request with the token. On a 401 the token is renewed once for every request that saw it
   * (JWT mode: one refresh, falling back to one login when it fails; else one login) and the
   * request is retried once; any status outside 2xx throws.
   */
  request<T = any>(options: RequestOptions): Promise<Response<T>>
  /** Ends this token, or with `all` every token of the user, and forgets it (and its refresh token). */
  logout(options?: { all?: boolean }): Promise<void>
  /** Logs in unless this client logged in within `freshSeconds`. */
  ensureFresh(): Promise<void>
  /** The code from `<button open-type="getPhoneNumber">` → the user's number (WeChat). */
  getPhoneNumber(code: string): Promise<Phone>
  /** An `encryptedData` payload → the object the platform encrypted (WeChat, QQ, Douyin). */
  decrypt<T = Record<string, unknown>>(payload: EncryptedPayload): Promise<T>
  /** Whether the server's session_key is still valid at WeChat. */
  checkSessionKey(): Promise<boolean>
  /** The current token, or null. */
  getToken(): string | null
}

/**
 * The API's error codes and the client's own (`network_error`, `login_failed`, `http_error`,
 * `invalid_response`); `wechat_busy`, `wechat_error` and `wechat_timeout` come from servers
 * before 2.0, which named the `platform_*` codes so.
 */
export type ErrorCode =
  | 'invalid_request' | 'unknown_app' | 'invalid_code' | 'user_blocked' | 'user_banned'
  | 'rate_limited' | 'platform_busy' | 'platform_error' | 'platform_timeout' | 'unavailable'
  | 'unauthorized' | 'not_found' | 'unsupported_by_platform' | 'decrypt_failed'
  | 'invalid_refresh_token' | 'refresh_token_reused'
  | 'wechat_busy' | 'wechat_error' | 'wechat_timeout'
  | 'network_error' | 'login_failed' | 'http_error' | 'invalid_response'

export interface ErrorDetails {
  code?: string
  status?: number | null
  retryAfter?: number | null
  requestId?: string | null
  platform?: Platform | null
}

/** Every failure of the client. */
export class WeappLoginError extends Error {
  constructor(message: string, details?: ErrorDetails)
  /** The API's `error.code`, or the client's own; other codes may come from newer servers. */
  code: ErrorCode | (string & {})
  /** The HTTP status; null when no response came. */
  status: number | null
  /** On 429 and 503: seconds to wait before trying again. */
  retryAfter: number | null
  /** The response's X-Request-ID. */
  requestId: string | null
  /** The platform an upstream error came from. */
  platform: Platform | null
}

export function createClient(options: ClientOptions): Client
