"""GET /metrics: Prometheus text, no key, one registry per app, labelled by route template."""

from __future__ import annotations

import socket
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.app import create_app
from service.metrics import Metrics, MetricsMiddleware
from service.scanning.engines import NoScanner, Signatures
from service.settings import from_environ
from tests.infra import clamd_server
from tests.service.conftest import Service, running_service, service_env
from tests.service.helpers import pdf, upload
from tests.support.waiting import eventually


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """(sample name, sorted labels) -> value."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def scrape(service: Service) -> tuple[httpx.Response, dict]:
    response = httpx.get(service.url + "/metrics")  # no key
    return response, samples(response.text)


def test_metrics_need_no_key_and_label_by_route_template(service: Service, admin: httpx.Client):
    ids = [str(uuid.uuid4()), str(uuid.uuid4())]
    for file_id in ids:
        assert admin.get(f"/files/{file_id}").status_code == 404
    admin.get("/no/such/route/" + ids[0])
    response, found = scrape(service)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    for file_id in ids:
        assert file_id not in response.text
    template = (("method", "GET"), ("route", "/files/{file_id}"), ("status", "404"))
    assert found[("silo_http_requests_total", template)] >= 2
    assert (
        "silo_http_requests_total",
        (("method", "GET"), ("route", "unmatched"), ("status", "404")),
    ) in found
    count = ("silo_http_request_duration_seconds_count", template[:2])
    assert found[count] >= 2
    assert ("silo_access_events_buffered", ()) in found
    assert ("silo_access_events_flush_failures_total", ()) in found
    assert found[("silo_upload_capacity", ())] >= 1
    assert found[("silo_tus_uploads_open", ())] == 0


def test_form_uploads_count_bytes_and_completions(fresh_service: Service):
    with fresh_service.client() as client:
        _, before = scrape(fresh_service)
        data = pdf(300_000)
        assert upload(client, data).status_code == 201
        _, after = scrape(fresh_service)
    form = (("path", "form"),)
    assert (
        after[("silo_uploads_completed_total", form)]
        - before[("silo_uploads_completed_total", form)]
        == 1
    )
    received = after[("silo_upload_bytes_total", form)] - before[("silo_upload_bytes_total", form)]
    assert len(data) <= received < len(data) + 4096  # the file plus the multipart framing
    assert after[("silo_uploads_completed_total", (("path", "tus"),))] == 0
    assert after[("silo_uploads_in_flight", ())] == 0
    assert after[("silo_admission_rejections_total", ())] == 0


def test_metrics_can_be_turned_off(pg, s3, aws_credentials):
    with running_service(pg, s3, SILO_METRICS="0") as svc:
        assert httpx.get(svc.url + "/metrics").status_code == 404


def test_each_app_has_its_own_registry():
    class FakeS3:
        endpoint_url, region = "http://127.0.0.1:1", "eu-west-1"

    settings = from_environ(service_env("postgresql://u@h/d", FakeS3(), "bucket-name"))
    first, second = (_metrics_of(create_app(settings)) for _ in range(2))
    assert first.registry is not second.registry
    first.upload_completed("form")
    assert 'silo_uploads_completed_total{path="form"} 1.0' in first.render().decode()
    assert 'silo_uploads_completed_total{path="form"} 0.0' in second.render().decode()


def _metrics_of(app) -> Metrics:
    """The app's registry, as its metrics middleware holds it (the lifespan hands it on)."""
    (metrics,) = [m.kwargs["metrics"] for m in app.user_middleware if m.cls is MetricsMiddleware]
    return metrics


def test_the_hooks_the_tus_path_uses():
    metrics = Metrics()
    metrics.upload_bytes("tus", 1000)
    metrics.upload_completed("tus")
    metrics.set_tus_open(3)
    found = samples(metrics.render().decode())
    assert found[("silo_upload_bytes_total", (("path", "tus"),))] == 1000
    assert found[("silo_uploads_completed_total", (("path", "tus"),))] == 1
    assert found[("silo_tus_uploads_open", ())] == 3
    metrics.tus_open_from(lambda: 5)
    assert samples(metrics.render().decode())[("silo_tus_uploads_open", ())] == 5
    with pytest.raises(ValueError):
        metrics.upload_bytes("ftp", 1)


def test_tus_uploads_count_bytes_completions_and_open_uploads(fresh_service: Service):
    from tests.service.uploads.test_tus import create, patch

    with fresh_service.client() as client:
        data = pdf(200_000)
        url = create(client, len(data)).headers["Location"]
        _, opened = scrape(fresh_service)
        assert opened[("silo_tus_uploads_open", ())] == 1
        assert patch(client, url, 0, data).status_code == 204
        _, after = scrape(fresh_service)
    tus = (("path", "tus"),)
    assert after[("silo_upload_bytes_total", tus)] == len(data)
    assert after[("silo_uploads_completed_total", tus)] == 1
    assert after[("silo_tus_uploads_open", ())] == 0
    assert (
        "silo_http_requests_total",
        (("method", "PATCH"), ("route", "/uploads/{upload_id}"), ("status", "204")),
    ) in after
    assert url.rsplit("/", 1)[1] not in "".join(str(k) for k in after)


def test_the_scanner_s_signatures():
    """Version and age from what the engine last reported; 0 and no age while unknown."""
    metrics = Metrics()
    assert samples(metrics.render().decode())[("silo_scanner_signature_version", ())] == 0

    class Clamd:
        signatures = Signatures("ClamAV 1.0.7", 27480, datetime.now(UTC) - timedelta(hours=3))

    metrics.watch_scanner(Clamd())
    found = samples(metrics.render().decode())
    assert found[("silo_scanner_signature_version", ())] == 27480
    assert found[("silo_scanner_engine", (("version", "ClamAV 1.0.7"),))] == 1
    assert 3 * 3600 <= found[("silo_scanner_signature_age_seconds", ())] < 3 * 3600 + 60
    metrics.watch_scanner(NoScanner())
    found = samples(metrics.render().decode())
    assert found[("silo_scanner_signature_version", ())] == 0
    assert not any(name == "silo_scanner_signature_age_seconds" for name, _ in found)


def test_the_signature_version_is_what_the_service_s_clamd_answers(pg, s3, aws_credentials):
    """A real clamd with the tests' own database (one EICAR hash in a .hdb): VERSION names the
    engine only, so the version is 0, with the engine's name, and no age. The health check
    asks it (here every 0.2 s, so within a second of start-up)."""
    with clamd_server() as clamd:
        with socket.create_connection(("127.0.0.1", clamd.port), timeout=5) as sock:
            sock.sendall(b"zVERSION\0")
            answer = sock.recv(4096).rstrip(b"\0").decode()
        with running_service(
            pg,
            s3,
            settings_changes={"scan_watch_seconds": 0.2},
            SILO_SCAN="clamav",
            SILO_CLAMD_ADDRESS=clamd.address,
        ) as svc:
            engine = ("silo_scanner_engine", (("version", answer),))
            found = eventually(lambda: (f := scrape(svc)[1]).get(engine) == 1 and f)
    assert "/" not in answer  # no official daily database: no version, no date
    assert found[("silo_scanner_signature_version", ())] == 0
    assert not any(name == "silo_scanner_signature_age_seconds" for name, _ in found)
