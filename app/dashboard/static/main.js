// The dashboard: every pool, the chosen pool's leases, its live events and their chart.

import * as api from "./api.js";
import { draw } from "./chart.js";
import { byId, clock, count, duration, h, show } from "./dom.js";
import { PoolWatch } from "./sse.js";

const LEASES_PAGE = 50;
const FEED_ITEMS = 100;
// Enough for the chart's window at a busy pool's pace; the feed shows the newest of them.
const EVENTS_KEPT = 2000;
// Events come in bursts: one read of the pool after a burst, not one per event.
const REFRESH_AFTER_MS = 150;

const state = {
  pools: [],
  selected: null,
  pool: null,
  pageStarts: [0],
  events: [],
  watch: null,
  refreshTimer: null,
  chartDirty: true,
};

// Errors ------------------------------------------------------------------

function notice(message) {
  const element = byId("notice");
  element.textContent = message;
  show(element, Boolean(message));
}

function done(message) {
  byId("done").textContent = message;
}

function failed(error) {
  if (error instanceof api.AuthError) {
    askForToken(error);
  } else {
    notice(error instanceof api.ApiError ? `${error.code}: ${error.message}` : String(error));
  }
}

// Signing in --------------------------------------------------------------

function askForToken(error) {
  stopWatching();
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

function signOut() {
  api.forgetToken();
  askForToken({ hadToken: false });
}

// Pools -------------------------------------------------------------------

function usageBar(pool) {
  const share = pool.size > 0 ? Math.min(1, pool.inUse / pool.size) : 0;
  const percent = Math.round(share * 100);
  const fill = h("span", { class: "fill", dataset: { level: percent >= 90 ? "high" : percent >= 70 ? "mid" : "low" } });
  fill.style.width = `${(share * 100).toFixed(1)}%`;
  return h(
    "div",
    { class: "usage" },
    h(
      "div",
      {
        class: "bar",
        role: "meter",
        "aria-label": `Usage of ${pool.name}`,
        "aria-valuemin": 0,
        "aria-valuemax": pool.size,
        "aria-valuenow": pool.inUse,
        "aria-valuetext": `${percent}% in use`,
      },
      fill,
    ),
    h("span", { class: "bar-text", "aria-hidden": "true" }, `${percent}%`),
  );
}

function cooling(pool) {
  // A server without `cooling` leaves the column's place empty rather than guessing.
  return "cooling" in pool ? count(pool.cooling) : h("span", { title: "not reported by this server" }, "—");
}

// A table cell that names its column itself, for the narrow layout where the
// header row is out of sight and each row reads as a card.
function cell(label, content, className = null) {
  return h("td", { class: className, dataset: label ? { label } : {} }, content);
}

function renderPools() {
  const rows = state.pools.map((pool) => {
    const current = pool.name === state.selected;
    return h(
      "tr",
      { class: current ? "current" : null },
      h(
        "th",
        { scope: "row" },
        h("button", { type: "button", class: "link", "aria-current": current ? "true" : null, onclick: () => selectPool(pool.name) }, pool.name),
      ),
      cell("Size", count(pool.size), "num"),
      cell("In use", count(pool.inUse), "num"),
      cell("Available", count(pool.available), "num"),
      cell("Waiting", count(pool.waiting), "num"),
      cell("Cooling", cooling(pool), "num"),
      cell("Usage", usageBar(pool), "wide"),
    );
  });
  byId("pools-table").tBodies[0].replaceChildren(...rows);
}

async function loadPools() {
  const { pools, more } = await api.pools();
  state.pools = pools;
  const hint = byId("pools-more");
  hint.textContent = more ? `The first ${pools.length} pools are shown.` : "";
  show(hint, more);
  renderPools();
}

// The chosen pool ---------------------------------------------------------

function renderSummary(pool) {
  const items = [
    ["Size", count(pool.size)],
    ["In use", count(pool.inUse)],
    ["Available", count(pool.available)],
    ["Waiting", count(pool.waiting)],
    ["Cooling", cooling(pool)],
  ];
  byId("summary").replaceChildren(...items.flatMap(([term, value]) => [h("div", {}, h("dt", {}, term), h("dd", {}, value))]));
}

function timeCells(lease, now) {
  const held = duration(now - Date.parse(lease.acquiredAt));
  if (!lease.expiresAt) return [held, "no TTL"];
  const left = Date.parse(lease.expiresAt) - now;
  return [held, left > 0 ? duration(left) : "expired"];
}

function renderLeases(pool) {
  const now = api.serverNow();
  const rows = pool.leases.map((lease) => {
    const [held, left] = timeCells(lease, now);
    return h(
      "tr",
      { dataset: { obj: lease.obj } },
      cell("Object", String(lease.obj), "num"),
      cell("Owner", lease.owner ?? "—", "text span2"),
      cell("Label", lease.label ?? "—", "text span2"),
      cell("Token", String(lease.token), "num"),
      cell("Held for", held, "num held"),
      cell("Time left", left, "num left"),
      cell(
        "",
        h("button", { type: "button", class: "danger small", "aria-label": `End the lease of object ${lease.obj}`, onclick: () => confirmEnd(pool.name, lease) }, "End lease"),
        "actions-cell",
      ),
    );
  });
  byId("leases-table").tBodies[0].replaceChildren(...rows);
  show(byId("leases-empty"), rows.length === 0 && state.pageStarts.length === 1);
  const page = state.pageStarts.length;
  byId("leases-page").textContent = rows.length ? `Page ${page}: objects ${pool.leases[0].obj}–${pool.leases.at(-1).obj}` : `Page ${page}`;
  byId("leases-previous").disabled = page === 1;
  byId("leases-next").disabled = rows.length < LEASES_PAGE;
}

function tick() {
  if (!state.pool) return;
  const now = api.serverNow();
  const rows = byId("leases-table").tBodies[0].rows;
  state.pool.leases.forEach((lease, index) => {
    const row = rows[index];
    if (!row) return;
    const [held, left] = timeCells(lease, now);
    row.querySelector(".held").textContent = held;
    row.querySelector(".left").textContent = left;
  });
  drawChart();
}

async function loadDetail() {
  const name = state.selected;
  const pool = await api.poolPage(name, LEASES_PAGE, state.pageStarts.at(-1));
  if (name !== state.selected) return;
  if (pool === null) {
    state.pool = null;
    byId("detail-title").textContent = `Pool ${name} does not exist`;
    byId("summary").replaceChildren();
    byId("leases-table").tBodies[0].replaceChildren();
    return;
  }
  state.pool = pool;
  byId("detail-title").textContent = `Pool ${pool.name}`;
  renderSummary(pool);
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

// Events ------------------------------------------------------------------

function describe(event) {
  const parts = [];
  if (event.obj !== null && event.obj !== undefined) parts.push(`object ${event.obj}`);
  if (event.token !== null && event.token !== undefined) parts.push(`token ${event.token}`);
  if (event.owner) parts.push(`owner ${event.owner}`);
  if (event.label) parts.push(`label “${event.label}”`);
  if (event.principal) parts.push(`by ${event.principal}`);
  if (event.reason) parts.push(`reason ${event.reason}`);
  return parts.join(", ");
}

function feedItem(event) {
  const at = new Date(event.at);
  return h(
    "li",
    { dataset: { seq: event.seq, kind: event.kind } },
    h("time", { datetime: event.at }, clock(at)),
    h("span", { class: `kind kind-${event.kind.toLowerCase()}` }, event.kind),
    h("span", { class: "what" }, describe(event)),
  );
}

function renderFeed() {
  const newest = state.events.slice(-FEED_ITEMS).reverse();
  byId("feed").replaceChildren(...newest.map(feedItem));
}

function drawChart() {
  byId("chart-text").textContent = draw(byId("chart"), state.events, api.serverNow());
}

function onEvent(event) {
  state.events.push(event);
  if (state.events.length > EVENTS_KEPT) state.events.splice(0, state.events.length - EVENTS_KEPT);
  const feed = byId("feed");
  feed.prepend(feedItem(event));
  while (feed.children.length > FEED_ITEMS) feed.lastElementChild.remove();
  drawChart();
  clearTimeout(state.refreshTimer);
  const poolChanged = event.kind.startsWith("POOL_") || event.kind === "POLICY_CHANGED";
  state.refreshTimer = setTimeout(() => {
    (poolChanged ? Promise.all([loadPools(), loadDetail()]) : loadDetail()).catch(failed);
  }, REFRESH_AFTER_MS);
}

function setLive(state_, text) {
  const element = byId("live");
  element.dataset.state = state_;
  element.textContent = state_ === "live" ? "Live" : text;
}

function stopWatching() {
  if (state.watch) state.watch.stop();
  state.watch = null;
}

async function readHistory(name) {
  const { events, last } = await api.recentEvents(name, EVENTS_KEPT);
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
  state.pageStarts = [0];
  history.replaceState(null, "", `#pool=${encodeURIComponent(name)}`);
  renderPools();
  show(byId("pool-view"), true);
  setLive("connecting", "Connecting…");
  try {
    await loadDetail();
    const last = await readHistory(name);
    if (name === state.selected) watch(name, last);
  } catch (error) {
    failed(error);
  }
}

// Admin actions -----------------------------------------------------------

function confirmed(text, yes) {
  const dialog = byId("confirm");
  byId("confirm-text").textContent = text;
  byId("confirm-yes").textContent = yes;
  const opener = document.activeElement;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => {
        if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
        resolve(dialog.returnValue === "yes");
      },
      { once: true },
    );
  });
}

async function confirmEnd(poolName, lease) {
  const holder = lease.owner ? `held by ${lease.owner}` : "held";
  const yes = await confirmed(
    `End the lease of object ${lease.obj} of pool ${poolName} (${holder}, token ${lease.token})? Its holder's next renew or free will fail.`,
    "End lease",
  );
  if (!yes) return;
  try {
    await api.endLease(poolName, lease);
    notice("");
    done(`The lease of object ${lease.obj} was ended.`);
    await loadDetail();
  } catch (error) {
    failed(error);
  }
}

// A dialog's form: kept open with the refusal's code and message until it succeeds or is cancelled.
function formDialog(dialogId, formId, errorId, act) {
  const dialog = byId(dialogId);
  const error = byId(errorId);
  byId(formId).addEventListener("submit", async (event) => {
    if (event.submitter?.value === "cancel") return;
    event.preventDefault();
    error.textContent = "";
    try {
      if (await act(new FormData(event.target))) dialog.close();
    } catch (refused) {
      if (refused instanceof api.AuthError) {
        dialog.close();
        failed(refused);
      } else {
        error.textContent = refused instanceof api.ApiError ? `${refused.code}: ${refused.message}` : String(refused);
      }
    }
  });
  return dialog;
}

function wireAdmin() {
  const create = formDialog("create-dialog", "create-form", "create-error", async (form) => {
    const name = String(form.get("name")).trim();
    await api.createPool(name, Number(form.get("size")));
    done(`Pool ${name} was created.`);
    await loadPools();
    selectPool(name);
    return true;
  });
  byId("new-pool").addEventListener("click", () => {
    byId("create-form").reset();
    byId("create-error").textContent = "";
    create.showModal();
  });
  const resize = formDialog("resize-dialog", "resize-form", "resize-error", async (form) => {
    const pool = state.pool;
    const size = Number(form.get("size"));
    if (!(await confirmed(`Resize pool ${pool.name} from ${count(pool.size)} to ${count(size)} objects?`, "Resize"))) return false;
    await api.resizePool(pool.name, size);
    done(`Pool ${pool.name} now has ${count(size)} objects.`);
    await Promise.all([loadPools(), loadDetail()]);
    return true;
  });
  byId("resize-pool").addEventListener("click", () => {
    if (!state.pool) return;
    byId("resize-error").textContent = "";
    byId("resize-title").textContent = `Resize pool ${state.pool.name}`;
    byId("resize-size").value = String(state.pool.size);
    resize.showModal();
  });
}

// Start -------------------------------------------------------------------

function chosenPool() {
  const match = /^#pool=(.+)$/.exec(location.hash);
  const wanted = match ? decodeURIComponent(match[1]) : "default";
  if (state.pools.some((pool) => pool.name === wanted)) return wanted;
  return state.pools[0]?.name ?? null;
}

async function start() {
  try {
    await loadPools();
  } catch (error) {
    failed(error);
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
  byId("sign-out").addEventListener("click", signOut);
  byId("refresh-pools").addEventListener("click", () => loadPools().catch(failed));
  byId("leases-previous").addEventListener("click", () => page(-1));
  byId("leases-next").addEventListener("click", () => page(1));
  wireAdmin();
  setInterval(tick, 1000);
  start();
}

boot();
