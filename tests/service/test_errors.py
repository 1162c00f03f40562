"""service/errors.py: the table of codes and the one translation from exceptions to API errors."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import psycopg_pool
import pytest
from starlette.exceptions import HTTPException

from service import errors
from service.files import filters as file_filters
from service.files import taxonomy
from service.files.acting_user import InvalidActingUser
from service.stats import report as stats
from service.storage import StorageError

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def _api_error_classes() -> list[type[errors.APIError]]:
    found, todo = [], [errors.APIError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (taxonomy.InvalidValue("category", "x"), 422, "validation_error"),
        (taxonomy.NotFound("no such role"), 404, "not_found"),
        (taxonomy.Conflict("taken"), 409, "already_exists"),
        (taxonomy.InUse("used"), 409, "in_use"),
        (file_filters.InvalidFilter("role", "unknown role"), 422, "validation_error"),
        (file_filters.MalformedFilter("uploaded_after", "not a date"), 400, "invalid_parameter"),
        (stats.InvalidRange("from", "`from` is after `to`"), 422, "validation_error"),
        (InvalidActingUser("X-Silo-Country", "bad country"), 422, "validation_error"),
        (psycopg.OperationalError("down"), 503, "database_unavailable"),
        (psycopg_pool.PoolTimeout("busy"), 503, "database_unavailable"),
        (StorageError("gone"), 503, "storage_unavailable"),
        (HTTPException(405), 405, "method_not_allowed"),
        (errors.TooLarge(), 413, "too_large"),
        (KeyError("a bug"), 500, "internal_error"),
    ],
)
def test_every_exception_becomes_one_api_error(exc, status, code):
    error = errors.from_exception(exc)
    assert (error.status, error.code) == (status, code)
    if isinstance(exc, errors.DomainError):
        assert error.message == exc.message  # the domain's words reach the client
    if status == 500:
        assert "a bug" not in error.message  # internals do not


def test_codes_are_unique_and_all_in_the_api_docs_error_table():
    classes = _api_error_classes()
    codes = {cls.code for cls in classes}
    own = [cls.code for cls in classes if "code" in vars(cls)]
    assert len(own) == len(set(own)), "a code is defined twice"
    table = API_DOC.read_text().split("| status | codes |", 1)[1].split("\n\n", 1)[0]
    documented = set(re.findall(r"`([a-z0-9_]+)`", table))
    # Generic fallbacks, and the one answer nobody reads (the client has gone).
    missing = codes - documented - {"internal_error", "unavailable", "client_disconnected"}
    assert not missing, f"codes missing from the error table of docs/api.md: {missing}"
