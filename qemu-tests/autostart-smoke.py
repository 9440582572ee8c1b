#!/usr/bin/env python3
"""The live system's unattended autostart, three ways (one VM at a time):
  embedded  an ISO with an embedded answer (2 blank virtio disks, RAID1) installs by itself
            and reboots;
  pxe       a PXE boot with answers/<mac>.toml installs from tandem.media= (no CD);
  broken    an embedded answer that does not fit the machine (4 disks wanted, 3 present;
            embed-answer refuses answers that are invalid on their own): the error, the
            FAILED line, a root shell, and the disks byte for byte as before.
  qemu-tests/autostart-smoke.py --image build/image [--work build/autostart] [embedded pxe broken]
"""

import argparse
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tvm  # noqa: E402

HASH = "$6$Vn0wqkz2Xo6fB5cP$VorkVA4xtWVAec2yE36N.epbFc5iEKIjGU9M6inO0hFbVuAtm.U99MS02qj5r/7A4yrwRto4yqfPvk.qR4DVU0"
MAC = "52:54:00:7a:4e:21"


def answer(level="raid1", count=2, extra=""):
    return f"""[system]
hostname = "tandem-auto"
domain = "test.internal"
root-password-hash = "{HASH}"
packages = ["drbd-utils"]
[storage]
disks = {{ transport = ["virtio"], count = {count} }}
level = "{level}"
# BIOS only: the smoke machines boot SeaBIOS (tvm's default); the EFI GRUB and shim would only cost time.
firmware = "bios"
[storage.volumes]
root = {{ size = "5G" }}
swap = {{ size = "256M" }}
[[network.bonds]]
name = "bond0"
members = {{ driver = "virtio_net", count = 1 }}
mode = "active-backup"
[[network.bridges]]
name = "vmbr0"
ports = ["bond0"]
[[network.addresses]]
interface = "vmbr0"
address = "dhcp"
[apt]
proxmox = "none"
{extra}"""


def disks(work, n, size="10G"):
    return [tvm.new_disk(os.path.join(work, f"disk{i}.qcow2"), size) for i in range(n)]


def embed(image, text, work, name):
    src = os.path.join(work, f"{name}.toml")
    with open(src, "w") as f:
        f.write(text)
    iso = os.path.join(work, f"{name}.iso")
    subprocess.run(["./target/release/tandem-image", "embed-answer",
                    os.path.join(image, "tandem.iso"), src, "-o", iso], check=True)
    return iso


def install_and_reboot(vm, origin, timeout=5400):
    con = vm.start()
    con.expect("TANDEM READY", 1200)
    t_ready = vm.elapsed()
    con.expect("TANDEM AUTO-INSTALL from " + origin, 600)
    out = con.expect(r"TANDEM-RESULT \{.*\}", timeout)
    r = tvm.tandem_result(out)
    print(f"{vm.name}: ready after {t_ready:.0f} s, result {r['result']} after "
          f"{vm.elapsed():.0f} s; phases {r.get('phases')}")
    assert r["result"] == "ok", out[-4000:]
    # install.finish = reboot; -no-reboot makes QEMU exit. The console is drained meanwhile.
    vm.wait_exit(600)
    return out


def embedded(a, work):
    iso = embed(a.image, answer(), work, "embedded")
    vm = tvm.VM("auto-embedded", work, disks(work, 2), nics=[tvm.Nic(MAC)], cdrom=iso, boot="d")
    try:
        install_and_reboot(vm, r"answer embedded in the image \(/run/live/medium/tandem/answer.toml\)")
    finally:
        vm.kill()


def pxe(a, work):
    http = os.path.join(work, "http")
    os.makedirs(os.path.join(http, "answers"), exist_ok=True)
    pxe_dir = os.path.abspath(os.path.join(a.image, "pxe"))
    for f in os.listdir(pxe_dir):
        os.symlink(os.path.join(pxe_dir, f), os.path.join(http, f))
    with open(os.path.join(http, "answers", f"{MAC}.toml"), "w") as f:
        f.write(answer())
    srv = tvm.HttpServer(http, os.path.join(work, "http.log"))
    tftp = os.path.join(work, "tftp")
    os.makedirs(tftp, exist_ok=True)
    with open(os.path.join(tftp, "test.ipxe"), "w") as f:
        f.write(f"#!ipxe\ndhcp\nset tandem-base {srv.guest_url}\nchain ${{tandem-base}}/boot.ipxe\n")
    vm = tvm.VM("auto-pxe", work, disks(work, 2),
                nics=[tvm.Nic(MAC, tftp=tftp, bootfile="test.ipxe")], boot="n", mem=2048)
    try:
        out = install_and_reboot(vm, r"kernel command line tandem.answer=" + srv.guest_url)
        assert f"medium: {srv.guest_url}" in out, "no HTTP medium line"
        for line in out.splitlines():
            if "download" in line or "to download" in line:
                print("pxe:", line.strip())
        log = srv.requests()
        assert "GET /base.squashfs" in log and "GET /repo/pool/" in log, log
        print("pxe: requests:", sum(1 for l in log.splitlines() if '"GET ' in l), "GET,",
              sum(1 for l in log.splitlines() if '"HEAD ' in l), "HEAD")
    finally:
        vm.kill()
        srv.stop()


def broken(a, work):
    iso = embed(a.image, answer(level="raid6", count=4), work, "broken")
    ds = disks(work, 3)
    refs = [tvm.new_disk(os.path.join(work, f"ref{i}.qcow2"), "10G") for i in range(3)]
    vm = tvm.VM("auto-broken", work, ds, nics=[tvm.Nic(MAC)], cdrom=iso, boot="d")
    try:
        con = vm.start()
        con.expect("TANDEM AUTO-INSTALL from answer embedded", 1500)
        out = con.expect(r"TANDEM INSTALL FAILED \(exit (\d+)\); log: /var/log/tandem/install.log", 600)
        print("broken: console:\n" + "\n".join(out.replace("\r", "").splitlines()[-8:]))
        assert "TANDEM INSTALL FAILED (exit 2)" in out
        con.expect("root shell", 120)
        sh = tvm.Shell(con)
        print("broken: /proc/mdstat:", sh.out("cat /proc/mdstat").strip().splitlines()[1:2])
        sh.con.sendline("poweroff -f")
        vm.wait_exit(300)
    finally:
        vm.kill()
    for d, r in zip(ds, refs):
        assert tvm.same_content(d, r), f"{d} changed"
    print("broken: disks unchanged (qemu-img compare -s)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", default="build/image")
    ap.add_argument("--work", default="build/autostart")
    ap.add_argument("which", nargs="*", default=["embedded", "pxe", "broken"])
    a = ap.parse_args()
    for w in a.which:
        work = os.path.abspath(os.path.join(a.work, w))
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        t = time.time()
        {"embedded": embedded, "pxe": pxe, "broken": broken}[w](a, work)
        print(f"{w}: ok in {time.time() - t:.0f} s")
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
