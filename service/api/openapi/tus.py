"""The OpenAPI description of the tus 1.0.0 endpoint (/uploads), as far as OpenAPI can say it:
headers in and out, the statuses, the body of PATCH. The protocol itself is tus's
(https://tus.io/protocols/resumable-upload); service/api/tus.py implements it."""

from __future__ import annotations

from typing import Any

from service.api.openapi.common import error_response
from service.api.tus import CHECKSUM_PATTERN, INT_HEADER_MAX, metadata_pattern

OCTET = "application/offset+octet-stream"


def _header(description: str, schema: dict[str, Any] | None = None, *, required=False):
    return {
        "description": description,
        "required": required,
        "schema": schema or {"type": "string"},
    }


def _in(name: str, description: str, schema=None, *, required=False, example=None):
    parameter = {"name": name, "in": "header", **_header(description, schema, required=required)}
    if example is not None:
        parameter["example"] = example
    return parameter


_INT = {"type": "integer", "minimum": 0, "maximum": INT_HEADER_MAX}
_LENGTH = {"type": "integer", "minimum": 1, "maximum": INT_HEADER_MAX}  # an empty file is a 422
_METADATA_SCHEMA = {
    "type": "string",
    "pattern": metadata_pattern(),
    # title "Quarterly report", filename "report.pdf"
    "examples": ["title UXVhcnRlcmx5IHJlcG9ydA==,filename cmVwb3J0LnBkZg=="],
}
_CHECKSUM = {
    "type": "string",
    "pattern": CHECKSUM_PATTERN,
    "examples": [  # of an empty body
        "sha1 2jmj7l5rSw0yVb/vlWAYkK/YBwk=",
        "sha256 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
    ],
}
_TUS_RESUMABLE = _in("Tus-Resumable", "Always `1.0.0`", {"const": "1.0.0"}, required=True)
_UPLOAD_ID = {
    "name": "upload_id",
    "in": "path",
    "required": True,
    "description": "The upload's id, which is also the id of the file it becomes",
    "schema": {"type": "string", "format": "uuid"},
}
_OUT = {
    "Tus-Resumable": _header("`1.0.0`, on every response"),
    "Upload-Offset": _header("Bytes received so far", _INT),
    "Upload-Expires": _header("When the upload expires unless it goes on (HTTP date)"),
}
_FILE_ID = {
    "Silo-File-Id": _header("Once the last byte is in: the id of the file (GET /files/{id})")
}
_ERRORS = {
    "401": error_response("No API key, or an unknown one"),
    "403": error_response("The key lacks the `write` scope"),
    # tus 1.0.0: a request (but OPTIONS) without a Tus-Resumable the server speaks MUST get 412,
    # with Tus-Version, and is not processed.
    "412": {
        **error_response("Tus-Resumable is missing or not 1.0.0 (tus_version_unsupported)"),
        "headers": {"Tus-Version": _header("`1.0.0`, the version this server speaks")},
    },
    "503": error_response("The database or object storage is unavailable"),
}
_BODY_ERRORS = {
    "409": error_response("Upload-Offset is not the upload's offset (offset_mismatch)"),
    "413": error_response("The body goes past Upload-Length (too_large)"),
    "415": error_response(
        "Not application/offset+octet-stream (unsupported_media_type); or the content is of a "
        "type not accepted (unsupported_type) or disagrees with `filetype`/`filename` "
        "(type_mismatch): the upload is then terminated"
    ),
    "423": error_response("Another request is receiving this upload (upload_locked)"),
    "460": error_response("Upload-Checksum does not match the body; it was discarded"),
}
_METADATA = (
    "Comma-separated `key base64(value)` pairs. Keys Silo reads: `filename` (else `name`), "
    "`filetype` (else `type`), `title` (else the file name without its extension), "
    "`description`, `category`, `language`, `roles` (a JSON array of role names), validated as "
    "the fields of POST /files; any other key is accepted and ignored"
)
_CHUNK = {
    "required": True,
    "content": {OCTET: {"schema": {"type": "string", "format": "binary"}}},
}
_OPTIONS = {
    "summary": "What this server speaks (tus discovery; no key needed)",
    "security": [],
    "responses": {
        "204": {
            "description": "Capabilities",
            "headers": {
                "Tus-Version": _header("`1.0.0`"),
                "Tus-Extension": _header(
                    "`creation,creation-with-upload,termination,expiration,checksum`"
                ),
                "Tus-Max-Size": _header("The tenant's upload limit in bytes", _INT),
                "Tus-Checksum-Algorithm": _header("`sha1,sha256`"),
            },
        }
    },
}

PATHS: dict[str, Any] = {
    "/uploads": {
        "options": _OPTIONS,
        "post": {
            "summary": "Create a resumable upload (tus creation; scope: write)",
            "description": (
                "With Content-Type application/offset+octet-stream the body is the first chunk "
                "(creation-with-upload)."
            ),
            "parameters": [
                _TUS_RESUMABLE,
                _in("Upload-Length", "The file's size in bytes", _LENGTH, required=True),
                # Required: `title` is (a missing header is a 422, like a missing title).
                _in(
                    "Upload-Metadata",
                    _METADATA,
                    _METADATA_SCHEMA,
                    required=True,
                    example=_METADATA_SCHEMA["examples"][0],
                ),
                _in(
                    "Upload-Checksum",
                    "`sha1|sha256 <base64 digest>` of the body, if any",
                    _CHECKSUM,
                    example=_CHECKSUM["examples"][1],
                ),
            ],
            "requestBody": {"required": False, "content": _CHUNK["content"]},
            "responses": {
                "201": {
                    "description": "Created",
                    "headers": {
                        "Location": _header("/uploads/{upload_id}"),
                        **_OUT,
                        **_FILE_ID,
                    },
                },
                "400": error_response(
                    "Upload-Length missing or invalid, bad Upload-Metadata or Upload-Checksum"
                ),
                "413": error_response("Upload-Length is over the tenant's limit (too_large)"),
                "422": error_response(
                    "Invalid metadata or no Upload-Metadata (validation_error), empty file"
                ),
                **_BODY_ERRORS,
                **_ERRORS,
            },
        },
    },
    "/uploads/{upload_id}": {
        "parameters": [_UPLOAD_ID],
        "options": {
            **_OPTIONS,
            "responses": {
                **_OPTIONS["responses"],
                "404": error_response("upload_id is not a UUID"),
            },
        },
        "head": {
            "summary": "Where the upload stands (scope: write)",
            "parameters": [_TUS_RESUMABLE],
            "responses": {
                "200": {
                    "description": "Its offset; Upload-Offset = Upload-Length once complete",
                    "headers": {
                        **_OUT,
                        "Upload-Length": _header("The file's size", _INT),
                        "Upload-Metadata": _header("As sent at creation"),
                        **_FILE_ID,
                    },
                },
                "404": {"description": "Unknown, terminated or expired"},
                **_ERRORS,
            },
        },
        "patch": {
            "summary": "Append a chunk at Upload-Offset (scope: write)",
            "parameters": [
                _TUS_RESUMABLE,
                _in("Upload-Offset", "Where the chunk starts", _INT, required=True),
                _in(
                    "Upload-Checksum",
                    "`sha1|sha256 <base64 digest>` of the chunk",
                    _CHECKSUM,
                    example=_CHECKSUM["examples"][1],
                ),
            ],
            "requestBody": _CHUNK,
            "responses": {
                "204": {"description": "Appended", "headers": {**_OUT, **_FILE_ID}},
                "400": error_response("Upload-Offset missing, bad Upload-Checksum"),
                "404": error_response("Unknown, terminated or expired"),
                **_BODY_ERRORS,
                **_ERRORS,
            },
        },
        "delete": {
            "summary": "Terminate: nothing of the upload is left (scope: write)",
            "parameters": [_TUS_RESUMABLE],
            "responses": {
                "204": {"description": "Terminated"},
                "404": error_response("Unknown, terminated or expired"),
                "423": error_response("A request is receiving this upload (upload_locked)"),
                **_ERRORS,
            },
        },
    },
}


def extend(document: dict[str, Any]) -> dict[str, Any]:
    """Add the /uploads paths (in place)."""
    document["paths"].update(PATHS)
    return document
