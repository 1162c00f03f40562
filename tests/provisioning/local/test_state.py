"""The state file `silo dev` writes and scripts (and `silo smoke`) read."""

from __future__ import annotations

import json
import stat

import pytest

from provisioning.local.state import (
    StateError,
    TenantEndpoint,
    format_table,
    read_state,
    state_document,
    write_state,
)

ALPHA = TenantEndpoint("alpha", "http://127.0.0.1:9001", "key-a" * 4, "silo-dev-alpha-1", pid=11)
BETA = TenantEndpoint("beta", "http://127.0.0.1:9002", "key-b" * 4, "silo-dev-beta-1", pid=12)


def test_document_has_the_promised_shape():
    document = state_document([ALPHA, BETA], pid=7)
    assert document["pid"] == 7
    assert list(document["tenants"]) == ["alpha", "beta"]
    entry = document["tenants"]["alpha"]
    assert {"url": ALPHA.url, "admin_key": ALPHA.admin_key, "bucket": ALPHA.bucket}.items() <= (
        entry.items()
    )
    assert "slug" not in entry
    assert entry["console"] == "http://127.0.0.1:9001/console"


def test_write_then_read_round_trips(tmp_path):
    path = tmp_path / "nested" / "dev.json"
    write_state(path, state_document([ALPHA, BETA], pid=7))
    assert read_state(path) == {"alpha": ALPHA, "beta": BETA}
    assert json.loads(path.read_text())["tenants"]["beta"]["url"] == BETA.url


def test_written_file_is_private_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "dev.json"
    write_state(path, state_document([ALPHA]))
    write_state(path, state_document([ALPHA, BETA]))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds admin keys
    assert [p.name for p in tmp_path.iterdir()] == ["dev.json"]


def test_reader_accepts_the_minimal_promised_fields_and_ignores_extras(tmp_path):
    path = tmp_path / "dev.json"
    path.write_text(
        json.dumps(
            {"tenants": {"x": {"url": "http://h", "admin_key": "k", "bucket": "b", "new": 1}}}
        )
    )
    assert read_state(path) == {"x": TenantEndpoint("x", "http://h", "k", "b")}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such state file"),
        ("{not json", "cannot read"),
        ('{"tenants": []}', "no 'tenants' object"),
        ('{"tenants": {"x": {"url": "u"}}}', "tenant 'x' lacks admin_key, bucket"),
    ],
)
def test_reader_says_what_is_wrong(tmp_path, content, message):
    path = tmp_path / "dev.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(StateError, match=message):
        read_state(path)


def test_table_lists_tenant_url_console_key_bucket_and_exits():
    dead = TenantEndpoint(
        "beta", BETA.url, BETA.admin_key, BETA.bucket, status="exited", exit_code=-9
    )
    lines = format_table([ALPHA, dead]).splitlines()
    assert lines[0].split() == ["TENANT", "URL", "CONSOLE", "ADMIN", "KEY", "BUCKET", "STATUS"]
    console = ALPHA.url + "/console"
    assert lines[1].split() == [
        "alpha",
        ALPHA.url,
        console,
        ALPHA.admin_key,
        ALPHA.bucket,
        "running",
    ]
    assert lines[2].split()[-2:] == ["exited", "(-9)"]
    # Columns line up.
    assert lines[0].index("URL") == lines[1].index("http") == lines[2].index("http")
