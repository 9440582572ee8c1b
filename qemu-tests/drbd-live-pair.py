#!/usr/bin/env python3
"""Two live systems joined by a private link, for proving the DRBD mechanics of
`tandem drbd-start` without installing (the host kernel has no DRBD module; the guests'
Debian kernel has DRBD 8.4 in tree).

  qemu-tests/drbd-live-pair.py --iso ISO --deb DRBD_UTILS_DEB --tandem BIN --files DIR \
      [--work DIR] [--size 1G] serve

Boots two live ISOs (alpha, beta), each with one blank virtio disk and one NIC joined to
the other VM by UDP on 127.0.0.1 (10.37.0.1/.2 on it), installs drbd-utils from the .deb
over 9p, makes the disk an LVM volume /dev/pve/drbd as an install would, copies
DIR/<node>/ (a `tandem render` tree) over / and the tandem binary to /usr/sbin/tandem.
`serve` then answers commands on WORK/rpc.sock: a line "alpha<TAB>command" runs the
command in that guest and answers with JSON {rc, out}. Used by hand and by
drbd-live-pair-test.py.
"""

import argparse
import json
import os
import shutil
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tvm  # noqa: E402

NODES = {"alpha": ("52:54:00:37:00:01", "10.37.0.1"), "beta": ("52:54:00:37:00:02", "10.37.0.2")}


def boot(args):
    work = os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)
    share = os.path.join(work, "share")
    shutil.rmtree(share, ignore_errors=True)
    os.makedirs(share)
    shutil.copy(args.deb, os.path.join(share, "drbd-utils.deb"))
    shutil.copy(args.tandem, os.path.join(share, "tandem"))
    shutil.copytree(args.files, os.path.join(share, "files"), symlinks=False)
    pa, pb = tvm.free_udp_port(), tvm.free_udp_port()
    ports = {"alpha": (pa, pb), "beta": (pb, pa)}
    vms, shells = {}, {}
    for name, (mac, _) in NODES.items():
        disk = tvm.new_disk(os.path.join(work, f"{name}-disk.qcow2"), args.size)
        vm = tvm.VM(name, work, [disk],
                    nics=[tvm.Nic(mac, net="dgram", local=ports[name][0],
                                  remote=ports[name][1])],
                    cdrom=args.iso, boot="d",
                    extra=["-virtfs", f"local,path={share},mount_tag=h,security_model=none,readonly=on"])
        vm.start("live")
        vms[name] = vm
    for name, (mac, ip) in NODES.items():
        sh = vms[name].live_shell()
        shells[name] = sh
        setup = [
            tvm.MOUNT_9P,
            f"hostnamectl hostname {name} 2>/dev/null || hostname {name}",
            "dpkg -i /mnt/h/drbd-utils.deb >/tmp/dpkg.log 2>&1 || (cat /tmp/dpkg.log; false)",
            "install -m 0755 /mnt/h/tandem /usr/sbin/tandem",
            # Only what DRBD needs: the rest of the tree (interfaces, fstab, mdadm.conf, NIC
            # names) belongs to an installed system, not to the live one.
            f"cd /mnt/h/files/{name} && for p in etc/drbd.d etc/hosts etc/tandem var/lib/tandem; do [ -e $p ] && mkdir -p /$(dirname $p) && cp -a $p /$(dirname $p)/; done; cd /",
            f"nic=$(ip -o link | awk -F': ' '/{mac}/{{print $2}}'); ip link set $nic up && ip addr add {ip}/24 dev $nic",
            "pvcreate -q /dev/vda && vgcreate -q pve /dev/vda && lvcreate -q -y --wipesignatures y --zero y -n drbd -l 100%FREE pve",
            # The rendered LVM filter, with this VM's PV (/dev/vda) for the data array.
            f"sed 's|/dev/md/data|/dev/vda|' /mnt/h/files/{name}/etc/lvm/lvmlocal.conf >/etc/lvm/lvmlocal.conf",
        ]
        for c in setup:
            sh.run(c, timeout=600)
    return vms, shells


def serve(vms, shells, work):
    path = os.path.join(work, "rpc.sock")
    if os.path.exists(path):
        os.unlink(path)
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(4)
    locks = {n: threading.Lock() for n in shells}
    print(f"serving on {path}", flush=True)

    def handle(conn):
        with conn:
            line = tvm.recv_line(conn).decode().rstrip("\n")
            node, _, cmd = line.partition("\t")
            if node == "quit":
                for v in vms.values():
                    v.kill()
                conn.sendall(b'{"rc":0,"out":"bye"}\n')
                os._exit(0)
            try:
                with locks[node]:
                    rc, out = shells[node].run(cmd, timeout=1800, check=False)
                conn.sendall((json.dumps({"rc": rc, "out": out}) + "\n").encode())
            except Exception as e:  # a dead VM or a timeout: the caller sees it
                conn.sendall((json.dumps({"rc": -1, "out": str(e)}) + "\n").encode())

    while True:
        c, _ = srv.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iso", required=True)
    ap.add_argument("--deb", required=True)
    ap.add_argument("--tandem", required=True)
    ap.add_argument("--files", required=True)
    ap.add_argument("--work", default="build/pair")
    ap.add_argument("--size", default="1G")
    ap.add_argument("mode", choices=["serve"])
    a = ap.parse_args()
    vms, shells = boot(a)
    serve(vms, shells, os.path.abspath(a.work))


if __name__ == "__main__":
    main()
