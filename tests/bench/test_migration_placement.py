"""The migration bench's placement of B's side: which CPUs, and the workqueue mask it restores."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import migration

INTERRUPTS = """\
           CPU0       CPU1       CPU2       CPU3
 24:          1          0          0          0  IO-APIC   5-edge      ACPI:Ged
 36:          0    1309986          0          0  PCI-MSIX-0000:00:02.0   1-edge  virtio1-req.0
 39:      37208          0          5         10  PCI-MSIX-0000:00:03.0   2-edge  virtio2-output.0
 40:          0          0  PCI-MSIX-0000:00:04.0   0-edge      virtio3-config
NMI:          0          0          0          0   Non-maskable interrupts
LOC:    9923373    8446564    9000000    9100000   Local timer interrupts
ERR:          0
"""


def test_device_interrupts_count_numbered_lines_only():
    # LOC and the other per-CPU counters follow no device; a short line stops at its name.
    assert migration.parse_device_interrupts(INTERRUPTS) == {0: 37209, 1: 1309986, 2: 5, 3: 10}


def test_b_gets_the_half_with_the_fewest_device_interrupts():
    counts = migration.parse_device_interrupts(INTERRUPTS)
    assert migration.quiet_half({0, 1, 2, 3}, counts) == {2, 3}
    assert migration.quiet_half({0, 1}, counts) == {0}
    # Unknown counts (no /proc/interrupts): the upper half, as before.
    assert migration.quiet_half({0, 1, 2, 3}, {}) == {2, 3}
    assert migration.quiet_half({0, 1, 2}, {}) == {1, 2}


def test_workqueue_mask_is_set_and_restored(tmp_path, monkeypatch):
    mask = tmp_path / "cpumask"
    mask.write_text("f\n")
    monkeypatch.setattr(migration.WorkqueueMask, "PATH", mask)
    moved = migration.WorkqueueMask({0, 2})
    assert mask.read_text() == "5\n"
    assert "mask 5" in moved.describe()
    moved.restore()
    assert mask.read_text() == "f\n"
    moved.restore()  # once only: a later restore leaves a mask set since alone
    mask.write_text("3\n")
    moved.restore()
    assert mask.read_text() == "3\n"


def test_workqueue_mask_that_cannot_be_written_is_said(tmp_path, monkeypatch):
    monkeypatch.setattr(migration.WorkqueueMask, "PATH", tmp_path / "absent" / "cpumask")
    left = migration.WorkqueueMask({1})
    assert "left where they were" in left.describe()
    left.restore()


@pytest.mark.parametrize(("cpus", "text"), [({0}, "1"), ({1, 3}, "a"), ({4}, "10")])
def test_mask_text_is_hex_of_the_cpus(tmp_path, monkeypatch, cpus, text):
    mask = tmp_path / "cpumask"
    mask.write_text("ff\n")
    monkeypatch.setattr(migration.WorkqueueMask, "PATH", mask)
    moved = migration.WorkqueueMask(cpus)
    assert mask.read_text() == text + "\n"
    moved.restore()
