#!/usr/bin/env python3
"""`make demo`: install a four-disk QEMU machine from the seed's node (adapted to the VM's
NICs), boot the installed disks and show what an admin wants to see.

  qemu-tests/demo.py --iso ISO --answer PREPARED.toml [--work DIR]

The answer is served over HTTP on 127.0.0.1 and fetched by the live system through QEMU's
(restricted) user network: `tandem install --answer URL --yes`. Then the disks boot alone,
and root logs in on the serial console to show mdstat, lsblk, the addresses, the bond, and
GRUB on every disk. Exit 0 only if the install succeeded and every check passed.
"""

import argparse
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tvm  # noqa: E402

DISKS = 4
MACS = ["52:54:00:12:34:01", "52:54:00:12:34:02"]


def show(title, text):
    print(f"\n== {title}")
    print(text.rstrip())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iso", required=True)
    ap.add_argument("--answer", required=True)
    ap.add_argument("--work", default="build/demo/qemu")
    ap.add_argument("--timeout", type=int, default=5400)
    a = ap.parse_args()

    work = os.path.abspath(a.work)
    shutil.rmtree(work, ignore_errors=True)
    www = os.path.join(work, "www")
    os.makedirs(www)
    shutil.copy(a.answer, os.path.join(www, "answer.toml"))
    os.chmod(os.path.join(www, "answer.toml"), 0o600)
    srv = tvm.HttpServer(www, os.path.join(work, "http.log"))
    disks = [tvm.new_disk(os.path.join(work, f"disk{i}.qcow2"), "20G") for i in range(DISKS)]
    # Serials as the fixture qemu-4disk-virtio-2nic has them.
    drives = [tvm.Disk(d, serial=f"tandem-disk{i}") for i, d in enumerate(disks)]
    nics = [tvm.Nic(m) for m in MACS]
    times = {}

    print(f"== demo: live ISO {a.iso}, {DISKS} × 20 GiB virtio disks, 2 virtio NICs, SeaBIOS, TCG")
    live = tvm.VM("live", work, drives, nics=nics, cdrom=os.path.abspath(a.iso), boot="d",
                  mem=2048)
    live.start("install")
    try:
        sh = live.live_shell(1200)
        times["live boot"] = live.elapsed()
        print(f"live system ready after {times['live boot']:.0f} s; installing "
              f"(console: {live.console_log})")
        sh.con.sendline(f"tandem install --answer {srv.guest_url}/answer.toml --yes "
                        "--progress plain; echo TANDEM-EXIT=$?")
        out = sh.con.expect(r"TANDEM-RESULT \{.*\}\r?\n", a.timeout)
        result = tvm.tandem_result(out)
        times["install"] = live.elapsed() - times["live boot"]
        if not result or result.get("result") != "ok":
            print(out[-6000:])
            print(f"demo: install FAILED: {result}")
            return 1
        live.wait_exit(900)
    finally:
        live.kill()
        srv.stop()

    show("install phases (TCG)", "\n".join(
        f"  {p['phase']:<12} {p['seconds']:7.1f} s" for p in result["phases"])
        + f"\n  {'total':<12} {result['total-seconds']:7.1f} s")

    node = tvm.VM("lxeon", work, drives, nics=nics, boot="c")
    node.start("boot")
    failed = []
    try:
        sh = node.login(1200)
        times["first boot"] = node.elapsed()
        print(f"\ninstalled system: logged in on ttyS0 after {times['first boot']:.0f} s")
        show("hostname -f", sh.out("hostname -f"))
        show("cat /proc/mdstat", sh.out("cat /proc/mdstat"))
        show("lsblk", sh.out("lsblk -o NAME,SIZE,TYPE,FSTYPE,MOUNTPOINTS"))
        show("ip -br addr", sh.out("ip -br -color=never addr"))
        show("bond0", sh.out("grep -E 'Bonding Mode|MII Status|Slave Interface|Aggregator ID' "
                             "/proc/net/bonding/bond0"))
        # GRUB on every disk: the BIOS boot code in the MBR + core.img in the BIOS-boot
        # partition, and GRUB's EFI binary on every disk's ESP.
        grub = sh.out(
            "for d in /dev/vd?; do "
            "  mbr=$(dd if=$d bs=512 count=1 2>/dev/null | grep -c GRUB); "
            "  core=$(dd if=${d}1 bs=512 count=1 2>/dev/null | wc -c); "
            # The first ESP is mounted at /boot/efi already; the others are looked at
            # read-only.
            "  m=$(findmnt -n -o TARGET --source ${d}2 | head -1); u=; "
            "  if [ -z \"$m\" ]; then m=/mnt/esp; mkdir -p $m; mount -o ro ${d}2 $m && u=1; fi; "
            "  efi=$(ls -1 $m/EFI/BOOT/BOOTX64.EFI $m/EFI/debian/grubx64.efi 2>/dev/null | wc -l); "
            "  [ -n \"$u\" ] && umount $m; "
            "  echo \"$d: MBR GRUB=$mbr BIOS-boot core=${core}B ESP EFI binaries=$efi\"; "
            "done")
        show("GRUB on every disk", grub)
        for line in grub.strip().splitlines():
            if "MBR GRUB=1" not in line or "EFI binaries=2" not in line:
                failed.append(f"GRUB missing: {line}")
        md = sh.out("cat /proc/mdstat")
        if "raid6" not in md or "raid1" not in md:
            failed.append("the raid1 /boot or raid6 data array is missing in /proc/mdstat")
        if "10.7.4.45/24" not in sh.out("ip -br addr show vmbr374"):
            failed.append("vmbr374 lacks 10.7.4.45/24")
        bond = sh.out("cat /proc/net/bonding/bond0")
        if bond.count("Slave Interface") != 2:
            failed.append("bond0 does not have both members")
        show("/var/log/tandem on the installed system", sh.out("ls -l /var/log/tandem"))
        node.poweroff(sh)
    finally:
        node.kill()

    show("times", "\n".join(f"  {k:<11} {v:6.0f} s" for k, v in times.items()))
    if failed:
        print("\ndemo: FAILED checks:\n  " + "\n  ".join(failed))
        return 1
    print("\ndemo: OK — installed, booted from the RAID, network and GRUB as planned")
    return 0


if __name__ == "__main__":
    sys.exit(main())
