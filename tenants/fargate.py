"""The CPU/memory pairs Fargate accepts for a Linux task (AWS ECS developer guide, "Task CPU and
memory"). A pair outside this table fails only at deploy time, so the catalogue checks it."""

from __future__ import annotations

GIB = 1024


def _steps(low_gib: int, high_gib: int, step_gib: int) -> tuple[int, ...]:
    return tuple(range(low_gib * GIB, high_gib * GIB + 1, step_gib * GIB))


# cpu units -> memory values in MiB
VALID_MEMORY: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: _steps(1, 4, 1),
    1024: _steps(2, 8, 1),
    2048: _steps(4, 16, 1),
    4096: _steps(8, 30, 1),
    8192: _steps(16, 60, 4),
    16384: _steps(32, 120, 8),
}


def memory_problem(cpu: int, memory: int) -> str | None:
    """Why (cpu, memory) is not a Fargate task size, or None when it is."""
    if cpu not in VALID_MEMORY:
        valid = ", ".join(str(c) for c in VALID_MEMORY)
        return f"cpu {cpu} is not a Fargate size (valid: {valid})"
    allowed = VALID_MEMORY[cpu]
    if memory not in allowed:
        if len(allowed) <= 3:
            shown = ", ".join(str(m) for m in allowed)
        else:
            step = allowed[1] - allowed[0]
            shown = f"{allowed[0]}-{allowed[-1]} in steps of {step}"
        return f"memory {memory} is not valid with cpu {cpu} on Fargate (valid: {shown})"
    return None
