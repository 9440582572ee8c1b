"""What e2e scenario modules declare (Scenario) and what an install hands the scenarios that
need it (Layout). Below every e2e_*.py and e2e.py itself, so none of them imports another
to share these."""

import dataclasses
from typing import Callable


@dataclasses.dataclass(frozen=True)
class Scenario:
    """One scenario of qemu-tests/e2e.py. run(ctx) raises on failure; an install's returns
    its Layout (or a dict of them by name). vms: QEMU machines it runs at once (0: host
    only); est: rough seconds, for "longest chain first"; checks: functions run(ctx) hands
    on to the scenario's own steps (ctx.checks), in order; module: filled in by the
    runner."""
    name: str
    run: Callable
    needs: tuple = ()
    vms: int = 1
    est: int = 300
    checks: tuple = ()
    module: str = ""


@dataclasses.dataclass
class Layout:
    """An installed node's disks, which dependants put overlays on (tvm.overlay) and never
    write to. Saved, by layout name, in layouts.json in the install's directory (for
    --reuse)."""
    disks: list
    firmware: str                 # "bios" | "uefi"
    answer: str
    node: str
    macs: list
    bystander: str | None = None  # a raw disk the install must not touch
    bystander_sha256: str | None = None
    vars: str | None = None       # OVMF vars of a UEFI install
    hardware: str | None = None   # the live system's `tandem detect --json`

    def to_json(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, doc):
        return cls(**doc)
