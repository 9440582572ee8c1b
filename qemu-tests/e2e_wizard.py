#!/usr/bin/env python3
"""The wizard end to end (issue #6): a person at the serial console installs a node.

  python3 qemu-tests/e2e_wizard.py --iso ISO --work DIR [--tandem BIN]

Boots the live ISO (SeaBIOS) on a machine with two blank 8 GiB virtio disks and one NIC on
QEMU user networking, and at the live root shell types `tandem install` with no answer
anywhere: the wizard starts. It is driven as a serial terminal is (TERM=vt100, 80x24):
keys are bytes, Enter is CR, arrows are ESC [ A / ESC [ B, Space toggles. Every step is
answered (RAID1 over both disks, static 10.0.2.15/24 via 10.0.2.2, host name, root
password), the erase confirmation is typed, and the install runs from the saved answer.
After TANDEM-RESULT ok and the reboot, the disks boot alone; the test logs in and checks
the host name, the address, /proc/mdstat and that the answer the wizard saved (kept on the
installed system) passes `tandem validate`.

As an e2e.py scenario module: SCENARIOS below. Standalone, `--tandem BIN` replaces the
image's installer with BIN over 9p (for trying installer changes without a new image).
"""

import argparse
import json
import os
import re
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import tvm  # noqa: E402
from scenario import Scenario  # noqa: E402

DISK_SIZE = "8G"
MAC = "52:54:00:12:34:70"
HOSTNAME = "wiz1"
DOMAIN = "lab.example"
ADDRESS = "10.0.2.15/24"
GATEWAY = "10.0.2.2"
SAVED = "/root/answer.toml"  # where `tandem install` has the wizard save (exec::WIZARD_ANSWER)
KEPT = "/root/tandem-answer.toml"  # where the installed system keeps it (install::KEPT_ANSWER)

ENTER = "\r"
UP = "\x1b[A"
DOWN = "\x1b[B"
SPACE = " "

# Wizard screens are redrawn; what is matched is the text after the previous match.
SCREEN_WAIT = 120


class Keys:
    """Types into the wizard and waits for its screens; counts both for the record."""

    def __init__(self, con):
        self.con = con
        self.keystrokes = 0
        self.screens = []

    def key(self, k):
        self.con.send(k)
        self.keystrokes += 1
        # One key at a time, as a person types: dialoguer reads key by key.
        time.sleep(0.3)

    def line(self, text):
        self.con.send(text)
        self.keystrokes += len(text)
        time.sleep(0.2)
        self.key(ENTER)

    def screen(self, title, timeout=SCREEN_WAIT):
        """Waits for a screen (its title) and until it is drawn; returns the screen's text
        from the title on, escape sequences removed."""
        seen = self.con.expect(re.escape(title), timeout)[-len(title):]
        seen += self.con.settle(quiet=2.0)
        self.screens.append(title)
        return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", seen)

    def accept(self, title):
        seen = self.screen(title)
        self.key(ENTER)
        return seen


def drive_wizard(k):
    """Answers every question; returns the text of the screens asserted on."""
    shown = {}
    k.accept("Console keyboard layout")
    k.accept("Default locale")
    k.accept("Time zone")

    s = k.screen("Disks to install on")
    # Both blank disks offered and selected; the boot medium (the CD) never listed.
    for want in ("[x] vda", "[x] vdb", "empty"):
        assert want in s, f"disk screen lacks {want!r}:\n{s}"
    assert "sr0" not in s, f"the boot medium is listed:\n{s}"
    # On the live machine the wizard measures each disk's read speed before the table.
    assert re.search(r"\d+\s+MB/s", s), f"the disk table shows no measured speed:\n{s}"
    # Space toggles vda off; Enter must then be refused (RAID1 needs two disks), and the
    # question comes again as it was.
    k.key(SPACE)
    k.key(ENTER)
    s = k.screen("! select at least 2 disks")
    assert "[x] vda" in s and "[x] vdb" in s, f"the re-asked disk list:\n{s}"
    k.key(ENTER)
    shown["disks"] = s

    s = k.screen("RAID level of the data array (2 disks)")
    assert "raid1" in s and "survives 1 disk failure" in s, s
    assert "raid5" not in s and "raid6" not in s and "raid10" not in s, s
    k.key(ENTER)

    # Arrow keys as a serial terminal sends them: down to "a peer", up again.
    s = k.screen("DRBD peer")
    assert "no peer" in s, s
    k.key(DOWN)
    k.key(UP)
    k.key(ENTER)

    k.accept("Size of volume root")
    k.accept("Size of volume swap")
    k.accept("Size of volume vz")
    s = k.screen("Uplink NICs")
    assert MAC in s, f"the NIC is not shown:\n{s}"
    # Only NICs with a link are proposed, and the live system leaves the NIC down.
    if "[ ]" in s:
        k.key(SPACE)
    k.key(ENTER)
    k.accept("Tagged VLANs")

    k.screen("Address of this node on vmbr0")
    k.line("10.0.2.300/24")
    s = k.screen('! invalid address "10.0.2.300/24"')
    assert "Address of this node on vmbr0" in s, f"not asked again:\n{s}"
    k.line(ADDRESS)
    k.screen("Default gateway")
    k.line(GATEWAY)
    k.accept("Name servers")
    k.screen("Host name")
    k.line(HOSTNAME)
    k.screen("DNS domain")
    k.line(DOMAIN)
    k.screen("Root password")
    k.line(tvm.TEST_PASSWORD)
    k.screen("Repeat it")
    k.line(tvm.TEST_PASSWORD)
    k.accept("SSH public keys for root")

    s = k.screen("Summary: this is what will be done")
    assert "continue: confirm erasing the disks" in s, s
    assert "raid1" in s and HOSTNAME in s, f"the summary lacks the plan:\n{s}"
    k.key(ENTER)

    k.screen('Type "erase vda vdb"')
    k.line("y")
    s = k.screen('! not confirmed: you typed "y"')
    assert 'Type "erase vda vdb"' in s, f"not asked again:\n{s}"
    k.line("erase vda vdb")

    s = k.screen("Save the answer file?")
    assert SAVED in s, f"the save step does not offer {SAVED}:\n{s}"
    k.key(ENTER)
    k.con.expect(re.escape(f"Saved the answer file to {SAVED}."), 60)
    return shown


def run(ctx, tandem_bin=None, medium=None):
    work = ctx.work
    os.makedirs(work, exist_ok=True)
    register = getattr(ctx, "vm", lambda v: v)
    log = getattr(ctx, "log", print)
    disks = [tvm.new_disk(os.path.join(work, f"disk{i}.qcow2"), DISK_SIZE) for i in range(2)]
    nics = [tvm.Nic(MAC)]
    extra = []
    if tandem_bin:
        share = os.path.join(work, "share")
        os.makedirs(share, exist_ok=True)
        shutil.copy(tandem_bin, os.path.join(share, "tandem"))
        if medium:
            # Hard links: 9p shows a symlink as a symlink, which would point nowhere.
            shutil.copytree(medium, os.path.join(share, "medium"), copy_function=os.link)
        extra = ["-virtfs", f"local,path={share},mount_tag=h,security_model=none,readonly=on"]

    vm = register(tvm.VM("wizard", work, disks, nics, firmware="bios", cdrom=ctx.iso,
                         boot="d", extra=extra))
    try:
        vm.start("install")
        sh = vm.live_shell()
        t_live = vm.elapsed()
        log(f"live shell after {t_live:.0f} s")
        if tandem_bin:
            sh.run(f"{tvm.MOUNT_9P} && cp /mnt/h/tandem /usr/local/sbin/tandem && tandem --version")
        # No answer anywhere: nothing on the kernel command line, none embedded.
        rc, _ = sh.run("test ! -e /run/live/medium/tandem/answer.toml && "
                       "! grep -q tandem.answer= /proc/cmdline", check=False)
        assert rc == 0, "this ISO carries an answer; the wizard test needs one without"
        # With no answer the screen (tty1, the kernel's own console) starts the wizard by
        # itself; this serial line got the shell. /dev/vcs1 is the text on tty1.
        rc, screen = sh.run("for i in $(seq 120); do grep -q 'Console keyboard layout' /dev/vcs1 "
                            "&& break; sleep 1; done; tr -s ' ' < /dev/vcs1; echo; "
                            "grep -q 'Console keyboard layout' /dev/vcs1", check=False)
        ctx.record(tty1_wizard=rc == 0)
        assert rc == 0, f"tty1 does not show the wizard:\n{screen}"
        # The terminal a person on a serial line has: vt100, 80x24, echo on.
        con = vm.console
        install = "tandem install" + (" --medium /mnt/h/medium" if medium else "")
        con.sendline(f"export TERM=vt100; stty sane rows 24 cols 80; {install}; "
                     "echo WIZ-EXIT=$?")
        k = Keys(con)
        t0 = time.time()
        drive_wizard(k)
        t_wizard = time.time() - t0
        log(f"wizard answered in {t_wizard:.0f} s ({k.keystrokes} keystrokes, "
            f"{len(k.screens)} screens); installing")
        con.expect(re.escape(f"answer: the wizard (saved to {SAVED})"), 120)
        seen = con.expect(r"TANDEM-RESULT |WIZ-EXIT=\d+", 5400)
        if "WIZ-EXIT=" in seen[-12:]:
            raise AssertionError("tandem install ended without a result:\n" + seen[-3000:])
        line = con.expect("\n", 60)
        res = tvm.tandem_result("TANDEM-RESULT " + line)
        assert res is not None, f"unreadable result line: {line!r}"
        t_install = time.time() - t0 - t_wizard
        phases = {p["phase"]: p["seconds"] for p in res.get("phases", [])}
        ctx.record(live_boot_s=round(t_live), wizard_s=round(t_wizard),
                   install_s=round(t_install), install=res.get("result"),
                   total_seconds=res.get("total-seconds"), phases=phases,
                   keystrokes=k.keystrokes, screens_asserted=len(k.screens))
        assert res.get("result") == "ok", f"install failed: {res}"
        speeds = res.get("disk-speeds", [])
        assert sorted(d["disk"] for d in speeds) == ["vda", "vdb"], f"disk speeds: {speeds}"
        log(f"installed in {res.get('total-seconds')} s; waiting for the reboot")
        # The install reboots; -no-reboot makes that QEMU's exit.
        vm.wait_exit(900)
    finally:
        vm.kill()

    boot = register(tvm.VM("wizard", work, disks, nics, firmware="bios", boot="c"))
    try:
        boot.start("firstboot")
        sh = boot.login()
        t_boot = boot.elapsed()
        log(f"installed system: logged in after {t_boot:.0f} s")
        name = sh.out("hostname").strip()
        assert name == HOSTNAME, f"hostname {name!r}, wanted {HOSTNAME}"
        addr = sh.out("ip -4 -o addr show dev vmbr0")
        assert ADDRESS in addr, f"vmbr0 lacks {ADDRESS}:\n{addr}"
        mdstat = sh.out("cat /proc/mdstat")
        arrays = re.findall(r"^(md\S+) : active (?:\(auto-read-only\) )?raid1 (.*)$", mdstat, re.M)
        assert len(arrays) >= 2, f"not two RAID1 arrays:\n{mdstat}"
        for md, members in arrays:
            assert "vda" in members and "vdb" in members, f"{md} is not over both disks:\n{mdstat}"
        mode = sh.out(f"stat -c %a {KEPT}").strip()
        assert mode == "600", f"{KEPT} has mode {mode}"
        out = sh.out(f"tandem validate --answer {KEPT}")
        assert "valid" in out, out
        ctx.record(firstboot_login_s=round(t_boot), md_arrays=[a[0] for a in arrays])
        boot.poweroff(sh)
    finally:
        boot.kill()


SCENARIOS = [Scenario(name="wizard-install", run=run, vms=1, est=1500)]


class StandaloneCtx:
    def __init__(self, work, iso):
        self.name = "wizard-install"
        self.work = work
        self.iso = iso
        self.fields = {}

    def record(self, **fields):
        self.fields.update(fields)
        print("record:", json.dumps(fields), flush=True)

    def log(self, msg):
        print(msg, flush=True)

    def vm(self, vm):
        return vm


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iso", required=True)
    ap.add_argument("--work", default="build/e2e-wizard")
    ap.add_argument("--tandem", help="installer binary to use instead of the image's (9p)")
    ap.add_argument("--medium", help="with --tandem: a medium directory (base.squashfs, repo/) "
                    "to install from instead of the image's")
    a = ap.parse_args()
    work = os.path.abspath(a.work)
    shutil.rmtree(work, ignore_errors=True)
    ctx = StandaloneCtx(work, os.path.abspath(a.iso))
    t = time.time()
    run(ctx, a.tandem and os.path.abspath(a.tandem), a.medium and os.path.abspath(a.medium))
    ctx.fields["wall_s"] = round(time.time() - t)
    with open(os.path.join(work, "results.json"), "w") as f:
        json.dump(ctx.fields, f, indent=2)
    print("wizard-install: ok", json.dumps(ctx.fields))


if __name__ == "__main__":
    main()
