"""A fleet's provisioning network inside a network namespace of its own (issue #14,
docs/pxe.md): a Linux bridge, tap devices for the VMs, Debian's dnsmasq (DHCP, TFTP with
iPXE, DNS with the answer's TXT record, DHCP options 224/225) and nginx (HTTP and HTTPS:
the image, the answers, per-MAC boot scripts, POST /report to fleet-collector.py), all
configured from docs/pxe/*, the files docs/pxe.md shows.

    net = FleetNet(work, pxe_dir)          # namespace, bridge, certificate, services
    net.add_machine(mac, answer_file)      # answers/<mac>.toml, boot/<mac>.ipxe = install
                                           # (pinned=True: URL + pin on the command line)
    tap = net.tap("alpha0")                # a tap on the bridge; VM(..., netns=net.ns)
    ...
    net.fetches("/answers/52:54:00:…")    # nginx's log lines for that path
    net.reports()                          # the bodies POSTed to /report
    net.stop()                             # services killed, namespace deleted

Nothing leaves the namespace: it has no route out, dnsmasq forwards no query, and QEMU's
tap NICs are its only other members.
"""

import glob
import grp
import json
import os
import shutil
import subprocess
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
DOCS = os.path.join(HERE, "..", "docs", "pxe")
IPXE_DIR = "/usr/lib/ipxe"
NET = "10.77.0"
ADDR = f"{NET}.1"
DOMAIN = "fleet.test"
COLLECTOR = "127.0.0.1:8081"


def sh(*cmd, **kw):
    return subprocess.run(list(cmd), check=True, **kw)


def template(name, subst):
    with open(os.path.join(DOCS, name)) as f:
        text = f.read()
    for k, v in subst.items():
        text = text.replace(f"@{k}@", v)
    if "@" in text.replace("$", ""):
        leftover = [w for w in text.split() if w.count("@") >= 2]
        if leftover:
            raise ValueError(f"docs/pxe/{name}: unsubstituted {leftover}")
    return text


class FleetNet:
    def __init__(self, work, pxe_dir):
        # Absolute: dnsmasq and nginx resolve relative paths against / and their prefix.
        self.work = os.path.abspath(os.path.join(work, "fleet"))
        shutil.rmtree(self.work, ignore_errors=True)
        os.makedirs(self.work)
        self.ns = f"tandem-{os.getpid()}-{int(time.time() * 1000) % 100000}"
        self.procs = []
        self.taps = []
        self.root = os.path.join(self.work, "www")
        self.boot = os.path.join(self.root, "boot")
        self.reports_dir = os.path.join(self.work, "reports")
        self.log = os.path.join(self.work, "access.log")
        for d in ("tandem", "answers", "boot"):
            os.makedirs(os.path.join(self.root, d))
        # nginx's workers run as www-data: the tree must be readable and traversable.
        for d in (self.work, self.root):
            os.chmod(d, 0o755)
        if pxe_dir and os.path.isdir(pxe_dir):
            for f in sorted(os.listdir(pxe_dir)):
                os.symlink(os.path.abspath(os.path.join(pxe_dir, f)),
                           os.path.join(self.root, "tandem", f))
        shutil.copy(os.path.join(DOCS, "fleet.ipxe"), os.path.join(self.root, "tandem"))
        self.tftp = os.path.join(self.work, "tftp")
        os.makedirs(self.tftp)
        shutil.copy(os.path.join(IPXE_DIR, "undionly.kpxe"), self.tftp)
        # UEFI clients: the signed chain the image build put in pxe/efi/ (shim, network
        # GRUB as grubx64.efi, MokManager) and grub.cfg, which GRUB reads over TFTP.
        efi = os.path.join(pxe_dir or "", "efi")
        if os.path.isdir(efi):
            # Flat in the TFTP root: shim asks for grubx64.efi there, whatever the path
            # DHCP gave shim itself.
            for f in sorted(os.listdir(efi)):
                shutil.copy(os.path.join(efi, f), self.tftp)
        os.makedirs(os.path.join(self.tftp, "grub"))
        shutil.copy(os.path.join(DOCS, "grub.cfg"), os.path.join(self.tftp, "grub"))
        try:
            self._namespace()
            self._certificate()
            self._services()
        except BaseException:
            self.stop()
            raise

    def _namespace(self):
        sh("ip", "netns", "add", self.ns)
        ip = ["ip", "-n", self.ns]
        sh(*ip, "link", "set", "lo", "up")
        sh(*ip, "link", "add", "br0", "type", "bridge")
        sh(*ip, "addr", "add", f"{ADDR}/24", "dev", "br0")
        sh(*ip, "link", "set", "br0", "up")

    def _certificate(self):
        self.crt = os.path.join(self.work, "tandem.crt")
        self.key = os.path.join(self.work, "tandem.key")
        sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
           "ec_paramgen_curve:prime256v1", "-nodes", "-days", "7", "-subj",
           "/CN=tandem-fleet", "-addext", f"subjectAltName=IP:{ADDR}",
           "-keyout", self.key, "-out", self.crt, stdout=subprocess.DEVNULL,
           stderr=subprocess.DEVNULL)
        out = subprocess.run(["openssl", "x509", "-in", self.crt, "-noout", "-fingerprint",
                              "-sha256"], check=True, capture_output=True, text=True).stdout
        self.fingerprint = out.strip().split("=", 1)[1]

    def _in_ns(self, args, log):
        p = subprocess.Popen(["ip", "netns", "exec", self.ns] + args,
                             stdout=open(log, "w"), stderr=subprocess.STDOUT)
        self.procs.append(p)
        return p

    def _services(self):
        subst = {"IF": "br0", "ADDR": ADDR, "NET": NET, "DOMAIN": DOMAIN, "TFTP": self.tftp,
                 "FP": self.fingerprint, "ROOT": self.root, "CRT": self.crt,
                 "KEY": self.key, "COLLECTOR": COLLECTOR, "LOG": self.log}
        dnsmasq = os.path.join(self.work, "dnsmasq.conf")
        with open(dnsmasq, "w") as f:
            f.write(template("dnsmasq.conf", subst))
        self._in_ns(["dnsmasq", "--keep-in-foreground", "--conf-file=" + dnsmasq,
                     "--pid-file=" + os.path.join(self.work, "dnsmasq.pid"),
                     "--dhcp-leasefile=" + os.path.join(self.work, "dnsmasq.leases"),
                     "--log-dhcp", "--log-queries", "--log-facility=-", "--user=root"],
                    os.path.join(self.work, "dnsmasq.log"))
        site = os.path.join(self.work, "tandem-site.conf")
        with open(site, "w") as f:
            f.write(template("nginx.conf", subst))
        # nginx's own main file, as Debian's /etc/nginx/nginx.conf would be around the site,
        # but with root workers: the checkout (and build/image/pxe/ the tree links to) may
        # sit under a directory www-data cannot enter, such as /root.
        main = os.path.join(self.work, "nginx.conf")
        with open(main, "w") as f:
            f.write(f"user root;\nworker_processes 1;\npid {self.work}/nginx.pid;\n"
                    f"error_log {self.work}/nginx-error.log;\n"
                    "events { worker_connections 64; }\n"
                    "http {\n include /etc/nginx/mime.types;\n"
                    f" client_body_temp_path {self.work}/nginx-body;\n"
                    f" proxy_temp_path {self.work}/nginx-proxy;\n"
                    f" include {site};\n}}\n")
        self._in_ns(["nginx", "-c", main, "-g", "daemon off;"],
                    os.path.join(self.work, "nginx.out"))
        local = os.path.join(DOCS, "local.ipxe")
        self._in_ns(["python3", os.path.join(HERE, "fleet-collector.py"), "--listen", COLLECTOR,
                     "--reports", self.reports_dir, "--boot", self.boot, "--local", local,
                     "--local-grub", os.path.join(DOCS, "local.grub")],
                    os.path.join(self.work, "collector.log"))
        self._wait_listening()

    def _wait_listening(self, timeout=30):
        """Until nginx (80, 443), the collector and dnsmasq's DNS answer in the namespace."""
        end = time.time() + timeout
        want = ("0050", "01BB", "1F91", "0035")  # 80, 443, the collector's 8081, DNS
        while time.time() < end:
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"{p.args[4]} exited ({p.returncode}); see {self.work}")
            tcp = subprocess.run(["ip", "netns", "exec", self.ns, "cat", "/proc/net/tcp",
                                  "/proc/net/udp"], capture_output=True, text=True).stdout
            if all(f":{w} " in tcp for w in want):
                return
            time.sleep(0.2)
        raise RuntimeError(f"fleet services not listening after {timeout} s; see {self.work}")

    def tap(self, name):
        ip = ["ip", "-n", self.ns]
        sh(*ip, "tuntap", "add", "dev", name, "mode", "tap")
        sh(*ip, "link", "set", name, "master", "br0", "up")
        self.taps.append(name)
        return name

    def add_machine(self, mac, answer, pinned=False):
        """answers/<mac>.toml (0640, group www-data: nginx's workers read it, nobody else;
        the location is HTTPS-only) and boot/<mac>.ipxe saying install: install.ipxe (the
        answer found by DHCP option 224) or, pinned, install-pinned.ipxe (its URL and the
        certificate's fingerprint on the kernel command line)."""
        dest = os.path.join(self.root, "answers", f"{mac.lower()}.toml")
        shutil.copy(answer, dest)
        os.chown(dest, 0, grp.getgrnam("www-data").gr_gid)
        os.chmod(dest, 0o640)
        script = "install-pinned.ipxe" if pinned else "install.ipxe"
        with open(os.path.join(self.boot, f"{mac.lower()}.ipxe"), "w") as f:
            f.write(template(script, {"FP": self.fingerprint}))
        # The same decision for UEFI clients, whose signed GRUB reads boot/<mac>.cfg.
        with open(os.path.join(self.boot, f"{mac.lower()}.cfg"), "w") as f:
            f.write(template("install.grub", {}))

    def boot_script(self, mac, ext="ipxe"):
        with open(os.path.join(self.boot, f"{mac.lower()}.{ext}")) as f:
            return f.read()

    def access_log(self):
        """nginx's lines, percent-decoded (iPXE writes the MAC's colons as %3A)."""
        try:
            with open(self.log, errors="replace") as f:
                return [urllib.parse.unquote(l) for l in f.read().splitlines()]
        except FileNotFoundError:
            return []

    def fetches(self, path):
        """nginx's log lines (addr scheme "GET path HTTP/x" status bytes) for `path`."""
        return [l for l in self.access_log() if f'"GET {path} ' in l]

    def reports(self):
        out = []
        for p in sorted(glob.glob(os.path.join(self.reports_dir, "*.json"))):
            with open(p, "rb") as f:
                body = f.read()
            out.append((body, json.loads(body)))
        return out

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        # `ip netns exec` execs the program, so the kill reached it; nginx's worker is its
        # child and dies with the namespace's processes below.
        pids = subprocess.run(["ip", "netns", "pids", self.ns], capture_output=True,
                              text=True).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), 9)
            except (OSError, ValueError):
                pass
        subprocess.run(["ip", "netns", "delete", self.ns], capture_output=True)
