#!/usr/bin/env python3
"""Speed: Tandem's install against mmdebstrap, same packages, same disks, same VM.

  qemu-tests/bench.py [--iso ISO] [--answer TOML] [--tools SQUASHFS] [--work DIR]
                      [--tandem BIN] [--medium DIR]

One QEMU/TCG machine (four 20 GiB virtio disks, two virtio NICs, SeaBIOS, 2 GiB):

1. The live ISO runs `tandem install` (the answer over 9p). Its TANDEM-RESULT line gives
   every phase's time.
2. The installed disks boot alone (the proof that the install works); on the installed
   system, the exact list of installed packages is read (dpkg-query). With --degraded,
   they then boot with the first disk gone (qcow2 overlays of the other three), after the
   first resync has finished: md will not start a RAID6 degraded while that resync is
   unfinished ("cannot start dirty degraded array"; seen in this benchmark's first run,
   and why the e2e suite's fleet scenario finishes it before beta's degraded boot). The e2e
   suite proves degraded boots; here it only costs time.
3. The live ISO again: the arrays and the volume group Tandem made are assembled, resync is
   frozen (as during Tandem's install), the root volume gets a fresh ext4, and
   `mmdebstrap --variant=minbase --include=<that list>` installs into it from the medium's
   own repository (/run/live/medium/tandem/repo, file://). mmdebstrap is not in the live
   system: a trixie root holding it (--tools, built on the host by `make bench`) reaches
   the guest over 9p as a squashfs and runs in a chroot with the target and the repository
   bound into it.

Prints both times and their ratio. A benchmark, not a test: it fails only if a run fails.
"""

import argparse
import json
import os
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tvm  # noqa: E402

NICS = [tvm.Nic("52:54:00:12:34:56"), tvm.Nic("52:54:00:12:34:57")]


def live_vm(work, disks, iso, share, tag):
    vm = tvm.VM("bench", work, disks, nics=NICS, cdrom=iso, boot="d",
                extra=["-virtfs",
                       f"local,path={share},mount_tag=h,security_model=none,readonly=on"])
    vm.start(tag)
    try:
        sh = vm.live_shell()
        sh.run(tvm.MOUNT_9P)
    except BaseException:
        vm.kill()  # the callers' cleanup starts only once they have the VM
        raise
    return vm, sh


def run_tandem(a, work, disks, share):
    vm, sh = live_vm(work, disks, a.iso, share, "tandem")
    try:
        binary = "/mnt/h/tandem" if a.tandem else "tandem"
        medium = " --medium /mnt/h/medium" if a.medium else ""
        sh.con.sendline(f"{binary} install --answer /mnt/h/answer.toml --yes --progress plain"
                        f"{medium}; echo TANDEM-EXIT=$?")
        seen = sh.con.expect(r"TANDEM-RESULT \{.*\}\r?\n", a.timeout)
        result = tvm.tandem_result(seen)
        if result.get("result") != "ok":
            print(seen[-4000:])
            raise SystemExit("tandem install failed")
        vm.wait_exit(600)  # the install reboots; QEMU runs with -no-reboot
    finally:
        vm.kill()
    return result


def installed_packages(work, disks, wait_resync=False):
    """Boots the installed disks, logs in, returns the installed packages and the boot
    time to the login prompt."""
    vm = tvm.VM("bench", work, disks, nics=NICS)
    vm.start("firstboot")
    try:
        sh = vm.login(timeout=1800)
        t_boot = vm.elapsed()
        print(sh.out("findmnt / && cat /proc/mdstat"))
        root = sh.out("findmnt -n -o SOURCE /").split()[-1]
        out = sh.out("dpkg-query -W -f='${db:Status-Abbrev} ${Package}\\n'")
        pkgs = sorted(line.split()[1] for line in out.splitlines()
                      if line.startswith("ii "))
        if wait_resync:
            sh.finish_md_resync()
        vm.poweroff(sh)
    finally:
        vm.kill()
    return pkgs, t_boot, root


def degraded_boot(work, disks):
    """The installed system boots with its first disk gone (qcow2 overlays of the other
    three, so the disks themselves stay as they were): every array runs degraded."""
    over = [tvm.overlay(d, os.path.join(work, f"degraded{i}.qcow2"))
            for i, d in enumerate(disks[1:], 1)]
    # Keep each remaining disk's serial: GRUB and the by-id paths name them.
    vm = tvm.VM("bench", work, [tvm.Disk(o, serial=f"tandem-bench-disk{i}")
                                for i, o in enumerate(over, 1)], nics=NICS)
    vm.start("degraded")
    try:
        sh = vm.login(timeout=1800)
        t = vm.elapsed()
        mdstat = sh.out("cat /proc/mdstat; findmnt -n -o SOURCE /")
        vm.poweroff(sh)
    finally:
        vm.kill()
        for o in over:
            os.unlink(o)
    return t, mdstat


def run_mmdebstrap(a, work, disks, share, pkgs, root):
    with open(os.path.join(share, "packages.txt"), "w") as f:
        f.write(",".join(pkgs) + "\n")
    vm, sh = live_vm(work, disks, a.iso, share, "mmdebstrap")
    try:
        # The live system assembles the old arrays itself (docs/install.md, Known limits).
        sh.run("mdadm --assemble --scan >/dev/null 2>&1; true")
        sh.run("vgchange -ay >/dev/null")
        sh.run("for f in /sys/block/md*/md/sync_action; do echo frozen > $f; done; cat /proc/mdstat")
        # The root volume the installed system ran from, emptied.
        sh.run(f"mkfs.ext4 -q -F {root}", timeout=600)
        sh.run("mkdir -p /mnt/tools.ro /mnt/tools.rw /mnt/tools"
               " && mount -o loop,ro /mnt/h/tools.squashfs /mnt/tools.ro"
               " && mount -t tmpfs tmpfs /mnt/tools.rw && mkdir /mnt/tools.rw/u /mnt/tools.rw/w"
               " && mount -t overlay overlay -o lowerdir=/mnt/tools.ro,upperdir=/mnt/tools.rw/u,"
               "workdir=/mnt/tools.rw/w /mnt/tools")
        sh.run("for d in dev proc sys; do mount --rbind /$d /mnt/tools/$d; done"
               " && mkdir -p /mnt/tools/repo /mnt/tools/target"
               " && mount --bind /run/live/medium/tandem/repo /mnt/tools/repo"
               f" && mount {root} /mnt/tools/target")
        suite = sh.out("ls /run/live/medium/tandem/repo/dists").split()[0]
        t0 = time.time()
        rc, out = sh.run(
            "s=$(date +%s.%N); chroot /mnt/tools env LC_ALL=C.UTF-8 mmdebstrap --mode=root --variant=minbase --format=directory"
            " --hook-dir=/usr/share/mmdebstrap/hooks/file-mirror-automount"
            # The same dpkg path excludes as the base image's build (image-build rootfs.rs).
            " --dpkgopt='path-exclude=/usr/share/doc/*'"
            " --dpkgopt='path-include=/usr/share/doc/*/copyright'"
            " --dpkgopt='path-exclude=/usr/share/man/*'"
            " --dpkgopt='path-exclude=/usr/share/info/*'"
            " --dpkgopt='path-exclude=/usr/share/locale/*'"
            " --dpkgopt='path-include=/usr/share/locale/locale.alias'"
            " --include=$(cat /mnt/h/packages.txt)"
            f" {suite} /target 'deb [trusted=yes] file:///repo {suite} main'"
            " > /tmp/mmdebstrap.log 2>&1; rc=$?; e=$(date +%s.%N);"
            " awk \"BEGIN{print \\\"MMDEBSTRAP-SECONDS\\\", $e - $s}\"; exit $rc",
            timeout=a.timeout, check=False)
        seconds = time.time() - t0
        m = re.search(r"MMDEBSTRAP-SECONDS ([\d.]+)", out)
        if m:
            seconds = float(m.group(1))
        if rc != 0:
            print(sh.out("tail -40 /tmp/mmdebstrap.log"))
            raise SystemExit(f"mmdebstrap failed ({rc})")
        n = sh.out("chroot /mnt/tools/target dpkg-query -W -f='${db:Status-Abbrev}\\n'"
                   " | grep -c '^ii'").strip()
    finally:
        vm.kill()
    return seconds, int(n.split()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iso", default="build/image/tandem.iso")
    ap.add_argument("--answer", default="examples/qemu-4disk.toml")
    # The VM boots SeaBIOS: "bios" keeps the measured install to what this machine boots
    # (the default "both" adds the EFI GRUB and shim to every ESP).
    ap.add_argument("--firmware", default="bios", help="storage.firmware for the answer ('' keeps it)")
    ap.add_argument("--tools", default="build/bench/tools.squashfs")
    ap.add_argument("--tandem", help="a tandem binary to run instead of the ISO's")
    ap.add_argument("--medium", help="a medium directory to use instead of the ISO's")
    ap.add_argument("--work", default="build/bench/run")
    ap.add_argument("--no-mmdebstrap", action="store_true",
                    help="only Tandem's install and the boots of the installed disks")
    ap.add_argument("--degraded", action="store_true",
                    help="also boot without the first disk (after the first resync)")
    ap.add_argument("--resume", action="store_true",
                    help="keep --work: reuse its installed disks and saved figures, run only"
                         " what is missing (development)")
    ap.add_argument("--timeout", type=int, default=7200)
    a = ap.parse_args()

    work = os.path.abspath(a.work)
    saved_path = os.path.join(work, "installed.json")
    if not a.resume:
        shutil.rmtree(work, ignore_errors=True)
    share = os.path.join(work, "share")
    os.makedirs(share, exist_ok=True)
    answer = open(a.answer).read()
    if a.firmware:
        # Into the answer's [storage] table (TOML does not let a table be reopened).
        answer = re.sub(r"(?m)^\[storage\]\n", f'[storage]\nfirmware = "{a.firmware}"\n',
                        answer, count=1)
    with open(os.path.join(share, "answer.toml"), "w") as f:
        f.write(answer)
    tools = os.path.join(share, "tools.squashfs")
    if not a.no_mmdebstrap and not os.path.exists(tools):
        os.link(os.path.abspath(a.tools), tools)
    if a.tandem:
        shutil.copy(a.tandem, os.path.join(share, "tandem"))
    if a.medium and not os.path.exists(os.path.join(share, "medium")):
        shutil.copytree(a.medium, os.path.join(share, "medium"), copy_function=os.link)
    a.iso = os.path.abspath(a.iso)
    disk_paths = [os.path.join(work, f"disk{i}.qcow2") for i in range(4)]

    saved = {}
    if a.resume and os.path.exists(saved_path):
        with open(saved_path) as f:
            saved = json.load(f)
        print(f"resuming from {saved_path}: {', '.join(saved)} of an earlier run", flush=True)
    if "result" in saved:
        disks = disk_paths
        result = saved["result"]
    else:
        disks = [tvm.new_disk(p) for p in disk_paths]
        result = run_tandem(a, work, disks, share)
        saved = {"result": result}
        with open(saved_path, "w") as f:
            json.dump(saved, f)
    if "packages" in saved:
        pkgs, t_boot, root = saved["packages"], saved["boot"], saved["root"]
    else:
        pkgs, t_boot, root = installed_packages(work, disks, wait_resync=a.degraded)
        saved.update(packages=pkgs, boot=t_boot, root=root)
        with open(saved_path, "w") as f:
            json.dump(saved, f)
    phases = {p["phase"]: p["seconds"] for p in result["phases"]}
    print("tandem phases: " + " ".join(f"{k} {v:.0f} s" for k, v in phases.items()), flush=True)
    print(f"installed system: login prompt after {t_boot:.0f} s; {len(pkgs)} packages; root {root}",
          flush=True)
    t_deg = None
    if a.degraded:
        t_deg, mdstat = degraded_boot(work, disks)
        print(f"degraded (first disk gone): login prompt after {t_deg:.0f} s\n{mdstat}", flush=True)
    if a.no_mmdebstrap:
        print("BENCH " + json.dumps({"tandem-phases": phases, "packages": len(pkgs),
                                     "tandem-install-seconds": result["total-seconds"],
                                     "boot-seconds": round(t_boot),
                                     "degraded-boot-seconds": t_deg and round(t_deg)}))
        return 0
    mm, n = run_mmdebstrap(a, work, disks, share, pkgs, root)

    tandem_root = sum(phases.get(p, 0) for p in ("system", "packages", "initramfs"))
    figures = {
        "packages": len(pkgs),
        "mmdebstrap-packages": n,
        "mmdebstrap-seconds": round(mm, 1),
        "tandem-system-packages-initramfs-seconds": round(tandem_root, 1),
        "tandem-install-seconds": round(result["total-seconds"], 1),
        "tandem-phases": phases,
        "boot-seconds": round(t_boot),
        "degraded-boot-seconds": t_deg and round(t_deg),
        "ratio": round(tandem_root / mm, 3),
    }
    print(f"mmdebstrap (baseline): {mm:.0f} s for {n} packages")
    print(f"tandem system+packages+initramfs: {tandem_root:.0f} s "
          f"(whole install {result['total-seconds']:.0f} s) for {len(pkgs)} packages")
    print(f"ratio tandem/mmdebstrap: {tandem_root / mm:.2f} (bar: <= 0.5)")
    print("BENCH " + json.dumps(figures))
    with open(os.path.join(work, "bench.json"), "w") as f:
        json.dump(figures, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
