"""Usage tracking end to end: the service as a process, concurrent downloads, SIGTERM in the
middle of them; every answered request has its access event in the database afterwards."""

from __future__ import annotations

import asyncio
import signal
import subprocess

import httpx
import psycopg

from tests.service.helpers import pdf
from tests.support.env import ADMIN_KEY, process_env
from tests.support.process import spawned_service

DOWNLOADS = 1200
READS = 300


async def hammer(url: str, file_ids: list[str], proc: subprocess.Popen) -> tuple[int, int]:
    """Concurrent content and metadata requests; SIGTERM once half of them are answered.
    Returns how many of each got a successful answer."""
    answered = {"content": 0, "metadata": 0}
    headers = {"Authorization": f"Bearer {ADMIN_KEY}", "X-Silo-Country": "FR"}
    limits = httpx.Limits(max_connections=32)
    done = 0
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits) as client:

        async def one(i: int) -> None:
            nonlocal done
            file_id = file_ids[i % len(file_ids)]
            action = "metadata" if i % 5 == 0 and i // 5 < READS else "content"
            path = f"/files/{file_id}" + ("/content" if action == "content" else "")
            try:
                response = await client.get(path, params={"redirect": "false"}, timeout=30)
            except httpx.HTTPError:
                return  # refused once the server stopped accepting: no answer, no event
            if response.status_code == 200:
                answered[action] += 1
            done += 1
            if done == (DOWNLOADS + READS) // 2:
                proc.send_signal(signal.SIGTERM)

        await asyncio.gather(*(one(i) for i in range(DOWNLOADS + READS)))
    return answered["content"], answered["metadata"]


def test_no_event_is_lost_under_concurrent_downloads_and_sigterm(
    database_url, s3, bucket, tmp_path
):
    # Timer flushes effectively off: what is still buffered at SIGTERM must be written by the
    # shutdown path (full batches of 2000 are written as they fill).
    env = process_env(database_url, s3, bucket, SILO_EVENTS_FLUSH_MS="600000")
    with spawned_service(env, tmp_path / "service.log") as svc:
        url, proc = svc.url, svc.process
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as c:
            file_ids = [
                c.post(
                    "/files",
                    data={"title": f"file {n}", "language": "it"},
                    files={"file": ("f.pdf", pdf(), "application/pdf")},
                ).json()["id"]
                for n in range(3)
            ]
        content, metadata = asyncio.run(hammer(url, file_ids, proc))
        assert proc.wait(timeout=60) == 0
    output = svc.output()
    assert content > DOWNLOADS // 3 and metadata > 0, (content, metadata, output[-2000:])
    with psycopg.connect(database_url) as conn:
        rows = dict(
            conn.execute("SELECT action, count(*) FROM access_events GROUP BY action").fetchall()
        )
        languages = conn.execute("SELECT DISTINCT language, country FROM access_events").fetchall()
        rolled = conn.execute(
            "SELECT sum(n) FROM access_rollup WHERE grain = 'm' AND dim = 'total' "
            "AND action = 'content'"
        ).fetchone()[0]
    assert rows == {"content": content, "metadata": metadata}
    assert rolled == content
    assert languages == [("it", "FR")]
