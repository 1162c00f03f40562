"""A stock Uppy (the npm package's prebuilt bundle: Dashboard + Tus, configured with only the
endpoint and the Authorization header) uploading to the real service from a page of another
origin, in headless Chromium: several files, the connection cut mid-upload, Uppy resuming.

The page and the bundle are served from loopback by the test; the service allows that origin
(SILO_CORS_ORIGINS) and is reached through a throttling proxy that the test cuts. Needs
`npm ci --prefix tests/uppy` (Node 20+; `uv run silo test` does it) and Debian's chromium and
chromedriver."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import re
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from tests.console.conftest import chrome
from tests.faults import PausableProxy
from tests.service.conftest import running_service
from tests.service.helpers import pdf, png
from tests.support.env import ADMIN_KEY, ROOT
from tests.support.net import free_port
from tests.support.waiting import eventually

__all__ = ["chrome"]  # the fixture, registered here by importing it

DIST = ROOT / "tests" / "uppy" / "node_modules" / "uppy" / "dist"
HOW_TO_INSTALL = (
    "Uppy's bundle is not installed: run `npm ci --prefix tests/uppy` (Node 20+ and npm; "
    "`uv run silo test` does it)"
)
# Slow enough that the uploads are still on the wire when the test cuts the connection.
RATE = 3 * 1024 * 1024  # bytes a second, per connection
OFFSET = re.compile(rb"(?i)\r\nupload-offset: *(\d+)\r\n")

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Uppy to Silo</title>
<link rel="stylesheet" href="/uppy.min.css"></head>
<body><div id="uppy"></div>
<script src="/uppy.min.js"></script>
<script>
  const { Uppy, Dashboard, Tus } = window.Uppy;
  window.uppy = new Uppy()
    .use(Dashboard, { inline: true, target: "#uppy" })
    .use(Tus, { endpoint: "%(endpoint)s", headers: { Authorization: "Bearer %(key)s" } });
</script></body></html>
"""

# Added through Uppy's API, as a page's own code (or the Dashboard's file picker) would.
FILES = {
    "Handbook 2026.pdf": ("application/pdf", pdf(5 * 1024 * 1024 + 12345, seed=b"handbook")),
    "lesson-03.v2.pdf": ("application/pdf", pdf(3 * 1024 * 1024, seed=b"lesson")),
    "notes.txt": ("text/plain", "Grüße, plain UTF-8 text.\n".encode() * 40_000),
    "team photo.png": ("image/png", png()),
}


class ThrottledProxy(PausableProxy):
    """tests/faults.py's proxy to the service, at most RATE bytes a second upstream on each
    connection, so that the uploads are still on the wire when the test cuts them: `cut()`
    drops every open connection at once (the requests in flight die mid-body), and new ones go
    through. Counts the bytes sent upstream and notes the requests' Upload-Offset headers."""

    def __init__(self, target_port: int) -> None:
        self.upstream_bytes = 0
        self.offsets: list[int] = []  # the Upload-Offset of every request sent upstream
        super().__init__(target_port)

    def cut(self) -> None:
        with self.refusing():
            pass

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        upstream = dst.getpeername() == self.target
        super()._pump(_Metered(src, self) if upstream else src, dst)

    def sent(self, data: bytes) -> None:
        time.sleep(len(data) / RATE)
        with self._lock:
            self.upstream_bytes += len(data)
            self.offsets += [int(n) for n in OFFSET.findall(data)]


class _Metered:
    """A socket whose reads go through `proxy.sent` (throttled, counted)."""

    def __init__(self, sock: socket.socket, proxy: ThrottledProxy) -> None:
        self._sock, self._proxy = sock, proxy

    def recv(self, size: int) -> bytes:
        data = self._sock.recv(size)
        self._proxy.sent(data)
        return data

    def shutdown(self, how: int) -> None:
        self._sock.shutdown(how)


@contextlib.contextmanager
def page_server(port: int, endpoint: str) -> Iterator[str]:
    """The page and Uppy's bundle, from 127.0.0.1:`port`: yields the page's origin."""
    page = (PAGE % {"endpoint": endpoint, "key": ADMIN_KEY}).encode()
    assets = {"/": (page, "text/html"),
              "/uppy.min.js": ((DIST / "uppy.min.js").read_bytes(), "text/javascript"),
              "/uppy.min.css": ((DIST / "uppy.min.css").read_bytes(), "text/css")}  # fmt: skip
    for name, (mime, data) in FILES.items():
        assets[f"/data/{name}"] = (data, mime)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            from urllib.parse import unquote

            body, mime = assets.get(unquote(self.path), (b"", "text/plain"))
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", mime)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def is_clean(client: httpx.Client, file_id: str) -> bool:
    return client.get(f"/files/{file_id}").json()["scan"]["status"] == "clean"


@pytest.fixture(scope="module")
def bundle() -> None:
    if not (DIST / "uppy.min.js").is_file() or not (DIST / "uppy.min.css").is_file():
        pytest.fail(HOW_TO_INSTALL)


def test_a_stock_uppy_uploads_several_files_through_a_cut_connection(
    bundle, chrome, pg, s3, aws_credentials
):
    page_port = free_port()  # the page's origin, known to the service (CORS) from its start
    origin = f"http://127.0.0.1:{page_port}"
    with (
        running_service(pg, s3, SILO_CORS_ORIGINS=origin) as svc,
        svc.client() as admin,
        contextlib.closing(ThrottledProxy(int(svc.url.rsplit(":", 1)[1]))) as proxy,
    ):
        endpoint = f"http://127.0.0.1:{proxy.port}/uploads"
        with page_server(page_port, endpoint) as page:
            chrome.get(page + "/")
            eventually(lambda: chrome.execute_script("return !!window.uppy"), timeout=20)
            assert chrome.find_elements("css selector", ".uppy-Dashboard")
            chrome.set_script_timeout(60)
            added = chrome.execute_async_script(
                """
                const [names, done] = [arguments[0], arguments[arguments.length - 1]];
                (async () => {
                  for (const [name, type] of names) {
                    const data = new Blob([await (await fetch("/data/" + name)).arrayBuffer()],
                                          { type });
                    uppy.addFile({ name, type, data });
                  }
                  done(uppy.getFiles().length);
                })().catch((e) => done(String(e)));
                """,
                [[name, mime] for name, (mime, _) in FILES.items()],
            )
            assert added == len(FILES)
            chrome.execute_script(
                "window.result = null; uppy.upload().then((r) => { window.result = {"
                " ok: r.successful.map((f) => [f.name, f.tus.uploadUrl]),"
                " failed: r.failed.map((f) => [f.name, String(f.error)]) }; });"
            )
            total = sum(len(data) for _, data in FILES.values())
            # Mid-upload: a third of the bytes through, then every connection dropped.
            eventually(lambda: proxy.upstream_bytes > total // 3, timeout=60)
            proxy.cut()
            result = eventually(
                lambda: chrome.execute_script("return window.result"),
                timeout=90,
                message=lambda: (
                    "Uppy did not finish: "
                    + str(
                        chrome.execute_script(
                            "return Object.values(uppy.getState().files).map((f) => [f.name,"
                            " f.progress.bytesUploaded, f.progress.uploadComplete,"
                            " String(f.error)])"
                        )
                    )
                    + f"; offsets sent {proxy.offsets}"
                ),
            )
        assert result["failed"] == [], result
        assert sorted(name for name, _ in result["ok"]) == sorted(FILES)

        # Resumed, not restarted: Uppy sends each file in one PATCH (its default chunk size is
        # the whole file), so a PATCH at an offset past 0 continues a cut one from where the
        # service had its bytes (a PATCH sent before the service noticed the cut, at the offset
        # it still had, is refused and asked again: 409 or 423); and no upload was left behind,
        # as a restart from scratch would leave one.
        resumed = [offset for offset in proxy.offsets if offset > 0]
        assert resumed, proxy.offsets
        with psycopg.connect(svc.settings.database_url) as conn:
            assert conn.execute("SELECT count(*) FROM tus_uploads").fetchone()[0] == 0

        # Every file as the API shows it: the bytes, the title from the name, the name itself.
        items = admin.get("/files", params={"limit": 100}).json()["items"]
        listed = {f["filename"]: f for f in items}
        assert sorted(listed) == sorted(FILES)
        for name, upload_url in result["ok"]:
            mime, data = FILES[name]
            file = listed[name]
            assert upload_url.endswith(f"/uploads/{file['id']}")  # the upload's id is the file's
            assert file["sha256"] == hashlib.sha256(data).hexdigest()
            assert (file["size"], file["content_type"]) == (len(data), mime)
            assert file["title"] == name.rsplit(".", 1)[0]  # "Handbook 2026", "lesson-03.v2"
            eventually(functools.partial(is_clean, admin, file["id"]), timeout=30)
            link = admin.get(f"/files/{file['id']}/content", params={"redirect": "false"})
            stored = httpx.get(link.json()["url"]).content
            assert hashlib.sha256(stored).hexdigest() == file["sha256"]
