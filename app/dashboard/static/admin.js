// Admin actions: revoking a lease, creating and resizing a pool, each confirmed first,
// and setting a pool's policy. A refusal shows its code and message; the server
// decides who may (FORBIDDEN).

import * as api from "./api.js";
import { byId, count } from "./dom.js";

export function confirmed(text, yes) {
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

export function refusalText(error) {
  return error instanceof api.ApiError ? `${error.code}: ${error.message}` : String(error);
}

// A dialog's form, kept open with the refusal's code and message until it succeeds
// or is cancelled; `act` answers whether to close it.
function formDialog(dialogId, formId, errorId, act, failed) {
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
        error.textContent = refusalText(refused);
      }
    }
  });
  return dialog;
}

const POLICY_NUMBERS = ["defaultTtl", "maxTtl", "maxPerOwner", "reuseDelay"];

// A form's policy fields as a PoolPolicyInput: an empty field is no rule.
export function policyInput(form) {
  const policy = {};
  for (const name of POLICY_NUMBERS) {
    const value = String(form.get(name) ?? "").trim();
    policy[name] = value === "" ? null : Number(value);
  }
  policy.reuseFirst = form.get("reuseFirst") !== null;
  const description = String(form.get("description") ?? "");
  policy.description = description === "" ? null : description;
  return policy;
}

function hasRules(policy) {
  return Object.values(policy).some((value) => value !== null && value !== false);
}

// The policy dialog's fields show the pool's policy as it is.
function fillPolicy(prefix, policy) {
  for (const [name, id] of [
    ["defaultTtl", "default-ttl"],
    ["maxTtl", "max-ttl"],
    ["maxPerOwner", "max-per-owner"],
    ["reuseDelay", "reuse-delay"],
  ]) {
    byId(`${prefix}-${id}`).value = policy?.[name] === null || policy?.[name] === undefined ? "" : String(policy[name]);
  }
  byId(`${prefix}-reuse-first`).checked = Boolean(policy?.reuseFirst);
  byId(`${prefix}-description`).value = policy?.description ?? "";
}

// `page` is what the actions need of the page: the pool shown, and what to do after.
export function wireAdmin(page) {
  const create = formDialog(
    "create-dialog",
    "create-form",
    "create-error",
    async (form) => {
      const name = String(form.get("name")).trim();
      const policy = policyInput(form);
      await api.createPool(name, Number(form.get("size")), hasRules(policy) ? policy : null);
      await page.created(name);
      return true;
    },
    page.failed,
  );
  byId("new-pool").addEventListener("click", () => {
    byId("create-form").reset();
    byId("create-error").textContent = "";
    create.showModal();
  });

  const resize = formDialog(
    "resize-dialog",
    "resize-form",
    "resize-error",
    async (form) => {
      const pool = page.shown();
      const size = Number(form.get("size"));
      const question = `Resize pool ${pool.name} from ${count(pool.size)} to ${count(size)} objects?`;
      if (!(await confirmed(question, "Resize"))) return false;
      await api.resizePool(pool.name, size);
      await page.resized(pool.name, size);
      return true;
    },
    page.failed,
  );
  const policy = formDialog(
    "policy-dialog",
    "policy-form",
    "policy-error",
    async (form) => {
      const pool = page.shown();
      await api.setPolicy(pool.name, policyInput(form));
      await page.policySet(pool.name);
      return true;
    },
    page.failed,
  );
  byId("set-policy").addEventListener("click", () => {
    const pool = page.shown();
    if (!pool) return;
    byId("policy-error").textContent = "";
    byId("policy-title").textContent = `Policy of pool ${pool.name}`;
    fillPolicy("policy", pool.policy);
    policy.showModal();
  });

  byId("resize-pool").addEventListener("click", () => {
    const pool = page.shown();
    if (!pool) return;
    byId("resize-error").textContent = "";
    byId("resize-title").textContent = `Resize pool ${pool.name}`;
    byId("resize-size").value = String(pool.size);
    resize.showModal();
  });
}

// The leases revoked (empty when the lease had ended meanwhile), or null when not confirmed.
export async function endLease(poolName, lease) {
  const holder = lease.owner ? `held by ${lease.owner}` : "held";
  const question =
    `Revoke the lease of object ${lease.obj} of pool ${poolName} (${holder}, token ${lease.token})? ` +
    "Its holder's next renew or free will fail.";
  if (!(await confirmed(question, "Revoke lease"))) return null;
  return (await api.endLease(poolName, lease)).revoked;
}
