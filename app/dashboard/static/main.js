// The dashboard: every pool, the chosen pool's leases, its live events and their chart.

import { endLease, refusalText, wireAdmin } from "./admin.js";
import * as api from "./api.js";
import { draw } from "./chart.js";
import { byId, show } from "./dom.js";
import { PoolRows } from "./rows.js";
import { PoolWatch } from "./sse.js";
import { feedItem, leaseRow, leaseTimes, policyText, poolRow, summary } from "./views.js";

const LEASES_PAGE = 50;
const FEED_ITEMS = 100;
// Enough for the chart's window at a busy pool's pace; the feed shows the newest of them.
const EVENTS_KEPT = 2000;
// Events come in bursts: one read of the pool per burst, at most this often, however
// busy the pool (a read scheduled waits for no further quiet).
const REFRESH_EVERY_MS = 150;

const state = {
  pools: [],
  selected: null,
  pool: null,
  pageStarts: [0],
  events: [],
  watch: null,
  rows: null,
  refresh: null,
  // What the next throttled read reads again.
  stale: { pools: false, detail: false },
  // Reads answer out of order: only the latest read of each kind is shown.
  reads: { pools: 0, detail: 0 },
};

// Messages ----------------------------------------------------------------

function notice(message) {
  const element = byId("notice");
  element.textContent = message;
  show(element, Boolean(message));
}

function done(message) {
  byId("done").textContent = message;
}

function failed(error) {
  if (error instanceof api.AuthError) askForToken(error);
  else notice(refusalText(error));
}

function setLive(kind, text) {
  const element = byId("live");
  element.dataset.state = kind;
  element.textContent = kind === "live" ? "Live" : text;
}

// Signing in --------------------------------------------------------------

function askForToken(error) {
  stopWatching();
  state.rows?.stop();
  show(byId("pools"), false);
  show(byId("pool-view"), false);
  show(byId("sign-out"), false);
  notice("");
  const message = byId("auth-message");
  if (error.hadToken) {
    api.forgetToken();
    message.textContent = "The token was refused (401 Unauthorized). Check it and sign in again.";
  } else {
    message.textContent = "";
  }
  show(byId("auth"), true);
  setLive("idle", "Not signed in");
  byId("token-input").focus();
}

function signIn(event) {
  event.preventDefault();
  const input = byId("token-input");
  const secret = input.value.trim();
  if (!secret) return;
  api.setToken(secret);
  input.value = "";
  show(byId("auth"), false);
  start();
}

// Pools -------------------------------------------------------------------

function renderPools() {
  const rows = state.pools.map((pool) => poolRow(pool, pool.name === state.selected, selectPool));
  byId("pools-table").tBodies[0].replaceChildren(...rows);
}

async function loadPools() {
  const read = ++state.reads.pools;
  const { pools, more } = await api.pools();
  if (read !== state.reads.pools) return;
  state.pools = pools;
  const unfollowed = state.rows.follow(pools.map((pool) => pool.name));
  const hint = byId("pools-more");
  const notes = [];
  if (more) notes.push(`The first ${pools.length} pools are shown.`);
  if (unfollowed.length) notes.push(`${unfollowed.length} rows are not live (one socket follows 100 pools); Refresh reads them.`);
  hint.textContent = notes.join(" ");
  show(hint, notes.length > 0);
  renderPools();
}

// The rows' socket: another pool's event reads the list again; a new connection
// does too (what changed while it was down, a pool created elsewhere meanwhile).
function followRows() {
  state.rows = new PoolRows({
    onChange: (name) => {
      if (name !== state.selected) scheduleRefresh({ pools: true });
    },
    onReconnected: () => scheduleRefresh({ pools: true }),
    onStatus: (kind) => {
      byId("pools-table").dataset.live = kind;
    },
    onForbidden: () => failed(new api.AuthError("the token was refused", api.token() !== null)),
  });
}

// The chosen pool ---------------------------------------------------------

function renderLeases(pool) {
  const now = api.serverNow();
  const rows = pool.leases.map((lease) => leaseRow(lease, now, (chosen) => confirmEnd(pool.name, chosen)));
  byId("leases-table").tBodies[0].replaceChildren(...rows);
  const page = state.pageStarts.length;
  show(byId("leases-empty"), rows.length === 0 && page === 1);
  byId("leases-page").textContent = rows.length
    ? `Page ${page}: objects ${pool.leases[0].obj}–${pool.leases.at(-1).obj}`
    : `Page ${page}`;
  byId("leases-previous").disabled = page === 1;
  byId("leases-next").disabled = rows.length < LEASES_PAGE;
}

// Every second: the countdowns and the chart's window move on by the local clock.
function tick() {
  if (state.pool) {
    const now = api.serverNow();
    const rows = byId("leases-table").tBodies[0].rows;
    state.pool.leases.forEach((lease, index) => {
      const row = rows[index];
      if (!row) return;
      const [held, left] = leaseTimes(lease, now);
      row.querySelector(".held").textContent = held;
      row.querySelector(".left").textContent = left;
    });
  }
  if (state.selected) drawChart();
}

async function loadDetail() {
  const name = state.selected;
  const read = ++state.reads.detail;
  const pool = await api.poolPage(name, LEASES_PAGE, state.pageStarts.at(-1));
  if (read !== state.reads.detail || name !== state.selected) return;
  state.pool = pool;
  if (pool === null) {
    byId("detail-title").textContent = `Pool ${name} does not exist`;
    byId("summary").replaceChildren();
    byId("policy-text").textContent = "";
    byId("leases-table").tBodies[0].replaceChildren();
    return;
  }
  byId("detail-title").textContent = `Pool ${pool.name}`;
  byId("summary").replaceChildren(...summary(pool));
  byId("policy-text").textContent = policyText(pool.policy);
  renderLeases(pool);
  // The chosen pool's row follows what was just read.
  const index = state.pools.findIndex((row) => row.name === pool.name);
  if (index >= 0) {
    const { leases, ...counts } = pool;
    state.pools[index] = counts;
    renderPools();
  }
}

function page(step) {
  if (!state.pool) return;
  if (step > 0 && state.pool.leases.length) state.pageStarts.push(state.pool.leases.at(-1).obj);
  if (step < 0 && state.pageStarts.length > 1) state.pageStarts.pop();
  loadDetail().catch(failed);
}

// The object is revoked whoever holds it by then: the message says so when the lease
// revoked is not the one shown (granted again meanwhile), or none was left.
function revokedText(lease, revoked) {
  const [ended] = revoked;
  if (!ended) return `The lease of object ${lease.obj} had already ended.`;
  if (String(ended.token) !== String(lease.token)) {
    return `Object ${lease.obj} had been granted again: the lease of token ${ended.token} was revoked.`;
  }
  return `The lease of object ${lease.obj} was revoked.`;
}

async function confirmEnd(poolName, lease) {
  try {
    const revoked = await endLease(poolName, lease);
    if (revoked === null) return;
    notice("");
    done(revokedText(lease, revoked));
    await loadDetail();
  } catch (error) {
    failed(error);
  }
}

// Events ------------------------------------------------------------------

function drawChart() {
  byId("chart-text").textContent = draw(byId("chart"), state.events, api.serverNow());
}

function renderFeed() {
  const newest = state.events.slice(-FEED_ITEMS).reverse();
  byId("feed").replaceChildren(...newest.map(feedItem));
}

function scheduleRefresh({ pools = false, detail = false }) {
  state.stale.pools ||= pools;
  state.stale.detail ||= detail;
  if (state.refresh) return;
  state.refresh = setTimeout(() => {
    const reads = [];
    if (state.stale.pools) reads.push(loadPools());
    if (state.stale.detail && state.selected) reads.push(loadDetail());
    state.refresh = null;
    state.stale = { pools: false, detail: false };
    Promise.all(reads).catch(failed);
  }, REFRESH_EVERY_MS);
}

function onEvent(event) {
  state.events.push(event);
  if (state.events.length > EVENTS_KEPT) state.events.splice(0, state.events.length - EVENTS_KEPT);
  const feed = byId("feed");
  feed.prepend(feedItem(event));
  while (feed.children.length > FEED_ITEMS) feed.lastElementChild.remove();
  drawChart();
  scheduleRefresh({ pools: event.kind.startsWith("POOL_") || event.kind === "POLICY_CHANGED", detail: true });
}

function stopWatching() {
  if (state.watch) state.watch.stop();
  state.watch = null;
}

async function readHistory(name) {
  const { events, last } = await api.recentEvents(name, EVENTS_KEPT);
  if (name !== state.selected) return last;
  state.events = events;
  renderFeed();
  drawChart();
  return last;
}

function watch(name, after) {
  stopWatching();
  state.watch = new PoolWatch(name, after, {
    onEvent,
    onStatus: setLive,
    onUnauthenticated: askForToken,
    onTrimmed: async () => {
      notice("Some events were no longer in the journal; the page has read the pool again.");
      const last = await readHistory(name);
      await loadDetail();
      return last;
    },
  }).start();
}

async function selectPool(name) {
  stopWatching();
  state.selected = name;
  state.pool = null;
  state.pageStarts = [0];
  history.replaceState(null, "", `#pool=${encodeURIComponent(name)}`);
  renderPools();
  show(byId("pool-view"), true);
  setLive("connecting", "Connecting…");
  try {
    // The journal first, then the pool: a change between the two reads is in the
    // pool read, and the stream, from the journal's last event on, brings it too.
    const last = await readHistory(name);
    await loadDetail();
    if (name === state.selected) watch(name, last);
  } catch (error) {
    failed(error);
  }
}

// Start -------------------------------------------------------------------

function chosenPool() {
  const match = /^#pool=(.+)$/.exec(location.hash);
  const wanted = match ? decodeURIComponent(match[1]) : "default";
  if (state.pools.some((pool) => pool.name === wanted)) return wanted;
  return state.pools[0]?.name ?? null;
}

// A page opened while the server or its store is down tries again by itself, less
// and less often, until it answers.
const START_RETRY_MS = [2000, 5000, 10000, 30000, 60000];

async function start(attempt = 0) {
  try {
    await loadPools();
  } catch (error) {
    failed(error);
    if (!(error instanceof api.AuthError)) {
      const delay = START_RETRY_MS[Math.min(attempt, START_RETRY_MS.length - 1)];
      notice(`${refusalText(error)}. Trying again in ${delay / 1000} s.`);
      setTimeout(() => start(attempt + 1), delay);
    }
    return;
  }
  notice("");
  show(byId("auth"), false);
  show(byId("pools"), true);
  show(byId("sign-out"), api.token() !== null);
  const name = chosenPool();
  if (name) await selectPool(name);
}

function boot() {
  byId("auth-form").addEventListener("submit", signIn);
  byId("sign-out").addEventListener("click", () => {
    api.forgetToken();
    askForToken({ hadToken: false });
  });
  byId("refresh-pools").addEventListener("click", () => loadPools().catch(failed));
  byId("leases-previous").addEventListener("click", () => page(-1));
  byId("leases-next").addEventListener("click", () => page(1));
  wireAdmin({
    failed,
    shown: () => state.pool,
    created: async (name) => {
      done(`Pool ${name} was created.`);
      await loadPools();
      await selectPool(name);
    },
    resized: async (name, size) => {
      done(`Pool ${name} now has ${size} objects.`);
      await Promise.all([loadPools(), loadDetail()]);
    },
    policySet: async (name) => {
      done(`The policy of pool ${name} was set.`);
      await loadDetail();
    },
  });
  // A link or a typed address naming another pool chooses it.
  window.addEventListener("hashchange", () => {
    if (!location.hash.startsWith("#pool=")) return;
    const name = chosenPool();
    if (name && name !== state.selected) selectPool(name);
  });
  // The rows follow their pools' events; a pool created elsewhere is in no journal
  // the page follows, so the list is read again when the tab comes back into view.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && !byId("pools").hidden) {
      loadPools().catch(failed);
    }
  });
  setInterval(tick, 1000);
  followRows();
  start();
}

boot();
