"""The importer's pure parts: taxonomy mapping, manifests, the journal's torn lines, sizes, the
Idempotency-Key, and the progress display on a terminal and off it."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from provisioning.importer import client as api
from provisioning.importer.cli import parse_size
from provisioning.importer.journal import Journal, JournalError
from provisioning.importer.metadata import changes
from provisioning.importer.progress import Progress, eta, human_duration
from provisioning.importer.report import csv_cell, printable
from provisioning.importer.runner import Importer, Options, idempotency_key
from provisioning.importer.sources import (
    DirectorySource,
    Item,
    ItemChanged,
    SourceError,
    default_title,
    read_manifest,
)
from provisioning.importer.taxonomy_map import TenantTaxonomy, plan
from tests.provisioning.importer.conftest import ROOT, run_import

TENANT = TenantTaxonomy(
    categories=["Conflict resolution", "Skills", "Soft skills"],
    languages={"it": "Italiano", "en": "English", "fr": "Français"},
    roles=["Mentor/Coach", "Mentee/Coachee"],
)


def item(**labels) -> Item:
    return Item(source_id="x", label="x", filename="x.pdf", size=1, title="x", **labels)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("it", "it"),
        ("IT", "it"),
        ("Italiano", "it"),  # the tenant's own name
        ("Italian", "it"),  # Pack's English name
        ("italian", "it"),
        ("French", "fr"),
        ("Français", "fr"),
        ("english", "en"),
    ],
)
def test_languages_map_by_code_tenant_name_or_known_name(value, code):
    mapping = plan(TENANT, [item(language=value)])
    assert mapping.missing == []
    assert mapping.apply(item(language=value)).language == code


def test_unmapped_names_are_listed_with_counts_and_codes_when_known():
    items = [
        item(category="Leadership", language="German", roles=("Manager", "mentor/coach")),
        item(category="leadership", language="Klingon"),
        item(category="soft SKILLS", language="en"),
    ]
    mapping = plan(TENANT, items)
    assert [m.describe() for m in mapping.missing] == [
        "category 'Leadership', used by 2 file(s)",
        "language 'German' (code de), used by 1 file(s)",
        "language 'Klingon' (no known code: cannot be created), used by 1 file(s)",
        "role 'Manager', used by 1 file(s)",
    ]
    # What does map is sent in the tenant's spelling.
    assert mapping.apply(items[2]).category == "Soft skills"
    assert mapping.apply(items[0]).roles == ("Manager", "Mentor/Coach")


def test_manifest_csv_and_json_lines(tmp_path):
    csv_file = tmp_path / "m.csv"
    csv_file.write_text(
        "path,title,description,category,language,roles\n"
        'a/b.pdf,Title B,"With, comma",Skills,Italian,Mentor/Coach; Mentee/Coachee\n'
        "c.pdf,,,,,\n"
    )
    assert read_manifest(csv_file) == {
        "a/b.pdf": {
            "title": "Title B",
            "description": "With, comma",
            "category": "Skills",
            "language": "Italian",
            "roles": ("Mentor/Coach", "Mentee/Coachee"),
        },
        "c.pdf": {"title": None, "description": None, "category": None, "language": None,
                  "roles": ()},
    }  # fmt: skip
    jsonl = tmp_path / "m.jsonl"
    jsonl.write_text(json.dumps({"path": "c.pdf", "title": "C", "roles": ["Mentor/Coach"]}) + "\n")
    assert read_manifest(jsonl)["c.pdf"]["roles"] == ("Mentor/Coach",)

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"path": "x", "colour": "red"}\n')
    with pytest.raises(SourceError, match=r"bad.jsonl:1: unknown field\(s\) colour"):
        read_manifest(bad)
    twice = tmp_path / "twice.csv"
    twice.write_text("path,title\nx.pdf,A\nx.pdf,B\n")
    with pytest.raises(SourceError, match=r"twice.csv:3: x.pdf is listed twice"):
        read_manifest(twice)
    shifted = tmp_path / "shifted.csv"
    shifted.write_text("path,title,description\nx.pdf,Hello, world,About x\n")
    with pytest.raises(SourceError, match=r"shifted.csv:2: more cells than the header"):
        read_manifest(shifted)


def test_directory_source_titles_skips_hidden_and_reports_missing_manifest_paths(tmp_path):
    root = tmp_path / "src"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "one.pdf").write_bytes(b"1")
    (root / "two.txt").write_bytes(b"22")
    (root / ".DS_Store").write_bytes(b"x")
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,title\nsub/one.pdf,First\nghost.pdf,Ghost\n")
    items = {i.label: i for i in DirectorySource(root, manifest).items()}
    assert sorted(items) == ["ghost.pdf", "sub/one.pdf", "two.txt"]
    assert items["sub/one.pdf"].title == "First" and items["two.txt"].title == "two"
    assert items["sub/one.pdf"].title_given and not items["two.txt"].title_given
    assert items["ghost.pdf"].problem == "listed in the manifest but not found in the directory"
    source = DirectorySource(root)
    assert b"".join(source.chunks(items["two.txt"], offset=1)) == b"2"
    assert source.default_journal("abcd1234") == tmp_path / "src.silo-import-abcd1234.jsonl"


def test_a_link_out_of_the_directory_is_reported_and_never_read(tmp_path):
    secret = tmp_path / "credentials.txt"
    secret.write_text("aws_secret_access_key = hunter2\n")
    root = tmp_path / "src"
    root.mkdir()
    (root / "kept.txt").write_text("mine\n")
    (root / "inner.txt").symlink_to(root / "kept.txt")  # inside: an ordinary file
    (root / "notes.txt").symlink_to(secret)
    (root / "outside").symlink_to(tmp_path, target_is_directory=True)  # never walked
    items = {i.label: i for i in DirectorySource(root).items()}
    assert sorted(items) == ["inner.txt", "kept.txt", "notes.txt"]
    assert items["inner.txt"].problem is None
    assert items["notes.txt"].problem == "a symbolic link to a file outside the directory"
    assert "path" not in items["notes.txt"].extra


def test_journal_survives_a_torn_last_line_and_refuses_another_target(tmp_path):
    path = tmp_path / "j.jsonl"
    journal = Journal(path, target="http://a", source="dir")
    journal.record("file:a", "tus", url="http://a/uploads/1", sha256="aa")
    journal.record("file:a", "failed", reason="503")
    journal.record("file:b", "done", file_id="f-b", replayed=False)
    journal.close()
    with path.open("a") as f:
        f.write('{"id": "file:c", "ev')  # killed mid-write
    again = Journal(path, target="http://a", source="dir")
    a = again.get("file:a")
    assert (a.url, a.sha256, a.done) == ("http://a/uploads/1", "aa", False)  # kept past a failure
    assert again.get("file:b").done and again.get("file:c") is None
    again.record("file:c", "done", file_id="f-c")
    again.close()
    reread = Journal(path, target="http://a", source="dir")
    assert reread.get("file:c").file_id == "f-c"
    reread.close()
    with pytest.raises(JournalError, match="records an import with target 'http://a'"):
        Journal(path, target="http://b", source="dir")


def test_sizes_and_idempotency_keys():
    assert parse_size("64M") == 64 * 1024**2
    assert parse_size("512KiB") == 512 * 1024
    assert parse_size("1G") == 1024**3
    assert parse_size("100") == 100
    key = idempotency_key("file:a.pdf", "ab" * 32)
    assert (
        key == idempotency_key("file:a.pdf", "ab" * 32) != idempotency_key("file:b.pdf", "ab" * 32)
    )
    assert 1 <= len(key) <= 255 and key.isascii() and key.isprintable() and " " not in key


def test_progress_plain_lines_and_live_bar():
    plain = io.StringIO()
    progress = Progress(2, 2048, plain, live=False, interval=60)
    progress.add_bytes(1024)
    progress.file_done()
    assert progress.line().startswith("1/2 files, 1.0 KiB/2.0 KiB, ")
    progress.file_done(failed=True, unsent=1024)
    progress.start().stop()
    assert plain.getvalue() == "import: 2/2 files, 1 failed, 1.0 KiB/1.0 KiB, 0 B/s, ETA 0s\n"

    live = io.StringIO()
    bar = Progress(4, 4096, live, live=True, interval=60)
    bar.add_bytes(2048)
    bar.start().stop()
    text = live.getvalue()
    assert text.startswith("\r[") and "] 0/4 files, 2.0 KiB/4.0 KiB, " in text
    # Drawn at once: too soon for an ETA, so none (not a guess from the first bytes).
    assert "ETA" not in text and text.endswith("\n")


class FlakyDirect(api.SiloClient):
    """A tenant whose direct-upload completion fails with the given codes first."""

    def __init__(self, complete_failures: list[str]) -> None:
        super().__init__("http://127.0.0.1:9", "unused-key")
        self.direct_supported = True
        self.failures = list(complete_failures)
        self.puts = self.completes = 0

    def direct_start(self, item, size, sha256, idempotency_key):
        return {"id": "u-1", "method": "PUT", "url": "http://127.0.0.1:9/x", "headers": {}}

    def direct_put(self, grant, size, body):
        self.puts += 1
        assert sum(len(piece) for piece in body) == size

    def direct_complete(self, upload_id):
        self.completes += 1
        if self.failures:
            code = self.failures.pop(0)
            raise api.Transient(f"{code}", code=code, retry_after=0)
        return api.Stored("f-1", replayed=False)


@pytest.mark.parametrize(
    ("failures", "puts"),
    [
        (["upload_locked", "busy"], 1),  # the bytes are there: only the completion is retried
        (["not_uploaded"], 2),  # nothing landed: PUT again
    ],
)
def test_a_failed_completion_is_retried_without_a_second_put_unless_nothing_landed(
    tmp_path, failures, puts
):
    root = tmp_path / "src"
    root.mkdir()
    (root / "a.pdf").write_bytes(b"%PDF-1.7\n" + b"x" * 1000)
    source = DirectorySource(root)
    (item,) = source.items()
    client = FlakyDirect(failures)
    journal = Journal(tmp_path / "j.jsonl", target="t", source=source.identity)
    importer = Importer(source, client, journal, Options(), out=io.StringIO(), err=io.StringIO())
    outcome = importer._import(item, lambda n: None, lambda to: None)
    journal.close()
    assert (outcome.status, outcome.file_id, outcome.via) == ("imported", "f-1", "direct")
    assert (client.puts, client.completes) == (puts, len(failures) + 1)


# --- issue 21 item 13 and issue 24 item 5 --------------------------------------------------------

CONSOLE_JS = ROOT / "service" / "console" / "static" / "upload.js"
TITLE_EXAMPLES = {
    "handbook.pdf": "handbook",
    "lesson-03.pdf": "lesson-03",
    "notes.tar.gz": "notes.tar",
    "README": "README",
    ".env": ".env",
    "v1.2 draft.docx": "v1.2 draft",
    "trailing.": "trailing",
    "Übung é.txt": "Übung é",
    "x" * 250 + ".pdf": "x" * 200,
}


def test_default_title_is_the_consoles_rule():
    """The importer cannot import the console's rule (it is JavaScript, and provisioning does
    not import the service): both run on the same names and must agree."""
    assert {name: default_title(name) for name in TITLE_EXAMPLES} == TITLE_EXAMPLES
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "node is not installed: run `uv run silo test` (it installs Node) or install Node 20+"
        )
    function = re.search(
        r"^  function defaultTitle\(name\) \{\n.*?^  \}$", CONSOLE_JS.read_text(), re.M | re.S
    )
    assert function, f"defaultTitle is no longer in {CONSOLE_JS}"
    script = (
        function.group(0)
        + "\nconst names = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        + "\nprocess.stdout.write(JSON.stringify(names.map(defaultTitle)));"
    )
    names = list(TITLE_EXAMPLES)
    out = subprocess.run(
        [node, "-e", script], input=json.dumps(names), capture_output=True, text=True, check=True
    ).stdout
    assert dict(zip(names, json.loads(out), strict=True)) == TITLE_EXAMPLES


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ({"roles": [1, None, "X"]}, r"`roles` item 1 must be a role name, not a number \(1\)"),
        ({"roles": ["X", None]}, r"`roles` item 2 must be a role name, not null"),
        ({"roles": ["X", " "]}, r"`roles` item 2 must be a role name, not blank"),
        ({"roles": [["X"]]}, r"`roles` item 1 must be a role name, not a list"),
        ({"roles": {"X": 1}}, r"`roles` must be a list of names .* not an object"),
        ({"roles": 3}, r"`roles` must be a list of names .* not a number"),
        ({"title": 12}, r"`title` must be a string, not a number \(12\)"),
        ({"description": ["x"]}, r"`description` must be a string, not a list"),
        ({"category": True}, r"`category` must be a string, not true/false"),
        ({"language": {"code": "it"}}, r"`language` must be a string, not an object"),
        ({"path": 7}, r"`path` must be a string, not a number \(7\)"),
    ],
)  # fmt: skip
def test_json_lines_of_the_wrong_type_are_refused_naming_line_and_field(tmp_path, line, message):
    manifest = tmp_path / "m.jsonl"
    good = {"path": "ok.pdf", "title": "OK", "roles": ["Mentor/Coach"]}
    manifest.write_text(json.dumps(good) + "\n" + json.dumps({"path": "a.pdf", **line}) + "\n")
    with pytest.raises(SourceError, match=r"m\.jsonl:2: " + message):
        read_manifest(manifest)


def test_silo_import_stops_on_a_wrong_type_before_sending_anything(tmp_path):
    (tmp_path / "src").mkdir()
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"path": "a.pdf", "roles": [1, null, "X"]}\n')
    done = run_import("http://127.0.0.1:9", tmp_path / "src", "--manifest", manifest)
    assert done.returncode == 2
    assert done.stderr == (
        f"silo import: {manifest}:1: `roles` item 1 must be a role name, not a number (1)\n"
    )


def test_a_file_swapped_after_listing_is_not_read(tmp_path):
    secret = tmp_path / "credentials.txt"
    secret.write_text("aws_secret_access_key = hunter2\n")
    root = tmp_path / "src"
    root.mkdir()
    for name in ("link.txt", "other.txt", "kept.txt"):
        (root / name).write_text("x" * len(secret.read_text()))
    (root / "inner.txt").symlink_to(root / "kept.txt")  # a link inside, listed as a file
    source = DirectorySource(root)
    items = {i.label: i for i in source.items()}
    (root / "link.txt").unlink()
    (root / "link.txt").symlink_to(secret)  # same size, outside
    (root / "other.txt").unlink()
    os.link(secret, root / "other.txt")  # a hard link: no symbolic link to refuse, another inode
    with pytest.raises(ItemChanged, match="replaced by a symbolic link after it was listed"):
        b"".join(source.chunks(items["link.txt"]))
    with pytest.raises(ItemChanged, match="replaced by another file after it was listed"):
        b"".join(source.chunks(items["other.txt"]))
    assert b"".join(source.chunks(items["inner.txt"])) == (root / "kept.txt").read_bytes()


def test_durations_and_no_eta_until_the_window_holds_enough():
    assert [human_duration(s) for s in (0, 9.9, 59, 60, 192, 3599, 3600, 7530)] == [
        "0s", "9s", "59s", "1m00s", "3m12s", "59m59s", "1h00m", "2h05m",
    ]  # fmt: skip
    mib = 1024 * 1024
    assert eta(0, 0.0, 0) == "0s"  # nothing left: done, whatever the rate
    assert eta(100 * mib, 0.25, 4 * mib) is None  # the first update: a burst, no estimate
    assert eta(100 * mib, 10.0, 100 * 1024) is None  # seconds, but too few bytes
    assert eta(100 * mib, 2.9, 10 * mib) is None
    assert eta(100 * mib, 4.0, 2 * mib) == "3m20s"  # 0.5 MiB/s
    assert eta(10 * 1024 * mib, 10.0, 10 * mib) == "2h50m"
    first = io.StringIO()
    progress = Progress(1, 100 * mib, first, live=False, interval=60)
    progress.add_bytes(4 * mib)
    assert "ETA" not in progress.line()  # was `ETA 18:47`-like: a clock-looking guess


def test_names_are_printable_and_never_formulas_in_the_report(tmp_path):
    assert printable("plain é.pdf") == "plain é.pdf"
    assert printable("evil\x1b[2J.txt") == "evil\\x1b[2J.txt"
    assert printable("a\nb\u202ec\x85") == "a\\nb\\u202ec\\x85"
    assert [csv_cell(c) for c in ("=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "ok", "")] == [
        "'=1+2", "'+1", "'-1", "'@SUM(A1)", "\\tx", "\\rx", "ok", "",
    ]  # fmt: skip


def test_metadata_changes_compare_what_the_source_gives():
    base = Item(source_id="s", label="a.pdf", filename="a.pdf", size=1, title="A")
    tenant = {"title": "A", "description": "kept", "category": "Skills", "language": "it",
              "roles": ["Mentor/Coach", "Mentee/Coachee"]}  # fmt: skip
    assert changes(base, tenant) == {}  # what the source leaves empty is not compared
    same = replace(base, title=" A ", roles=("Mentee/Coachee", "Mentor/Coach"))
    assert changes(same, tenant) == {}
    moved = replace(base, title="A2", description="new", category="Skills", roles=("Mentor/Coach",))
    want = {"title": "A2", "description": "new", "roles": ["Mentor/Coach"]}
    assert changes(moved, tenant) == want
    defaulted = replace(base, title="a", title_given=False)
    assert changes(defaulted, {**tenant, "title": "a.pdf"}) == {}  # a default is not the source's


class EditedWhileSent(FlakyDirect):
    """The file is edited in place (same size) after it was hashed, before its PUT."""

    def __init__(self, path: Path) -> None:
        super().__init__([])
        self.path = path

    def direct_start(self, item, size, sha256, idempotency_key):
        with self.path.open("r+b") as f:
            f.seek(-4, os.SEEK_END)
            f.write(b"EDIT")
        return super().direct_start(item, size, sha256, idempotency_key)


def test_a_direct_upload_edited_after_hashing_is_reported_changed_and_never_completed(tmp_path):
    root = tmp_path / "src"
    root.mkdir()
    (root / "a.pdf").write_bytes(b"%PDF-1.7\n" + b"x" * 1000)
    source = DirectorySource(root)
    (item,) = source.items()
    client = EditedWhileSent(root / "a.pdf")
    journal = Journal(tmp_path / "j.jsonl", target="t", source=source.identity)
    importer = Importer(source, client, journal, Options(), out=io.StringIO(), err=io.StringIO())
    outcome = importer._one(item, Progress(1, 1009, io.StringIO(), live=False, interval=60))
    journal.close()
    assert outcome.status == "failed", outcome
    assert outcome.reason.startswith("the file changed while being imported (sha256 ")
    assert outcome.reason.endswith("as sent); nothing was stored: run again to import it")
    assert (client.puts, client.completes) == (1, 0)
