"""Taxonomy configuration (SILO_TAXONOMY) and language tags: pure parsing."""

from __future__ import annotations

import json

import pytest

from service.files.taxonomy import (
    DEFAULT_TAXONOMY,
    InvalidValue,
    Taxonomy,
    canonical_language,
    parse_taxonomy,
    taxonomy_json,
)


def test_unset_means_platform_defaults():
    for raw in (None, "", "  "):
        taxonomy = parse_taxonomy(raw)
        assert taxonomy.categories == ("Conflict resolution", "Skills", "Soft skills")
        assert list(taxonomy.languages) == ["it", "en", "fr"]
        assert taxonomy.roles == ("Mentor/Coach", "Mentee/Coachee")


def test_each_key_left_out_takes_its_default():
    taxonomy = parse_taxonomy(json.dumps({"categories": ["Leadership"]}))
    assert taxonomy.categories == ("Leadership",)
    assert taxonomy.languages == DEFAULT_TAXONOMY.languages
    assert taxonomy.roles == DEFAULT_TAXONOMY.roles
    assert parse_taxonomy('{"roles": []}').roles == ()


def test_full_taxonomy_round_trips_through_json():
    taxonomy = Taxonomy(
        categories=("Leadership", "Onboarding"),
        languages={"de": "Deutsch", "pt-BR": "Português (Brasil)"},
        roles=("Manager",),
    )
    assert parse_taxonomy(taxonomy_json(taxonomy)) == taxonomy


def test_language_codes_are_canonicalised():
    taxonomy = parse_taxonomy('{"languages": {"PT_br": "Português", "ZH-hant-tw": "中文"}}')
    assert list(taxonomy.languages) == ["pt-BR", "zh-Hant-TW"]


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("{", "not valid JSON"),
        ("[]", "JSON object"),
        ('{"categorys": []}', "unknown key(s) categorys"),
        ('{"categories": "Skills"}', "list of names"),
        ('{"categories": ["Skills", "skills"]}', "listed twice"),
        ('{"categories": [""]}', "must not be empty"),
        ('{"categories": [3]}', "must be a string"),
        ('{"roles": ["' + "r" * 101 + '"]}', "longer than 100"),
        ('{"languages": ["en"]}', "languages must be an object"),
        ('{"languages": {"english": "English"}}', "not a BCP 47 language tag"),
        ('{"languages": {"en": ""}}', "must not be empty"),
        ('{"languages": {"en": "English", "EN": "Anglais"}}', "listed twice"),
    ],
)
def test_bad_configuration_names_the_variable_and_the_problem(raw, fragment):
    with pytest.raises(ValueError) as caught:
        parse_taxonomy(raw)
    assert str(caught.value).startswith("SILO_TAXONOMY: ")
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("tag", "canonical"),
    [
        ("en", "en"),
        ("EN", "en"),
        ("en-gb", "en-GB"),
        ("es-419", "es-419"),
        ("zh-hant-tw", "zh-Hant-TW"),
        ("sr-Latn", "sr-Latn"),
        ("de-CH-1901", "de-CH-1901"),
        ("fil", "fil"),
        ("en-US-x-twain", "en-US-x-twain"),
        ("x-private", "x-private"),
    ],
)
def test_well_formed_bcp47_tags(tag, canonical):
    assert canonical_language(tag) == canonical


@pytest.mark.parametrize("tag", ["", "e", "english", "en-", "en--gb", "123", "en_GB!", "a" * 70])
def test_malformed_language_tags_are_rejected(tag):
    with pytest.raises(InvalidValue) as caught:
        canonical_language(tag)
    assert caught.value.field == "language"


def test_settings_read_silo_taxonomy_and_name_it_when_invalid():
    from service.settings import SettingsError, from_environ

    base = {
        "SILO_TENANT": "acme",
        "DATABASE_URL": "postgresql://u:p@db:5432/acme",
        "S3_BUCKET": "silo-acme",
        "AWS_REGION": "eu-west-1",
        "SILO_ADMIN_KEY": "x" * 32,
        "SILO_SCAN": "off",
    }
    assert from_environ(base).taxonomy == DEFAULT_TAXONOMY
    assert from_environ(base).events_flush_ms == 500
    custom = from_environ({**base, "SILO_TAXONOMY": '{"roles": ["Manager"]}'})
    assert custom.taxonomy.roles == ("Manager",)
    for bad in ('{"roles": "Manager"}', "not json"):
        with pytest.raises(SettingsError) as caught:
            from_environ({**base, "SILO_TAXONOMY": bad})
        message = str(caught.value)
        assert message.startswith("SILO_TAXONOMY") and "\n" not in message
    with pytest.raises(SettingsError, match="SILO_EVENTS_FLUSH_MS"):
        from_environ({**base, "SILO_EVENTS_FLUSH_MS": "5"})
