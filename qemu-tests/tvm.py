"""Test machines for the QEMU install tests: one place for how a Tandem test VM is started,
talked to and asserted on. Used by the e2e scenarios, the DRBD pair test, the wizard test,
the benchmark and `make demo`.

Everything stays on this host: QEMU user networking (the guest sees the host's 127.0.0.1
as 10.0.2.2), UDP sockets on 127.0.0.1 between VMs, files. QEMU runs under TCG.
"""

import dataclasses
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time

# The 4 MiB build: Debian 12's ovmf has it beside the 2 MiB one, Debian 13's only it.
OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"
# Secure Boot enforced: the firmware built with it, and a variable store with Microsoft's
# keys enrolled (what a server ships with; shim is signed by Microsoft's UEFI CA). It needs
# SMM, so q35 with smm=on and the secure pflash.
OVMF_CODE_SB = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
OVMF_VARS_SB = "/usr/share/OVMF/OVMF_VARS_4M.ms.fd"
ACCEL = os.environ.get("QEMU_ACCEL", "tcg,thread=single")

# Where the guests reach this host's HTTP servers. Every user-net NIC is `restrict=on` (the
# guest reaches nothing beyond QEMU's own DHCP/TFTP/DNS: an installed system's NTP or apt
# timers must not leave this machine), and each HttpServer gets a `guestfwd` from this
# address to its port on 127.0.0.1. (guestfwd may not use the gateway 10.0.2.2.)
GUEST_HTTP_ADDR = "10.0.2.100"

# Mounts the host directory a VM shares with `-virtfs local,path=...,mount_tag=h` at
# /mnt/h. The first mount loads 9pnet_virtio; under load the device may bind only after
# that mount gave up ("special device h does not exist", "no channels available"): try
# again.
MOUNT_9P = ("mkdir -p /mnt/h && for i in 1 2 3 4 5 6 7 8 9 10; do "
            "mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 h /mnt/h && break; "
            "sleep 3; done && mountpoint -q /mnt/h")

# The password behind every test answer's root-password-hash (qemu-tests/answers/*.toml).
TEST_PASSWORD = "change-me-now"

# What a guest kernel says when it panics.
PANIC = b"Kernel panic - not syncing"
# TCG on a loaded host: the kernel's IO-APIC timer check can miss its ticks and panic
# ("IO-APIC + timer doesn't work!") before anything of ours runs. That one panic is the
# emulator's, not the install's: guest.login boots once more, and records it.
TCG_TIMER_PANIC = "IO-APIC + timer doesn't work"


def guestfwd(port):
    """The -netdev user option that lets a restricted guest reach 127.0.0.1:PORT as
    GUEST_HTTP_ADDR:PORT, one relay process per connection."""
    relay = os.path.join(os.path.dirname(os.path.abspath(__file__)), "guestfwd-relay.py")
    return f"guestfwd=tcp:{GUEST_HTTP_ADDR}:{port}-cmd:{relay} {port}"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def new_disk(path, size="20G"):
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", path, size], check=True)
    return path


def overlay(base, path, backing_format="qcow2"):
    """A qcow2 overlay: boots of one installed layout (normal, degraded, cluster) never
    change the installed disks, so each boot starts from the same state."""
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", backing_format,
                    "-b", os.path.abspath(base), path], check=True)
    return path


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def same_content(a, b):
    """True if two disk images hold the same bytes (qemu-img compare, strict: also the
    allocation must match, so a write of the same bytes counts as a change)."""
    # -U: one side may be open in a running VM (a check while the live system still runs).
    r = subprocess.run(["qemu-img", "compare", "-U", "-q", "-s", a, b])
    return r.returncode == 0


class HttpServer:
    """python's http.server on 127.0.0.1 over a directory; guests started after it reach it
    as http://10.0.2.100:PORT (GUEST_HTTP_ADDR). The request log is kept for assertions."""

    running = []

    def __init__(self, root, log):
        self.port = free_port()
        HttpServer.running.append(self)
        self.log = log
        self.proc = subprocess.Popen(
            ["python3", "-m", "http.server", "--bind", "127.0.0.1", "--directory", root,
             str(self.port)],
            stdout=open(log, "w"), stderr=subprocess.STDOUT)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)

    @property
    def guest_url(self):
        return f"http://{GUEST_HTTP_ADDR}:{self.port}"

    def requests(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        if self in HttpServer.running:
            HttpServer.running.remove(self)


class Console:
    """The serial console over a unix socket. A reader thread drains it all the time: an
    unread serial socket stalls the guest (its shutdown too).

    peers: the consoles of the other machines in the same test. A wait on this console
    ends at once when one of them panicked (a peer that will never answer again), instead
    of running into its timeout: a DRBD check on alpha waits up to an hour for beta."""

    def __init__(self, path, log, proc, name="vm", peers=lambda: []):
        self.proc = proc
        self.name = name
        self.peers = peers
        self.log_path = log
        self.log = open(log, "ab")
        self.buf = b""
        self.lock = threading.Condition()
        self.closed = False
        self.panicked = False
        self._tail = b""
        for _ in range(200):
            try:
                self.s = socket.socket(socket.AF_UNIX)
                self.s.connect(path)
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"no serial console at {path}")
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        while True:
            try:
                chunk = self.s.recv(65536)
            except OSError:
                chunk = b""
            with self.lock:
                if not chunk:
                    self.closed = True
                    self.lock.notify_all()
                    return
                self.buf += chunk
                self.log.write(chunk)
                self.log.flush()
                if not self.panicked:
                    window = self._tail + chunk
                    self.panicked = PANIC in window
                    self._tail = window[-len(PANIC):]
                self.lock.notify_all()

    def panic_line(self):
        """The guest's panic message, from the console log."""
        with open(self.log_path, "rb") as f:
            text = f.read()
        return text[text.rfind(PANIC):].split(b"\n")[0].decode(errors="replace").strip()

    def _peer_panicked(self):
        for other in self.peers():
            if other is not self and other.panicked:
                line = other.panic_line()
                if TCG_TIMER_PANIC not in line:
                    raise GuestPanic(f"{other.name} (another machine of this test) "
                                     f"panicked: {line}")

    def expect(self, pattern, timeout):
        """Waits for a regular expression (str) in the console output after the previous
        match; returns everything up to and including the match."""
        rx = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        end = time.time() + timeout
        with self.lock:
            while True:
                m = rx.search(self.buf)
                if m:
                    seen, self.buf = self.buf[:m.end()], self.buf[m.end():]
                    return seen.decode(errors="replace")
                if self.closed or self.proc.poll() is not None:
                    raise EOFError(f"QEMU exited before {pattern!r}; last output:\n"
                                   + self.buf[-3000:].decode(errors="replace"))
                self._peer_panicked()
                left = end - time.time()
                if left <= 0:
                    raise TimeoutError(f"no {pattern!r} within {timeout} s; last output:\n"
                                       + self.buf[-3000:].decode(errors="replace"))
                self.lock.wait(min(left, 1.0))

    def settle(self, quiet=1.5, timeout=60):
        """Everything the guest prints until it has been quiet for `quiet` seconds (a screen
        being drawn); consumed like a match."""
        end = time.time() + timeout
        with self.lock:
            while True:
                n = len(self.buf)
                self.lock.wait(quiet)
                if len(self.buf) == n or time.time() > end or self.closed:
                    seen, self.buf = self.buf, b""
                    return seen.decode(errors="replace")

    def send(self, text):
        self.s.sendall(text.encode())

    def sendline(self, line):
        self.send(line + "\r")


ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Shell:
    """A root shell on a console: the live system's (it gives one) or the installed
    system's after logging in. `run` wraps each command in unique markers so output and exit
    status come back exactly."""

    def __init__(self, console):
        self.con = console
        self.n = 0
        # Plain prompt, no echo noise from colour or bracketed paste; markers do the rest.
        # Kernel messages on the serial console would interleave with command output.
        self.con.sendline("dmesg -n 1 2>/dev/null; export PS1='# ' TERM=dumb; stty -echo cols 250; bind 'set enable-bracketed-paste off' 2>/dev/null; echo SHELL-READY")
        self.con.expect(r"SHELL-READY\r?\n", 120)

    def run(self, cmd, timeout=300, check=True):
        self.n += 1
        tag = f"TVM{self.n}X"
        # The markers are built by the shell (printf), so the echoed command line never
        # matches them.
        self.con.sendline(f"printf '%s-%s\\n' {tag} BEGIN; ( {cmd} ) 2>&1; printf '%s-%s-%d\\n' {tag} END $?")
        self.con.expect(f"{tag}-BEGIN\r?\n", timeout)
        seen = self.con.expect(f"{tag}-END-(\\d+)\r?\n", timeout)
        rc = int(re.search(f"{tag}-END-(\\d+)", seen).group(1))
        out = seen[: seen.rindex(f"{tag}-END-")].replace("\r\n", "\n")
        # Tools colour their output on a terminal (iproute2 does by default in trixie):
        # callers compare plain text.
        out = ANSI_ESCAPE.sub("", out)
        if check and rc != 0:
            raise AssertionError(f"in guest: `{cmd}` exited {rc}:\n{out}")
        return rc, out

    def out(self, cmd, timeout=300):
        return self.run(cmd, timeout)[1]

    def finish_md_resync(self, timeout=3000):
        """Lets every md array's resync run at full speed (unfrozen, speed limits raised)
        and waits until none is left; returns /proc/mdstat. md will not start a RAID5/6
        degraded while its first resync is unfinished ("cannot start dirty degraded
        array"), so a degraded-boot test needs this first."""
        self.run("echo 1000000 > /proc/sys/dev/raid/speed_limit_min; "
                 "echo 1000000 > /proc/sys/dev/raid/speed_limit_max; "
                 "for a in /sys/block/md*/md/sync_action; do "
                 "  [ \"$(cat $a)\" = frozen ] && echo idle > $a; done; true")
        return self.out("while grep -Eq 'resync|recovery|PENDING|DELAYED' /proc/mdstat; do sleep 5; done; "
                        "cat /proc/mdstat", timeout=timeout)


class GuestPanic(RuntimeError):
    """The guest kernel panicked (its console said so)."""


class GuestEmergency(RuntimeError):
    """systemd's emergency mode instead of a login prompt. Logs in there and keeps what
    the machine says about itself (failed units, md, LVM, the boot's errors)."""

    def __init__(self, vm, password, seen):
        report = ""
        try:
            vm.console.sendline(password)
            vm.console.expect(r"# ", 300)
            sh = Shell(vm.console)
            report = sh.out("systemctl --failed --no-legend; cat /proc/mdstat; lvs 2>&1;"
                            " journalctl -b -p warning --no-pager | tail -n 40", 300)
        except Exception as e:  # noqa: BLE001 - the diagnosis is best effort
            report = f"(no emergency shell: {e})"
        tail = "\n".join(seen.replace("\r", "").splitlines()[-15:])
        super().__init__(f"{vm.name}: emergency mode\n{tail}\n--- in the emergency shell:\n{report}")


@dataclasses.dataclass(frozen=True)
class Disk:
    """A VM's disk with what the guest sees of it. serial None: tandem-<vm>-disk<index>.
    bootindex: the firmware's boot order (with strict=on in `boot`, the only disks it
    tries)."""
    path: str
    serial: str | None = None
    format: str = "qcow2"
    bootindex: int | None = None
    # How the machine attaches it: "virtio" (virtio-blk), "nvme" (one NVMe controller and
    # namespace per disk, as servers have) or "sata" (a disk behind an AHCI controller).
    bus: str = "virtio"
    # Logical and physical sector size; 4096 is a 4Kn disk (virtio and NVMe only: ATA
    # disks in QEMU have 512-byte logical sectors).
    block_size: int = 512


@dataclasses.dataclass(frozen=True)
class Nic:
    """A NIC (virtio unless `model` says otherwise). net "user": QEMU's user network, always restricted (see
    GUEST_HTTP_ADDR), with optional TFTP root and boot file; net "dgram": a UDP socket
    pair on 127.0.0.1 (local and remote ports) to another VM's NIC; net "tap": the tap
    device `ifname` (fleetnet.FleetNet makes it, on its bridge; the VM runs in its
    namespace). bootindex: the firmware tries this NIC at that place (OVMF follows
    bootindex, not -boot n)."""
    mac: str
    net: str = "user"
    tftp: str | None = None
    bootfile: str | None = None
    hostfwd: str | None = None
    local: int | None = None
    remote: int | None = None
    ifname: str | None = None
    bootindex: int | None = None
    # The NIC's device: "virtio-net-pci" or "e1000e" (the Intel NIC many servers have).
    model: str = "virtio-net-pci"


class VM:
    """One QEMU machine. disks: paths (qcow2) or Disks; nics: Nics."""

    def __init__(self, name, work, disks, nics=(), firmware="bios", mem=2048, cdrom=None,
                 boot="c", vars_file=None, extra=(), netns=None):
        self.name = name
        self.work = work
        os.makedirs(work, exist_ok=True)
        self.disks = disks
        self.nics = list(nics)
        self.firmware = firmware
        self.mem = mem
        self.cdrom = cdrom
        self.boot = boot
        self.vars_file = vars_file
        self.extra = list(extra)
        # QEMU runs in this network namespace (its tap NICs live there).
        self.netns = netns
        # The machines of one test (the e2e suite's ctx.vm sets it): a panic in one ends
        # the others' waits.
        self.group = [self]
        self.proc = None
        self.console = None
        self.started = None

    def args(self, sock):
        a = ["qemu-system-x86_64", "-name", self.name, "-accel", ACCEL, "-m", str(self.mem),
             "-smp", "2", "-cpu", "qemu64,vendor=GenuineIntel", "-display", "none",
             "-monitor", "none", "-no-reboot",
             "-chardev", f"socket,id=s0,path={sock},server=on,wait=off",
             "-serial", "chardev:s0"]
        if self.firmware in ("uefi", "uefi-sb"):
            code, vars_template = ((OVMF_CODE, OVMF_VARS) if self.firmware == "uefi"
                                   else (OVMF_CODE_SB, OVMF_VARS_SB))
            if self.vars_file is None:
                self.vars_file = os.path.join(self.work, f"{self.name}-vars.fd")
            if not os.path.exists(self.vars_file):
                shutil.copy(vars_template, self.vars_file)
            if self.firmware == "uefi-sb":
                a += ["-machine", "q35,smm=on",
                      "-global", "driver=cfi.pflash01,property=secure,value=on"]
            a += ["-drive", f"if=pflash,format=raw,readonly=on,file={code}",
                  "-drive", f"if=pflash,format=raw,file={self.vars_file}"]
        elif self.firmware != "bios":
            raise ValueError(f"firmware {self.firmware!r}")
        sata_ports = 0
        for i, d in enumerate(self.disks):
            if not isinstance(d, Disk):
                d = Disk(d)
            fmt = d.format
            serial = d.serial or f"tandem-{self.name}-disk{i}"
            # md's first resync copies (RAID1/10) or computes (RAID6) zeros over every
            # member; with zero detection those writes stay holes in the qcow2 files, so an
            # e2e run needs a few GiB of disk, not ~20. Raw disks (the bystander) get
            # nothing: their bytes are the evidence.
            zeros = ",discard=unmap,detect-zeroes=unmap" if fmt == "qcow2" else ""
            boot_index = f",bootindex={d.bootindex}" if d.bootindex is not None else ""
            sectors = (f",logical_block_size={d.block_size},physical_block_size={d.block_size}"
                       if d.block_size != 512 else "")
            if d.bus == "virtio":
                dev = f"virtio-blk-pci,drive=d{i},serial={serial}{sectors}"
            elif d.bus == "nvme":
                dev = f"nvme,drive=d{i},serial={serial}{sectors}"
            elif d.bus == "sata":
                if d.block_size != 512:
                    raise ValueError("a SATA disk in QEMU has 512-byte logical sectors")
                if sata_ports == 0:
                    # Its own controller, so the same disks work on pc and q35 (whose
                    # built-in AHCI holds the CD-ROM).
                    a += ["-device", "ahci,id=sata"]
                dev = f"ide-hd,drive=d{i},bus=sata.{sata_ports},serial={serial}"
                sata_ports += 1
            else:
                raise ValueError(f"disk bus {d.bus!r}")
            a += ["-drive", f"file={d.path},if=none,id=d{i},format={fmt}{zeros}",
                  "-device", dev + boot_index]
        for i, n in enumerate(self.nics):
            kind = n.net
            if kind == "user":
                opts = "user,id=n%d,restrict=on" % i
                for k in ("tftp", "bootfile", "hostfwd"):
                    if getattr(n, k):
                        opts += f",{k}={getattr(n, k)}"
                for srv in HttpServer.running:
                    opts += "," + guestfwd(srv.port)
            elif kind == "dgram":
                # Two VMs' NICs joined point to point by UDP on 127.0.0.1; a peer that is
                # not running just drops the frames (a cable with nobody at the other end).
                opts = (f"dgram,id=n{i},local.type=inet,local.host=127.0.0.1,"
                        f"local.port={n.local},remote.type=inet,remote.host=127.0.0.1,"
                        f"remote.port={n.remote}")
            elif kind == "tap":
                opts = f"tap,id=n{i},ifname={n.ifname},script=no,downscript=no"
            else:
                raise ValueError(kind)
            boot_index = f",bootindex={n.bootindex}" if n.bootindex is not None else ""
            a += ["-netdev", opts, "-device",
                  f"{n.model},netdev=n{i},mac={n.mac}{boot_index}"]
        if self.cdrom:
            # bootindex: OVMF ignores -boot d; with old ESPs on the disks (a reinstall) it
            # would boot those first.
            a += ["-drive", f"file={self.cdrom},media=cdrom,readonly=on,if=none,id=cd0",
                  "-device", "ide-cd,drive=cd0,bus=ide.1,unit=0"
                  + (",bootindex=0" if self.boot == "d" else "")]
        a += ["-boot", self.boot] + self.extra
        if self.netns:
            a = ["ip", "netns", "exec", self.netns] + a
        return a

    def start(self, tag="run"):
        sock = os.path.join(self.work, f"{self.name}-{tag}.sock")
        if os.path.exists(sock):
            os.unlink(sock)
        log = os.path.join(self.work, f"{self.name}-{tag}.console.log")
        self.console_log = log
        args = self.args(sock)
        with open(os.path.join(self.work, f"{self.name}-{tag}.cmdline"), "w") as f:
            f.write(" ".join(args) + "\n")
        self.started = time.time()
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=open(os.path.join(self.work, f"{self.name}-{tag}.qemu.log"), "w"),
                                     stderr=subprocess.STDOUT)
        self.console = Console(sock, log, self.proc, self.name,
                               lambda: [v.console for v in self.group if v.console])
        return self.console

    def elapsed(self):
        return time.time() - self.started

    def wait_exit(self, timeout):
        """Waits for QEMU to exit (the guest powered off or rebooted: -no-reboot)."""
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                return self.proc.returncode
            time.sleep(0.5)
        raise TimeoutError(f"{self.name}: QEMU still running after {timeout} s")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def live_shell(self, timeout=900):
        """The live system's root shell (after its TANDEM READY banner)."""
        self.console.expect("TANDEM READY", timeout)
        self.console.expect(r"root shell", 300)
        return Shell(self.console)

    def login(self, timeout=900, password=TEST_PASSWORD):
        """Logs in as root on the installed system's serial getty. A kernel panic on the
        way raises GuestPanic at once instead of waiting out the timeout."""
        seen = self.console.expect(r"login: |Kernel panic[^\n]*|root password for (system )?maintenance", timeout)
        if "Kernel panic" in seen[-300:]:
            raise GuestPanic(f"{self.name}: " + seen[seen.rindex("Kernel panic"):].strip())
        if "maintenance" in seen[-100:]:
            raise GuestEmergency(self, password, seen)
        self.console.sendline("root")
        self.console.expect(r"Password: ", 60)
        self.console.sendline(password)
        self.console.expect(r"# |\$ ", 120)
        return Shell(self.console)

    def poweroff(self, shell, timeout=300):
        shell.con.sendline("systemctl poweroff")
        return self.wait_exit(timeout)


def recv_line(sock):
    """One newline-terminated message from a stream socket (less if the peer closes first):
    the line protocol of drbd-live-pair.py's command socket, both ends."""
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
    return buf


def tandem_result(text):
    """The installer's machine-readable last line, parsed."""
    m = re.search(r"TANDEM-RESULT (\{.*\})", text)
    return json.loads(m.group(1)) if m else None
