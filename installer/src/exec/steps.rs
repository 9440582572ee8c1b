//! The install as data: a pure function of (answer, plan, live inventory, resolved
//! packages) gives the ordered steps — commands for the well-kept tools and a few tasks
//! Tandem does itself. `tandem install --dry-run` prints them; the executor runs them in
//! order and stops at the first failure. Nothing here touches the machine.

use super::medium::BaseImage;
use super::packages::DebToInstall;
use super::runner::Cmd;
use crate::answer::{Answer, Finish};
use crate::hardware::speed::Budget;
use crate::hardware::Inventory;
use crate::plan::{PartRole, Plan};
use crate::render::chroot::POLICY_RC_D;
use crate::render::{self, RenderedFile};
use serde::Serialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// Phases, in the order they run. GRUB goes on the disks last but one: an install that
/// fails before that leaves disks that do not boot, never a half system that looks whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Checks,
    Wipe,
    Partition,
    Raid,
    Volumes,
    System,
    Packages,
    Configure,
    Initramfs,
    Bootloader,
    Finish,
}

impl Phase {
    pub const ALL: [Phase; 11] = [
        Phase::Checks,
        Phase::Wipe,
        Phase::Partition,
        Phase::Raid,
        Phase::Volumes,
        Phase::System,
        Phase::Packages,
        Phase::Configure,
        Phase::Initramfs,
        Phase::Bootloader,
        Phase::Finish,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Checks => "checks",
            Phase::Wipe => "wipe",
            Phase::Partition => "partition",
            Phase::Raid => "raid",
            Phase::Volumes => "volumes",
            Phase::System => "system",
            Phase::Packages => "packages",
            Phase::Configure => "configure",
            Phase::Initramfs => "initramfs",
            Phase::Bootloader => "bootloader",
            Phase::Finish => "finish",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Phase::Checks => "exclusive access and disk checks",
            Phase::Wipe => "wiping the selected disks",
            Phase::Partition => "GPT partitions",
            Phase::Raid => "md RAID arrays",
            Phase::Volumes => "LVM, filesystems, mounts",
            Phase::System => "base system from the medium",
            Phase::Packages => "node packages from the medium",
            Phase::Configure => "configuration files and accounts",
            Phase::Initramfs => "initramfs",
            Phase::Bootloader => "GRUB on every disk",
            Phase::Finish => "finishing",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How long a device node may take to appear after `udevadm settle` returned.
pub const NODE_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Work Tandem does itself between commands.
#[derive(Debug, Clone)]
pub enum Task {
    /// Re-read the live state: none of the disks may be mounted, swap, held or the medium.
    ExclusiveAccess { disks: Vec<String> },
    /// Stop md arrays and deactivate VGs that live only on these disks; refuse one that
    /// also spans another disk.
    StopOldStacks { disks: Vec<String> },
    /// Re-check what is on the disks now against the answer's wipe policy.
    WipePolicy { disks: Vec<String> },
    /// Read and write speed of each selected disk, once it is erased and before it is
    /// partitioned (the seed's `hdparm -t` and `dd oflag=dsync`): shown, logged, in the
    /// result, and a disk much slower than its peers is pointed out.
    DiskSpeed { disks: Vec<String> },
    /// The device nodes the next steps open, once udev has made them: an array's
    /// /dev/md/<name>, an LV's /dev/<vg>/<lv>, a partition after the table is re-read.
    /// Under load udev lags the command that asked for the node (`mdadm --action=frozen`
    /// once found no /dev/md/boot 9 s after `mdadm --create` returned).
    WaitForNodes { nodes: Vec<String> },
    /// A disk's GPT and protective MBR, then the kernel re-reads it (see [`super::gpt`]).
    PartitionTable(super::gpt::Table),
    /// Read /proc/mdstat back and show it.
    ShowMdstat,
    /// The target's mdadm.conf on the live system too: udev then names the new arrays
    /// /dev/md/<role> although their home host is the target's, not the live system's.
    LiveMdadmConf(String),
    /// Write a file into the target (path is the target's, absolute).
    Write(RenderedFile),
    /// Copy (or download) the .debs into the target and check each against the medium's
    /// index.
    VerifyDebs { debs: Vec<DebToInstall> },
    /// Download the base image from the HTTP medium to `dest` (target-relative), on the
    /// target's disks: the live system's RAM is too small for it.
    FetchBase {
        url: String,
        size: u64,
        dest: String,
    },
    /// A `[first-boot]` hook's script: read or fetched, checked (`#!`, size, no NUL, the
    /// answer's sha256) and stored 0700 under the target's first-boot directory.
    FirstBootHook {
        name: String,
        from: HookFrom,
        sha256: Option<String>,
    },
    /// Mirror the first ESP onto the others (`tandem esp-sync`'s logic).
    EspSync,
    /// One UEFI boot entry per disk, when the installer itself runs in UEFI mode.
    EfiBootEntries,
    /// install.log and phases.json into the target.
    SaveLogs,
    /// The node's files appended to the base image's initramfs, or `full` when a package
    /// asked for a rebuild or `always_full` (see [`super::initramfs`]).
    Initramfs {
        files: Vec<(String, String)>,
        full: Cmd,
        always_full: bool,
    },
}

/// Where a hook's script is read from at install time.
#[derive(Clone)]
pub enum HookFrom {
    Inline(String),
    /// A file on the mounted medium.
    Path(PathBuf),
    /// The answer's url, or a file on an HTTP medium.
    Url(String),
}

/// Never the script itself: it may carry an enrollment token.
impl fmt::Debug for HookFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for HookFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HookFrom::Inline(s) => write!(f, "the answer's script ({} bytes)", s.len()),
            HookFrom::Path(p) => write!(f, "{}", p.display()),
            HookFrom::Url(u) => f.write_str(u),
        }
    }
}

impl HookFrom {
    /// `file` is relative to the medium's tandem/ directory, where the base image lies.
    fn resolve(src: crate::answer::HookSource, base: &BaseImage) -> Self {
        use crate::answer::HookSource;
        match (src, base) {
            (HookSource::Inline(s), _) => HookFrom::Inline(s),
            (HookSource::Url(u), _) => HookFrom::Url(u),
            (HookSource::Medium(f), BaseImage::Local(img)) => {
                HookFrom::Path(img.parent().unwrap_or(Path::new("/")).join(f))
            }
            (HookSource::Medium(f), BaseImage::Http { url, .. }) => {
                let dir = url.rsplit_once('/').map(|(d, _)| d).unwrap_or(url);
                HookFrom::Url(format!("{dir}/{f}"))
            }
        }
    }
}

#[derive(Debug, Clone)]
pub enum Action {
    Run(Cmd),
    Tandem(Task),
}

#[derive(Debug, Clone)]
pub struct Step {
    pub phase: Phase,
    pub action: Action,
}

/// Where things are.
#[derive(Debug, Clone)]
pub struct Env {
    /// The new root, e.g. /target.
    pub target: PathBuf,
    /// The base system image: on the medium, or to be downloaded.
    pub base: BaseImage,
    /// `console=` parameters the installer was booted with; the installed system gets the
    /// same consoles (as debian-installer does), so a serial console stays one.
    pub consoles: Vec<String>,
    /// Where the executor makes its own temporary mount points (the other ESPs).
    pub scratch: PathBuf,
}

impl Env {
    pub fn new(target: impl Into<PathBuf>, base: BaseImage) -> Self {
        Env {
            target: target.into(),
            base,
            consoles: vec![],
            scratch: std::env::temp_dir(),
        }
    }

    fn t(&self, p: &str) -> String {
        if p == "/" {
            return self.target.display().to_string();
        }
        self.target
            .join(p.trim_start_matches('/'))
            .display()
            .to_string()
    }
}

/// The target-relative directory the verified .debs are copied to before dpkg reads them.
pub const DEB_DIR: &str = "/var/cache/tandem/debs";
/// update-initramfs is diverted to a stub that records requests while packages are
/// configured; the initramfs is finished once, at the end, with mdadm.conf in place.
const INITRAMFS: &str = "/usr/sbin/update-initramfs";
const INITRAMFS_DIVERTED: &str = "/usr/sbin/update-initramfs.tandem";

fn run(phase: Phase, cmd: Cmd) -> Step {
    Step {
        phase,
        action: Action::Run(cmd),
    }
}

fn task(phase: Phase, t: Task) -> Step {
    Step {
        phase,
        action: Action::Tandem(t),
    }
}

/// Commands run in the target get a non-interactive debconf and dpkg.
fn chroot(env: &Env, program: &str) -> Cmd {
    Cmd::new(program)
        .in_root(&env.target)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .env("DEBCONF_NONINTERACTIVE_SEEN", "true")
        .env("LC_ALL", "C.UTF-8")
}

/// The whole install, in order.
pub fn script(
    answer: &Answer,
    plan: &Plan,
    inv: &Inventory,
    debs: &[DebToInstall],
    files: &[RenderedFile],
    env: &Env,
) -> Vec<Step> {
    let mut v = checks(plan);
    v.extend(storage(plan, inv, env));
    v.extend(system(plan, env));
    v.extend(packages(answer, plan, debs, env));
    v.extend(configure(answer, files, env));
    v.extend(initramfs(files, env));
    v.extend(bootloader(plan, env));
    v.extend(finish(answer, plan, env));
    v
}

fn disk_devs(plan: &Plan) -> Vec<String> {
    plan.storage
        .disks
        .iter()
        .map(|d| d.dev.to_string())
        .collect()
}

pub fn checks(plan: &Plan) -> Vec<Step> {
    let disks = disk_devs(plan);
    vec![
        task(
            Phase::Checks,
            Task::ExclusiveAccess {
                disks: disks.clone(),
            },
        ),
        task(
            Phase::Checks,
            Task::StopOldStacks {
                disks: disks.clone(),
            },
        ),
        task(Phase::Checks, Task::WipePolicy { disks }),
    ]
}

/// Where the write test starts on an erased disk: past the protective MBR and the GPT,
/// inside what partitioning then lays out (and md or mkfs overwrite).
pub const SPEED_WRITE_OFFSET: u64 = 1 << 20;

/// Wipe, partition, arrays, LVM, filesystems, mounts (all but the ESPs, which are mounted
/// after the base image is unpacked: unsquashfs would try to set owners on vfat).
pub fn storage(plan: &Plan, inv: &Inventory, env: &Env) -> Vec<Step> {
    let st = &plan.storage;
    let mut v = Vec::new();
    // Old signatures inside partitions first: once the table is gone they are unreachable,
    // and a new partition at the same offset would bring an old md superblock back.
    for d in &st.disks {
        let old = inv.disk(&d.name).map(|x| x.partitions.as_slice());
        for p in old.unwrap_or_default() {
            v.push(run(
                Phase::Wipe,
                Cmd::new("wipefs").args(["--all", "--force", &format!("/dev/{}", p.name)]),
            ));
        }
        v.push(run(
            Phase::Wipe,
            Cmd::new("wipefs").args(["--all", "--force", &d.dev]),
        ));
        v.push(run(
            Phase::Wipe,
            Cmd::new("sgdisk").args(["--zap-all", &d.dev]),
        ));
    }
    v.push(task(
        Phase::Wipe,
        Task::DiskSpeed {
            disks: disk_devs(plan),
        },
    ));

    for d in &st.disks {
        let sector = inv
            .disk(&d.name)
            .map(|x| u64::from(x.logical_sector.max(512)))
            .unwrap_or(512);
        v.push(task(
            Phase::Partition,
            Task::PartitionTable(super::gpt::Table::planned(d, sector)),
        ));
    }
    v.push(run(
        Phase::Partition,
        Cmd::new("udevadm").args(["settle", "--timeout=60"]),
    ));
    v.push(task(
        Phase::Partition,
        Task::WaitForNodes {
            nodes: st
                .disks
                .iter()
                .flat_map(|d| d.partitions.iter().map(|p| p.dev.to_string()))
                .collect(),
        },
    ));
    // Whatever lies where the new partitions start (an old filesystem at the same offset)
    // must not be mistaken for ours by mdadm or blkid.
    for d in &st.disks {
        for p in &d.partitions {
            v.push(run(
                Phase::Partition,
                Cmd::new("wipefs").args(["--all", "--force", &p.dev]),
            ));
        }
    }

    v.push(task(
        Phase::Raid,
        Task::LiveMdadmConf(render::mdadm::mdadm_conf(plan).content),
    ));
    for a in &st.arrays {
        // mdadm ≥ 4.3 refuses a ':' in --name; it writes <homehost>:<name> itself, which
        // is the plan's md_name that mdadm.conf names the array by.
        let (host, name) = a
            .md_name
            .split_once(':')
            .unwrap_or((&plan.hostname, &a.md_name));
        let mut c = Cmd::new("mdadm").args([
            "--create".to_string(),
            a.dev.to_string(),
            "--run".into(),
            format!("--metadata={}", a.metadata),
            format!("--level={}", a.level.md_level()),
            format!("--raid-devices={}", a.members.len()),
            format!("--uuid={}", a.uuid),
        ]);
        if let Some(ch) = a.chunk {
            c = c.arg(format!("--chunk={}K", ch.0 / 1024));
        }
        if let Some(l) = a.layout {
            c = c.arg(format!("--layout={}", crate::answer::enum_name(&l)));
        }
        c = c
            .arg(format!("--bitmap={}", a.bitmap))
            .arg(format!("--name={name}"))
            .arg(format!("--homehost={host}"))
            .args(a.members.iter().cloned());
        v.push(run(Phase::Raid, c));
        v.push(task(
            Phase::Raid,
            Task::WaitForNodes {
                nodes: vec![a.dev.to_string()],
            },
        ));
        // No resync while we write: it would halve the install's disk bandwidth. The
        // finish phase sets it back to idle, and md resyncs after the first boot.
        v.push(run(
            Phase::Raid,
            Cmd::new("mdadm").args(["--misc", "--action=frozen", &a.dev]),
        ));
        // Same offsets as a previous install: the old PV label or filesystem would show
        // through the new array.
        v.push(run(
            Phase::Raid,
            Cmd::new("wipefs").args(["--all", "--force", &a.dev]),
        ));
    }
    v.push(run(
        Phase::Raid,
        Cmd::new("udevadm").args(["settle", "--timeout=60"]),
    ));
    v.push(task(Phase::Raid, Task::ShowMdstat));

    let vg = &st.lvm;
    v.push(run(
        Phase::Volumes,
        Cmd::new("pvcreate").args(["--force", "--yes", &vg.pv]),
    ));
    v.push(run(
        Phase::Volumes,
        Cmd::new("vgcreate").args([
            "--physicalextentsize".to_string(),
            format!("{}k", vg.extent_bytes / 1024),
            vg.name.clone(),
            vg.pv.to_string(),
        ]),
    ));
    for lv in &vg.volumes {
        v.push(run(
            Phase::Volumes,
            Cmd::new("lvcreate").args([
                "--yes".to_string(),
                "--wipesignatures".into(),
                "y".into(),
                "--zero".into(),
                "y".into(),
                "--name".into(),
                lv.name.clone(),
                "--extents".into(),
                lv.extents.to_string(),
                vg.name.clone(),
            ]),
        ));
    }
    v.push(task(
        Phase::Volumes,
        Task::WaitForNodes {
            nodes: vg.volumes.iter().map(|lv| lv.dev.to_string()).collect(),
        },
    ));
    for fs in &st.filesystems {
        let sector = st.disk_of(&fs.dev).map(|d| d.logical_sector);
        v.push(run(Phase::Volumes, mkfs(fs, sector)));
    }
    for (dev, mp, _) in mounts(plan).into_iter().filter(|(_, _, vfat)| !vfat) {
        v.push(run(
            Phase::Volumes,
            Cmd::new("mount").args(["--mkdir", &dev, &env.t(&mp)]),
        ));
    }
    v
}

/// `sector`: the logical sector size of the disk the filesystem is on, for a partition.
fn mkfs(fs: &crate::plan::PlannedFs, sector: Option<u32>) -> Cmd {
    use crate::plan::FsType;
    let label = |flag: &str| -> Vec<String> {
        fs.label
            .as_ref()
            .map(|l| vec![flag.to_string(), l.clone()])
            .unwrap_or_default()
    };
    match fs.fstype {
        FsType::Swap => Cmd::new("mkswap").args(label("-L")).arg(&fs.dev),
        FsType::Vfat => {
            let mut c = Cmd::new("mkfs.vfat").args(["-F", "32"]);
            // mkfs.fat would ask the device as well; said explicitly, the step shows the
            // sector size the plan checked the ESP's size against (4Kn: ESP_MIN_4KN) and
            // mkfs cannot pick another. 512 (or 0, not known) stays implicit, as every step
            // list had it.
            if let Some(s) = sector.filter(|&s| s > 512) {
                c = c.args(["-S".to_string(), s.to_string()]);
            }
            if let Some(id) = &fs.uuid {
                c = c.args(["-i".to_string(), id.replace('-', "")]);
            }
            c.args(label("-n")).arg(&fs.dev)
        }
        FsType::Xfs => Cmd::new("mkfs.xfs")
            .args(["-f", "-q"])
            .args(label("-L"))
            .arg(&fs.dev),
        other @ (FsType::Ext4 | FsType::Tmpfs) => Cmd::new(format!("mkfs.{other}"))
            .args(["-F", "-q"])
            .args(label("-L"))
            .arg(&fs.dev),
    }
}

/// (device, mount point, is vfat) for every filesystem mounted on the target, parents
/// first (the plan's fstab order). The device is the plan's path, not the fstab spec
/// (an ESP's `UUID=`), so the install mounts exactly what it made.
fn mounts(plan: &Plan) -> Vec<(String, String, bool)> {
    use crate::plan::FsType;
    plan.storage
        .mounts
        .iter()
        .filter_map(|m| {
            let fs = plan
                .storage
                .filesystems
                .iter()
                .find(|f| f.mount.as_deref() == Some(m.mountpoint.as_str()))?;
            Some((
                fs.dev.to_string(),
                m.mountpoint.clone(),
                fs.fstype == FsType::Vfat,
            ))
        })
        .collect()
}

/// Where a downloaded base image waits for unsquashfs (target-relative, on disk).
pub const BASE_DOWNLOAD: &str = "/var/tmp/tandem-base.squashfs";

/// The base image, then the ESP mount and the chroot's kernel file systems.
pub fn system(plan: &Plan, env: &Env) -> Vec<Step> {
    let mut v = vec![];
    let image = match &env.base {
        BaseImage::Local(p) => p.display().to_string(),
        BaseImage::Http { url, size } => {
            v.push(task(
                Phase::System,
                Task::FetchBase {
                    url: url.clone(),
                    size: *size,
                    dest: BASE_DOWNLOAD.into(),
                },
            ));
            env.t(BASE_DOWNLOAD)
        }
    };
    v.push(run(
        Phase::System,
        Cmd::new("unsquashfs").args([
            "-f".to_string(),
            "-no-progress".into(),
            "-d".into(),
            env.target.display().to_string(),
            image.clone(),
        ]),
    ));
    if matches!(env.base, BaseImage::Http { .. }) {
        v.push(run(Phase::System, Cmd::new("rm").args(["-f", &image])));
    }
    for (dev, mp, _) in mounts(plan).into_iter().filter(|(_, _, vfat)| *vfat) {
        v.push(run(
            Phase::System,
            Cmd::new("mount").args(["--mkdir", &dev, &env.t(&mp)]),
        ));
    }
    // /dev for the disks by id (grub-install), /sys for efivars, /run for udev's database.
    for fs in ["/dev", "/sys", "/run"] {
        v.push(run(
            Phase::System,
            Cmd::new("mount").args(["--rbind", fs, &env.t(fs)]),
        ));
        v.push(run(
            Phase::System,
            Cmd::new("mount").args(["--make-rslave", &env.t(fs)]),
        ));
    }
    v.push(run(
        Phase::System,
        Cmd::new("mount").args(["-t", "proc", "proc", &env.t("/proc")]),
    ));
    v.push(task(
        Phase::System,
        Task::Write(render::chroot::policy_rc_d()),
    ));
    v.push(run(
        Phase::System,
        chroot(env, "dpkg-divert").args([
            "--local",
            "--rename",
            "--divert",
            INITRAMFS_DIVERTED,
            "--add",
            INITRAMFS,
        ]),
    ));
    v.push(task(
        Phase::System,
        Task::Write(RenderedFile {
            path: INITRAMFS.into(),
            mode: 0o755,
            content: super::initramfs::stub_script(),
        }),
    ));
    v
}

/// Node packages: checked, then `dpkg --unpack` all and one `dpkg --configure -a`.
pub fn packages(answer: &Answer, plan: &Plan, debs: &[DebToInstall], env: &Env) -> Vec<Step> {
    let mut v = vec![run(
        Phase::Packages,
        chroot(env, "debconf-set-selections").stdin(render::chroot::package_preseed(answer, plan)),
    )];
    if debs.is_empty() {
        return v;
    }
    v.push(task(
        Phase::Packages,
        Task::VerifyDebs {
            debs: debs.to_vec(),
        },
    ));
    let mut unpack = chroot(env, "dpkg").arg("--unpack");
    for d in debs {
        unpack = unpack.arg(format!("{DEB_DIR}/{}", d.file_name()));
    }
    v.push(run(Phase::Packages, unpack));
    v.push(run(
        Phase::Packages,
        chroot(env, "dpkg").args(["--configure", "-a"]),
    ));
    v.push(run(
        Phase::Packages,
        Cmd::new("rm").args(["-rf", &env.t(DEB_DIR)]),
    ));
    v
}

/// Rendered files, root's password, editor, locales, time zone, the installer binary.
pub fn configure(answer: &Answer, files: &[RenderedFile], env: &Env) -> Vec<Step> {
    let sys = &answer.system;
    let mut v: Vec<Step> = files
        .iter()
        .map(|f| task(Phase::Configure, Task::Write(f.clone())))
        .collect();
    if let Some(h) = &sys.root_password_hash {
        // On stdin: never on a command line, never in the log.
        v.push(run(
            Phase::Configure,
            chroot(env, "chpasswd")
                .arg("-e")
                .stdin(format!("root:{h}\n")),
        ));
    }
    if let Some(e) = &sys.editor {
        v.push(run(
            Phase::Configure,
            chroot(env, "update-alternatives").args(["--set", "editor", &format!("/usr/bin/{e}")]),
        ));
    }
    v.push(run(
        Phase::Configure,
        chroot(env, "debconf-set-selections").arg(render::debconf::PATH),
    ));
    v.push(run(
        Phase::Configure,
        chroot(env, "ln").args([
            "-sf",
            &format!("/usr/share/zoneinfo/{}", sys.timezone),
            "/etc/localtime",
        ]),
    ));
    v.push(run(Phase::Configure, chroot(env, "locale-gen")));
    // The base image's console-setup cached the keymap of its own default keyboard. Left
    // stale, every boot's keyboard-setup compiles the answer's layouts with ckbcomp (tens of
    // seconds under emulation, and on the console's critical path); cache them once here.
    v.push(run(
        Phase::Configure,
        chroot(env, "setupcon").args(["--save-only"]),
    ));
    if let Some(f) = render::console::grub_console(&env.consoles) {
        v.push(task(Phase::Configure, Task::Write(f)));
    }
    for f in render::console::serial_console_waits(&env.consoles) {
        v.push(task(Phase::Configure, Task::Write(f)));
    }
    for h in answer.first_boot.iter().flat_map(|f| &f.hook) {
        if let Some(src) = h.source() {
            v.push(task(
                Phase::Configure,
                Task::FirstBootHook {
                    name: h.name.clone(),
                    from: HookFrom::resolve(src, &env.base),
                    sha256: h.sha256.clone(),
                },
            ));
        }
    }
    let units: Vec<String> = render::first_boot::stages(answer)
        .into_iter()
        .map(render::first_boot::unit_name)
        .collect();
    if !units.is_empty() {
        v.push(run(
            Phase::Configure,
            chroot(env, "systemctl").arg("enable").args(units),
        ));
    }
    if files
        .iter()
        .any(|f| f.path == crate::contract::drbd::CONFIG)
    {
        // The tandem package's tandem-drbd.service (enabled by its postinst, idle without
        // this config) brings DRBD up at boot; drbd-utils' own starter would race it.
        v.push(run(
            Phase::Configure,
            chroot(env, "systemctl").args(["disable", "drbd.service"]),
        ));
    }
    v
}

/// The `console=` values of a kernel command line, in order.
pub fn consoles_of(cmdline: &str) -> Vec<String> {
    cmdline
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("console="))
        .map(String::from)
        .collect()
}

/// Back to the real update-initramfs, then the node's files into the base image's
/// initramfs (or one full build, see [`super::initramfs`]).
pub fn initramfs(files: &[RenderedFile], env: &Env) -> Vec<Step> {
    vec![
        run(
            Phase::Initramfs,
            Cmd::new("rm").args(["-f", &env.t(INITRAMFS)]),
        ),
        run(
            Phase::Initramfs,
            chroot(env, "dpkg-divert").args([
                "--local",
                "--rename",
                "--divert",
                INITRAMFS_DIVERTED,
                "--remove",
                INITRAMFS,
            ]),
        ),
        task(
            Phase::Initramfs,
            Task::Initramfs {
                files: super::initramfs::node_files(files),
                full: chroot(env, "update-initramfs").args(["-u", "-k", "all"]),
                always_full: files
                    .iter()
                    .any(|f| super::initramfs::needs_rebuild(&f.path)),
            },
        ),
    ]
}

/// Where grub-install puts the BIOS platform's modules, boot.img and core.img.
const BIOS_GRUB_DIR: &str = "/boot/grub/i386-pc";

/// GRUB onto every disk (BIOS) and every ESP (UEFI), then its menu.
pub fn bootloader(plan: &Plan, env: &Env) -> Vec<Step> {
    let mut v = Vec::new();
    if let Some((first, rest)) = plan.grub.bios.split_first() {
        v.push(run(
            Phase::Bootloader,
            chroot(env, "grub-install").args(["--target=i386-pc", first]),
        ));
        // The core image grub-install built for the first disk serves them all: it finds
        // /boot by the array's UUID, not by the disk it sits on (grub-install on each disk
        // builds a byte-identical core.img). grub-bios-setup embeds it with grub-install's
        // own checks, without copying the modules and building the image again: 1.6-1.9 s
        // a disk instead of 3.5-4 under emulation.
        for disk in rest {
            v.push(run(
                Phase::Bootloader,
                chroot(env, "grub-bios-setup")
                    .args([&format!("--directory={BIOS_GRUB_DIR}"), disk.as_str()]),
            ));
        }
    }
    if !plan.grub.efi.is_empty() {
        // --no-nvram: the boot entries are made per disk below, and only when the
        // installer itself runs under UEFI. --uefi-secure-boot: left to itself, Debian's
        // grub-install goes by how the running system booted, and a node installed from
        // a live system started without Secure Boot would get the unsigned core image and
        // stop booting once Secure Boot is turned on. Pinned, every node gets shim and
        // the signed GRUB (shim-signed and grub-efi-amd64-signed are in the plan's
        // packages whenever UEFI is a target).
        v.push(run(
            Phase::Bootloader,
            chroot(env, "grub-install").args([
                "--target=x86_64-efi",
                "--efi-directory=/boot/efi",
                "--bootloader-id=debian",
                "--uefi-secure-boot",
                "--force-extra-removable",
                "--no-nvram",
            ]),
        ));
        v.push(task(Phase::Bootloader, Task::EspSync));
        v.push(task(Phase::Bootloader, Task::EfiBootEntries));
    }
    v.push(run(Phase::Bootloader, chroot(env, "update-grub")));
    v
}

/// Resync back on, logs saved, everything unmounted, data on disk. The reboot or power-off
/// itself is the caller's, after the summary.
pub fn finish(_answer: &Answer, plan: &Plan, env: &Env) -> Vec<Step> {
    let mut v: Vec<Step> = plan
        .storage
        .arrays
        .iter()
        .map(|a| {
            run(
                Phase::Finish,
                Cmd::new("mdadm").args(["--misc", "--action=idle", &a.dev]),
            )
        })
        .collect();
    v.push(run(
        Phase::Finish,
        Cmd::new("rm").args(["-f", &env.t(POLICY_RC_D)]),
    ));
    v.push(task(Phase::Finish, Task::ShowMdstat));
    v.push(task(Phase::Finish, Task::SaveLogs));
    v.push(run(
        Phase::Finish,
        Cmd::new("umount").args(["--recursive", &env.target.display().to_string()]),
    ));
    v.push(run(
        Phase::Finish,
        Cmd::new("vgchange").args(["--activate", "n", &plan.storage.lvm.name]),
    ));
    v.push(run(Phase::Finish, Cmd::new("sync")));
    // Last: until here a power cut leaves partitions named as unfinished, which the next
    // install's wipe check recognises. The kernel keeps its (busy) table; sgdisk only warns.
    for d in &plan.storage.disks {
        let mut c = Cmd::new("sgdisk");
        for p in &d.partitions {
            c = c.arg(format!("--change-name={}:{}", p.number, p.label));
        }
        v.push(run(Phase::Finish, c.arg(&d.dev)));
    }
    v.push(run(Phase::Finish, Cmd::new("sync")));
    v
}

/// The command that ends a successful install.
pub fn finish_command(answer: &Answer) -> Cmd {
    match answer.install.finish {
        Finish::Reboot => Cmd::new("systemctl").arg("reboot"),
        Finish::Poweroff => Cmd::new("systemctl").arg("poweroff"),
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Task::ExclusiveAccess { disks } => write!(
                f,
                "check that {} are not mounted, swap, held or the boot medium",
                disks.join(" ")
            ),
            Task::StopOldStacks { disks } => write!(
                f,
                "stop md arrays and LVM volume groups that live only on {}",
                disks.join(" ")
            ),
            Task::WipePolicy { disks } => write!(
                f,
                "re-check the signatures on {} against the wipe policy",
                disks.join(" ")
            ),
            Task::DiskSpeed { disks } => write!(
                f,
                "measure the read and write speed of {} (O_DIRECT reads from the start, \
                 O_DSYNC writes from {} MiB on: erased disks only; at most {} MiB or {} s each)",
                disks.join(" "),
                SPEED_WRITE_OFFSET >> 20,
                Budget::QUICK.bytes >> 20,
                Budget::QUICK.time.as_secs()
            ),
            Task::WaitForNodes { nodes } => write!(
                f,
                "wait for {} (if missing: udevadm settle, then at most {} s)",
                nodes.join(" "),
                NODE_WAIT.as_secs()
            ),
            Task::PartitionTable(t) => t.fmt(f),
            Task::ShowMdstat => write!(f, "show /proc/mdstat"),
            Task::LiveMdadmConf(_) => write!(
                f,
                "write the target's mdadm.conf to the live system's /etc/mdadm/mdadm.conf"
            ),
            Task::Write(file) => write!(f, "write {} ({:04o})", file.path, file.mode),
            Task::FetchBase { url, size, dest } => write!(
                f,
                "download {url} ({size} bytes) to {dest} on the target"
            ),
            Task::VerifyDebs { debs } => write!(
                f,
                "copy {} packages into {DEB_DIR} and check each SHA256 against the medium's index: {}",
                debs.len(),
                debs.iter()
                    .map(|d| d.name.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            Task::FirstBootHook { name, from, sha256 } => write!(
                f,
                "first-boot hook {name}: {from}{}, checked (#!, size, no NUL) and stored \
                 0700 in {}",
                match sha256 {
                    Some(d) => format!(" with SHA-256 {d}"),
                    None => String::new(),
                },
                crate::contract::first_boot::DIR
            ),
            Task::EspSync => write!(f, "mirror /boot/efi onto every other ESP"),
            Task::EfiBootEntries => write!(
                f,
                "one UEFI boot entry per disk (when the installer runs under UEFI)"
            ),
            Task::SaveLogs => write!(
                f,
                "save install.log and phases.json to /var/log/tandem on the target"
            ),
            Task::Initramfs {
                full,
                always_full: true,
                ..
            } => write!(f, "{} (initramfs-tools configured)", full.display()),
            Task::Initramfs { files, full, .. } => write!(
                f,
                "append {} to /boot/initrd.img-*, or if a package asked for a new initramfs: {}",
                files
                    .iter()
                    .map(|(_, a)| a.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                full.display()
            ),
        }
    }
}

/// The script as text, one line per step under its phase.
pub fn describe(steps: &[Step]) -> String {
    let mut out = String::new();
    let mut phase = None;
    for s in steps {
        if phase != Some(s.phase) {
            phase = Some(s.phase);
            out.push_str(&format!("== {}: {}\n", s.phase, s.phase.title()));
        }
        match &s.action {
            Action::Run(c) if c.has_stdin() => {
                out.push_str(&format!("  $ {} < (input not shown)\n", c.display()))
            }
            Action::Run(c) => out.push_str(&format!("  $ {}\n", c.display())),
            Action::Tandem(t) => out.push_str(&format!("  * {t}\n")),
        }
    }
    out
}

/// Every /dev path a step names (in its arguments or a file it writes under /dev).
pub fn device_paths(step: &Step) -> Vec<String> {
    let args: Vec<&str> = match &step.action {
        Action::Run(c) => c.argv().iter().map(String::as_str).collect(),
        Action::Tandem(Task::ExclusiveAccess { disks })
        | Action::Tandem(Task::StopOldStacks { disks })
        | Action::Tandem(Task::WipePolicy { disks })
        | Action::Tandem(Task::DiskSpeed { disks }) => disks.iter().map(String::as_str).collect(),
        Action::Tandem(Task::PartitionTable(t)) => vec![t.dev.as_str()],
        Action::Tandem(_) => vec![],
    };
    args.iter()
        .filter_map(|a| a.find("/dev/").map(|i| &a[i..]))
        // A target path like /target/dev is a mount point, not a device.
        .filter(|a| !a.is_empty())
        .map(|a| a.split([',', ' ']).next().unwrap_or(a).to_string())
        .collect()
}

/// True if `p` is one of the plan's own block devices (disk, partition, array, VG/LV).
pub fn is_plan_device(plan: &Plan, p: &str) -> bool {
    let st = &plan.storage;
    st.disks
        .iter()
        .any(|d| d.dev == p || d.stable_path == p || d.partitions.iter().any(|x| x.dev == p))
        || st.arrays.iter().any(|a| a.dev == p)
        || st.lvm.volumes.iter().any(|v| v.dev == p)
        || Path::new(p) == Path::new("/dev").join(&st.lvm.name)
}

/// The ESP partition of each disk, for boot entries: (disk device, partition number).
pub fn esp_partitions(plan: &Plan) -> Vec<(String, u32)> {
    plan.storage
        .disks
        .iter()
        .filter_map(|d| {
            d.partition(PartRole::Esp)
                .map(|p| (d.dev.to_string(), p.number))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installer_consoles_are_read_from_the_command_line() {
        let c = consoles_of("BOOT_IMAGE=/live/vmlinuz boot=live console=ttyS0,115200 console=tty0");
        assert_eq!(c, vec!["ttyS0,115200", "tty0"]);
    }
}
