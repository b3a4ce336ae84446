"""Bearer-token auth on `/graphql`: who may ask, who owns a lease, who may administer pools."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from app import Settings, create_app
from app.version import __version__

from .api_support import Api, code_of, error_of, granted, refused, snapshot

# Long enough for production, which the last tests of this module run in.
SECRETS = {
    "alice": "alice-s3cret-0123456789",
    "bob": "bob-b0bb0b-0123456789",
    "root": "root-r00t-0123456789",
}
BASE_ENV = {
    "OBJMGR_TOKENS": ",".join(f"{name}:{secret}" for name, secret in SECRETS.items()),
    "OBJMGR_ADMINS": "root",
    "OBJMGR_WORKERS": "1",
    "OBJMGR_POOL_SIZE": "3",
}


def build(store_url: str, **env: str) -> Flask:
    # Through from_env, so that the secrets are digested as in production.
    return create_app(Settings.from_env({**BASE_ENV, "OBJMGR_STORE": store_url, **env}))


@pytest.fixture
def app(store_url: str) -> Iterator[Flask]:
    app = build(store_url)
    yield app
    app.extensions["objmgr"].store.close()


@pytest.fixture
def alice(app: Flask) -> Api:
    return Api(app, SECRETS["alice"])


@pytest.fixture
def bob(app: Flask) -> Api:
    return Api(app, SECRETS["bob"])


@pytest.fixture
def root(app: Flask) -> Api:
    return Api(app, SECRETS["root"])


@pytest.fixture
def anonymous(app: Flask) -> Api:
    return Api(app)


# --- who may ask ------------------------------------------------------------------

UNAUTHENTICATED_HEADERS = [
    pytest.param({}, id="no-header"),
    pytest.param({"Authorization": ""}, id="empty-header"),
    pytest.param({"Authorization": "Basic YWxpY2U6czNjcmV0"}, id="basic-scheme"),
    pytest.param({"Authorization": "Token alice-s3cret-0123456789"}, id="token-scheme"),
    pytest.param({"Authorization": "alice-s3cret-0123456789"}, id="no-scheme"),
    pytest.param({"Authorization": "Bearer"}, id="bearer-without-token"),
    pytest.param({"Authorization": "Bearer   "}, id="bearer-blank-token"),
    pytest.param({"Authorization": "Bearer wrong"}, id="wrong-token"),
    pytest.param({"Authorization": "Bearer alice"}, id="principal-name-as-token"),
    pytest.param({"Authorization": "Bearer alice-s3cret-01234567890"}, id="token-with-suffix"),
    pytest.param({"Authorization": "Bearer ALICE-S3CRET-0123456789"}, id="token-other-case"),
]


@pytest.mark.parametrize("headers", UNAUTHENTICATED_HEADERS)
def test_a_request_without_a_valid_bearer_token_is_401_and_runs_nothing(
    anonymous: Api, root: Api, headers: dict[str, str]
) -> None:
    before = snapshot(root)

    answers = [
        anonymous.post("mutation { acquireObject { success } }", headers=headers),
        anonymous.post("{ getObject }", headers=headers),
    ]

    for answer in answers:
        assert answer.status_code == 401
        assert code_of(answer) == "UNAUTHENTICATED"
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert "data" not in answer.get_json()
    assert snapshot(root) == before


def test_a_query_over_get_without_a_token_is_401_too(anonymous: Api) -> None:
    response = anonymous.get("{ version }")

    assert response.status_code == 401
    assert code_of(response) == "UNAUTHENTICATED"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_401_message_says_what_to_send(anonymous: Api) -> None:
    assert "Bearer" in error_of(anonymous.post("{ version }"))["message"]


def test_a_valid_token_is_let_in(alice: Api) -> None:
    assert alice.data("{ version pool { name } }")["pool"] == {"name": "default"}


def test_the_bearer_scheme_is_case_insensitive(anonymous: Api) -> None:
    # RFC 7235: auth schemes are case-insensitive; the token itself is not.
    response = anonymous.post(
        "{ version }", headers={"Authorization": "bearer alice-s3cret-0123456789"}
    )

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/healthz", {"status": "ok"}),
        ("/readyz", {"status": "ok"}),
        ("/version", {"version": __version__}),
    ],
)
def test_probes_need_no_token(anonymous: Api, path: str, body: dict[str, str]) -> None:
    response = anonymous.request("GET", path)

    assert response.status_code == 200
    assert response.get_json() == body


def test_the_playground_page_and_its_assets_need_no_token(anonymous: Api) -> None:
    page = anonymous.request("GET", headers={"Accept": "text/html"})

    assert page.status_code == 200
    assert page.mimetype == "text/html"
    asset = anonymous.request("GET", "/graphql/static/graphiql/graphiql.min.js")
    assert asset.status_code == 200


def test_an_unknown_url_is_404_not_401(anonymous: Api) -> None:
    response = anonymous.request("GET", "/nope")

    assert response.status_code == 404
    assert code_of(response) == "NOT_FOUND"


# --- who owns a lease -------------------------------------------------------------------


def test_the_owner_of_a_lease_is_the_principal_and_the_owner_argument_is_ignored(
    alice: Api,
) -> None:
    lease = granted(alice.acquire(owner="mallory", label="mine"))["lease"]

    assert (lease["owner"], lease["label"]) == ("alice", "mine")
    assert alice.lease(1) == lease


def test_get_object_leases_to_the_principal(alice: Api) -> None:
    assert alice.get_object() == 1

    lease = alice.lease(1)
    assert lease is not None and lease["owner"] == "alice"


def test_the_owner_frees_their_own_lease_with_or_without_token(alice: Api) -> None:
    first = granted(alice.acquire())["lease"]
    granted(alice.acquire())

    assert granted(alice.free(1, token=first["token"]))["obj"] == 1
    assert granted(alice.free(2))["obj"] == 2
    assert alice.held() == []


def test_the_owner_with_a_stale_token_is_stale_token(alice: Api) -> None:
    lease = granted(alice.acquire())["lease"]

    refused(alice.free(1, token=lease["token"] + 1), "STALE_TOKEN")
    assert alice.lease(1) == lease


@pytest.mark.parametrize("token", ["none", "current", "stale"])
def test_freeing_someone_elses_object_with_auth_on_is_not_owner(
    alice: Api, bob: Api, token: str
) -> None:
    lease = granted(alice.acquire(ttl=600))["lease"]
    before = snapshot(alice)
    arguments = {
        "none": {},
        "current": {"token": lease["token"]},
        "stale": {"token": lease["token"] + 1},
    }[token]

    payload = bob.free(1, **arguments)

    # Ownership is checked before the token: a stale token too is NOT_OWNER, so
    # bob cannot probe for alice's token.
    refused(payload, "NOT_OWNER")
    assert payload["obj"] is None
    assert snapshot(alice) == before


def test_renewing_someone_elses_lease_is_not_owner(alice: Api, bob: Api) -> None:
    lease = granted(alice.acquire(ttl=60))["lease"]
    before = snapshot(alice)

    payload = bob.renew(1, lease["token"], ttl=3600)

    refused(payload, "NOT_OWNER")
    assert payload["lease"] is None
    assert snapshot(alice) == before


def test_an_admin_may_free_and_renew_anyones_lease(alice: Api, root: Api) -> None:
    first = granted(alice.acquire(ttl=60))["lease"]
    second = granted(alice.acquire())["lease"]

    renewed = granted(root.renew(1, first["token"], ttl=3600))["lease"]
    assert (renewed["owner"], renewed["token"]) == ("alice", first["token"])

    granted(root.free(1))
    granted(root.free(2, token=second["token"]))
    assert alice.held() == []


def test_request_ids_are_per_principal(alice: Api, bob: Api) -> None:
    mine = granted(alice.acquire(request_id="job-42"))["lease"]

    theirs = granted(bob.acquire(request_id="job-42"))["lease"]
    retry = granted(alice.acquire(request_id="job-42", owner="bob"))["lease"]

    assert (mine["owner"], theirs["owner"]) == ("alice", "bob")
    assert theirs["obj"] != mine["obj"]
    assert retry == mine
    assert alice.held() == [1, 2]


# --- who may administer pools ---------------------------------------------------------------

ADMIN_OPERATIONS = [
    pytest.param("createPool", 'createPool(name: "new", size: 2)', id="create"),
    pytest.param("resizePool", 'resizePool(name: "default", size: 10)', id="resize"),
    pytest.param("deletePool", 'deletePool(name: "default")', id="delete"),
    pytest.param("deletePool", 'deletePool(name: "default", force: true)', id="delete-force"),
]


@pytest.mark.parametrize(("field", "call"), ADMIN_OPERATIONS)
def test_a_principal_who_is_not_admin_may_not_administer_pools(
    alice: Api, field: str, call: str
) -> None:
    granted(alice.acquire())
    before = snapshot(alice)

    payload = alice.data(f"mutation {{ {call} {{ success code message pool {{ name }} }} }}")[field]

    message = refused(payload, "FORBIDDEN")
    assert "alice" in message
    assert payload["pool"] is None
    assert snapshot(alice) == before


@pytest.mark.parametrize(("field", "call"), ADMIN_OPERATIONS)
def test_an_admin_may_administer_pools(root: Api, field: str, call: str) -> None:
    payload = root.data(f"mutation {{ {call} {{ success code message pool {{ name }} }} }}")[field]

    assert granted(payload)["pool"] is not None


def test_without_admins_configured_nobody_may_administer_pools(store_url: str) -> None:
    env = {**BASE_ENV, "OBJMGR_STORE": store_url}
    del env["OBJMGR_ADMINS"]
    root = Api(create_app(Settings.from_env(env)), SECRETS["root"])

    refused(root.create_pool("new", 1), "FORBIDDEN")
    assert root.stats("new") is None


# --- auth off on purpose, and production ----------------------------------------------------


def test_auth_disabled_explicitly_lets_anyone_in_and_keeps_the_owner_argument(
    store_url: str,
) -> None:
    api = Api(build(store_url, OBJMGR_AUTH="disabled"))

    lease = granted(api.acquire(owner="ann"))["lease"]

    assert lease["owner"] == "ann"
    granted(api.free(1))
    granted(api.create_pool("open", 1))


def test_production_with_tokens_refuses_introspection_even_to_an_admin(store_url: str) -> None:
    root = Api(build(store_url, OBJMGR_ENV="production"), SECRETS["root"])

    response = root.post("{ __schema { queryType { name } } }")

    assert response.status_code == 400
    assert code_of(response) == "GRAPHQL_VALIDATION_FAILED"
    assert root.data("{ version }")["version"]


def test_production_with_tokens_does_not_serve_the_playground(store_url: str) -> None:
    anonymous = Api(build(store_url, OBJMGR_ENV="production"))

    response = anonymous.request("GET", headers={"Accept": "text/html"})

    assert response.status_code == 401
    assert response.mimetype == "application/json"
