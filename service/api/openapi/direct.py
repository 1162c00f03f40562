"""The OpenAPI description of direct-to-S3 uploads (/uploads/direct) and of the Idempotency-Key
header on the three creating operations (service/uploads/direct.py,
service/uploads/idempotency.py)."""

from __future__ import annotations

from typing import Any

from service.api.openapi.common import (
    ACTING_USER_PARAMETERS,
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
from service.uploads.direct import CONTENT_TYPE_MAX
from service.uploads.idempotency import HEADER, PATTERN, REPLAYED_HEADER
from service.uploads.rules import FILENAME_MAX

_NULLABLE = {"type": ["string", "null"]}
IDEMPOTENCY_KEY = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "description": (
        "Makes the request safe to send again: the same key with the same request answers what "
        "the first one created (see Idempotent-Replayed); with a different request it is 422 "
        "idempotency_key_reused. 1 to 255 visible ASCII characters (else 422 "
        "invalid_idempotency_key), scoped to the tenant."
    ),
    "schema": {"type": "string", "pattern": PATTERN},
    "example": "import-2026-11-27/lecture-1.mp4",
}
REPLAYED = {
    REPLAYED_HEADER: {
        "description": "`true`: the file already existed (an Idempotency-Key replay)",
        "schema": {"const": "true"},
    }
}
_UPLOAD_ID = {
    "name": "upload_id",
    "in": "path",
    "required": True,
    "description": "The upload's id, which is also the id of the file it becomes",
    "schema": {"type": "string", "format": "uuid"},
}
_AUTH_ERRORS = {
    "401": error_response("No API key, or an unknown one"),
    "403": error_response("The key lacks the `write` scope"),
    "503": error_response("The database or object storage is unavailable"),
}
# No control character (422), not blank.
_FILENAME = {"type": "string", "maxLength": 4 * FILENAME_MAX, "pattern": NAME}

SCHEMAS: dict[str, Any] = {
    "DirectUploadRequest": {
        "type": "object",
        "required": ["filename", "size", "sha256"],
        "additionalProperties": False,
        "properties": {
            "filename": {
                **_FILENAME,
                "description": "The file's name: its extension must be of a type the tenant "
                "accepts (415), and agree with the content (checked at completion)",
            },
            "size": {"type": "integer", "minimum": 1, "description": "Bytes (413 over the limit)"},
            "sha256": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
            "content_type": {
                "type": ["string", "null"],
                "maxLength": CONTENT_TYPE_MAX,
                "pattern": "^[ -~]*$",
                "description": "The declared content type, e.g. application/pdf (optional)",
            },
            "title": {
                **name_string(metadata.TITLE_MAX),
                "description": "Without it, `filename` without its extension",
            },
            "description": {
                **_NULLABLE,
                "maxLength": metadata.DESCRIPTION_MAX,
                "pattern": MULTI_LINE,
            },
            "category": {**_NULLABLE, "maxLength": metadata.CATEGORY_MAX, "pattern": SINGLE_LINE},
            "language": {
                **_NULLABLE,
                "maxLength": metadata.LANGUAGE_MAX,
                "pattern": OPTIONAL_LANGUAGE,
            },
            "roles": {
                "type": ["array", "null"],
                "maxItems": metadata.ROLES_MAX,
                "items": {"type": "string", "maxLength": metadata.ROLE_MAX, "pattern": NAME},
            },
        },
    },
    "DirectUpload": {
        "type": "object",
        "description": "Where to PUT the bytes: send exactly `headers` with them",
        "required": ["id", "method", "url", "headers", "expires_at"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "method": {"const": "PUT"},
            "url": {"type": "string", "format": "uri"},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            "expires_at": {
                "type": "string",
                "format": "date-time",
                "description": "The URL is refused for a PUT that starts later",
            },
        },
    },
    "DirectUploadDone": {
        "type": "object",
        "description": "An Idempotency-Key replay of an upload already completed: its file",
        "required": ["id", "file"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "file": {"anyOf": [ref("File"), ref("FileReceipt")]},
        },
    },
}

PATHS: dict[str, Any] = {
    "/uploads/direct": {
        "post": {
            "summary": "Start a direct upload to S3 (scope: write)",
            "description": (
                "Checks the metadata, the size and the declared type, then answers a presigned "
                "PUT whose signature binds the size and the sha256. PUT the bytes there with "
                "exactly the returned headers, then POST .../complete."
            ),
            "parameters": [IDEMPOTENCY_KEY, *ACTING_USER_PARAMETERS],
            "requestBody": {"required": True, **json_content(ref("DirectUploadRequest"))},
            "responses": {
                "201": {"description": "Where to PUT", **json_content(ref("DirectUpload"))},
                "200": {
                    "description": "An Idempotency-Key replay: the same upload with a fresh URL, "
                    "or, once completed, its file (with Idempotent-Replayed)",
                    "headers": REPLAYED,
                    **json_content({"anyOf": [ref("DirectUpload"), ref("DirectUploadDone")]}),
                },
                **JSON_BODY_ERRORS,
                "413": error_response(
                    "`size` over the tenant's limit or 5 GiB, or the body over 64 KiB (too_large)"
                ),
                "415": error_response(
                    "The declared type is not one the tenant accepts (unsupported_type), the "
                    "name and content_type disagree (type_mismatch), or the body is not JSON"
                ),
                "422": error_response(
                    "Invalid or unknown fields, taxonomy values or X-Silo-* header "
                    "(validation_error), empty file (empty_file), bad Idempotency-Key "
                    "(invalid_idempotency_key) or a key used for another request "
                    "(idempotency_key_reused)"
                ),
                **_AUTH_ERRORS,
            },
        }
    },
    "/uploads/direct/{upload_id}/complete": {
        "parameters": [_UPLOAD_ID],
        "post": {
            "summary": "Verify the uploaded object; it becomes the file (scope: write)",
            "parameters": list(ACTING_USER_PARAMETERS),
            "responses": {
                "201": {
                    "description": "Stored: the file object (only its id to a write-only key)",
                    "headers": {"Location": {"schema": {"type": "string"}}},
                    **json_content({"anyOf": [ref("File"), ref("FileReceipt")]}),
                },
                "200": {
                    "description": "Already completed: the same file",
                    "headers": {"Location": {"schema": {"type": "string"}}},
                    **json_content({"anyOf": [ref("File"), ref("FileReceipt")]}),
                },
                "404": error_response("Unknown, expired or refused upload"),
                "409": error_response("Nothing was uploaded yet (not_uploaded)"),
                "415": error_response(
                    "The content is not of an accepted type (unsupported_type) or disagrees "
                    "with the name or declared type (type_mismatch); the object was deleted"
                ),
                "422": error_response(
                    "The object is not the declared size (size_mismatch) or sha256 "
                    "(sha256_mismatch), or a label was deleted meanwhile (validation_error): "
                    "the object was deleted; or a bad X-Silo-* header (validation_error)"
                ),
                "423": error_response("Another request is completing it (upload_locked)"),
                **_AUTH_ERRORS,
            },
        },
    },
}


def extend(document: dict[str, Any]) -> dict[str, Any]:
    """Add /uploads/direct, and Idempotency-Key to POST /files and POST /uploads (in place)."""
    document["paths"].update(PATHS)
    document["components"]["schemas"].update(SCHEMAS)
    files = document["paths"]["/files"]["post"]
    files.setdefault("parameters", []).append(IDEMPOTENCY_KEY)
    files["responses"]["200"] = {
        **files["responses"]["201"],
        "description": "An Idempotency-Key replay: the file the key's first request stored "
        "(nothing stored again)",
        "headers": {**files["responses"]["201"]["headers"], **REPLAYED},
    }
    files["responses"]["422"]["description"] += (
        "; a bad Idempotency-Key (invalid_idempotency_key) or one used for another request "
        "(idempotency_key_reused)"
    )
    tus = document["paths"]["/uploads"]["post"]
    tus["parameters"].append(IDEMPOTENCY_KEY)
    tus["responses"]["200"] = {
        "description": "An Idempotency-Key replay of an upload already stored as a file",
        "headers": {
            "Location": {"schema": {"type": "string"}},
            "Silo-File-Id": {"schema": {"type": "string", "format": "uuid"}},
            **REPLAYED,
        },
    }
    tus["responses"]["422"]["description"] += (
        "; a bad Idempotency-Key (invalid_idempotency_key) or one used for another request "
        "(idempotency_key_reused)"
    )
    return document
