"""OpenAPI pieces for the taxonomy, the acting user, GET /files filters and GET /stats;
`service.api.openapi.document.document` merges them into the one document."""

from __future__ import annotations

from typing import Any

from service.api.openapi.common import (
    ACTING_USER_PARAMETERS,
    AUTH_ERRORS,
    JSON_BODY_ERRORS,
    LANGUAGE_TAG,
    OPTIONAL_LANGUAGE,
    SINGLE_LINE,
    error_response,
    json_content,
    name_string,
    ref,
)
from service.scanning import engines as scanner
from service.uploads.filetypes import KNOWN_TYPE_IDS

INSTANT: dict[str, Any] = {
    "type": "string",
    "anyOf": [{"format": "date"}, {"format": "date-time"}],
}

FILE_FILTER_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": "category",
        "in": "query",
        "description": "A category name (case-insensitive); unknown: 422; empty: no filter",
        "schema": {"type": "string", "maxLength": 100, "pattern": SINGLE_LINE},
    },
    {
        "name": "language",
        "in": "query",
        "description": "A BCP 47 code from GET /languages; unknown: 422; empty: no filter",
        "schema": {
            "type": "string",
            "maxLength": 100,
            "pattern": OPTIONAL_LANGUAGE,
        },
    },
    {
        "name": "role",
        "in": "query",
        "description": "Files whose audience includes this role (a name); unknown: 422; "
        "empty: no filter",
        "schema": {"type": "string", "maxLength": 100, "pattern": SINGLE_LINE},
    },
    {
        "name": "type",
        "in": "query",
        "description": "Detected file type id",
        "schema": {"type": "string", "enum": list(KNOWN_TYPE_IDS)},
    },
    {
        "name": "q",
        "in": "query",
        "description": "Search over title and description. Each word typed matches the "
        'words that begin with it (`hand` finds "Handbook", `mentor` "mentors"), '
        'accents and case folded (`eleve` finds "Élève"), in any language (no stemming). '
        "Words are letters and digits; other characters separate them. Every word must "
        'match; `"quoted words"` match in that order, next to each other; `a or b`: either; '
        "`-word`: without it. A `q` with no letter or digit is no filter. Up to 200 "
        "characters",
        "schema": {"type": "string", "maxLength": 200, "pattern": SINGLE_LINE},
    },
    {
        "name": "uploaded_after",
        "in": "query",
        "description": "A date (YYYY-MM-DD) or an RFC 3339 date-time (UTC when the offset is "
        "left out); inclusive. Not a date: 400 invalid_parameter",
        "schema": INSTANT,
    },
    {
        "name": "uploaded_before",
        "in": "query",
        "description": "Like `uploaded_after`; exclusive, and later than `uploaded_after` (else "
        "422)",
        "schema": INSTANT,
    },
    {
        "name": "scan",
        "in": "query",
        "description": "The malware scan's status; admin keys only (403 otherwise)",
        "schema": {"type": "string", "enum": list(scanner.STATUSES)},
    },
]


def _labelled(key: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {**key, "name": {"type": ["string", "null"]}, **extra},
    }


_COUNTED_FILES = {"files": {"type": "integer"}, "bytes": {"type": "integer"}}
_DOWNLOADS = {"downloads": {"type": "integer"}}
_ID = {"id": {"type": ["integer", "null"]}}
_CODE = {"code": {"type": ["string", "null"]}}
_PER_DAY = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"day": {"type": "string", "format": "date"}, "count": {"type": "integer"}},
    },
}

SCHEMAS: dict[str, Any] = {
    "Category": {
        "type": "object",
        "required": ["id", "name"],
        "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
    },
    "Role": {
        "type": "object",
        "required": ["id", "name"],
        "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
    },
    "Language": {
        "type": "object",
        "required": ["code", "name"],
        "properties": {
            "code": {"type": "string", "description": "BCP 47, e.g. en, pt-BR"},
            "name": {"type": "string", "description": "Display name"},
        },
    },
    "Name": {
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "properties": {"name": name_string(100)},
    },
    "NewLanguage": {
        "type": "object",
        "required": ["code", "name"],
        "additionalProperties": False,
        "properties": {
            "code": {
                "type": "string",
                "description": "A BCP 47 tag; stored in its conventional case (pt-BR)",
                "maxLength": 64,
                "pattern": LANGUAGE_TAG,
            },
            "name": name_string(100),
        },
    },
    "Stats": {
        "type": "object",
        "properties": {
            "from": {"type": ["string", "null"], "format": "date"},
            "to": {"type": ["string", "null"], "format": "date"},
            "files": {
                "type": "object",
                "description": "Files uploaded in the range that still exist (infected ones "
                "included: their rows stay)",
                "properties": {
                    **_COUNTED_FILES,
                    "infected": {
                        "type": "object",
                        "description": "Of those, the files the malware scan found infected",
                        "properties": _COUNTED_FILES,
                    },
                    "by_category": {"type": "array", "items": _labelled(_ID, _COUNTED_FILES)},
                    "by_language": {"type": "array", "items": _labelled(_CODE, _COUNTED_FILES)},
                    "by_type": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {"type": {"type": "string"}, **_COUNTED_FILES},
                        },
                    },
                    "by_role": {
                        "type": "array",
                        "description": "id null: files with no audience set",
                        "items": _labelled(_ID, _COUNTED_FILES),
                    },
                },
            },
            "downloads": {
                "type": "object",
                "description": "Content requests (GET /files/{id}/content) in the range",
                "properties": {
                    "count": {"type": "integer"},
                    "by_country": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {"country": {"type": ["string", "null"]}, **_DOWNLOADS},
                        },
                    },
                    "by_company": {
                        "type": "array",
                        "description": "The 100 companies with the most downloads",
                        "items": {
                            "type": "object",
                            "properties": {"company": {"type": ["string", "null"]}, **_DOWNLOADS},
                        },
                    },
                    "by_role": {"type": "array", "items": _labelled(_ID, _DOWNLOADS)},
                    "by_language": {"type": "array", "items": _labelled(_CODE, _DOWNLOADS)},
                    "per_day": _PER_DAY,
                    "top_files": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "id": {"type": "string", "format": "uuid"},
                                "title": {"type": ["string", "null"]},
                                **_DOWNLOADS,
                            },
                        },
                    },
                },
            },
            "metadata_reads": {
                "type": "object",
                "properties": {"count": {"type": "integer"}, "per_day": _PER_DAY},
            },
        },
    },
}


def _all_present(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with every object's properties required: the /stats body always holds each field
    it declares (null where a label is unknown), and generators such as openapi-typescript type
    a field that is not required as possibly undefined."""
    schema = dict(schema)
    if "properties" in schema:
        schema["properties"] = {k: _all_present(v) for k, v in schema["properties"].items()}
        schema["required"] = list(schema["properties"])
    if "items" in schema:
        schema["items"] = _all_present(schema["items"])
    return schema


SCHEMAS["Stats"] = _all_present(SCHEMAS["Stats"])


def _taxonomy_paths(plural: str, schema: str, key: dict[str, Any], new: str) -> dict[str, Any]:
    list_schema = {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": ref(schema)}},
    }
    return {
        f"/{plural}": {
            "get": {
                "summary": f"The tenant's {plural} (scope: read)",
                "responses": {
                    "200": {"description": "All", **json_content(list_schema)},
                    **AUTH_ERRORS,
                },
            },
            "post": {
                "summary": f"Add to the {plural} (scope: admin)",
                "requestBody": {"required": True, **json_content(ref(new))},
                "responses": {
                    "201": {
                        "description": "Created",
                        "headers": {"Location": {"schema": {"type": "string"}}},
                        **json_content(ref(schema)),
                    },
                    **JSON_BODY_ERRORS,
                    "409": error_response("Already exists (already_exists)"),
                    "422": error_response("Invalid name or code (validation_error)"),
                    **AUTH_ERRORS,
                },
            },
        },
        f"/{plural}/{{key}}": {
            "parameters": [{"name": "key", "in": "path", "required": True, "schema": key}],
            "patch": {
                "summary": "Rename (scope: admin); files show the new name at once",
                "requestBody": {"required": True, **json_content(ref("Name"))},
                "responses": {
                    "200": {"description": "Renamed", **json_content(ref(schema))},
                    **JSON_BODY_ERRORS,
                    "404": error_response("No such entry"),
                    "409": error_response("The name is taken (already_exists)"),
                    "422": error_response("Invalid name (validation_error)"),
                    **AUTH_ERRORS,
                },
            },
            "delete": {
                "summary": "Delete (scope: admin)",
                "responses": {
                    "204": {"description": "Deleted"},
                    "404": error_response("No such entry"),
                    "409": error_response("Files still use it (in_use)"),
                    **AUTH_ERRORS,
                },
            },
        },
    }


PATHS: dict[str, Any] = {
    **_taxonomy_paths("categories", "Category", {"type": "integer"}, "Name"),
    **_taxonomy_paths("languages", "Language", {"type": "string"}, "NewLanguage"),
    **_taxonomy_paths("roles", "Role", {"type": "integer"}, "Name"),
    "/stats": {
        "get": {
            "summary": "Files, bytes and downloads, by label and per day (scope: read)",
            "parameters": [
                {
                    "name": "from",
                    "in": "query",
                    "description": "First UTC day (YYYY-MM-DD), inclusive, not after `to`; "
                    "default: the start",
                    "schema": {"type": "string", "format": "date"},
                },
                {
                    "name": "to",
                    "in": "query",
                    "description": "Last UTC day, inclusive; default: now",
                    "schema": {"type": "string", "format": "date"},
                },
            ],
            "responses": {
                "200": {"description": "Statistics", **json_content(ref("Stats"))},
                "422": error_response(
                    "`from` or `to` is not a YYYY-MM-DD date (an empty value included), or "
                    "`from` is after `to` (validation_error)"
                ),
                **AUTH_ERRORS,
                "403": error_response(
                    "The key lacks the read scope, or the request carries an X-Silo-* "
                    "acting-user header: statistics span every audience and are for the "
                    "tenant's back office only (forbidden)"
                ),
            },
        }
    },
}


def extend(document: dict[str, Any]) -> dict[str, Any]:
    """Add the taxonomy, filter and stats paths, schemas and parameters (in place)."""
    paths = document["paths"]
    paths.update(PATHS)
    document["components"]["schemas"].update(SCHEMAS)
    for path, methods in (
        ("/files", ("get", "post")),
        ("/files/{file_id}", ("get", "patch", "delete")),
        ("/files/{file_id}/content", ("get",)),
    ):
        for method in methods:
            operation = paths[path][method]
            extra = list(ACTING_USER_PARAMETERS)
            if (path, method) == ("/files", "get"):
                extra += FILE_FILTER_PARAMETERS
            operation["parameters"] = [*operation.get("parameters", []), *extra]
            responses = operation["responses"]
            responses.setdefault(
                "422",
                error_response("A bad or unknown X-Silo-* header value (validation_error)"),
            )
    return document
