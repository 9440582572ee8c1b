#!/usr/bin/env python3
"""The end-to-end install suite (issue #5): installs Tandem nodes under QEMU/TCG from the
image `make image` built, then boots the results several times through qcow2 overlays.

  qemu-tests/e2e.py [--iso build/image/tandem.iso] [--pxe build/image/pxe]
                    [--out build/e2e] [--only NAME] [--list] [--jobs 2]

Scenario modules
----------------
Every `qemu-tests/e2e_*.py` is imported; each defines (scenario.Scenario)

    SCENARIOS = [Scenario(name="replace-alpha", needs=("install-alpha",), run=fn,
                          vms=1,      # QEMU machines it runs at once (default 1; 0: host only)
                          est=300)]   # rough seconds, for "longest chain first" (default 300)

`fn(ctx)` raises on failure. `ctx` has:
  ctx.name, ctx.work      this scenario's own directory (build/e2e/<name>/), console logs go here
  ctx.iso, ctx.pxe        the image under test
  ctx.answers             build/e2e/answers/: the prepared answers (secret filled in, 0600)
  ctx.tandem              a host `tandem` binary (render/validate on the host)
  ctx.layout(name)        a layout an install scenario returned (see below)
  ctx.record(**fields)    adds fields to this scenario's entry in results.json
  ctx.vm(vm)              registers a tvm.VM so its console tail is printed on failure and
                          it is killed when the scenario ends
  ctx.release_vm()        from now on the scenario runs one machine fewer (the scheduler
                          may start another scenario in that slot)
  ctx.checks              the Scenario's checks, in order
  ctx.secrets()           what no log or report may hold: {"what": [bytes, …]}

An install is a scenario too: its `fn` returns a scenario.Layout (disks, bystander, OVMF
vars, firmware, answer, node, MACs) that dependants put overlays on (tvm.overlay) and never
write to, known by the scenario's name; or a dict of them by name when it installs several
machines (`fleet` returns {"alpha": …, "beta": …}). Dependants name the scenario in `needs`
and the layout in ctx.layout(name).

The scheduler runs up to --jobs QEMU machines at a time (2: the CI machine has 2 cores and
TCG runs one thread per VM), scenarios whose `needs` all passed, longest chain first. A
scenario whose need failed fails too ("needs X, which failed"). `--only NAME` runs NAME and
what it needs; `--reuse fleet` takes that install's layouts from the previous run in
--out instead of installing again (development only). Results: printed as they finish, build/e2e/results.json, exit 1 on any failure.

Cluster checks (both nodes up at once)
--------------------------------------
The scenario `fleet` installs alpha and beta together over the fleet network, boots both
from their disks, checks the bond, the VLAN bridge and a ping over it, then calls every
function in its Scenario's `checks` in order:

    def drbd_connected(ctx, shell_alpha, shell_beta, vm_alpha, vm_beta): ...

(shells are tvm.Shell logged in as root; a check raises on failure, and one that reboots a
node returns the new (shell_alpha, shell_beta)). Put such checks in a module of your own,
qemu-tests/e2e_<topic>.py (today e2e_drbd.CHECKS), and name them in fleet's Scenario in
e2e_fleet.py.
"""

import argparse
import dataclasses
import glob
import importlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import tomllib
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import tvm  # noqa: E402
from scenario import Layout  # noqa: E402


class ScenarioError(Exception):
    pass


class Ctx:
    def __init__(self, suite, sc):
        self.suite = suite
        self.secrets = lambda: secrets_of(suite)
        self.name = sc.name
        self.checks = sc.checks
        self.work = os.path.join(suite.out, self.name)
        self.iso = suite.iso
        self.pxe = suite.pxe
        self.answers = suite.answers
        self.tandem = suite.tandem
        self.tandem_image = suite.tandem_image
        self.fields = {}
        self.vms = []

    def layout(self, name):
        lay = self.suite.layouts.get(name)
        if lay is None:
            raise ScenarioError(f"{self.name}: no layout {name} (declare its install in needs)")
        return lay

    def record(self, **fields):
        self.fields.update(fields)

    def release_vm(self):
        """This scenario runs one QEMU machine fewer from now on: the scheduler may start a
        one-machine scenario beside it (fleet's tail, where only beta runs)."""
        self.suite.release(self.name)

    def vm(self, vm):
        self.vms.append(vm)
        vm.group = self.vms
        self.suite.all_vms.append(vm)
        return vm

    def log(self, msg):
        self.suite.say(f"  [{self.name} +{time.time() - self.t0:.0f}s] {msg}")


class Suite:
    def __init__(self, a):
        self.out = os.path.abspath(a.out)
        self.iso = os.path.abspath(a.iso)
        self.pxe = os.path.abspath(a.pxe)
        self.tandem = os.path.abspath(a.tandem)
        self.tandem_image = os.path.abspath(a.tandem_image)
        self.answers = os.path.join(self.out, "answers")
        self.jobs = a.jobs
        self.reuse = set(a.reuse)
        self.layouts = {}
        self.results = {}
        self.all_vms = []
        self.lock = threading.Lock()
        # The scheduler's wake-up, and the QEMU machines each running scenario holds.
        self.cv = threading.Condition()
        self.holding = {}

    def release(self, name):
        with self.cv:
            self.holding[name] -= 1
            self.cv.notify_all()

    def reusable(self, name):
        """With --reuse NAME: the layouts a previous run of install NAME left, by layout
        name (development: iterate on a boot check without installing again)."""
        path = os.path.join(self.out, name, "layouts.json")
        if name in self.reuse and os.path.exists(path):
            with open(path) as f:
                return {n: Layout.from_json(d) for n, d in json.load(f).items()}
        return None

    def say(self, msg):
        with self.lock:
            print(msg, flush=True)


def discover():
    scenarios = {}
    for path in sorted(glob.glob(os.path.join(HERE, "e2e_*.py"))):
        mod = importlib.import_module(os.path.basename(path)[:-3])
        for sc in getattr(mod, "SCENARIOS", []):
            sc = dataclasses.replace(sc, module=mod.__name__)
            if sc.name in scenarios:
                raise SystemExit(f"scenario {sc.name} defined twice")
            scenarios[sc.name] = sc
    for sc in scenarios.values():
        for n in sc.needs:
            if n not in scenarios:
                raise SystemExit(f"scenario {sc.name} needs unknown {n}")
    return scenarios


def closure(scenarios, name):
    want, todo = set(), [name]
    while todo:
        n = todo.pop()
        if n not in want:
            want.add(n)
            todo += scenarios[n].needs
    return want


def chain_lengths(scenarios):
    """Seconds from a scenario's start to the end of the longest chain that waits for it."""
    memo = {}

    def length(n):
        if n not in memo:
            after = [length(m) for m, s in scenarios.items() if n in s.needs]
            memo[n] = scenarios[n].est + max(after, default=0)
        return memo[n]
    for n in scenarios:
        length(n)
    return memo


def tail(path, lines=40):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:]).replace("\r", "")
    except OSError:
        return ""


def run_one(suite, sc):
    ctx = Ctx(suite, sc)
    os.makedirs(ctx.work, exist_ok=True)
    ctx.t0 = time.time()
    entry = {"result": "passed"}
    try:
        reused = suite.reusable(sc.name)
        if reused:
            suite.layouts.update(reused)
            ctx.record(reused=True)
        else:
            layouts = sc.run(ctx)
            if isinstance(layouts, Layout):
                layouts = {sc.name: layouts}
            if layouts:
                suite.layouts.update(layouts)
                with open(os.path.join(ctx.work, "layouts.json"), "w") as f:
                    json.dump({n: l.to_json() for n, l in layouts.items()}, f, indent=1)
    except Exception as e:  # noqa: BLE001 - any failure of a scenario is its result
        entry = {"result": "failed", "error": f"{type(e).__name__}: {e}"}
        with open(os.path.join(ctx.work, "error.txt"), "w") as f:
            traceback.print_exc(file=f)
        msg = [f"--- {sc.name} FAILED: {type(e).__name__}: {str(e)[:3000]}"]
        for vm in ctx.vms:
            log = getattr(vm, "console_log", None)
            if log:
                msg.append(f"--- console tail of {vm.name} ({log}):\n{tail(log)}")
        suite.say("\n".join(msg))
    finally:
        for vm in ctx.vms:
            vm.kill()
    entry["seconds"] = round(time.time() - ctx.t0, 1)
    # What a scenario recorded never overrides the runner's verdict or timing.
    return {**ctx.fields, **entry}


def schedule(suite, scenarios, names):
    chain = chain_lengths({n: scenarios[n] for n in names})
    pending = set(names)
    running = {}
    done = suite.cv
    finished = []

    def worker(sc):
        entry = run_one(suite, sc)
        with done:
            finished.append((sc, entry))
            done.notify_all()

    t_start = time.time()
    while pending or running:
        with done:
            for sc, entry in finished:
                del running[sc.name]
                del suite.holding[sc.name]
                suite.results[sc.name] = entry
                suite.say(f"== {sc.name}: {entry['result'].upper()} in {entry['seconds']:.0f} s"
                          f" (suite at {time.time() - t_start:.0f} s)")
            finished.clear()
        # Dependants of a failure fail, named as such.
        for n in sorted(pending):
            bad = [m for m in scenarios[n].needs
                   if suite.results.get(m, {}).get("result") == "failed"]
            if bad:
                pending.discard(n)
                suite.results[n] = {"result": "failed", "seconds": 0,
                                    "error": f"needs {', '.join(bad)}, which failed"}
                suite.say(f"== {n}: FAILED (needs {', '.join(bad)}, which failed)")
        ready = [n for n in pending
                 if all(suite.results.get(m, {}).get("result") == "passed"
                        for m in scenarios[n].needs)]
        ready.sort(key=lambda n: -chain[n])
        for n in ready:
            sc = scenarios[n]
            with done:
                used = sum(suite.holding.values())
                # A scenario wider than the machine still runs, alone.
                if used + sc.vms > suite.jobs and used > 0:
                    continue
                suite.holding[n] = sc.vms
            pending.discard(n)
            running[n] = sc
            suite.say(f"-> {n} (needs: {', '.join(sc.needs) or '-'})")
            threading.Thread(target=worker, args=(sc,), daemon=True).start()
        if not running and pending and not ready:
            for n in pending:
                suite.results[n] = {"result": "failed", "seconds": 0, "error": "never ready"}
            break
        with done:
            if not finished:
                done.wait(5)
    return time.time() - t_start


def prepare_answers(suite):
    """The answers with DRBD secrets filled in, made fresh for each run (never committed).
    With --reuse the previous run's are kept: a reused install holds their secret, and a
    node installed now must share it."""
    os.makedirs(suite.answers, exist_ok=True)
    for src in sorted(glob.glob(os.path.join(HERE, "answers", "*.toml"))):
        dst = os.path.join(suite.answers, os.path.basename(src))
        if os.path.exists(dst) and suite.reuse:
            continue
        if os.path.exists(dst):
            os.unlink(dst)
        subprocess.run([suite.tandem, "prepare", "--answer", src, "-o", dst], check=True,
                       stdout=subprocess.DEVNULL)
        os.chmod(dst, 0o600)


# Files that hold secrets by design (answer files, 0600; rendered trees with DRBD's .res)
# and disk images are not logs; everything else the suite leaves is scanned.
NOT_LOGS = (".toml", ".qcow2", ".raw", ".img", ".fd", ".iso", ".squashfs")
CRYPT_HASH = re.compile(rb"\$(?:1|2[aby]|5|6|y|gy|7)\$[./A-Za-z0-9$]{8,}")


def secrets_of(suite):
    """The secrets a log must never show: the test password, and every DRBD secret and
    root password hash of the prepared answers."""
    out = {"the root password": [tvm.TEST_PASSWORD.encode()]}
    for path in glob.glob(os.path.join(suite.answers, "*.toml")):
        with open(path, "rb") as f:
            doc = tomllib.load(f)
        nodes = [doc] + [n.get("override", {}) for n in doc.get("cluster", {}).get("nodes", [])]
        for d in nodes:
            h = d.get("system", {}).get("root-password-hash")
            if h:
                out.setdefault("a root password hash", []).append(h.encode())
            for r in d.get("drbd", {}).get("resources", []):
                if r.get("secret") and r["secret"] != "generate":
                    out.setdefault("a DRBD secret", []).append(r["secret"].encode())
    return out


def secret_scan(suite):
    """Every console, install and HTTP log and results file of the run, scanned for the
    secrets and for anything shaped like a crypt(3) hash. Returns the hits as
    "file:line: what" (never the secret itself)."""
    secrets = secrets_of(suite)
    hits, scanned = [], 0
    for root, dirs, files in os.walk(suite.out):
        # tftp/: the fleet's TFTP root holds boot binaries served as-is (MokManager has
        # a string shaped like a crypt hash), not logs.
        dirs[:] = [d for d in dirs
                   if d not in ("answers", "tftp") and not d.startswith("render")]
        for name in files:
            path = os.path.join(root, name)
            # QEMU's console sockets live beside the logs; only regular files hold text
            if (name.endswith(NOT_LOGS) or not os.path.isfile(path)
                    or os.path.getsize(path) > 64 << 20):
                continue
            with open(path, "rb") as f:
                data = f.read()
            scanned += 1
            for n, line in enumerate(data.split(b"\n"), 1):
                found = [what for what, vals in secrets.items() if any(v in line for v in vals)]
                if CRYPT_HASH.search(line) and "a root password hash" not in found:
                    found.append("a crypt(3) hash")
                hits += [f"{os.path.relpath(path, suite.out)}:{n}: {what}" for what in found]
    return scanned, hits


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iso", default="build/image/tandem.iso")
    ap.add_argument("--pxe", default="build/image/pxe")
    ap.add_argument("--out", default="build/e2e")
    ap.add_argument("--tandem", default="target/x86_64-unknown-linux-gnu/release/tandem")
    ap.add_argument("--tandem-image", default="target/release/tandem-image",
                    help="builds the newer tandem package replace-alpha upgrades to")
    ap.add_argument("--only", action="append", default=[])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--reuse", action="append", default=[], metavar="INSTALL",
                    help="take INSTALL's layout from a previous run in --out (development)")
    a = ap.parse_args()
    scenarios = discover()
    if a.list:
        for n, sc in scenarios.items():
            print(f"{n:20} needs {', '.join(sc.needs) or '-':30} ({sc.module})")
        return 0
    names = set()
    for o in a.only or scenarios:
        if o not in scenarios:
            raise SystemExit(f"no scenario {o}; --list shows them")
        names |= closure(scenarios, o)
    suite = Suite(a)
    os.makedirs(suite.out, exist_ok=True)
    for f in (suite.iso, suite.tandem):
        if not os.path.exists(f):
            raise SystemExit(f"missing {f}")
    prepare_answers(suite)
    # Interrupted (Ctrl-C, make killed): no QEMU outlives the suite.
    def stop(signum, _frame):
        for vm in suite.all_vms:
            vm.kill()
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"== e2e: {len(names)} scenarios, {a.jobs} VMs at a time, logs under {suite.out}/",
          flush=True)
    wall = schedule(suite, scenarios, names)
    failed = sorted(n for n, r in suite.results.items() if r["result"] != "passed")
    report = {"wall-seconds": round(wall, 1), "scenarios": suite.results}
    with open(os.path.join(suite.out, "results.json"), "w") as f:
        json.dump(report, f, indent=2)
    scanned, hits = secret_scan(suite)
    print(f"== e2e secret scan: {scanned} logs and results, {len(hits)} secrets found")
    for h in hits[:40]:
        print(f"   {h}")
    print(f"== e2e summary (wall {wall:.0f} s, {suite.out}/results.json):")
    for n in sorted(suite.results, key=lambda n: suite.results[n].get("seconds", 0)):
        r = suite.results[n]
        print(f"   {n:22} {r['result']:7} {r.get('seconds', 0):6.0f} s"
              + (f"   {r['error'][:120]}" if r.get("error") else ""))
    if hits:
        failed.append("secret-scan")
    if failed:
        print(f"== e2e: FAILED: {', '.join(failed)}")
        return 1
    print("== e2e: all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
