"""DRBD checks for the e2e `fleet` scenario (qemu-tests/e2e.py, e2e_fleet.py).

Both nodes were installed from one cluster answer (qemu-tests/answers/cluster.toml: r0
dual-primary over 10.37.0.x, VG drbdvg on /dev/drbd0) and booted together; at first boot
tandem-drbd.service (`tandem drbd-start`) created the metadata, skipped the initial sync,
promoted both nodes and made the VG. The checks, in this order (drbd_peer_down_resync
power-cycles beta):

  drbd_first_boot        Connected, UpToDate/UpToDate, Primary/Primary on both; the .res is
                         0600 and holds the same secret on both (compared by hash, never
                         shown); the module/utils check passed; the initial-sync skip time
  drbd_block_roundtrip   a random 4 KiB block written on alpha reads back identically on beta
  drbd_full_sync         `drbdadm invalidate-remote r0`: a full sync of the same device, timed
                         against the skip
  drbd_peer_down_resync  beta powered off, alpha keeps writing, beta boots again: only the
                         changed blocks resync (bytes from DRBD's own log line)
  nodes_healthy          `tandem status` exits 0 on both nodes (issue #13)

Each records its figures with ctx.record(...). fleet's Scenario (e2e_fleet.py) lists
CHECKS as its checks.
"""

import json
import re
import time

RES = "r0"
DEV = "/dev/drbd0"
# Scratch offsets inside the DRBD device, past LVM's metadata and inside its free extents
# (drbdvg holds no volume in this test): 4 KiB blocks.
BLOCK_AT = 100 * 256          # 100 MiB
DELTA_AT = 200 * 256          # 200 MiB
DELTA_BLOCKS = 1024           # 4 MiB written while the peer is away


def drbd_state(sh):
    out = sh.out(f"echo $(drbdadm cstate {RES}) $(drbdadm dstate {RES}) $(drbdadm role {RES})")
    return out.split()


def wait_state(sh, want, timeout, what):
    """Polls until `want(cstate, dstate, role)` is true; returns the seconds it took."""
    start = time.time()
    last = None
    while time.time() - start < timeout:
        last = drbd_state(sh)
        if len(last) == 3 and want(*last):
            return time.time() - start
        time.sleep(1)
    raise AssertionError(f"{what}: still {last} after {timeout} s")


def _service_done(sh, timeout=1800):
    """tandem-drbd.service is a oneshot that waits for the peer: wait for it to finish."""
    start = time.time()
    while time.time() - start < timeout:
        rc, out = sh.run("systemctl is-active tandem-drbd.service", check=False)
        state = out.strip()
        if state == "active":
            return
        if state == "failed":
            _, log = sh.run("journalctl -b -u tandem-drbd.service -o cat --no-pager | tail -40",
                            check=False)
            raise AssertionError(f"tandem-drbd.service failed:\n{log}")
        time.sleep(3)
    raise AssertionError(f"tandem-drbd.service not done after {timeout} s")


def _secret_hash(sh):
    # The hash of the shared-secret line, never the line: secrets stay out of test logs.
    return sh.out(f"grep shared-secret /etc/drbd.d/{RES}.res | sha256sum | cut -c1-16").strip()


def drbd_first_boot(ctx, shell_alpha, shell_beta, vm_alpha, vm_beta):
    # Each node's service promotes only its own side: alpha's can end while beta's is still
    # promoting, so the pair is judged once both have ended.
    for sh in (shell_alpha, shell_beta):
        _service_done(sh)
    for name, sh in (("alpha", shell_alpha), ("beta", shell_beta)):
        mode = sh.out(f"stat -c %a /etc/drbd.d/{RES}.res").strip()
        assert mode == "600", f"{name}: /etc/drbd.d/{RES}.res is {mode}, not 600"
        journal = sh.out("journalctl -b -u tandem-drbd.service -o cat --no-pager")
        assert re.search(r"kernel DRBD module \S+ \(API \d+\) and drbdadm \S+ \(API \d+\) match",
                         journal), f"{name}: no module/utils check in the journal:\n{journal}"
        cfg = json.loads(sh.out("cat /etc/tandem/drbd.json"))
        dual = next(r for r in cfg["resources"] if r["name"] == RES)["dual-primary"]
        want_role = "Primary/Primary" if dual else None
        # The peer's promotion reaches this node over the wire a moment after the peer's
        # service ends: a short bounded wait for exactly this state.
        wait_state(sh, lambda c, d, r: (c, d) == ("Connected", "UpToDate/UpToDate")
                   and (want_role is None or r == want_role), 60,
                   f"{name}: want Connected UpToDate/UpToDate {want_role or ''}")
        # LVM sees the DRBD device, never its backing volume (the filter).
        pvs = sh.out("pvs --noheadings -o pv_name,vg_name")
        assert re.search(rf"{DEV}\s+drbdvg", pvs), f"{name}: drbdvg not on {DEV}:\n{pvs}"
        backing = next(x for x in cfg["resources"] if x["name"] == RES)["disk"]
        assert backing not in pvs, f"{name}: LVM sees the backing volume {backing}:\n{pvs}"
        assert not sh.out("ls /var/lib/tandem/drbd/ 2>/dev/null").strip(), \
            f"{name}: first-boot markers left behind"
    assert _secret_hash(shell_alpha) == _secret_hash(shell_beta), "the nodes' secrets differ"
    journal = shell_alpha.out("journalctl -b -u tandem-drbd.service -o cat --no-pager")
    m = re.search(r"DRBD-INITIAL-SYNC-SKIPPED \S+ ([\d.]+) s", journal)
    assert m, f"alpha did not skip the initial sync:\n{journal}"
    size_kib = int(shell_alpha.out(f"blockdev --getsize64 {DEV}")) // 1024
    ctx.record(drbd_skip_seconds=float(m.group(1)), drbd_device_kib=size_kib)


def drbd_block_roundtrip(ctx, shell_alpha, shell_beta, vm_alpha, vm_beta):
    shell_alpha.run(f"dd if=/dev/urandom of=/tmp/blk bs=4k count=1 status=none && "
                    f"dd if=/tmp/blk of={DEV} bs=4k seek={BLOCK_AT} count=1 oflag=direct "
                    f"conv=notrunc status=none")
    a = shell_alpha.out("sha256sum </tmp/blk").split()[0]
    b = shell_beta.out(f"dd if={DEV} bs=4k skip={BLOCK_AT} count=1 iflag=direct status=none "
                       f"| sha256sum").split()[0]
    assert a == b, f"block written on alpha ({a}) reads back as {b} on beta"
    ctx.record(drbd_block_roundtrip="ok")


def drbd_full_sync(ctx, shell_alpha, shell_beta, vm_alpha, vm_beta):
    """The figure the skip is measured against: a full sync of the same device."""
    shell_alpha.run(f"drbdadm invalidate-remote {RES}")
    secs = wait_state(shell_alpha, lambda c, d, r: c == "Connected" and d == "UpToDate/UpToDate",
                       3600, "full sync")
    size_kib = int(shell_alpha.out(f"blockdev --getsize64 {DEV}")) // 1024
    ctx.record(drbd_full_sync_seconds=round(secs, 1), drbd_full_sync_kib=size_kib)


def drbd_peer_down_resync(ctx, shell_alpha, shell_beta, vm_alpha, vm_beta):
    vm_beta.poweroff(shell_beta)
    wait_state(shell_alpha, lambda c, d, r: c != "Connected", 120, "alpha noticing beta gone")
    shell_alpha.run(f"dd if=/dev/urandom of=/tmp/delta bs=4k count={DELTA_BLOCKS} status=none && "
                    f"dd if=/tmp/delta of={DEV} bs=4k seek={DELTA_AT} oflag=direct conv=notrunc "
                    f"status=none")
    oos = int(re.search(r"oos:(\d+)", shell_alpha.out("cat /proc/drbd")).group(1))
    shell_alpha.run("dmesg -C")
    vm_beta.start("drbd-rejoin")
    shell_beta = vm_beta.login()
    _service_done(shell_beta)
    secs = wait_state(shell_alpha, lambda c, d, r: c == "Connected" and d == "UpToDate/UpToDate",
                       600, "resync after beta came back")
    log = shell_alpha.out("dmesg")
    m = re.search(r"will sync (\d+) KB", log)
    assert m, f"no resync line in alpha's kernel log:\n{log[-2000:]}"
    resync_kib = int(m.group(1))
    size_kib = int(shell_alpha.out(f"blockdev --getsize64 {DEV}")) // 1024
    assert resync_kib <= 4 * DELTA_BLOCKS * 2, f"resynced {resync_kib} KiB for a 4 MiB change"
    assert resync_kib < size_kib // 10, f"resynced {resync_kib} of {size_kib} KiB"
    a = shell_alpha.out("sha256sum </tmp/delta").split()[0]
    b = shell_beta.out(f"dd if={DEV} bs=4k skip={DELTA_AT} count={DELTA_BLOCKS} iflag=direct "
                       f"status=none | sha256sum").split()[0]
    assert a == b, "the 4 MiB written while beta was away differ on beta after the resync"
    ctx.record(drbd_oos_kib_while_peer_down=oos, drbd_resync_kib=resync_kib,
               drbd_resync_seconds=round(secs, 1))
    return shell_alpha, shell_beta


def nodes_healthy(ctx, shell_alpha, shell_beta, vm_alpha, vm_beta):
    """(13) `tandem status` exits 0 on both nodes once DRBD is UpToDate on both: arrays
    whole (a first resync may run), every ESP equal to /boot/efi, every GRUB target
    there. Polled: the resync after beta's return may still be ending."""
    for name, sh in (("alpha", shell_alpha), ("beta", shell_beta)):
        start, rc, out = time.time(), None, ""
        while time.time() - start < 600:
            rc, out = sh.run("tandem status", timeout=300, check=False)
            if rc == 0:
                break
            time.sleep(5)
        ctx.record(**{f"status_{name}": out.strip().splitlines(),
                      f"status_{name}_seconds": round(time.time() - start)})
        assert rc == 0, f"{name}: tandem status exited {rc}:\n{out}"
        assert "drbd0  Connected  Primary/Primary  UpToDate/UpToDate" in out, out


CHECKS = [drbd_first_boot, drbd_block_roundtrip, drbd_full_sync, drbd_peer_down_resync,
          nodes_healthy]
