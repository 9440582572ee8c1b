//! `tandem drbd-start` / `tandem drbd-stop`: the installed node's DRBD resources at every
//! boot, run by tandem-drbd.service in place of drbd-utils' own drbd.service.
//!
//! Every boot: the kernel's DRBD module is checked against drbd-utils (the seed lost time
//! to a mismatch), each resource is brought up (`drbdadm adjust`), the peer is waited for,
//! the node becomes Primary (both nodes when dual-primary; else the first node of the
//! cluster), and the LVM volume group on the DRBD device is made visible.
//!
//! First boot only, decided by state, never by a flag alone:
//! - Metadata: `drbdadm create-md` only on a backing volume the installer created empty
//!   (the installer leaves `<STATE_DIR>/<res>.new`), only when it has no DRBD metadata.
//!   A backing device without that marker and without metadata may hold data: the node
//!   stops with what to check and the command to run.
//! - The initial full sync is skipped when both backing volumes are brand new: the first
//!   node of the cluster, once both are Connected, Inconsistent/Inconsistent, its own
//!   metadata freshly created by us (marker) and still at DRBD's just-created UUID with no
//!   history, runs `new-current-uuid --clear-bitmap`. DRBD's kernel applies it on the peer
//!   only if the peer's UUID is also just-created. Data that ever existed (an UpToDate
//!   side, a history UUID) is never treated this way: DRBD syncs it as usual.
//! - `pvcreate` + `vgcreate` on the DRBD device, by the first node, when the VG does not
//!   exist and the device carries no signature.
//!
//! Pure functions parse and decide (tested here); `run` does the I/O and logs every command
//! to /var/log/tandem/drbd-start.log and every decision to stdout (the journal).

use crate::contract::drbd::{NodeConfig, ResourceConfig};
use crate::exec::runner::{Cmd, Runner};
use anyhow::{bail, Context, Result};

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const LOG: &str = "/var/log/tandem/drbd-start.log";
/// DRBD's current-UUID value of metadata that `create-md` just wrote (UUID_JUST_CREATED).
pub const UUID_JUST_CREATED: u64 = 4;

/// The kernel module as /proc/drbd shows it: `version: 8.4.11 (api:1/proto:86-101)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelDrbd {
    pub version: String,
    pub api: u32,
}

fn parse_proc_drbd(text: &str) -> Option<KernelDrbd> {
    let line = text.lines().find(|l| l.starts_with("version:"))?;
    let version = line.split_whitespace().nth(1)?.to_string();
    let api = line
        .split("api:")
        .nth(1)?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()?;
    Some(KernelDrbd { version, api })
}

/// One device in /proc/drbd (8.4), from its two lines:
/// ` 0: cs:Connected ro:Primary/Primary ds:UpToDate/UpToDate C r-----` and
/// `    ns:0 nr:0 dw:0 dr:0 al:0 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:0`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ProcDevice {
    pub minor: u32,
    pub cstate: String,
    /// This node's role, then the peer's (`Unknown` while disconnected).
    pub roles: (String, String),
    pub disks: (String, String),
    /// Out of sync, KiB.
    pub oos_kib: u64,
}

impl ProcDevice {
    pub fn healthy(&self) -> bool {
        self.cstate == "Connected"
            && self.disks.0 == "UpToDate"
            && self.disks.1 == "UpToDate"
            && self.oos_kib == 0
    }
}

/// Every configured device in /proc/drbd (an `Unconfigured` minor is left out).
pub fn parse_proc_devices(text: &str) -> Vec<ProcDevice> {
    let mut out: Vec<ProcDevice> = Vec::new();
    for line in text.lines() {
        let t = line.trim_start();
        let field = |k: &str| {
            t.split_whitespace()
                .find_map(|w| w.strip_prefix(k))
                .map(String::from)
        };
        let pair = |v: Option<String>| {
            let v = v.unwrap_or_default();
            let (a, b) = v.split_once('/').unwrap_or((v.as_str(), ""));
            (a.to_string(), b.to_string())
        };
        if let Some((minor, _)) = t.split_once(": cs:") {
            let Ok(minor) = minor.parse() else { continue };
            let Some(cstate) = field("cs:") else { continue };
            if cstate == "Unconfigured" {
                continue;
            }
            out.push(ProcDevice {
                minor,
                cstate,
                roles: pair(field("ro:")),
                disks: pair(field("ds:")),
                oos_kib: 0,
            });
        } else if let (Some(dev), Some(oos)) = (out.last_mut(), field("oos:")) {
            dev.oos_kib = oos.parse().unwrap_or(0);
        }
    }
    out
}

/// drbd-utils as `drbdadm --version` reports it (KEY=value lines). With an 8.4 module
/// loaded, drbd-utils 9's drbdadm hands over to its drbdadm-84, which reports its own API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UtilsDrbd {
    pub version: String,
    pub api: u32,
}

fn parse_drbdadm_version(text: &str) -> Option<UtilsDrbd> {
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{k}=")))
            .map(str::trim)
    };
    Some(UtilsDrbd {
        version: get("DRBDADM_VERSION")?.to_string(),
        api: get("DRBDADM_API_VERSION")?.parse().ok()?,
    })
}

/// Whether drbd-utils can drive the loaded module. `has_84`: drbd-utils ships its 8.4
/// front end (/usr/lib/drbd/drbdadm-84), which drbd-utils 9 hands over to for an 8.4
/// module. Ok is a line for the log; Err the message that stops the unit.
fn check_versions(
    kernel: &KernelDrbd,
    utils: Option<&UtilsDrbd>,
    has_84: bool,
) -> Result<String, String> {
    let kmajor: String = kernel
        .version
        .split('.')
        .take(2)
        .collect::<Vec<_>>()
        .join(".");
    let fix = "install the drbd-utils that matches the kernel (trixie's kernel has DRBD 8.4 in \
               tree; Debian's drbd-utils 9 drives it through /usr/lib/drbd/drbdadm-84), or load \
               the DRBD module that matches drbd-utils";
    if kmajor == "8.4" && !has_84 {
        // drbdadm 9 hands even --version to drbdadm-84, so without it there is no version.
        return Err(format!(
            "the kernel's DRBD module is {} (API {}), but drbd-utils{} has no 8.4 front end \
             (/usr/lib/drbd/drbdadm-84 is missing); {fix}",
            kernel.version,
            kernel.api,
            utils.map(|u| format!(" {}", u.version)).unwrap_or_default()
        ));
    }
    let Some(utils) = utils else {
        return Err(format!(
            "the kernel's DRBD module is {} (API {}), but `drbdadm --version` reports no \
             version: drbd-utils is missing or broken; {fix}",
            kernel.version, kernel.api
        ));
    };
    if kernel.api != utils.api {
        return Err(format!(
            "the kernel's DRBD module is {} (API {}), but drbdadm {} speaks API {}: they \
             cannot work together (commands fail with confusing errors); {fix}",
            kernel.version, kernel.api, utils.version, utils.api
        ));
    }
    Ok(format!(
        "kernel DRBD module {} (API {}) and drbdadm {} (API {}) match",
        kernel.version, kernel.api, utils.version, utils.api
    ))
}

/// The generation identifiers of DRBD 8.4 metadata (`drbdadm get-gi`):
/// `CURRENT:BITMAP:HISTORY1:HISTORY2:flags…`, hex UUIDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gi {
    pub current: u64,
    pub bitmap: u64,
    pub history: [u64; 2],
}

fn parse_gi(text: &str) -> Option<Gi> {
    let line = text.lines().map(str::trim).find(|l| l.contains(':'))?;
    let f: Vec<&str> = line.split(':').collect();
    let hex = |i: usize| u64::from_str_radix(f.get(i)?, 16).ok();
    Some(Gi {
        current: hex(0)?,
        bitmap: hex(1)?,
        history: [hex(2)?, hex(3)?],
    })
}

impl Gi {
    /// Metadata as `create-md` leaves it: DRBD has never seen data on this device.
    fn just_created(&self) -> bool {
        self.current & !1 == UUID_JUST_CREATED && self.bitmap == 0 && self.history == [0, 0]
    }
}

/// The state of a resource as drbdadm reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResState {
    /// `drbdadm cstate`: Connected, WFConnection, StandAlone, SyncSource, …
    pub cstate: String,
    /// `drbdadm dstate`: local/peer, e.g. UpToDate/UpToDate, Inconsistent/DUnknown.
    pub local_disk: String,
    pub peer_disk: String,
    /// `drbdadm role`: local/peer.
    pub role: String,
}

impl ResState {
    pub fn parse(cstate: &str, dstate: &str, role: &str) -> Self {
        let (l, p) = dstate.trim().split_once('/').unwrap_or((dstate.trim(), ""));
        let r = role.trim().split('/').next().unwrap_or("").to_string();
        ResState {
            cstate: cstate.trim().to_string(),
            local_disk: l.to_string(),
            peer_disk: p.to_string(),
            role: r,
        }
    }
    fn connected(&self) -> bool {
        // Any state past the handshake: Connected, or syncing/verifying with the peer.
        matches!(
            self.cstate.as_str(),
            "Connected"
                | "SyncSource"
                | "SyncTarget"
                | "PausedSyncS"
                | "PausedSyncT"
                | "VerifyS"
                | "VerifyT"
                | "WFBitMapS"
                | "WFBitMapT"
                | "WFSyncUUID"
                | "StartingSyncS"
                | "StartingSyncT"
        )
    }
    fn both_up_to_date(&self) -> bool {
        self.local_disk == "UpToDate" && self.peer_disk == "UpToDate"
    }
}

/// What to do about a connected pair whose disks are both Inconsistent: the only state in
/// which DRBD waits for someone to choose, since neither side has good data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitialSync {
    /// Both are brand new and this node is the first: new current UUID, cleared bitmap.
    SkipHere,
    /// Both are brand new; the first node does it: wait.
    PeerSkips,
    /// Not provably brand new: an operator chooses the source (message says how).
    Operator(String),
}

/// `fresh`: this node's metadata was created by `drbd-start` on a volume the installer
/// made empty (marker). `gi`: this node's generation identifiers.
/// The other node only needs its own marker: the first node may already have sent the new
/// UUID (so this node's identifiers are no longer just-created by the time it looks: a race
/// seen in the QEMU pair), and DRBD's kernel accepts the skip here only if this node's
/// metadata was just-created when it arrived.
fn initial_sync(r: &ResourceConfig, me: &str, fresh: bool, gi: Option<Gi>) -> InitialSync {
    if r.first_node == me && fresh && gi.is_some_and(|g| g.just_created()) {
        InitialSync::SkipHere
    } else if r.first_node != me && fresh {
        InitialSync::PeerSkips
    } else {
        InitialSync::Operator(format!(
            "{}: both nodes are Inconsistent and this node's disk is not provably brand new \
             (no installer marker, or DRBD metadata with history), so no side may be declared \
             good automatically. On the node whose data is good run `drbdadm primary --force \
             {}`: DRBD then syncs the other node from it (docs/operations.md)",
            r.name, r.name
        ))
    }
}

/// `drbd-start` with its effects: a command runner, a clock and the state directory.
struct Ctx {
    runner: Runner,
    state_dir: PathBuf,
}

impl Ctx {
    fn say(&mut self, line: &str) {
        println!("{line}");
        self.runner.note(line);
    }
    fn run(&mut self, c: Cmd) -> Result<String> {
        Ok(self.runner.run(&c)?.stdout)
    }
    /// (exit status, stdout + stderr)
    fn probe(&mut self, c: Cmd) -> Result<(i32, String)> {
        let o = self.runner.run_status(&c)?;
        Ok((o.status, format!("{}{}", o.stdout, o.stderr)))
    }
    fn marker(&self, res: &str, kind: &str) -> PathBuf {
        self.state_dir.join(format!("{res}.{kind}"))
    }
    /// The resource's state. Not logged: a first boot waits for its peer as long as it
    /// takes, and three lines a second would fill the disk; `wait` notes progress instead.
    fn state(&mut self, r: &str) -> Result<ResState> {
        let mut quiet = Runner::unlogged();
        let mut ask = |what: &str| -> Result<String> {
            let o = quiet.run_status(&drbdadm([what, r]))?;
            Ok(format!("{}{}", o.stdout, o.stderr))
        };
        let c = ask("cstate")?;
        let d = ask("dstate")?;
        let ro = ask("role")?;
        Ok(ResState::parse(
            c.lines().last().unwrap_or(""),
            d.lines().last().unwrap_or(""),
            ro.lines().last().unwrap_or(""),
        ))
    }
    /// Polls until `done` or the timeout (None: forever), saying where it stands every 30 s.
    fn wait(
        &mut self,
        r: &str,
        what: &str,
        timeout: Option<Duration>,
        done: impl Fn(&ResState) -> bool,
    ) -> Result<(ResState, Duration)> {
        let start = Instant::now();
        let mut last_said = Instant::now();
        loop {
            let s = self.state(r)?;
            if done(&s) {
                return Ok((s, start.elapsed()));
            }
            if timeout.is_some_and(|t| start.elapsed() >= t) {
                return Ok((s, start.elapsed()));
            }
            if last_said.elapsed() >= Duration::from_secs(30) {
                self.say(&format!(
                    "{r}: waiting for {what} ({:.0} s): {} {}/{} {}",
                    start.elapsed().as_secs_f64(),
                    s.cstate,
                    s.local_disk,
                    s.peer_disk,
                    s.role
                ));
                last_said = Instant::now();
            }
            // Each poll is three processes: quick at first (a connect takes seconds),
            // then gentler on a node that waits long.
            let pause = if start.elapsed() < Duration::from_secs(60) {
                500
            } else {
                2000
            };
            std::thread::sleep(Duration::from_millis(pause));
        }
    }
}

/// How long drbd-start waits for its replication address (bonds, VLANs and bridges are
/// still coming up at boot, and more slowly on a loaded host) before drbdadm is left to
/// say what is missing.
const ADDRESS_TIMEOUT: Duration = Duration::from_secs(120);

/// Whether `ip -o addr show` lists `addr` as one of this host's addresses.
fn has_address(ip_o_addr: &str, addr: &str) -> bool {
    ip_o_addr.lines().any(|l| {
        let mut f = l.split_whitespace();
        // "2: vmbr370    inet 10.37.0.2/24 brd … scope global vmbr370"
        while let Some(w) = f.next() {
            if w == "inet" || w == "inet6" {
                return f
                    .next()
                    .and_then(|cidr| cidr.split('/').next())
                    .is_some_and(|a| a == addr);
            }
        }
        false
    })
}

fn wait_for_address(cx: &mut Ctx, res: &str, addr: &str, timeout: Duration) -> Result<()> {
    let start = Instant::now();
    let mut quiet = Runner::unlogged();
    loop {
        let o = quiet.run_status(&Cmd::new("ip").args(["-o", "addr", "show"]))?;
        if has_address(&o.stdout, addr) {
            if start.elapsed() >= Duration::from_secs(1) {
                cx.say(&format!(
                    "{res}: replication address {addr} up after {:.1} s",
                    start.elapsed().as_secs_f64()
                ));
            }
            return Ok(());
        }
        if start.elapsed() >= timeout {
            cx.say(&format!(
                "{res}: replication address {addr} is on no interface after {} s; \
                 trying anyway (check the network: ip -br addr)",
                timeout.as_secs()
            ));
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn drbdadm<const N: usize>(a: [&str; N]) -> Cmd {
    Cmd::new("drbdadm").args(a)
}

fn read_config(path: &Path) -> Result<NodeConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// The module/utils check, after loading the module.
fn versions(cx: &mut Ctx) -> Result<()> {
    cx.run(Cmd::new("modprobe").arg("drbd"))
        .context("loading the kernel's DRBD module")?;
    let proc = std::fs::read_to_string("/proc/drbd").context("reading /proc/drbd")?;
    let kernel =
        parse_proc_drbd(&proc).with_context(|| format!("/proc/drbd says no version: {proc:?}"))?;
    let (_, out) = cx.probe(Cmd::new("drbdadm").arg("--version"))?;
    let utils = parse_drbdadm_version(&out);
    let has_84 = Path::new("/usr/lib/drbd/drbdadm-84").exists();
    match check_versions(&kernel, utils.as_ref(), has_84) {
        Ok(line) => {
            cx.say(&line);
            Ok(())
        }
        Err(e) => bail!("{e}"),
    }
}

/// Brings one resource up and settles it; see the module comment for the order.
fn start_one(cx: &mut Ctx, me: &str, r: &ResourceConfig) -> Result<()> {
    let name = r.name.as_str();
    let new_marker = cx.marker(name, "new");
    let created_marker = cx.marker(name, "created");
    let attached = {
        let (st, out) = cx.probe(drbdadm(["dstate", name]))?;
        st == 0 && !out.contains("Diskless") && !out.contains("Unconfigured")
    };
    if !attached {
        let (st, out) = cx.probe(drbdadm(["get-gi", name]))?;
        let has_md = st == 0 && parse_gi(&out).is_some();
        if !has_md {
            if !new_marker.exists() {
                bail!(
                    "{name}: {} has no DRBD metadata and was not created empty by the installer \
                     ({} is missing), so it may hold data that create-md would damage (internal \
                     metadata lives at its end). Check it, then run `drbdadm create-md {name}` \
                     and start tandem-drbd.service again",
                    r.disk,
                    new_marker.display()
                );
            }
            cx.say(&format!(
                "{name}: creating DRBD metadata on {} (created empty by the installer)",
                r.disk
            ));
            // --force: no questions; the marker proves the volume was made empty for this.
            cx.run(drbdadm(["--force", "create-md", name]))?;
            std::fs::write(
                &created_marker,
                format!(
                    "create-md on {} by tandem drbd-start at {}\n",
                    r.disk,
                    crate::exec::runner::timestamp()
                ),
            )
            .with_context(|| format!("writing {}", created_marker.display()))?;
            std::fs::remove_file(&new_marker).ok();
        } else if new_marker.exists() {
            // Metadata already there (an earlier boot created it and died before noting
            // it): it is ours only if it is still untouched.
            if parse_gi(&out).is_some_and(|g| g.just_created()) {
                std::fs::rename(&new_marker, &created_marker).ok();
            } else {
                std::fs::remove_file(&new_marker).ok();
            }
        }
    }
    if let Some(a) = &r.address {
        wait_for_address(cx, name, a, ADDRESS_TIMEOUT)?;
    }
    cx.run(drbdadm(["adjust", name]))?;
    let fresh = created_marker.exists();
    // First boot waits for the peer however long it takes: alone, a brand-new disk has
    // nothing to serve. Later boots wait the answer's wfc-timeout, then go on degraded.
    let timeout = match (fresh, r.wfc_timeout) {
        (true, _) | (false, Some(0)) => None,
        (false, t) => Some(Duration::from_secs(u64::from(t.unwrap_or(15)))),
    };
    cx.say(&format!("{name}: waiting for peer {}", r.peer));
    let (s, waited) = cx.wait(name, "the peer to connect", timeout, ResState::connected)?;
    let connected_at = Instant::now();
    if s.connected() {
        cx.say(&format!(
            "{name}: connected to {} after {:.1} s: {}/{}",
            r.peer,
            waited.as_secs_f64(),
            s.local_disk,
            s.peer_disk
        ));
    } else {
        cx.say(&format!(
            "{name}: peer {} not connected after {:.0} s; going on without it ({} {}/{})",
            r.peer,
            waited.as_secs_f64(),
            s.cstate,
            s.local_disk,
            s.peer_disk
        ));
    }
    if s.cstate == "Connected" && s.local_disk == "Inconsistent" && s.peer_disk == "Inconsistent" {
        let (_, out) = cx.probe(drbdadm(["get-gi", name]))?;
        match initial_sync(r, me, fresh, parse_gi(&out)) {
            InitialSync::SkipHere => {
                cx.say(&format!(
                    "{name}: both backing devices are brand new: skipping the initial full sync \
                     (new current UUID, cleared bitmap)"
                ));
                cx.run(Cmd::new("drbdadm").args([
                    "--",
                    "--clear-bitmap",
                    "new-current-uuid",
                    name,
                ]))?;
                let (s, _) = cx.wait(
                    name,
                    "UpToDate/UpToDate",
                    Some(Duration::from_secs(120)),
                    ResState::both_up_to_date,
                )?;
                if !s.both_up_to_date() {
                    bail!(
                        "{name}: initial sync skip did not give UpToDate/UpToDate: {} {}/{}",
                        s.cstate,
                        s.local_disk,
                        s.peer_disk
                    );
                }
                cx.say(&format!(
                    "DRBD-INITIAL-SYNC-SKIPPED {name} {:.1} s from connect to UpToDate/UpToDate",
                    connected_at.elapsed().as_secs_f64()
                ));
            }
            InitialSync::PeerSkips => {
                cx.say(&format!(
                    "{name}: both backing devices are brand new; {} skips the initial sync",
                    r.first_node
                ));
            }
            InitialSync::Operator(msg) => bail!("{msg}"),
        }
    }
    // A brand-new pair waits for the skip (or a sync) to make this side UpToDate; primary
    // on an Inconsistent disk is refused by DRBD anyway.
    let (s, _) = if fresh {
        cx.wait(
            name,
            "UpToDate",
            Some(Duration::from_secs(600)),
            |s: &ResState| s.local_disk == "UpToDate",
        )?
    } else {
        (cx.state(name)?, Duration::ZERO)
    };
    if s.both_up_to_date() {
        std::fs::remove_file(&created_marker).ok();
    }
    let want_primary = r.dual_primary || r.first_node == me;
    if want_primary && s.role != "Primary" {
        // DRBD promotes a node with good data locally or, connected, at its peer (a
        // SyncTarget reads what it still lacks from the peer).
        if s.local_disk == "UpToDate" || (s.connected() && s.peer_disk == "UpToDate") {
            cx.run(drbdadm(["primary", name]))?;
            cx.say(&format!("{name}: Primary"));
        } else {
            cx.say(&format!(
                "{name}: not promoting: local disk {}, peer disk {} (DRBD promotes only with \
                 good data on one side; once the peer is back or a resync completes, restart \
                 tandem-drbd.service)",
                s.local_disk, s.peer_disk
            ));
        }
    }
    if let Some(vg) = &r.lvm_vg {
        lvm(cx, me, r, vg)?;
    }
    let s = cx.state(name)?;
    cx.say(&format!(
        "DRBD-STATE {name} {} {}/{} {}",
        s.cstate, s.local_disk, s.peer_disk, s.role
    ));
    Ok(())
}

/// The VG on the DRBD device: made once by the first node, found by the other.
fn lvm(cx: &mut Ctx, me: &str, r: &ResourceConfig, vg: &str) -> Result<()> {
    let name = &r.name;
    let exists = |cx: &mut Ctx| -> Result<bool> {
        Ok(cx
            .probe(Cmd::new("vgs").args(["--noheadings", "-o", "vg_name", vg]))?
            .0
            == 0)
    };
    if exists(cx)? {
        cx.say(&format!("{name}: volume group {vg} is on {}", r.device));
        return Ok(());
    }
    let role = cx.state(name)?.role;
    if r.first_node == me && role == "Primary" {
        // Only onto a blank device: a signature means someone put something there.
        let (st, out) = cx.probe(Cmd::new("blkid").args(["-p", &r.device]))?;
        if st == 0 {
            bail!(
                "{name}: volume group {vg} does not exist but {} is not blank ({}); not \
                 touching it",
                r.device,
                out.trim()
            );
        }
        cx.run(Cmd::new("pvcreate").arg(&r.device))?;
        cx.run(Cmd::new("vgcreate").args([vg, &r.device]))?;
        cx.say(&format!(
            "{name}: created volume group {vg} on {}",
            r.device
        ));
    } else if role == "Primary" {
        // The first node makes it; its metadata reaches us through DRBD.
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(300) {
            if exists(cx)? {
                cx.say(&format!(
                    "{name}: volume group {vg} (made by {}) is visible",
                    r.first_node
                ));
                return Ok(());
            }
            std::thread::sleep(Duration::from_secs(2));
        }
        cx.say(&format!(
            "{name}: volume group {vg} not visible after 300 s; {} makes it on first boot",
            r.first_node
        ));
    }
    Ok(())
}

pub fn start(config: &Path, state_dir: &Path, log: &Path) -> Result<()> {
    let cfg = read_config(config)?;
    std::fs::create_dir_all(state_dir)
        .with_context(|| format!("creating {}", state_dir.display()))?;
    let runner = Runner::with_log(log).with_context(|| format!("opening {}", log.display()))?;
    let mut cx = Ctx {
        runner,
        state_dir: state_dir.to_path_buf(),
    };
    cx.say(&format!(
        "tandem drbd-start on {}: {} resource(s); log {}",
        cfg.node,
        cfg.resources.len(),
        log.display()
    ));
    versions(&mut cx)?;
    let mut failed = Vec::new();
    for r in &cfg.resources {
        if let Err(e) = start_one(&mut cx, &cfg.node, r) {
            cx.say(&format!("ERROR {e:#}"));
            failed.push(r.name.clone());
        }
    }
    if !failed.is_empty() {
        bail!("resource(s) not started: {}", failed.join(", "));
    }
    Ok(())
}

/// At shutdown: the VGs on DRBD devices deactivated, the resources down, so the peer sees a
/// clean disconnect instead of a timeout.
pub fn stop(config: &Path, log: &Path) -> Result<()> {
    let cfg = read_config(config)?;
    let mut runner = Runner::with_log(log).with_context(|| format!("opening {}", log.display()))?;
    for r in &cfg.resources {
        if let Some(vg) = &r.lvm_vg {
            let _ = runner.run_status(&Cmd::new("vgchange").args(["--activate", "n", vg]));
        }
        let o = runner.run_status(&drbdadm(["down", &r.name]))?;
        println!("{}: down (exit {})", r.name, o.status);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_drbd_devices() {
        let text = "version: 8.4.11 (api:1/proto:86-101)\nsrcversion: 211FB288A383ED945B83420\n \
                    0: cs:SyncSource ro:Primary/Primary ds:UpToDate/Inconsistent C r-----\n    \
                    ns:1024 nr:0 dw:0 dr:2048 al:0 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:524288\n\
                    \t[==>.................] sync'ed: 12.5% (512/576)M\n 1: cs:Unconfigured\n";
        let d = parse_proc_devices(text);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].minor, 0);
        assert_eq!(d[0].cstate, "SyncSource");
        assert_eq!(d[0].roles, ("Primary".into(), "Primary".into()));
        assert_eq!(d[0].disks, ("UpToDate".into(), "Inconsistent".into()));
        assert_eq!(d[0].oos_kib, 524288);
        assert!(!d[0].healthy());
    }

    #[test]
    fn parses_proc_drbd_and_versions() {
        let k = parse_proc_drbd(
            "version: 8.4.11 (api:1/proto:86-101)\nsrcversion: 211FB288A383ED945B83420 \n",
        )
        .unwrap();
        assert_eq!(
            k,
            KernelDrbd {
                version: "8.4.11".into(),
                api: 1
            }
        );
        assert!(parse_proc_drbd("nothing\n").is_none());
        let u = parse_drbdadm_version(
            "DRBDADM_BUILDTAG=GIT-hash:\\ x\nDRBDADM_API_VERSION=1\nDRBD_KERNEL_VERSION_CODE=0x08040b\nDRBDADM_VERSION_CODE=0x091600\nDRBDADM_VERSION=9.22.0\n",
        )
        .unwrap();
        assert_eq!(
            u,
            UtilsDrbd {
                version: "9.22.0".into(),
                api: 1
            }
        );
        assert!(check_versions(&k, Some(&u), true).is_ok());
        let e = check_versions(&k, Some(&u), false).unwrap_err();
        assert!(e.contains("drbdadm-84 is missing"), "{e}");
        let nine = UtilsDrbd {
            version: "9.22.0".into(),
            api: 2,
        };
        let e = check_versions(&k, Some(&nine), true).unwrap_err();
        assert!(e.contains("API 1") && e.contains("API 2"), "{e}");
        let k9 = KernelDrbd {
            version: "9.2.12".into(),
            api: 2,
        };
        assert!(check_versions(&k9, Some(&nine), false).is_ok());
        // What drbd-utils 9 does without drbdadm-84: even --version fails.
        let e = check_versions(&k, None, false).unwrap_err();
        assert!(
            e.contains("8.4.11") && e.contains("drbdadm-84 is missing"),
            "{e}"
        );
        assert!(check_versions(&k9, None, false)
            .unwrap_err()
            .contains("no version"));
    }

    #[test]
    fn generation_identifiers() {
        let g = parse_gi(
            "0000000000000004:0000000000000000:0000000000000000:0000000000000000:0:0:0:0:0:0:0\n",
        )
        .unwrap();
        assert!(g.just_created());
        let used = parse_gi(
            "5A3B1C0D2E4F6071:0000000000000000:0000000000000004:0000000000000000:1:1:1:1:0:0:0",
        )
        .unwrap();
        assert!(!used.just_created());
        assert!(parse_gi("No valid meta data found\n").is_none());
    }

    fn res(first: &str) -> ResourceConfig {
        ResourceConfig {
            name: "r0".into(),
            device: "/dev/drbd0".into(),
            disk: "/dev/pve/drbd".into(),
            first_node: first.into(),
            peer: "beta".into(),
            address: Some("10.37.0.1".into()),
            dual_primary: true,
            lvm_vg: Some("drbdvg".into()),
            wfc_timeout: Some(15),
        }
    }

    #[test]
    fn initial_sync_skip_only_for_brand_new_disks() {
        let new = parse_gi("0000000000000004:0:0:0:0:0:0:0:0:0:0");
        let old = parse_gi("5A3B1C0D2E4F6071:0:4:0:1:1:1:1:0:0:0");
        assert_eq!(
            initial_sync(&res("alpha"), "alpha", true, new),
            InitialSync::SkipHere
        );
        assert_eq!(
            initial_sync(&res("alpha"), "beta", true, new),
            InitialSync::PeerSkips
        );
        // The first node's new UUID may already have arrived.
        assert_eq!(
            initial_sync(&res("alpha"), "beta", true, old),
            InitialSync::PeerSkips
        );
        assert!(matches!(
            initial_sync(&res("alpha"), "beta", false, new),
            InitialSync::Operator(_)
        ));
        // No installer marker: the device may hold data.
        assert!(matches!(
            initial_sync(&res("alpha"), "alpha", false, new),
            InitialSync::Operator(_)
        ));
        // Metadata with history: DRBD has seen data here.
        assert!(matches!(
            initial_sync(&res("alpha"), "alpha", true, old),
            InitialSync::Operator(_)
        ));
        assert!(matches!(
            initial_sync(&res("alpha"), "alpha", true, None),
            InitialSync::Operator(_)
        ));
    }

    #[test]
    fn address_on_a_link() {
        let out = "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever\n\
                   5: vmbr370    inet 10.37.0.2/24 brd 10.37.0.255 scope global vmbr370\n\
                   5: vmbr370    inet6 fe80::5054:ff:fe12:3456/64 scope link\n";
        assert!(has_address(out, "10.37.0.2"));
        assert!(has_address(out, "fe80::5054:ff:fe12:3456"));
        assert!(!has_address(out, "10.37.0.20"));
        assert!(!has_address(out, "10.37.0.1"));
        assert!(!has_address("", "10.37.0.2"));
    }

    #[test]
    fn states() {
        let s = ResState::parse("Connected\n", "UpToDate/UpToDate\n", "Primary/Primary\n");
        assert!(s.connected() && s.both_up_to_date());
        assert_eq!(s.role, "Primary");
        let s = ResState::parse("WFConnection", "UpToDate/DUnknown", "Primary/Unknown");
        assert!(!s.connected() && !s.both_up_to_date());
        assert!(
            ResState::parse("SyncSource", "UpToDate/Inconsistent", "Primary/Primary").connected()
        );
    }
}
