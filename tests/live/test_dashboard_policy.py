"""The dashboard's pool policies in a real browser (Debian's Chromium, driven by Playwright)
against a live server with auth off: a pool's policy shown and set, a pool created with
one, and the objects cooling after a revoke counted in the Cooling column."""

from __future__ import annotations

import pytest
from objmgr_client.operations import CREATE_POOL, REVOKE

from .dashboard_support import (
    ACCESSIBILITY_PROBLEMS,
    Browser,
    expect,
    lease_row,
    make_pool,
    open_pool,
    pool_cell,
    unique,
    visit,
)
from .support import LiveServer

pytestmark = pytest.mark.live

NO_RULES = {
    "defaultTtl": None,
    "maxTtl": None,
    "maxPerOwner": None,
    "reuseDelay": None,
    "reuseFirst": False,
    "description": None,
}


def test_setting_a_pools_policy_from_the_page(browser: Browser, server: LiveServer) -> None:
    name = make_pool(server, 5)
    client = server.client()
    with visit(browser, server.base_url) as seen:
        page = seen.page
        open_pool(page, server.base_url, name)
        expect(page.locator("#policy-text")).to_have_text("Policy: no rules.")
        page.get_by_role("button", name="Policy…").click()
        dialog = page.get_by_role("dialog", name=f"Policy of pool {name}")
        assert page.evaluate(ACCESSIBILITY_PROBLEMS) == []
        dialog.get_by_label("Max TTL").fill("600")
        dialog.get_by_label("Max leases per owner").fill("2")
        dialog.get_by_label("Reuse freed objects first").check()
        dialog.get_by_label("Description").fill("build agents")
        dialog.get_by_role("button", name="Set policy").click()
        expect(dialog).to_be_hidden()
        expect(page.locator("#done")).to_contain_text(f"The policy of pool {name} was set")
        text = page.locator("#policy-text")
        expect(text).to_contain_text("max TTL 600 s")
        expect(text).to_contain_text("at most 2 leases per owner")
        expect(text).to_contain_text("freed objects reused first")
        expect(text).to_contain_text("build agents")
        assert client.pool(name)["policy"] == {
            **NO_RULES,
            "maxTtl": 600,
            "maxPerOwner": 2,
            "reuseFirst": True,
            "description": "build agents",
        }

        # The dialog opens on the policy as it is; a refusal keeps it open with its code.
        page.get_by_role("button", name="Policy…").click()
        expect(dialog.get_by_label("Max TTL")).to_have_value("600")
        expect(dialog.get_by_label("Reuse freed objects first")).to_be_checked()
        dialog.get_by_label("Default TTL").fill("900")
        dialog.get_by_role("button", name="Set policy").click()
        expect(dialog.get_by_role("alert")).to_contain_text("BAD_USER_INPUT")
        dialog.get_by_role("button", name="Cancel").click()
        expect(dialog).to_be_hidden()
    assert client.pool(name)["policy"]["defaultTtl"] is None
    client.close()


def test_creating_a_pool_with_a_policy(browser: Browser, server: LiveServer) -> None:
    name = unique("ruled")
    client = server.client()
    with visit(browser, server.base_url) as seen:
        page = seen.open()
        page.get_by_role("button", name="New pool…").click()
        dialog = page.get_by_role("dialog", name="New pool")
        dialog.get_by_label("Name").fill(name)
        dialog.get_by_label("Size").fill("8")
        dialog.get_by_text("Policy (optional)").click()
        dialog.get_by_label("Default TTL").fill("30")
        dialog.get_by_label("Reuse delay").fill("90")
        dialog.get_by_role("button", name="Create pool").click()
        expect(page.locator("#detail-title")).to_have_text(f"Pool {name}")
        expect(page.locator("#policy-text")).to_contain_text("default TTL 30 s")
        expect(page.locator("#policy-text")).to_contain_text("objects cool 90 s")
    made = client.pool(name)
    assert made["size"] == 8
    assert made["policy"] == {**NO_RULES, "defaultTtl": 30, "reuseDelay": 90}
    client.close()


def test_objects_cooling_after_a_revoke_are_counted(browser: Browser, server: LiveServer) -> None:
    name = unique("cooling")
    client = server.client()
    made = client.data(CREATE_POOL, {"name": name, "size": 4, "policy": {"reuseDelay": 3600}})[
        "createPool"
    ]
    assert made["success"], made
    held = [client.acquire(pool=name, owner="ci-7")["lease"] for _ in range(3)]
    with visit(browser, server.base_url) as seen:
        page = seen.page
        open_pool(page, server.base_url, name, live=True)
        expect(pool_cell(page, name, "Cooling")).to_have_text("0")
        # One revoked by the API, one from the page: both rest, neither available.
        revoked = client.data(REVOKE, {"pool": name, "objs": [held[0]["obj"]]})["revokeLeases"]
        assert revoked["success"], revoked
        expect(pool_cell(page, name, "Cooling")).to_have_text("1")
        page.get_by_role("button", name=f"Revoke the lease of object {held[1]['obj']}").click()
        page.get_by_role("dialog").get_by_role("button", name="Revoke lease").click()
        expect(lease_row(page, held[1]["obj"])).to_have_count(0)
        expect(pool_cell(page, name, "Cooling")).to_have_text("2")
        expect(pool_cell(page, name, "Available")).to_have_text("1")
        expect(page.locator("#summary")).to_contain_text("Cooling2")
        expect(page.locator("#feed li[data-kind='REVOKED']")).to_have_count(2)
    counts = client.pool(name)
    assert (counts["inUse"], counts["cooling"], counts["available"]) == (1, 2, 1)
    client.close()
