"""SILO_TAXONOMY in the environment contract: rendered from ServiceTarget.taxonomy, and read
back by the service exactly as given."""

from dataclasses import replace

from provisioning.service_env import ServiceTarget, service_environment
from service.taxonomy import parse_taxonomy

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
