"""`silo import DIRECTORY` against a real tenant: 300 files, some refused; killed halfway
(SIGKILL), killed again right after an upload and before its journal line (the test-only hook
SILO_IMPORT_TEST_EXIT_AFTER_UPLOADS), rerun; every valid file must be there exactly once, with
its metadata and bytes, and every refused one in the report with its reason."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import pty
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from provisioning.importer.runner import CRASH_EXIT_STATUS
from tests.provisioning.importer.conftest import (
    MAX_UPLOAD_BYTES,
    ROOT,
    all_files,
    download,
    import_command,
    run_import,
)
from tests.service.helpers import elf, pdf, png

KIB = 1024
# Files up to this go direct (when the tenant offers it), larger ones with tus in chunks of
# TUS_CHUNK: both transports, and several PATCHes per tus file, on small files.
DIRECT_MAX = "32K"
TUS_CHUNK = "64K"


@dataclass
class Expected:
    rel: str
    data: bytes
    title: str
    description: str | None = None
    category: str | None = None
    language: str | None = None
    roles: tuple[str, ...] = ()
    refusal: str | None = None  # the reason's start, for the files the tenant must refuse

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def make_directory(root: Path) -> tuple[list[Expected], Path]:
    """300 files (246 valid, 54 refused: 20 of an unaccepted type, 10 whose content is not what
    their name says, 20 too large, 4 empty) and a CSV manifest for every fifth valid file."""
    expected: list[Expected] = []
    for i in range(246):
        if i % 10 == 0:
            name, data = f"images/pic-{i:03d}.png", png() + os.urandom(8)  # bytes after IEND
        elif i % 3 == 0:
            name, data = f"notes/note-{i:03d}.txt", f"note {i}\n".encode() * (1 + i * 7)
        elif i % 4 == 0:  # over DIRECT_MAX: tus, several chunks
            name, data = f"docs/big-{i:03d}.pdf", pdf(40 * KIB + i * 500)
        else:
            name, data = f"docs/doc-{i:03d}.pdf", pdf(1 * KIB + i * 97)
        expected.append(Expected(name, data, title=Path(name).stem))  # the console's rule
    for i in range(20):
        expected.append(Expected(f"bad/tool-{i}.bin", elf(), "x", refusal="415 unsupported_type"))
    for i in range(10):
        expected.append(
            Expected(f"bad/fake-{i}.pdf", png() + bytes([i]), "x", refusal="415 type_mismatch")
        )
    for i in range(20):
        data = pdf(MAX_UPLOAD_BYTES + 1 + i * 3 * KIB)
        expected.append(Expected(f"huge/huge-{i}.pdf", data, "x", refusal="413 too_large"))
    for i in range(4):
        expected.append(Expected(f"empty/empty-{i}.txt", b"", "x", refusal="422 empty_file"))
    for e in expected:
        path = root / e.rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(e.data)
    # Languages given as a code, the tenant's own name and an English name: all map to codes.
    languages = ["it", "Français", "English", "Italian"]
    manifest = root.parent / "manifest.csv"
    with manifest.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "title", "description", "category", "language", "roles"])
        for n, e in enumerate(e for e in expected[:246] if int(e.rel[-7:-4]) % 5 == 0):
            e.title = f"Lesson {e.rel}"
            e.description = f"Imported from the old system, item {n}"
            e.category = ["Skills", "soft skills", "Conflict resolution"][n % 3]
            e.language = {"it": "it", "Français": "fr", "English": "en", "Italian": "it"}[
                languages[n % 4]
            ]
            e.roles = ("Mentor/Coach", "Mentee/Coachee")[: 1 + n % 2]
            writer.writerow(
                [
                    e.rel,
                    e.title,
                    e.description,
                    e.category,
                    languages[n % 4],
                    ";".join(e.roles),
                ]
            )
    return expected, manifest


def journal_events(path: Path) -> list[dict]:
    events = []
    for line in path.read_text().splitlines()[1:]:
        with contextlib.suppress(json.JSONDecodeError):  # a line torn by the kill
            events.append(json.loads(line))
    return events


def done_ids(path: Path) -> set[str]:
    return {e["id"] for e in journal_events(path) if e["event"] == "done"}


def sent_bytes(stdout: str) -> float:
    """The figure of the summary's `..., 1.2 MiB sent in 0:03`."""
    number, unit = re.search(r"; ([\d.]+) (B|KiB|MiB) sent in ", stdout).groups()
    return float(number) * {"B": 1, "KiB": KIB, "MiB": KIB * KIB}[unit]


def read_report(path: Path) -> dict[str, dict]:
    with path.open(newline="") as f:
        return {row["source"]: row for row in csv.DictReader(f)}


def test_killed_twice_then_rerun_stores_every_valid_file_exactly_once(tenant, tmp_path):
    source = tmp_path / "export"
    expected, manifest = make_directory(source)
    valid = [e for e in expected if e.refusal is None]
    journal = tmp_path / "journal.jsonl"
    report = tmp_path / "report.csv"
    args = [
        source,
        "--manifest",
        manifest,
        "--journal",
        journal,
        "--report",
        report,
        "--direct-max",
        DIRECT_MAX,
        "--tus-chunk",
        TUS_CHUNK,
        "--progress-interval",
        "0.2",
    ]

    # 1. SIGKILL halfway through.
    process = subprocess.Popen(
        import_command(tenant.url, *args, "--jobs", "4"),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if journal.exists() and len(done_ids(journal)) >= 100:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL
    after_kill = len(done_ids(journal))
    assert 100 <= after_kill < len(valid), "the kill should land halfway"

    # 2. Killed right after the third upload of this run is stored, before its journal line.
    crashed = run_import(
        tenant.url,
        *args,
        "--jobs",
        "1",
        env={"SILO_IMPORT_TEST_EXIT_AFTER_UPLOADS": "3"},
    )
    assert crashed.returncode == CRASH_EXIT_STATUS, crashed.stderr
    journaled = done_ids(journal)
    with tenant.client() as admin:
        stored_before_rerun = all_files(admin)
    # The tenant has at least one file the journal does not know of: the rerun must not send
    # it again.
    assert len(stored_before_rerun) > len(journaled) >= after_kill + 2

    # 3. The rerun finishes the import.
    done = run_import(tenant.url, *args, "--jobs", "4")
    assert done.returncode == 1, done.stdout + done.stderr  # some files were refused
    assert "import: " in done.stderr and " files" in done.stderr  # plain progress lines
    summary = done.stdout.splitlines()[0]
    imported = len(valid) - len(stored_before_rerun)
    assert summary.startswith(
        f"imported {imported}, skipped {len(stored_before_rerun)} (already there), failed 54;"
    ), summary

    # The terminal shows the first 50 failures, by name, and points at the report for the rest.
    shown = [line for line in done.stdout.splitlines() if line.startswith("failed: ")]
    assert len(shown) == 50 and shown[0].startswith("failed: bad/fake-0.pdf: 415 type_mismatch")
    assert done.stdout.splitlines()[-1] == "... and 4 more failed (--report FILE)"
    rows = read_report(report)
    assert len(rows) == len(expected)
    for e in expected:
        row = rows[e.rel]
        if e.refusal:
            assert row["status"] == "failed", row
            assert row["reason"].startswith(e.refusal), row
        else:
            assert row["status"] in ("imported", "skipped"), row
            assert row["file_id"], row
    # Both transports carried files (by size: DIRECT_MAX), as the journal recorded.
    assert {e["event"] for e in journal_events(journal)} >= {"direct", "tus", "done", "failed"}

    with tenant.client() as admin:
        files = all_files(admin)
        by_sha: dict[str, list[dict]] = {}
        for f in files:
            by_sha.setdefault(f["sha256"], []).append(f)
        assert len(files) == len(valid)
        for e in valid:
            (found,) = by_sha[e.sha256]  # exactly once
            assert found["id"] == rows[e.rel]["file_id"]
            assert found["title"] == e.title
            assert found["filename"] == Path(e.rel).name
            assert found["size"] == len(e.data)
            assert found["description"] == e.description
            assert found["category"] == (
                {"soft skills": "Soft skills"}.get(e.category, e.category) if e.category else None
            )
            assert found["language"] == e.language
            assert found["roles"] == list(e.roles)
        # The bytes themselves, read back from storage: every tus file (several chunks, and
        # the resumed ones) and a sample of the rest.
        for e in [e for e in valid if "big-" in e.rel] + valid[::10]:
            assert download(admin, by_sha[e.sha256][0]["id"]) == e.data

    # 4. One more run changes nothing: everything valid is journaled as done.
    again = run_import(tenant.url, *args)
    assert again.stdout.startswith(f"imported 0, skipped {len(valid)} (already there), failed 54")
    with tenant.client() as admin:
        assert len(all_files(admin)) == len(valid)


def test_a_crash_between_upload_and_journal_is_answered_as_a_replay(tenant, tmp_path):
    """Killed right after the tenant stored a file and before the journal line, once for each
    transport; then the journal itself is lost. Each rerun is answered by the tenant (the
    Idempotency-Key replay for direct uploads and tus creations, the tus HEAD for a journaled
    upload): no file is stored twice."""
    source = tmp_path / "two"
    source.mkdir()
    small, large = pdf(10 * KIB), pdf(100 * KIB)
    (source / "a-small.pdf").write_bytes(small)
    (source / "b-large.pdf").write_bytes(large)
    journal, report = tmp_path / "journal.jsonl", tmp_path / "report.csv"
    args = [source, "--journal", journal, "--report", report, "--jobs", "1"]
    args += ["--direct-max", DIRECT_MAX, "--tus-chunk", "32K"]
    crash = {"SILO_IMPORT_TEST_EXIT_AFTER_UPLOADS": "1"}

    def stored() -> list[str]:
        with tenant.client() as admin:
            return sorted(f["filename"] for f in all_files(admin))

    first = run_import(tenant.url, *args, env=crash)  # a-small stored directly, then the exit
    assert first.returncode == CRASH_EXIT_STATUS, first.stderr
    assert stored() == ["a-small.pdf"] and done_ids(journal) == set()
    second = run_import(tenant.url, *args, env=crash)  # a-small replayed; b-large by tus, exit
    assert second.returncode == CRASH_EXIT_STATUS, second.stderr
    assert stored() == ["a-small.pdf", "b-large.pdf"]
    assert done_ids(journal) == {"file:a-small.pdf"}

    third = run_import(tenant.url, *args)
    assert third.returncode == 0, third.stdout + third.stderr
    assert third.stdout.startswith("imported 0, skipped 2 (already there), failed 0")
    rows = read_report(report)
    assert (rows["a-small.pdf"]["status"], rows["a-small.pdf"]["via"]) == ("skipped", "")
    assert (rows["b-large.pdf"]["status"], rows["b-large.pdf"]["via"]) == ("skipped", "tus")

    journal.unlink()  # no journal at all: the tenant's Idempotency-Key replays alone
    fourth = run_import(tenant.url, *args)
    assert fourth.stdout.startswith("imported 0, skipped 2 (already there), failed 0")
    rows = read_report(report)
    assert {n: (r["status"], r["via"]) for n, r in rows.items()} == {
        "a-small.pdf": ("skipped", "direct"),
        "b-large.pdf": ("skipped", "tus"),
    }
    assert stored() == ["a-small.pdf", "b-large.pdf"]
    with tenant.client() as admin:
        for f in all_files(admin):
            assert download(admin, f["id"]) == (small if f["filename"] == "a-small.pdf" else large)


TOTAL = 60


def test_ctrl_c_stops_cleanly_and_the_rerun_continues(tenant, tmp_path):
    source = tmp_path / "many"
    source.mkdir()
    blobs = {f"f{i:03d}.pdf": pdf(60 * KIB + i) for i in range(TOTAL)}
    for name, data in blobs.items():
        (source / name).write_bytes(data)
    journal = tmp_path / "journal.jsonl"
    # tus in small chunks, two at a time: slow enough to be interrupted mid-way.
    report = tmp_path / "report.csv"
    args = [source, "--journal", journal, "--jobs", "2", "--direct-max", "0", "--tus-chunk", "8K"]
    args += ["--report", report]
    process = subprocess.Popen(
        import_command(tenant.url, *args),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Started with SIGINT ignored, as a shell without job control (a CI step, `... &`)
        # starts it: Ctrl-C must stop it all the same (CI saw it ignored and run to the end).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if journal.exists() and len(done_ids(journal)) >= 10:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stdout + stderr
    assert "interrupted; run the same command again to continue" in stderr
    first = len(done_ids(journal))
    assert 10 <= first < TOTAL
    assert stdout.startswith(f"imported {first}, skipped 0 (already there), failed 0")
    statuses = [row["status"] for row in read_report(report).values()]
    assert (statuses.count("imported"), statuses.count("pending")) == (first, TOTAL - first)

    rerun = run_import(tenant.url, *args)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    with tenant.client() as admin:
        files = all_files(admin)
    assert sorted(f["sha256"] for f in files) == sorted(
        hashlib.sha256(d).hexdigest() for d in blobs.values()
    )
    assert rerun.stdout.startswith(f"imported {TOTAL - first}, skipped {first} (already there)")


def test_a_killed_tus_upload_resumes_from_the_tenants_offset(pg, s3, aws_credentials, tmp_path):
    from tests.service.conftest import running_service

    source = tmp_path / "one-big"
    source.mkdir()
    data = pdf(4 * 1024 * KIB)
    (source / "lecture.pdf").write_bytes(data)
    journal = tmp_path / "journal.jsonl"
    args = [source, "--journal", journal, "--direct-max", "0", "--tus-chunk", "256K"]
    with running_service(pg, s3) as svc:
        process = subprocess.Popen(
            import_command(svc.url, *args),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        offset, deadline = 0, time.monotonic() + 60
        with svc.client() as admin:
            while offset < 512 * KIB and time.monotonic() < deadline:
                time.sleep(0.01)
                upload = journal.exists() and [
                    e for e in journal_events(journal) if e["event"] == "tus"
                ]
                if upload:
                    head = admin.head(upload[0]["url"], headers={"Tus-Resumable": "1.0.0"})
                    offset = int(head.headers.get("upload-offset", 0))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        with svc.client() as admin:
            head = admin.head(upload[0]["url"], headers={"Tus-Resumable": "1.0.0"})
        offset = int(head.headers["upload-offset"])  # where the tenant stands after the kill
        assert 0 < offset < len(data), "the kill should land mid-file"

        rerun = run_import(svc.url, *args)
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        # Only what the tenant did not have yet was sent (the summary rounds to 0.1 MiB). The
        # killed PATCH may still have been committing bytes after that HEAD: less, never more.
        assert sent_bytes(rerun.stdout) <= len(data) - offset + 64 * KIB, rerun.stdout
        with svc.client() as admin:
            (stored,) = all_files(admin)
            assert download(admin, stored["id"]) == data


def test_on_a_terminal_progress_is_a_live_bar(tenant, tmp_path):
    source = tmp_path / "few"
    source.mkdir()
    for i in range(3):
        (source / f"f{i}.pdf").write_bytes(pdf(50 * KIB + i))
    master, replica = pty.openpty()
    process = subprocess.Popen(
        import_command(tenant.url, source, "--direct-max", "0", "--tus-chunk", "8K"),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=replica,
        text=True,
    )
    os.close(replica)
    stdout, _ = process.communicate(timeout=120)
    screen = b""
    with contextlib.suppress(OSError):  # EIO once the process has closed the terminal
        while chunk := os.read(master, 65536):
            screen += chunk
    os.close(master)
    assert process.returncode == 0, stdout
    text = screen.decode()
    # Redrawn in place: carriage returns, a bar, and the figures.
    assert text.count("\r[") >= 2, text
    assert "] 3/3 files, 150.0 KiB/150.0 KiB, " in text and "ETA" in text
    assert "\nimport: " not in text  # no plain lines on a terminal


def test_a_blip_is_retried_and_an_endpoint_gone_for_good_stops_the_import(tenant, tmp_path):
    """Through a proxy that refuses connections: for a second (the files in flight are
    retried and all arrive), then for good (the import stops with one line instead of failing
    every file in turn; the rerun continues)."""
    from urllib.parse import urlsplit

    from tests.faults import PausableProxy

    def directory(name: str) -> tuple[Path, dict[str, bytes]]:
        root = tmp_path / name
        root.mkdir()
        blobs = {f"{name}-{i:02d}.pdf": pdf(40 * KIB + i) for i in range(30)}
        for file_name, data in blobs.items():
            (root / file_name).write_bytes(data)
        return root, blobs

    def wait_for_done(journal: Path, count: int) -> None:
        deadline = time.monotonic() + 60
        while not (journal.exists() and len(done_ids(journal)) >= count):
            assert time.monotonic() < deadline
            time.sleep(0.02)

    proxy = PausableProxy(urlsplit(tenant.url).port)
    url = f"http://127.0.0.1:{proxy.port}"
    try:
        first, first_blobs = directory("blip")
        journal = tmp_path / "blip.jsonl"
        args = [first, "--journal", journal, "--direct-max", "0", "--tus-chunk", "8K"]
        process = subprocess.Popen(
            import_command(url, *args), cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        wait_for_done(journal, 5)
        with proxy.refusing():
            time.sleep(1)
        stdout, _ = process.communicate(timeout=120)
        assert process.returncode == 0, stdout
        # A file whose last answer the blip cut is found complete by the retry: skipped.
        imported, skipped = map(int, re.match(r"imported (\d+), skipped (\d+)", stdout).groups())
        assert imported + skipped == 30 and ", failed 0;" in stdout, stdout

        second, second_blobs = directory("gone")
        journal = tmp_path / "gone.jsonl"
        args = [second, "--journal", journal, "--direct-max", "0", "--tus-chunk", "8K"]
        process = subprocess.Popen(
            import_command(url, *args, "--retries", "2"),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for_done(journal, 5)
        with proxy.refusing():
            stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 2, stdout + stderr
        assert stderr.splitlines()[-1].startswith("silo import: stopped: no answer after 2 retries")
        assert ", failed 0;" in stdout.splitlines()[0]  # nothing is reported as refused

        rerun = run_import(url, *args)
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    finally:
        proxy.close()
    with tenant.client() as admin:
        stored = sorted(f["sha256"] for f in all_files(admin))
    blobs = {**first_blobs, **second_blobs}.values()
    assert stored == sorted(hashlib.sha256(d).hexdigest() for d in blobs)


def test_busy_tenant_is_waited_out(pg, s3, aws_credentials, tmp_path):
    """One upload slot and six workers: the tenant answers 503 busy, the import waits
    Retry-After and backs off, and every file arrives."""
    from tests.service.conftest import running_service

    source = tmp_path / "many"
    source.mkdir()
    blobs = {f"f{i:02d}.pdf": pdf(120 * KIB + i) for i in range(12)}
    for name, data in blobs.items():
        (source / name).write_bytes(data)
    with running_service(pg, s3, SILO_MAX_CONCURRENT_UPLOADS="1") as svc:
        done = run_import(svc.url, source, "--jobs", "6", "--direct-max", "0", "--tus-chunk", "32K")
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.startswith("imported 12, skipped 0 (already there), failed 0")
        assert "the tenant was busy" in done.stdout
        with svc.client() as admin:
            files = all_files(admin)
        assert sorted(f["sha256"] for f in files) == sorted(
            hashlib.sha256(d).hexdigest() for d in blobs.values()
        )


def test_wrong_key_and_unreachable_endpoint_stop_at_once_with_one_line(tenant, tmp_path):
    source = tmp_path / "one"
    source.mkdir()
    (source / "a.pdf").write_bytes(pdf())
    wrong = run_import(tenant.url, source, key="not-a-key-of-this-tenant")
    assert wrong.returncode == 2
    assert wrong.stdout == ""
    assert wrong.stderr.count("\n") == 1, wrong.stderr
    assert "the key was refused (401 unauthorized" in wrong.stderr

    from provisioning.local import free_port

    unreachable = run_import(f"http://127.0.0.1:{free_port()}", source)
    assert unreachable.returncode == 2
    assert unreachable.stderr.count("\n") == 1, unreachable.stderr
    assert unreachable.stderr.startswith("silo import: cannot reach http://127.0.0.1:")
    with tenant.client() as admin:
        assert all_files(admin) == []
