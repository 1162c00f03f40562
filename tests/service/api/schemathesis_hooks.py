"""Schemathesis hooks for test_schemathesis.py (loaded through SCHEMATHESIS_HOOKS).

The OpenAPI document states every rule a schema can state: lengths, patterns, enums, formats,
required and unknown fields, every status code. A few rules are about the tenant's data or about
several values at once, which no schema can state; a schema-valid request that breaks one of them
is refused with a documented 4xx, and schemathesis's `positive_data_acceptance` check reports that
as "schema-valid request rejected". Exactly those refusals, recognised by status, code and the
service's own message, are dropped here. So are three reports that are schemathesis's, not the
document's (each explained where it is recognised): tus's mandated 412 for a missing or wrong
Tus-Resumable, which schemathesis does not count as a rejection; a "schema-valid" request whose
header breaks its declared pattern; an extra undeclared header next to an `integer` header.
Every other failure of every check stands. The tus chunk body (application/offset+octet-stream)
is registered here as raw bytes, so that schemathesis can send it.
"""

from __future__ import annotations

import functools
import json
import os
import re

import jsonschema_rs
import schemathesis
from hypothesis import strategies as st
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import CoverageScenario

# (status, error code, message pattern or None for any message)
SEMANTIC_REFUSALS: tuple[tuple[int, str, re.Pattern[str] | None], ...] = (
    # The content of an upload decides its type (magic numbers), not the schema's `string`.
    (415, "unsupported_type", None),
    (415, "type_mismatch", None),
    # Names and codes must be entries of the tenant's taxonomy (GET /categories, ...).
    (422, "validation_error", re.compile(r"is not in the taxonomy|is not a known role")),
    # Well-formed BCP 47 has rules (script, region, extensions) beyond the pattern's shape.
    (422, "validation_error", re.compile(r"is not a BCP 47 language tag")),
    # Two parameters together: an empty range.
    (422, "validation_error", re.compile(r"`from` is after `to`")),
    (422, "validation_error", re.compile(r"`uploaded_before` must be later than")),
    # A cursor is a value this API issued (signed), not any string.
    (400, "invalid_cursor", None),
    # An Idempotency-Key stands for the first request sent with it: two requests at once.
    (422, "idempotency_key_reused", None),
    # A direct upload's `size` over the tenant's limit (a setting, as tus's Tus-Max-Size).
    (413, "too_large", re.compile(r"for a direct upload")),
)
# The same, for the tus operations only (/uploads, /uploads/{upload_id}).
TUS_SEMANTIC_REFUSALS: tuple[tuple[int, str, re.Pattern[str] | None], ...] = (
    # Upload-Metadata's values are base64 in a header: the pattern states the shape, but not that
    # a value decodes to UTF-8, that a key is not repeated, nor the rules of POST /files on the
    # decoded values (`title` required, lengths, taxonomy, ...), which no schema of the encoded
    # string can state.
    (400, "bad_request", re.compile(r"^Upload-Metadata (`.*` is not base64|is malformed)")),
    (422, "validation_error", None),
    # The tenant's size limit is a setting (advertised as Tus-Max-Size), and a body going past
    # Upload-Length is about two values at once.
    (413, "too_large", None),
    # Upload-Checksum is a digest of the body: two values at once.
    (460, "checksum_mismatch", None),
)


# tus (PATCH /uploads/{id}, POST /uploads with creation-with-upload) sends the chunk as raw bytes
# of `application/offset+octet-stream`, a media type schemathesis knows no serializer for: the
# body is any bytes, sent as they are. Small, so that a run stays fast.
schemathesis.openapi.media_type("application/offset+octet-stream", st.binary(max_size=256))

TUS_VERSION = "1.0.0"


def is_tus_version_refusal(case, response) -> bool:
    """tus 1.0.0 (core protocol): a request other than OPTIONS whose `Tus-Resumable` is missing or
    not a version the server speaks MUST be answered 412 Precondition Failed, with `Tus-Version`
    (and the request not processed). The document declares the header (required, `const: 1.0.0`),
    but schemathesis counts only its own list of statuses as a rejection (ST201: 400, 401, 403,
    404, ..., 422; ST203: 400, 401, 403, 406, 415, 422) and 412 is in neither. Only a 412 that
    really is that answer, to a request whose Tus-Resumable really is missing or wrong, is it."""
    if not case.operation.path.startswith("/uploads") or case.method.upper() == "OPTIONS":
        return False
    # Response headers: lowercase names, lists of values.
    if response.status_code != 412 or TUS_VERSION not in response.headers.get("tus-version", []):
        return False
    sent = {name.lower(): value for name, value in (case.headers or {}).items()}
    return sent.get("tus-resumable") != TUS_VERSION


@functools.cache
def declared_headers() -> dict[tuple[str, str], dict[str, tuple[bool, dict]]]:
    """(METHOD, path) -> {header name, lowercase: (required, schema)}, from the document."""
    from service.api.openapi.document import document

    declared: dict[tuple[str, str], dict[str, tuple[bool, dict]]] = {}
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            parameters = [*item.get("parameters", []), *operation.get("parameters", [])]
            declared[(method.upper(), path)] = {
                parameter["name"].lower(): (parameter.get("required", False), parameter["schema"])
                for parameter in parameters
                if parameter["in"] == "header"
            }
    return declared


def _headers_of(case) -> tuple[dict[str, tuple[bool, dict]], dict[str, object]]:
    declared = declared_headers().get((case.method.upper(), case.operation.path), {})
    sent = {name.lower(): value for name, value in (case.headers or {}).items()}
    return declared, sent


def _as_declared(value: object, schema: dict) -> object:
    """A header value as its schema reads it: a header is text on the wire, an integer too."""
    if schema.get("type") == "integer" and isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        return int(value)
    return value


def sent_header_against_its_pattern(case) -> bool:
    """Whether the request carried a header value its declared `pattern` does not match.

    Schemathesis's coverage phase draws no positive value for a header whose pattern needs a
    character beyond [A-Za-z0-9] (Upload-Checksum: `sha256 <base64>`, with a space, `+`, `/`,
    `=`); for an optional one it then seeds the positive cases with its first negative value
    (`0`). Such a request is not schema-valid, so its refusal is no ST202; the document is right.
    """
    declared, sent = _headers_of(case)
    for name, value in sent.items():
        pattern = declared.get(name, (False, {}))[1].get("pattern")
        if pattern is not None and not (isinstance(value, str) and re.search(pattern, value)):
            return True
    return False


def only_unknown_headers_added(case) -> bool:
    """Whether the request's only fault is a header the operation does not declare.

    Schemathesis means to let such a request through (HTTP requests carry many headers an API
    does not declare) by validating the declared headers again without the extra one; but it
    validates the wire text, and an `integer` header (Upload-Length) is text on the wire, so it
    reports a valid tus creation with an extra `x-schemathesis-unknown-property` as ST201."""
    data = getattr(case.meta.phase, "data", None) if case.meta else None
    if getattr(data, "parameter_location", None) != ParameterLocation.HEADER or getattr(
        data, "scenario", None
    ) not in (
        CoverageScenario.OBJECT_UNEXPECTED_PROPERTIES,
        CoverageScenario.OBJECT_ADDITIONAL_PROPERTY,
    ):
        return False
    declared, sent = _headers_of(case)
    if any(required and name not in sent for name, (required, _) in declared.items()):
        return False
    extra = [name for name in sent if name not in declared and name != "authorization"]
    return bool(extra) and all(
        jsonschema_rs.validator_for(schema).is_valid(_as_declared(sent[name], schema))
        for name, (_, schema) in declared.items()
        if name in sent
    )


def is_semantic_refusal(status: int, body: bytes, *, tus: bool = False) -> bool:
    try:
        error = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        return False
    message = str(error.get("message", ""))
    return any(
        status == want_status
        and error.get("code") == want_code
        and (pattern is None or pattern.search(message))
        for want_status, want_code, pattern in (
            SEMANTIC_REFUSALS + TUS_SEMANTIC_REFUSALS if tus else SEMANTIC_REFUSALS
        )
    )


@schemathesis.hook
def filter_failure(ctx, failure, case, response) -> bool:
    """Keep every failure except a schema-valid request refused for a semantic rule above, and
    tus's mandated 412 to a request without a valid Tus-Resumable counted as not rejected."""
    code = getattr(failure, "code", None)
    if code == "ST201":
        dropped = is_tus_version_refusal(case, response) or only_unknown_headers_added(case)
    elif code == "ST203":
        dropped = is_tus_version_refusal(case, response)
    elif code == "ST202":
        tus = case.operation.path in ("/uploads", "/uploads/{upload_id}")
        dropped = sent_header_against_its_pattern(case) or is_semantic_refusal(
            response.status_code, response.content, tus=tus
        )
    else:
        dropped = False
    if not dropped:
        return True
    log = os.environ.get("SILO_SCHEMATHESIS_DROPPED")
    if log:  # to review what was dropped: one line per refusal
        with open(log, "a", encoding="utf-8") as out:
            out.write(f"{case.operation.label} {response.status_code} {response.text[:300]}\n")
    return False
