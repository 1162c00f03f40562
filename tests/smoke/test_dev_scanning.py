"""End to end: `silo dev` on a machine with ClamAV scans every tenant's uploads with its own
clamd, as GuardDuty would on AWS: a harmless file becomes downloadable, the test virus is
refused and its bytes moved under quarantine/, and the clamd goes away with the run."""

from __future__ import annotations

import signal
import time

import boto3
import httpx

from provisioning.local.clamd import ping
from provisioning.local.s3 import LOCAL_CREDENTIALS
from tests.provisioning.local.test_clamd import eicar
from tests.smoke.conftest import descendants, process_exists


def wait_for_verdict(client: httpx.Client, file_id: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        scan = client.get(f"/files/{file_id}").json()["scan"]
        if scan["status"] != "pending":
            return scan
        time.sleep(0.2)
    raise AssertionError(f"file {file_id} still pending after {timeout} s")


def upload(client: httpx.Client, name: str, data: bytes) -> str:
    response = client.post(
        "/files", data={"title": name}, files={"file": (name, data, "text/plain")}
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_dev_scans_with_its_own_clamd_and_quarantines_the_test_virus(dev_factory):
    run = dev_factory(["pack"])
    state = run.state()
    # One clamd per scanning tenant, as each AWS task has its own.
    assert state["scan"].startswith("clamav per tenant: pack tcp://127.0.0.1:")
    address = state["scan"].removeprefix("clamav per tenant: pack ")
    assert ping(address)
    assert f"malware scanning: one clamd per tenant, pack {address}" in run.output()
    pack = state["tenants"]["pack"]
    headers = {"Authorization": f"Bearer {pack['admin_key']}"}

    with httpx.Client(base_url=pack["url"], headers=headers, timeout=15) as client:
        harmless = upload(client, "notes.txt", b"minutes of the meeting\n")
        virus = upload(client, "virus.txt", eicar())
        assert wait_for_verdict(client, harmless)["status"] == "clean"
        verdict = wait_for_verdict(client, virus)
        assert (verdict["status"], verdict["engine"]) == ("infected", "clamav")
        assert client.get(f"/files/{harmless}/content").status_code == 302
        refused = client.get(f"/files/{virus}/content")
        assert refused.status_code == 410, refused.text
        assert refused.json()["error"]["code"] == "infected"

    s3 = boto3.client(
        "s3",
        endpoint_url=state["s3_endpoint"],
        region_name=LOCAL_CREDENTIALS["AWS_REGION"],
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=pack["bucket"])["Contents"]}
    assert keys == {f"files/{harmless}", f"quarantine/files/{virus}"}
    quarantined = s3.get_object(Bucket=pack["bucket"], Key=f"quarantine/files/{virus}")
    assert quarantined["Body"].read() == eicar()

    children = descendants(run.proc.pid)
    assert run.stop(signal.SIGTERM) == 0
    assert not ping(address), "the clamd stops with the run"
    assert not [pid for pid in children if process_exists(pid)]
