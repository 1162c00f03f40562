"""What a deploy has done so far, kept in `.silo/deploy-<environment>.json`, so a deploy that
stopped resumes where it stopped. A run is identified by a fingerprint of what it deploys (the
catalogue's bytes and the environment's config): a different change starts from the beginning.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Progress:
    fingerprint: str
    done: list[str] = field(default_factory=list)  # stacks updated (or found unchanged)
    failed: str | None = None  # the stack it stopped at, and why
    reason: str | None = None

    def is_done(self, stack: str) -> bool:
        return stack in self.done


def fingerprint(catalogue_bytes: bytes, config: dict[str, str]) -> str:
    digest = hashlib.sha256(catalogue_bytes)
    digest.update(json.dumps(config, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def state_path(root: Path, environment: str) -> Path:
    return root / ".silo" / f"deploy-{environment}.json"


def load(path: Path, current: str) -> Progress:
    """The progress of the run with fingerprint `current`: resumed from `path` when it is the
    same run, else a fresh one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Progress(fingerprint=current)
    if data.get("fingerprint") != current:
        return Progress(fingerprint=current)
    return Progress(**data)


def save(path: Path, progress: Progress) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(progress), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
