"""SILO_TAXONOMY in the environment contract: rendered from ServiceTarget.taxonomy, and read
back by the service exactly as given."""

from dataclasses import replace

from provisioning.service_env import ServiceTarget, service_environment
from service.files.taxonomy import parse_taxonomy

TARGET = ServiceTarget(
    tenant="hrcomp",
    bucket="silo-prod-hrcomp-abc123",
    region="eu-west-1",
    database_host="db.internal",
    database_port=5432,
    database_name="silo_hrcomp",
    max_upload_bytes=1024,
    allowed_types=("pdf",),
)


def test_no_taxonomy_means_no_variable_and_the_service_defaults():
    assert "SILO_TAXONOMY" not in service_environment(TARGET)


def test_taxonomy_is_rendered_as_json_the_service_parses_back():
    taxonomy = {
        "categories": ["Conflict resolution", "Skills"],
        "languages": {"it": "Italiano", "fr": "Français", "de": "Deutsch"},
        "roles": ["Mentor/Coach", "Mentee/Coachee"],
    }
    env = service_environment(replace(TARGET, taxonomy=taxonomy))
    assert env["SILO_TAXONOMY"].isascii()
    parsed = parse_taxonomy(env["SILO_TAXONOMY"])
    assert parsed.categories == ("Conflict resolution", "Skills")
    assert dict(parsed.languages) == taxonomy["languages"]
    assert parsed.roles == ("Mentor/Coach", "Mentee/Coachee")


def test_the_catalogue_mapping_passes_each_tenants_taxonomy():
    from pathlib import Path

    from provisioning.service_env import SCAN_OFF, service_target
    from tenants import load_catalogue, names

    catalogue = load_catalogue(Path(__file__).resolve().parents[2] / "tenants.yaml")
    scope = names.Scope("silo", "prod")
    for tenant in catalogue.tenants:
        tenant_names = names.for_tenant(scope, tenant, account_id="1" * 12, region="eu-west-1")
        target = service_target(
            tenant,
            tenant_names,
            region="eu-west-1",
            database_host="db",
            database_port=5432,
            scan=SCAN_OFF,
        )
        parsed = parse_taxonomy(service_environment(target)["SILO_TAXONOMY"])
        assert list(parsed.categories) == list(tenant.taxonomy.categories)
        assert dict(parsed.languages) == dict(tenant.taxonomy.languages)
        assert list(parsed.roles) == list(tenant.taxonomy.roles)
