"""What `silo import` reads: a list of `Item`s (one per file, with the metadata it will carry)
and, for each, its bytes as a stream of chunks, from any offset (a resumed tus upload starts
mid-file). Two kinds: a directory (`DirectorySource`, here) and a Pack deployment
(`provisioning.importer.pack.PackSource`).

Bytes are only ever streamed: `chunks` yields pieces of at most `CHUNK_BYTES`, so memory per
upload stays at one piece whatever the file size.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

CHUNK_BYTES = 1024 * 1024
MANIFEST_FIELDS = ("path", "title", "description", "category", "language", "roles")
# A CSV manifest's `roles` cell holds several names separated by this (role names have `/`).
CSV_ROLE_SEPARATOR = ";"
# The tenant's limit on a title (service/files/metadata.py TITLE_MAX).
TITLE_MAX = 200


def default_title(filename: str) -> str:
    """A file's title when the source gives none: the console's rule (`defaultTitle` in
    service/console/static/upload.js), the name without its last extension, at most TITLE_MAX
    characters: `handbook.pdf` -> `handbook`, `notes.tar.gz` -> `notes.tar`, `.env` -> `.env`.
    tests/provisioning/importer/test_parts.py runs both on the same names."""
    dot = filename.rfind(".")
    return (filename[:dot] if dot > 0 else filename)[:TITLE_MAX]


@dataclass(frozen=True)
class Item:
    """One file to import. `source_id` is stable across runs and independent of the tenant:
    the journal and the Idempotency-Key are keyed by it."""

    source_id: str
    label: str  # how the report names it (a relative path, a Pack id and key)
    filename: str
    size: int | None  # None until known (a Pack object's size comes from its HEAD)
    title: str
    description: str | None = None
    category: str | None = None
    language: str | None = None
    roles: tuple[str, ...] = ()
    content_type: str | None = None
    uploaded_by: str | None = None
    # False when `title` is `default_title(filename)`, not the source's: a rerun compares only
    # what the source says with the tenant's metadata.
    title_given: bool = True
    # Set when the item cannot be imported at all (a manifest row naming no file): reported as
    # failed with this reason, nothing sent.
    problem: str | None = None
    extra: dict = field(default_factory=dict, compare=False, hash=False)


class Source(Protocol):
    identity: str  # what the journal's header records (a directory's path, a Pack provider)

    def items(self) -> list[Item]: ...

    def chunks(self, item: Item, offset: int = 0) -> Iterator[bytes]: ...

    def default_journal(self, target_tag: str) -> Path: ...


class SourceError(RuntimeError):
    """The source cannot be read at all (a bad manifest, a missing directory): stop at once."""


class ItemChanged(Exception):
    """This file is no longer what was listed or hashed (swapped for a link or another file,
    edited while imported): it fails, with this message as the reason; the import goes on."""


# --- a directory --------------------------------------------------------------------------------


def _kind(value: object) -> str:
    kinds = {bool: "true/false", int: "a number", float: "a number", list: "a list"}
    return {**kinds, dict: "an object", type(None): "null"}.get(type(value), type(value).__name__)


def _cell(value: object, where: str, name: str) -> str | None:
    """A text field: a string (blank is none) or null. Anything else (a number, a list) is a
    mistake in the manifest, refused rather than turned into text."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise SourceError(f"{where}: `{name}` must be a string, not {_kind(value)} ({value!r})")
    return value.strip() or None


def _roles(value: object, where: str) -> tuple[str, ...]:
    """A list of names (JSON Lines) or one `;`-separated string (a CSV cell, or JSON). Every
    list item must be a non-blank string: a null or a number is refused, never dropped."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return tuple(n.strip() for n in value.split(CSV_ROLE_SEPARATOR) if n.strip())
    if not isinstance(value, list):
        raise SourceError(
            f"{where}: `roles` must be a list of names or a `;`-separated string, "
            f"not {_kind(value)} ({value!r})"
        )
    names = []
    for n, name in enumerate(value, 1):
        if not isinstance(name, str) or not name.strip():
            shown = "blank" if isinstance(name, str) else f"{_kind(name)} ({name!r})"
            raise SourceError(f"{where}: `roles` item {n} must be a role name, not {shown}")
        names.append(name.strip())
    return tuple(names)


def read_manifest(path: Path) -> dict[str, dict]:
    """path -> {title, description, category, language, roles}; CSV (with a header row) or
    JSON Lines, told apart by the extension (`.jsonl`/`.ndjson` are JSON Lines)."""
    rows: list[tuple[str, dict]] = []
    try:
        if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
            with path.open(encoding="utf-8") as f:
                for number, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise SourceError(f"{path}:{number}: not JSON ({exc.msg})") from None
                    if not isinstance(row, dict):
                        raise SourceError(f"{path}:{number}: each line must be a JSON object")
                    rows.append((f"{path}:{number}", row))
        else:
            with path.open(encoding="utf-8-sig", newline="") as f:
                reader = csv.DictReader(f)
                if not reader.fieldnames or "path" not in reader.fieldnames:
                    raise SourceError(
                        f"{path}: a CSV manifest needs a header row with at least `path` "
                        f"(columns: {', '.join(MANIFEST_FIELDS)})"
                    )
                rows.extend((f"{path}:{n}", row) for n, row in enumerate(reader, 2))
    except OSError as exc:
        raise SourceError(f"cannot read the manifest {path}: {exc.strerror}") from None
    out: dict[str, dict] = {}
    for where, row in rows:
        unknown = sorted(set(row) - set(MANIFEST_FIELDS) - {None})
        if unknown:
            raise SourceError(f"{where}: unknown field(s) {', '.join(unknown)}")
        if None in row:
            # csv puts the cells beyond the header under None: a row with more cells than
            # columns (an unquoted comma) has its values shifted into the wrong fields.
            raise SourceError(f"{where}: more cells than the header has columns (quote commas)")
        rel = _cell(row.get("path"), where, "path")
        if rel is None:
            raise SourceError(f"{where}: `path` is required")
        rel = Path(rel).as_posix()
        if rel in out:
            raise SourceError(f"{where}: {rel} is listed twice")
        out[rel] = {
            **{f: _cell(row.get(f), where, f) for f in MANIFEST_FIELDS[1:5]},
            "roles": _roles(row.get("roles"), where),
        }
    return out


class DirectorySource:
    """Every regular file under `root` (recursively, hidden files and directories left out),
    titled by its name unless the manifest says otherwise. Manifest paths are relative to
    `root`; a manifest row whose file is missing is reported as failed."""

    def __init__(self, root: Path, manifest: Path | None = None, exclude: tuple[Path, ...] = ()):
        if not root.is_dir():
            raise SourceError(f"{root} is not a directory")
        self.root = root.resolve()
        self.identity = f"directory {self.root}"
        self.manifest = read_manifest(manifest) if manifest else {}
        # The journal, report and manifest may sit inside the directory: never import them.
        self.exclude = {p.resolve() for p in (*exclude, *([manifest] if manifest else []))}

    def _files(self) -> Iterator[Path]:
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                path = Path(dirpath, name)
                if name.startswith(".") or path.resolve() in self.exclude or not path.is_file():
                    continue
                yield path

    def items(self) -> list[Item]:
        found = {p.relative_to(self.root).as_posix(): p for p in self._files()}
        items = []
        for rel, path in found.items():
            meta = self.manifest.get(rel, {})
            titled = {
                "title": meta.get("title") or default_title(path.name),
                "title_given": bool(meta.get("title")),
            }
            real = path.resolve()
            if not real.is_relative_to(self.root):
                # A link out of the directory (an unpacked export can hold one to ~/.aws or
                # /etc) would send a file nobody chose to import: reported, never read.
                items.append(
                    Item(
                        source_id=f"file:{rel}",
                        label=rel,
                        filename=path.name,
                        size=None,
                        **titled,
                        problem="a symbolic link to a file outside the directory",
                    )
                )
                continue
            listed = real.stat()
            items.append(
                Item(
                    source_id=f"file:{rel}",
                    label=rel,
                    filename=path.name,
                    size=listed.st_size,
                    **titled,
                    description=meta.get("description"),
                    category=meta.get("category"),
                    language=meta.get("language"),
                    roles=meta.get("roles", ()),
                    # What `chunks` opens (a link inside the directory: its target) and the
                    # file it must still be.
                    extra={"path": real, "identity": (listed.st_dev, listed.st_ino)},
                )
            )
        for rel in sorted(set(self.manifest) - set(found)):
            items.append(
                Item(
                    source_id=f"file:{rel}",
                    label=rel,
                    filename=Path(rel).name,
                    size=None,
                    title=self.manifest[rel].get("title") or default_title(Path(rel).name),
                    problem="listed in the manifest but not found in the directory",
                )
            )
        return items

    def chunks(self, item: Item, offset: int = 0) -> Iterator[bytes]:
        """The listed file's bytes, or ItemChanged when its path no longer leads to the file
        that was listed: swapped for a symbolic link (O_NOFOLLOW refuses it, wherever it
        points) or for another file (a rename, a hard link: another inode)."""
        path = item.extra["path"]
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise ItemChanged(
                    "replaced by a symbolic link after it was listed; not read"
                ) from None
            raise
        with open(fd, "rb") as f:
            opened = os.fstat(fd)
            if (opened.st_dev, opened.st_ino) != item.extra["identity"] or not stat.S_ISREG(
                opened.st_mode
            ):
                raise ItemChanged("replaced by another file after it was listed; not read")
            f.seek(offset)
            while piece := f.read(CHUNK_BYTES):
                yield piece

    def default_journal(self, target_tag: str) -> Path:
        """Beside the directory (not in it, where it would be imported)."""
        return self.root.parent / f"{self.root.name}.silo-import-{target_tag}.jsonl"
