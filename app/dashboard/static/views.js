// What the page shows, built from the API's data: pools, a pool's leases, events.
// No state here; main.js decides when each is drawn.

import { clock, count, duration, h } from "./dom.js";

// A table cell that names its column itself, for the narrow layout where the
// header row is out of sight and each row reads as a card.
function cell(label, content, className = null) {
  return h("td", { class: className, dataset: label ? { label } : {} }, content);
}

export function usageBar(pool) {
  const share = pool.size > 0 ? Math.min(1, pool.inUse / pool.size) : 0;
  const percent = Math.round(share * 100);
  const level = percent >= 90 ? "high" : percent >= 70 ? "mid" : "low";
  const fill = h("span", { class: "fill", dataset: { level } });
  fill.style.width = `${(share * 100).toFixed(1)}%`;
  const meter = h(
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
  );
  return h("div", { class: "usage" }, meter, h("span", { class: "bar-text", "aria-hidden": "true" }, `${percent}%`));
}

const SECONDS = new Intl.NumberFormat(undefined, { maximumFractionDigits: 3 });

function seconds(value) {
  return `${SECONDS.format(value)} s`;
}

// The pool's rules in a sentence; "No rules." for a policy of none.
export function policyText(policy) {
  if (!policy) return "";
  const rules = [];
  if (policy.defaultTtl !== null) rules.push(`default TTL ${seconds(policy.defaultTtl)}`);
  if (policy.maxTtl !== null) rules.push(`max TTL ${seconds(policy.maxTtl)}`);
  if (policy.maxPerOwner !== null) rules.push(`at most ${count(policy.maxPerOwner)} leases per owner`);
  if (policy.reuseDelay !== null) rules.push(`objects cool ${seconds(policy.reuseDelay)} after an expiry or a revoke`);
  if (policy.reuseFirst) rules.push("freed objects reused first");
  const text = rules.length ? `Policy: ${rules.join(", ")}.` : "Policy: no rules.";
  return policy.description ? `${text} ${policy.description}` : text;
}

export function poolRow(pool, current, choose) {
  const name = h(
    "button",
    { type: "button", class: "link", "aria-current": current ? "true" : null, onclick: () => choose(pool.name) },
    pool.name,
  );
  return h(
    "tr",
    { class: current ? "current" : null },
    h("th", { scope: "row" }, name),
    cell("Size", count(pool.size), "num"),
    cell("In use", count(pool.inUse), "num"),
    cell("Available", count(pool.available), "num"),
    cell("Waiting", count(pool.waiting), "num"),
    cell("Cooling", count(pool.cooling), "num"),
    cell("Usage", usageBar(pool), "wide"),
  );
}

export function summary(pool) {
  const items = [
    ["Size", count(pool.size)],
    ["In use", count(pool.inUse)],
    ["Available", count(pool.available)],
    ["Waiting", count(pool.waiting)],
    ["Cooling", count(pool.cooling)],
  ];
  return items.map(([term, value]) => h("div", {}, h("dt", {}, term), h("dd", {}, value)));
}

// Time held and time left at `now` (the server's clock, as the lease's times are).
export function leaseTimes(lease, now) {
  const held = duration(now - Date.parse(lease.acquiredAt));
  if (!lease.expiresAt) return [held, "no TTL"];
  const left = Date.parse(lease.expiresAt) - now;
  return [held, left > 0 ? duration(left) : "expired"];
}

export function leaseRow(lease, now, end) {
  const [held, left] = leaseTimes(lease, now);
  const button = h(
    "button",
    { type: "button", class: "danger small", "aria-label": `Revoke the lease of object ${lease.obj}`, onclick: () => end(lease) },
    "Revoke",
  );
  return h(
    "tr",
    { dataset: { obj: lease.obj } },
    cell("Object", String(lease.obj), "num"),
    cell("Owner", lease.owner ?? "—", "text span2"),
    cell("Label", lease.label ?? "—", "text span2"),
    cell("Token", String(lease.token), "num"),
    cell("Held for", held, "num held"),
    cell("Time left", left, "num left"),
    cell("", button, "actions-cell"),
  );
}

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

export function feedItem(event) {
  return h(
    "li",
    { dataset: { seq: event.seq, kind: event.kind } },
    h("time", { datetime: event.at }, clock(new Date(event.at))),
    h("span", { class: `kind kind-${event.kind.toLowerCase()}` }, event.kind),
    h("span", { class: "what" }, describe(event)),
  );
}
