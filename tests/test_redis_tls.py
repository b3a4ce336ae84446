"""`rediss://`: the store over TLS to a redis-server with a certificate of the test's own CA.

Debian's redis-server is built with TLS (it links libssl and takes `--tls-port`).
The CA and the server certificate are made with `openssl` in a temporary
directory; the server listens on TLS alone (`--port 0`), so nothing reaches it
in the clear. The certificate is verified: without the CA (the system's trust)
the store refuses to connect.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from app import Settings, create_app
from app.config_redis import RedisSettings
from app.pool.errors import StoreUnavailable
from app.pool.lease import Caller
from app.service import LeaseService
from app.stores.redis import RedisStore
from app.stores.redis.topology import RedisOptions

from .api_support import Api, granted, refused
from .support.redis_server import RedisServer, launch_redis

ANYONE = Caller.auth_off()
OPENSSL_TIMEOUT = 30


@dataclass(frozen=True)
class Certificates:
    ca: Path
    cert: Path
    key: Path
    other_ca: Path


def _openssl(*args: str | Path, cwd: Path) -> None:
    binary = shutil.which("openssl")
    assert binary is not None, "openssl is not installed (apt-get install -y openssl)"
    subprocess.run(
        [binary, *map(str, args)],
        cwd=cwd,
        check=True,
        capture_output=True,
        timeout=OPENSSL_TIMEOUT,
    )


def _make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    key, cert = directory / f"{name}.key", directory / f"{name}.crt"
    _openssl("genrsa", "-out", key, "2048", cwd=directory)
    _openssl(
        "req", "-x509", "-new", "-key", key, "-sha256", "-days", "2",
        "-subj", f"/CN={name}", "-out", cert,
        cwd=directory,
    )  # fmt: skip
    return key, cert


def make_certificates(directory: Path) -> Certificates:
    """A CA, a server certificate it signed for 127.0.0.1 and localhost, and a second,
    unrelated CA."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca = _make_ca(directory, "objmgr-test-ca")
    _, other_ca = _make_ca(directory, "unrelated-ca")
    key, request, cert = (
        directory / "server.key",
        directory / "server.csr",
        directory / "server.crt",
    )
    extensions = directory / "server.ext"
    extensions.write_text("subjectAltName = IP:127.0.0.1, DNS:localhost\n")
    _openssl("genrsa", "-out", key, "2048", cwd=directory)
    _openssl("req", "-new", "-key", key, "-subj", "/CN=127.0.0.1", "-out", request, cwd=directory)
    _openssl(
        "x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
        "-days", "2", "-sha256", "-extfile", extensions, "-out", cert,
        cwd=directory,
    )  # fmt: skip
    return Certificates(ca=ca, cert=cert, key=key, other_ca=other_ca)


class TlsRedisServer(RedisServer):
    """A redis-server that listens on TLS only, on `port`."""

    certificates: Certificates

    @property
    def url(self) -> str:
        return f"rediss://127.0.0.1:{self.port}/0"

    def client(self, timeout: float = 1.0) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            ssl=True,
            ssl_ca_certs=str(self.certificates.ca),
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
        )

    def command(self) -> list[str]:
        command = super().command()
        command[command.index("--port") + 1] = "0"
        return [
            *command,
            "--tls-port", str(self.port),
            "--tls-cert-file", str(self.certificates.cert),
            "--tls-key-file", str(self.certificates.key),
            "--tls-ca-cert-file", str(self.certificates.ca),
            "--tls-auth-clients", "no",
        ]  # fmt: skip


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def tls_redis(
    tmp_path_factory: pytest.TempPathFactory, certificates: Certificates
) -> Iterator[TlsRedisServer]:
    class Server(TlsRedisServer):
        pass

    Server.certificates = certificates
    server = launch_redis(tmp_path_factory.mktemp("tls-redis"), Server)
    yield server
    server.stop()


@pytest.fixture
def tls_url(tls_redis: TlsRedisServer) -> str:
    with tls_redis.client() as client:
        client.flushall()
    return tls_redis.url


def test_redis_server_is_built_with_tls(tls_redis: TlsRedisServer) -> None:
    with tls_redis.client() as client:
        assert client.config_get("tls-port") == {"tls-port": str(tls_redis.port)}
        assert client.config_get("port") == {"port": "0"}, "nothing listens in the clear"
    plain = redis.Redis(
        port=tls_redis.port, socket_timeout=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
    )
    with plain, pytest.raises(redis.ConnectionError):
        plain.ping()


def test_the_store_acquires_and_frees_over_tls_with_the_ca(
    tls_url: str, certificates: Certificates
) -> None:
    store = RedisStore(
        tls_url, default_pool=("default", 3), options=RedisOptions(ca=str(certificates.ca))
    )
    try:
        store.open()
        service = LeaseService(store)
        lease = service.acquire(ANYONE, ttl=60)
        assert service.lease(lease.obj) == lease
        assert service.free(ANYONE, lease.obj, token=lease.token) == lease.obj
        assert service.lease(lease.obj) is None
        assert service.acquire(ANYONE).token > lease.token
    finally:
        store.close()


@pytest.mark.parametrize("ca", [None, "other"], ids=["system-trust", "an-unrelated-ca"])
def test_a_certificate_the_ca_did_not_sign_is_refused(
    tls_url: str, certificates: Certificates, ca: str | None
) -> None:
    options = RedisOptions(ca=None if ca is None else str(certificates.other_ca))
    store = RedisStore(tls_url, default_pool=("default", 3), options=options)
    try:
        with pytest.raises(StoreUnavailable):
            store.open()
        with pytest.raises(StoreUnavailable):
            LeaseService(store).acquire(ANYONE)
    finally:
        store.close()
    with redis.Redis.from_url(tls_url, ssl_ca_certs=str(certificates.ca)) as client:
        assert client.dbsize() == 0, "nothing was written over an unverified connection"


def test_a_served_app_works_over_tls(tls_url: str, certificates: Certificates) -> None:
    settings = Settings.from_env({"OBJMGR_STORE": tls_url, "OBJMGR_REDIS_CA": str(certificates.ca)})
    assert settings.redis == RedisSettings(ca=str(certificates.ca))
    app = create_app(settings)
    try:
        api = Api(app)
        assert api.request("GET", "/readyz").status_code == 200
        lease = granted(api.acquire(ttl=60))["lease"]
        assert api.held() == [lease["obj"]]
        assert api.free(lease["obj"])["success"] is True
        assert api.held() == []
    finally:
        app.extensions["objmgr"].store.close()


def test_a_served_app_without_the_ca_is_not_ready(tls_url: str) -> None:
    app = create_app(Settings.from_env({"OBJMGR_STORE": tls_url}))
    try:
        api = Api(app)
        assert api.request("GET", "/readyz", unavailable_ok=True).status_code == 503
        refused(api.acquire(), "STORE_UNAVAILABLE")
    finally:
        app.extensions["objmgr"].store.close()
