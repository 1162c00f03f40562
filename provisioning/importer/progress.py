"""Progress of an import: a live bar on a terminal (redrawn in place on stderr), plain lines
every `interval` seconds otherwise (logs, CI). Files, bytes, rate and ETA; the rate is of the
bytes this run sent over the last `WINDOW` seconds, so the ETA follows a tenant that slows
down, and the ETA shows only once that window holds enough (`eta`)."""

from __future__ import annotations

import collections
import shutil
import threading
import time
from typing import TextIO

WINDOW = 10.0
BAR_REFRESH = 0.25
# An ETA from less than this is a guess (the first PATCH, a burst into the socket buffer).
ETA_MIN_SECONDS = 3.0
ETA_MIN_BYTES = 256 * 1024


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError


def human_duration(seconds: float) -> str:
    """A duration, never a time of day: `45s`, `3m12s`, `2h05m` (the seconds dropped)."""
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def eta(left: int, window_seconds: float, window_bytes: int) -> str | None:
    """The time left for `left` bytes at the rate of the last window (`window_bytes` sent in
    `window_seconds`); None (show none) until the window spans ETA_MIN_SECONDS and holds
    ETA_MIN_BYTES."""
    if left <= 0:
        return human_duration(0)
    if window_seconds < ETA_MIN_SECONDS or window_bytes < ETA_MIN_BYTES:
        return None
    return human_duration(left * window_seconds / window_bytes)


class Progress:
    def __init__(
        self, files: int, total_bytes: int, stream: TextIO, *, live: bool, interval: float
    ) -> None:
        self.files, self.total_bytes = files, total_bytes
        self.done_files = self.failed = 0
        self.sent = 0  # bytes of the files the tenant has (or is receiving)
        self.wire = 0  # bytes sent by this run
        self._stream, self._live = stream, live
        self._interval = BAR_REFRESH if live else interval
        self._lock = threading.Lock()
        self._samples: collections.deque[tuple[float, int]] = collections.deque()
        self._start = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="progress", daemon=True)

    def start(self) -> Progress:
        if self._live:
            # The bar shows at once (0 of N), not after the first refresh: a short import
            # would otherwise show it only when it is over.
            self._draw()
        self._thread.start()
        return self

    def add_bytes(self, n: int, *, on_the_wire: bool = True) -> None:
        """`n` more bytes of the files are done (negative: to be sent again); `on_the_wire`:
        sent in this run (not a resumed upload's offset the tenant already had)."""
        with self._lock:
            self.sent += n
            if on_the_wire:
                self.wire += n

    def file_done(self, *, failed: bool = False, unsent: int = 0) -> None:
        """One file finished; `unsent` of its bytes will never be sent (a skip, a refusal)."""
        with self._lock:
            self.done_files += 1
            self.failed += failed
            self.total_bytes -= unsent

    def _window(self, now: float) -> tuple[float, int]:
        """(seconds, bytes sent) over the last WINDOW seconds: a resumed upload's offset,
        which the tenant already had, is no speed."""
        self._samples.append((now, self.wire))
        while len(self._samples) > 2 and now - self._samples[0][0] > WINDOW:
            self._samples.popleft()
        t0, b0 = self._samples[0]
        return now - t0, self.wire - b0

    def line(self) -> str:
        now = time.monotonic()
        with self._lock:
            seconds, sent = self._window(now)
            rate = sent / seconds if seconds > 0 else 0.0
            left = eta(max(self.total_bytes - self.sent, 0), seconds, sent)
            failed = f", {self.failed} failed" if self.failed else ""
            return (
                f"{self.done_files}/{self.files} files{failed}, "
                f"{human_bytes(self.sent)}/{human_bytes(self.total_bytes)}, "
                f"{human_bytes(rate)}/s" + (f", ETA {left}" if left else "")
            )

    def _bar(self) -> str:
        text = self.line()
        width = shutil.get_terminal_size((100, 20)).columns - len(text) - 4
        if width < 10:
            return text
        share = self.sent / self.total_bytes if self.total_bytes else 1.0
        if self.files and not self.total_bytes:
            share = self.done_files / self.files
        filled = int(min(share, 1.0) * width)
        return f"[{'#' * filled}{'.' * (width - filled)}] {text}"

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self._draw()

    def _draw(self) -> None:
        if self._live:
            self._stream.write("\r" + self._bar() + "\x1b[K")
        else:
            self._stream.write(f"import: {self.line()}\n")
        self._stream.flush()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._draw()
        if self._live:
            self._stream.write("\n")
            self._stream.flush()
