// The API's JSON with the login's token; who may do what.
//
// The token (POST /api/v1/auth/token, OAuth2's password form) lives in sessionStorage: a
// reload keeps the login, closing the tab ends it. A 401 (expired, revoked) asks for the
// password again without leaving the page.

const BASE = '/api/v1';
const KEY = 'streetlight.session';

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.code;
    this.field = body?.field;
  }
}

let session = JSON.parse(sessionStorage.getItem(KEY) || 'null');
let onUnauthorized = () => {};

export function current() { return session; }
export function whenUnauthorized(handler) { onUnauthorized = handler; }

export async function login(username, password) {
  const response = await fetch(`${BASE}/auth/token`, {
    method: 'POST', body: new URLSearchParams({ username, password }),
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, body);
  session = { token: body.access_token, role: body.role, name: username, expires: body.expires_at };
  const me = await get('/auth/me');
  session.maintainer = me.maintainer;
  sessionStorage.setItem(KEY, JSON.stringify(session));
  return session;
}

export async function logout() {
  if (session) await post('/auth/logout').catch(() => {});
  session = null;
  sessionStorage.removeItem(KEY);
}

/** The token was refused (expired, revoked): forget it and ask for the password again. */
export function expired() {
  if (!session) return;
  const { name } = session;
  session = null;
  sessionStorage.removeItem(KEY);
  onUnauthorized(name);
}

export function authHeaders() {
  return session ? { Authorization: `Bearer ${session.token}` } : {};
}

async function request(method, path, { params, body, raw } = {}) {
  const url = new URL(BASE + path, location.origin);
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, v);
  }
  const headers = authHeaders();
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(url, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) expired();
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  if (raw) return response;
  return response.status === 204 ? null : response.json();
}

export const get = (path, params) => request('GET', path, { params });
export const post = (path, body, params) => request('POST', path, { body, params });
export const getRaw = (path, params) => request('GET', path, { params, raw: true });

/** Every item of a paged list (`{items, next}`), `limit` a page. */
export async function all(path, params = {}, limit = 1000) {
  const items = [];
  let cursor;
  do {
    const page = await get(path, { ...params, limit, cursor });
    items.push(...page.items);
    cursor = page.next;
  } while (cursor);
  return items;
}

// what each role may do (docs/contract.md, "Who may do what"); the API refuses the rest
const MAY = {
  override: ['admin', 'operator'], // overrides, programs, the assets
  crew: ['admin', 'operator', 'maintainer'], // alarm and work-order steps
};
export function may(what) { return !!session && MAY[what].includes(session.role); }
