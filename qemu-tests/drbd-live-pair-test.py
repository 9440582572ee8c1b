#!/usr/bin/env python3
"""The DRBD proof on two live systems (qemu-tests/drbd-live-pair.py serve must be running
with fresh disks): `tandem drbd-start` on both at once, then the checks of
qemu-tests/e2e_drbd.py's kind plus split brain and the version-mismatch message.

  qemu-tests/drbd-live-pair-test.py WORK [STEP...]

Steps (default: all, in this order): firstboot roundtrip fullsync peerdown splitbrain
mismatch. Prints each figure as `FIGURE name value` and ends with `N passed, N failed`.
"""

import json
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_drbd  # noqa: E402
import tvm  # noqa: E402

WORK = sys.argv[1]
DEV = "/dev/drbd0"


def rpc(node, cmd, check=True):
    s = socket.socket(socket.AF_UNIX)
    s.connect(WORK + "/rpc.sock")
    s.sendall((node + "\t" + cmd.replace("\n", " ") + "\n").encode())
    r = json.loads(tvm.recv_line(s))
    if check and r["rc"] != 0:
        raise AssertionError(f"{node}: `{cmd}` exited {r['rc']}:\n{r['out']}")
    return r["rc"], r["out"]


def out(node, cmd):
    return rpc(node, cmd)[1]


class Node:
    """A guest of the pair as e2e_drbd's helpers want a shell: tvm.Shell's out."""

    def __init__(self, name):
        self.name = name

    def out(self, cmd, timeout=None):
        return out(self.name, cmd)


def state(node):
    return e2e_drbd.drbd_state(Node(node))


def wait(node, pred, timeout, what):
    return e2e_drbd.wait_state(Node(node), pred, timeout, f"{what} ({node})")


def figure(name, value):
    print(f"FIGURE {name} {value}", flush=True)


def firstboot():
    for n in ("alpha", "beta"):
        rpc(n, "rm -f /tmp/ds.log; (setsid tandem drbd-start >/tmp/ds.log 2>&1; echo EXIT $? >>/tmp/ds.log) </dev/null >/dev/null 2>&1 &")
    # Both runs end before either node's state is judged: the second node promotes later.
    for n in ("alpha", "beta"):
        start = time.time()
        while "EXIT" not in out(n, "cat /tmp/ds.log"):
            assert time.time() - start < 900, out(n, "cat /tmp/ds.log")
            time.sleep(2)
    for n in ("alpha", "beta"):
        log = out(n, "cat /tmp/ds.log")
        print(f"--- {n}: drbd-start\n{log}")
        assert "EXIT 0" in log, f"{n}: drbd-start failed"
        c, d, r = state(n)
        assert (c, d, r) == ("Connected", "UpToDate/UpToDate", "Primary/Primary"), (n, c, d, r)
        assert re.search(rf"{DEV}\s+drbdvg", out(n, "pvs --noheadings -o pv_name,vg_name")), n
        assert out(n, "stat -c %a /etc/drbd.d/r0.res").strip() == "600"
        assert not out(n, "ls /var/lib/tandem/drbd/").strip(), f"{n}: markers left"
    m = re.search(r"DRBD-INITIAL-SYNC-SKIPPED r0 ([\d.]+) s", out("alpha", "cat /tmp/ds.log"))
    assert m, "alpha did not skip the initial sync"
    figure("skip_seconds_connect_to_uptodate", m.group(1))
    figure("device_kib", int(out("alpha", f"blockdev --getsize64 {DEV}")) // 1024)
    # A second run (a reboot, a restart of the unit) changes nothing.
    for n in ("alpha", "beta"):
        log = out(n, "tandem drbd-start")
        assert "create" not in log and "SKIPPED" not in log, log


def roundtrip():
    rpc("alpha", f"dd if=/dev/urandom of=/tmp/blk bs=4k count=1 status=none && dd if=/tmp/blk of={DEV} bs=4k seek=25600 count=1 oflag=direct conv=notrunc status=none")
    a = out("alpha", "sha256sum </tmp/blk").split()[0]
    b = out("beta", f"dd if={DEV} bs=4k skip=25600 count=1 iflag=direct status=none | sha256sum").split()[0]
    assert a == b, (a, b)
    b2 = out("beta", f"dd if=/dev/urandom of=/tmp/blk2 bs=4k count=1 status=none && dd if=/tmp/blk2 of={DEV} bs=4k seek=25601 count=1 oflag=direct conv=notrunc status=none && sha256sum </tmp/blk2").split()[0]
    a2 = out("alpha", f"dd if={DEV} bs=4k skip=25601 count=1 iflag=direct status=none | sha256sum").split()[0]
    assert a2 == b2, (a2, b2)


def fullsync():
    rpc("alpha", "drbdadm invalidate-remote r0")
    secs = wait("alpha", lambda c, d, r: c == "Connected" and d == "UpToDate/UpToDate", 3600, "full sync")
    figure("full_sync_seconds", round(secs, 1))
    figure("full_sync_kib", int(out("alpha", f"blockdev --getsize64 {DEV}")) // 1024)
    print(out("alpha", "dmesg | grep -E 'will sync|Resync done' | tail -2"))


def peerdown():
    log = out("beta", "tandem drbd-stop")
    print(log)
    wait("alpha", lambda c, d, r: c != "Connected", 60, "alpha noticing beta down")
    rpc("alpha", f"dd if=/dev/urandom of=/tmp/delta bs=4k count=1024 status=none && dd if=/tmp/delta of={DEV} bs=4k seek=51200 oflag=direct conv=notrunc status=none")
    oos = int(re.search(r"oos:(\d+)", out("alpha", "cat /proc/drbd")).group(1))
    figure("oos_kib_while_peer_down", oos)
    rpc("alpha", "dmesg -C")
    t = time.time()
    log = out("beta", "tandem drbd-start")
    print(log)
    wait("alpha", lambda c, d, r: c == "Connected" and d == "UpToDate/UpToDate", 600, "resync")
    m = re.search(r"will sync (\d+) KB", out("alpha", "dmesg"))
    assert m, out("alpha", "dmesg")
    kib = int(m.group(1))
    size = int(out("alpha", f"blockdev --getsize64 {DEV}")) // 1024
    figure("resync_kib", kib)
    figure("resync_seconds_after_restart", round(time.time() - t, 1))
    assert kib <= 8192 and kib < size // 10, (kib, size)
    a = out("alpha", "sha256sum </tmp/delta").split()[0]
    b = out("beta", f"dd if={DEV} bs=4k skip=51200 count=1024 iflag=direct status=none | sha256sum").split()[0]
    assert a == b
    assert state("beta") == ["Connected", "UpToDate/UpToDate", "Primary/Primary"], state("beta")


def splitbrain():
    """Both Primary, link cut, both write, link back: detected; then the runbook."""
    for n in ("alpha", "beta"):
        rpc(n, "[ $(drbdadm cstate r0) = StandAlone ] || drbdadm disconnect r0")
    rpc("alpha", f"dd if=/dev/urandom of={DEV} bs=4k seek=30000 count=16 oflag=direct conv=notrunc status=none")
    rpc("beta", f"dd if=/dev/urandom of={DEV} bs=4k seek=40000 count=16 oflag=direct conv=notrunc status=none")
    rpc("alpha", "dmesg -C")
    for n in ("alpha", "beta"):
        rpc(n, "drbdadm connect r0")
    wait("alpha", lambda c, d, r: c == "StandAlone", 60, "split brain detected")
    log = out("alpha", "dmesg | grep -i split-brain")
    assert "Split-Brain detected" in log, log
    print(log)
    # docs/operations.md: beta is the victim.
    # `drbdadm disconnect` on a StandAlone resource fails ("unknown connection", exit 10).
    rc, o = rpc("beta", "drbdadm disconnect r0", check=False)
    print(f"beta$ drbdadm disconnect r0 (StandAlone: {state('beta')[0]}) -> {rc} {o.strip()}")
    for cmd in ("vgchange -an drbdvg", "drbdadm secondary r0",
                "drbdadm connect --discard-my-data r0"):
        rc, o = rpc("beta", cmd, check=False)
        print(f"beta$ {cmd} -> {rc} {o.strip()}")
        assert rc == 0, o
    if state("alpha")[0] == "StandAlone":
        rpc("alpha", "drbdadm connect r0")
    wait("beta", lambda c, d, r: c == "Connected" and d == "UpToDate/UpToDate", 300, "recovery")
    print(out("alpha", "dmesg | grep -E 'will sync|Split-Brain|discard' | tail -5"))
    rpc("beta", "drbdadm primary r0 && vgchange -ay drbdvg")
    a = out("alpha", f"dd if={DEV} bs=4k skip=40000 count=16 iflag=direct status=none | sha256sum")
    b = out("beta", f"dd if={DEV} bs=4k skip=40000 count=16 iflag=direct status=none | sha256sum")
    assert a == b, "beta's split-brain writes were not replaced by alpha's data"


def mismatch():
    rpc("beta", "mv /usr/lib/drbd/drbdadm-84 /root/drbdadm-84")
    rc, o = rpc("beta", "tandem drbd-start", check=False)
    rpc("beta", "mv /root/drbdadm-84 /usr/lib/drbd/drbdadm-84")
    print(f"drbd-start without drbdadm-84: exit {rc}\n{o}")
    assert rc != 0 and "drbdadm-84 is missing" in o, o


STEPS = {"firstboot": firstboot, "roundtrip": roundtrip, "fullsync": fullsync,
         "peerdown": peerdown, "splitbrain": splitbrain, "mismatch": mismatch}


def main():
    names = sys.argv[2:] or list(STEPS)
    passed = failed = 0
    for n in names:
        t = time.time()
        try:
            STEPS[n]()
            passed += 1
            print(f"ok {n} ({time.time() - t:.1f} s)", flush=True)
        except Exception as e:  # report and go on: later steps still say something
            failed += 1
            print(f"FAILED {n}: {e}", flush=True)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
