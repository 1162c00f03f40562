"""Schemathesis hooks for tests/service/test_schemathesis.py (loaded through SCHEMATHESIS_HOOKS).

The OpenAPI document states every rule a schema can state: lengths, patterns, enums, formats,
required and unknown fields, every status code. A few rules are about the tenant's data or about
several values at once, which no schema can state; a schema-valid request that breaks one of them
is refused with a documented 4xx, and schemathesis's `positive_data_acceptance` check reports that
as "schema-valid request rejected". Exactly those refusals, recognised by status, code and the
service's own message, are dropped here; every other failure of every check stands.
"""

from __future__ import annotations

import json
import os
import re

import schemathesis

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
)


def is_semantic_refusal(status: int, body: bytes) -> bool:
    try:
        error = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        return False
    message = str(error.get("message", ""))
    return any(
        status == want_status
        and error.get("code") == want_code
        and (pattern is None or pattern.search(message))
        for want_status, want_code, pattern in SEMANTIC_REFUSALS
    )


@schemathesis.hook
def filter_failure(ctx, failure, case, response) -> bool:
    """Keep every failure except a schema-valid request refused for a semantic rule above."""
    if getattr(failure, "code", None) != "ST202":
        return True
    if not is_semantic_refusal(response.status_code, response.content):
        return True
    log = os.environ.get("SILO_SCHEMATHESIS_DROPPED")
    if log:  # to review what was dropped: one line per refusal
        with open(log, "a", encoding="utf-8") as out:
            out.write(f"{case.operation.label} {response.status_code} {response.text[:300]}\n")
    return False
