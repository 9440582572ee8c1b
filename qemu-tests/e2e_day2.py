"""Day 2 on installed nodes (issue #13), through overlays of the installed disks.

replace-alpha   alpha (SeaBIOS, RAID10) boots with its first disk swapped for a blank one
                (3a: arrays run with 3 of 4); the tandem package checks (9);
                `tandem status` exits 1 naming the empty slots, in text, JSON and
                Prometheus form; `tandem disk replace` refuses the bystander (data), a
                2 GiB disk (too small) and a member (in use) with exit 2, and those disks
                are byte-identical afterwards; then it replaces the missing disk, md
                rebuilds, `tandem status` names nothing but DRBD (alpha runs alone: its
                peer never comes); a GRUB upgrade from the medium's .debs rewrites the
                zeroed boot code of the new disk; then alpha boots with the new disk as
                the only disk the firmware may boot (SeaBIOS strict boot order) and the
                new disk's mirror partner removed, so /, /boot and GRUB all come from
                what the replacement wrote.
"""

import json
import os
import re
import subprocess
import time

import tvm
from e2e_installs import DISK_SIZE, node_nics
from guest import login
from scenario import Scenario

NEW_SERIAL = "tandem-new-disk"


def newer_package(ctx):
    """A second build of the tandem package, one version up, as a raw disk image (the
    guest reads it back by size: no network, no 9p on the installed node)."""
    out = os.path.join(ctx.work, "newer-package")
    subprocess.run(["rm", "-rf", out], check=True)
    version = "0.1.0+e2e.1"
    subprocess.run([ctx.tandem_image, "package", "--tandem-bin", ctx.tandem, "--out", out,
                    "--package-version", version], check=True, stdout=subprocess.DEVNULL)
    deb = os.path.join(out, f"tandem_{version}_amd64.deb")
    size = os.path.getsize(deb)
    disk = deb + ".img"
    with open(deb, "rb") as s, open(disk, "wb") as d:
        d.write(s.read())
        d.write(b"\0" * (-size % 512))
    return version, size, tvm.Disk(disk, serial="newer-deb", format="raw")


def check_package(ctx, sh, version, size):
    """(9) tandem as dpkg sees it on the installed node, then the upgrade."""
    def q(cmd):
        rc, out = sh.run(cmd, check=False)
        return rc, out.strip()
    before = q("dpkg-query -W -f='${Version} ${Status}' tandem")
    owner = q("dpkg -S /usr/sbin/tandem")
    verify = q("dpkg --verify tandem")
    page = q("man -w tandem; man -w tandem-esp-sync")
    unit = q("systemctl is-enabled tandem-drbd.service")
    binver = q("tandem --version")
    ctx.record(package_before=before, dpkg_S=owner, dpkg_verify=verify, man_w=page,
               unit_enabled=unit, tandem_version=binver)
    if before != (0, "0.1.0 install ok installed"):
        raise AssertionError(f"tandem package: {before}")
    if owner != (0, "tandem: /usr/sbin/tandem"):
        raise AssertionError(f"dpkg -S /usr/sbin/tandem: {owner}")
    if verify != (0, ""):
        raise AssertionError(f"dpkg --verify tandem: {verify}")
    if page[0] != 0 or "/usr/share/man/man8/tandem.8.gz" not in page[1] \
            or "tandem-esp-sync.8.gz" not in page[1]:
        raise AssertionError(f"man -w: {page}")
    if unit != (0, "enabled"):
        raise AssertionError(f"tandem-drbd.service: {unit}")
    if binver[0] != 0 or not re.fullmatch(r"tandem 0\.1\.0 \(git [0-9a-f]{7,}\)", binver[1]):
        raise AssertionError(f"tandem --version: {binver}")
    # The admin changes the conffile; dpkg keeps it (the new package's copy is the same).
    hook = "/etc/apt/apt.conf.d/99tandem-esp-sync"
    sh.run(f"echo '// changed by the admin' >> {hook}")
    t0 = time.time()
    up = q(f"head -c {size} /dev/disk/by-id/virtio-newer-deb > /tmp/newer.deb && "
           "DEBIAN_FRONTEND=noninteractive dpkg -i /tmp/newer.deb 2>&1")
    ctx.record(upgrade=up[1].splitlines()[-6:], upgrade_seconds=round(time.time() - t0))
    after = q("dpkg-query -W -f='${Version} ${Status}' tandem")
    verify2 = q("dpkg --verify tandem")
    kept = q(f"tail -1 {hook}")
    unit2 = q("systemctl is-enabled tandem-drbd.service")
    ctx.record(package_after=after, dpkg_verify_after=verify2, unit_enabled_after=unit2)
    if up[0] != 0:
        raise AssertionError(f"dpkg -i of the newer package failed:\n{up[1]}")
    if after != (0, f"{version} install ok installed"):
        raise AssertionError(f"after the upgrade: {after}")
    # Only the admin's conffile differs from what dpkg installed.
    if verify2[1] != f"??5?????? c {hook}":
        raise AssertionError(f"dpkg --verify after the upgrade: {verify2}")
    if kept != (0, "// changed by the admin"):
        raise AssertionError(f"the admin's change to {hook} was lost: {kept}")
    if unit2 != (0, "enabled"):
        raise AssertionError(f"tandem-drbd.service after the upgrade: {unit2}")


def debs_disk(ctx, patterns, serial):
    """The medium's .debs matching `patterns` as a tar on a raw disk: the installed node
    has no network repository, and the upgrade must come through apt (whose hook keeps
    the ESPs equal), so the test hands it the packages like a local mirror would."""
    import glob
    import tarfile
    debs = []
    for pat in patterns:
        found = sorted(glob.glob(os.path.join(ctx.pxe, "repo", "pool", "main", pat)))
        if not found:
            raise AssertionError(f"no .deb matches {pat} in the medium's repository")
        debs += found
    path = os.path.join(ctx.work, f"{serial}.tar")
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as t:
        for d in debs:
            t.add(d, arcname=os.path.basename(d))
    return [os.path.basename(d) for d in debs], tvm.Disk(path, serial=serial, format="raw")


def upgrade(ctx, sh, serial, names, tag):
    """apt reinstalls the packages from the disk `serial`: their postinsts and the apt hook
    run as in a real upgrade."""
    t0 = time.time()
    rc, out = sh.run(f"rm -rf /tmp/up && mkdir /tmp/up && tar -x -C /tmp/up -f /dev/disk/by-id/virtio-{serial} && "
                     "DEBIAN_FRONTEND=noninteractive apt-get install --reinstall -y "
                     + " ".join(f"/tmp/up/{n}" for n in names) + " 2>&1", timeout=1800, check=False)
    ctx.record(**{f"{tag}_seconds": round(time.time() - t0), f"{tag}_tail": out.strip().splitlines()[-8:]})
    if rc != 0:
        raise AssertionError(f"apt-get install --reinstall failed ({rc}):\n{out[-3000:]}")
    return out


def status(sh, args=""):
    rc, out = sh.run(f"tandem status {args}", timeout=300, check=False)
    return rc, out


def only_drbd(ctx, sh, tag):
    """Alpha runs alone here, so its DRBD waits for a peer that never comes: that, and
    only that, may keep `tandem status` from exit 0 (fleet's nodes_healthy sees
    exit 0 with both nodes up)."""
    rc, js = status(sh, "--json")
    doc = json.loads(js[js.index("{"):js.rindex("}") + 1])
    others = [p for p in doc["problems"] if not re.match(r"drbd\d+: |DRBD is configured", p)]
    ctx.record(**{f"status_{tag}_rc": rc, f"status_{tag}_problems": doc["problems"]})
    if rc != 1 or others or not doc["problems"]:
        raise AssertionError(f"tandem status ({tag}) exited {rc} with problems {doc['problems']}")


def replace_and_rebuild(ctx, sh, devs, prefix, who, fields):
    """`tandem disk replace` of each of devs in turn, md's rebuild to every array whole, and
    `tandem status` naming nothing but DRBD. fields(dev, seconds, output, result): what to
    record of one replace; prefix names the rebuild's records, who starts its errors."""
    for dev in devs:
        t0 = time.time()
        rc, out = sh.run(f"tandem disk replace {dev} --yes", timeout=1200, check=False)
        result = tvm.tandem_result(out)
        ctx.record(**fields(dev, round(time.time() - t0), out, result))
        if rc != 0 or not result or result.get("result") != "ok":
            raise AssertionError(f"{who}tandem disk replace {dev} exited {rc}:\n{out}\n"
                                 + sh.out("tail -n 40 /var/log/tandem/disk-replace.log; true"))
    t0 = time.time()
    md = sh.finish_md_resync()
    ctx.record(**{f"{prefix}rebuild_seconds": round(time.time() - t0),
                  f"{prefix}mdstat_rebuilt": md.strip().splitlines()})
    if md.count("[4/4]") != 2:
        raise AssertionError(f"{who}arrays not whole after the rebuild:\n{md}")
    only_drbd(ctx, sh, f"{prefix}rebuilt")


def expect_refusal(ctx, sh, dev, want):
    rc, out = sh.run(f"tandem disk replace {dev} --yes", timeout=300, check=False)
    if rc != 2 or want not in out:
        raise AssertionError(f"disk replace {dev}: expected exit 2 with {want!r}, got {rc}:\n{out}")
    return out.strip().splitlines()[-1]


def replace_alpha(ctx):
    lay = ctx.layout("alpha")
    version, size, deb_disk = newer_package(ctx)
    grub_debs, grub_disk = debs_disk(ctx, ["g/grub2/grub-pc_*.deb", "g/grub2/grub-pc-bin_*.deb"], "grub-debs")
    ov = [tvm.overlay(d, os.path.join(ctx.work, f"disk{i}.qcow2")) for i, d in enumerate(lay.disks)]
    serial = [f"tandem-alpha-disk{i}" for i in range(len(ov))]
    new = tvm.new_disk(os.path.join(ctx.work, "new.qcow2"), DISK_SIZE)
    small = tvm.new_disk(os.path.join(ctx.work, "small.qcow2"), "2G")
    small_before = small + ".before"
    subprocess.run(["cp", small, small_before], check=True)
    bystander = tvm.overlay(lay.bystander, os.path.join(ctx.work, "bystander.qcow2"),
                            backing_format="raw")
    disks = [tvm.Disk(ov[i], serial=serial[i]) for i in (1, 2, 3)] + [
        tvm.Disk(bystander, serial="bystander"),
        tvm.Disk(new, serial=NEW_SERIAL),
        tvm.Disk(small, serial="small-disk"),
        deb_disk,
        grub_disk,
    ]
    vm = ctx.vm(tvm.VM("alpha", ctx.work, disks, node_nics(lay.macs), firmware="bios", boot="c"))
    sh = login(ctx, vm)
    ctx.log(f"alpha without its first disk: logged in after {vm.elapsed():.0f} s")
    ctx.record(login_seconds_degraded=round(vm.elapsed()))
    md = sh.out("cat /proc/mdstat")
    if md.count("[4/3]") != 2:
        raise AssertionError(f"expected both arrays running with 3 of 4 disks:\n{md}")
    ctx.record(mdstat_degraded=md.strip().splitlines())

    # (13) status names what is missing, in every format.
    rc, text = status(sh)
    ctx.record(status_degraded_rc=rc, status_degraded=text.strip().splitlines())
    for want in ("/dev/md/boot: degraded, 3 of 4 members in sync, slot 0 has no disk",
                 "/dev/md/data: degraded, 3 of 4 members in sync, slot 0 has no disk",
                 "GRUB target /dev/disk/by-id/virtio-tandem-alpha-disk0 is gone"):
        if want not in text:
            raise AssertionError(f"tandem status lacks {want!r}:\n{text}")
    if rc != 1:
        raise AssertionError(f"tandem status on a degraded node exited {rc}, not 1:\n{text}")
    rc, js = status(sh, "--json")
    doc = json.loads(js[js.index("{"):js.rindex("}") + 1])
    if rc != 1 or doc["healthy"] or [a["missing-slots"] for a in doc["arrays"]] != [[0], [0]]:
        raise AssertionError(f"tandem status --json (exit {rc}):\n{js}")
    prom = sh.out("mkdir -p /run/prom; tandem status --format prometheus --textfile-dir /run/prom; "
                  "cat /run/prom/tandem.prom")
    for want in ("tandem_node_healthy 0", 'tandem_md_in_sync_disks{array="/dev/md/data"} 3'):
        if want not in prom:
            raise AssertionError(f"metrics lack {want!r}:\n{prom}")

    # (9) the package, while the node runs.
    check_package(ctx, sh, version, size)

    # Wrong disks: refused, exit 2, nothing written (compared after the VM is off).
    refusals = {
        "bystander": expect_refusal(ctx, sh, "/dev/disk/by-id/virtio-bystander", "holds data"),
        "small": expect_refusal(ctx, sh, "/dev/disk/by-id/virtio-small-disk", "is too small"),
        "member": expect_refusal(ctx, sh, f"/dev/disk/by-id/virtio-{serial[1]}", "is in use"),
    }
    ctx.record(refusals=refusals)

    dry = sh.out(f"tandem disk replace {NEW_SERIAL} --dry-run")
    if "dry run: nothing was written" not in dry or "sgdisk --replicate=" not in dry:
        raise AssertionError(f"--dry-run:\n{dry}")
    replace_and_rebuild(
        ctx, sh, [f"/dev/disk/by-id/virtio-{NEW_SERIAL}"], "", "",
        lambda dev, seconds, out, result: dict(
            replace_seconds=seconds, replace_output=out.strip().splitlines()[-12:],
            replace_result=result))
    grub = sh.out("debconf-show grub-pc | grep 'grub-pc/install_devices:'")
    if f"virtio-{NEW_SERIAL}" not in grub or f"virtio-{serial[0]}" in grub:
        raise AssertionError(f"grub-pc/install_devices not updated:\n{grub}")
    esp = sh.out(f"blkid -s UUID -o value /dev/disk/by-id/virtio-{NEW_SERIAL}-part2; findmnt -n -o SOURCE /boot/efi")
    ctx.record(new_esp=esp.split())

    # A GRUB upgrade writes the new disk's boot code: zero it first (the MBR's code and
    # the BIOS boot partition), so only grub-pc's postinst, reading install_devices, can
    # make the disk bootable again for the boot below.
    by_id = f"/dev/disk/by-id/virtio-{NEW_SERIAL}"
    sh.run(f"dd if=/dev/zero of={by_id} bs=440 count=1 conv=notrunc,fsync status=none && "
           f"dd if=/dev/zero of={by_id}-part1 bs=1M count=1 conv=fsync status=none; "
           f"cmp -n 440 {by_id} /dev/zero")
    out = upgrade(ctx, sh, "grub-debs", grub_debs, "grub_upgrade")
    if "Installing for i386-pc platform" not in out:
        raise AssertionError(f"grub-pc's postinst installed nothing:\n{out[-3000:]}")
    only_drbd(ctx, sh, "upgraded")
    vm.poweroff(sh)

    changed = []
    if not tvm.same_content(bystander, lay.bystander):
        changed.append("bystander")
    if not tvm.same_content(small, small_before):
        changed.append("small")
    if changed:
        raise AssertionError(f"a refused disk replace changed {changed}")

    # The new disk is the only one the firmware may boot, and its RAID10 mirror partner
    # (slot 1) is gone: the system runs on what the replacement wrote.
    disks2 = [tvm.Disk(new, serial=NEW_SERIAL, bootindex=0)] + [tvm.Disk(ov[i], serial=serial[i]) for i in (2, 3)]
    vm2 = ctx.vm(tvm.VM("alpha-new", ctx.work, disks2, node_nics(lay.macs), firmware="bios",
                        boot="order=c,strict=on"))
    sh = login(ctx, vm2)
    ctx.log(f"alpha from the new disk: logged in after {vm2.elapsed():.0f} s")
    ctx.record(login_seconds_new_disk=round(vm2.elapsed()))
    md = sh.out("cat /proc/mdstat")
    ctx.record(mdstat_new_disk=md.strip().splitlines())
    new_dev = sh.out(f"readlink -f /dev/disk/by-id/virtio-{NEW_SERIAL}").strip().rsplit("/", 1)[-1]
    if md.count("[4/3]") != 2 or not all(re.search(rf"\b{new_dev}{n}\[", md) for n in (3, 4)):
        raise AssertionError(f"expected both arrays with 3 of 4, the new disk ({new_dev}) in both:\n{md}")
    rc, text = status(sh)
    ctx.record(status_new_disk_rc=rc)
    if rc != 1 or "slot 1 has no disk" not in text:
        raise AssertionError(f"tandem status without disk 1 (exit {rc}):\n{text}")


EFI_DEBS = ["s/shim-signed/shim-signed_*.deb", "g/grub-efi-amd64-signed/grub-efi-amd64-signed_*.deb",
            "g/grub2/grub-efi-amd64-bin_*.deb", "l/linux-signed-amd64/linux-image-6*.deb"]


def beta_extra_disks(ctx):
    """What fleet attaches to beta's boot without disks 0 and 2: two blank disks in
    their bays, and the medium's EFI GRUB, shim and kernel packages."""
    a = tvm.new_disk(os.path.join(ctx.work, "new-a.qcow2"), DISK_SIZE)
    b = tvm.new_disk(os.path.join(ctx.work, "new-b.qcow2"), DISK_SIZE)
    ctx.efi_debs, debs = debs_disk(ctx, EFI_DEBS, "efi-debs")
    ctx.new_disks = [a, b]
    return [tvm.Disk(a, serial="tandem-new-a"), tvm.Disk(b, serial="tandem-new-b"), debs]


def esp_hashes(sh):
    """One hash over every file of each listed ESP (mounted read-only in turn)."""
    # The mounted one is read where it is: vfat will not be mounted twice.
    out = sh.out("for u in $(sed 's/#.*//' /etc/tandem/esps); do d=$(readlink -f /dev/disk/by-uuid/$u); "
                 "m=$(findmnt -n -o TARGET --source $d | head -n 1); "
                 "if [ -z \"$m\" ]; then mkdir -p /run/esp && mount -o ro $d /run/esp && m=/run/esp; fi; "
                 "echo $u $(cd $m && find . -type f | sort | xargs -d '\\n' sha256sum | sha256sum | cut -c1-16) "
                 "$(find $m -type f | wc -l); [ $m = /run/esp ] && umount /run/esp; done; true")
    return [line.split() for line in out.strip().splitlines()]


def replace_beta(ctx, lay, disks, vars_file, vm, sh):
    """replace-beta and upgrade-beta, on beta (OVMF, RAID6, resync finished) booted
    without disks 0 and 2 and with two blank disks attached (fleet's 3b boot).

    replace-beta: `tandem status` exits 1 naming slots 0 and 2, the missing ESPs and the
    unmounted /boot/efi; `tandem disk replace` twice, one per blank disk: the first takes
    disk 0's ESP volume id (so fstab's /boot/efi mounts from it again), the second disk
    2's; a UEFI boot entry each; md rebuilds both into the RAID6.
    upgrade-beta: another disk's ESP is changed behind Tandem's back (`tandem status`
    names it as differing) and /boot/efi loses EFI/debian/grubx64.efi; apt reinstalls
    shim-signed, grub-efi-amd64-signed, grub-efi-amd64-bin and the kernel from the
    medium's packages: shim's postinst runs grub-install into /boot/efi, the apt hook
    mirrors it onto every ESP (one hash for all of them). Then beta boots with the first
    new disk first in the firmware's order and the other original disk gone: the firmware's
    BootCurrent is a new disk, RAID6 runs with 3 of 4."""
    rc, text = status(sh)
    ctx.record(beta_status_degraded_rc=rc, beta_status_degraded=text.strip().splitlines())
    for want in ("/dev/md/data: degraded, 2 of 4 members in sync, slot 0, 2 has no disk",
                 "/boot/efi is not mounted", ": missing"):
        if want not in text:
            raise AssertionError(f"beta: tandem status lacks {want!r}:\n{text}")
    if rc != 1:
        raise AssertionError(f"beta: tandem status exited {rc}, not 1")
    replace_and_rebuild(
        ctx, sh, ["tandem-new-a", "tandem-new-b"], "beta_", "beta: ",
        lambda dev, seconds, out, result: {f"beta_replace_{dev[-1]}_seconds": seconds,
                                           f"beta_replace_{dev[-1]}": result})
    entries = sh.out("efibootmgr")
    ctx.record(beta_boot_entries=entries.strip().splitlines())

    # upgrade-beta
    sh.run("mkdir -p /run/other && mount /dev/disk/by-id/virtio-tandem-beta-disk3-part2 /run/other && "
           "echo changed >> /run/other/EFI/BOOT/BOOTX64.EFI && umount /run/other && "
           "rm /boot/efi/EFI/debian/grubx64.efi")
    rc, text = status(sh)
    if "differ from /boot/efi" not in text:
        raise AssertionError(f"beta: tandem status does not see the changed ESP:\n{text}")
    out = upgrade(ctx, sh, "efi-debs", ctx.efi_debs, "beta_efi_upgrade")
    if "Installing for x86_64-efi platform" not in out:
        raise AssertionError(f"beta: nothing ran grub-install for EFI:\n{out[-3000:]}")
    sh.run("test -s /boot/efi/EFI/debian/grubx64.efi")
    hashes = esp_hashes(sh)
    ctx.record(beta_esp_hashes=hashes)
    if len(hashes) != 4 or len({h[1] for h in hashes}) != 1:
        raise AssertionError(f"beta: the ESPs differ after the upgrade: {hashes}")
    only_drbd(ctx, sh, "beta_upgraded")
    vm.poweroff(sh)

    a, b = ctx.new_disks
    disks2 = [tvm.Disk(a, serial="tandem-new-a", bootindex=0), tvm.Disk(b, serial="tandem-new-b"),
              tvm.Disk(disks[1], serial="tandem-beta-disk1")]
    vm2 = ctx.vm(tvm.VM("beta-new", ctx.work, disks2, node_nics(lay.macs), firmware="uefi",
                        vars_file=vars_file, boot="c"))
    sh = login(ctx, vm2)
    ctx.log(f"beta from the new disk: logged in after {vm2.elapsed():.0f} s")
    ctx.record(login_seconds_beta_new_disk=round(vm2.elapsed()))
    md = sh.out("cat /proc/mdstat")
    ctx.record(beta_mdstat_new_disk=md.strip().splitlines())
    if md.count("[4/3]") != 2:
        raise AssertionError(f"beta: expected both arrays with 3 of 4:\n{md}")
    # Each new disk as the firmware names it: its ESP's PARTUUID (the entries disk replace
    # made) or its PCI slot (the entries OVMF makes per device).
    marks = {}
    for n in ("a", "b"):
        dev = sh.out(f"readlink -f /dev/disk/by-id/virtio-tandem-new-{n}").strip().rsplit("/", 1)[-1]
        partuuid = sh.out(f"blkid -s PARTUUID -o value /dev/{dev}2").strip().lower()
        pci = re.findall(r"/0000:00:([0-9a-f]{2})\.0/", sh.out(f"readlink -f /sys/block/{dev}"))
        marks[n] = [m for m in (partuuid, pci and f"pci(0x{int(pci[-1], 16):x},0x0)") if m]
    boot = sh.out("efibootmgr -v")
    cur = re.search(r"^BootCurrent: (\w+)", boot, re.M)
    line = re.search(rf"^Boot{cur.group(1)}\*? .*$", boot, re.M) if cur else None
    ctx.record(beta_boot_current=line.group(0) if line else boot.strip().splitlines(),
               beta_new_disk_marks=marks)
    path = line.group(0).lower() if line else ""
    if not any(m in path for ms in marks.values() for m in ms):
        raise AssertionError(f"beta did not boot from a new disk ({marks}):\n{boot}")


SCENARIOS = [
    Scenario(name="replace-alpha", needs=("fleet",), run=replace_alpha, est=900),
]
