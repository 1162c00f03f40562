"""OpenAPI pieces for the taxonomy, the acting user, GET /files filters and GET /stats;
`service.openapi.document` merges them into the one document."""

from __future__ import annotations

from typing import Any

from service.filetypes import KNOWN_TYPE_IDS


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def error_response(description: str) -> dict[str, Any]:
    return {"description": description, **json_content(ref("Error"))}


_AUTH_ERRORS = {
    "401": error_response("No API key, or an unknown one"),
    "403": error_response("The key lacks the scope this operation needs"),
    "503": error_response("The database is unavailable"),
}

ACTING_USER_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": "X-Silo-User",
        "in": "header",
        "description": "The tenant's user the request is made for (recorded as `uploaded_by` "
        "and on access events); 1-200 characters, no control characters.",
        "schema": {"type": "string", "maxLength": 200},
    },
    {
        "name": "X-Silo-Role",
        "in": "header",
        "description": "The user's audience role (a name from GET /roles). With it, every "
        "operation on files (list, get, content, update, delete) sees only files whose "
        "audience includes the role or that have no audience; other files are 404. "
        "Unknown role: 422.",
        "schema": {"type": "string", "maxLength": 100},
    },
    {
        "name": "X-Silo-Country",
        "in": "header",
        "description": "ISO 3166-1 alpha-2 code, one of the 249 assigned ones (else 422).",
        "schema": {"type": "string", "pattern": "^[A-Za-z]{2}$"},
    },
    {
        "name": "X-Silo-Company",
        "in": "header",
        "description": "The user's company (UTF-8, 1-200 characters, no control characters).",
        "schema": {"type": "string", "maxLength": 200},
    },
]

FILE_FILTER_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": "category",
        "in": "query",
        "description": "A category name (case-insensitive); unknown: 422",
        "schema": {"type": "string"},
    },
    {
        "name": "language",
        "in": "query",
        "description": "A BCP 47 code from GET /languages; unknown: 422",
        "schema": {"type": "string"},
    },
    {
        "name": "role",
        "in": "query",
        "description": "Files whose audience includes this role (a name); unknown: 422",
        "schema": {"type": "string"},
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
        "description": "Full-text search over title and description: whole words, "
        '"quoted phrases", `or`, `-excluded` (websearch syntax); up to 200 characters',
        "schema": {"type": "string", "maxLength": 200},
    },
    {
        "name": "uploaded_after",
        "in": "query",
        "description": "ISO 8601 date or date-time (UTC unless an offset is given); inclusive",
        "schema": {"type": "string"},
    },
    {
        "name": "uploaded_before",
        "in": "query",
        "description": "ISO 8601 date or date-time; exclusive",
        "schema": {"type": "string"},
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
        "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 100}},
    },
    "NewLanguage": {
        "type": "object",
        "required": ["code", "name"],
        "additionalProperties": False,
        "properties": {
            "code": {"type": "string"},
            "name": {"type": "string", "minLength": 1, "maxLength": 100},
        },
    },
    "Stats": {
        "type": "object",
        "properties": {
            "from": {"type": ["string", "null"], "format": "date"},
            "to": {"type": ["string", "null"], "format": "date"},
            "files": {
                "type": "object",
                "description": "Files uploaded in the range that still exist",
                "properties": {
                    **_COUNTED_FILES,
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
                    **_AUTH_ERRORS,
                },
            },
            "post": {
                "summary": f"Add to the {plural} (scope: admin)",
                "requestBody": {"required": True, **json_content(ref(new))},
                "responses": {
                    "201": {"description": "Created", **json_content(ref(schema))},
                    "409": error_response("Already exists (already_exists)"),
                    "422": error_response("Invalid name or code (validation_error)"),
                    **_AUTH_ERRORS,
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
                    "404": error_response("No such entry"),
                    "409": error_response("The name is taken (already_exists)"),
                    "422": error_response("Invalid name (validation_error)"),
                    **_AUTH_ERRORS,
                },
            },
            "delete": {
                "summary": "Delete (scope: admin)",
                "responses": {
                    "204": {"description": "Deleted"},
                    "404": error_response("No such entry"),
                    "409": error_response("Files still use it (in_use)"),
                    **_AUTH_ERRORS,
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
                    "description": "First UTC day (YYYY-MM-DD), inclusive; default: the start",
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
                "422": error_response("Bad date or from after to (validation_error)"),
                **_AUTH_ERRORS,
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
                "422", error_response("A bad X-Silo-* header or filter value (validation_error)")
            )
    return document
