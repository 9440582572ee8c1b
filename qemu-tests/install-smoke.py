#!/usr/bin/env python3
"""One install end to end under QEMU/TCG, then a boot of the installed disks.

  qemu-tests/install-smoke.py --iso ISO --medium DIR --tandem BIN --answer TOML [--work DIR]

Boots the Tandem ISO (SeaBIOS, CD) on a machine with four blank 20 GiB virtio disks and
two virtio NICs, waits for the live console's "TANDEM READY", mounts a 9p share holding
the tandem binary under test, the answer and the medium directory (base.squashfs + repo,
as /tandem/ on a real medium), and runs `tandem install --yes --progress plain`. The
install ends with a reboot, which QEMU (-no-reboot) turns into an exit. Then the disks
boot alone; success is the installed system's login prompt on the serial console.

Prints the installer's TANDEM-RESULT line and the times; exit 0 only if both runs pass.
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time


def qemu_base(work, serial_sock, disks):
    args = [
        "qemu-system-x86_64", "-accel", "tcg,thread=single", "-m", "2048", "-smp", "2",
        "-cpu", "qemu64,vendor=GenuineIntel", "-display", "none", "-monitor", "none",
        "-no-reboot",
        "-chardev", f"socket,id=s0,path={serial_sock},server=on,wait=off,logfile={serial_sock}.log",
        "-serial", "chardev:s0",
    ]
    for i, d in enumerate(disks):
        args += ["-drive", f"file={d},if=none,id=d{i},format=qcow2",
                 "-device", f"virtio-blk-pci,drive=d{i},serial=tandem-disk{i}"]
    for i in range(2):
        args += ["-netdev", f"user,id=n{i},restrict=on",
                 "-device", f"virtio-net-pci,netdev=n{i},mac=52:54:00:12:34:5{6 + i}"]
    return args


class Console:
    def __init__(self, path, log):
        self.log = open(log, "ab")
        for _ in range(100):
            try:
                self.s = socket.socket(socket.AF_UNIX)
                self.s.connect(path)
                break
            except OSError:
                time.sleep(0.2)
        self.s.settimeout(1.0)
        self.buf = b""

    def expect(self, marker, timeout, proc=None):
        end = time.time() + timeout
        m = marker.encode()
        while time.time() < end:
            if m in self.buf:
                i = self.buf.index(m) + len(m)
                seen, self.buf = self.buf[:i], self.buf[i:]
                return seen.decode(errors="replace")
            try:
                chunk = self.s.recv(65536)
                if not chunk:
                    raise EOFError("console closed")
                self.buf += chunk
                self.log.write(chunk)
                self.log.flush()
            except socket.timeout:
                if proc is not None and proc.poll() is not None:
                    raise EOFError(f"QEMU exited ({proc.returncode}) before {marker!r}")
        raise TimeoutError(f"no {marker!r} within {timeout} s")

    def send(self, line):
        self.s.sendall(line.encode() + b"\r")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iso", required=True)
    ap.add_argument("--medium", required=True)
    ap.add_argument("--tandem", required=True)
    ap.add_argument("--answer", required=True)
    ap.add_argument("--work", default="build/qemu/run")
    ap.add_argument("--timeout", type=int, default=5400)
    a = ap.parse_args()

    work = os.path.abspath(a.work)
    shutil.rmtree(work, ignore_errors=True)
    share = os.path.join(work, "share")
    os.makedirs(share)
    shutil.copy(a.tandem, os.path.join(share, "tandem"))
    shutil.copy(a.answer, os.path.join(share, "answer.toml"))
    # Hard links: 9p shows a symlink as a symlink, which would point nowhere in the guest.
    shutil.copytree(a.medium, os.path.join(share, "medium"), copy_function=os.link)
    disks = []
    for i in range(4):
        d = os.path.join(work, f"disk{i}.qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", d, "20G"], check=True)
        disks.append(d)

    # Run 1: the live ISO installs.
    sock = os.path.join(work, "install.sock")
    args = qemu_base(work, sock, disks) + [
        "-drive", f"file={os.path.abspath(a.iso)},media=cdrom,readonly=on,if=ide,index=2",
        "-boot", "d",
        "-virtfs", f"local,path={share},mount_tag=h,security_model=none,readonly=on",
    ]
    t0 = time.time()
    q = subprocess.Popen(args, stderr=open(os.path.join(work, "qemu1.err"), "w"))
    con = Console(sock, os.path.join(work, "install.log"))
    try:
        con.expect("TANDEM READY", 900, q)
        t_ready = time.time() - t0
        con.expect("root shell", 300, q)
        con.expect("# ", 120, q)
        con.send(
            "mkdir -p /mnt/h && mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 h /mnt/h"
            " && /mnt/h/tandem install --answer /mnt/h/answer.toml --yes --progress plain"
            " --medium /mnt/h/medium; echo TANDEM-EXIT=$?"
        )
        out = con.expect("TANDEM-RESULT ", a.timeout, q)
        line = con.expect("\n", 60, q)
        t_install = time.time() - t0 - t_ready
        result = "TANDEM-RESULT " + line.strip()
        print(result)
        ok = '"result":"ok"' in result
        if not ok:
            print(out[-4000:])
            return 1
        # The install ends with a reboot (-no-reboot: QEMU exits). Keep reading the
        # console meanwhile: an unread socket stalls the guest's serial output, and with
        # it the shutdown.
        try:
            con.expect("\x00never\x00", 600, q)
        except EOFError:
            pass
        q.wait(timeout=60)
    finally:
        if q.poll() is None:
            q.kill()
    print(f"live boot {t_ready:.0f} s, install {t_install:.0f} s")

    # Run 2: the installed disks boot alone.
    sock2 = os.path.join(work, "boot.sock")
    t1 = time.time()
    q2 = subprocess.Popen(qemu_base(work, sock2, disks) + ["-boot", "c"],
                          stderr=open(os.path.join(work, "qemu2.err"), "w"))
    con2 = Console(sock2, os.path.join(work, "firstboot.log"))
    try:
        con2.expect("login:", 1800, q2)
        print(f"installed system: login prompt after {time.time() - t1:.0f} s")
    finally:
        q2.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
