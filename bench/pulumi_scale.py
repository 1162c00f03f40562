"""How long the Pulumi program takes under the test mocks for a large catalogue.

    uv run python bench/pulumi_scale.py                 # 120 tenants, 2 runs
    uv run python bench/pulumi_scale.py --tenants 240 --repeat 1

Prints resources, wall and CPU seconds per run. The first run also pays the lazy imports of the
pulumi_aws modules (compiled from source when PYTHONDONTWRITEBYTECODE is set).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.provisioning.pulumi_harness import ACCOUNT, REGION, run_program
from tests.provisioning.test_pulumi_program import catalogue_file
from tests.provisioning.test_scale import tenant


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=120)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    config = {"silo:certificateArn": f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/abc"}
    with tempfile.TemporaryDirectory() as directory:
        path = catalogue_file(Path(directory), *map(tenant, range(1, args.tenants + 1)))
        print(f"{'run':>3}  {'tenants':>7}  {'resources':>9}  {'wall s':>7}  {'CPU s':>6}")
        for number in range(1, args.repeat + 1):
            wall, cpu = time.perf_counter(), time.process_time()
            run = run_program(path, stack="prod", config=config)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            resources = len(run.resources)
            print(f"{number:>3}  {args.tenants:>7}  {resources:>9}  {wall:>7.1f}  {cpu:>6.1f}")


if __name__ == "__main__":
    main()
