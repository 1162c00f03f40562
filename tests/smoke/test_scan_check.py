"""`silo smoke` waits for the upload's malware verdict before downloading it: bounded, a clear
message on timeout, and anything but `clean` on the harmless sample is a failure."""

from __future__ import annotations

import httpx
import pytest

from provisioning.smoke.checks import (
    SKIP,
    CheckFailed,
    SmokeTarget,
    TenantRun,
    _run_one,
    check_download,
    check_scan,
)


def file_object(status: str | None, engine: str = "clamav") -> dict:
    body = {"id": "f1", "title": "silo smoke test"}
    if status is not None:
        body["scan"] = {"status": status, "scanned_at": None, "engine": engine}
    return body


def tenant_run(statuses: list[str | None], *, timeout: float = 60.0) -> tuple[TenantRun, list]:
    """A run against a service whose GET /files/f1 answers `statuses` in turn (the last one
    forever); returns the run and the list of requests seen."""
    seen = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status = statuses[min(len(seen) - 1, len(statuses) - 1)]
        return httpx.Response(200, json=file_object(status))

    client = httpx.Client(transport=httpx.MockTransport(answer))
    run = TenantRun(SmokeTarget("pack", "http://pack.test", "k" * 32), client, key="k" * 32)
    run.file_id = "f1"
    run.scan_timeout = timeout
    return run, seen


class FakeClock:
    """time.monotonic and time.sleep for the check, without waiting."""

    def __init__(self, monkeypatch):
        self.now = 1000.0
        self.sleeps: list[float] = []
        monkeypatch.setattr("provisioning.smoke.checks.time.monotonic", lambda: self.now)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_waits_while_pending_then_passes_on_clean(monkeypatch):
    clock = FakeClock(monkeypatch)
    run, seen = tenant_run(["pending", "pending", "pending", "clean"])
    detail = check_scan(run, sleep=clock.sleep)
    assert detail.startswith("clean (clamav) after ")
    assert len(seen) == 4 and run.clean
    # Backs off: short pauses first, for clamd's sub-second verdicts.
    assert clock.sleeps == [0.2, 0.5, 1.0]
    assert all(r.headers["authorization"] == "Bearer " + "k" * 32 for r in seen)


@pytest.mark.parametrize("status", ["infected", "failed"])
def test_a_verdict_other_than_clean_on_the_harmless_sample_fails(monkeypatch, status):
    clock = FakeClock(monkeypatch)
    run, _ = tenant_run(["pending", status])
    with pytest.raises(CheckFailed, match=f"found '{status}' by clamav"):
        check_scan(run, sleep=clock.sleep)
    assert not run.clean


def test_a_verdict_that_never_comes_fails_after_the_timeout_saying_where_to_look(monkeypatch):
    clock = FakeClock(monkeypatch)
    run, seen = tenant_run(["pending"], timeout=30.0)
    with pytest.raises(CheckFailed) as failed:
        check_scan(run, sleep=clock.sleep)
    message = str(failed.value)
    assert "still pending after 30 s (limit 30 s, --scan-timeout)" in message
    assert "silo_scanner_up" in message
    # Bounded: it stopped at the limit, never sleeping past it.
    assert sum(clock.sleeps) == pytest.approx(30.0)
    assert max(clock.sleeps) <= 5.0 and len(seen) > 3


def test_a_service_without_scanning_is_not_waited_for(monkeypatch):
    clock = FakeClock(monkeypatch)
    run, seen = tenant_run([None])
    assert "does not scan" in check_scan(run, sleep=clock.sleep)
    assert run.clean and len(seen) == 1 and clock.sleeps == []


def test_the_download_is_not_tried_without_a_clean_verdict():
    run, seen = tenant_run(["pending"])
    result = _run_one(run, "download", check_download, "clean")
    assert (result.status, result.detail) == (SKIP, "not run: no clean scan verdict (see 'scan')")
    assert seen == []
