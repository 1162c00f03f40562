"""What a tenant's task must hold to scan with `clamav`: the clamd sidecar and the signature
sync beside the service, in the one Fargate task (docs/operations/scanning.md).

Pure numbers and one check, so the catalogue refuses a task too small before `pulumi up`
registers a task definition whose containers cannot fit.
"""

from __future__ import annotations

# clamd with the full official database (main, daily, bytecode) holds about 1-1.5 GB once
# loaded. `ConcurrentDatabaseReload no`: a reload frees the old engine before loading the new
# one, so the peak stays there instead of doubling (scans wait during the reload instead).
# The hard limit leaves ~0.5 GB above the loaded engine for archive unpacking and growth.
CLAMD_MEMORY_MIB = 2048
# The signature sync beside it (the AWS CLI, a shell loop): measured under 100 MiB.
SIGNATURES_MEMORY_MIB = 128
SCANNER_MEMORY_MIB = CLAMD_MEMORY_MIB + SIGNATURES_MEMORY_MIB
# The smallest memory the service itself runs in (the Fargate minimum task it ran in alone).
SERVICE_MIN_MEMORY_MIB = 512


def scanner_memory(scan: str) -> int:
    """MiB of the task the scanner takes: the sidecars with `clamav`, nothing otherwise."""
    return SCANNER_MEMORY_MIB if scan == "clamav" else 0


def service_memory(memory: int, scan: str) -> int:
    """MiB left to the service container in a task of `memory` MiB."""
    return memory - scanner_memory(scan)


def memory_problem(memory: int, scan: str) -> str | None:
    """Why a task of `memory` MiB cannot hold the service and its scanner, or None."""
    left = service_memory(memory, scan)
    if left >= SERVICE_MIN_MEMORY_MIB:
        return None
    needed = SERVICE_MIN_MEMORY_MIB + scanner_memory(scan)
    return (
        f"memory {memory} cannot hold the service ({SERVICE_MIN_MEMORY_MIB} MiB at least) and "
        f"its clamav scanner ({CLAMD_MEMORY_MIB} MiB clamd + {SIGNATURES_MEMORY_MIB} MiB "
        f"signature sync): give the task {needed} MiB or more (e.g. cpu 512, memory 3072), "
        "or scan with guardduty"
    )
