#!/usr/bin/env python3
"""UEFI PXE under Secure Boot, one VM (issue #15): a blank q35 machine with Debian's
Secure Boot OVMF (Microsoft's keys enrolled) and a virtio-net NIC on the fleet network
(fleetnet.py, docs/pxe/*) boots shim -> Debian's signed network GRUB -> boot/<mac>.cfg
-> kernel and initrd over HTTP -> the live system (its "TANDEM READY" banner and the
kernel's "Secure boot enabled"). After an ok install report the collector flips
boot/<mac>.cfg to local.grub; the second boot leaves GRUB by `exit` (no kernel fetched) and OVMF
shows its boot menu.

  qemu-tests/uefi-pxe-sb-smoke.py --pxe build/image/pxe [--work build/uefi-pxe-sb-smoke]

The NIC's option ROM is disabled: QEMU's is iPXE, which would answer DHCP as an iPXE
client and take the iPXE path; a real NIC's firmware PXE is what this is about.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import fleetnet  # noqa: E402
import tvm  # noqa: E402

MAC = "52:54:00:5e:c0:01"
CODE = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
VARS = "/usr/share/OVMF/OVMF_VARS_4M.ms.fd"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pxe", required=True)
    ap.add_argument("--work", default="build/uefi-pxe-sb-smoke")
    args = ap.parse_args()
    work = os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)
    net = fleetnet.FleetNet(work, args.pxe)
    vm = None
    try:
        net.add_machine(MAC, os.devnull)
        vars_file = os.path.join(work, "sb-vars.fd")
        shutil.copy(VARS, vars_file)
        disk = os.path.join(work, "disk.qcow2")
        subprocess.run(["qemu-img", "create", "-f", "qcow2", disk, "4G"], check=True,
                       stdout=subprocess.DEVNULL)
        # firmware="bios" adds no firmware arguments; the Secure Boot ones follow.
        extra = ["-machine", "q35,smm=on",
                 "-global", "driver=cfi.pflash01,property=secure,value=on",
                 "-drive", f"if=pflash,format=raw,readonly=on,file={CODE}",
                 "-drive", f"if=pflash,format=raw,file={vars_file}",
                 "-global", "virtio-net-pci.romfile="]
        vm = tvm.VM("sb", work, [tvm.Disk(disk, bootindex=2)],
                    nics=[tvm.Nic(MAC, net="tap", ifname=net.tap("sb0"), bootindex=1)],
                    firmware="bios", boot="n", extra=extra, netns=net.ns)
        con = vm.start("install")
        con.expect(r"Fetching Netboot Image grubx64\.efi", 120)
        t_grub = vm.elapsed()
        con.expect(r"Secure boot enabled", 300)
        t_sb = vm.elapsed()
        con.expect(r"TANDEM READY", 600)
        t_ready = vm.elapsed()
        for path in ("/tandem/vmlinuz", "/tandem/initrd.img", "/tandem/filesystem.squashfs",
                     f"/boot/{MAC}.cfg"):
            if not net.fetches(path):
                raise AssertionError(f"nginx never served {path}")
        print(f"ok install boot: GRUB {t_grub:.0f} s, 'Secure boot enabled' {t_sb:.0f} s, "
              f"TANDEM READY {t_ready:.0f} s")
        vm.kill()
        subprocess.run(["ip", "netns", "exec", net.ns, "curl", "-sf", "-X", "POST",
                        "--cacert", net.crt, "--data",
                        json.dumps({"event": "install", "result": "ok",
                                    "machine": {"macs": [MAC]}}),
                        f"https://{fleetnet.ADDR}/report"], check=True)
        if net.boot_script(MAC, "cfg").strip().splitlines()[-1] != "exit":
            raise AssertionError("boot/<mac>.cfg did not flip to local.grub")
        cfg_fetches = len(net.fetches(f"/boot/{MAC}.cfg"))
        con = vm.start("local")
        con.expect(r"Fetching Netboot Image grubx64\.efi", 120)
        # GRUB's exit returns success through shim; OVMF then stops trying boot entries and
        # starts its menu (UiApp), as it does after ipxe.efi's exit (docs/pxe.md). An
        # installed node's own boot entry comes first and never gets here.
        seen = con.expect(r"BdsDxe: starting Boot\S+ \"UiApp\"", 180)
        t_local = vm.elapsed()
        if len(net.fetches(f"/boot/{MAC}.cfg")) != cfg_fetches + 1:
            raise AssertionError("the second boot did not fetch boot/<mac>.cfg")
        if net.fetches("/tandem/vmlinuz")[1:]:
            raise AssertionError("the second boot fetched the kernel again")
        print(f"ok local boot: GRUB exited, OVMF's menu at {t_local:.0f} s")
        print(seen[-400:])
    finally:
        if vm:
            vm.kill()
        net.stop()
    print("== uefi pxe sb smoke: all passed")


if __name__ == "__main__":
    main()
