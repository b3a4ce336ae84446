// The dashboard's one way to the service: POST /graphql with the tab's token.

const TOKEN_KEY = "objmgr.dashboard.token";
// The page is /dashboard and this module /dashboard/static/api.js: /graphql from
// either, also when a proxy serves the service under a prefix.
export const ENDPOINT = new URL("../../graphql", import.meta.url).href;

export class AuthError extends Error {
  constructor(message, hadToken) {
    super(message);
    this.hadToken = hadToken;
  }
}

export class ApiError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

// The token lives for the tab only: sessionStorage, never localStorage or a cookie.
export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  sessionStorage.setItem(TOKEN_KEY, value);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

export function authHeaders() {
  const secret = token();
  return secret ? { Authorization: `Bearer ${secret}` } : {};
}

// Leases expire by the server's clock: the countdowns follow the server's Date
// header, so a browser whose clock is off still counts the right time.
let clockOffset = null;

export function noteServerDate(response) {
  const header = response.headers.get("Date");
  const at = header ? Date.parse(header) : NaN;
  if (Number.isNaN(at)) return;
  // The header has whole seconds: the server's time was somewhere in the next second.
  const offset = at + 500 - Date.now();
  if (clockOffset === null || Math.abs(offset - clockOffset) > 2000) clockOffset = offset;
}

export function serverNow() {
  return Date.now() + (clockOffset ?? 0);
}

export async function refusal(response) {
  try {
    const body = await response.json();
    const error = body.errors?.[0];
    if (error) return new ApiError(error.extensions?.code ?? `HTTP_${response.status}`, error.message);
  } catch {
    // Not JSON: said below by its status.
  }
  return new ApiError(`HTTP_${response.status}`, `the server answered ${response.status}`);
}

export async function graphql(query, variables = {}) {
  let response;
  try {
    response = await fetch(ENDPOINT, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json", ...authHeaders() },
      body: JSON.stringify({ query, variables }),
      cache: "no-store",
    });
  } catch {
    throw new ApiError("NETWORK", "the server could not be reached");
  }
  noteServerDate(response);
  if (response.status === 401) {
    const hadToken = token() !== null;
    throw new AuthError((await refusal(response)).message, hadToken);
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`HTTP_${response.status}`, `the server answered ${response.status}`);
  }
  if (body.errors?.length) {
    const error = body.errors[0];
    throw new ApiError(error.extensions?.code ?? "ERROR", error.message);
  }
  return body.data;
}

// A mutation's payload: success, or an ApiError with its code and message.
export async function mutate(query, variables, field) {
  const payload = (await graphql(query, variables))[field];
  if (!payload.success) throw new ApiError(payload.code ?? "REFUSED", payload.message ?? "refused");
  return payload;
}

const LEASE_FIELDS = "obj owner label token acquiredAt expiresAt";
const EVENT_FIELDS = "seq pool kind at obj token owner label principal reason";

const POLICY_FIELDS = "defaultTtl maxTtl maxPerOwner reuseDelay reuseFirst description";
const POOL_FIELDS = `name size inUse available waiting cooling policy { ${POLICY_FIELDS} }`;

export const POOLS_PAGE = 100;
const POOLS_PAGES = 10;

// Every pool in name order, at most POOLS_PAGES pages; `more` when some were left out.
export async function pools() {
  const found = [];
  let after = "";
  for (let page = 0; page < POOLS_PAGES; page += 1) {
    const query = `query DashboardPools($after: String!) { pools(first: ${POOLS_PAGE}, after: $after) { ${POOL_FIELDS} } }`;
    const batch = (await graphql(query, { after })).pools;
    found.push(...batch);
    if (batch.length < POOLS_PAGE) return { pools: found, more: false };
    after = batch[batch.length - 1].name;
  }
  return { pools: found, more: true };
}

// One pool and one page of its leases (obj > after, in obj order); null when it does not exist.
export async function poolPage(name, first, after) {
  const query = `query DashboardPool($name: String!, $first: Int!, $after: Int!) {
    pool(name: $name) { ${POOL_FIELDS} leases(first: $first, after: $after) { ${LEASE_FIELDS} } } }`;
  return (await graphql(query, { name, first, after })).pool;
}

const EVENTS_PAGE = 1000;
const EVENTS_PAGES = 20;

// The journal's newest `keep` events of the pool and its last seq, read page by page from
// the oldest kept (the journal is read forwards only); bounded in pages.
export async function recentEvents(pool, keep) {
  const query = `query DashboardEvents($pool: String!, $after: BigInt!) {
    events(pool: $pool, after: $after, first: ${EVENTS_PAGE}) { ${EVENT_FIELDS} } }`;
  let recent = [];
  let after = 0;
  for (let page = 0; page < EVENTS_PAGES; page += 1) {
    const batch = (await graphql(query, { pool, after })).events;
    recent = recent.concat(batch).slice(-keep);
    if (batch.length === 0) break;
    after = batch[batch.length - 1].seq;
    if (batch.length < EVENTS_PAGE) break;
  }
  return { events: recent, last: after };
}

export const SUBSCRIPTION = `subscription($p: String!, $a: BigInt) {
  poolEvents(pool: $p, after: $a) { ${EVENT_FIELDS} } }`;

const REVOKE = `mutation DashboardRevokeLease($pool: String!, $objs: [Int!]!, $reason: String!) {
  revokeLeases(pool: $pool, objs: $objs, reason: $reason) { success code message revoked { obj token } } }`;

export const REVOKE_REASON = "revoked from the dashboard";

// Ending a lease from the page, in one place: an admin's revocation of the object,
// journaled as REVOKED with the page's reason (the object cools if the pool says so).
// The payload's `revoked` is empty when the lease had ended meanwhile.
export function endLease(pool, lease) {
  return mutate(REVOKE, { pool, objs: [lease.obj], reason: REVOKE_REASON }, "revokeLeases");
}

const CREATE_POOL = `mutation DashboardCreatePool($name: String!, $size: Int!, $policy: PoolPolicyInput) {
  createPool(name: $name, size: $size, policy: $policy) { success code message pool { name } } }`;
const RESIZE_POOL = `mutation DashboardResizePool($name: String!, $size: Int!) {
  resizePool(name: $name, size: $size) { success code message pool { name size } } }`;

const SET_POLICY = `mutation DashboardSetPolicy($name: String!, $policy: PoolPolicyInput!) {
  setPoolPolicy(name: $name, policy: $policy) { success code message pool { name policy { ${POLICY_FIELDS} } } } }`;

// `policy`: a PoolPolicyInput (null: no rules).
export function createPool(name, size, policy = null) {
  return mutate(CREATE_POOL, { name, size, policy }, "createPool");
}

export function setPolicy(name, policy) {
  return mutate(SET_POLICY, { name, policy }, "setPoolPolicy");
}

export function resizePool(name, size) {
  return mutate(RESIZE_POOL, { name, size }, "resizePool");
}
