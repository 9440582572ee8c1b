"""Power cuts and failures during an install (qemu-tests/e2e.py scenario module).

power-cut  OVMF, two 8 GiB NVMe disks with 4096-byte sectors (4Kn) in RAID1 and a 2 GiB
           virtio bystander, from the ISO; firmware = "uefi" (4Kn disks take no BIOS boot
           code), so each disk holds an ESP, /boot's member and the data member.
           One live boot after another, as a machine whose power was cut boots again:
           (1) a medium without its packages: the install fails in the packages phase and
               leaves the disks as they were, and the log says so; again with
               --reset-on-error: the disks end with no partition table and no md or LVM
               signature. Then an install is cut off (QEMU killed) while creating the arrays.
           (2), (3) wipe = "if-empty" refuses the disks as an interrupted Tandem install;
               the install with wipe = "force" is cut off in the system phase, then in the
               bootloader phase.
           (4) refused once more, then the forced install completes under a slowed udev
               (one worker, every block event a second longer) and the node boots.
           The bystander's sha256 (host side) is the same after every cut and at the end.

E2E_POWERCUT_TANDEM=BIN (development) replaces the image's installer with BIN over 9p.
"""

import os
import re
import shutil

import tvm
from scenario import Scenario
from e2e_installs import LIVE_TIMEOUT, detect, install_command, live_net_up, make_bystander

MAC = "52:54:00:e2:0d:00"
DISK_SIZE = "8G"
INSTALL_TIMEOUT = 1800
# Where each cut falls: the console line that starts the phase, then the command in it.
CUTS = [
    ("raid", r"== phase 4/11: raid", r"mdadm --create"),
    ("system", r"== phase 6/11: system", r"unsquashfs"),
    ("bootloader", r"== phase 10/11: bootloader", r"grub-install"),
]
INTERRUPTED = "holds an interrupted Tandem install"
# The selected disks as the kernel names them (each NVMe disk is its own controller; the
# bystander is vda), and the data member's partition number: ESP, /boot, data.
DISKS = ("nvme0n1", "nvme1n1")
DATA = "nvme0n1p3"


def serve(ctx):
    """answers/if-empty.toml (the file as written) and answers/force.toml (the same with
    wipe = "force"), over HTTP only: the console never shows the password hash."""
    src = os.path.join(ctx.answers, "power-cut.toml")
    root = os.path.join(ctx.work, "http")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(os.path.join(root, "answers"))
    with open(src) as f:
        text = f.read()
    forced = text.replace('wipe = "if-empty"', 'wipe = "force"')
    assert forced != text, "power-cut.toml has no wipe = \"if-empty\" line"
    for name, body in (("if-empty", text), ("force", forced)):
        path = os.path.join(root, "answers", f"{name}.toml")
        with open(path, "w") as f:
            f.write(body)
        os.chmod(path, 0o600)
    http = tvm.HttpServer(root, os.path.join(ctx.work, "http.log"))
    return http, f"{http.guest_url}/answers/if-empty.toml", f"{http.guest_url}/answers/force.toml"


def live(ctx, disks, boot_no):
    extra, dev_bin = [], os.environ.get("E2E_POWERCUT_TANDEM")
    if dev_bin:
        share = os.path.join(ctx.work, "share")
        os.makedirs(share, exist_ok=True)
        shutil.copy(dev_bin, os.path.join(share, "tandem"))
        extra = ["-virtfs", f"local,path={share},mount_tag=h,security_model=none,readonly=on"]
    vm = ctx.vm(tvm.VM("cut", ctx.work, disks, [tvm.Nic(MAC)], firmware="uefi",
                       cdrom=ctx.iso, boot="d", extra=extra))
    vm.start(f"live{boot_no}")
    sh = vm.live_shell(LIVE_TIMEOUT)
    ctx.log(f"live boot {boot_no}: shell after {vm.elapsed():.0f} s")
    if dev_bin:
        sh.run(f"{tvm.MOUNT_9P} && cp /mnt/h/tandem /usr/local/sbin/tandem")
    live_net_up(sh, MAC)
    return vm, sh


def refused_as_interrupted(ctx, sh, url, boot_no):
    rc, out = sh.run(install_command(url), timeout=600, check=False)
    if rc != 2 or INTERRUPTED not in out:
        raise AssertionError(f"live boot {boot_no}: wipe = \"if-empty\" over a cut-off install: "
                             f"exit {rc}, wanted 2 naming {INTERRUPTED!r}:\n{out[-3000:]}")
    line = next(l for l in out.splitlines() if INTERRUPTED in l)
    ctx.record(**{f"refusal_{boot_no}": line.strip()[:400]})


def cut(ctx, vm, sh, url, where):
    """Starts the install and kills QEMU (the power cut) once it is inside `where`."""
    name, phase, command = where
    sh.con.sendline(install_command(url) + "; echo TANDEM-EXIT=$?")
    vm.console.expect(phase, INSTALL_TIMEOUT)
    seen = vm.console.expect(f"{command}|TANDEM-RESULT |TANDEM-EXIT=", INSTALL_TIMEOUT)
    if "TANDEM-" in seen[-200:]:
        raise AssertionError(f"the install ended before the cut in {name}:\n{seen[-3000:]}")
    # Into the command's work (unsquashfs writing files, grub-install writing a disk).
    try:
        vm.console.expect("TANDEM-RESULT |TANDEM-EXIT=", 4)
        raise AssertionError(f"the install ended before the cut in {name}")
    except TimeoutError:
        pass
    vm.kill()
    ctx.log(f"power cut in phase {name}")


def bystander_same(ctx, bystander, before, when):
    if tvm.sha256_file(bystander) != before:
        raise AssertionError(f"the bystander disk changed ({when})")


def disk_state(sh):
    """What is on the two selected disks (not the bystander)."""
    return sh.out(f"for d in {' '.join('/dev/' + d for d in DISKS)}; do echo \"$d: $(lsblk -rno NAME,PARTLABEL $d | "
                  "tr '\\n' ' ')| $(wipefs --noheadings -O DEVICE,TYPE $(ls $d*) | sort -u | "
                  "tr '\\n' ' ')\"; done; cat /proc/mdstat")


def slow_udev(sh):
    """udev as on a loaded machine (issue #16, the race `make bench` found): one worker, and
    every block device event a second longer, so /dev/md/<name>, /dev/<vg>/<lv> and the
    partitions' nodes and links come well after the command that made them returns. The
    install must wait for each (settle, then the node) instead of failing on a missing one."""
    sh.run("udevadm control --children-max=1 && mkdir -p /run/udev/rules.d && "
           "echo 'SUBSYSTEM==\"block\", RUN+=\"/bin/sleep 1\"' > /run/udev/rules.d/99-e2e-slow.rules && "
           "udevadm control --reload")


def failures(ctx, sh, url_empty, url_force):
    """The install fails halfway (the medium's packages are gone): kept, then reset."""
    # A medium laid out like the boot medium, every .deb of its repository missing.
    sh.run("rm -rf /tmp/m && mkdir -p /tmp/m/tandem && "
           "ln -s /run/live/medium/tandem/base.squashfs /run/live/medium/tandem/base.status /tmp/m/tandem/ && "
           "cp -as /run/live/medium/tandem/repo /tmp/m/tandem/repo && "
           "find /tmp/m/tandem/repo/pool -name '*.deb' -delete")
    rc, out = sh.run(install_command(url_empty) + " --medium /tmp/m", timeout=INSTALL_TIMEOUT,
                     check=False)
    if rc in (0, 2) or "failed in phase packages" not in out:
        raise AssertionError(f"the install from a medium without packages: exit {rc}, wanted a "
                             f"failure in phase packages:\n{out[-3000:]}")
    if "left as the failure found them" not in out:
        raise AssertionError(f"the failure does not say the disks were kept:\n{out[-3000:]}")
    sh.run("grep -q 'left as the failure found them' /var/log/tandem/install.log")
    kept = disk_state(sh)
    if kept.count("tandem-unfinished-") < 4 or "linux_raid_member" not in kept:
        raise AssertionError(f"after the failure the disks should hold the unfinished install:\n{kept}")
    ctx.record(kept_after_failure=kept.splitlines()[:2])
    # The data array's PV label sits inside the members, at md's data offset: read the
    # label sectors there on the raw disk, before (it must be seen) and after the reset.
    # "LVM2 001" is the label's type, what LVM and blkid recognise and wipefs erases (the
    # root LV further on holds binaries with the same bytes: only the label is read).
    # Both figures count 512-byte units, whatever the disk's sector size.
    start = int(sh.out(f"cat /sys/class/block/{DATA}/start").strip())
    offset = int(re.search(r"Data Offset : (\d+) sectors",
                           sh.out(f"mdadm --examine /dev/{DATA}")).group(1))
    pv_label = (f"dd if=/dev/{DISKS[0]} bs=512 skip={start + offset} count=4 2>/dev/null | "
                "grep -c -a 'LVM2 001' || true")
    if sh.out(pv_label).strip() == "0":
        raise AssertionError("no PV label found in the kept data partition: the check sees nothing")

    rc, out = sh.run(install_command(url_force) + " --medium /tmp/m --reset-on-error",
                     timeout=INSTALL_TIMEOUT, check=False)
    if rc in (0, 2) or "--reset-on-error: the selected disks' signatures and partition tables are cleared" not in out:
        raise AssertionError(f"--reset-on-error: exit {rc}:\n{out[-3000:]}")
    after = disk_state(sh)
    # No partition, no signature on either disk; no array left running.
    for d in DISKS:
        line = next(l for l in after.splitlines() if l.startswith(f"/dev/{d}:"))
        if line.split(":", 1)[1].split() != [d, "|"]:
            raise AssertionError(f"--reset-on-error left something on {d}:\n{after}")
    if re.search(r"^md\S* : active", after, re.M):
        raise AssertionError(f"--reset-on-error left an array running:\n{after}")
    if sh.out(pv_label).strip() != "0":
        raise AssertionError("--reset-on-error left the LVM label inside the old data array")
    ctx.record(after_reset=after.splitlines()[:2])
    sh.run("rm -rf /tmp/m")


def run(ctx):
    disks = [tvm.Disk(tvm.new_disk(os.path.join(ctx.work, f"disk{i}.qcow2"), DISK_SIZE),
                      serial=f"tandem-cut-disk{i}", bus="nvme", block_size=4096)
             for i in range(2)]
    bystander = os.path.join(ctx.work, "bystander.raw")
    make_bystander(bystander)
    before = tvm.sha256_file(bystander)
    all_disks = disks + [tvm.Disk(bystander, serial="bystander", format="raw")]
    http, url_empty, url_force = serve(ctx)
    try:
        vm, sh = live(ctx, all_disks, 1)
        # The live system's inventory of NVMe 4Kn disks (kept: a fixture's source).
        inv = detect(sh, os.path.join(ctx.work, "hardware.json"))
        sectors = sorted((d["name"], d.get("logical-sector")) for d in inv["disks"]
                         if d["transport"] == "nvme")
        ctx.record(live_nvme_sectors=sectors)
        if sectors != [(d, 4096) for d in DISKS]:
            raise AssertionError(f"tandem detect: NVMe disks and sectors {sectors}")
        failures(ctx, sh, url_empty, url_force)
        # Blank again after the reset: if-empty takes the disks.
        cut(ctx, vm, sh, url_empty, CUTS[0])
        bystander_same(ctx, bystander, before, "after the cut in raid")
        for n, where in enumerate(CUTS[1:], start=2):
            vm, sh = live(ctx, all_disks, n)
            refused_as_interrupted(ctx, sh, url_empty, n)
            cut(ctx, vm, sh, url_force, where)
            bystander_same(ctx, bystander, before, f"after the cut in {where[0]}")
        vm, sh = live(ctx, all_disks, 4)
        refused_as_interrupted(ctx, sh, url_empty, 4)
        slow_udev(sh)
        sh.con.sendline(install_command(url_force) + "; echo TANDEM-EXIT=$?")
        seen = vm.console.expect(r"TANDEM-RESULT |TANDEM-EXIT=\d+", INSTALL_TIMEOUT)
        if "TANDEM-RESULT" not in seen[-40:]:
            raise AssertionError("the forced install stopped before installing:\n" + seen[-3000:])
        res = tvm.tandem_result(seen + vm.console.expect(r"\n", 60))
        if not res or res.get("result") != "ok":
            raise AssertionError(f"the forced install after three cuts failed: {res}")
        # Under the slowed udev: partition and raid wait for their nodes.
        ctx.record(install_seconds=res.get("total-seconds"),
                   phases={p["phase"]: p["seconds"] for p in res.get("phases", [])})
        # Drain the console while it reboots (-no-reboot: QEMU exits).
        try:
            vm.console.expect("\x00never\x00", 600)
        except EOFError:
            pass
        vm.wait_exit(60)
    finally:
        http.stop()
        # The development binary is not a log, but the suite's secret scan reads the tree.
        shutil.rmtree(os.path.join(ctx.work, "share"), ignore_errors=True)
    bystander_same(ctx, bystander, before, "after the install")

    # Fresh NVRAM: the firmware finds each disk's removable-path loader by itself.
    node = ctx.vm(tvm.VM("cut-node", ctx.work, all_disks, [tvm.Nic(MAC)],
                         firmware="uefi", boot="c"))
    node.start("boot")
    sh = node.login(1200)
    ctx.log(f"installed node: logged in after {node.elapsed():.0f} s")
    name = sh.out("hostname").strip()
    if name != "cut":
        raise AssertionError(f"hostname {name!r}, wanted cut")
    labels = sh.out("lsblk -rno PARTLABEL " + " ".join("/dev/" + d for d in DISKS))
    if "tandem-unfinished" in labels or labels.count("tandem-") != 6:
        raise AssertionError(f"the finished install's partitions are not renamed:\n{labels}")
    mdstat = sh.out("cat /proc/mdstat")
    if len(re.findall(r"^md\S+ : active (?:\(auto-read-only\) )?raid1 ", mdstat, re.M)) != 2:
        raise AssertionError(f"not two RAID1 arrays:\n{mdstat}")
    # 4Kn all the way up: the disks, md and the ESP's FAT.
    sectors = sh.out("for d in " + " ".join(DISKS) + "; do cat /sys/block/$d/queue/logical_block_size; done;"
                     " cat /sys/block/md*/queue/logical_block_size | sort -u;"
                     " od -An -tu2 -j11 -N2 $(findmnt -n -o SOURCE /boot/efi)")  # FAT: bytes/sector
    ctx.record(node_sectors=sectors.split())
    if sectors.split() != ["4096"] * 4:
        raise AssertionError(f"not 4Kn throughout (disks, md, ESP):\n{sectors}")
    ctx.record(node_login_seconds=round(node.elapsed()))
    node.poweroff(sh)
    bystander_same(ctx, bystander, before, "after the node's boot")
    ctx.record(bystander_sha256=before)


SCENARIOS = [Scenario(name="power-cut", run=run, vms=1, est=1600)]
