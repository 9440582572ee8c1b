"""The fleet scenario of the e2e suite (qemu-tests/e2e.py, issue #14): two blank machines
to a replicating pair, no key pressed.

fleet   alpha (SeaBIOS, 4 virtio disks + a 2 GiB bystander) and beta (OVMF, 4 virtio
        disks) powered on at the same moment on the fleet network (fleetnet.py: dnsmasq
        and nginx in a namespace, configured from docs/pxe/). Both network boot (iPXE ->
        fleet.ipxe -> boot/<mac>.ipxe); alpha's live system finds its answer by DHCP
        option 224 (pinned by option 225), beta's is on its kernel command line with the
        certificate's fingerprint (install-pinned.ipxe). One cluster answer, with a
        [report] to the fleet's collector, each machine finding its node by MAC. Both
        install at once and report; the collector switches their boot scripts to
        local.ipxe. Powered on again, alpha network boots (SeaBIOS tries the NIC first),
        fetches local.ipxe and boots its disk through iPXE's sanboot; beta (UEFI) boots its
        disk by the boot entries its install made, first in the firmware's order, without
        asking the network. The installed nodes come up on the fleet network: their
        first-boot hook runs and reports, DRBD reaches Connected UpToDate/UpToDate
        Primary/Primary. Printed: the wall time from power-on to both UpToDate (the
        moonshot figure, a benchmark, not a timed check) and where it went.

        Then the cluster checks, in order (one boot per node serves them all: a TCG
        boot costs about 5 minutes):
          (1) alpha: both arrays active, not degraded; fstab mounts; hostname, hosts,
              mdadm.conf, fstab exactly as `tandem render` of the same answer says
          (2) beta: an ESP with GRUB on every disk, the first mounted
          (6) bond0 with both members, vmbr370 holds the address, nic0 a lease from the
              fleet's dnsmasq, alpha pings beta over VLAN 370; then e2e_drbd.CHECKS
          the first-boot hook ran exactly once on each node, and its event reached the
          collector once per node
          (3b) beta, shut down cleanly, boots without two of its four disks; then
              replace-beta and upgrade-beta (e2e_day2.py) on that boot

Returns the layouts "alpha" and "beta": the disks as the installer left them (every boot
here runs on qcow2 overlays), for the scenarios that need `fleet`.
"""

import os
import threading
import time

import e2e_drbd
import fleetnet
import tvm
from e2e_boots import beta_degraded, check_alpha, check_beta, first_boot_hook_ran_once
from e2e_installs import (ALPHA_MACS, BETA_MACS, DISK_SIZE, INSTALL_TIMEOUT, LIVE_TIMEOUT,
                          check_fleet_evidence, finish_install, make_bystander, node_nics,
                          no_secret_in_reports, with_report)
from guest import login, overlays
from scenario import Layout, Scenario


def fleet_nics(net, name, macs, peer, bootindex=None):
    """nic0 on a tap of the fleet's bridge; nic1 and nic2 cabled to the other node."""
    nics = node_nics(macs, peer)
    nics[0] = tvm.Nic(macs[0], net="tap", ifname=net.tap(f"{name}{len(net.taps)}"),
                      bootindex=bootindex)
    return nics


def install_unattended(ctx, vm, origin, out):
    """One machine's install, from power-on to the reboot QEMU turns into an exit: its
    live system must start the install by itself from `origin`. Fills out[name]."""
    t0 = time.time()
    seen = vm.console.expect("TANDEM AUTO-INSTALL from", LIVE_TIMEOUT)
    line = (seen + vm.console.expect(r"\n", 60)).splitlines()[-1].strip()
    live = time.time() - t0
    ctx.log(f"{vm.name}: live system up after {live:.0f} s, {line}")
    if origin not in line:
        raise AssertionError(f"{vm.name}: the answer came from {line!r}, not {origin}")
    seen = vm.console.expect(r"TANDEM-RESULT |TANDEM INSTALL FAILED", INSTALL_TIMEOUT)
    if "TANDEM INSTALL FAILED" in seen[-40:]:
        raise AssertionError(f"{vm.name}: install failed:\n" + seen[-3000:])
    res = finish_install(ctx, vm, seen, prefix=f"{vm.name}_")
    out[vm.name] = {"live": live, "install": res.get("total-seconds"),
                    "phases": {p["phase"]: p["seconds"] for p in res.get("phases", [])},
                    "until_off": time.time() - t0, "origin": line}


def at_once(ctx, vms, fns):
    """Runs fns (one per VM) in threads; the first failure kills every VM (the others'
    consoles end) and is raised."""
    errors = []

    def run(fn):
        try:
            fn()
        except BaseException as e:  # noqa: BLE001 - handed to the scenario below
            errors.append(e)
            for vm in vms:
                vm.kill()
    threads = [threading.Thread(target=run, args=(fn,), daemon=True) for fn in fns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def second_boot(net, mac, fetched_before):
    """What the machine fetched at its second power-on: its boot script again (local.ipxe
    by now) and nothing of the live system, or nothing at all. Returns how many times it
    fetched its script."""
    again = net.access_log()[fetched_before:]
    scripts = [l for l in again if f'"GET /boot/{mac}.ipxe ' in l]
    for addr in {l.split()[0] for l in scripts}:
        live = [l for l in again if l.split()[0] == addr and "/tandem/" in l
                and "fleet.ipxe" not in l]
        if live:
            raise AssertionError(f"{mac}: the second network boot fetched the live system:\n"
                                 + "\n".join(live))
    return len(scripts)


def fleet(ctx):
    answer = os.path.join(ctx.answers, "cluster.toml")
    a_work, b_work = os.path.join(ctx.work, "alpha"), os.path.join(ctx.work, "beta")
    for d in (a_work, b_work):
        os.makedirs(d, exist_ok=True)
    a_disks = [tvm.new_disk(os.path.join(a_work, f"disk{i}.qcow2"), DISK_SIZE) for i in range(4)]
    b_disks = [tvm.new_disk(os.path.join(b_work, f"disk{i}.qcow2"), DISK_SIZE) for i in range(4)]
    bystander = os.path.join(a_work, "bystander.raw")
    make_bystander(bystander)
    before = tvm.sha256_file(bystander)
    ctx.record(bystander_sha256_before=before)
    net = fleetnet.FleetNet(ctx.work, ctx.pxe)
    try:
        served = with_report(ctx, answer, net.fingerprint)
        net.add_machine(ALPHA_MACS[0], served)
        net.add_machine(BETA_MACS[0], served, pinned=True)
        p = [tvm.free_udp_port() for _ in range(4)]
        # nic1 <-> nic1, nic2 <-> nic2: two cables between the machines.
        a_peer, b_peer = [(p[0], p[1]), (p[2], p[3])], [(p[1], p[0]), (p[3], p[2])]
        va = ctx.vm(tvm.VM("alpha", a_work,
                           a_disks + [tvm.Disk(bystander, serial="bystander", format="raw")],
                           fleet_nics(net, "alpha", ALPHA_MACS, a_peer), firmware="bios",
                           boot="n", netns=net.ns))
        vb = ctx.vm(tvm.VM("beta", b_work, b_disks,
                           fleet_nics(net, "beta", BETA_MACS, b_peer, bootindex=0),
                           firmware="uefi", boot="n", netns=net.ns))
        # Power-on: the moonshot's clock starts.
        t0 = time.time()
        va.start("install")
        vb.start("install")
        installs = {}
        at_once(ctx, [va, vb], [
            lambda: install_unattended(ctx, va, "DHCP option 224", installs),
            lambda: install_unattended(ctx, vb, "kernel command line tandem.answer=https://",
                                       installs)])
        t_installed = time.time() - t0
        ctx.log(f"both installed and powered off after {t_installed:.0f} s")
        check_fleet_evidence(ctx, net, {"alpha": ALPHA_MACS[0], "beta": BETA_MACS[0]})
        if tvm.sha256_file(bystander) != before:
            raise AssertionError("alpha's install changed the bystander disk")
        a_lay = Layout(disks=a_disks, bystander=bystander, bystander_sha256=before,
                       vars=None, firmware="bios", answer=answer, node="alpha",
                       macs=ALPHA_MACS)
        b_lay = Layout(disks=b_disks, bystander=None, vars=vb.vars_file, firmware="uefi",
                       answer=answer, node="beta", macs=BETA_MACS)

        # The second power-on: network first, and the fleet's script now says disk.
        fetched = len(net.access_log())
        a_over, _ = overlays(ctx, a_lay, tag="alpha")
        b_paths, b_vars = overlays(ctx, b_lay, tag="beta")
        va = ctx.vm(tvm.VM("alpha", ctx.work, a_over,
                           fleet_nics(net, "alpha", ALPHA_MACS, a_peer), firmware="bios",
                           boot="n", netns=net.ns))
        # Beta's firmware follows its own boot order, where the installer put an entry per
        # disk first: a UEFI node boots its disk without asking the network. (Forced to the
        # network first, OVMF runs iPXE from the NIC's ROM, then its own PXE with
        # ipxe.efi; that one's `exit` (local.ipxe) returns success, and UEFI's boot
        # manager then stops at its menu: docs/pxe.md.)
        vb = ctx.vm(tvm.VM("beta", ctx.work, b_paths,
                           fleet_nics(net, "beta", BETA_MACS, b_peer),
                           firmware="uefi", vars_file=b_vars, boot="c", netns=net.ns))
        t_boot = time.time()
        va.start("boot")
        vb.start("boot")
        sa = login(ctx, va, started=True)
        sb = login(ctx, vb, started=True)
        ctx.log(f"both logged in ({time.time() - t_boot:.0f} s after the second power-on)")
        ctx.record(login_seconds_alpha=round(va.elapsed()), login_seconds_beta=round(vb.elapsed()))
        fetches = {n: second_boot(net, m, fetched)
                   for n, m in (("alpha", ALPHA_MACS[0]), ("beta", BETA_MACS[0]))}
        ctx.record(second_boot_script_fetches=fetches)
        if fetches["alpha"] != 1:
            raise AssertionError(f"alpha fetched its boot script {fetches['alpha']} times at "
                                 "its second network boot, not once")
        if fetches["beta"]:
            raise AssertionError("beta asked the network at its second boot: its own boot "
                                 "entries should come first")
        for name, sh in (("alpha", sa), ("beta", sb)):
            host = sh.out("hostname").strip()
            if host != name:
                raise AssertionError(f"the {name} machine booted {host!r}")
            ctx.record(**{f"slow_commands_{name}": slow_commands(sh)})

        # DRBD up on both: the moonshot's clock stops.
        first, rest = ctx.checks[0], ctx.checks[1:]
        if first is not e2e_drbd.drbd_first_boot:
            raise AssertionError("fleet's first check must be drbd_first_boot (the clock)")
        first(ctx, sa, sb, va, vb)
        moonshot(ctx, time.time() - t0, t_installed, time.time() - t_boot, installs)

        ctx.log("check: alpha's first boot (1)")
        check_alpha(ctx, a_lay, sa)
        ctx.log("check: beta's first boot (2)")
        check_beta(ctx, sb)
        check_cluster_network(ctx, sa, sb)
        for check in rest:
            ctx.log(f"cluster check {check.__module__}.{check.__name__}")
            # A check that rebooted a node hands back the new shells.
            shells = check(ctx, sa, sb, va, vb)
            if shells:
                sa, sb = shells
        ctx.record(cluster_checks=[f"{c.__module__}.{c.__name__}" for c in ctx.checks])
        # After every check (some reboot a node): the answer's first-boot hook ran exactly
        # once on each node, logged once, stamped done, and reported once.
        for name, sh in (("alpha", sa), ("beta", sb)):
            first_boot_hook_ran_once(name, sh)
        events = [d for _, d in net.reports() if d.get("event") == "first-boot"]
        ctx.record(first_boot_events=events)
        for name in ("alpha", "beta"):
            mine = [e for e in events if e.get("node") == name]
            if len(mine) != 1 or mine[0].get("status") != "ok" or mine[0].get("hook") != "e2e-once":
                raise AssertionError(f"{name}: first-boot events {mine}")
        no_secret_in_reports(ctx, net.reports())
        # Alpha is done (its disks are overlays; no clean shutdown needed): its CPU goes to
        # beta's resync and degraded boot.
        va.kill()
        ctx.release_vm()
        ctx.log("check: beta without two disks (3b)")
        beta_degraded(ctx, b_lay, b_paths, b_vars, vb, sb)
    finally:
        net.stop()
    return {"alpha": a_lay, "beta": b_lay}


def slow_commands(sh, at_least=2.0):
    """The install's commands that took at_least seconds, from the install log the node
    keeps (every command is followed by "exit N after S s"): where a phase's time went."""
    out = sh.out("awk '/ [$] /{cmd=$0} / exit -?[0-9]+ after [0-9.]+ s$/"
                 "{t=$(NF-1); if (t+0 >= " + str(at_least) + ") printf \"%s %s\\n\", t,"
                 " substr(cmd, 1, 180)}' /var/log/tandem/install.log; true", 120)
    return [l.strip() for l in out.splitlines() if l.strip()]


def check_cluster_network(ctx, sa, sb):
    """(6) the bond, the VLAN bridge, nic0's lease from the fleet's DHCP, a ping."""
    for name, sh, addr in (("alpha", sa, "10.37.0.1/24"), ("beta", sb, "10.37.0.2/24")):
        bond = sh.out("cat /proc/net/bonding/bond0")
        members = [l.split(": ")[1] for l in bond.splitlines() if l.startswith("Slave Interface: ")]
        if sorted(members) != ["nic1", "nic2"]:
            raise AssertionError(f"{name}: bond0 members {members}:\n{bond}")
        if "active-backup" not in bond:
            raise AssertionError(f"{name}: bond0 not active-backup:\n{bond}")
        ip = sh.out("ip -o addr show dev vmbr370")
        if addr not in ip:
            raise AssertionError(f"{name}: vmbr370 lacks {addr}:\n{ip}")
        if "bond0.370" not in sh.out("ls /sys/class/net/vmbr370/brif"):
            raise AssertionError(f"{name}: bond0.370 is not in vmbr370")
        # nic0 is "dhcp" in the answer: ifupdown2 runs dhclient, which the node must have
        # (Debian 13 installs no DHCP client by priority; the first CI run without it
        # logged "No such file or directory: '/sbin/dhclient'"). The fleet's dnsmasq
        # leases from its range.
        lease = sh.out(f"for i in $(seq 60); do ip -4 -o addr show dev nic0 | grep -qF 'inet {fleetnet.NET}.'"
                       " && break; sleep 1; done; ip -4 -o addr show dev nic0; true", 180)
        if f"inet {fleetnet.NET}." not in lease:
            raise AssertionError(f"{name}: nic0 has no DHCP address:\n{lease}"
                                 + sh.out("journalctl -b -u networking --no-pager | tail -n 20; true"))
        ctx.record(**{f"dhcp_{name}": lease.split()[3] if len(lease.split()) > 3 else lease})
    rc, out = sa.run("ping -c 3 -W 2 10.37.0.2", timeout=120, check=False)
    if rc != 0:
        # ifupdown may still be bringing the bond up: once more after a pause.
        rc, out = sa.run("sleep 10; ping -c 3 -W 2 10.37.0.2", timeout=120, check=False)
    if rc != 0:
        raise AssertionError(f"alpha cannot ping beta over VLAN 370:\n{out}")
    ctx.record(ping=out.strip().splitlines()[-1])


def moonshot(ctx, total, installed, second_boot, installs):
    """Issue #14's figure: power-on to both UpToDate, and where the time went."""
    parts = {"until both installed and off": round(installed),
             "second boot to both UpToDate": round(second_boot)}
    for name, r in sorted(installs.items()):
        parts[f"{name}: live system up"] = round(r["live"])
        parts[f"{name}: install"] = r["install"]
        big = max(r["phases"].items(), key=lambda kv: kv[1])
        parts[f"{name}: largest phase"] = f"{big[0]} {big[1]} s"
    ctx.record(moonshot_seconds=round(total), moonshot_parts=parts)
    ctx.log(f"MOONSHOT: power-on to both DRBD UpToDate in {total:.0f} s "
            f"({total / 60:.1f} min; goal 15 min): "
            + "; ".join(f"{k} {v}" for k, v in parts.items()))


SCENARIOS = [
    Scenario(name="fleet", run=fleet, vms=2, est=2100, checks=tuple(e2e_drbd.CHECKS)),
]
