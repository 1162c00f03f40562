"""A rerun's question: does the tenant's file still carry the metadata the source gives?
`changes(item, file)` answers with the fields to PATCH, compared the way the tenant stores
them (trimmed, NFC, roles in any order). A field the source leaves empty is not compared (an
empty cell never clears what the tenant has), nor is a title the source did not give (the
file-name default)."""

from __future__ import annotations

import unicodedata

from provisioning.importer.sources import Item

FIELDS = ("title", "description", "category", "language", "roles")


def _norm(value: str | None) -> str | None:
    return unicodedata.normalize("NFC", value).strip() if value is not None else None


def changes(item: Item, file: dict) -> dict:
    """The fields whose source value differs from the tenant's file object's, with the
    source's values: {} when they agree."""
    out: dict = {}
    for name in ("title", "description", "category", "language"):
        ours = getattr(item, name)
        if ours is None or (name == "title" and not item.title_given):
            continue
        if _norm(ours) != _norm(file.get(name)):
            out[name] = ours
    if item.roles and sorted(map(_norm, item.roles)) != sorted(map(_norm, file.get("roles") or [])):
        out["roles"] = list(item.roles)
    return out
