#!/usr/bin/env python3
"""The real consumers of the rendered files (issue #16, `make test-consumers`).

  python3 installer/tests/consumers.py --base SQUASHFS --repo REPO --tandem BIN --work DIR

Every golden tree (installer/tests/golden/**, the files `tandem render` writes for each
example, held equal to the renderer by tests/golden.rs) is read by the tools that read it
on a node, in a chroot of the image's own base system (offline: the base squashfs, plus
drbd-utils unpacked from the medium's repository), inside new mount, UTS, PID and network
namespaces so nothing on the host changes:

  mdadm      mdadm --examine --scan --config=etc/mdadm/mdadm.conf: no message at all
             (mdadm 4.4 says "ARRAY line … has no identity information" for name-only lines)
  drbdadm    DRBD 8.4's front end (the in-tree module's), `dump all` as every host the
             resources name (host name set in the UTS namespace, the host's addresses on lo)
  ifupdown2  ifup -a -s -i etc/network/interfaces: syntax and values, no message
  udev       the .link files in /etc/systemd/network, parsed by `udevadm test-builtin
             net_setup_link`: no message naming a .link file
  systemd    systemd-analyze verify on the units (/usr/sbin/tandem is the static binary)
  lvm        lvmconfig --validate with the tree's lvmlocal.conf
  debconf    debconf-set-selections --checkonly etc/tandem/debconf-selections
  fstab      findmnt --verify --tab-file etc/fstab: 0 parse errors (devices do not exist)
  apt        apt-get indextargets with the tree's sources.list.d: no E:/W: line

Each consumer is also shown a broken file (a tree made from the first golden tree with one
file broken per consumer): every check must reject it, or the tier fails: a check that
cannot fail proves nothing.
"""

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "golden")
DRBDADM = "/usr/lib/drbd/drbdadm-84"

# Inside the chroot: the tree at /t, this script's checks write "@@ name rc" after each
# check's output.
INNER = r"""
set -u
mark() { echo "@@ $1 $2"; }
exec 2>&1
ip link set lo up
if [ -f /t/etc/mdadm/mdadm.conf ]; then
  mdadm --examine --scan --config=/t/etc/mdadm/mdadm.conf; mark mdadm $?
fi
if ls /t/etc/drbd.d/*.res >/dev/null 2>&1; then
  for a in $(sed -n 's/^[[:space:]]*address[[:space:]]*\([0-9.]*\):.*/\1/p' /t/etc/drbd.d/*.res | sort -u); do
    ip addr add "$a/32" dev lo
  done
  for h in $(sed -n 's/^[[:space:]]*on[[:space:]]*\([^[:space:]{]*\).*/\1/p' /t/etc/drbd.d/*.res | sort -u); do
    hostname "$h"; DRBDADM dump all >/dev/null; mark "drbdadm:$h" $?
  done
fi
if [ -f /t/etc/network/interfaces ]; then
  mkdir -p /run/network; ifup -a -s -i /t/etc/network/interfaces; mark ifupdown2 $?
fi
if ls /etc/systemd/network/*.link >/dev/null 2>&1; then
  SYSTEMD_LOG_LEVEL=warning udevadm test-builtin net_setup_link /sys/class/net/lo; mark udev $?
fi
units=$(cd /t && find etc/systemd/system -type f \( -name '*.service' -o -name '*.timer' -o -name '*.mount' \) 2>/dev/null)
if [ -n "$units" ]; then
  (cd /t && systemd-analyze verify --man=no $units); mark systemd $?
fi
if [ -f /t/etc/lvm/lvmlocal.conf ]; then
  LVM_SUPPRESS_FD_WARNINGS=1 lvmconfig --validate; mark lvm $?
fi
if [ -f /t/etc/tandem/debconf-selections ]; then
  debconf-set-selections --checkonly /t/etc/tandem/debconf-selections; mark debconf $?
fi
if [ -f /t/etc/fstab ]; then
  findmnt --verify --tab-file /t/etc/fstab; mark fstab $?
fi
if [ -d /t/etc/apt/sources.list.d ]; then
  mkdir -p /tmp/lists/partial
  apt-get -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=/t/etc/apt/sources.list.d \
    -o Dir::State::Lists=/tmp/lists indextargets >/dev/null; mark apt $?
fi
""".replace("DRBDADM", DRBDADM)

# In the new namespaces, before the chroot: what the node would have in place, on tmpfs
# or bind mounts that vanish with the namespace.
OUTER = r"""
set -eu
R=$1 TREE=$2 BIN=$3 CHECK=$4
mount -t tmpfs tmpfs "$R/run"; mount -t tmpfs tmpfs "$R/tmp"
mount --rbind /sys "$R/sys"
mount --bind "$BIN" "$R/usr/sbin/tandem"
mount --bind "$TREE" "$R/t"
mount --bind "$CHECK" "$R/check"
for d in etc/drbd.d etc/systemd/network; do
  mount -t tmpfs tmpfs "$R/$d"
  if [ -d "$TREE/$d" ]; then cp -a "$TREE/$d/." "$R/$d/"; fi
done
if [ -f "$TREE/etc/lvm/lvmlocal.conf" ]; then
  mount --bind "$TREE/etc/lvm/lvmlocal.conf" "$R/etc/lvm/lvmlocal.conf"
fi
exec chroot "$R" /bin/sh /check/inner.sh
"""


def judge(name, rc, out):
    """None when the consumer accepted the file, else why not."""
    text = out.strip()
    if name == "udev":
        bad = [l for l in text.splitlines() if ".link" in l]
        return "\n".join(bad) or (f"exit {rc}" if rc else None)
    if name == "lvm":
        return None if rc == 0 and "LVM configuration valid" in text else text or f"exit {rc}"
    if name == "fstab":
        m = re.search(r"(\d+) parse errors", text)
        if "parse error at" in text or not m or m.group(1) != "0":
            return text or f"exit {rc}"
        return None
    if name == "apt":
        bad = [l for l in text.splitlines() if re.match(r"^[EW]: ", l)]
        return "\n".join(bad) or (f"exit {rc}" if rc else None)
    # mdadm, drbdadm, ifupdown2, systemd, debconf: a clean run says nothing.
    if rc != 0 or text:
        return text or f"exit {rc}"
    return None


def check_tree(root, tree, tandem, check_dir):
    """{consumer: None or why it rejected} for one tree."""
    p = subprocess.run(["unshare", "--mount", "--uts", "--pid", "--net", "--fork",
                        f"--mount-proc={root}/proc", "sh", "-c", OUTER, "sh", root, tree, tandem,
                        check_dir],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    results, buf = {}, []
    for line in p.stdout.splitlines():
        m = re.match(r"^@@ (\S+) (\d+)$", line)
        if m:
            results[m.group(1)] = judge(m.group(1).split(":")[0], int(m.group(2)), "\n".join(buf))
            buf = []
        else:
            buf.append(line)
    if p.returncode != 0:
        results["(harness)"] = f"exit {p.returncode}:\n" + p.stdout[-2000:]
    return results


def prepare_root(base, repo, work):
    """The base squashfs unpacked (again only when the squashfs is newer), with drbd-utils."""
    root = os.path.join(work, "root")
    stamp = os.path.join(work, "root.stamp")
    if not os.path.exists(stamp) or os.path.getmtime(stamp) < os.path.getmtime(base):
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(work, exist_ok=True)
        subprocess.run(["unsquashfs", "-q", "-n", "-d", root, base], check=True,
                       stdout=subprocess.DEVNULL)
        debs = glob.glob(os.path.join(repo, "pool", "main", "d", "drbd-utils", "drbd-utils_*.deb"))
        if not debs:
            raise SystemExit(f"consumers: no drbd-utils .deb in {repo}")
        subprocess.run(["dpkg-deb", "-x", debs[0], root], check=True)
        for d in ("t", "check"):
            os.makedirs(os.path.join(root, d), exist_ok=True)
        open(os.path.join(root, "usr/sbin/tandem"), "a").close()
        open(stamp, "w").close()
    return root


def golden_trees():
    """Every host directory of the golden tests (one holding etc/)."""
    trees = sorted(os.path.dirname(p) for p in glob.glob(os.path.join(GOLDEN, "**", "etc"), recursive=True)
                   if os.path.isdir(p))
    return trees


def broken_tree(good, dest):
    """`good` with one file broken for each consumer."""
    shutil.copytree(good, dest, symlinks=True)

    def edit(rel, fn):
        path = os.path.join(dest, rel)
        with open(path) as f:
            text = f.read()
        new = fn(text)
        assert new != text, f"negative control: {rel} unchanged"
        with open(path, "w") as f:
            f.write(new)

    # mdadm: an ARRAY line with a name only (what render wrote before #16).
    edit("etc/mdadm/mdadm.conf", lambda t: re.sub(r"UUID=\S+", "name=x:boot", t, count=1))
    edit(glob.glob(os.path.join(dest, "etc/drbd.d/*.res"))[0][len(dest) + 1:],
         lambda t: t.replace("protocol C;", "protocol C;\n\t\tno-such-option yes;", 1))
    edit("etc/network/interfaces", lambda t: re.sub(r"(address )(\d+\.\d+\.\d+)\.\d+/", r"\g<1>\2.300/", t, count=1))
    edit(glob.glob(os.path.join(dest, "etc/systemd/network/*.link"))[0][len(dest) + 1:],
         lambda t: t.replace("[Link]", "[Link]\nNoSuchKey=1", 1))
    edit("etc/systemd/system/tandem-drbd.service", lambda t: t.replace("[Service]", "[Service]\nType=nonsense", 1))
    edit("etc/lvm/lvmlocal.conf", lambda t: t.replace("devices {", "devices {\n\tno_such_setting = 1", 1))
    edit("etc/tandem/debconf-selections", lambda t: "grub-pc grub-pc/install_devices\n" + t)
    edit("etc/fstab", lambda t: t + "/dev/sdz1\n")
    edit("etc/apt/sources.list.d/debian.sources", lambda t: t.replace("Suites:", "Suites", 1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True, help="the image's base.squashfs")
    ap.add_argument("--repo", required=True, help="the medium's repository (for drbd-utils)")
    ap.add_argument("--tandem", required=True, help="the static tandem binary (units run it)")
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    t0 = time.time()
    root = prepare_root(os.path.abspath(a.base), os.path.abspath(a.repo), os.path.abspath(a.work))
    prepared = time.time() - t0
    trees = golden_trees()
    failures, counted = [], 0
    with tempfile.TemporaryDirectory(dir=a.work) as tmp:
        check_dir = os.path.join(tmp, "check")
        os.makedirs(check_dir)
        with open(os.path.join(check_dir, "inner.sh"), "w") as f:
            f.write(INNER)
        for tree in trees:
            res = check_tree(root, tree, os.path.abspath(a.tandem), check_dir)
            rel = os.path.relpath(tree, HERE)
            counted += len(res)
            for name, why in sorted(res.items()):
                if why:
                    failures.append(f"{rel}: {name} rejects it:\n  " + why.replace("\n", "\n  "))
            print(f"  {rel}: {' '.join(sorted(res))}", flush=True)
        # The negative controls: every consumer must reject its broken file.
        first = next(t for t in trees if os.path.exists(os.path.join(t, "etc/drbd.d")))
        bad = os.path.join(tmp, "broken")
        broken_tree(first, bad)
        res = check_tree(root, bad, os.path.abspath(a.tandem), check_dir)
        want = {k for k in check_tree(root, first, os.path.abspath(a.tandem), check_dir)}
        accepted = sorted(k for k in want if not res.get(k))
        if accepted:
            failures.append(f"negative controls: {', '.join(accepted)} accepted a broken file "
                            f"(made from {os.path.relpath(first, HERE)})")
        print(f"  negative controls: {len(want) - len(accepted)} of {len(want)} broken files rejected",
              flush=True)
    print(f"== consumers: {len(trees)} trees, {counted} checks, root prepared in {prepared:.1f} s, "
          f"all in {time.time() - t0:.1f} s")
    if failures:
        print("\n".join(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
