"""The editable metadata of a file (title, description, category, language, roles).

One validator for both the upload form and PATCH, so both accept exactly the same values.
Pure functions: a mapping in, normalized values out, or `ValidationFailed` naming the field.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from service.errors import ValidationFailed

FIELDS = ("title", "description", "category", "language", "roles")
REQUIRED = ("title",)
TITLE_MAX = 200
DESCRIPTION_MAX = 1000
CATEGORY_MAX = 100
ROLE_MAX = 100
ROLES_MAX = 50
# BCP 47 in its common shapes: "en", "pt-BR", "zh-Hant-TW", "es-419".
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")  # `_` read as `-`
LANGUAGE_MAX = 35


def _forbidden(ch: str) -> bool:
    category = unicodedata.category(ch)
    return (category == "Cc" and ch not in "\n\t") or category == "Cs"


def _text(
    field: str, value: Any, *, max_length: int, nullable: bool, single_line: bool = False
) -> str | None:
    if value is None:
        if nullable:
            return None
        raise ValidationFailed(f"`{field}` is required")
    if not isinstance(value, str):
        raise ValidationFailed(f"`{field}` must be a string")
    # Control characters and lone surrogates (JSON can smuggle "\ud800") are never text, at the
    # edges either (checked before trimming: "\x85" is whitespace to str.strip).
    if any(_forbidden(ch) for ch in value):
        raise ValidationFailed(f"`{field}` contains control characters or invalid text")
    _single_line(field, value if single_line else None)
    # The limit holds for what was sent (as the OpenAPI maxLength says), blanks included.
    if len(value) > max_length:
        raise ValidationFailed(f"`{field}` is longer than {max_length} characters")
    value = unicodedata.normalize("NFC", value).strip()
    if not value:
        if nullable:
            return None
        raise ValidationFailed(f"`{field}` must not be empty")
    if len(value) > max_length:
        raise ValidationFailed(f"`{field}` is longer than {max_length} characters")
    return value


def _single_line(field: str, value: str | None) -> str | None:
    if value is not None and ("\n" in value or "\t" in value):
        raise ValidationFailed(f"`{field}` must be a single line")
    return value


def _language(value: Any) -> str | None:
    text = _text("language", value, max_length=LANGUAGE_MAX, nullable=True, single_line=True)
    if text is not None and not _LANGUAGE.match(text):
        raise ValidationFailed("`language` must be a language tag like `en` or `pt-BR`")
    return text


def _roles(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValidationFailed("`roles` must be a list of strings")
    if len(value) > ROLES_MAX:
        raise ValidationFailed(f"`roles` has more than {ROLES_MAX} entries")
    roles: list[str] = []
    for item in value:
        role = _text("roles", item, max_length=ROLE_MAX, nullable=False, single_line=True)
        if role not in roles:
            roles.append(role)
    return roles


def validate(values: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    """Normalized values for the fields present in `values`.

    partial=False (a new file): required fields must be present. partial=True (PATCH, or the
    fields seen so far of an upload): only what is present is checked.
    """
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise ValidationFailed(f"unknown field(s): {', '.join(unknown)}")
    out: dict[str, Any] = {}
    if "title" in values:
        out["title"] = _text(
            "title", values["title"], max_length=TITLE_MAX, nullable=False, single_line=True
        )
    elif not partial:
        raise ValidationFailed("`title` is required")
    if "description" in values:
        out["description"] = _text(
            "description", values["description"], max_length=DESCRIPTION_MAX, nullable=True
        )
    if "category" in values:
        out["category"] = _text(
            "category", values["category"], max_length=CATEGORY_MAX, nullable=True, single_line=True
        )
    if "language" in values:
        out["language"] = _language(values["language"])
    if "roles" in values:
        out["roles"] = _roles(values["roles"])
    return out
