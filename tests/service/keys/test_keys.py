"""API keys over HTTP: create (shown once), list, use, scopes (401/403), revoke."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from service import errors
from service.keys import auth
from tests.infra import PostgresServer, S3Endpoint
from tests.service.conftest import Service, running_service
from tests.service.test_app import assert_error
from tests.support.waiting import eventually


def new_key(admin: httpx.Client, *scopes: str, name: str = "app") -> dict:
    response = admin.post("/keys", json={"name": name, "scopes": list(scopes)})
    assert response.status_code == 201, response.text
    return response.json()


def test_create_list_and_revoke(service: Service, admin: httpx.Client):
    created = new_key(admin, "read", "write", name="uploader")
    assert created["key"].startswith("silo_") and len(created["key"]) >= 40
    assert created["key"].startswith(created["prefix"])
    assert created["scopes"] == ["read", "write"]

    listed = admin.get("/keys").json()["items"]
    mine = [k for k in listed if k["id"] == created["id"]]
    assert mine and "key" not in mine[0] and mine[0]["name"] == "uploader"

    with service.client(created["key"]) as client:
        assert client.get("/files").status_code == 200
    assert admin.delete(f"/keys/{created['id']}").status_code == 204
    with service.client(created["key"]) as client:
        assert_error(client.get("/files"), 401, "unauthorized")
    assert_error(admin.delete(f"/keys/{created['id']}"), 404, "not_found")


def test_only_a_hash_is_stored(service: Service, admin: httpx.Client):
    created = new_key(admin, "read")
    with psycopg.connect(service.settings.database_url) as conn:
        row = conn.execute("SELECT * FROM api_keys WHERE id = %s", (created["id"],)).fetchone()
    assert created["key"] not in repr(row)
    assert created["key"].encode() not in b"".join(v for v in row if isinstance(v, bytes))


def test_missing_or_unknown_key_is_401(service: Service):
    for headers in (
        {},
        {"Authorization": "Bearer silo_nope"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer " + "x" * 5000},
    ):
        with service.client(key=None) as client:
            response = client.get("/files", headers=headers)
        assert_error(response, 401, "unauthorized")
        assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("scopes", "method", "path", "allowed"),
    [
        (["read"], "GET", "/files", True),
        (["read"], "POST", "/keys", False),
        (["read"], "GET", "/keys", False),
        (["write"], "GET", "/files", False),
        (["write"], "DELETE", "/files/00000000-0000-0000-0000-000000000000", True),
        (["admin"], "GET", "/files", True),
    ],
)
def test_scopes(service: Service, admin: httpx.Client, scopes, method, path, allowed):
    key = new_key(admin, *scopes)["key"]
    with service.client(key) as client:
        response = client.request(method, path, json={"name": "x", "scopes": ["read"]})
    if allowed:
        assert response.status_code not in (401, 403), response.text
    else:
        assert_error(response, 403, "forbidden")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": "x"},
        {"scopes": ["read"]},
        {"name": "", "scopes": ["read"]},
        {"name": "x" * 101, "scopes": ["read"]},
        {"name": 5, "scopes": ["read"]},
        {"name": "x", "scopes": []},
        {"name": "x", "scopes": "read"},
        {"name": "x", "scopes": ["root"]},
        {"name": "x", "scopes": [["read"]]},
        {"name": "x", "scopes": ["read"], "extra": 1},
        [],
        "read",
    ],
)
def test_invalid_key_requests_are_422(admin: httpx.Client, body):
    assert_error(admin.post("/keys", json=body), 422, "validation_error")


def test_non_json_key_request_is_400(admin: httpx.Client):
    response = admin.post(
        "/keys", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, "invalid_json")
    as_json = {"Content-Type": "application/json"}
    assert_error(admin.post("/keys", content=b"\xff\xfe", headers=as_json), 400, "invalid_json")


def test_malformed_key_id_is_404(admin: httpx.Client):
    assert_error(admin.delete("/keys/not-a-uuid"), 404, "not_found")


def insert_key(url: str, key: str, scopes: list[str]) -> str:
    key_id = str(uuid.uuid4())
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO api_keys (id, name, prefix, key_hash, scopes) VALUES (%s, %s, %s, %s, %s)",
            (key_id, "cached", key[:11], auth.hash_key(key), scopes),
        )
    return key_id


def revoke_in_database(url: str, key_id: str) -> None:
    """What another instance's DELETE /keys/{id} does: this instance hears nothing of it."""
    with psycopg.connect(url) as conn:
        assert conn.execute("DELETE FROM api_keys WHERE id = %s", (key_id,)).rowcount == 1


def test_key_cache_trusts_a_key_for_exactly_its_ttl(migrated_database_url: str):
    """With a clock under the test's control: a key revoked in the database is still accepted
    before cache_seconds have passed since its lookup, and refused from then on."""
    database_url = migrated_database_url
    key = auth.generate_key()
    key_id = insert_key(database_url, key, ["read"])
    now = [1000.0]

    async def scenario() -> None:
        pool = AsyncConnectionPool(
            database_url, min_size=1, max_size=2, kwargs={"row_factory": dict_row}, open=False
        )
        async with pool:
            authenticator = auth.Authenticator(
                "admin-key-0123456789", pool, cache_seconds=5, clock=lambda: now[0]
            )
            principal = await authenticator.authenticate(f"Bearer {key}")
            assert principal == auth.Principal(key_id, frozenset({"read"}))
            revoke_in_database(database_url, key_id)
            now[0] += 4.99
            assert await authenticator.authenticate(f"Bearer {key}") == principal
            now[0] += 0.01  # 5 s after the lookup: asked again, and refused
            with pytest.raises(errors.Unauthorized):
                await authenticator.authenticate(f"Bearer {key}")
            # A refused key is not cached: once it exists (again) it works at once.
            insert_key(database_url, key, ["write"])
            assert (await authenticator.authenticate(f"Bearer {key}")).scopes == {"write"}

    asyncio.run(scenario())


class SlowLookupPool:
    """A pool whose key lookup returns `row` only once `release` is set (a lookup in flight)."""

    def __init__(self, row: dict) -> None:
        self.row = row
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.lookups = 0

    @contextlib.asynccontextmanager
    async def connection(self):
        yield self

    async def execute(self, query, params):
        self.lookups += 1
        self.started.set()
        await self.release.wait()
        return self

    async def fetchone(self):
        return self.row


def test_a_lookup_in_flight_when_the_key_is_revoked_here_is_not_cached():
    key = auth.generate_key()
    key_id = str(uuid.uuid4())
    pool = SlowLookupPool({"id": key_id, "key_hash": auth.hash_key(key), "scopes": ["read"]})
    authenticator = auth.Authenticator("admin-key-0123456789", pool, cache_seconds=300)

    async def scenario() -> None:
        in_flight = asyncio.create_task(authenticator.authenticate(f"Bearer {key}"))
        await pool.started.wait()
        authenticator.forget(key_id)  # DELETE /keys/{id} served here meanwhile
        pool.release.set()
        assert (await in_flight).key_id == key_id  # it began before the revocation
        await authenticator.authenticate(f"Bearer {key}")
        assert pool.lookups == 2  # not served from the cache: the database was asked again

    asyncio.run(scenario())


def test_a_key_revoked_elsewhere_is_refused_within_key_cache_seconds(
    pg: PostgresServer, s3: S3Endpoint, aws_credentials
):
    """The stated bound, over HTTP: a revocation this instance did not serve takes effect
    within SILO_KEY_CACHE_SECONDS (here 2 s) of its commit."""
    bound = 2.0
    with running_service(pg, s3, SILO_KEY_CACHE_SECONDS=str(int(bound))) as service:
        key = auth.generate_key()
        key_id = insert_key(service.settings.database_url, key, ["read"])
        with service.client(key) as client:
            assert client.get("/files").status_code == 200  # looked up, now cached
            revoke_in_database(service.settings.database_url, key_id)
            eventually(
                lambda: client.get("/files").status_code == 401,
                timeout=bound,
                interval=0.1,
                message="the revoked key is still accepted",
            )
            assert_error(client.get("/files"), 401, "unauthorized")


def test_revoking_on_this_instance_takes_effect_at_once_even_with_a_long_cache(
    pg: PostgresServer, s3: S3Endpoint, aws_credentials
):
    with (
        running_service(pg, s3, SILO_KEY_CACHE_SECONDS="300") as service,
        service.client() as admin,
    ):
        created = new_key(admin, "read")
        with service.client(created["key"]) as client:
            assert client.get("/files").status_code == 200
            assert client.get("/files").status_code == 200  # served from the cache
            assert admin.delete(f"/keys/{created['id']}").status_code == 204
            assert_error(client.get("/files"), 401, "unauthorized")


class KeysPool:
    """A pool whose lookups find any of `keys` (by hash) at once, and count themselves."""

    def __init__(self, keys: dict[str, str]) -> None:
        self.rows = {
            auth.hash_key(k): {"id": i, "key_hash": auth.hash_key(k)} for k, i in keys.items()
        }
        self.lookups = 0
        self._hash = b""

    @contextlib.asynccontextmanager
    async def connection(self):
        yield self

    async def execute(self, query, params):
        self.lookups += 1
        self._hash = next(p for p in params if isinstance(p, bytes))
        return self

    async def fetchone(self):
        row = self.rows.get(self._hash)
        return None if row is None else {**row, "scopes": ["read", "write"]}


def test_the_key_cache_is_bounded_by_bytes_and_keeps_the_keys_in_use():
    keys = {auth.generate_key(): str(uuid.uuid4()) for _ in range(400)}
    pool = KeysPool(keys)
    budget = 16 * 1024
    authenticator = auth.Authenticator(
        "admin-key-0123456789", pool, cache_seconds=300, cache_budget_bytes=budget
    )
    hot, *others = keys

    async def scenario() -> None:
        await authenticator.authenticate(f"Bearer {hot}")
        for key in others:
            await authenticator.authenticate(f"Bearer {key}")
            assert authenticator.cache_bytes <= budget
            # The hot key, presented between the others, is served from the cache every time.
            lookups = pool.lookups
            assert (await authenticator.authenticate(f"Bearer {hot}")).key_id == keys[hot]
            assert pool.lookups == lookups
        # The oldest of the others went out; the newest is still there.
        lookups = pool.lookups
        await authenticator.authenticate(f"Bearer {others[-1]}")
        assert pool.lookups == lookups
        await authenticator.authenticate(f"Bearer {others[0]}")
        assert pool.lookups == lookups + 1
        assert 0 < authenticator.cache_bytes <= budget
        # Forgetting a key gives its bytes back.
        before = authenticator.cache_bytes
        authenticator.forget(keys[hot])
        assert authenticator.cache_bytes < before

    asyncio.run(scenario())
