#!/usr/bin/env python3
"""The fleet network without a VM (make test-fleetnet, seconds): FleetNet's dnsmasq and
nginx, configured from docs/pxe/, answer a client in a second namespace as docs/pxe.md
says they do. The e2e fleet scenario then boots two real machines through the same services.

  qemu-tests/fleetnet-smoke.py [--pxe build/image/pxe] [--work build/fleetnet-smoke]

Checked: a DHCP lease with the iPXE boot file, options 224 (answer URL) and 225 (the
certificate's fingerprint, equal to openssl's) and the domain; the TXT record under it;
TFTP serving undionly.kpxe, grub/grub.cfg and (with pxe/efi/) shim and the signed
network GRUB byte for byte; the answer over HTTPS with that certificate and
refused over HTTP; the per-MAC boot script saying install, then, after an ok report
POSTed to /report, boot the local disk (a failed report does not flip it).
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import fleetnet  # noqa: E402

MAC = "52:54:00:f1:ee:01"
OTHER = "52:54:00:f1:ee:02"


def run(ns, *cmd, check=True, **kw):
    r = subprocess.run(["ip", "netns", "exec", ns, *cmd], capture_output=True, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)}: exit {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pxe", default=None)
    ap.add_argument("--work", default="build/fleetnet-smoke")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    net = fleetnet.FleetNet(args.work, args.pxe)
    cli = net.ns + "-c"
    checks = []
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
            f.write("[system]\nhostname = \"smoke\"\n")
        net.add_machine(MAC, f.name)
        os.unlink(f.name)
        subprocess.run(["ip", "netns", "add", cli], check=True)
        subprocess.run(["ip", "link", "add", "fsv0", "netns", net.ns, "type", "veth", "peer",
                        "name", "fsv1", "netns", cli], check=True)
        subprocess.run(["ip", "-n", net.ns, "link", "set", "fsv0", "master", "br0", "up"],
                       check=True)
        subprocess.run(["ip", "-n", cli, "link", "set", "lo", "up"], check=True)
        subprocess.run(["ip", "-n", cli, "link", "set", "fsv1", "address", MAC, "up"],
                       check=True)

        # DHCP: busybox udhcpc hands the lease to a script as environment variables.
        env_file = os.path.join(net.work, "udhcpc.env")
        script = os.path.join(net.work, "udhcpc.sh")
        with open(script, "w") as f:
            f.write(f"#!/bin/sh\n[ \"$1\" = bound ] && env > {env_file}\nexit 0\n")
        os.chmod(script, 0o755)
        run(cli, "/bin/busybox", "udhcpc", "-i", "fsv1", "-f", "-q", "-n", "-t", "5",
            "-O", "224", "-O", "225", "-s", script, text=True)
        lease = dict(l.split("=", 1) for l in open(env_file).read().splitlines() if "=" in l)
        url = bytes.fromhex(lease.get("opt224", "")).decode()
        pin = bytes.fromhex(lease.get("opt225", "")).decode()
        if url != f"https://{fleetnet.ADDR}/answers/{{mac}}.toml":
            raise AssertionError(f"option 224: {url!r}")
        if pin != net.fingerprint:
            raise AssertionError(f"option 225 {pin!r} is not the certificate's {net.fingerprint}")
        if lease.get("domain") != fleetnet.DOMAIN or lease.get("boot_file") != "undionly.kpxe":
            raise AssertionError(f"lease: domain {lease.get('domain')}, boot file {lease.get('boot_file')}")
        checks.append(f"DHCP: {lease['ip']}, option 224 {url}, option 225 = the certificate")
        run(cli, "ip", "addr", "add", f"{lease['ip']}/24", "dev", "fsv1")

        txt = run(cli, "/bin/busybox", "nslookup", "-type=txt", f"_tandem-answer.{fleetnet.DOMAIN}",
                  fleetnet.ADDR, text=True).stdout
        if f"fingerprint={net.fingerprint}" not in txt or f"url={url}" not in txt:
            raise AssertionError(f"TXT record:\n{txt}")
        checks.append("DNS: the TXT record holds the same URL and pin")
        # dnsmasq forwards nothing: a name outside its domain is refused, never asked upstream.
        other = run(cli, "/bin/busybox", "nslookup", "debian.org", fleetnet.ADDR, check=False,
                    text=True)
        if "Name:" in other.stdout or "REFUSED" not in other.stdout:
            raise AssertionError(f"dnsmasq resolved a name outside its domain:\n{other.stdout}")

        got = run(cli, "curl", "-sf", f"tftp://{fleetnet.ADDR}/undionly.kpxe").stdout
        want = open(os.path.join(fleetnet.IPXE_DIR, "undionly.kpxe"), "rb").read()
        if hashlib.sha256(got).digest() != hashlib.sha256(want).digest():
            raise AssertionError(f"TFTP undionly.kpxe: {len(got)} bytes, want {len(want)}")
        checks.append(f"TFTP: undionly.kpxe ({len(got)} bytes) byte for byte")
        # UEFI clients: shim, the signed network GRUB and grub/grub.cfg (docs/pxe/grub.cfg),
        # byte for byte, when the image has the chain (pxe/efi/).
        tftp_files = [("grub/grub.cfg", os.path.join(fleetnet.DOCS, "grub.cfg"))]
        efi = os.path.join(args.pxe or "", "efi")
        if os.path.isdir(efi):
            tftp_files += [(f, os.path.join(efi, f)) for f in ("shimx64.efi", "grubx64.efi")]
        for name, src in tftp_files:
            got = run(cli, "curl", "-sf", f"tftp://{fleetnet.ADDR}/{name}").stdout
            if got != open(src, "rb").read():
                raise AssertionError(f"TFTP {name}: {len(got)} bytes differ from {src}")
            checks.append(f"TFTP: {name} ({len(got)} bytes) byte for byte")

        answer = f"/answers/{MAC}.toml"
        served = run(cli, "curl", "-sf", "--cacert", net.crt,
                     f"https://{fleetnet.ADDR}{answer}", text=True).stdout
        if "smoke" not in served:
            raise AssertionError(f"the answer over HTTPS: {served!r}")
        plain = run(cli, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                    f"http://{fleetnet.ADDR}{answer}", text=True).stdout
        if plain != "403":
            raise AssertionError(f"the answer over plain HTTP: status {plain}, want 403")
        checks.append("HTTPS: the answer with the pinned certificate; plain HTTP 403")

        def boot_script():
            return run(cli, "curl", "-sf", f"http://{fleetnet.ADDR}/boot/{MAC}.ipxe",
                       text=True).stdout

        def grub_script():
            return run(cli, "curl", "-sf", f"http://{fleetnet.ADDR}/boot/{MAC}.cfg",
                       text=True).stdout

        if "discover.ipxe" not in boot_script():
            raise AssertionError(f"boot script before the report:\n{boot_script()}")
        if "discover.grub" not in grub_script():
            raise AssertionError(f"GRUB script before the report:\n{grub_script()}")

        def post(doc):
            run(cli, "curl", "-sf", "-X", "POST", "-H", "Content-Type: application/json",
                "--data", json.dumps(doc), "--cacert", net.crt,
                f"https://{fleetnet.ADDR}/report")

        # A machine told its answer: URL and pin on its kernel command line, filled in.
        net.add_machine(OTHER, os.devnull, pinned=True)
        pinned = run(cli, "curl", "-sf", f"http://{fleetnet.ADDR}/boot/{OTHER}.ipxe",
                     text=True).stdout
        want = (f"tandem.answer=https://${{next-server}}/answers/${{net0/mac}}.toml "
                f"tandem.answer-fingerprint={net.fingerprint}\n")
        if want not in pinned or "@" in pinned.replace("${", ""):
            raise AssertionError(f"the pinned boot script:\n{pinned}")
        checks.append("a pinned machine's script: answer URL and certificate pin in tandem-args")

        post({"event": "install", "result": "failed", "machine": {"macs": [MAC]}})
        if "discover.ipxe" not in boot_script():
            raise AssertionError("a failed install's report switched the machine to its disk")
        post({"event": "install", "result": "ok", "machine": {"macs": [MAC, OTHER]}})
        after = boot_script()
        if "sanboot" not in after or "discover.ipxe" in after:
            raise AssertionError(f"boot script after the ok report:\n{after}")
        grub_after = grub_script()
        if grub_after.strip().splitlines()[-1] != "exit" or "discover.grub" in grub_after:
            raise AssertionError(f"GRUB script after the ok report:\n{grub_after}")
        if len(net.reports()) != 2:
            raise AssertionError(f"the collector kept {len(net.reports())} reports, not 2")
        checks.append("reports: kept; the ok one switched boot/<mac>.ipxe and .cfg to the disk")
        log = net.access_log()
        if not any(f'https "GET {answer} ' in l for l in log):
            raise AssertionError("nginx's log lacks the HTTPS answer fetch:\n" + "\n".join(log))
    finally:
        net.stop()
        subprocess.run(["ip", "netns", "delete", cli], capture_output=True)
    for c in checks:
        print("ok", c)
    print("== fleetnet smoke: all passed")


if __name__ == "__main__":
    main()
