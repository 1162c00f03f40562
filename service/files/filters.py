"""GET /files filters: query parameters -> SQL conditions over `files`, combinable.

Parameters: `category`, `language`, `role`, `type`, `q` (words as prefixes: search.py),
`uploaded_after`, `uploaded_before`, `scan` (admin keys only).

- `parse_file_query` -> `FileQuery` (pure); `check_allowed`: `scan` for admin keys
- `resolve` -> `Resolved`: taxonomy names and the acting role to ids, in one round trip
- `conditions`: (SQL, parameters) per filter, each keeping the keyset order's index
- `InvalidFilter` (422), `MalformedFilter` (400), `FilterForbidden` (403)

Design: docs/design/read-path.md
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from psycopg.rows import tuple_row

from service import errors
from service.files import search, taxonomy
from service.scanning import engines as scanner

PARAMETERS = (
    "category",
    "language",
    "role",
    "type",
    "q",
    "uploaded_after",
    "uploaded_before",
    "scan",
)
SCAN_STATUSES = scanner.STATUSES
MAX_Q_LENGTH = 200


class InvalidFilter(errors.DomainError):
    """A bad filter value (an unknown taxonomy value, too long...); names the field."""

    api_error = errors.ValidationFailed

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class MalformedFilter(InvalidFilter):
    """A value that does not parse at all (a date that is not a date)."""

    api_error = errors.InvalidParameter


class FilterForbidden(errors.DomainError):
    """A filter the caller's key may not use (403); names the field."""

    api_error = errors.Forbidden

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class FileQuery:
    category: str | None = None
    language: str | None = None
    role: str | None = None
    type: str | None = None
    q: str | None = None
    uploaded_after: datetime | None = None
    uploaded_before: datetime | None = None
    scan: str | None = None


# `YYYY-MM-DD`, or an RFC 3339 date-time (`T`, seconds, optional fraction) whose offset may be
# left out for UTC. A `+` that arrived unencoded in a query string reads as a space.
_INSTANT = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+\- ]\d{2}:\d{2})?)?",
    re.ASCII,
)


def parse_instant(value: str, field: str) -> datetime:
    text = value
    try:
        if not _INSTANT.fullmatch(text):
            raise ValueError(text)
        if len(text) == 10:
            parsed = datetime.combine(date.fromisoformat(text), time.min)
        else:
            text = re.sub(r"[Zz]$", "+00:00", text[:10] + "T" + text[11:])
            text = text[:19] + text[19:].replace(" ", "+")
            fraction = re.search(r"\.(\d+)", text)
            if fraction and len(fraction.group(1)) > 6:  # nanoseconds: keep the microseconds
                text = text.replace(fraction.group(0), fraction.group(0)[:7])
            parsed = datetime.fromisoformat(text)
    except ValueError:
        raise MalformedFilter(
            field, f"`{field}` must be a date (YYYY-MM-DD) or an RFC 3339 date-time"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


NO_FILTERS = FileQuery()


def parse_file_query(params: Mapping[str, str], known_types: Collection[str]) -> FileQuery:
    """Pure: the filters of a GET /files query string (other parameters are ignored here)."""
    if not any(name in params for name in PARAMETERS):
        return NO_FILTERS  # the common case, without parsing each absent one

    def text(name: str, limit: int = taxonomy.MAX_NAME_LENGTH) -> str | None:
        value = params.get(name)
        if value is not None and any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
            raise InvalidFilter(name, f"`{name}` must have no control characters")
        if value is not None and len(value) > limit:
            raise InvalidFilter(name, f"`{name}` must be at most {limit} characters")
        if value is None or not value.strip():
            return None
        return value.strip()

    language = text("language")
    if language is not None:
        try:
            language = taxonomy.canonical_language(language)
        except taxonomy.InvalidValue as exc:
            raise InvalidFilter("language", exc.message) from None
    # A type id exactly as listed (`pdf`); present means valid, so `type=` is refused too.
    file_type = params.get("type")
    if file_type is not None and file_type not in known_types:
        raise InvalidFilter("type", f"type {file_type!r} is not a known file type")
    # Present means valid, like `type`: `scan=` is refused too.
    scan = params.get("scan")
    if scan is not None and scan not in SCAN_STATUSES:
        raise InvalidFilter("scan", f"scan must be one of {', '.join(SCAN_STATUSES)}")
    # A date parameter that is present must be a date: an empty one is refused, not ignored.
    after = params.get("uploaded_after")
    before = params.get("uploaded_before")
    query = FileQuery(
        category=text("category"),
        language=language,
        role=text("role"),
        type=file_type,
        q=text("q", MAX_Q_LENGTH),
        uploaded_after=parse_instant(after, "uploaded_after") if after is not None else None,
        uploaded_before=parse_instant(before, "uploaded_before") if before is not None else None,
        scan=scan,
    )
    after_t, before_t = query.uploaded_after, query.uploaded_before
    if after_t and before_t and after_t >= before_t:
        raise InvalidFilter(
            "uploaded_before", "`uploaded_before` must be later than `uploaded_after`"
        )
    return query


def check_allowed(query: FileQuery, principal) -> None:
    """FilterForbidden unless `principal` (an auth.Principal) may use every filter of `query`:
    `scan` is for admin keys (the provider's back office), on the API and in the console."""
    if query.scan is not None and not principal.allows("admin"):
        raise FilterForbidden("scan", "the `scan` filter needs an admin key")


@dataclass(frozen=True)
class Resolved:
    category_id: int | None = None
    role_id: int | None = None
    acting_role_id: int | None = None


def language_checked_by_page(query: FileQuery, acting_role: str | None) -> bool:
    """Whether `resolve` may leave the language out, the page query standing in for the check:
    when it is the only name to look up (a round trip of its own), and the page has rows.
    `files.language` references `languages`, so a row with that language proves the code
    known; only an empty page needs `check_language` after it (422 or an empty page)."""
    return query.language is not None and (query.category, query.role, acting_role) == (
        None,
        None,
        None,
    )


async def check_language(conn, language: str) -> None:
    """InvalidFilter (422) unless `language` is in the taxonomy."""
    await resolve(conn, FileQuery(language=language), None)


def names_to_resolve(query: FileQuery, acting_role: str | None) -> bool:
    """Whether `resolve` has a name to look up (else it answers without the database)."""
    return (query.category, query.role, query.language, acting_role) != (None, None, None, None)


async def resolve(conn, query: FileQuery, acting_role: str | None) -> Resolved:
    """Names -> ids in one round trip; InvalidFilter (422) names an unknown value, and
    taxonomy.InvalidValue("X-Silo-Role") an unknown acting role."""
    if not names_to_resolve(query, acting_role):
        return Resolved()
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(
            """SELECT (SELECT id FROM categories WHERE lower(name) = lower(%s)),
                      (SELECT id FROM roles WHERE lower(name) = lower(%s)),
                      (SELECT code FROM languages WHERE code = %s),
                      (SELECT id FROM roles WHERE lower(name) = lower(%s))""",
            (query.category, query.role, query.language, acting_role),
        )
        category_id, role_id, language, acting_role_id = await cur.fetchone()
    if query.category is not None and category_id is None:
        raise InvalidFilter("category", f"category {query.category!r} is not in the taxonomy")
    if query.role is not None and role_id is None:
        raise InvalidFilter("role", f"role {query.role!r} is not in the taxonomy")
    if query.language is not None and language is None:
        raise InvalidFilter("language", f"language {query.language!r} is not in the taxonomy")
    if acting_role is not None and acting_role_id is None:
        raise taxonomy.InvalidValue(
            "X-Silo-Role", acting_role, f"X-Silo-Role {acting_role!r} is not a known role"
        )
    return Resolved(category_id, role_id, acting_role_id)


def conditions(query: FileQuery, resolved: Resolved) -> list[tuple[str, list]]:
    """Pure: (SQL condition over `files`, parameters) for each filter in use."""
    out: list[tuple[str, list]] = []
    if query.category is not None:
        out.append(("category_id = %s", [resolved.category_id]))
    if query.language is not None:
        out.append(("language = %s", [query.language]))
    if query.type is not None:
        out.append(("type = %s", [query.type]))
    if query.role is not None:
        out.append(("role_ids @> ARRAY[%s]::integer[]", [resolved.role_id]))
    text = search.tsquery(query.q) if query.q is not None else None
    if text is not None:  # served by the index files_search_folded (migration 0031)
        out.append(("search_folded @@ to_tsquery('silo_search', %s)", [text]))
    if query.uploaded_after is not None:
        out.append(("created_at >= %s", [query.uploaded_after]))
    if query.uploaded_before is not None:
        out.append(("created_at < %s", [query.uploaded_before]))
    if query.scan is not None:
        out.append(("scan_status = %s", [query.scan]))
    return out
