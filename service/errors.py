"""Every error the API returns, in one place: each `APIError` class below is one row of the
table of codes (status, code, default message). Codes are part of the contract.

Two kinds of exception reach the client, and `from_exception` is the one translation:

- `APIError`, raised where a request is parsed (inputs, multipart, the upload pipeline,
  metadata): it already is the answer;
- `DomainError`, raised by the domain modules (files, taxonomy, filters, stats, the acting
  user), which know nothing of HTTP: each class names the `APIError` it becomes.

Failures of the dependencies (PostgreSQL, object storage) become 503s; anything else is a 500
that shows only the request id. `render` writes the one body shape
`{"error": {"code", "message", "request_id", "tenant"}}`.
"""

from __future__ import annotations

from collections.abc import Mapping

import psycopg
import psycopg_pool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from service.storage import StorageError

REQUEST_ID_HEADER = "X-Request-Id"


class APIError(Exception):
    status: int = 500
    code: str = "internal_error"
    message: str = "internal error"

    def __init__(self, message: str | None = None, *, headers: Mapping[str, str] | None = None):
        self.message = message or type(self).message
        self.headers = dict(headers or {})
        super().__init__(self.message)


# 400
class BadRequest(APIError):
    status, code, message = 400, "bad_request", "bad request"


class InvalidParameter(BadRequest):
    code, message = "invalid_parameter", "invalid query parameter"


class InvalidCursor(BadRequest):
    code, message = "invalid_cursor", "the cursor is not one this API issued"


class InvalidJSON(BadRequest):
    code, message = "invalid_json", "the body is not valid JSON"


class MalformedBody(BadRequest):
    code, message = "malformed_body", "the multipart body is malformed"


class ClientDisconnected(BadRequest):
    # Nobody reads this response; it exists so the pipeline can unwind through one path.
    code, message = "client_disconnected", "the client went away before the body was complete"


# 401, 403, 404, 405
class Unauthorized(APIError):
    status, code, message = 401, "unauthorized", "a valid API key is required"

    def __init__(self, message: str | None = None):
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer realm="silo"'})


class Forbidden(APIError):
    status, code, message = 403, "forbidden", "this API key lacks the required scope"


class CrossSiteRequest(Forbidden):
    # The console (service/console/): a form or upload request without the session's CSRF
    # token, or one the browser says came from another site.
    code = "csrf_failed"
    message = "this form is out of date or came from another site; reload the page and try again"


class NotFound(APIError):
    status, code, message = 404, "not_found", "not found"


class MethodNotAllowed(APIError):
    status, code, message = 405, "method_not_allowed", "method not allowed"


# 408, 409
class RequestTimeout(APIError):
    status, code, message = 408, "request_timeout", "the request body stopped arriving"

    def __init__(self, message: str | None = None):
        super().__init__(message, headers={"Connection": "close"})


class AlreadyExists(APIError):
    status, code, message = 409, "already_exists", "an entry with this name already exists"


class InUse(APIError):
    status, code, message = 409, "in_use", "the entry is still used by files"


class OffsetMismatch(APIError):
    status, code, message = 409, "offset_mismatch", "Upload-Offset is not the upload's offset"


class NotUploaded(APIError):
    # Direct uploads: `complete` before the PUT to the presigned URL has stored anything.
    status, code = 409, "not_uploaded"
    message = "nothing has been uploaded to this upload's URL yet"


class ScanPending(APIError):
    status, code = 409, "scan_pending"
    message = "the file has not been found clean by the malware scan (yet); retry later"


# 410
class Infected(APIError):
    status, code = 410, "infected"
    message = "the file was found infected by the malware scan and is not served"


# 412 (tus)
class TusVersionUnsupported(APIError):
    status, code, message = 412, "tus_version_unsupported", "this server speaks tus 1.0.0"


# 413, 415
class TooLarge(APIError):
    status, code, message = 413, "too_large", "the upload exceeds the size limit"


class UnsupportedMediaType(APIError):
    status, code = 415, "unsupported_media_type"
    message = "the request body must be multipart/form-data"


class UnsupportedEncoding(APIError):
    status, code = 415, "unsupported_encoding"
    message = "request bodies must not be content-encoded (no Content-Encoding)"


class UnsupportedType(APIError):
    status, code, message = 415, "unsupported_type", "this type of file is not accepted"


class TypeMismatch(APIError):
    status, code, message = 415, "type_mismatch", "the content does not match the declared type"


# 422
class ValidationFailed(APIError):
    status, code, message = 422, "validation_error", "invalid request"


class EmptyFile(ValidationFailed):
    code, message = "empty_file", "the file is empty"


class SizeMismatch(ValidationFailed):
    # Direct uploads: the stored object is not the size the client declared.
    code, message = "size_mismatch", "the uploaded object is not the declared size"


class Sha256Mismatch(ValidationFailed):
    # Direct uploads: the stored object's sha256 is not the one the client declared.
    code, message = "sha256_mismatch", "the uploaded object's sha256 is not the declared one"


class InvalidIdempotencyKey(ValidationFailed):
    code = "invalid_idempotency_key"
    message = "Idempotency-Key must be 1 to 255 visible ASCII characters"


class IdempotencyKeyReused(ValidationFailed):
    code = "idempotency_key_reused"
    message = "this Idempotency-Key was used for a different request"


# 423, 460 (tus)
class UploadLocked(APIError):
    status, code = 423, "upload_locked"
    message = "the upload is already receiving data in another request"


class ChecksumMismatch(APIError):
    # 460 is tus's own status (checksum extension); the chunk was discarded.
    status, code, message = 460, "checksum_mismatch", "Upload-Checksum does not match the body"


# 5xx
class InternalError(APIError):
    pass


class Unavailable(APIError):
    status, code, message = 503, "unavailable", "a dependency is unavailable; retry later"


class DatabaseUnavailable(Unavailable):
    code, message = "database_unavailable", "the database is unavailable; retry later"


class StorageUnavailable(Unavailable):
    code, message = "storage_unavailable", "object storage is unavailable; retry later"


class NotReady(Unavailable):
    code, message = "not_ready", "not ready"


class Busy(APIError):
    # Not an `Unavailable` (no dependency failed): the instance is at its upload cap
    # (service/http/admission.py). Refused before any body byte is read; retry after `Retry-After`.
    status, code = 503, "busy"
    message = "this instance is carrying as many uploads as it can; retry later"


class DomainError(Exception):
    """A failure the domain reports in its own terms; `api_error` is how the API shows it."""

    api_error: type[APIError] = BadRequest
    # Response headers the API error carries (e.g. Retry-After).
    headers: Mapping[str, str] = {}

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def request_id(request: Request) -> str:
    return getattr(request.state, "request_id", "") or ""


def render(request: Request, error: APIError) -> JSONResponse:
    rid = request_id(request)
    body: dict = {"error": {"code": error.code, "message": error.message, "request_id": rid}}
    # The lifespan's state (service/state.py) names the tenant; a bare app (no lifespan) does not.
    tenant = getattr(request.state, "tenant", None)
    if tenant is not None:
        # Which tenant answered: support can tell instances apart from a pasted error alone.
        body["error"]["tenant"] = tenant
    headers = {**error.headers, REQUEST_ID_HEADER: rid} if rid else dict(error.headers)
    return JSONResponse(body, status_code=error.status, headers=headers)


# Status -> error for what the router raises itself.
FROM_HTTP_STATUS: Mapping[int, type[APIError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    408: RequestTimeout,
    413: TooLarge,
    415: UnsupportedMediaType,
    422: ValidationFailed,
    503: Unavailable,
}

# A dependency that failed or timed out: the client may retry.
UNAVAILABLE: Mapping[type[Exception], type[APIError]] = {
    psycopg.OperationalError: DatabaseUnavailable,
    psycopg_pool.PoolTimeout: DatabaseUnavailable,
    # Every S3 failure, whatever boto3 raised (service/storage/ translates them).
    StorageError: StorageUnavailable,
}

# Every exception class `from_exception` translates (the app registers one handler for each).
TRANSLATED: tuple[type[Exception], ...] = (APIError, DomainError, HTTPException, *UNAVAILABLE)


def from_exception(exc: BaseException) -> APIError:
    """The API error a raised exception becomes: the one translation, for every route."""
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, DomainError):
        error = exc.api_error(exc.message)
        error.headers.update(exc.headers)
        return error
    if isinstance(exc, HTTPException):
        # What the router raises itself (unknown path, wrong method).
        error = FROM_HTTP_STATUS.get(exc.status_code, BadRequest)()
        error.headers.update(exc.headers or {})
        return error
    for cls, error_class in UNAVAILABLE.items():
        if isinstance(exc, cls):
            return error_class()
    return InternalError()
