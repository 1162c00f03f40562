"""The OpenAPI `File` schema against the file objects the API really returns: the same keys,
and every value of the declared type (POST, GET, PATCH and list responses alike)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

import httpx

from service.api.openapi.document import document
from tests.service.helpers import pdf, upload

_PYTHON_TYPES = {"string": str, "integer": int, "array": list, "object": dict, "null": type(None)}


def check(value, schema: dict, where: str) -> None:
    """The subset of JSON Schema the File schema uses: type (or a list of types), enum,
    pattern, format uuid / date-time, minimum, minLength/maxLength, array items, object
    properties."""
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    assert any(
        isinstance(value, _PYTHON_TYPES[t]) and not (t == "integer" and isinstance(value, bool))
        for t in types
    ), f"{where}: {value!r} is not {types}"
    if value is None:
        return
    if "enum" in schema:
        assert value in schema["enum"], where
    if "pattern" in schema:
        assert re.search(schema["pattern"], value), where
    if schema.get("format") == "uuid":
        uuid.UUID(value)
    if schema.get("format") == "date-time":
        assert datetime.fromisoformat(value).tzinfo is not None, where
    if "minimum" in schema:
        assert value >= schema["minimum"], where
    if "minLength" in schema:
        assert len(value) >= schema["minLength"], where
    if "maxLength" in schema:
        assert len(value) <= schema["maxLength"], where
    if "properties" in schema:
        assert set(value) == set(schema["properties"]) == set(schema["required"]), where
        for key, item in value.items():
            check(item, schema["properties"][key], f"{where}.{key}")
    if "items" in schema:
        for i, item in enumerate(value):
            check(item, schema["items"], f"{where}[{i}]")


def assert_matches_file_schema(file_object: dict) -> None:
    schema = document()["components"]["schemas"]["File"]
    assert set(file_object) == set(schema["properties"]) == set(schema["required"])
    for key, value in file_object.items():
        check(value, schema["properties"][key], key)


def test_every_file_object_matches_the_schema(admin: httpx.Client):
    labelled = upload(admin, pdf(), fields={"title": "labelled", "category": "Skills",
                      "language": "en", "roles": ["Mentor/Coach"]})  # fmt: skip
    bare = upload(admin, pdf(), fields={"title": "bare"})
    assert labelled.status_code == bare.status_code == 201, labelled.text
    for created in (labelled.json(), bare.json()):
        assert_matches_file_schema(created)
        assert_matches_file_schema(admin.get(f"/files/{created['id']}").json())
    # Both shapes occur: labels given and labels absent (nulls, an empty list).
    assert bare.json()["category"] is None and bare.json()["roles"] == []
    patched = admin.patch(f"/files/{bare.json()['id']}", json={"description": "now described"})
    assert_matches_file_schema(patched.json())
    for item in admin.get("/files", params={"limit": 100}).json()["items"]:
        assert_matches_file_schema(item)


def test_the_checker_catches_a_wrong_type():
    schema = document()["components"]["schemas"]["File"]["properties"]
    for value, key in ((1, "title"), ("1", "size"), (["x"], "category"), ("nope", "created_at")):
        try:
            check(value, schema[key], key)
        except (AssertionError, ValueError):
            continue
        raise AssertionError(f"{key}={value!r} passed the check")
