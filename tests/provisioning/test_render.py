"""docker-compose.yml: rendered from tenants.yaml, checked in, and what it must contain."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

import tenants
from provisioning import render
from provisioning.cli import build_parser
from provisioning.service_env import (
    LOCAL_SECRET_VARIABLES,
    local_scan,
    service_environment,
    service_target,
)
from tenants import names

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = """\
platform:
  domain: uploads.test.example
tenants:
{entries}
"""


def catalogue_file(tmp_path: Path, slugs: list[str]) -> Path:
    entries = "\n".join(
        f"  - {{slug: {slug}, name: {slug.title()}, priority: {10 * (i + 1)}}}"
        for i, slug in enumerate(slugs)
    )
    path = tmp_path / f"tenants-{len(slugs)}.yaml"
    path.write_text(CATALOGUE.format(entries=entries))
    return path


def render_file(path: Path) -> dict:
    return yaml.safe_load(render.render_compose(tenants.load_catalogue(path), path.name))


@pytest.fixture(scope="module")
def repo_catalogue():
    return tenants.load_catalogue(ROOT / "tenants.yaml")


@pytest.fixture(scope="module")
def checked_in(repo_catalogue) -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_checked_in_file_is_a_fresh_rendering_of_tenants_yaml(repo_catalogue):
    fresh = render.render_compose(repo_catalogue, "tenants.yaml")
    current = (ROOT / "docker-compose.yml").read_text()
    assert current == fresh, "docker-compose.yml is out of date: run `uv run silo render compose`"


def test_every_tenant_has_its_database_api_bucket_and_route(repo_catalogue, checked_in):
    services = checked_in["services"]
    router = checked_in["configs"]["router"]["content"]
    bucket_job = " ".join(services["buckets"]["command"])
    assert repo_catalogue.tenants
    for tenant in repo_catalogue.tenants:
        db, api = services[f"db-{tenant.slug}"], services[f"api-{tenant.slug}"]
        assert db["image"].startswith("postgres:")
        assert db["environment"]["POSTGRES_DB"] == names.database_name(tenant.slug)
        assert "pg_isready" in db["healthcheck"]["test"]
        assert api["build"] == {"context": ".", "dockerfile": "Dockerfile"}
        assert api["depends_on"] == {
            f"db-{tenant.slug}": {"condition": "service_healthy"},
            "buckets": {"condition": "service_completed_successfully"},
            # Every tenant of the repository's catalogue scans, each with its own clamd.
            f"clamav-{tenant.slug}": {"condition": "service_healthy"},
        }
        assert "/healthz" in " ".join(api["healthcheck"]["test"])
        # What the task reserves on Fargate: api.cpu / 1024 CPUs, api.memory MiB, no swap.
        assert api["cpus"] == tenant.api.cpu / 1024
        assert api["mem_limit"] == api["memswap_limit"] == f"{tenant.api.memory}m"
        assert api["environment"]["S3_BUCKET"] in bucket_job
        assert f"server_name {tenant.slug}.localhost;" in router
        assert f"proxy_pass http://api-{tenant.slug}:8000;" in router
        assert services["router"]["depends_on"][f"api-{tenant.slug}"] == {
            "condition": "service_healthy"
        }
    assert services["buckets"]["depends_on"] == {"minio": {"condition": "service_healthy"}}


def test_api_environment_is_the_task_definitions_mapping(repo_catalogue, checked_in):
    """Same function as the Pulumi task definition, with the compose endpoints, plus the
    secret variables ECS would inject and MinIO credentials: nothing else."""
    for tenant in repo_catalogue.tenants:
        scope = names.Scope(repo_catalogue.platform.name, render.COMPOSE_STACK)
        derived = names.for_tenant(
            scope, tenant, account_id=names.LOCAL_ACCOUNT_ID, region=render.COMPOSE_REGION
        )
        target = service_target(
            tenant,
            derived,
            region=render.COMPOSE_REGION,
            database_host=f"db-{tenant.slug}",
            database_port=5432,
            scan=local_scan(tenant, render.clamd_address(tenant.slug)),
            port=8000,
            s3_endpoint_url=render.S3_ENDPOINT,
        )
        environment = checked_in["services"][f"api-{tenant.slug}"]["environment"]
        expected = service_environment(target)
        assert {k: environment[k] for k in expected} == expected
        assert set(environment) == (
            set(expected)
            | set(LOCAL_SECRET_VARIABLES)
            | {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
        )
        # Compose's PostgreSQL has no TLS: libpq keeps its default, as with silo dev.
        assert not {"PGSSLMODE", "PGSSLROOTCERT"} & set(environment)
        # Secrets come from the shell/.env when set; the defaults are local-only values.
        assert environment["SILO_ADMIN_KEY"].startswith("${SILO_ADMIN_KEY_")


def test_local_admin_key_defaults_are_long_enough_for_the_service(checked_in):
    from service.settings import MIN_ADMIN_KEY_LENGTH

    for name, service in checked_in["services"].items():
        if name.startswith("api-"):
            default = service["environment"]["SILO_ADMIN_KEY"].split(":-", 1)[1].rstrip("}")
            assert len(default) >= MIN_ADMIN_KEY_LENGTH


def test_router_config_escapes_nginx_variables_from_compose(checked_in):
    content = checked_in["configs"]["router"]["content"]
    # Compose interpolates `$name`; nginx must receive it, so every `$` is doubled.
    assert "$host" not in content.replace("$$", "")
    assert "proxy_set_header Host $$host;" in content
    assert "client_max_body_size 0;" in content
    assert "proxy_request_buffering off;" in content
    assert "default_server" in content


def test_published_ports_are_loopback_only(checked_in):
    for service in checked_in["services"].values():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), port


def test_adding_a_tenant_leaves_the_others_untouched(tmp_path):
    """Onboarding in compose: the new tenant's services appear, nobody else's change."""
    before = render_file(catalogue_file(tmp_path, ["alpha", "beta"]))
    after = render_file(catalogue_file(tmp_path, ["alpha", "beta", "gamma"]))
    for slug in ("alpha", "beta"):
        for kind in ("db", "api"):
            assert after["services"][f"{kind}-{slug}"] == before["services"][f"{kind}-{slug}"]
    added = set(after["services"]) - set(before["services"])
    assert added == {"db-gamma", "api-gamma", "clamav-gamma"}
    assert "server_name gamma.localhost;" in after["configs"]["router"]["content"]


def _render_args(tmp_path: Path, *extra: str) -> argparse.Namespace:
    argv = ["render", "compose", "--tenants", str(catalogue_file(tmp_path, ["alpha"])), *extra]
    return build_parser(argv).parse_args(argv)


def test_render_writes_then_check_passes_and_catches_a_stale_file(tmp_path, capsys):
    output = tmp_path / "compose.yml"
    assert render.run(_render_args(tmp_path, "--output", str(output))) == 0
    assert "api-alpha" in yaml.safe_load(output.read_text())["services"]
    assert render.run(_render_args(tmp_path, "--output", str(output), "--check")) == 0

    output.write_text(output.read_text().replace("silo_alpha", "silo_stale"))
    capsys.readouterr()
    assert render.run(_render_args(tmp_path, "--output", str(output), "--check")) == 1
    captured = capsys.readouterr()
    assert '-      POSTGRES_DB: "silo_stale"' in captured.out
    assert "out of date" in captured.err
    assert "silo_stale" in output.read_text(), "--check must not write"


def test_render_reports_a_bad_catalogue(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("platform: {domain: x.example}\ntenants:\n  - {slug: Bad_Slug, name: B}\n")
    argv = ["render", "compose", "--tenants", str(bad), "--output", str(tmp_path / "o.yml")]
    assert render.run(build_parser(argv).parse_args(argv)) == 2
    assert "Bad_Slug" in capsys.readouterr().err
    assert not (tmp_path / "o.yml").exists()


def test_every_reference_resolves(checked_in):
    """What `docker compose config` would reject: dangling depends_on, configs, volumes."""
    services = checked_in["services"]
    declared_volumes = set(checked_in["volumes"])
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        for config in service.get("configs", []):
            assert config["source"] in checked_in["configs"], name
        for volume in service.get("volumes", []):
            assert volume.split(":")[0] in declared_volumes, f"{name}: {volume}"
        assert "healthcheck" in service or name == "buckets", f"{name} has no health check"


def test_each_scanning_tenant_waits_for_its_own_clamav_on_a_network_of_their_own(checked_in):
    """clamd from the official image, one per scanning tenant as on AWS (its task's sidecar):
    on a network only that tenant's API shares, nothing published, healthy (signatures loaded)
    before the API starts; so no tenant can reach, stop or starve another's scanner."""
    services = checked_in["services"]
    apis = {name.removeprefix("api-"): s for name, s in services.items() if name.startswith("api-")}
    assert apis
    for slug, api in apis.items():
        clamav = services[f"clamav-{slug}"]
        assert clamav["image"].startswith("clamav/clamav:")
        assert clamav["healthcheck"]["test"] == ["CMD", "clamdcheck.sh"]
        assert "ports" not in clamav
        assert clamav["volumes"] == [f"clamav-{slug}-db:/var/lib/clamav"]
        assert clamav["networks"] == [f"scan-{slug}"]
        assert api["environment"]["SILO_SCAN"] == "clamav"
        assert api["environment"]["SILO_CLAMD_ADDRESS"] == render.clamd_address(slug)
        assert api["depends_on"][f"clamav-{slug}"] == {"condition": "service_healthy"}
        assert api["networks"] == ["default", f"scan-{slug}"]
        others = [name for name, s in services.items() if f"scan-{slug}" in s.get("networks", [])]
        assert sorted(others) == sorted([f"api-{slug}", f"clamav-{slug}"])


def test_a_tenant_that_does_not_scan_neither_scans_nor_waits_for_clamav(tmp_path):
    path = catalogue_file(tmp_path, ["alpha", "beta"])
    path.write_text(path.read_text().replace("name: Beta,", 'name: Beta, limits: {scan: "off"},'))
    services = render_file(path)["services"]
    assert services["api-alpha"]["environment"]["SILO_SCAN"] == "clamav"
    assert services["api-beta"]["environment"]["SILO_SCAN"] == "off"
    assert "SILO_CLAMD_ADDRESS" not in services["api-beta"]["environment"]
    assert "clamav-beta" not in services["api-beta"]["depends_on"]
    assert "clamav-beta" not in services and "clamav-alpha" in services


def test_no_clamav_service_when_no_tenant_scans(tmp_path):
    path = catalogue_file(tmp_path, ["alpha"])
    path.write_text(path.read_text().replace("name: Alpha,", 'name: Alpha, limits: {scan: "off"},'))
    rendered = render_file(path)
    assert not [name for name in rendered["services"] if name.startswith("clamav")]
    assert "clamav-alpha-db" not in rendered["volumes"]
    assert "networks" not in rendered
