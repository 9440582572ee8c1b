"""Install helpers of the e2e suite (qemu-tests/e2e.py) and the reinstall scenario.

The cluster's installs (alpha and beta of qemu-tests/answers/cluster.toml, both over PXE
on the fleet network) are e2e_fleet.py's `fleet`; their disks are what the other
scenarios put overlays on. Here:

reinstall      OVMF with Secure Boot enforced (Microsoft's keys), from the ISO, answer by
               URL, over copies (overlays) of alpha's installed disks: the live system
               runs under Secure Boot; wipe = "if-empty" must refuse before writing,
               naming alpha's finished install; the live system assembled nothing;
               wipe = "force" installs over the old arrays with nothing done by hand (the
               ISO's UEFI install); the installed node boots under Secure Boot through
               its own boot entry (shim), locked down, and loads DRBD's module.
"""

import dataclasses
import json
import os
import re
import shutil
import subprocess

import fleetnet
import tvm
from guest import login
from scenario import Scenario

DISK_SIZE = "10G"
INSTALL_TIMEOUT = 3600
# The live system reaches its shell in ~100 s on an idle 2-core host; far more when the
# host is shared (over 900 s seen at a load average of 15).
LIVE_TIMEOUT = 1800
ALPHA_MACS = ["52:54:00:e2:0a:00", "52:54:00:e2:0a:01", "52:54:00:e2:0a:02"]
BETA_MACS = ["52:54:00:e2:0b:00", "52:54:00:e2:0b:01", "52:54:00:e2:0b:02"]


def node_nics(macs, peer=None):
    """nic0 on user networking (DHCP, the harness; fleet scenarios put it on a tap); nic1
    and nic2 on UDP sockets. peer: a list of two (local, remote) port pairs; without it
    each cable ends nowhere."""
    nics = [tvm.Nic(macs[0])]
    for i in (1, 2):
        local, remote = peer[i - 1] if peer else (tvm.free_udp_port(), tvm.free_udp_port())
        nics.append(tvm.Nic(macs[i], net="dgram", local=local, remote=remote))
    return nics


def serve_answer(ctx, answer, macs):
    """An HTTP root on 127.0.0.1 with answers/<mac>.toml for each MAC (iPXE's
    ${net0/mac} form), for a live shell's `tandem install --answer URL`."""
    root = os.path.join(ctx.work, "http")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(os.path.join(root, "answers"))
    for mac in macs:
        shutil.copy(answer, os.path.join(root, "answers", f"{mac}.toml"))
    return tvm.HttpServer(root, os.path.join(ctx.work, "http.log"))


def make_bystander(path):
    """A 2 GiB raw disk with a GPT and an ext4 holding data; too small for the answer's
    selection (min-size 8G), so the install must leave every byte of it alone."""
    subprocess.run(["truncate", "-s", "2G", path], check=True)
    data = path + ".data"
    os.makedirs(data, exist_ok=True)
    with open(os.path.join(data, "keep.txt"), "w") as f:
        f.write("bystander data: the installer must not touch this disk\n")
    with open(os.path.join(data, "blob"), "wb") as f:
        f.write(os.urandom(4 << 20))
    subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "bystander", "-E", "offset=1048576",
                    "-d", data, path, "1900M"], check=True)
    shutil.rmtree(data)
    # No -q: sgdisk 1.0.9 with -q on a blank file exits 0 and writes no table, so until
    # replace-alpha's refusal check found it the "bystander with a GPT" had none and looked
    # blank to every probe. The GPT goes on after mke2fs, which is given the whole file;
    # the ext4 (1 MiB to 1901 MiB) is clear of both GPT copies.
    subprocess.run(["sgdisk", "--new=1:2048:0", "--change-name=1:bystander", path],
                   check=True, stdout=subprocess.DEVNULL)


def live_net_up(shell, mac):
    """The harness NIC's address in the live system: its own DHCP (systemd-networkd on every
    port) normally; images without it get QEMU user networking's fixed address, so the
    answer URL is reachable either way."""
    shell.run(f"dev=$(ip -o link | awk -v m={mac} '$0 ~ m {{sub(\":\", \"\", $2); print $2}}');"
              " for i in $(seq 30); do ip -o -4 addr show dev $dev | grep -q 'inet 10.0.2.' && break;"
              " sleep 1; done; ip -o -4 addr show dev $dev | grep -q 'inet 10.0.2.' ||"
              " { ip link set $dev up && ip addr add 10.0.2.15/24 dev $dev; };"
              " ip -o -4 addr show dev $dev", timeout=120)


def install_command(url):
    return f"tandem install --answer {url} --yes --progress plain"


# What ends an install started in the live shell: the result line, or the shell's exit
# status when tandem stopped before the phases (answer, validation, medium check).
INSTALL_END = r"TANDEM-RESULT |TANDEM-EXIT=\d+"


def finish_install(ctx, vm, seen, prefix="", disks=("vda", "vdb", "vdc", "vdd")):
    """After TANDEM-RESULT: record phases (keys prefixed when several machines install in
    one scenario), wait for the reboot (QEMU -no-reboot exits). disks: the kernel names of
    the selected disks."""
    if re.search(r"TANDEM-EXIT=\d+$", seen):
        raise AssertionError(f"{vm.name}: tandem install stopped before installing:\n"
                             + seen[-3000:])
    line = vm.console.expect(r"\n", 60)
    res = tvm.tandem_result(seen + line)
    if res is None:
        raise AssertionError(f"{vm.name}: no TANDEM-RESULT line")
    ctx.record(**{prefix + "install": res.get("result"),
                  prefix + "phases": {p["phase"]: p["seconds"] for p in res.get("phases", [])},
                  prefix + "install_seconds": res.get("total-seconds")})
    if res.get("result") != "ok":
        raise AssertionError(f"{vm.name}: install failed in {res.get('failed-phase')}: "
                             f"{res.get('error')}")
    # Every selected disk (never the bystander) got its read and write measured.
    speeds = res.get("disk-speeds", [])
    ctx.record(**{prefix + "disk_speeds": {d["disk"]: [d["read-mbps"], d["write-mbps"]]
                                           for d in speeds}})
    if sorted(d["disk"] for d in speeds) != sorted(disks) or \
            not all(d["read-mbps"] > 0 and d["write-mbps"] > 0 for d in speeds):
        raise AssertionError(f"{vm.name}: disk speeds: {speeds}")
    ctx.log(f"{vm.name}: installed in {res.get('total-seconds')} s; waiting for the reboot")
    # Keep draining the console while it shuts down (an unread socket stalls it).
    try:
        vm.console.expect("\x00never\x00", 600)
    except EOFError:
        pass
    vm.wait_exit(60)
    return res


def detect(shell, path):
    """The live machine's inventory (for `tandem render` on the host)."""
    out = shell.out("tandem detect --json", 120)
    inv = json.loads(out[out.index("{"):out.rindex("}") + 1])
    with open(path, "w") as f:
        json.dump(inv, f, indent=1)
    return inv


def live_install_shell(ctx, vm, mac):
    """The live system booted from the ISO, its inventory kept as hardware.json (for
    `tandem render` later), its harness NIC (mac) up: ready to be told to install."""
    vm.start("install")
    shell = vm.live_shell(LIVE_TIMEOUT)
    ctx.log(f"live shell after {vm.elapsed():.0f} s")
    detect(shell, os.path.join(ctx.work, "hardware.json"))
    live_net_up(shell, mac)
    return shell


def with_report(ctx, answer, fingerprint):
    """The answer as the fleet serves it: plus a [report] to the fleet's /report, pinned to
    its certificate, with phase events."""
    served = os.path.join(ctx.work, "served-answer.toml")
    with open(answer) as f:
        text = f.read()
    with open(served, "w") as f:
        f.write(text.rstrip("\n") + f'\n\n[report]\nurl = "https://{fleetnet.ADDR}/report"\n'
                f'fingerprint = "{fingerprint}"\nprogress = true\n')
    os.chmod(served, 0o600)
    subprocess.run([ctx.tandem, "validate", "--answer", served], check=True,
                   stdout=subprocess.DEVNULL)
    return served


def check_fleet_evidence(ctx, net, machines):
    """nginx's log and the collector, for machines {node: MAC}: each answer fetched over
    HTTPS only by its own machine (the live system looks once, the install once more);
    every boot file fetched; one ok install report per node with phase events and no
    secret; each boot script switched to the disk."""
    log = net.access_log()
    answers = [l for l in log if '"GET /answers/' in l]
    ctx.record(fleet_requests=len(log))
    for node, mac in machines.items():
        mine = [l for l in answers if f"/answers/{mac}.toml " in l]
        ctx.record(**{f"answer_fetches_{node}": len(mine)})
        if not mine or any(" https " not in l or l.rstrip().split()[-2] != "200" for l in mine):
            raise AssertionError(f"{node}: the answer was not fetched over HTTPS:\n"
                                 + "\n".join(answers))
        if len(mine) != 2:
            raise AssertionError(f"{node}: the answer was fetched {len(mine)} times, not 2 "
                                 "(search + install):\n" + "\n".join(answers))
        # The fetching address is the machine's own lease: no one fetched another's answer.
        if len({l.split()[0] for l in mine}) != 1:
            raise AssertionError(f"{node}: its answer fetched from several addresses:\n"
                                 + "\n".join(mine))
    if len(answers) != 2 * len(machines):
        raise AssertionError("answers fetched that belong to no machine:\n" + "\n".join(answers))
    for path in ["/tandem/fleet.ipxe", "/tandem/discover.ipxe", "/tandem/vmlinuz",
                 "/tandem/base.squashfs"] + [f"/boot/{m}.ipxe" for m in machines.values()]:
        if not net.fetches(path):
            raise AssertionError(f"nginx's log has no GET {path}:\n" + "\n".join(log[:40]))
    reports = net.reports()
    installs = [d for _, d in reports if d.get("event") == "install"]
    ctx.record(reports=len(reports), install_reports=len(installs))
    for node, mac in machines.items():
        mine = [d for d in installs if d.get("node") == node]
        if len(mine) != 1 or mine[0].get("result") != "ok":
            raise AssertionError(f"{node}: install reports: {mine}")
        phases = [p["phase"] for p in mine[0]["phases"]]
        starts = [d["phase"] for _, d in reports if d.get("event") == "phase-start"
                  and d.get("node") == node]
        if starts and starts != phases:
            raise AssertionError(f"{node}: phase-start events {starts}, phases {phases}")
        if mac not in mine[0].get("machine", {}).get("macs", []):
            raise AssertionError(f"{node}: the report names MACs {mine[0].get('machine')}, "
                                 f"not {mac}")
        if net.boot_script(mac) != open(os.path.join(fleetnet.DOCS, "local.ipxe")).read():
            raise AssertionError(f"{node}: the ok report did not switch boot/{mac}.ipxe to "
                                 "the disk")
    if len(installs) != len(machines):
        raise AssertionError(f"{len(installs)} install reports for {len(machines)} machines")
    no_secret_in_reports(ctx, reports)


def no_secret_in_reports(ctx, reports):
    secrets = ctx.secrets()
    for body, _ in reports:
        for what, values in secrets.items():
            if any(v in body for v in values):
                raise AssertionError(f"a report holds {what}")


def secure_boot_evidence(sh):
    """What the running kernel says about Secure Boot, read without Tandem's own code: the
    firmware's SecureBoot variable (4 attribute bytes, then 1 when enforced), the kernel's
    lockdown mode, and the kernel log."""
    var = sh.out("od -An -tu1 -j4 -N1 "
                 "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"
                 " 2>&1; true").strip()
    lockdown = sh.out("cat /sys/kernel/security/lockdown 2>&1; true").strip()
    dmesg = sh.out("dmesg | grep -m1 -i 'secure boot' ; true").strip()
    return {"SecureBoot": var, "lockdown": lockdown, "dmesg": dmesg}


def require_secure_boot(name, ev):
    if ev["SecureBoot"] != "1" or "[none]" in ev["lockdown"] \
            or "[integrity]" not in ev["lockdown"] and "[confidentiality]" not in ev["lockdown"]:
        raise AssertionError(f"{name}: not running under Secure Boot: {ev}")


# The reinstall's machine: SATA disks behind an AHCI controller (their by-id names are
# ata-QEMU_HARDDISK_<serial>), its second bond member an Intel e1000e.
REINSTALL_DISKS = ("sda", "sdb", "sdc", "sdd")


def reinstall_machine(ctx, name, disks, **kw):
    """disks: (bay, path) pairs; a disk keeps its bay's serial when others are gone."""
    nics = node_nics(ALPHA_MACS)
    nics[2] = dataclasses.replace(nics[2], model="e1000e")
    return ctx.vm(tvm.VM(name, ctx.work,
                         [tvm.Disk(d, serial=f"tandem-alpha-disk{i}", bus="sata")
                          for i, d in disks],
                         nics, firmware="uefi-sb", **kw))


def boot_current(ctx, name, sh):
    """The firmware's BootCurrent entry (efibootmgr -v), recorded; returns its line."""
    boot = sh.out("efibootmgr -v").replace("\r", "")
    ctx.record(**{f"efibootmgr_{name}": boot.strip().splitlines()})
    cur = re.search(r"^BootCurrent: (\w{4})", boot, re.M)
    entry = cur and re.search(rf"^Boot{cur.group(1)}\*? (.*)$", boot, re.M)
    return entry.group(1) if entry else f"(none in:\n{boot})"


def installed_under_secure_boot(ctx, disks, vars_file):
    """The reinstalled node's first boot, under the same Secure Boot firmware and NVRAM:
    the firmware started shim through the entry the install made, shim GRUB, GRUB the
    kernel; the kernel is locked down and loads DRBD's (signed, in-tree) module. Then the
    same without its first disk."""
    vm = reinstall_machine(ctx, "alpha-sb", list(enumerate(disks)), vars_file=vars_file,
                           boot="c")
    sh = login(ctx, vm)
    ctx.log(f"{vm.name}: logged in after {vm.elapsed():.0f} s")
    ctx.record(login_seconds_installed_sb=round(vm.elapsed()))
    ev = secure_boot_evidence(sh)
    ctx.record(installed_secure_boot=ev)
    require_secure_boot(vm.name, ev)
    # BootCurrent is one of the install's entries (not the firmware's removable-path
    # fallback), and that entry starts shim.
    entry = boot_current(ctx, "installed", sh)
    if "shimx64.efi" not in entry.lower():
        raise AssertionError(f"{vm.name}: not booted by an entry that starts shim: {entry}")
    # Every ESP holds the whole signed chain: its removable loader and EFI/debian's are
    # shim byte for byte as shim-signed installed it, and all four ESPs hold the same
    # files (esp-sync mirrored the first).
    esps = sh.out("s=$(sha256sum < /usr/lib/shim/shimx64.efi.signed);"
                  " for d in /dev/sd?2; do m=$(findmnt -n -o TARGET --source $d | head -1); u=;"
                  " if [ -z \"$m\" ]; then m=/mnt/esp; mkdir -p $m; mount -o ro $d $m || continue; u=1; fi;"
                  " [ \"$(sha256sum < $m/EFI/BOOT/BOOTX64.EFI)\" = \"$s\" ] &&"
                  " [ \"$(sha256sum < $m/EFI/debian/shimx64.efi)\" = \"$s\" ] &&"
                  " echo \"$d shim $(cd $m && find . -type f | sort | xargs sha256sum | sha256sum | cut -c1-16)"
                  " $(cd $m && find . -type f | sort | tr '\\n' ' ')\";"
                  " [ -n \"$u\" ] && umount $m; done; true")
    ctx.record(esp_chains=esps.strip().splitlines())
    chains = re.findall(r"^/dev/sd.2 shim (\w+) ", esps, re.M)
    if len(chains) != 4 or len(set(chains)) != 1 or "grubx64.efi" not in esps:
        raise AssertionError(f"{vm.name}: the signed chain is not on every ESP alike:\n{esps}")
    # BIOS GRUB goes to every SATA disk by its ata- name (firmware = "both").
    grub = sh.out("debconf-show grub-pc | grep 'grub-pc/install_devices:'")
    ctx.record(grub_install_devices=grub.strip())
    if len(re.findall(r"/dev/disk/by-id/ata-QEMU_HARDDISK_tandem-alpha-disk\d", grub)) != 4:
        raise AssertionError(f"{vm.name}: grub-pc/install_devices: {grub}")
    # The e1000e NIC is nic2 by its MAC, bonded like the virtio one.
    nic = sh.out("basename $(readlink /sys/class/net/nic2/device/driver);"
                 " cat /sys/class/net/nic2/master/uevent 2>/dev/null | grep INTERFACE")
    ctx.record(e1000e_nic=nic.strip().splitlines())
    if not nic.startswith("e1000e") or "bond0" not in nic:
        raise AssertionError(f"{vm.name}: nic2 is not the e1000e bonded into bond0:\n{nic}")
    rc, mod = sh.run("modprobe drbd && grep -m1 '^version' /proc/drbd", check=False)
    ctx.record(drbd_module=mod.strip())
    if rc != 0:
        raise AssertionError(f"{vm.name}: DRBD's module does not load under lockdown:\n{mod}")
    mok = sh.out("mokutil --sb-state 2>&1; true").strip()
    ctx.record(mokutil=mok)
    vm.poweroff(sh)
    # Without its first disk (the RAID10 and the RAID1 /boot run with 3 of 4): the
    # firmware goes on to another disk's entry, still under Secure Boot.
    vm = reinstall_machine(ctx, "alpha-sb-degraded", list(enumerate(disks))[1:],
                           vars_file=vars_file, boot="c")
    sh = login(ctx, vm)
    ctx.log(f"{vm.name}: logged in after {vm.elapsed():.0f} s")
    ctx.record(login_seconds_degraded_sb=round(vm.elapsed()))
    require_secure_boot(vm.name, secure_boot_evidence(sh))
    ctx.record(boot_current_degraded=boot_current(ctx, "degraded", sh))
    text = sh.out("cat /proc/mdstat")
    ctx.record(mdstat_degraded_sb=text.strip().splitlines())
    if len(re.findall(r"\[4/3\]", text)) != 2:
        raise AssertionError(f"{vm.name}: expected both arrays with 3 of 4 disks:\n{text}")
    vm.kill()


def reinstall(ctx):
    """Over copies of alpha's installed disks, from the ISO under OVMF with Secure Boot:
    if-empty refused before any write, then force installs; the node boots under Secure
    Boot."""
    alpha = ctx.layout("alpha")
    answer = os.path.join(ctx.answers, "cluster.toml")
    # The disks start as alpha's installed ones: old md superblocks, LVM, filesystems.
    disks = [tvm.overlay(d, os.path.join(ctx.work, f"disk{i}.qcow2"))
             for i, d in enumerate(alpha.disks)]
    copies = []
    for i, d in enumerate(disks):
        c = os.path.join(ctx.work, f"disk{i}.before.qcow2")
        shutil.copy(d, c)
        copies.append(c)
    forced = os.path.join(ctx.work, "cluster-force.toml")
    with open(answer) as f:
        text = f.read()
    text, n = re.subn(r'(?m)^wipe = "if-empty"', 'wipe = "force"', text)
    if n != 1:
        raise AssertionError("cluster.toml: no wipe = \"if-empty\" line to turn into force")
    with open(forced, "w") as f:
        f.write(text)
    os.chmod(forced, 0o600)
    http = serve_answer(ctx, answer, ALPHA_MACS[:1])
    shutil.copy(forced, os.path.join(ctx.work, "http", "answers", "force.toml"))
    try:
        vm = reinstall_machine(ctx, "alpha", list(enumerate(disks)), cdrom=ctx.iso, boot="d")
        shell = live_install_shell(ctx, vm, ALPHA_MACS[0])
        ev = secure_boot_evidence(shell)
        ctx.record(live_secure_boot=ev)
        require_secure_boot("live system", ev)
        with open(os.path.join(ctx.work, "hardware.json")) as f:
            inv = json.load(f)
        if inv["machine"].get("secure-boot") is not True:
            raise AssertionError("tandem detect: Secure Boot not seen in the live system")
        sata = sorted(d["name"] for d in inv["disks"] if d["transport"] == "sata")
        e1000e = [n["name"] for n in inv["nics"] if n.get("driver") == "e1000e"
                  and n["mac"] == ALPHA_MACS[2]]
        ctx.record(live_sata_disks=sata, live_e1000e=e1000e)
        if sata != list(REINSTALL_DISKS) or not e1000e:
            raise AssertionError(f"tandem detect: SATA disks {sata}, e1000e NICs {e1000e}")
        # 1. wipe = "if-empty" over old arrays: refused before any write.
        url = f"{http.guest_url}/answers/{ALPHA_MACS[0]}.toml"
        rc, out = shell.run(install_command(url), timeout=600, check=False)
        with open(os.path.join(ctx.work, "refusal.txt"), "w") as f:
            f.write(out)
        ctx.record(refusal_exit=rc)
        if rc == 0 or "TANDEM-RESULT" in out and '"result":"ok"' in out:
            raise AssertionError(f"wipe = if-empty over old arrays was not refused:\n{out[-2000:]}")
        named = [d for d in REINSTALL_DISKS if d in out]
        if not named or not re.search(r"md|raid|signature|linux_raid_member|LVM|held", out, re.I):
            raise AssertionError(f"the refusal names no disk or nothing found:\n{out[-2000:]}")
        # alpha's install finished, so its last step renamed the partitions: recognised as
        # a finished install, not an interrupted one (docs/install.md, "Power cuts").
        if "holds a finished Tandem install" not in out or "interrupted" in out:
            raise AssertionError(f"alpha's disks not recognised as a finished install:\n{out[-2000:]}")
        changed = [i for i, (d, c) in enumerate(zip(disks, copies)) if not tvm.same_content(d, c)]
        if changed:
            raise AssertionError(f"refused install changed disks {changed}")
        ctx.log(f"if-empty refused (exit {rc}), disks unchanged")
        ctx.record(refusal=out.strip().splitlines()[-3:])
        # 2. wipe = "force": installs, with nothing done by hand first. The live system
        # must not have assembled the old arrays or activated the old VG (it masks udev's
        # md/LVM auto-assembly): held disks would be refused.
        held = shell.out("cat /proc/mdstat; ls /dev/mapper")
        assembled = re.findall(r"^(md\S+) : active", held, re.M)
        ctx.record(auto_assembled=assembled)
        if assembled or re.search(r"\bpve-", held):
            raise AssertionError(f"the live system assembled old arrays or volumes:\n{held}")
        shell.con.sendline(install_command(f"{http.guest_url}/answers/force.toml")
                           + " --node alpha; echo TANDEM-EXIT=$?")
        seen = vm.console.expect(INSTALL_END, INSTALL_TIMEOUT)
        finish_install(ctx, vm, seen, disks=REINSTALL_DISKS)
    finally:
        http.stop()
    for c in copies:
        os.unlink(c)
    installed_under_secure_boot(ctx, disks, vm.vars_file)


SCENARIOS = [
    Scenario(name="reinstall", needs=("fleet",), run=reinstall, est=500),
]
