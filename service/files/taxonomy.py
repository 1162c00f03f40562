"""The tenant's content taxonomy: categories, languages and audience roles.

Configuration comes from `SILO_TAXONOMY` (JSON, parsed here by `parse_taxonomy`, read once by
the settings); the platform defaults fill any key it leaves out. At start-up `seed` inserts the
configured entries that were never seeded before, so it is idempotent and never undoes what an
admin did: an entry an admin renamed or deleted is not brought back on the next start, and
entries admins created are never removed. (`taxonomy_seeded` remembers what was seeded.)

Files reference categories and roles by id (`files.category_id`, `files.role_ids`) and languages
by their BCP 47 code, so renaming is one row and never rewrites files. Names are unique
case-insensitively and looked up case-insensitively; the stored spelling is what the API shows.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import psycopg
from psycopg import sql
from psycopg.rows import dict_row, tuple_row
from psycopg_pool import AsyncConnectionPool

from service import errors

MAX_NAME_LENGTH = 100

DEFAULT_CATEGORIES: tuple[str, ...] = ("Conflict resolution", "Skills", "Soft skills")
DEFAULT_LANGUAGES: Mapping[str, str] = {"it": "Italiano", "en": "English", "fr": "Français"}
DEFAULT_ROLES: tuple[str, ...] = ("Mentor/Coach", "Mentee/Coachee")


# --- errors: each names the API error it becomes ---------------------------------------------


class TaxonomyError(errors.DomainError):
    api_error = errors.BadRequest


class InvalidValue(TaxonomyError):
    """A value that is not (or cannot be) in the taxonomy; `field` names the input."""

    api_error = errors.ValidationFailed

    def __init__(self, field: str, value: object, message: str | None = None) -> None:
        super().__init__(message or f"{field} {value!r} is not in the taxonomy")
        self.field = field
        self.value = value


class NotFound(TaxonomyError):
    api_error = errors.NotFound


class Conflict(TaxonomyError):
    """The name (or code) is already taken."""

    api_error = errors.AlreadyExists


class InUse(TaxonomyError):
    """The entry is still referenced by files."""

    api_error = errors.InUse


# --- pure: configuration and names -------------------------------------------------------------


@dataclass(frozen=True)
class Taxonomy:
    categories: tuple[str, ...] = DEFAULT_CATEGORIES
    languages: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_LANGUAGES))
    roles: tuple[str, ...] = DEFAULT_ROLES


DEFAULT_TAXONOMY = Taxonomy()


def clean_name(value: object, what: str) -> str:
    """A display name: NFC, trimmed, 1-100 characters, no control characters (C0, DEL, C1) and
    no lone surrogates: what the OpenAPI document's pattern declares, as for file titles."""
    if not isinstance(value, str):
        raise InvalidValue(what, value, f"{what} must be a string")
    # Checked before trimming: "\x85" (a C1 control) is whitespace to str.strip.
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
        raise InvalidValue(what, value, f"{what} contains control characters")
    if len(value) > MAX_NAME_LENGTH:  # as sent, blanks included (the OpenAPI maxLength)
        raise InvalidValue(what, value, f"{what} is longer than {MAX_NAME_LENGTH} characters")
    name = unicodedata.normalize("NFC", value.strip())
    if not name:
        raise InvalidValue(what, value, f"{what} must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidValue(what, value, f"{what} is longer than {MAX_NAME_LENGTH} characters")
    return name


# BCP 47 (RFC 5646) well-formed tags: language[-script][-region](-variant)*(-extension)*[-x-...].
# The primary subtag is 2-3 letters: 4 is reserved and 5-8 letter ones were never registered, so
# "english" is refused rather than stored. Grandfathered irregular tags are not accepted either.
_BCP47 = re.compile(
    r"""^(?:
        (?P<language>[a-z]{2,3}(?:-[a-z]{3}){0,3})
        (?:-(?P<script>[a-z]{4}))?
        (?:-(?P<region>[a-z]{2}|[0-9]{3}))?
        (?P<variants>(?:-(?:[a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*)
        (?P<extensions>(?:-[a-wy-z0-9](?:-[a-z0-9]{2,8})+)*)
        (?P<private>-x(?:-[a-z0-9]{1,8})+)?
        |x(?:-[a-z0-9]{1,8})+
    )$""",
    re.VERBOSE,
)


def canonical_language(value: object, what: str = "language") -> str:
    """A well-formed BCP 47 tag in its conventional case (`pt-BR`, `zh-Hant-TW`), else 422."""
    if not isinstance(value, str):
        raise InvalidValue(what, value, f"{what} must be a string")
    tag = value.strip().replace("_", "-").lower()
    match = _BCP47.match(tag) if len(tag) <= 64 else None
    if not match:
        raise InvalidValue(what, value, f"{what} {value!r} is not a BCP 47 language tag")
    parts = tag.split("-")
    out = [parts[0]]
    in_private = parts[0] == "x"
    previous_singleton = False
    for part in parts[1:]:
        if in_private or previous_singleton or len(part) == 1:
            in_private = in_private or part == "x"
            previous_singleton = len(part) == 1
            out.append(part)
            continue
        if len(part) == 4 and part.isalpha():
            out.append(part.capitalize())
        elif len(part) == 2 and part.isalpha():
            out.append(part.upper())
        else:
            out.append(part)
    return "-".join(out)


def _names(raw: object, what: str) -> tuple[str, ...]:
    if not isinstance(raw, list):
        raise ValueError(f"SILO_TAXONOMY: {what} must be a list of names")
    seen: dict[str, str] = {}
    for item in raw:
        try:
            name = clean_name(item, f"{what} name")
        except InvalidValue as exc:
            raise ValueError(f"SILO_TAXONOMY: {exc.message} ({item!r})") from None
        if name.casefold() in seen:
            raise ValueError(f"SILO_TAXONOMY: {what} {name!r} is listed twice")
        seen[name.casefold()] = name
    return tuple(seen.values())


def _languages(raw: object) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise ValueError('SILO_TAXONOMY: languages must be an object {"code": "display name"}')
    out: dict[str, str] = {}
    for code, name in raw.items():
        try:
            canonical = canonical_language(code, "language code")
            out_name = clean_name(name, f"display name of language {code!r}")
        except InvalidValue as exc:
            raise ValueError(f"SILO_TAXONOMY: {exc.message}") from None
        if canonical in out:
            raise ValueError(f"SILO_TAXONOMY: language {canonical!r} is listed twice")
        out[canonical] = out_name
    return out


def parse_taxonomy(raw: str | None) -> Taxonomy:
    """`SILO_TAXONOMY` -> Taxonomy. Unset or empty: the platform defaults; a key left out: its
    default. A ValueError message names the variable and what is wrong."""
    if raw is None or not raw.strip():
        return DEFAULT_TAXONOMY
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"SILO_TAXONOMY: not valid JSON ({exc.msg} at {exc.pos})") from None
    if not isinstance(data, dict):
        raise ValueError("SILO_TAXONOMY: must be a JSON object {categories, languages, roles}")
    unknown = sorted(set(data) - {"categories", "languages", "roles"})
    if unknown:
        raise ValueError(f"SILO_TAXONOMY: unknown key(s) {', '.join(unknown)}")
    return Taxonomy(
        categories=_names(data["categories"], "category")
        if "categories" in data
        else DEFAULT_CATEGORIES,
        languages=_languages(data["languages"]) if "languages" in data else dict(DEFAULT_LANGUAGES),
        roles=_names(data["roles"], "role") if "roles" in data else DEFAULT_ROLES,
    )


def taxonomy_json(taxonomy: Taxonomy) -> str:
    """The `SILO_TAXONOMY` value for a taxonomy (the inverse of parse_taxonomy)."""
    return json.dumps(
        {
            "categories": list(taxonomy.categories),
            "languages": dict(taxonomy.languages),
            "roles": list(taxonomy.roles),
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


# --- database -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """One of the three lists, as the API and the database name it."""

    name: str  # "category" (API field and messages)
    table: str  # "categories"
    key: str  # "id" or "code"
    usage: str  # SQL condition over `files f` meaning "this entry is in use"; %s = the key


CATEGORY = Kind("category", "categories", "id", "f.category_id = %s")
LANGUAGE = Kind("language", "languages", "code", "f.language = %s")
ROLE = Kind("role", "roles", "id", "f.role_ids @> ARRAY[%s]::integer[]")
KINDS = {k.table: k for k in (CATEGORY, LANGUAGE, ROLE)}


async def _one(conn: psycopg.AsyncConnection, query, params=None) -> tuple | None:
    """One row as a tuple, whatever row factory the connection was made with."""
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchone()


def _entry(kind: Kind, row: Mapping[str, object]) -> dict[str, object]:
    return {kind.key: row[kind.key], "name": row["name"]}


async def seed(conn: psycopg.AsyncConnection, taxonomy: Taxonomy) -> dict[str, int]:
    """Insert the configured entries that were never seeded before; returns how many per list.

    Safe when several instances start at once (unique keys, ON CONFLICT DO NOTHING), and a no-op
    the second time. Runs in one transaction.
    """
    wanted: list[tuple[Kind, str, str]] = [(CATEGORY, n, n) for n in taxonomy.categories]
    wanted += [(LANGUAGE, code, n) for code, n in taxonomy.languages.items()]
    wanted += [(ROLE, n, n) for n in taxonomy.roles]
    inserted = {"categories": 0, "languages": 0, "roles": 0}
    async with conn.transaction():
        for kind, ident, name in wanted:
            # The seed record is keyed by the configured identity (code for languages, the
            # case-folded name otherwise): an entry seeded once is never seeded again, so an
            # admin's rename or delete sticks across restarts.
            cur = await conn.execute(
                "INSERT INTO taxonomy_seeded (kind, ident) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (kind.table, ident if kind is LANGUAGE else ident.casefold()),
            )
            if cur.rowcount == 0:
                continue
            if kind is LANGUAGE:
                cur = await conn.execute(
                    "INSERT INTO languages (code, name) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    (ident, name),
                )
            else:
                cur = await conn.execute(
                    sql.SQL("INSERT INTO {} (name) VALUES (%s) ON CONFLICT DO NOTHING").format(
                        sql.Identifier(kind.table)
                    ),
                    (name,),
                )
            inserted[kind.table] += cur.rowcount
    return inserted


async def list_entries(conn: psycopg.AsyncConnection, kind: Kind) -> list[dict[str, object]]:
    order = "code" if kind is LANGUAGE else "lower(name), id"
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            sql.SQL("SELECT {}, name FROM {} ORDER BY " + order).format(
                sql.Identifier(kind.key), sql.Identifier(kind.table)
            )
        )
        return [_entry(kind, row) for row in await cur.fetchall()]


async def create_entry(
    conn: psycopg.AsyncConnection, kind: Kind, name: object, code: object = None
) -> dict[str, object]:
    name = clean_name(name, "name")
    try:
        async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            if kind is LANGUAGE:
                code = canonical_language(code, "code")
                await cur.execute(
                    "INSERT INTO languages (code, name) VALUES (%s, %s) RETURNING code, name",
                    (code, name),
                )
            else:
                await cur.execute(
                    sql.SQL("INSERT INTO {} (name) VALUES (%s) RETURNING id, name").format(
                        sql.Identifier(kind.table)
                    ),
                    (name,),
                )
            row = await cur.fetchone()
    except psycopg.errors.UniqueViolation:
        taken = code if kind is LANGUAGE else name
        raise Conflict(f"{kind.name} {taken!r} already exists") from None
    return _entry(kind, row)


def _key(kind: Kind, key: object) -> object:
    """The path parameter as the key column's type; NotFound when it cannot be one."""
    if kind is LANGUAGE:
        try:
            return canonical_language(key)
        except InvalidValue:
            raise NotFound(f"no {kind.name} {key!r}") from None
    try:
        value = int(str(key))
    except ValueError:
        raise NotFound(f"no {kind.name} {key!r}") from None
    if not 0 < value < 2**31:
        raise NotFound(f"no {kind.name} {key!r}")
    return value


async def rename_entry(
    conn: psycopg.AsyncConnection, kind: Kind, key: object, name: object
) -> dict[str, object]:
    name = clean_name(name, "name")
    ident = _key(kind, key)
    try:
        async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                sql.SQL("UPDATE {} SET name = %s WHERE {} = %s RETURNING {}, name").format(
                    sql.Identifier(kind.table), sql.Identifier(kind.key), sql.Identifier(kind.key)
                ),
                (name, ident),
            )
            row = await cur.fetchone()
    except psycopg.errors.UniqueViolation:
        raise Conflict(f"{kind.name} {name!r} already exists") from None
    if row is None:
        raise NotFound(f"no {kind.name} {key!r}")
    return _entry(kind, row)


async def delete_entry(conn: psycopg.AsyncConnection, kind: Kind, key: object) -> None:
    """Delete one entry; InUse (409) while any file references it.

    The row lock taken first (FOR UPDATE) waits for uploads that are validating against this
    entry (they hold FOR KEY SHARE on it until they commit), so the usage check that follows
    sees their files, and later uploads find the entry gone: no file can end up pointing at a
    deleted entry.
    """
    ident = _key(kind, key)
    async with conn.transaction():
        row = await _one(
            conn,
            sql.SQL("SELECT 1 FROM {} WHERE {} = %s FOR UPDATE").format(
                sql.Identifier(kind.table), sql.Identifier(kind.key)
            ),
            (ident,),
        )
        if row is None:
            raise NotFound(f"no {kind.name} {key!r}")
        (used,) = await _one(
            conn,
            "SELECT count(*) FROM (SELECT 1 FROM files f WHERE " + kind.usage + " LIMIT 1000) u",
            (ident,),
        )
        if used:
            more = "+" if used >= 1000 else ""
            raise InUse(f"{kind.name} {key!r} is used by {used}{more} file(s)")
        await conn.execute(
            sql.SQL("DELETE FROM {} WHERE {} = %s").format(
                sql.Identifier(kind.table), sql.Identifier(kind.key)
            ),
            (ident,),
        )


class TaxonomyLists:
    """The three lists on the tenant's pool, for the handlers (the API's and the console's):
    built once in the lifespan with the configured taxonomy, which `seed` inserts."""

    def __init__(self, pool: AsyncConnectionPool, configured: Taxonomy = DEFAULT_TAXONOMY) -> None:
        self._pool = pool
        self._configured = configured

    async def seed(self) -> dict[str, int]:
        async with self._pool.connection() as conn:
            return await seed(conn, self._configured)

    async def entries(self, kind: Kind) -> list[dict[str, object]]:
        async with self._pool.connection() as conn:
            return await list_entries(conn, kind)

    async def all_entries(self) -> dict[str, list[dict[str, object]]]:
        """Every list, by table name (categories, languages, roles), on one connection."""
        async with self._pool.connection() as conn:
            return {table: await list_entries(conn, kind) for table, kind in KINDS.items()}

    async def create(self, kind: Kind, name: object, code: object = None) -> dict[str, object]:
        async with self._pool.connection() as conn:
            return await create_entry(conn, kind, name, code)

    async def rename(self, kind: Kind, key: object, name: object) -> dict[str, object]:
        async with self._pool.connection() as conn:
            return await rename_entry(conn, kind, key, name)

    async def delete(self, kind: Kind, key: object) -> None:
        async with self._pool.connection() as conn:
            await delete_entry(conn, kind, key)


# --- validation of a file's labels (upload and PATCH) -------------------------------------------


@dataclass(frozen=True)
class Labels:
    """A file's taxonomy labels, resolved: ids for the database, names for the response."""

    category_id: int | None
    category: str | None
    language: str | None
    role_ids: tuple[int, ...]
    roles: tuple[str, ...]


async def resolve_labels(
    conn: psycopg.AsyncConnection,
    *,
    category: str | None,
    language: str | None,
    roles: Sequence[str] | None,
) -> Labels:
    """Names from a request -> ids, in one round trip; InvalidValue (422) names the bad value.

    Locks the matched entries FOR KEY SHARE until the caller's transaction ends, so an admin
    cannot delete one between this check and the file row's insert (see `delete_entry`). Call
    it inside the transaction that writes the file.
    """
    category_name = clean_name(category, "category") if category is not None else None
    language_code = canonical_language(language) if language is not None else None
    role_names = [clean_name(r, "roles") for r in roles or ()]
    found_category, found_language, found_roles = await _one(
        conn,
        """
        SELECT
          (SELECT array[id::text, name] FROM categories
            WHERE lower(name) = lower(%(category)s) FOR KEY SHARE),
          (SELECT code FROM languages WHERE code = %(language)s FOR KEY SHARE),
          (SELECT coalesce(array_agg(array[w.ord::text, r.id::text, r.name]), '{}')
             FROM unnest(%(roles)s::text[]) WITH ORDINALITY AS w(name, ord)
             JOIN LATERAL (SELECT id, name FROM roles WHERE lower(name) = lower(w.name)
                           FOR KEY SHARE) r ON true)
        """,
        {"category": category_name, "language": language_code, "roles": role_names},
    )
    if category_name is not None and found_category is None:
        raise InvalidValue("category", category_name)
    if language_code is not None and found_language is None:
        raise InvalidValue("language", language_code)
    by_position = {int(ord_) - 1: (int(rid), rname) for ord_, rid, rname in found_roles}
    for position, name in enumerate(role_names):
        if position not in by_position:
            raise InvalidValue("roles", name, f"role {name!r} is not in the taxonomy")
    ids: dict[int, str] = {}
    for position in range(len(role_names)):
        rid, rname = by_position[position]
        ids.setdefault(rid, rname)  # a role given twice counts once
    return Labels(
        category_id=int(found_category[0]) if found_category else None,
        category=found_category[1] if found_category else None,
        language=found_language,
        role_ids=tuple(ids),
        roles=tuple(ids.values()),
    )


async def role_id(conn: psycopg.AsyncConnection, name: str) -> int:
    """The id of the acting user's role; InvalidValue("X-Silo-Role") when it is unknown."""
    row = await _one(conn, "SELECT id FROM roles WHERE lower(name) = lower(%s)", (name,))
    if row is None:
        raise InvalidValue("X-Silo-Role", name, f"X-Silo-Role {name!r} is not a known role")
    return row[0]
