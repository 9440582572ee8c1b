"""Guest steps the e2e scenario modules share: boot overlays of an installed layout and log
in on it. Below e2e_boots.py and e2e_day2.py, which both use it; it imports neither."""

import os

import tvm

BOOT_TIMEOUT = 1200


def overlays(ctx, layout, drop=(), tag="boot"):
    """qcow2 overlays of an installed layout's disks (minus the indexes in drop), the
    bystander too (over its raw file), and a private copy of its UEFI vars."""
    disks = []
    for i, d in enumerate(layout.disks):
        if i in drop:
            continue
        disks.append(tvm.overlay(d, os.path.join(ctx.work, f"{tag}-disk{i}.qcow2")))
    if layout.bystander:
        disks.append(tvm.Disk(tvm.overlay(layout.bystander, os.path.join(ctx.work, f"{tag}-bystander.qcow2"),
                                          backing_format="raw"), serial="bystander"))
    vars_file = None
    if layout.vars:
        vars_file = os.path.join(ctx.work, f"{tag}-vars.fd")
        with open(layout.vars, "rb") as s, open(vars_file, "wb") as d:
            d.write(s.read())
    return disks, vars_file


def login(ctx, vm, tag="boot", started=False):
    if not started:
        vm.start(tag)
    try:
        return vm.login(BOOT_TIMEOUT)
    except tvm.GuestPanic as e:
        if tvm.TCG_TIMER_PANIC not in str(e):
            raise
        ctx.log(f"{vm.name}: TCG timer panic, booting again")
        ctx.record(**{f"tcg_timer_panic_{vm.name}": True})
        vm.kill()
        vm.start(tag + "-again")
        return vm.login(BOOT_TIMEOUT)
