"""What every part of the OpenAPI document uses: text patterns, references, error responses,
the acting user's headers."""

from __future__ import annotations

from typing import Any

from service.files.countries import ASSIGNED_ALPHA2

# What the service refuses in text, as JSON Schema patterns: control characters (C0, DEL, C1).
# A single-line value may not hold any; a multi-line one (descriptions) may hold tab and LF.
_CONTROL = "\\u0000-\\u001f\\u007f-\\u009f"
SINGLE_LINE = f"^[^{_CONTROL}]*$"
# A name: single line with at least one non-blank character (values are trimmed).
NAME = f"^[^{_CONTROL}]*[^\\s{_CONTROL}][^{_CONTROL}]*$"
MULTI_LINE = "^[^\\u0000-\\u0008\\u000b-\\u001f\\u007f-\\u009f]*$"
# BCP 47 in its common shapes (`en`, `pt-BR`, `zh-Hant-TW`); GET /languages lists the tenant's.
LANGUAGE_TAG = "^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$"
# Blanks that are not control characters: values are trimmed of them.
_BLANK = f"[^\\S{_CONTROL}]*"
# A language tag where blank means none (metadata fields, the GET /files filter), `_` read as `-`.
OPTIONAL_LANGUAGE = f"^{_BLANK}([A-Za-z]{{2,3}}([-_][A-Za-z0-9]{{1,8}})*)?{_BLANK}$"


def name_string(max_length: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_length, "pattern": NAME}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def error_response(description: str) -> dict[str, Any]:
    return {"description": description, **json_content(ref("Error"))}


AUTH_ERRORS = {
    "401": error_response("No API key, or an unknown one"),
    "403": error_response("The key lacks the scope this operation needs"),
    "503": error_response("The database is unavailable"),
}
# Every operation that reads a JSON body (inputs.json_object).
JSON_BODY_ERRORS = {
    "400": error_response("The body is not JSON (invalid_json)"),
    "413": error_response("The body is larger than 64 KiB (too_large)"),
    "415": error_response(
        "The body is not declared as JSON (unsupported_media_type) or is content-encoded "
        "(unsupported_encoding)"
    ),
}

ACTING_USER_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": "X-Silo-User",
        "in": "header",
        "description": "The tenant's user the request is made for (recorded as `uploaded_by` "
        "and on access events); 1-200 characters, no control characters. A header that is "
        "present must be valid (422), empty included.",
        "schema": name_string(200),
    },
    {
        "name": "X-Silo-Role",
        "in": "header",
        "description": "The user's audience role (a name from GET /roles). With it, every "
        "operation on files (list, get, content, update, delete) sees only files whose "
        "audience includes the role or that have no audience; other files are 404. "
        "Unknown role: 422.",
        "schema": name_string(100),
    },
    {
        "name": "X-Silo-Country",
        "in": "header",
        "description": "ISO 3166-1 alpha-2 code in upper case, one of the 249 assigned ones "
        "(else 422).",
        "schema": {"type": "string", "enum": sorted(ASSIGNED_ALPHA2)},
    },
    {
        "name": "X-Silo-Company",
        "in": "header",
        "description": "The user's company (UTF-8, 1-200 characters, no control characters).",
        "schema": name_string(200),
    },
]
