"""`silo import --from-pack`: a Pack deployment built in PostgreSQL from Pack's schema, its
objects in the local S3 endpoint, two providers. One provider is imported; nothing of the other
(files, objects, the taxonomy names only it uses) may leak into the tenant."""

from __future__ import annotations

import csv

import psycopg
import pytest

from tests.infra import PostgresServer, S3Endpoint
from tests.provisioning.importer.conftest import all_files, download, run_import
from tests.service.conftest import ADMIN_KEY
from tests.service.helpers import elf, pdf, png

KIB = 1024

PACK_SCHEMA = """
CREATE TABLE providers (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE categories (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE languages (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE roles (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE files (
    id serial PRIMARY KEY,
    title text, description text,
    category integer REFERENCES categories (id),
    language integer REFERENCES languages (id),
    provider integer REFERENCES providers (id),
    file text, mimetype text, uploaded_by text
);
CREATE TABLE files_roles (
    file_id integer REFERENCES files (id), role_id integer REFERENCES roles (id)
);
INSERT INTO categories (name) VALUES ('Conflict resolution'), ('Skills'), ('Soft skills');
INSERT INTO languages (name) VALUES ('Italian'), ('English'), ('French');
INSERT INTO roles (name) VALUES ('Mentor/Coach'), ('Mentee/Coachee');
INSERT INTO providers (name) VALUES ('Pack'), ('HR Comp');
-- Names only one provider uses: the imported one's must be created, the other's never seen.
INSERT INTO categories (name) VALUES ('Leadership'), ('Payroll');
INSERT INTO roles (name) VALUES ('Manager');
"""

# (title, description, category, language, roles, key, mimetype, uploaded_by, bytes)
PACK_FILES = [
    ("Ascolto attivo", "Una lezione", "Soft skills", "Italian", ["Mentor/Coach"],
     "pack/2021/ascolto.pdf", "application/pdf", "u-101", pdf(3 * KIB)),
    ("Giving feedback", None, "Skills", "English", ["Mentor/Coach", "Mentee/Coachee"],
     "pack/2021/feedback.pdf", "application/pdf", "u-102", pdf(100 * KIB)),  # tus
    ("La médiation", "Cours", "Conflict resolution", "French", [],
     "pack/2022/mediation.png", "image/png", None, png()),
    ("Leading teams", "Module 1", "Leadership", "English", ["Mentee/Coachee"],
     "pack/2022/leading-1.pdf", "application/pdf", "u-103", pdf(5 * KIB)),
    ("Leading teams 2", None, "Leadership", None, [],
     "pack/2022/leading-2.pdf", "application/pdf", "u-103", pdf(6 * KIB)),
    ("Installer", None, None, None, [],
     "pack/2022/setup.bin", "application/octet-stream", "u-104", elf()),  # refused: type
    ("Lost", None, "Skills", "Italian", [],
     "pack/2020/lost.pdf", "application/pdf", "u-105", None),  # no object in the bucket
]  # fmt: skip
HR_FILES = [
    ("Payslips explained", "HR", "Payroll", "English", ["Manager"],
     "hrcomp/payslips.pdf", "application/pdf", "h-1", pdf(4 * KIB)),
    ("Onboarding", None, "Skills", "Italian", ["Mentor/Coach"],
     "hrcomp/onboarding.pdf", "application/pdf", "h-2", pdf(4 * KIB)),
]  # fmt: skip


@pytest.fixture
def pack(pg: PostgresServer, s3: S3Endpoint) -> tuple[str, str]:
    """(database URL, bucket) of a Pack deployment holding PACK_FILES and HR_FILES."""
    url = pg.create_database("pack")
    bucket = s3.create_bucket("pack")
    objects = s3.client()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(PACK_SCHEMA)
        ids = lambda table: dict(conn.execute(f"SELECT name, id FROM {table}").fetchall())  # noqa: E731
        categories, languages, roles = ids("categories"), ids("languages"), ids("roles")
        for provider, rows in ((1, PACK_FILES), (2, HR_FILES)):
            for title, desc, category, language, role_names, key, mime, user, data in rows:
                (file_id,) = conn.execute(
                    "INSERT INTO files (title, description, category, language, provider, file,"
                    " mimetype, uploaded_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                    (title, desc, categories.get(category), languages.get(language), provider,
                     key, mime, user),
                ).fetchone()  # fmt: skip
                for name in role_names:
                    conn.execute("INSERT INTO files_roles VALUES (%s, %s)", (file_id, roles[name]))
                if data is not None:
                    objects.put_object(Bucket=bucket, Key=key, Body=data)
    yield url, bucket
    pg.drop_database(url)


def test_one_provider_moves_from_pack_and_the_other_does_not_leak(tenant, pack, s3, tmp_path):
    database_url, bucket = pack
    with tenant.client() as admin:
        created = admin.post("/keys", json={"name": "importer", "scopes": ["read", "write"]})
        assert created.status_code == 201, created.text
        key, key_id = created.json()["key"], created.json()["id"]
    journal, report = tmp_path / "journal.jsonl", tmp_path / "report.csv"
    args = ["--from-pack", database_url, "--bucket", bucket, "--provider", "1"]
    args += ["--s3-endpoint", s3.endpoint_url, "--journal", journal, "--report", report]
    args += ["--direct-max", "32K", "--tus-chunk", "32K"]
    env = {"AWS_REGION": s3.region}

    # Unknown names are listed before anything is sent: only the imported provider's.
    refused = run_import(tenant.url, *args, key=key, env=env)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "category 'Leadership', used by 2 file(s)" in refused.stderr
    assert "Payroll" not in refused.stderr and "Manager" not in refused.stderr
    assert "--create-missing" in refused.stderr
    with tenant.client() as admin:
        assert all_files(admin) == []

    # A read/write key cannot create them: --admin-key can.
    done = run_import(
        tenant.url, *args, "--create-missing", "--admin-key", ADMIN_KEY, key=key, env=env
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "created category 'Leadership'" in done.stderr
    assert done.stdout.startswith("imported 5, skipped 0 (already there), failed 2")
    with report.open(newline="") as f:
        rows = {row["title"]: row for row in csv.DictReader(f)}
    assert set(rows) == {row[0] for row in PACK_FILES}
    assert rows["Lost"]["reason"] == f"object s3://{bucket}/pack/2020/lost.pdf is missing"
    assert rows["Installer"]["reason"].startswith("415 unsupported_type")
    assert rows["Giving feedback"]["via"] == "tus" and rows["Ascolto attivo"]["via"] == "direct"

    expected = {row[0]: row for row in PACK_FILES[:5]}
    with tenant.client() as admin:
        files = all_files(admin)
        assert sorted(f["title"] for f in files) == sorted(expected)
        for f in files:
            _, desc, category, language, roles, key_, mime, user, data = expected[f["title"]]
            assert f["description"] == desc
            assert f["category"] == category
            assert f["language"] == {"Italian": "it", "English": "en", "French": "fr"}.get(language)
            assert sorted(f["roles"]) == sorted(roles)  # Pack keeps no order
            assert f["filename"] == key_.rsplit("/", 1)[1]
            assert f["content_type"] == mime
            assert f["uploaded_by"] == (user or key_id)  # Pack's uploader, else the key
            assert download(admin, f["id"]) == data
        taxonomy = {
            kind: {e["name"] for e in admin.get(f"/{kind}").json()["items"]}
            for kind in ("categories", "roles")
        }
    assert "Leadership" in taxonomy["categories"]
    assert "Payroll" not in taxonomy["categories"] and "Manager" not in taxonomy["roles"]

    # The rerun sends nothing again.
    again = run_import(tenant.url, *args, key=key, env=env)
    assert again.stdout.startswith("imported 0, skipped 5 (already there), failed 2")


def test_pack_source_reads_one_provider_and_streams_from_any_offset(pack, s3):
    """What a resumed tus upload asks of Pack: the object's bytes from an offset (a ranged GET),
    and only the chosen provider's rows."""
    from provisioning.importer.pack import PackSource

    database_url, bucket = pack
    source = PackSource(database_url, bucket, "hr comp", s3_endpoint=s3.endpoint_url,
                        region=s3.region)  # fmt: skip
    items = {i.title: i for i in source.items()}
    assert sorted(items) == sorted(row[0] for row in HR_FILES)
    payslips = items["Payslips explained"]
    assert (payslips.category, payslips.language, payslips.roles) == (
        "Payroll",
        "English",
        ("Manager",),
    )
    data = HR_FILES[0][-1]
    assert payslips.size == len(data)
    assert b"".join(source.chunks(payslips)) == data
    assert b"".join(source.chunks(payslips, offset=1000)) == data[1000:]
