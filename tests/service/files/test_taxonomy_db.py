"""Taxonomy in PostgreSQL: idempotent seeding, create/rename/delete, label resolution."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from service.files import taxonomy
from service.files.taxonomy import CATEGORY, LANGUAGE, ROLE, Taxonomy
from tests.service.db_support import connect, insert_file, run


@pytest.fixture
def db(migrated_database_url: str) -> str:
    return migrated_database_url


async def names(conn, kind) -> list[str]:
    return [e["name"] for e in await taxonomy.list_entries(conn, kind)]


def test_seed_inserts_defaults_once_and_is_idempotent(db):
    async def go():
        async with await connect(db) as conn:
            first = await taxonomy.seed(conn, taxonomy.DEFAULT_TAXONOMY)
            second = await taxonomy.seed(conn, taxonomy.DEFAULT_TAXONOMY)
            assert first == {"categories": 3, "languages": 3, "roles": 2}
            assert second == {"categories": 0, "languages": 0, "roles": 0}
            assert await names(conn, CATEGORY) == ["Conflict resolution", "Skills", "Soft skills"]
            assert await taxonomy.list_entries(conn, LANGUAGE) == [
                {"code": "en", "name": "English"},
                {"code": "fr", "name": "Français"},
                {"code": "it", "name": "Italiano"},
            ]
            assert await names(conn, ROLE) == ["Mentee/Coachee", "Mentor/Coach"]

    run(go())


def test_seeding_never_undoes_admin_changes_and_adds_new_config_entries(db):
    async def go():
        async with await connect(db) as conn:
            await taxonomy.seed(conn, taxonomy.DEFAULT_TAXONOMY)
            by_name = {e["name"]: e["id"] for e in await taxonomy.list_entries(conn, CATEGORY)}
            await taxonomy.rename_entry(conn, CATEGORY, by_name["Skills"], "Hard skills")
            await taxonomy.delete_entry(conn, CATEGORY, by_name["Soft skills"])
            await taxonomy.create_entry(conn, CATEGORY, "Admin's own")
            await taxonomy.rename_entry(conn, LANGUAGE, "en", "English (admin)")
            # Restart with one more configured category.
            config = Taxonomy(
                categories=(*taxonomy.DEFAULT_CATEGORIES, "Leadership"),
                languages=taxonomy.DEFAULT_LANGUAGES,
                roles=taxonomy.DEFAULT_ROLES,
            )
            assert (await taxonomy.seed(conn, config))["categories"] == 1
            assert await names(conn, CATEGORY) == [
                "Admin's own",
                "Conflict resolution",
                "Hard skills",
                "Leadership",
            ]
            languages = {e["code"]: e["name"] for e in await taxonomy.list_entries(conn, LANGUAGE)}
            assert languages["en"] == "English (admin)"

    run(go())


def test_concurrent_seeding_from_several_instances(db):
    async def one():
        async with await connect(db) as conn:
            while True:
                try:
                    return await taxonomy.seed(conn, taxonomy.DEFAULT_TAXONOMY)
                except psycopg.errors.UniqueViolation:
                    continue  # never expected; would mean seeding is not concurrency-safe

    async def go():
        results = await asyncio.gather(*(one() for _ in range(4)))
        assert sum(r["categories"] for r in results) == 3
        async with await connect(db) as conn:
            assert len(await names(conn, CATEGORY)) == 3

    run(go())


def test_create_rename_delete_and_their_errors(db):
    async def go():
        async with await connect(db) as conn:
            await taxonomy.seed(conn, taxonomy.DEFAULT_TAXONOMY)
            made = await taxonomy.create_entry(conn, CATEGORY, "  Leadership ")
            assert made["name"] == "Leadership" and isinstance(made["id"], int)
            with pytest.raises(taxonomy.Conflict):
                await taxonomy.create_entry(conn, CATEGORY, "LEADERSHIP")
            with pytest.raises(taxonomy.Conflict):
                await taxonomy.rename_entry(conn, CATEGORY, made["id"], "skills")
            with pytest.raises(taxonomy.InvalidValue):
                await taxonomy.create_entry(conn, CATEGORY, "")
            with pytest.raises(taxonomy.InvalidValue):
                await taxonomy.create_entry(conn, CATEGORY, "x" * 101)
            for missing in (999999, "abc", -1, 2**40):
                with pytest.raises(taxonomy.NotFound):
                    await taxonomy.rename_entry(conn, CATEGORY, missing, "Nope")
                with pytest.raises(taxonomy.NotFound):
                    await taxonomy.delete_entry(conn, CATEGORY, missing)
            lang = await taxonomy.create_entry(conn, LANGUAGE, "Deutsch", code="DE")
            assert lang == {"code": "de", "name": "Deutsch"}
            with pytest.raises(taxonomy.Conflict):
                await taxonomy.create_entry(conn, LANGUAGE, "Allemand", code="de")
            with pytest.raises(taxonomy.InvalidValue):
                await taxonomy.create_entry(conn, LANGUAGE, "Klingon", code="klingonese")
            assert (await taxonomy.rename_entry(conn, LANGUAGE, "DE", "German"))["name"] == "German"
            await taxonomy.delete_entry(conn, LANGUAGE, "de")
            await taxonomy.delete_entry(conn, CATEGORY, made["id"])
            assert "Leadership" not in await names(conn, CATEGORY)

    run(go())


def test_entries_in_use_cannot_be_deleted_and_renames_show_on_files(db):
    async def go():
        async with await connect(db) as conn:
            await taxonomy.seed(conn, taxonomy.DEFAULT_TAXONOMY)
            labels = await taxonomy.resolve_labels(
                conn, category="skills", language="FR", roles=["mentor/coach"]
            )
            assert labels.category == "Skills" and labels.language == "fr"
            assert labels.roles == ("Mentor/Coach",)
            await insert_file(
                conn,
                category_id=labels.category_id,
                language=labels.language,
                role_ids=labels.role_ids,
            )
            for kind, key in (
                (CATEGORY, labels.category_id),
                (LANGUAGE, "fr"),
                (ROLE, labels.role_ids[0]),
            ):
                with pytest.raises(taxonomy.InUse):
                    await taxonomy.delete_entry(conn, kind, key)
            await taxonomy.rename_entry(conn, CATEGORY, labels.category_id, "Core skills")
            row = await (
                await conn.execute(
                    "SELECT c.name FROM files f JOIN categories c ON c.id = f.category_id"
                )
            ).fetchone()
            assert row == ("Core skills",)
            # The other role and an unused language can go.
            mentee = await taxonomy.resolve_labels(
                conn, category=None, language=None, roles=["Mentee/Coachee"]
            )
            await taxonomy.delete_entry(conn, ROLE, mentee.role_ids[0])
            await taxonomy.delete_entry(conn, LANGUAGE, "it")

    run(go())


def test_resolve_labels_names_the_bad_value(db):
    async def go():
        async with await connect(db) as conn:
            await taxonomy.seed(conn, taxonomy.DEFAULT_TAXONOMY)
            cases = [
                ({"category": "Cooking"}, "category", "Cooking"),
                ({"language": "de"}, "language", "de"),
                ({"language": "not a tag"}, "language", "not a tag"),
                ({"roles": ["Mentor/Coach", "Janitor"]}, "roles", "Janitor"),
            ]
            for given, field, value in cases:
                args = {"category": None, "language": None, "roles": None, **given}
                with pytest.raises(taxonomy.InvalidValue) as caught:
                    await taxonomy.resolve_labels(conn, **args)
                assert caught.value.field == field
                assert value in caught.value.message
            both = await taxonomy.resolve_labels(
                conn,
                category=None,
                language=None,
                roles=["Mentee/Coachee", "Mentor/Coach", "mentee/coachee"],
            )
            assert both.roles == ("Mentee/Coachee", "Mentor/Coach")
            assert len(set(both.role_ids)) == 2
            assert (await taxonomy.role_id(conn, "MENTOR/COACH")) in both.role_ids
            with pytest.raises(taxonomy.InvalidValue) as caught:
                await taxonomy.role_id(conn, "Janitor")
            assert caught.value.field == "X-Silo-Role"

    run(go())


def test_a_role_deleted_while_an_upload_validates_it_waits_and_refuses(db):
    """The upload's FOR KEY SHARE makes the admin's delete wait, then see the file: 409."""

    async def go():
        async with await connect(db) as admin, await connect(db) as uploader:
            await taxonomy.seed(admin, taxonomy.DEFAULT_TAXONOMY)
            mentor = await taxonomy.role_id(admin, "Mentor/Coach")
            async with uploader.transaction():
                labels = await taxonomy.resolve_labels(
                    uploader, category=None, language=None, roles=["Mentor/Coach"]
                )
                deleting = asyncio.create_task(taxonomy.delete_entry(admin, ROLE, mentor))
                await asyncio.sleep(0.3)
                assert not deleting.done()  # blocked on the uploader's lock
                await insert_file(uploader, role_ids=labels.role_ids)
            with pytest.raises(taxonomy.InUse):
                await deleting

    run(go())
