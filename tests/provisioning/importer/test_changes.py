"""`silo import` against a real tenant when the source is not what it seems: a file swapped for
a link or edited while the run is under way, names that are escape sequences or spreadsheet
formulas; and a rerun after the manifest changed."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import time
from pathlib import Path

from tests.provisioning.importer.conftest import ROOT, all_files, import_command, run_import
from tests.service.conftest import running_service
from tests.service.helpers import pdf

KIB = 1024


def _events(journal: Path) -> list[dict]:
    events = []
    for line in journal.read_text().splitlines()[1:]:
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events


def _report(path: Path) -> dict[str, dict]:
    with path.open(newline="") as f:
        return {row["source"]: row for row in csv.DictReader(f)}


def test_a_file_swapped_or_edited_during_the_run_is_failed_not_imported(
    pg, s3, aws_credentials, tmp_path
):
    """One worker: `a-lecture.pdf` goes first, by tus in small chunks. Once its upload is
    journaled (hashed, created, not yet sent whole), its tail is edited in place, and
    `b-notes.txt`, listed but not yet read, is swapped for a link to a same-size file
    outside the directory."""
    with running_service(pg, s3) as tenant:  # no small upload limit: a 2 MiB file
        _swapped_or_edited(tenant, tmp_path)


def _swapped_or_edited(tenant, tmp_path: Path) -> None:
    secret = tmp_path / "credentials.txt"
    secret.write_bytes(b"aws_secret_access_key = hunter2\n")
    source = tmp_path / "export"
    source.mkdir()
    lecture = pdf(2 * 1024 * KIB)
    (source / "a-lecture.pdf").write_bytes(lecture)
    (source / "b-notes.txt").write_bytes(b"n" * (len(secret.read_bytes()) - 1) + b"\n")
    (source / "c-fine.txt").write_bytes(b"untouched\n")
    journal, report = tmp_path / "journal.jsonl", tmp_path / "report.csv"
    args = [source, "--journal", journal, "--report", report, "--jobs", "1"]
    process = subprocess.Popen(
        import_command(tenant.url, *args, "--direct-max", "0", "--tus-chunk", "32K"),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (journal.exists() and any(e["event"] == "tus" for e in _events(journal))):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.005)
    with (source / "a-lecture.pdf").open("r+b") as f:
        f.seek(-16 * KIB, 2)
        f.write(b"E" * 16 * KIB)
    (source / "b-notes.txt").unlink()
    (source / "b-notes.txt").symlink_to(secret)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 1, stdout + stderr
    assert stdout.startswith("imported 1, skipped 0 (already there), failed 2;"), stdout
    rows = _report(report)
    assert rows["a-lecture.pdf"]["status"] == "failed"
    assert rows["a-lecture.pdf"]["reason"].startswith(
        "the file changed while being imported (sha256 " + hashlib.sha256(lecture).hexdigest()[:12]
    )
    assert rows["a-lecture.pdf"]["reason"].endswith(
        "as stored); the stored copy was deleted: run again to import it"
    )
    assert rows["b-notes.txt"]["status"] == "failed"
    assert rows["b-notes.txt"]["reason"] == (
        "replaced by a symbolic link after it was listed; not read"
    )
    with tenant.client() as admin:
        assert [f["filename"] for f in all_files(admin)] == ["c-fine.txt"]

    # The rerun imports the lecture as it is now, and still not the link.
    rerun = run_import(tenant.url, *args)
    assert rerun.returncode == 1, rerun.stdout + rerun.stderr
    assert rerun.stdout.startswith("imported 1, skipped 1 (already there), failed 1;")
    with tenant.client() as admin:
        stored = {f["filename"]: f["sha256"] for f in all_files(admin)}
    edited = (source / "a-lecture.pdf").read_bytes()
    assert stored == {
        "a-lecture.pdf": hashlib.sha256(edited).hexdigest(),
        "c-fine.txt": hashlib.sha256(b"untouched\n").hexdigest(),
    }


def test_names_reach_the_terminal_escaped_and_the_report_as_text(tenant, tmp_path):
    source = tmp_path / "names"
    source.mkdir()
    names = ["=1+2.txt", "@SUM(A1).txt", "-3.txt", "evil\x1b[2J\x1b]0;owned\x07.txt", "ok.txt"]
    for name in names:
        (source / name).write_bytes(b"text\n")
    report = tmp_path / "report.csv"
    done = run_import(tenant.url, source, "--report", report)
    # The tenant refuses a name with control characters (422): it is in the failures shown.
    assert done.returncode == 1, done.stdout + done.stderr
    assert "\x1b" not in done.stdout + done.stderr and "\x07" not in done.stdout
    assert "failed: evil\\x1b[2J\\x1b]0;owned\\x07.txt: 422 " in done.stdout, done.stdout
    text = report.read_text()
    assert "\x1b" not in text and "\x07" not in text
    rows = _report(report)
    assert sorted(rows) == sorted(
        ["'-3.txt", "'=1+2.txt", "'@SUM(A1).txt", "evil\\x1b[2J\\x1b]0;owned\\x07.txt", "ok.txt"]
    )
    assert rows["'=1+2.txt"]["title"] == "'=1+2" and rows["ok.txt"]["title"] == "ok"
    with tenant.client() as admin:
        # Only the report is neutralised: the tenant has the names and titles as they are.
        titles = {f["filename"]: f["title"] for f in all_files(admin)}
    assert titles == {
        "=1+2.txt": "=1+2", "@SUM(A1).txt": "@SUM(A1)", "-3.txt": "-3", "ok.txt": "ok"
    }  # fmt: skip


def test_a_rerun_reports_changed_metadata_and_applies_it_when_asked(tenant, tmp_path):
    source = tmp_path / "course"
    source.mkdir()
    for name in ("a.pdf", "b.pdf", "handbook.pdf"):
        (source / name).write_bytes(pdf(2 * KIB))
    manifest = tmp_path / "manifest.csv"

    def write_manifest(a_title: str, b_description: str) -> None:
        manifest.write_text(
            f"path,title,description\na.pdf,{a_title},\nb.pdf,Lesson B,{b_description}\n"
        )

    def tenant_metadata() -> dict[str, tuple]:
        with tenant.client() as admin:
            return {f["filename"]: (f["title"], f["description"]) for f in all_files(admin)}

    write_manifest("Lesson A", "First version")
    report = tmp_path / "report.csv"
    args = [source, "--manifest", manifest, "--report", report]
    first = run_import(tenant.url, *args)
    assert first.returncode == 0, first.stdout + first.stderr
    assert tenant_metadata() == {
        "a.pdf": ("Lesson A", None),
        "b.pdf": ("Lesson B", "First version"),
        "handbook.pdf": ("handbook", None),  # the console's default title, not "handbook.pdf"
    }

    write_manifest("Lesson A (revised)", "Second version")
    rerun = run_import(tenant.url, *args)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert rerun.stdout.splitlines()[:4] == [
        rerun.stdout.splitlines()[0],
        "2 files have changed metadata (rerun with --update-metadata to apply it):",
        "  a.pdf: title",
        "  b.pdf: description",
    ]
    assert rerun.stdout.startswith("imported 0, skipped 3 (already there), failed 0;")
    assert _report(report)["a.pdf"]["reason"] == (
        "metadata differs: title (--update-metadata applies it)"
    )
    assert tenant_metadata()["a.pdf"] == ("Lesson A", None)  # reported, not applied

    update = run_import(tenant.url, *args, "--update-metadata")
    assert update.returncode == 0, update.stdout + update.stderr
    assert update.stdout.splitlines()[1] == "updated the metadata of 2 file(s) already there"
    assert _report(report)["b.pdf"]["reason"] == "metadata updated: description"
    assert tenant_metadata() == {
        "a.pdf": ("Lesson A (revised)", None),
        "b.pdf": ("Lesson B", "Second version"),
        "handbook.pdf": ("handbook", None),
    }
    again = run_import(tenant.url, *args)
    assert again.stdout.splitlines()[1:] == [], again.stdout
