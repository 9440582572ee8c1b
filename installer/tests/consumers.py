#!/usr/bin/env python3
"""The real consumers of the rendered files (issue #16, `make test-consumers`).

  python3 installer/tests/consumers.py --base SQUASHFS --repo REPO --tandem BIN --work DIR

Two sets of trees are read by the tools that read them on a node:

  golden/…   every golden tree (installer/tests/golden/**, one directory per host, held
             equal to the renderer by tests/golden.rs);
  render/…   a fresh `tandem render` (the binary the image ships) of every examples/**/*.toml,
             every node of a cluster file, on the hardware fixture its first line names (as
             tests/golden.rs does); `secret = "generate"` gets render's random preview secret.

The tools run in a chroot of the image's own base system (offline: the base squashfs, plus
drbd-utils unpacked from the medium's repository), inside new mount, UTS, PID and network
namespaces so nothing on the host changes:

  mdadm        mdadm --examine --scan --config=etc/mdadm/mdadm.conf: no message at all
               (mdadm 4.4 says "ARRAY line … has no identity information" for name-only lines)
  drbdadm      DRBD 8.4's front end (the in-tree module's), `dump all` as every host the
               resources name (host name set in the UTS namespace, the host's addresses on lo)
  ifupdown2    ifup -s -i etc/network/interfaces, with -a and then naming every interface
               (-a alone checks the values of auto interfaces and their lower ones only),
               with addon_syntax_check=1: values and attribute names (the node's
               ifupdown2.conf says 0 and silently ignores a misspelled attribute)
  udev         the .link files in /etc/systemd/network, parsed by `udevadm test-builtin
               net_setup_link`: no message naming a .link file
  udev-rules   udevadm verify on etc/udev/rules.d/*.rules (Tandem renders none today)
  systemd      systemd-analyze verify on the units (the trees' and the tandem package's
               tandem-drbd.service; /usr/sbin/tandem is the static binary)
  lvm          lvmconfig --validate with the tree's lvmlocal.conf
  debconf      debconf-set-selections --checkonly etc/tandem/debconf-selections
  debconf-db   the same selections against the base system's debconf database (what the
               packages' templates declare): the question exists, its type matches, a
               boolean is true/false and a select/multiselect value is one of the template's
               choices (locales' filled in as its config script does; grub-pc's disks are
               not checked); debconf itself stores anything and the package falls back
  fstab        findmnt --verify --verbose --tab-file etc/fstab: no parse error, and no error
               or warning but those of devices, mount points and file system modules that
               are not on this machine
  apt-conf     apt-config -c on each file of etc/apt/apt.conf.d (the tandem package's ESP
               hook): no E:/W: line
  apt          apt-get indextargets with the tree's sources.list.d: no E:/W:/N: line, and
               every stanza (.sources) or line (.list) yields index targets (apt skips a
               file with another extension, or `Enabled: no`, with at most a notice)
  kmod         modprobe --dry-run against the base's kernel for every module in
               etc/modules-load.d (what systemd-modules-load loads at boot)
  console-setup  setupcon --force --print-commands-only with the tree's etc/default/keyboard
               and console-setup: no message (ckbcomp finds the layouts and options,
               setupcon the console font)
  locales      every line of etc/locale.gen is one /usr/share/i18n/SUPPORTED lists (localedef
               fails on others, and locale-gen carries on), and etc/default/locale's LANG is
               one of them
  tzdata       etc/timezone names a zone file of /usr/share/zoneinfo (the install links
               /etc/localtime to it)
  ssh          ssh-keygen -l reads a public key from every line of each authorized_keys
               (sshd skips a line it cannot read)

Negative controls: a check that cannot fail proves nothing. Each control breaks one file of
a copy of a golden tree; its consumer must reject it, with a message matching what that
breakage causes (not some other complaint), or the tier fails.
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
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
GOLDEN = os.path.join(HERE, "golden")
FIXTURES = os.path.join(HERE, "fixtures", "hardware")
DRBDADM = "/usr/lib/drbd/drbdadm-84"

# The files each consumer reads, relative to a tree (for the summary's file count).
READS = {
    "mdadm": ["etc/mdadm/mdadm.conf"],
    "drbdadm": ["etc/drbd.d/*"],
    "ifupdown2": ["etc/network/interfaces"],
    "udev": ["etc/systemd/network/*.link"],
    "udev-rules": ["etc/udev/rules.d/*.rules"],
    "systemd": ["etc/systemd/system/*", "usr/lib/systemd/system/*"],
    "lvm": ["etc/lvm/lvmlocal.conf"],
    "debconf": ["etc/tandem/debconf-selections"],
    "debconf-db": ["etc/tandem/debconf-selections"],
    "fstab": ["etc/fstab"],
    "apt": ["etc/apt/sources.list.d/*"],
    "apt-conf": ["etc/apt/apt.conf.d/*"],
    "kmod": ["etc/modules-load.d/*.conf"],
    "console-setup": ["etc/default/keyboard", "etc/default/console-setup"],
    "locales": ["etc/locale.gen", "etc/default/locale"],
    "tzdata": ["etc/timezone"],
    "ssh": ["root/.ssh/authorized_keys", "home/*/.ssh/authorized_keys"],
}

# Inside the chroot: the tree at /t; "@@ name rc" follows each check's output.
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
  # -a checks the values of auto interfaces and what they depend on; naming every
  # interface checks the rest too.
  mkdir -p /run/network
  ifup -a -s -i /t/etc/network/interfaces && \
    ifup -s -i /t/etc/network/interfaces $(awk '$1 == "iface" { print $2 }' /t/etc/network/interfaces | sort -u)
  mark ifupdown2 $?
fi
if ls /etc/systemd/network/*.link >/dev/null 2>&1; then
  SYSTEMD_LOG_LEVEL=warning udevadm test-builtin net_setup_link /sys/class/net/lo; mark udev $?
fi
if ls /t/etc/udev/rules.d/*.rules >/dev/null 2>&1; then
  udevadm verify /t/etc/udev/rules.d/*.rules; mark udev-rules $?
fi
units=$(cd /t && find etc/systemd/system usr/lib/systemd/system -type f \( -name '*.service' -o -name '*.timer' -o -name '*.mount' -o -name '*.socket' -o -name '*.target' -o -name '*.path' \) 2>/dev/null)
if [ -n "$units" ]; then
  (cd /t && systemd-analyze verify --man=no $units); mark systemd $?
fi
for f in /t/etc/apt/apt.conf.d/*; do
  [ -f "$f" ] || continue
  apt-config -c "$f" dump >/dev/null; mark "apt-conf:${f##*/}" $?
done
if [ -f /t/etc/lvm/lvmlocal.conf ]; then
  LVM_SUPPRESS_FD_WARNINGS=1 lvmconfig --validate; mark lvm $?
fi
if [ -f /t/etc/tandem/debconf-selections ]; then
  debconf-set-selections --checkonly /t/etc/tandem/debconf-selections; mark debconf $?
fi
if [ -f /t/etc/fstab ]; then
  findmnt --verify --verbose --tab-file /t/etc/fstab; mark fstab $?
fi
if [ -d /t/etc/apt/sources.list.d ]; then
  mkdir -p /tmp/lists/partial
  apt-get -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=/t/etc/apt/sources.list.d \
    -o Dir::State::Lists=/tmp/lists indextargets --no-release-info --format 'SOURCESENTRY $(SOURCESENTRY)'
  mark apt $?
fi
if ls /t/etc/modules-load.d/*.conf >/dev/null 2>&1; then
  rc=0
  for k in $(ls /lib/modules); do
    for m in $(sed -e 's/[#;].*//' /t/etc/modules-load.d/*.conf); do
      modprobe --dry-run --set-version "$k" "$m" || rc=1
    done
  done
  mark kmod $rc
fi
if [ -f /t/etc/default/keyboard ] || [ -f /t/etc/default/console-setup ]; then
  # Copies, newer than setupcon's cached keymap of the base (else it uses that instead).
  mkdir /run/kb
  for f in keyboard console-setup; do
    if [ -f /t/etc/default/$f ]; then cp /t/etc/default/$f /run/kb/; mount --bind /run/kb/$f /etc/default/$f; fi
  done
  setupcon --force --print-commands-only >/dev/null; mark console-setup $?
fi
if [ -f /t/etc/locale.gen ]; then
  rc=0
  while read -r l; do
    case "$l" in ''|'#'*) continue;; esac
    grep -qxF "$l" /usr/share/i18n/SUPPORTED || { echo "locale.gen: '$l' is not in /usr/share/i18n/SUPPORTED"; rc=1; }
  done < /t/etc/locale.gen
  if [ -f /t/etc/default/locale ]; then
    for v in $(sed -n 's/^\(LANG\|LANGUAGE\|LC_[A-Z]*\)=//p' /t/etc/default/locale | tr -d '"'); do
      case "$v" in C|C.UTF-8|POSIX) continue;; esac
      sed 's/#.*//' /t/etc/locale.gen | awk '{print $1}' | grep -qxF "$v" \
        || { echo "default/locale: $v is not generated by locale.gen"; rc=1; }
    done
  fi
  mark locales $rc
fi
if [ -f /t/etc/timezone ]; then
  tz=$(cat /t/etc/timezone)
  head -c4 "/usr/share/zoneinfo/$tz" 2>/dev/null | grep -q TZif || echo "timezone: no zone $tz in /usr/share/zoneinfo"
  [ -f "/usr/share/zoneinfo/$tz" ]; mark tzdata $?
fi
keys=$(find /t -path '*/.ssh/authorized_keys' -type f 2>/dev/null)
if [ -n "$keys" ]; then
  rc=0
  for f in $keys; do
    n=0
    while IFS= read -r l; do
      n=$((n+1))
      case "$l" in ''|'#'*) continue;; esac
      printf '%s\n' "$l" > /tmp/key
      ssh-keygen -l -f /tmp/key >/dev/null 2>&1 || { echo "${f#/t/}:$n: ssh-keygen -l reads no public key from it"; rc=1; }
    done < "$f"
  done
  mark ssh $rc
fi
""".replace("DRBDADM", DRBDADM)

# In the new namespaces, before the chroot: what the node would have in place, on tmpfs
# or bind mounts that vanish with the namespace.
OUTER = r"""
set -eu
R=$1 TREE=$2 BIN=$3 CHECK=$4
# The unpacked base stays as it was: read-only, with tmpfs where the tools write.
mount --rbind "$R" "$R"; mount -o remount,bind,ro "$R"
for d in run tmp var/tmp var/cache/apt; do mount -t tmpfs tmpfs "$R/$d"; done
mount --rbind /sys "$R/sys"
mount --bind "$BIN" "$R/usr/sbin/tandem"
mount --bind "$TREE" "$R/t"
mount --bind "$CHECK" "$R/check"
mount --bind "$CHECK/ifupdown2.conf" "$R/etc/network/ifupdown2/ifupdown2.conf"
for d in etc/drbd.d etc/systemd/network; do
  mount -t tmpfs tmpfs "$R/$d"
  if [ -d "$TREE/$d" ]; then cp -a "$TREE/$d/." "$R/$d/"; fi
done
if [ -f "$TREE/etc/lvm/lvmlocal.conf" ]; then
  mount --bind "$TREE/etc/lvm/lvmlocal.conf" "$R/etc/lvm/lvmlocal.conf"
fi
exec chroot "$R" /bin/sh /check/inner.sh
"""

# findmnt --verify's complaints that only say the tree is not installed here: the device
# or mount point does not exist, or the file system's module is neither loaded nor in
# /lib/modules/$(uname -r) of the chroot (the host's kernel, not the node's). Anything
# else fails the check.
FSTAB_ABSENT = re.compile(r"unreachable (on boot required )?(source|target)|"
                          r"cannot detect on-disk filesystem type|"
                          r"seems unsupported by the current kernel")


def apt_entries(tree):
    """What apt must read from the tree's sources.list.d: ({'file:n'}, [problems])."""
    want, problems = set(), []
    d = os.path.join(tree, "etc/apt/sources.list.d")
    for name in sorted(os.listdir(d)):
        path = os.path.join(d, name)
        if name.endswith(".sources"):
            text = open(path).read()
            stanzas = [s for s in re.split(r"\n\s*\n", text)
                       if any(l.strip() and not l.startswith("#") for l in s.splitlines())]
            want |= {f"/t/etc/apt/sources.list.d/{name}:{i}" for i in range(1, len(stanzas) + 1)}
        elif name.endswith(".list"):
            for i, l in enumerate(open(path).read().splitlines(), 1):
                if l.strip() and not l.lstrip().startswith("#"):
                    want.add(f"/t/etc/apt/sources.list.d/{name}:{i}")
        else:
            problems.append(f"{name}: apt reads only *.list and *.sources here")
    return want, problems


def judge(name, rc, out, tree):
    """None when the consumer accepted the files, else why not."""
    text = out.strip()
    if name == "udev":
        bad = [l for l in text.splitlines() if ".link" in l]
        return "\n".join(bad) or (f"exit {rc}" if rc else None)
    if name == "lvm":
        return None if rc == 0 and "LVM configuration valid" in text else text or f"exit {rc}"
    if name == "fstab":
        m = re.search(r"(\d+) parse errors", text)
        bad = [l.strip() for l in text.splitlines()
               if re.match(r"^\s*\[[EW]\]", l) and not FSTAB_ABSENT.search(l)]
        if "parse error" in text.replace("0 parse errors", "") or not m or bad:
            return "\n".join(bad) or text or f"exit {rc}"
        return None
    if name == "apt-conf":
        return "\n".join(l for l in text.splitlines() if re.match(r"^[EW]: ", l)) or (
            f"exit {rc}" if rc else None)
    if name == "apt":
        lines = text.splitlines()
        bad = [l for l in lines if re.match(r"^[EWN]: ", l)]
        got = {l.split(" ", 1)[1] for l in lines if l.startswith("SOURCESENTRY ")}
        want, problems = apt_entries(tree)
        problems += [f"{e[len('/t/etc/apt/sources.list.d/'):]}: apt read no index target from it"
                     for e in sorted(want - got)]
        why = bad + problems
        return "\n".join(why) or (f"exit {rc}" if rc else None)
    if name == "console-setup":
        # ckbcomp's own keysym table is older than trixie's xkb-data: the stock "de" layout
        # gets `WARNING: Unknown X keysym "dead_belowmacron"` on every Debian 13 system
        # (that one key stays unmapped on the console; the map is written). Tandem only
        # names the layout, so only this warning is tolerated; a layout, variant or option
        # ckbcomp cannot find, or a font setupcon cannot, still fails.
        text = "\n".join(l for l in text.splitlines()
                         if not re.match(r'^WARNING: Unknown X keysym "\w+"$', l))
    # mdadm, drbdadm, ifupdown2, udev-rules, systemd, debconf, kmod, console-setup, locales,
    # tzdata, ssh: a clean run says nothing (udevadm verify prints its counts).
    if name == "udev-rules":
        return None if rc == 0 else text or f"exit {rc}"
    if rc != 0 or text:
        return text or f"exit {rc}"
    return None


# ─── the base system's debconf database ───

def stanzas(path):
    """RFC 822-style records of a debconf .dat file: [{field: value}]."""
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for block in f.read().split("\n\n"):
            rec, key = {}, None
            for line in block.splitlines():
                if line.startswith(" ") and key:
                    rec[key] += "\n" + line[1:]
                elif ":" in line:
                    key, _, val = line.partition(":")
                    rec[key] = val.strip()
            if "Name" in rec:
                out.append(rec)
    return out


def split_choices(s):
    return [c.replace("\\,", ",").strip() for c in re.split(r"(?<!\\),", s) if c.strip()]


class DebconfDb:
    def __init__(self, root):
        d = os.path.join(root, "var/cache/debconf")
        self.templates = {r["Name"]: r for r in stanzas(os.path.join(d, "templates.dat"))}
        # The questions (config.dat, passwords.dat), each naming its template.
        self.questions = {r["Name"]: r.get("Template", r["Name"])
                          for f in ("config.dat", "passwords.dat")
                          for r in stanzas(os.path.join(d, f))}
        with open(os.path.join(root, "usr/share/i18n/SUPPORTED")) as f:
            self.supported = [l.strip() for l in f if l.strip() and not l.startswith("#")]

    def check(self, path):
        """Problems of one selections file, one line each."""
        problems, lines = [], []
        for n, line in enumerate(open(path).read().splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = line.split(None, 3)
            if len(parts) < 3:
                problems.append(f"line {n}: not `owner question type value`: {line}")
                continue
            lines.append((n, parts[1], parts[2], parts[3] if len(parts) == 4 else ""))
        # Choices a config script fills in (db_subst) where this file says what they are:
        # locales' config offers the SUPPORTED list, then the chosen ones as the default.
        subst = {("locales/locales_to_be_generated", "locales"): self.supported}
        gen = [v for _, q, _, v in lines if q == "locales/locales_to_be_generated"]
        if gen:
            chosen = self.supported if gen[-1] == "All locales" else split_choices(gen[-1])
            subst[("locales/default_environment_locale", "locales")] = [c.split()[0] for c in chosen]
        for n, q, typ, value in lines:
            t = self.templates.get(self.questions.get(q, q))
            if t is None:
                problems.append(f"line {n}: {q}: no such question or template in the base "
                                "system's debconf database")
                continue
            if t.get("Type") != typ:
                problems.append(f"line {n}: {q}: type {typ}, the template says {t.get('Type')}")
                continue
            if typ == "boolean" and value not in ("true", "false"):
                problems.append(f"line {n}: {q}: boolean {value!r} (true or false)")
            if typ in ("select", "multiselect"):
                choices = t.get("Choices-C") or t.get("Choices-c") or t.get("Choices", "")
                allowed = set()
                for c in split_choices(choices):
                    m = re.fullmatch(r"\$\{(\w+)\}", c)
                    if m and (q, m.group(1)) not in subst:
                        allowed = None  # filled in at install time (grub-pc's disks)
                        break
                    allowed |= set(subst[(q, m.group(1))]) if m else {c}
                if allowed is None:
                    continue
                values = split_choices(value) if typ == "multiselect" else [value]
                for v in values:
                    if v not in allowed:
                        problems.append(f"line {n}: {q}: {v!r} is not one of the template's "
                                        f"{len(allowed)} choices")
        return problems


def check_tree(root, tree, tandem, check_dir, db):
    """{consumer: None or why it rejected} for one tree."""
    p = subprocess.run(["unshare", "--mount", "--uts", "--pid", "--net", "--fork",
                        f"--mount-proc={root}/proc", "sh", "-c", OUTER, "sh", root, tree, tandem,
                        check_dir],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    results, buf = {}, []
    for line in p.stdout.splitlines():
        m = re.match(r"^@@ (\S+) (\d+)$", line)
        if m:
            results[m.group(1)] = judge(m.group(1).split(":")[0], int(m.group(2)),
                                        "\n".join(buf), tree)
            buf = []
        else:
            buf.append(line)
    if p.returncode != 0:
        results["(harness)"] = f"exit {p.returncode}:\n" + p.stdout[-2000:]
    sel = os.path.join(tree, "etc/tandem/debconf-selections")
    if os.path.exists(sel):
        results["debconf-db"] = "\n".join(db.check(sel)) or None
    return results


def files_read(tree, consumers):
    """The tree's files (relative) that the consumers which ran read."""
    out = set()
    for c in consumers:
        for pat in READS.get(c.split(":")[0], []):
            out |= {os.path.relpath(p, tree) for p in glob.glob(os.path.join(tree, pat))
                    if os.path.isfile(p)}
    return out


# Packages the consumers need that the base system does not have, unpacked from the medium's
# repository (dpkg-deb -x: files only, no maintainer scripts).
EXTRA_PACKAGES = ["drbd-utils", "tandem"]


def newest_deb(repo, name):
    found = sorted(glob.glob(os.path.join(repo, "pool", "*", "*", name, f"{name}_*.deb")))
    if not found:
        raise SystemExit(f"consumers: no {name} .deb under {repo}/pool")
    return found[-1]


def unpack_package(repo, work):
    """The tandem .deb's files, unpacked afresh (the binary left out: units run --tandem)."""
    out = os.path.join(work, "package")
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run(["dpkg-deb", "-x", newest_deb(repo, "tandem"), out], check=True)
    os.remove(os.path.join(out, "usr/sbin/tandem"))
    return out


def prepare_root(base, repo, work):
    """The base squashfs unpacked, with EXTRA_PACKAGES; again only when the squashfs is
    newer than the last unpacking or the packages changed."""
    root = os.path.join(work, "root")
    stamp = os.path.join(work, "root.stamp")
    debs = []
    for name in EXTRA_PACKAGES:
        debs.append(newest_deb(repo, name))
    recipe = "".join(f"{os.path.basename(d)} {os.path.getmtime(d)}\n" for d in debs)
    if (not os.path.exists(stamp) or os.path.getmtime(stamp) < os.path.getmtime(base)
            or open(stamp).read() != recipe):
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(work, exist_ok=True)
        subprocess.run(["unsquashfs", "-q", "-n", "-d", root, base], check=True,
                       stdout=subprocess.DEVNULL)
        for d in debs:
            subprocess.run(["dpkg-deb", "-x", d, root], check=True)
        for d in ("t", "check"):
            os.makedirs(os.path.join(root, d), exist_ok=True)
        open(os.path.join(root, "usr/sbin/tandem"), "a").close()
        with open(stamp, "w") as f:
            f.write(recipe)
    return root


def golden_trees():
    """Every host directory of the golden tests (one holding etc/)."""
    return sorted(os.path.dirname(p) for p in glob.glob(os.path.join(GOLDEN, "**", "etc"), recursive=True)
                  if os.path.isdir(p))


def render_examples(tandem, out):
    """`tandem render` of every example, every node, on the fixture its first line names
    (tests/golden.rs's rule). Returns (label, tree) pairs and render failures."""
    shutil.rmtree(out, ignore_errors=True)
    trees, failures = [], []
    for ex in sorted(glob.glob(os.path.join(REPO, "examples", "**", "*.toml"), recursive=True)):
        rel = os.path.relpath(ex, os.path.join(REPO, "examples"))[:-len(".toml")]
        first = open(ex).readline()
        if not first.startswith("# hardware:"):
            failures.append(f"examples/{rel}.toml: the first line must be `# hardware: <fixture>`")
            continue
        for word in first[len("# hardware:"):].split():
            node, _, fixture = word.rpartition("=")
            dest = os.path.join(out, rel, node) if node else os.path.join(out, rel)
            cmd = [tandem, "render", "--answer", ex,
                   "--hardware", os.path.join(FIXTURES, fixture + ".json"), "--out", dest]
            if node:
                cmd += ["--node", node]
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            label = "render/" + os.path.relpath(dest, out)
            if p.returncode != 0:
                failures.append(f"{label}: tandem render failed (exit {p.returncode}):\n  "
                                + p.stdout.strip().replace("\n", "\n  "))
            else:
                trees.append((label, dest))
    return trees, failures


# ─── negative controls ───

CONTROL_BASE = "eight-disk-drbd-10g"


class Control:
    """One broken file: `path` (relative; a glob picks its first match) edited by `edit`
    (or created as `edit("")` when `adds`), which `consumer` must reject with a message
    matching `expect`."""

    def __init__(self, consumer, what, path, edit, expect, adds=False):
        self.consumer, self.what, self.path = consumer, what, path
        self.edit, self.expect, self.adds = edit, expect, adds

    def file(self, tree):
        if self.adds:
            return self.path
        hits = sorted(glob.glob(os.path.join(tree, self.path)))
        assert hits, f"negative control ({self.consumer}: {self.what}): no {self.path}"
        return os.path.relpath(hits[0], tree)

    def apply(self, tree):
        rel = self.file(tree)
        path = os.path.join(tree, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        text = "" if self.adds else open(path).read()
        new = self.edit(text)
        assert new != text, f"negative control ({self.consumer}: {self.what}): {rel} unchanged"
        with open(path, "w") as f:
            f.write(new)
        return rel


CONTROLS = [Control(*c) for c in [
    ("mdadm", "a name-only ARRAY line (render before #16)", "etc/mdadm/mdadm.conf",
     lambda t: re.sub(r"UUID=\S+", "name=x:boot", t, count=1), r"no identity information"),
    ("mdadm", "an unknown keyword", "etc/mdadm/mdadm.conf",
     lambda t: t.replace("MAILADDR", "MAILADRR", 1), r"(?i)unknown keyword MAILADRR"),
    ("drbdadm", "an unknown net option", "etc/drbd.d/*.res",
     lambda t: t.replace("protocol C;", "protocol C;\n\t\tno-such-option yes;", 1),
     r"no-such-option"),
    ("drbdadm", "two hosts with one address", "etc/drbd.d/*.res",
     lambda t: re.sub(r"(address\s+)([0-9.]+)(:\d+;)(.*?address\s+)[0-9.]+", r"\1\2\3\4\2", t,
                      count=1, flags=re.S), r"conflicting use of IP"),
    ("ifupdown2", "an address 10.x.y.300", "etc/network/interfaces",
     lambda t: re.sub(r"(address )(\d+\.\d+\.\d+)\.\d+/", r"\g<1>\2.300/", t, count=1),
     r"300"),
    ("ifupdown2", "a bad value on an interface nothing brings up", "etc/network/interfaces",
     lambda t: t + "\niface eth9 inet manual\n\tbond-mode nonsense\n", r'bond-mode: invalid value "nonsense"'),
    ("ifupdown2", "a misspelled attribute (bridge-prots)", "etc/network/interfaces",
     lambda t: t.replace("bridge-ports", "bridge-prots", 1), r"unsupported keyword \(bridge-prots\)"),
    ("udev", "an unknown key in a .link", "etc/systemd/network/*.link",
     lambda t: t.replace("[Link]", "[Link]\nNoSuchKey=1", 1), r"NoSuchKey"),
    ("udev", "a MAC address that is not one", "etc/systemd/network/*.link",
     lambda t: re.sub(r"(PermanentMACAddress=)\S+", r"\g<1>52:54:00:zz:00:01", t, count=1),
     r"52:54:00:zz:00:01"),
    ("udev-rules", "a rules file with an unknown key", "etc/udev/rules.d/99-broken.rules",
     lambda t: 'SUBSYSTEM=="net", NOSUCHKEY="x"\n', r"Invalid key 'NOSUCHKEY'", True),
    ("systemd", "Type=nonsense", "usr/lib/systemd/system/*.service",
     lambda t: t.replace("[Service]", "[Service]\nType=nonsense", 1), r"nonsense"),
    ("systemd", "an ExecStart that does not exist", "usr/lib/systemd/system/*.service",
     lambda t: re.sub(r"ExecStart=\S+", "ExecStart=/usr/sbin/no-such-binary", t, count=1),
     r"no-such-binary"),
    ("apt-conf", "a hook whose command string is not closed", "etc/apt/apt.conf.d/99tandem-esp-sync",
     lambda t: t.replace('; fi"; };', '; fi; };', 1), r"^E: Syntax error"),
    ("lvm", "an unknown setting", "etc/lvm/lvmlocal.conf",
     lambda t: t.replace("devices {", "devices {\n\tno_such_setting = 1", 1), r"no_such_setting"),
    ("debconf", "a selection without a value", "etc/tandem/debconf-selections",
     lambda t: t + "grub-pc grub-pc/install_devices\n", r"grub-pc/install_devices"),
    ("debconf-db", "a time zone that is not one", "etc/tandem/debconf-selections",
     lambda t: re.sub(r"(tzdata/Zones/\S+ select )\S+", r"\g<1>Atlantis", t, count=1),
     r"'Atlantis' is not one of"),
    ("debconf-db", "a default locale that is not generated", "etc/tandem/debconf-selections",
     lambda t: re.sub(r"(locales/default_environment_locale select )\S+", r"\g<1>de_AT.UTF-8", t,
                      count=1), r"'de_AT\.UTF-8' is not one of"),
    ("debconf-db", "a misspelled question", "etc/tandem/debconf-selections",
     lambda t: t.replace("tzdata/Areas", "tzdata/Area", 1), r"tzdata/Area: no such question"),
    ("fstab", "a line without a mount point", "etc/fstab",
     lambda t: t + "/dev/sdz1\n", r"parse error"),
    ("fstab", "/boot/efi before /boot", "etc/fstab",
     lambda t: re.sub(r"^(\S+\s+/boot\s.*\n)(\S+\s+/boot/efi\s.*\n)", r"\2\1", t, count=1,
                      flags=re.M), r"wrong order"),
    ("apt", "Suites without its colon", "etc/apt/sources.list.d/debian.sources",
     lambda t: t.replace("Suites:", "Suites", 1), r"^E: "),
    ("apt", "a stanza apt skips (Enabled: no)", "etc/apt/sources.list.d/debian.sources",
     lambda t: t.replace("Types: deb", "Enabled: no\nTypes: deb", 1), r"read no index target"),
    ("apt", "a file apt ignores (.source)", "etc/apt/sources.list.d/extra.source",
     lambda t: "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: trixie\nComponents: main\n",
     r"extra\.source", True),
    ("console-setup", "a keyboard layout that does not exist", "etc/default/keyboard",
     lambda t: re.sub(r'XKBLAYOUT="([^"]*)"', r'XKBLAYOUT="\1,xx"', t, count=1), r"symbols/xx"),
    ("console-setup", "a console font that does not exist", "etc/default/console-setup",
     lambda t: re.sub(r'CODESET="[^"]*"', 'CODESET="Nonesuch"', t, count=1),
     r"Unable to find the required font"),
    ("locales", "a locale glibc does not have", "etc/locale.gen",
     lambda t: t + "xx_YY.UTF-8 UTF-8\n", r"xx_YY\.UTF-8 UTF-8' is not in"),
    ("locales", "LANG not generated", "etc/default/locale",
     lambda t: re.sub(r"LANG=\S+", "LANG=de_AT.UTF-8", t, count=1), r"de_AT\.UTF-8 is not generated"),
    ("tzdata", "a zone that does not exist", "etc/timezone",
     lambda t: "Europe/Atlantis\n", r"no zone Europe/Atlantis"),
    ("ssh", "a key line cut short", "root/.ssh/authorized_keys",
     lambda t: t + "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA admin@cut\n", r"authorized_keys:\d+: ssh-keygen"),
    ("kmod", "a module the kernel does not have", "etc/modules-load.d/*.conf",
     lambda t: t + "no_such_module\n", r"no_such_module"),
]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True, help="the image's base.squashfs")
    ap.add_argument("--repo", required=True,
                    help="the medium's repository (stage/repo: drbd-utils, the tandem package)")
    ap.add_argument("--tandem", required=True,
                    help="the static tandem binary (it renders the examples; units run it)")
    ap.add_argument("--work", required=True)
    ap.add_argument("-v", "--verbose", action="store_true", help="print every control's message")
    a = ap.parse_args()
    t0 = time.time()
    work = os.path.abspath(a.work)
    tandem = os.path.abspath(a.tandem)
    root = prepare_root(os.path.abspath(a.base), os.path.abspath(a.repo), work)
    prepared = time.time() - t0
    db = DebconfDb(root)
    trees = [("golden/" + os.path.relpath(t, GOLDEN), t) for t in golden_trees()]
    rendered, failures = render_examples(tandem, os.path.join(work, "rendered"))
    trees += rendered
    # The tandem package's own files (its unit, its apt hook) as one more tree; the broken
    # trees of the negative controls carry them too.
    package = unpack_package(os.path.abspath(a.repo), work)
    trees.append(("package/tandem", package))
    counted, nfiles, consumers, unread = 0, 0, set(), set()
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        check_dir = os.path.join(tmp, "check")
        os.makedirs(check_dir)
        with open(os.path.join(check_dir, "inner.sh"), "w") as f:
            f.write(INNER)
        # The node's ifupdown2.conf with the attribute check on (see the top).
        conf = open(os.path.join(root, "etc/network/ifupdown2/ifupdown2.conf")).read()
        strict = conf.replace("addon_syntax_check=0", "addon_syntax_check=1")
        assert "addon_syntax_check=1" in strict, "ifupdown2.conf: no addon_syntax_check setting"
        with open(os.path.join(check_dir, "ifupdown2.conf"), "w") as f:
            f.write(strict)
        for label, tree in trees:
            res = check_tree(root, tree, tandem, check_dir, db)
            counted += len(res)
            consumers |= {k.split(":")[0] for k in res}
            read = files_read(tree, res)
            nfiles += len(read)
            unread |= {os.path.relpath(os.path.join(dp, f), tree)
                       for dp, _, fs in os.walk(tree) for f in fs} - read
            for name, why in sorted(res.items()):
                if why:
                    files = " ".join(sorted(files_read(tree, [name]))) or "the tree"
                    failures.append(f"{label}: {name} rejects {files}:\n  "
                                    + why.replace("\n", "\n  "))
            print(f"  {label}: {len(read)} files: {' '.join(sorted(res))}", flush=True)
        # The negative controls: every consumer must reject its broken file, for that reason.
        # The base: a golden tree with a file for every control (DRBD, a unit, root's keys).
        # The tandem package's files are laid over it (its unit is the one unit a node has).
        base = os.path.join(tmp, "control-base")
        shutil.copytree(os.path.join(GOLDEN, CONTROL_BASE), base, symlinks=True)
        shutil.copytree(package, base, symlinks=True, dirs_exist_ok=True)
        # Grouped into trees: one control per consumer and per file in each.
        rounds = []
        for c in CONTROLS:
            for r in rounds:
                if all(x.consumer != c.consumer and x.file(base) != c.file(base) for x in r):
                    r.append(c)
                    break
            else:
                rounds.append([c])
        rejected = 0
        for i, r in enumerate(rounds):
            bad = os.path.join(tmp, f"broken{i}")
            shutil.copytree(base, bad, symlinks=True)
            where = {c: c.apply(bad) for c in r}
            res = check_tree(root, bad, tandem, check_dir, db)
            for c in r:
                whys = [w for k, w in res.items() if k.split(":")[0] == c.consumer]
                broke = f"{where[c]} with {c.what}"
                if not whys or not all(whys):
                    failures.append(f"negative control: {c.consumer} accepted {broke}")
                elif not all(re.search(c.expect, w, re.M) for w in whys):
                    failures.append(f"negative control: {c.consumer} rejected {broke}, but not "
                                    f"for it (want /{c.expect}/):\n  "
                                    + "\n  ".join(whys).replace("\n", "\n  "))
                else:
                    rejected += 1
                if a.verbose:
                    print(f"    [{c.consumer}] {c.what}: "
                          + " | ".join(w or "(accepted)" for w in whys).replace("\n", " / ")[:300])
        print(f"  negative controls: {rejected} of {len(CONTROLS)} broken files rejected for "
              f"their breakage ({len({c.consumer for c in CONTROLS})} consumers, {len(rounds)} trees)",
              flush=True)
    unread = sorted(u for u in unread if u not in ("plan.txt", "plan.json"))
    print(f"  read by no consumer here: {' '.join(unread)}")
    print(f"== consumers: {len(trees)} trees ({len(trees) - len(rendered) - 1} golden, {len(rendered)} "
          f"rendered, the tandem package) × {len(consumers)} consumers: {counted} checks of {nfiles} files; "
          f"root prepared in {prepared:.1f} s, all in {time.time() - t0:.1f} s")
    if failures:
        print("\n".join(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
