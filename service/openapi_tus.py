"""The OpenAPI description of the tus 1.0.0 endpoint (/uploads), as far as OpenAPI can say it:
headers in and out, the statuses, the body of PATCH. The protocol itself is tus's
(https://tus.io/protocols/resumable-upload); service/tus.py implements it."""

from __future__ import annotations

from typing import Any

from service.openapi_taxonomy_stats import error_response

OCTET = "application/offset+octet-stream"


def _header(description: str, schema: dict[str, Any] | None = None, *, required=False):
    return {
        "description": description,
        "required": required,
        "schema": schema or {"type": "string"},
    }


def _in(name: str, description: str, schema=None, *, required=False) -> dict[str, Any]:
    return {"name": name, "in": "header", **_header(description, schema, required=required)}


_INT = {"type": "integer", "minimum": 0}
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
    "412": error_response("Tus-Resumable is not 1.0.0 (tus_version_unsupported)"),
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
    "Comma-separated `key base64(value)` pairs. Keys: `filename`, `filetype`, `title` "
    "(required), `description`, `category`, `language`, `roles` (a JSON array of role names); "
    "validated as the fields of POST /files"
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
                _in("Upload-Length", "The file's size in bytes", _INT, required=True),
                _in("Upload-Metadata", _METADATA),
                _in("Upload-Checksum", "`sha1|sha256 <base64 digest>` of the body, if any"),
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
                "400": error_response("Upload-Length missing or invalid, bad Upload-Metadata"),
                "413": error_response("Upload-Length is over the tenant's limit (too_large)"),
                "422": error_response("Invalid metadata (validation_error), empty file"),
                **_BODY_ERRORS,
                **_ERRORS,
            },
        },
    },
    "/uploads/{upload_id}": {
        "parameters": [_UPLOAD_ID],
        "options": _OPTIONS,
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
                _in("Upload-Checksum", "`sha1|sha256 <base64 digest>` of the chunk"),
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
