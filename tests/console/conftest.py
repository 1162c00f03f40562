"""The console under test: the real service (tests/service/conftest.py's `running_service`:
real PostgreSQL, real S3 over HTTP, uvicorn on a loopback port), signed in to over HTTP with
httpx, and driven in a real browser (Debian's headless chromium through chromedriver)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from provisioning.suite.plan import CHROMEDRIVER, CHROMIUM
from tests.infra import PostgresServer, S3Endpoint
from tests.service.conftest import ADMIN_KEY, Service, aws_credentials, running_service
from tests.support.waiting import eventually

__all__ = ["aws_credentials"]  # the fixture, registered here by importing it

ROOT = Path(__file__).resolve().parents[2]
INSTALL_HINT = (
    "the console's browser tests need Debian's chromium and chromedriver: "
    "`apt-get install chromium chromium-driver` (`uv run silo test` installs them)"
)


@pytest.fixture(scope="module")
def console(pg: PostgresServer, s3: S3Endpoint, aws_credentials) -> Iterator[Service]:
    """A service (own database and bucket) whose console a test module uses."""
    with running_service(pg, s3) as svc:
        yield svc


def sign_in(client: httpx.Client, key: str = ADMIN_KEY) -> httpx.Response:
    """Sign `client` in with `key` as a browser would: the form's token, then the POST."""
    form = client.get("/console/sign-in")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    return client.post("/console/sign-in", data={"csrf": csrf, "key": key, "next": "/console"})


def wait_until_clean(console: Service, *file_ids: str, timeout: float = 20) -> None:
    """Until the scan worker (SILO_SCAN=off here: every file clean, within a poll or two) has
    passed the files: only then are they served, previews included."""
    with console.client() as admin:
        eventually(
            lambda: all(
                admin.get(f"/files/{file_id}").json()["scan"]["status"] == "clean"
                for file_id in file_ids
            ),
            timeout=timeout,
            interval=0.1,
            message=f"{file_ids} not all scanned",
        )


def csrf_of(page: httpx.Response) -> str:
    return re.search(r'<meta name="silo-csrf" content="([^"]+)"', page.text).group(1)


@pytest.fixture
def browser_client(console: Service) -> Iterator[httpx.Client]:
    """An httpx client with no key: it authenticates only by the console's cookie."""
    with httpx.Client(base_url=console.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def artefacts() -> Path:
    """Where screenshots go: $SILO_ARTEFACTS, else test-artefacts/ (git-ignored)."""
    path = Path(os.environ.get("SILO_ARTEFACTS") or ROOT / "test-artefacts") / "console"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def chrome():
    """Headless chromium through chromedriver, at a laptop's window size (1280x800)."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: {INSTALL_HINT}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,800",
        "--lang=en-GB",
    ):
        options.add_argument(argument)
    # The browser's console, read by the tests: a blocked script or style shows up there.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=DriverService(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
