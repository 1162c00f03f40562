"""The acting user: who a tenant backend is calling on behalf of, from `X-Silo-*` headers
(`X-Silo-User`, `X-Silo-Role`, `X-Silo-Country`, `X-Silo-Company`, all optional).

- `parse_acting_user` -> `ActingUser`: pure, syntax only (the role's existence is the taxonomy's)
- `parse_country`: ISO 3166-1 alpha-2, officially assigned, upper case
- `InvalidActingUser` (422 naming the header): a present header must be valid, never empty

Design: docs/design/acting-user.md
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from service import errors
from service.files.countries import ASSIGNED_ALPHA2

USER_HEADER = "x-silo-user"
ROLE_HEADER = "x-silo-role"
COUNTRY_HEADER = "x-silo-country"
COMPANY_HEADER = "x-silo-company"
ACTING_USER_HEADERS = (USER_HEADER, ROLE_HEADER, COUNTRY_HEADER, COMPANY_HEADER)

MAX_USER_LENGTH = 200
MAX_ROLE_LENGTH = 100
MAX_COMPANY_LENGTH = 200


class InvalidActingUser(errors.DomainError):
    """A `X-Silo-*` header with a bad value (422)."""

    api_error = errors.ValidationFailed

    def __init__(self, header: str, message: str) -> None:
        super().__init__(message)
        self.header = header


@dataclass(frozen=True)
class ActingUser:
    user: str | None = None
    role: str | None = None
    country: str | None = None
    company: str | None = None

    @property
    def anonymous(self) -> bool:
        return self.user is None and self.role is None


def _display_name(header: str) -> str:
    return "-".join(part.capitalize() for part in header.split("-"))


def _text(headers: Mapping[str, str], header: str, max_length: int) -> str | None:
    raw = headers.get(header)
    if raw is None:
        return None
    name = _display_name(header)
    # HTTP header values reach us decoded as latin-1; clients send UTF-8 ("Société Générale").
    try:
        value = raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        raise InvalidActingUser(name, f"{name} is not valid UTF-8") from None
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in value):
        raise InvalidActingUser(name, f"{name} contains control or unassigned characters")
    if len(value) > max_length:
        raise InvalidActingUser(name, f"{name} is longer than {max_length} characters")
    value = value.strip()
    if not value:
        raise InvalidActingUser(name, f"{name} is empty; leave the header out instead")
    value = unicodedata.normalize("NFC", value)
    if len(value) > max_length:
        raise InvalidActingUser(name, f"{name} is longer than {max_length} characters")
    return value


def parse_country(value: str) -> str:
    """The code, or InvalidActingUser when it is not an assigned one written as ISO 3166 writes
    it, in upper case (the OpenAPI document's enum)."""
    code = value.strip()
    if code not in ASSIGNED_ALPHA2:
        raise InvalidActingUser(
            "X-Silo-Country",
            f"X-Silo-Country {value!r} is not an assigned ISO 3166-1 alpha-2 country code",
        )
    return code


def parse_acting_user(headers: Mapping[str, str]) -> ActingUser:
    """The acting user from request headers (any case-insensitive mapping, e.g. Starlette's)."""
    country = _text(headers, COUNTRY_HEADER, 64)
    return ActingUser(
        user=_text(headers, USER_HEADER, MAX_USER_LENGTH),
        role=_text(headers, ROLE_HEADER, MAX_ROLE_LENGTH),
        country=parse_country(country) if country is not None else None,
        company=_text(headers, COMPANY_HEADER, MAX_COMPANY_LENGTH),
    )
