"""Loading tenants.yaml: defaults merged, and every rejection naming tenant and field."""

import copy
import textwrap
from pathlib import Path

import pytest
import yaml

from service.uploads.filetypes import KNOWN_TYPE_IDS
from tenants import CatalogueError, Problem, load_catalogue

REPO = Path(__file__).resolve().parents[2]

BASE = {
    "platform": {"domain": "uploads.example.com"},
    "defaults": {
        "api": {"cpu": 512, "memory": 3072, "min_tasks": 1, "max_tasks": 4},
        "limits": {"max_upload_mb": 100, "allowed_types": ["pdf", "png"]},
    },
    "tenants": [
        {"slug": "pack", "name": "Pack", "priority": 10},
        {"slug": "hrcomp", "name": "HR Comp", "priority": 20},
    ],
}


def write(tmp_path: Path, data: dict | str) -> Path:
    path = tmp_path / "tenants.yaml"
    text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def with_tenant(tmp_path: Path, index: int, **changes) -> Path:
    data = copy.deepcopy(BASE)
    data["tenants"][index].update(changes)
    return write(tmp_path, data)


def problems(path: Path) -> list[Problem]:
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(path)
    error = caught.value
    for problem in error.problems:
        assert str(problem) in str(error)  # the message lists them all
    return error.problems


def only_problem(path: Path) -> Problem:
    found = problems(path)
    assert len(found) == 1, [str(p) for p in found]
    return found[0]


def assert_names(problem: Problem, tenant: str | None, field: str, *words: str) -> None:
    assert problem.tenant == tenant, str(problem)
    assert problem.field == field, str(problem)
    text = str(problem)
    assert "tenants.yaml" in text
    if tenant is not None:
        assert tenant in text
    assert field in text
    for word in words:
        assert word in text, text


# -- the happy path ---------------------------------------------------------------------------


def test_the_repository_catalogue_validates():
    catalogue = load_catalogue(REPO / "tenants.yaml")
    assert {"pack", "hrcomp"} <= set(catalogue.slugs)
    hrcomp = catalogue.tenant("hrcomp")
    assert (hrcomp.api.cpu, hrcomp.api.memory, hrcomp.api.max_tasks) == (1024, 5120, 10)
    assert hrcomp.api.min_tasks == 1  # from defaults


def test_defaults_merge_key_by_key(tmp_path):
    path = with_tenant(tmp_path, 1, api={"cpu": 1024, "memory": 4096, "max_tasks": 10})
    catalogue = load_catalogue(path)
    pack, hrcomp = catalogue.tenants
    assert (pack.api.cpu, pack.api.memory, pack.api.max_tasks) == (512, 3072, 4)
    assert (hrcomp.api.cpu, hrcomp.api.memory, hrcomp.api.max_tasks) == (1024, 4096, 10)
    assert hrcomp.api.min_tasks == 1
    # Sections the file's defaults leave out come from the platform defaults.
    assert pack.database.instance_class == "db.t4g.micro"
    assert pack.database.backup_days == 7
    assert pack.bucket.versioning is True and pack.bucket.cors_origins == ()
    assert pack.limits.allowed_types == ("pdf", "png")
    assert pack.limits.max_upload_bytes == 100 * 1024 * 1024


def test_hosts_are_derived_unless_set(tmp_path):
    catalogue = load_catalogue(with_tenant(tmp_path, 1, host="files.uploads.example.com"))
    assert catalogue.tenant("pack").host == "pack.uploads.example.com"
    assert catalogue.tenant("hrcomp").host == "files.uploads.example.com"
    assert catalogue.platform.name == "silo"


def test_without_limits_every_known_type_is_allowed(tmp_path):
    data = copy.deepcopy(BASE)
    del data["defaults"]["limits"]
    catalogue = load_catalogue(write(tmp_path, data))
    assert catalogue.tenant("pack").limits.allowed_types == KNOWN_TYPE_IDS
    assert catalogue.tenant("pack").limits.max_upload_mb == 5120


def test_platform_taxonomy_defaults(tmp_path):
    taxonomy = load_catalogue(write(tmp_path, BASE)).tenant("pack").taxonomy
    assert taxonomy.categories == ["Conflict resolution", "Skills", "Soft skills"]
    assert taxonomy.languages == {"it": "Italiano", "en": "English", "fr": "Français"}
    assert taxonomy.roles == ["Mentor/Coach", "Mentee/Coachee"]


def test_taxonomy_overrides_in_defaults_and_per_tenant(tmp_path):
    data = copy.deepcopy(BASE)
    data["defaults"]["taxonomy"] = {"categories": ["Onboarding", "Leadership"]}
    data["tenants"][1]["taxonomy"] = {
        "languages": {"en": "English", "pt-BR": "Português (Brasil)", "zh-Hant": "中文"},
        "roles": ["Learner"],
    }
    catalogue = load_catalogue(write(tmp_path, data))
    pack, hrcomp = catalogue.tenants
    assert pack.taxonomy.categories == ["Onboarding", "Leadership"]
    assert pack.taxonomy.roles == ["Mentor/Coach", "Mentee/Coachee"]
    assert hrcomp.taxonomy.categories == ["Onboarding", "Leadership"]
    assert hrcomp.taxonomy.languages == {
        "en": "English",
        "pt-BR": "Português (Brasil)",
        "zh-Hant": "中文",
    }
    assert hrcomp.taxonomy.roles == ["Learner"]


def test_catalogue_tenant_lookup_names_the_known_slugs(tmp_path):
    catalogue = load_catalogue(write(tmp_path, BASE))
    with pytest.raises(KeyError, match="pack, hrcomp"):
        catalogue.tenant("nope")


# -- rejections: one test each, each naming tenant and field ------------------------------------


def test_slug_must_be_a_dns_label(tmp_path):
    problem = only_problem(with_tenant(tmp_path, 1, slug="HR_Comp"))
    assert_names(problem, "HR_Comp", "slug", "lowercase")


def test_slug_must_fit_every_derived_name(tmp_path):
    slug = "a" * 25
    problem = only_problem(with_tenant(tmp_path, 1, slug=slug))
    assert_names(problem, slug, "slug", "at most 24")


def test_slug_must_not_contain_a_double_hyphen(tmp_path):
    problem = only_problem(with_tenant(tmp_path, 1, slug="hr--comp"))
    assert_names(problem, "hr--comp", "slug", "'--'")


def test_slugs_are_unique(tmp_path):
    problem = only_problem(with_tenant(tmp_path, 1, slug="pack"))
    assert_names(problem, "pack", "slug", "already used", "tenants[0]")


def test_hosts_are_unique(tmp_path):
    problem = only_problem(with_tenant(tmp_path, 1, host="pack.uploads.example.com"))
    assert_names(problem, "hrcomp", "host", "already used by tenant 'pack'")


def test_priorities_are_unique(tmp_path):
    problem = only_problem(with_tenant(tmp_path, 1, priority=10))
    assert_names(problem, "hrcomp", "priority", "10", "already used by tenant 'pack'")


def test_cpu_and_memory_must_be_a_fargate_pair(tmp_path):
    problem = only_problem(with_tenant(tmp_path, 1, api={"cpu": 1024, "memory": 1024}))
    assert_names(problem, "hrcomp", "api.memory", "not valid with cpu 1024", "2048-8192")


def test_cpu_must_be_a_fargate_size(tmp_path):
    problem = only_problem(with_tenant(tmp_path, 1, api={"cpu": 1000}))
    assert_names(problem, "hrcomp", "api.cpu", "1000")


def test_min_tasks_not_above_max_tasks(tmp_path):
    problem = only_problem(with_tenant(tmp_path, 1, api={"min_tasks": 5, "max_tasks": 2}))
    assert_names(problem, "hrcomp", "api.min_tasks", "greater than max_tasks 2")


def test_min_tasks_against_the_default_max(tmp_path):
    problem = only_problem(with_tenant(tmp_path, 1, api={"min_tasks": 5}))
    assert_names(problem, "hrcomp", "api.min_tasks", "greater than max_tasks 4")


def test_file_types_must_be_known(tmp_path):
    problem = only_problem(with_tenant(tmp_path, 1, limits={"allowed_types": ["pdf", "exe"]}))
    assert_names(problem, "hrcomp", "limits.allowed_types", "unknown file type 'exe'")


def test_unknown_tenant_key_is_rejected(tmp_path):
    problem = only_problem(with_tenant(tmp_path, 1, prority=30))
    assert_names(problem, "hrcomp", "prority", "unknown tenant key")


def test_unknown_section_key_is_rejected(tmp_path):
    problem = only_problem(with_tenant(tmp_path, 1, api={"max_taks": 10}))
    assert_names(problem, "hrcomp", "api.max_taks", "unknown key")


def test_unknown_key_in_defaults_is_rejected(tmp_path):
    data = copy.deepcopy(BASE)
    data["defaults"]["databse"] = {"storage_gb": 50}
    assert_names(only_problem(write(tmp_path, data)), None, "defaults.databse", "unknown")


def test_unknown_top_level_and_platform_keys_are_rejected(tmp_path):
    data = copy.deepcopy(BASE)
    data["tennants"] = []
    data["platform"]["domian"] = "x.example.com"
    found = {p.field: p for p in problems(write(tmp_path, data))}
    assert set(found) == {"tennants", "platform.domian"}


def test_duplicate_yaml_keys_are_rejected(tmp_path):
    text = textwrap.dedent(
        """\
        platform: {domain: uploads.example.com}
        tenants:
          - slug: pack
            name: Pack
            priority: 10
            priority: 20
        """
    )
    problem = only_problem(write(tmp_path, text))
    assert problem.field == "line 6" and "duplicate key 'priority'" in str(problem)


def test_values_must_have_the_right_type(tmp_path):
    problem = only_problem(with_tenant(tmp_path, 1, api={"max_tasks": "10"}))
    assert_names(problem, "hrcomp", "api.max_tasks", "must be an integer")


def test_required_tenant_fields(tmp_path):
    data = copy.deepcopy(BASE)
    data["tenants"][1] = {"slug": "hrcomp"}
    found = problems(write(tmp_path, data))
    assert {(p.tenant, p.field) for p in found} == {("hrcomp", "name"), ("hrcomp", "priority")}


def test_a_tenant_without_slug_is_named_by_its_index(tmp_path):
    data = copy.deepcopy(BASE)
    data["tenants"][1] = {"name": "Nameless", "priority": 30}
    problem = only_problem(write(tmp_path, data))
    assert_names(problem, "tenants[1]", "slug", "required")


def test_storage_not_above_its_ceiling(tmp_path):
    problem = only_problem(with_tenant(tmp_path, 1, database={"storage_gb": 200}))
    assert_names(problem, "hrcomp", "database.storage_gb", "at least 1.1 x storage_gb 200")


def test_the_storage_ceiling_leaves_the_10_percent_rds_requires(tmp_path):
    # RDS refuses a max_allocated_storage less than 10 % above the allocated storage.
    problem = only_problem(with_tenant(tmp_path, 1, database={"storage_gb": 95}))
    assert_names(problem, "hrcomp", "database.storage_gb", "(105 or more)")
    load_catalogue(with_tenant(tmp_path, 1, database={"storage_gb": 90, "max_storage_gb": 99}))


def test_apply_immediately_defaults_off_and_is_per_tenant(tmp_path):
    catalogue = load_catalogue(with_tenant(tmp_path, 1, database={"apply_immediately": True}))
    assert catalogue.tenant("hrcomp").database.apply_immediately is True
    assert catalogue.tenant("pack").database.apply_immediately is False


def test_a_major_upgrade_is_opted_into_per_tenant_never_in_defaults(tmp_path):
    path = with_tenant(tmp_path, 1, database={"allow_major_version_upgrade": True})
    catalogue = load_catalogue(path)
    assert catalogue.tenant("hrcomp").database.allow_major_version_upgrade is True
    assert catalogue.tenant("pack").database.allow_major_version_upgrade is False
    text = path.read_text(encoding="utf-8").replace(
        "defaults:\n", "defaults:\n  database: {allow_major_version_upgrade: true}\n", 1
    )
    path.write_text(text, encoding="utf-8")
    problem = only_problem(path)
    assert_names(problem, None, "defaults.database.allow_major_version_upgrade", "per tenant")


def test_a_maintenance_window_is_checked(tmp_path):
    ok = with_tenant(tmp_path, 1, database={"maintenance_window": "sun:03:00-sun:03:30"})
    assert load_catalogue(ok).tenant("hrcomp").database.maintenance_window == (
        "sun:03:00-sun:03:30"
    )
    bad = with_tenant(tmp_path, 1, database={"maintenance_window": "sunday 3am"})
    assert_names(only_problem(bad), "hrcomp", "database.maintenance_window")


def test_cors_origins_are_origins(tmp_path):
    problem = only_problem(
        with_tenant(tmp_path, 1, bucket={"cors_origins": ["https://app.example/path"]})
    )
    assert_names(problem, "hrcomp", "bucket.cors_origins", "no path")


def test_cors_wildcard_is_refused(tmp_path):
    problem = only_problem(with_tenant(tmp_path, 1, bucket={"cors_origins": ["*"]}))
    assert_names(problem, "hrcomp", "bucket.cors_origins", "'*'")


def test_explicit_host_must_be_a_host_name(tmp_path):
    problem = only_problem(with_tenant(tmp_path, 1, host="not a host"))
    assert_names(problem, "hrcomp", "host")


def test_language_codes_must_be_bcp47(tmp_path):
    problem = only_problem(
        with_tenant(tmp_path, 1, taxonomy={"languages": {"en": "English", "english": "x"}})
    )
    assert_names(problem, "hrcomp", "taxonomy.languages", "'english'", "BCP 47")


def test_unquoted_no_is_caught(tmp_path):
    text = yaml.safe_dump(BASE, sort_keys=False) + "  taxonomy: {languages: {no: Norsk}}\n"
    problem = only_problem(write(tmp_path, text))
    assert_names(problem, "hrcomp", "taxonomy.languages", "quote it")


def test_taxonomy_values_are_unique(tmp_path):
    problem = only_problem(with_tenant(tmp_path, 1, taxonomy={"categories": ["Skills", "skills"]}))
    assert_names(problem, "hrcomp", "taxonomy.categories", "'skills' is listed twice")


def test_taxonomy_values_are_not_empty(tmp_path):
    problem = only_problem(with_tenant(tmp_path, 1, taxonomy={"roles": ["Mentor", " "]}))
    assert_names(problem, "hrcomp", "taxonomy.roles", "non-empty")


def test_taxonomy_lists_are_not_empty(tmp_path):
    problem = only_problem(with_tenant(tmp_path, 1, taxonomy={"roles": []}))
    assert_names(problem, "hrcomp", "taxonomy.roles", "non-empty list")


def test_language_names_are_not_empty(tmp_path):
    problem = only_problem(with_tenant(tmp_path, 1, taxonomy={"languages": {"en": ""}}))
    assert_names(problem, "hrcomp", "taxonomy.languages", "display name")


def test_platform_domain_is_required(tmp_path):
    data = copy.deepcopy(BASE)
    data["platform"] = {"name": "silo"}
    assert_names(only_problem(write(tmp_path, data)), None, "platform.domain", "required")


def test_platform_name_must_fit_names(tmp_path):
    data = copy.deepcopy(BASE)
    data["platform"]["name"] = "Silo"
    assert_names(only_problem(write(tmp_path, data)), None, "platform.name", "lowercase")


def test_a_bad_default_is_reported_once_not_per_tenant(tmp_path):
    data = copy.deepcopy(BASE)
    data["defaults"]["api"]["memory"] = 8192  # not valid with cpu 512
    problem = only_problem(write(tmp_path, data))
    assert_names(problem, None, "defaults.api.memory", "not valid with cpu 512")


def test_every_problem_is_reported_not_just_the_first(tmp_path):
    data = copy.deepcopy(BASE)
    data["tenants"][0].update(api={"cpu": 1024, "memory": 512}, color="blue")
    data["tenants"][1].update(priority=10, limits={"allowed_types": ["exe"]})
    data["tenants"].append({"slug": "Bad", "name": "Bad", "priority": 30})
    found = {(p.tenant, p.field) for p in problems(write(tmp_path, data))}
    assert found == {
        ("pack", "api.memory"),
        ("pack", "color"),
        ("hrcomp", "limits.allowed_types"),
        ("hrcomp", "priority"),
        ("Bad", "slug"),
    }


def test_missing_file_and_broken_yaml_are_problems_too(tmp_path):
    problem = only_problem(tmp_path / "absent.yaml")
    assert "cannot read" in str(problem)
    problem = only_problem(write(tmp_path, "platform: [unclosed\n"))
    assert "not valid YAML" in str(problem)


def test_a_tenant_may_override_the_image_with_a_tag_or_digest(tmp_path):
    path = tmp_path / "tenants.yaml"
    path.write_text(
        "platform: {domain: uploads.example.com}\n"
        "tenants:\n"
        "  - {slug: a, name: A, priority: 2, api: {image: 'registry.example/silo:1.1.0'}}\n"
        "  - {slug: b, name: B, priority: 3}\n",
        encoding="utf-8",
    )
    catalogue = load_catalogue(path)
    assert catalogue.tenant("a").api.image == "registry.example/silo:1.1.0"
    assert catalogue.tenant("b").api.image is None
    path.write_text(path.read_text().replace(":1.1.0", ""), encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"api\.image"):
        load_catalogue(path)


def test_a_host_outside_the_platform_wildcard_needs_its_own_certificate_and_zone(tmp_path):
    problem = only_problem(with_tenant(tmp_path, 1, host="files.hrcomp.example"))
    assert_names(problem, "hrcomp", "host", "not covered", "*.uploads.example.com")
    # Two labels under the domain are outside a one-label wildcard too.
    problem = only_problem(with_tenant(tmp_path, 1, host="a.b.uploads.example.com"))
    assert_names(problem, "hrcomp", "host", "not covered")
    own = {
        "certificate_arn": "arn:aws:acm:eu-west-1:123456789012:certificate/abc-123",
        "hosted_zone_id": "Z0123ABC",
    }
    catalogue = load_catalogue(with_tenant(tmp_path, 1, host="files.hrcomp.example", **own))
    assert catalogue.tenant("hrcomp").certificate_arn == own["certificate_arn"]
    assert catalogue.tenant("hrcomp").hosted_zone_id == "Z0123ABC"


def test_a_certificate_comes_with_its_zone(tmp_path):
    cert = "arn:aws:acm:eu-west-1:123456789012:certificate/abc-123"
    problem = only_problem(
        with_tenant(tmp_path, 1, host="files.hrcomp.example", certificate_arn=cert)
    )
    assert_names(problem, "hrcomp", "hosted_zone_id", "required with certificate_arn")


def test_max_upload_is_what_the_service_parts_can_carry(tmp_path):
    problem = only_problem(with_tenant(tmp_path, 1, limits={"max_upload_mb": 80_001}))
    assert_names(problem, "hrcomp", "limits.max_upload_mb", "out of range (1-80000)")
    load_catalogue(with_tenant(tmp_path, 1, limits={"max_upload_mb": 80_000}))
