"""The OpenAPI 3.1 document of the API, written by hand next to the code it describes.

A test checks that every route the application serves appears here with its methods, so the
two cannot drift apart silently.
"""

from __future__ import annotations

import copy
from typing import Any

from service.api.openapi import direct as openapi_direct
from service.api.openapi import taxonomy_stats as openapi_taxonomy_stats
from service.api.openapi import tus as openapi_tus
from service.api.openapi.common import (
    JSON_BODY_ERRORS,
    MULTI_LINE,
    NAME,
    OPTIONAL_LANGUAGE,
    SINGLE_LINE,
    error_response,
    json_content,
    name_string,
    ref,
)
from service.files import metadata
from service.keys.auth import SCOPES
from service.scanning import engines as scanner
from service.uploads.filetypes import KNOWN_TYPE_IDS

_NULLABLE_TEXT = {"type": ["string", "null"]}
# What the metadata validator accepts (service/files/metadata.py): a title is one non-blank line; a
# description may span lines; category, language and roles are names from the taxonomy (an
# unknown one is 422); an empty optional value is the same as null.
_TITLE = name_string(metadata.TITLE_MAX)
_DESCRIPTION = {"maxLength": metadata.DESCRIPTION_MAX, "pattern": MULTI_LINE}
_CATEGORY = {"maxLength": metadata.CATEGORY_MAX, "pattern": SINGLE_LINE}
_LANGUAGE = {"maxLength": metadata.LANGUAGE_MAX, "pattern": OPTIONAL_LANGUAGE}
_ROLES = {
    "maxItems": metadata.ROLES_MAX,
    "items": {"type": "string", "maxLength": metadata.ROLE_MAX, "pattern": NAME},
}
_FILE_ID = {
    "name": "file_id",
    "in": "path",
    "required": True,
    "description": "The file's id; anything that is not a known UUID is 404.",
    "schema": {"type": "string", "format": "uuid"},
}
# A write answers the file object to a key that may read it, else only the id.
WRITTEN = {"anyOf": [ref("File"), ref("FileReceipt")]}
_AUTH_ERRORS = {
    "401": error_response("No API key, or an unknown one"),
    "403": error_response("The key lacks the scope this operation needs"),
    "503": error_response("The database or object storage is unavailable"),
}

# The file object's `scan`.
_SCAN: dict[str, Any] = {
    "type": "object",
    "description": "The malware scan: only a `clean` file is served (and an `oversize` one "
    "where the tenant serves those unscanned)",
    "required": ["status", "scanned_at", "engine"],
    "additionalProperties": False,
    "properties": {
        "status": {
            "type": "string",
            "enum": list(scanner.STATUSES),
            "description": "`oversize`: too large for the engine, not scanned; held (409) "
            "unless the tenant's policy serves such files unscanned",
        },
        "scanned_at": {"type": ["string", "null"], "format": "date-time"},
        "engine": {
            "type": ["string", "null"],
            "enum": ["clamav", "guardduty", "none", None],
            "description": "Which engine gave the verdict (`none`: scanning is off); null "
            "while pending",
        },
    },
}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "request_id"],
                "properties": {
                    "code": {
                        "type": "string",
                        "examples": ["validation_error", "unsupported_type", "type_mismatch"],
                    },
                    "message": {"type": "string"},
                    "request_id": {"type": "string"},
                    "tenant": {"type": "string", "description": "The tenant that answered"},
                },
            }
        },
    },
    "FileReceipt": {
        "type": "object",
        "description": "What a write answers to a key without the read scope: only the id",
        "required": ["id"],
        "properties": {"id": {"type": "string", "format": "uuid"}},
        "additionalProperties": False,
    },
    "File": {
        "type": "object",
        "required": [
            "id",
            "title",
            "description",
            "category",
            "language",
            "roles",
            "filename",
            "content_type",
            "type",
            "size",
            "sha256",
            "created_at",
            "updated_at",
            "uploaded_by",
            "scan",
        ],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "title": {"type": "string", "minLength": 1, "maxLength": metadata.TITLE_MAX},
            "description": {**_NULLABLE_TEXT, "maxLength": metadata.DESCRIPTION_MAX},
            "category": {**_NULLABLE_TEXT, "maxLength": metadata.CATEGORY_MAX},
            "language": {**_NULLABLE_TEXT, "description": "BCP 47 tag, e.g. en or pt-BR"},
            "roles": {"type": "array", "items": {"type": "string"}},
            "filename": {"type": "string", "description": "The client's file name, sanitized"},
            "content_type": {"type": "string", "description": "The detected content type"},
            "type": {"type": "string", "enum": list(KNOWN_TYPE_IDS)},
            "size": {"type": "integer", "minimum": 1},
            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "uploaded_by": {
                "type": "string",
                "description": "The uploading key's id, or `admin` for the bootstrap key",
            },
            "scan": _SCAN,
        },
    },
    "FilePage": {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": ref("File")},
            "next_cursor": {"type": ["string", "null"]},
        },
    },
    "FileUpload": {
        "type": "object",
        "required": ["file"],
        "additionalProperties": False,
        "properties": {
            "file": {
                "type": "string",
                "contentMediaType": "application/octet-stream",
                "minLength": 1,
                "description": "The content: its type is detected from the bytes and must be "
                "one the tenant accepts (415 otherwise). The part's file name (no control "
                "characters, else 422) is kept as `filename`.",
            },
            "title": {
                **_TITLE,
                "description": "Without it, the file name without its extension "
                "(`handbook` for handbook.pdf)",
            },
            "description": {"type": "string", **_DESCRIPTION},
            "category": {"type": "string", **_CATEGORY},
            "language": {"type": "string", **_LANGUAGE},
            # Repeat the field for several roles; one field is one role.
            "roles": {"anyOf": [{"type": "array", **_ROLES}, _ROLES["items"]]},
        },
    },
    "FilePatch": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "title": _TITLE,
            "description": {**_NULLABLE_TEXT, **_DESCRIPTION},
            "category": {**_NULLABLE_TEXT, **_CATEGORY},
            "language": {**_NULLABLE_TEXT, **_LANGUAGE},
            "roles": {"type": ["array", "null"], **_ROLES},
        },
    },
    "DownloadURL": {
        "type": "object",
        "required": ["url", "expires_at"],
        "properties": {
            "url": {"type": "string", "format": "uri"},
            "expires_at": {"type": "string", "format": "date-time"},
        },
    },
    "KeyRequest": {
        "type": "object",
        "required": ["name", "scopes"],
        "additionalProperties": False,
        "properties": {
            "name": name_string(100),
            "scopes": {
                "type": "array",
                "minItems": 1,
                "items": {"type": "string", "enum": list(SCOPES)},
            },
        },
    },
    "Key": {
        "type": "object",
        "required": ["id", "name", "prefix", "scopes", "created_at"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "name": {"type": "string"},
            "prefix": {"type": "string", "description": "The key's first characters"},
            "scopes": {"type": "array", "items": {"type": "string", "enum": list(SCOPES)}},
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
    "NewKey": {
        "allOf": [
            ref("Key"),
            {
                "type": "object",
                "required": ["key"],
                "properties": {"key": {"type": "string", "description": "Shown only once"}},
            },
        ]
    },
    "KeyList": {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": ref("Key")}},
    },
}

_PATHS: dict[str, Any] = {
    "/healthz": {
        "get": {
            "summary": "Liveness: the process answers (touches no dependency)",
            "security": [],
            "responses": {"200": {"description": "Alive", **json_content({"type": "object"})}},
        }
    },
    "/readyz": {
        "get": {
            "summary": "Readiness: the database and the bucket are reachable",
            "security": [],
            "responses": {
                "200": {"description": "Ready", **json_content({"type": "object"})},
                "503": error_response("Not ready; the message names what is unreachable"),
            },
        }
    },
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics of this instance (text format; off with SILO_METRICS=0)",
            "security": [],
            "responses": {
                "200": {
                    "description": "Prometheus text exposition format",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        }
    },
    "/openapi.json": {
        "get": {
            "summary": "This document",
            "security": [],
            "responses": {
                "200": {"description": "OpenAPI 3.1", **json_content({"type": "object"})}
            },
        }
    },
    "/files": {
        "post": {
            "summary": "Upload a file with its metadata (scope: write)",
            "description": (
                "multipart/form-data, streamed. The type is detected from the content and must "
                "be allowed for the tenant and agree with the declared content type and the file "
                "name extension. Send the metadata fields before the `file` part so that invalid "
                "metadata is rejected before any byte is stored."
            ),
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": ref("FileUpload"),
                        "encoding": {"roles": {"style": "form", "explode": True}},
                    }
                },
            },
            "responses": {
                "201": {
                    "description": "Stored: the file object, or only its id when the key "
                    "cannot read (a write-only key)",
                    "headers": {"Location": {"schema": {"type": "string"}}},
                    **json_content(WRITTEN),
                },
                "400": error_response("Malformed multipart body"),
                "408": error_response("The body stopped arriving (request_timeout)"),
                "413": error_response("The file exceeds SILO_MAX_UPLOAD_BYTES (code too_large)"),
                "415": error_response(
                    "Not multipart (unsupported_media_type), content-encoded "
                    "(unsupported_encoding), type not accepted (unsupported_type) or content "
                    "disagrees with name/type (type_mismatch)"
                ),
                "422": error_response(
                    "Invalid metadata or file name, unknown taxonomy value or X-Silo-* header "
                    "(validation_error), or an empty file (empty_file)"
                ),
                **_AUTH_ERRORS,
                "503": {
                    **error_response(
                        "Every upload slot of this instance is taken (busy; retry after "
                        "Retry-After seconds, nothing was stored), or the database or object "
                        "storage is unavailable"
                    ),
                    "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                },
            },
        },
        "get": {
            "summary": "List files, newest first (scope: read)",
            "parameters": [
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                },
                {
                    "name": "cursor",
                    "in": "query",
                    "description": "The `next_cursor` of the previous page",
                    "schema": {"type": "string"},
                },
            ],
            "responses": {
                "200": {"description": "One page", **json_content(ref("FilePage"))},
                "400": error_response(
                    "Bad limit or upload date (invalid_parameter) or cursor (invalid_cursor)"
                ),
                **_AUTH_ERRORS,
            },
        },
    },
    "/files/{file_id}": {
        "parameters": [_FILE_ID],
        "get": {
            "summary": "One file (scope: read)",
            "responses": {
                "200": {"description": "The file", **json_content(ref("File"))},
                "404": error_response("No such file"),
                **_AUTH_ERRORS,
            },
        },
        "patch": {
            "summary": "Change metadata (scope: write); null clears an optional field",
            "requestBody": {"required": True, **json_content(ref("FilePatch"))},
            "responses": {
                "200": {
                    "description": "The updated file, or only its id when the key cannot read "
                    "(a write-only key)",
                    **json_content(WRITTEN),
                },
                **JSON_BODY_ERRORS,
                "404": error_response("No such file"),
                "422": error_response("Invalid values or unknown fields (validation_error)"),
                **_AUTH_ERRORS,
            },
        },
        "delete": {
            "summary": "Delete the file and its object (scope: write)",
            "responses": {
                "204": {"description": "Deleted"},
                "404": error_response("No such file"),
                **_AUTH_ERRORS,
            },
        },
    },
    "/files/{file_id}/content": {
        "parameters": [_FILE_ID],
        "get": {
            "summary": "Download: a presigned S3 URL (scope: read)",
            "parameters": [
                {
                    "name": "redirect",
                    "in": "query",
                    "description": "false: answer with the URL as JSON instead of a 302",
                    "schema": {"type": "boolean", "default": True},
                }
            ],
            "responses": {
                "302": {
                    "description": "Redirect to the presigned URL",
                    "headers": {"Location": {"schema": {"type": "string", "format": "uri"}}},
                },
                "200": {"description": "redirect=false", **json_content(ref("DownloadURL"))},
                "400": error_response("Bad `redirect` value (invalid_parameter)"),
                "404": error_response("No such file"),
                "409": error_response(
                    "The file is not known clean: its malware scan is pending or failed "
                    "(scan_pending)"
                ),
                "410": error_response("The file was found infected (infected)"),
                **_AUTH_ERRORS,
            },
        },
    },
    "/keys": {
        "post": {
            "summary": "Create an API key (scope: admin); the key is shown once",
            "requestBody": {"required": True, **json_content(ref("KeyRequest"))},
            "responses": {
                "201": {
                    "description": "Created",
                    "headers": {"Location": {"schema": {"type": "string"}}},
                    **json_content(ref("NewKey")),
                },
                **JSON_BODY_ERRORS,
                "422": error_response("Invalid name or scopes (validation_error)"),
                **_AUTH_ERRORS,
            },
        },
        "get": {
            "summary": "List API keys (scope: admin)",
            "responses": {
                "200": {"description": "The keys", **json_content(ref("KeyList"))},
                **_AUTH_ERRORS,
            },
        },
    },
    "/keys/{key_id}": {
        "parameters": [
            {
                "name": "key_id",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "format": "uuid"},
            }
        ],
        "delete": {
            "summary": "Revoke an API key (scope: admin)",
            "responses": {
                "204": {"description": "Revoked"},
                "404": error_response("No such key"),
                **_AUTH_ERRORS,
            },
        },
    },
}

_DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Silo upload API",
        "version": "1.0.0",
        "description": (
            "One tenant's upload API. Every error is "
            '`{"error": {"code", "message", "request_id"}}`; every response carries X-Request-Id.'
        ),
    },
    "security": [{"bearer": []}],
    "paths": _PATHS,
    "components": {
        "schemas": _SCHEMAS,
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    },
}


def document() -> dict[str, Any]:
    """A fresh copy (callers may extend it without changing the next response)."""
    document = openapi_taxonomy_stats.extend(copy.deepcopy(_DOCUMENT))
    return openapi_direct.extend(openapi_tus.extend(document))
