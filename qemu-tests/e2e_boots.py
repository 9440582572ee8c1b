"""Checks and scenarios on the installed layouts (qemu-tests/e2e.py): the single-node
checks e2e_fleet.py's `fleet` runs on its first boot of each node, beta's degraded boot,
and two small scenarios. Alpha without its first disk (3a) and the tandem package (9) are
checked by replace-alpha (e2e_day2.py), on its way to replacing that disk.

bystander-untouched  (4) the bystander disk's sha256 (host side) unchanged by alpha's install
broken-answer        (8) raid6 over 3 disks, the answer found by DHCP on the fleet network:
                     the validation error with file:line on the console, the disks untouched.
                     The machine is blank OVMF with Secure Boot enforced: UEFI PXE through
                     shim and Debian's signed network GRUB to the live system (issue #15).
"""

import json
import os
import re
import subprocess
import time

import e2e_day2
import fleetnet
import tvm
from e2e_installs import node_nics
from guest import login
from scenario import Scenario


def mdstat(shell, want_members):
    """Every array active; with want_members, [n/n] complete (a resync may still run)."""
    text = shell.out("cat /proc/mdstat")
    arrays = re.findall(r"^(md\S+) : (\S+) (\S+)", text, re.M)
    if len(arrays) < 2:
        raise AssertionError(f"expected 2 arrays (boot, data):\n{text}")
    for name, state, _ in arrays:
        if state != "active":
            raise AssertionError(f"{name} is {state}:\n{text}")
    counts = re.findall(r"\[(\d+)/(\d+)\] \[([U_]+)\]", text)
    for total, up, flags in counts:
        if want_members and (int(up) != want_members or "_" in flags):
            raise AssertionError(f"array degraded ([{total}/{up}] [{flags}]):\n{text}")
    return text


def installed_inventory(ctx, shell):
    """An inventory for `tandem render` when the install ran unattended (PXE: no live
    shell to run detect in): the installed system's own `tandem detect`, with what the
    installed system itself holds (its arrays, mounts, swap) cleared, as the live system saw
    the disks before the install."""
    out = shell.out("tandem detect --json", 120)
    inv = json.loads(out[out.index("{"):out.rindex("}") + 1])
    # Blank disks, as the live system saw them: render plans like the install did, and a
    # plan refuses (wipe = "if-empty") the partitions and arrays the install made.
    for d in inv.get("disks", []):
        d["mounts"], d["holders"], d["swap"] = [], [], False
        d["partitions"], d["signatures"] = [], []
    path = os.path.join(ctx.work, "hardware.json")
    with open(path, "w") as f:
        json.dump(inv, f, indent=1)
    return path


def render(ctx, layout, shell):
    hardware = layout.hardware
    if not hardware or not os.path.exists(hardware):
        hardware = installed_inventory(ctx, shell)
    out = os.path.join(ctx.work, "render")
    subprocess.run(["rm", "-rf", out], check=True)
    subprocess.run([ctx.tandem, "render", "--answer", layout.answer, "--hardware",
                    hardware, "--node", layout.node, "--out", out], check=True,
                   stdout=subprocess.DEVNULL)
    return out


def check_alpha(ctx, lay, sh):
    """(1) alpha's first boot from its disks, as the installer left them."""
    md = mdstat(sh, 4)
    ctx.record(mdstat_alpha=md.strip().splitlines())
    fstab = sh.out("findmnt --fstab --noheadings --output TARGET")
    mounted = sh.out("findmnt --noheadings --output TARGET --list")
    missing = [t for t in fstab.split() if t.startswith("/") and t not in mounted.split()]
    if missing:
        raise AssertionError(f"fstab entries not mounted: {missing}")
    for need in ("/", "/boot", "/var/lib/vz"):
        if need not in mounted.split():
            raise AssertionError(f"{need} not mounted:\n{mounted}")
    rendered = render(ctx, lay, sh)
    # mdadm.conf too: the install creates the arrays with the UUIDs the plan fixed, so the
    # file render writes is the one the initramfs assembled the arrays from.
    for path in ("etc/hostname", "etc/hosts", "etc/mdadm/mdadm.conf", "etc/fstab"):
        want = open(os.path.join(rendered, path)).read().strip()
        got = sh.out(f"cat /{path}").strip()
        if got != want:
            raise AssertionError(f"/{path} differs from tandem render:\n--- rendered\n{want}\n--- installed\n{got}")
    host = sh.out("hostname").strip()
    if host != "alpha":
        raise AssertionError(f"hostname {host!r}")
    # The installer ran with console=ttyS0: its getty waits for the device without limit.
    wait = sh.out("systemctl show dev-ttyS0.device -p JobRunningTimeoutUSec").strip()
    ctx.record(ttyS0_device_timeout=wait)
    if wait != "JobRunningTimeoutUSec=infinity":
        raise AssertionError(f"serial console device timeout: {wait!r}")
    # The arrays and volumes fstab names wait 5 min, not systemd's 90 s (plan DEVICE_WAIT).
    for unit in ("dev-md-boot.device", "dev-pve-vz.device", "dev-pve-swap.device"):
        wait = sh.out(f"systemctl show {unit} -p JobRunningTimeoutUSec").strip()
        ctx.record(**{f"device_timeout_{unit}": wait})
        if wait != "JobRunningTimeoutUSec=5min":
            raise AssertionError(f"{unit}: device timeout {wait!r}, not 5min")


def check_beta(ctx, sh):
    """(2) beta's first boot from its disks, under OVMF."""
    mdstat(sh, 4)
    if "EFI" not in sh.out("[ -d /sys/firmware/efi ] && echo EFI || echo BIOS"):
        raise AssertionError("beta did not boot under UEFI")
    # The first disk's ESP is mounted. It is nofail, so the boot does not wait for it and
    # the shell may come first; its device wait is the arrays' 5 min (udev's first coldplug
    # under TCG on a loaded host outlasted 10 s, then systemd's 90 s).
    esp = "$(awk '$2==\"/boot/efi\" {sub(/^UUID=/, \"\", $1); print $1}' /etc/fstab)"
    wait = sh.out(f"systemctl show $(systemd-escape -p --suffix=device /dev/disk/by-uuid/{esp})"
                  " -p JobRunningTimeoutUSec").strip()
    ctx.record(esp_device_timeout=wait)
    if wait != "JobRunningTimeoutUSec=5min":
        raise AssertionError(f"ESP device timeout {wait!r}, not 5min")
    efi = sh.out("for i in $(seq 300); do findmnt -n -o SOURCE,FSTYPE /boot/efi && break;"
                 " sleep 1; done; true", timeout=330).strip()
    ctx.record(boot_efi=efi)
    if not re.fullmatch(r"/dev/vda2\s+vfat", efi):
        raise AssertionError(f"/boot/efi is not the first disk's ESP: {efi!r}\n"
                             + sh.out("systemctl status boot-efi.mount --no-pager; true"))
    # Every disk's ESP holds GRUB (the removable path, so firmware without boot entries
    # finds it too).
    # The first ESP is mounted at /boot/efi already (read-write: a read-only second mount
    # is refused), the others are mounted read-only for the look.
    out = sh.out("for d in /dev/vd?2; do m=$(findmnt -n -o TARGET --source $d | head -1); u=;"
                 " if [ -z \"$m\" ]; then m=/mnt/esp; mkdir -p $m; mount -o ro $d $m || continue; u=1; fi;"
                 " for f in EFI/BOOT/BOOTX64.EFI EFI/debian/grubx64.efi; do"
                 " [ -f $m/$f ] && echo \"$d $f\"; done; [ -n \"$u\" ] && umount $m; done; true")
    ctx.record(esps=out.strip().splitlines())
    found = set(re.findall(r"^(/dev/vd.2) EFI/BOOT/BOOTX64.EFI$", out, re.M))
    if len(found) != 4:
        raise AssertionError(f"GRUB on {len(found)} of 4 ESPs:\n{out}")


def beta_degraded(ctx, lay, disks, vars_file, vm, sh):
    """(3b) RAID6 without two of its four disks. md refuses to start a degraded RAID5/6
    array whose initial resync never finished ("cannot start dirty degraded array": its
    parity is not known to be right), as on any Linux; the node that loses two disks is one
    that has run. So this runs on the cluster's beta after the cluster checks: the resync
    is finished, the node shut down cleanly, and booted again without disks 0 and 2."""
    t0 = time.time()
    sh.finish_md_resync()
    ctx.record(resync_seconds=round(time.time() - t0))
    vm.poweroff(sh)
    # Two blank disks in the empty bays and the upgrade's packages: replace-beta runs on
    # this boot.
    extra = e2e_day2.beta_extra_disks(ctx)
    vm2 = ctx.vm(tvm.VM(lay.node + "-degraded", ctx.work,
                        [tvm.Disk(d, serial=f"tandem-beta-disk{i}") for i, d in enumerate(disks)
                         if i not in (0, 2)] + extra,
                        node_nics(lay.macs), firmware=lay.firmware,
                        vars_file=vars_file, boot="c"))
    sh = login(ctx, vm2)
    ctx.log(f"{vm2.name}: logged in after {vm2.elapsed():.0f} s")
    ctx.record(login_seconds_beta_degraded=round(vm2.elapsed()))
    text = sh.out("cat /proc/mdstat")
    if "[4/2]" not in text:
        raise AssertionError(f"expected arrays running with 2 of 4 disks:\n{text}")
    ctx.record(mdstat_beta_degraded=text.strip().splitlines())
    e2e_day2.replace_beta(ctx, lay, disks, vars_file, vm2, sh)


def bystander_untouched(ctx):
    lay = ctx.layout("alpha")
    now = tvm.sha256_file(lay.bystander)
    ctx.record(sha256=now)
    if now != lay.bystander_sha256:
        raise AssertionError(f"bystander changed: {lay.bystander_sha256} -> {now}")


def broken_answer(ctx):
    """raid6 over 3 disks: refused with the diagnostic placed in the file, nothing written."""
    src = os.path.join(ctx.answers, "broken-raid6-3disks.toml")
    mac = "52:54:00:e2:0c:00"
    disks = [tvm.new_disk(os.path.join(ctx.work, f"disk{i}.qcow2"), "10G") for i in range(3)]
    copies = []
    for d in disks:
        c = d + ".before"
        subprocess.run(["cp", d, c], check=True)
        copies.append(c)
    # A machine of the fleet network (fleetnet.py) whose answer, found by DHCP, is bad.
    net = fleetnet.FleetNet(ctx.work, ctx.pxe)
    try:
        net.add_machine(mac, src)
        # UEFI PXE under Secure Boot (issue #15): the NIC's firmware (OVMF's own PXE: the
        # option ROM, QEMU's unsigned iPXE, is left out) gets shim, shim Debian's signed
        # network GRUB, GRUB boot/<mac>.cfg and the live system over HTTP.
        vm = ctx.vm(tvm.VM("broken", ctx.work, disks,
                           [tvm.Nic(mac, net="tap", ifname=net.tap("broken0"), bootindex=0)],
                           firmware="uefi-sb", boot="n", netns=net.ns,
                           extra=["-global", "virtio-net-pci.romfile="]))
        vm.start("install")
        vm.console.expect(r"Fetching Netboot Image grubx64\.efi", 300)
        ctx.record(grub_seconds=round(vm.elapsed()))
        vm.console.expect(r"secureboot: Secure boot enabled", 600)
        ctx.record(secure_boot_seconds=round(vm.elapsed()))
        out = vm.console.expect(r"TANDEM INSTALL FAILED \(exit \d+\)", 1200)
        ctx.record(refused_seconds=round(vm.elapsed()))
        for path in (f"/boot/{mac}.cfg", "/tandem/discover.grub", "/tandem/vmlinuz",
                     "/tandem/initrd.img"):
            if not net.fetches(path):
                raise AssertionError(f"the Secure Boot PXE path never fetched {path}")
    finally:
        net.stop()
    with open(os.path.join(ctx.work, "refusal.txt"), "w") as f:
        f.write(out)
    # file:line:col: key: message, naming the level and the disk count.
    m = re.search(r"\S+:(\d+):(\d+): storage\.\S*: [^\n]*", out)
    if not m or "raid6" not in out:
        raise AssertionError(f"no placed diagnostic about raid6 on the console:\n{out[-2000:]}")
    ctx.record(diagnostic=m.group(0).strip())
    vm.kill()
    changed = [d for d, c in zip(disks, copies) if not tvm.same_content(d, c)]
    if changed:
        raise AssertionError(f"refused install changed {changed}")


def first_boot_hook_ran_once(name, sh):
    """qemu-tests/answers/cluster.toml's e2e-once hook: one output line, one done stamp."""
    stamp = "/var/lib/tandem/first-boot/e2e-once.done"
    sh.out(f"for i in $(seq 120); do test -e {stamp} && break; sleep 1; done; true", 180)
    lines = sh.out("grep -c ' e2e-once: ran-once on ' /var/log/tandem/first-boot.log; true").strip()
    if lines != "1":
        raise AssertionError(
            f"{name}: first-boot hook output logged {lines!r} times, not once:\n"
            + sh.out("cat /var/log/tandem/first-boot.log; ls -la /var/lib/tandem/first-boot; "
                     "journalctl -b -u tandem-first-boot-late --no-pager | tail -n 20; true"))
    d = "/var/lib/tandem/first-boot"
    rc, _ = sh.run(f"test -f {stamp} && ! test -e {d}/e2e-once.failed", check=False)
    if rc != 0:
        raise AssertionError(f"{name}: first-boot stamps missing:\n" + sh.out(f"ls -la {d}; true"))
    # The late stage is done once its events are delivered to the fleet's collector.
    rc, _ = sh.run(f"test -e {d}/stage-late.done && test -e {d}/e2e-once.reported", check=False)
    if rc != 0:
        raise AssertionError(f"{name}: the late stage is not done or its event not reported:\n"
                             + sh.out(f"ls -la {d}; cat /var/log/tandem/first-boot.log; true"))


SCENARIOS = [
    Scenario(name="bystander-untouched", needs=("fleet",), run=bystander_untouched,
             vms=0, est=10),
    Scenario(name="broken-answer", run=broken_answer, est=290),
]
