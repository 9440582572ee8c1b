//! Runs the install script: each step through the Runner (logged, secrets redacted), the
//! first failure stops everything. On failure the log is kept (and copied into the target
//! if it is mounted), and with --reset-on-error the selected disks' partition tables are
//! cleared so nothing half-installed is left that looks like a system.

use super::packages;
use super::progress::Progress;
use super::report;
use super::runner::{Cmd, CommandFailed, Runner};
use super::steps::{self, Action, Env, Phase, Step, Task};
use super::system::System;
use crate::answer::Answer;
use crate::hardware::{dir_names, Inventory};
use crate::plan::Plan;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The log on the live system; copied to the target's /var/log/tandem at the end.
pub const LIVE_LOG: &str = "/var/log/tandem/install.log";
const TARGET_LOG_DIR: &str = "/var/log/tandem";

/// The executor acts on the machine only through `runner`, a [`System`]: the real one is
/// the [`Runner`] itself, tests give it a [`super::system::Recording`].
pub struct Executor<'a, S: System = Runner> {
    pub answer: &'a Answer,
    pub plan: &'a Plan,
    pub env: Env,
    /// The machine's root for detection (`/` when live).
    pub sysroot: PathBuf,
    pub runner: S,
    pub progress: Progress,
    mdstat: String,
    started: Instant,
    /// Each selected disk's speed, measured once it is erased.
    speeds: Vec<DiskSpeed>,
    /// An answer given in the wizard: kept on the installed system (mode 0600, it holds
    /// the password hash) as the record of what was installed and for a reinstall.
    pub wizard_answer: Option<PathBuf>,
}

/// Where the installed system keeps the answer the wizard made.
pub const KEPT_ANSWER: &str = "/root/tandem-answer.toml";

/// What a finished (or failed) install reports.
#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Report {
    pub result: &'static str,
    pub hostname: String,
    pub phases: Vec<PhaseTime>,
    pub total_seconds: f64,
    pub disks: Vec<String>,
    pub arrays: Vec<String>,
    pub addresses: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub disk_speeds: Vec<DiskSpeed>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_phase: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One disk's sequential speed in MB/s (10^6 bytes per second), as the install measured
/// it on the erased disk.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct DiskSpeed {
    pub disk: String,
    pub read_mbps: f64,
    pub write_mbps: f64,
    /// Why the disk is much slower than its peers, when it is.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub slow: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct PhaseTime {
    pub phase: String,
    pub seconds: f64,
}

impl<'a, S: System> Executor<'a, S> {
    pub fn new(
        answer: &'a Answer,
        plan: &'a Plan,
        env: Env,
        sysroot: PathBuf,
        runner: S,
        progress: Progress,
    ) -> Self {
        Executor {
            answer,
            plan,
            env,
            sysroot,
            runner,
            progress,
            mdstat: String::new(),
            started: Instant::now(),
            speeds: Vec::new(),
            wizard_answer: None,
        }
    }

    /// Runs every step in order; on the first failure returns the phase and the error.
    pub fn run(&mut self, script: &[Step]) -> std::result::Result<(), (Phase, anyhow::Error)> {
        self.runner
            .note(&format!("install of {} started", self.plan.fqdn));
        let mut current = None;
        for step in script {
            self.progress.phase(step.phase);
            if current != Some(step.phase) {
                if let Some(prev) = current {
                    self.phase_event("phase-end", prev);
                }
                self.phase_event("phase-start", step.phase);
                current = Some(step.phase);
            }
            let text = match &step.action {
                Action::Run(c) => format!("$ {}", self.runner.redact(&c.display())),
                Action::Tandem(t) => format!("* {t}"),
            };
            self.progress.step(&text);
            let res = match &step.action {
                Action::Run(c) => self.runner.run(c).map(|_| ()).map_err(anyhow::Error::from),
                Action::Tandem(t) => self.task(t),
            };
            if let Err(e) = res {
                self.runner
                    .note(&format!("FAILED in phase {}: {e:#}", step.phase));
                self.progress.end_phase();
                return Err((step.phase, e));
            }
            self.progress.advance();
        }
        self.progress.end_phase();
        if let Some(last) = current {
            self.phase_event("phase-end", last);
        }
        Ok(())
    }

    /// A best-effort progress event to `[report]`, when it asks for them.
    fn phase_event(&mut self, kind: &str, phase: Phase) {
        let Some(hook) = self.answer.report.as_ref().filter(|h| h.progress) else {
            return;
        };
        let seconds = (kind == "phase-end")
            .then(|| self.progress.phases.iter().rev().find(|(p, _)| *p == phase))
            .flatten()
            .map(|(_, d)| round(d.as_secs_f64()));
        let ev = report::phase_event(kind, self.plan.node.as_deref(), phase.name(), seconds);
        if let Err(e) = report::send(hook, &ev, report::EVENT_PATIENCE) {
            let e = self.runner.redact(&format!("{e:#}"));
            self.runner.note(&format!("progress event not sent: {e}"));
        }
    }

    /// Sends `r` to `[report]` when the answer has one. Never fails: an unreachable
    /// webhook is said on stderr and in the log. Returns the body sent, for tests.
    pub fn send_report(
        &mut self,
        r: &Report,
        inv: &Inventory,
        dmi_dir: &Path,
    ) -> Option<serde_json::Value> {
        let hook = self.answer.report.as_ref()?;
        let machine = report::Machine::gather(self.plan, inv, dmi_dir);
        let body = report::body(self.plan.node.as_deref(), r, &machine);
        let line = match report::send(hook, &body, report::REPORT_PATIENCE) {
            Ok(()) => format!("report sent to {}", hook.url),
            Err(e) => format!(
                "the report was not sent (the install itself is not affected): {}",
                self.runner.redact(&format!("{e:#}"))
            ),
        };
        eprintln!("{line}");
        self.runner.note(&line);
        Some(body)
    }

    fn selected(&self) -> Vec<String> {
        self.plan
            .storage
            .disks
            .iter()
            .map(|d| d.name.clone())
            .collect()
    }

    fn wait_for_nodes(&mut self, nodes: &[String]) -> Result<()> {
        let runner = &mut self.runner;
        wait_for_nodes(&self.sysroot, nodes, steps::NODE_WAIT, |waiting| {
            runner.note(&format!(
                "waiting for udev to create {}",
                waiting.join(", ")
            ));
            runner.run(&Cmd::new("udevadm").args(["settle", "--timeout=60"]))?;
            Ok(())
        })
    }

    fn partition_table(&mut self, t: &super::gpt::Table) -> Result<()> {
        match self.runner.write_gpt(t)? {
            super::gpt::Reread::Done | super::gpt::Reread::NotABlockDevice => {
                self.runner.note(&format!("wrote the GPT of {}", t.dev));
            }
            super::gpt::Reread::Refused(e) => {
                self.runner.note(&format!(
                    "wrote the GPT of {}; the kernel refused to re-read it ({e})",
                    t.dev
                ));
                self.runner.run(&Cmd::new("partprobe").arg(&t.dev))?;
            }
        }
        Ok(())
    }

    fn task(&mut self, t: &Task) -> Result<()> {
        match t {
            Task::ExclusiveAccess { disks } => {
                crate::hardware::exclusive::check(disks, &self.sysroot)?;
                Ok(())
            }
            Task::StopOldStacks { .. } => self.stop_old_stacks(),
            Task::WipePolicy { .. } => self.wipe_policy(),
            Task::DiskSpeed { disks } => self.disk_speed(disks),
            Task::WaitForNodes { nodes } => self.wait_for_nodes(nodes),
            Task::PartitionTable(t) => self.partition_table(t),
            Task::ShowMdstat => {
                self.mdstat = std::fs::read_to_string(self.sysroot.join("proc/mdstat"))
                    .context("reading /proc/mdstat")?;
                self.runner.note(&format!("/proc/mdstat:\n{}", self.mdstat));
                self.progress.message(self.mdstat.trim_end());
                Ok(())
            }
            Task::LiveMdadmConf(text) => {
                let p = self.sysroot.join("etc/mdadm/mdadm.conf");
                if let Some(d) = p.parent() {
                    self.runner.create_dir_all(d)?;
                }
                self.runner
                    .write(&p, text.as_bytes())
                    .with_context(|| format!("writing {}", p.display()))?;
                self.runner.note(&format!("wrote {}", p.display()));
                Ok(())
            }
            Task::Write(f) => {
                self.runner
                    .write_files(&self.env.target, std::slice::from_ref(f))?;
                self.runner
                    .note(&format!("wrote {} ({:04o})", f.path, f.mode));
                Ok(())
            }
            Task::VerifyDebs { debs } => self.verify_debs(debs),
            Task::FetchBase { url, size, dest } => {
                let dst = self.target_path(dest);
                if let Some(d) = dst.parent() {
                    self.runner
                        .create_dir_all(d)
                        .with_context(|| format!("creating {}", d.display()))?;
                }
                let t = std::time::Instant::now();
                self.runner.download("the base image", url, &dst, *size)?;
                let secs = t.elapsed().as_secs_f64();
                let msg = format!(
                    "downloaded {url}: {size} bytes in {secs:.1} s ({:.1} MB/s)",
                    *size as f64 / 1e6 / secs.max(0.001)
                );
                self.runner.note(&msg);
                self.progress.message(&msg);
                Ok(())
            }
            Task::FirstBootHook { name, from, sha256 } => {
                self.first_boot_hook(name, from, sha256.as_deref())
            }
            Task::EspSync => self.esp_sync(),
            Task::EfiBootEntries => self.efi_boot_entries(),
            Task::SaveLogs => self.save_logs(),
            Task::Initramfs {
                files,
                full,
                always_full,
            } => super::initramfs::build(
                &mut self.runner,
                &self.env.target,
                files,
                full,
                *always_full,
            ),
        }
    }

    /// One hook's script into the target, after the checks the answer could not make
    /// (a file or URL is only read now). Any problem fails the install here, before GRUB:
    /// a node that would skip its enrollment is not a finished node.
    fn first_boot_hook(
        &mut self,
        name: &str,
        from: &super::steps::HookFrom,
        sha256: Option<&str>,
    ) -> Result<()> {
        use super::steps::HookFrom;
        use crate::contract::first_boot::{script_problem, DIR, MAX_SCRIPT_BYTES};
        let body: Vec<u8> = match from {
            HookFrom::Inline(s) => s.as_bytes().to_vec(),
            HookFrom::Path(p) => self
                .runner
                .read(p)
                .with_context(|| format!("reading first-boot hook {name} from {}", p.display()))?,
            HookFrom::Url(u) => crate::http::get_text(
                &format!("first-boot hook {name}"),
                u,
                &crate::http::Trust::Roots,
                None,
                MAX_SCRIPT_BYTES as u64 + 1,
                super::medium::HTTP_PATIENCE,
            )?
            .into_bytes(),
        };
        if let Some(want) = sha256 {
            let got: String = ring::digest::digest(&ring::digest::SHA256, &body)
                .as_ref()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            if !got.eq_ignore_ascii_case(want) {
                anyhow::bail!(
                    "first-boot hook {name} from {from}: its SHA-256 is {got}, the answer says {want}"
                );
            }
        }
        if let Some(p) = script_problem(&body) {
            anyhow::bail!("first-boot hook {name} from {from} {p}");
        }
        let dir = self.target_path(DIR);
        self.runner
            .create_dir_all(&dir)
            .with_context(|| format!("creating {}", dir.display()))?;
        self.runner.set_mode(&dir, 0o700)?;
        let dst = dir.join(name);
        self.runner
            .write(&dst, &body)
            .with_context(|| format!("writing {}", dst.display()))?;
        self.runner.set_mode(&dst, 0o700)?;
        self.runner.note(&format!(
            "first-boot hook {name}: {} bytes from {from} stored in {DIR}",
            body.len()
        ));
        Ok(())
    }

    fn target_path(&self, p: &str) -> PathBuf {
        self.env.target.join(p.trim_start_matches('/'))
    }

    /// The seed checked every disk with `hdparm -t` and `dd oflag=dsync` after the
    /// install; here it is measured on the erased disk, before anything is built on a
    /// disk that may be failing. Exactly the step's disks are measured (what the step
    /// listing and its device check show). A disk that cannot be read or written stops
    /// the install.
    fn disk_speed(&mut self, devs: &[String]) -> Result<()> {
        use crate::hardware::speed::{slower_than_peers, Budget};
        let mut measured: Vec<(DiskSpeed, bool)> = Vec::new();
        for d in self
            .plan
            .storage
            .disks
            .iter()
            .filter(|d| devs.iter().any(|x| d.dev == *x))
        {
            let dev = Path::new(&d.dev);
            let read = self
                .runner
                .measure_read(dev, Budget::QUICK)
                .with_context(|| format!("measuring the read speed of {}", d.dev))?;
            let write = self
                .runner
                .measure_write(dev, steps::SPEED_WRITE_OFFSET, Budget::QUICK)
                .with_context(|| format!("measuring the write speed of {}", d.dev))?;
            let rotational = std::fs::read_to_string(
                self.sysroot
                    .join(format!("sys/class/block/{}/queue/rotational", d.name)),
            )
            .is_ok_and(|s| s.trim() == "1");
            let speed = DiskSpeed {
                disk: d.name.clone(),
                read_mbps: read.mbps_rounded(),
                write_mbps: write.mbps_rounded(),
                slow: Vec::new(),
            };
            measured.push((speed, rotational));
        }
        let values = |mbps: fn(&DiskSpeed) -> f64| -> Vec<(&str, bool, Option<f64>)> {
            measured
                .iter()
                .map(|(s, rot)| (s.disk.as_str(), *rot, Some(mbps(s))))
                .collect()
        };
        let slow = [
            slower_than_peers(&values(|s| s.read_mbps), "reads"),
            slower_than_peers(&values(|s| s.write_mbps), "writes"),
        ]
        .concat();
        for (mut speed, _) in measured {
            speed.slow = slow
                .iter()
                .filter(|(n, _)| *n == speed.disk)
                .map(|(_, why)| why.clone())
                .collect();
            let mut line = format!(
                "{}: read {:.0} MB/s, write {:.0} MB/s",
                speed.disk, speed.read_mbps, speed.write_mbps
            );
            for why in &speed.slow {
                line.push_str(&format!("; SLOW: {why}"));
            }
            self.runner.note(&line);
            self.progress.message(&line);
            self.speeds.push(speed);
        }
        Ok(())
    }

    /// md arrays and device-mapper devices stacked on the selected disks: each stack must
    /// live only on selected disks; then it is taken down, top first.
    fn stop_old_stacks(&mut self) -> Result<()> {
        let selected: BTreeSet<String> = self.selected().into_iter().collect();
        let sys = self.sysroot.join("sys/class/block");
        let mut tops = Vec::new();
        for d in &selected {
            for dev in std::iter::once(d.clone()).chain(partitions_of(&sys, d)) {
                for h in dir_names(&sys.join(&dev).join("holders")) {
                    for top in tops_of(&sys, &h) {
                        if !tops.contains(&top) {
                            tops.push(top);
                        }
                    }
                }
            }
        }
        for top in &tops {
            let under = disks_under(&sys, top);
            let others: Vec<&String> = under.iter().filter(|d| !selected.contains(*d)).collect();
            if !others.is_empty() {
                bail!(
                    "refusing to stop {top}: it spans the selected disks and {} (not selected); \
                     stop it yourself or select every disk it uses",
                    others
                        .iter()
                        .map(|d| format!("/dev/{d}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
        for top in tops {
            self.take_down(&sys, &top)?;
        }
        Ok(())
    }

    fn take_down(&mut self, sys: &Path, dev: &str) -> Result<()> {
        for h in dir_names(&sys.join(dev).join("holders")) {
            self.take_down(sys, &h)?;
        }
        if !sys.join(dev).exists() {
            return Ok(());
        }
        if dev.starts_with("md") {
            self.runner
                .run(&Cmd::new("mdadm").args(["--stop", &format!("/dev/{dev}")]))?;
        } else if dev.starts_with("dm-") {
            let name = std::fs::read_to_string(sys.join(dev).join("dm/name"))
                .with_context(|| format!("reading the name of /dev/{dev}"))?;
            self.runner
                .run(&Cmd::new("dmsetup").args(["remove", name.trim()]))?;
        } else {
            bail!("/dev/{dev} holds a selected disk and is neither md nor device-mapper");
        }
        Ok(())
    }

    /// The signatures found now, against the answer's wipe policy.
    fn wipe_policy(&mut self) -> Result<()> {
        let inv = crate::hardware::detect(&self.sysroot)?;
        let mut refused = Vec::new();
        for name in self.selected() {
            let d = inv
                .disk(&name)
                .with_context(|| format!("disk {name} is gone"))?;
            if let Some(found) = crate::validate::wipe_refusal(self.plan.wipe, d) {
                refused.push(format!("/dev/{name}: {found}"));
            }
        }
        if !refused.is_empty() {
            bail!(
                "wipe = \"{}\" does not allow erasing what is on the disks now: {}",
                crate::answer::enum_name(&self.plan.wipe),
                refused.join("; ")
            );
        }
        Ok(())
    }

    fn verify_debs(&mut self, debs: &[packages::DebToInstall]) -> Result<()> {
        let dir = self.target_path(steps::DEB_DIR);
        self.runner
            .create_dir_all(&dir)
            .with_context(|| format!("creating {}", dir.display()))?;
        let mut copies = Vec::new();
        let t = std::time::Instant::now();
        let mut bytes = 0u64;
        for d in debs {
            let dst = dir.join(d.file_name());
            if d.from.starts_with("http://") || d.from.starts_with("https://") {
                let size = d.size.with_context(|| {
                    format!("package {} {}: the index gives no Size", d.name, d.version)
                })?;
                self.runner.download(
                    &format!("package {} {}", d.name, d.version),
                    &d.from,
                    &dst,
                    size,
                )?;
                bytes += size;
            } else {
                self.runner
                    .copy(Path::new(&d.from), &dst)
                    .with_context(|| format!("copying {} from the medium", d.from))?;
            }
            copies.push(dst.display().to_string());
        }
        if bytes > 0 {
            self.runner.note(&format!(
                "downloaded {} packages, {bytes} bytes in {:.1} s",
                debs.len(),
                t.elapsed().as_secs_f64()
            ));
        }
        // The copies are what dpkg reads, so they are what is checked.
        let out = self.runner.run(&Cmd::new("sha256sum").args(copies))?;
        packages::check_sums(debs, &out.stdout)?;
        self.progress.message(&format!(
            "{} packages verified against the medium's index",
            debs.len()
        ));
        Ok(())
    }

    fn esp_sync(&mut self) -> Result<()> {
        self.runner
            .run(&Cmd::new("udevadm").args(["settle", "--timeout=60"]))?;
        let uuids: Vec<String> = self.plan.grub.efi.iter().map(|e| e.uuid.clone()).collect();
        let scratch = self
            .env
            .scratch
            .join(format!("tandem-esp.{}", std::process::id()));
        let source = self.target_path("/boot/efi");
        let res = super::esp::sync_all(
            &mut self.runner,
            &source,
            &uuids,
            &self.sysroot.join("dev/disk/by-uuid"),
            &scratch,
        );
        // Not recursively: an ESP whose unmount failed is still mounted in there.
        let _ = self.runner.remove_dir(&scratch);
        for (uuid, o) in res? {
            if let super::esp::EspOutcome::Missing = o {
                bail!("ESP {uuid} was made but is not found in /dev/disk/by-uuid");
            }
        }
        Ok(())
    }

    fn efi_boot_entries(&mut self) -> Result<()> {
        if !self.sysroot.join("sys/firmware/efi/efivars").is_dir() {
            self.progress.message(
                "the installer runs under BIOS: no UEFI boot entries (firmware finds \
                 EFI/BOOT/BOOTX64.EFI on any ESP)",
            );
            return Ok(());
        }
        let loader = crate::contract::efi::loader(&self.target_path("/"));
        // efibootmgr --create puts each new entry first in BootOrder: made last-disk-first,
        // the first disk's entry ends up first, as an admin reading the order expects.
        for (disk, part) in steps::esp_partitions(self.plan).into_iter().rev() {
            let name = disk.trim_start_matches("/dev/");
            self.runner.run(&Cmd::new("efibootmgr").args([
                "--quiet".to_string(),
                "--create".into(),
                "--disk".into(),
                disk.clone(),
                "--part".into(),
                part.to_string(),
                "--label".into(),
                format!("debian ({name})"),
                "--loader".into(),
                loader.into(),
            ]))?;
        }
        Ok(())
    }

    fn phase_times(&self) -> Vec<PhaseTime> {
        self.progress
            .phases
            .iter()
            .map(|(p, d)| PhaseTime {
                phase: p.name().into(),
                seconds: round(d.as_secs_f64()),
            })
            .collect()
    }

    fn save_logs(&mut self) -> Result<()> {
        let dir = self.target_path(TARGET_LOG_DIR);
        self.runner.create_dir_all(&dir)?;
        let phases = serde_json::to_string_pretty(&self.phase_times())? + "\n";
        self.runner
            .write(&dir.join("phases.json"), phases.as_bytes())?;
        self.runner.note("log copied to the installed system");
        copy_log(&mut self.runner, &dir)?;
        if let Some(src) = &self.wizard_answer {
            let text = std::fs::read_to_string(src)
                .with_context(|| format!("reading {}", src.display()))?;
            let dst = self.target_path(KEPT_ANSWER);
            self.runner
                .write_private(&dst, &text)
                .with_context(|| format!("writing {}", dst.display()))?;
            self.runner
                .note(&format!("the wizard's answer kept as {KEPT_ANSWER}"));
        }
        Ok(())
    }

    /// On failure: the log stays on the live system and goes into the target if mounted.
    pub fn keep_log_on_failure(&mut self) {
        if self.runner.is_mountpoint(&self.env.target) {
            let dir = self.target_path(TARGET_LOG_DIR);
            if self.runner.create_dir_all(&dir).is_ok() {
                let _ = copy_log(&mut self.runner, &dir);
            }
        }
    }

    /// After a failure: unmount, deactivate the VG and stop the arrays the install built,
    /// so the disks are at rest (and a second install in the same live session is not
    /// refused as busy). What is on them stays. Teardown of what may not exist yet is
    /// allowed to fail.
    ///
    /// `wipe_arrays` (--reset-on-error): the arrays' own signatures go first, while the
    /// arrays run: the PV label on the data array lies inside its members, where wiping
    /// the partitions afterwards does not reach.
    pub fn tear_down(&mut self, wipe_arrays: bool) {
        let target = self.env.target.display().to_string();
        let mut cmds = vec![
            Cmd::new("umount").args(["--recursive", &target]),
            Cmd::new("vgchange").args(["--activate", "n", &self.plan.storage.lvm.name]),
        ];
        for a in &self.plan.storage.arrays {
            // A failure before the raid phase leaves the name free: an array another set
            // of disks brought under it is not ours to wipe or stop.
            if !self.array_is_ours(&a.dev) {
                continue;
            }
            if wipe_arrays {
                cmds.push(Cmd::new("wipefs").args(["--all", "--force", &a.dev]));
            }
            cmds.push(Cmd::new("mdadm").args(["--stop", &a.dev]));
        }
        for c in &cmds {
            let _ = self.runner.run_status(c);
        }
    }

    /// --reset-on-error, after [`Self::tear_down`]: clear the selected disks' signatures
    /// and partition tables. Only the plan's disks are touched.
    pub fn reset_disks(&mut self) -> Vec<CommandFailed> {
        let mut errs = Vec::new();
        let mut cmds = Vec::new();
        for d in &self.plan.storage.disks {
            for p in &d.partitions {
                cmds.push(Cmd::new("wipefs").args(["--all", "--force", &p.dev]));
            }
            cmds.push(Cmd::new("wipefs").args(["--all", "--force", &d.dev]));
            cmds.push(Cmd::new("sgdisk").args(["--zap-all", &d.dev]));
        }
        for c in &cmds {
            // A partition that was never made has no device node.
            let res = if c.argv().iter().any(|a| self.is_partition(a))
                && !Path::new(c.argv().last().map(String::as_str).unwrap_or("")).exists()
            {
                Ok(())
            } else {
                self.runner.run(c).map(|_| ())
            };
            if let Err(e) = res {
                errs.push(e);
            }
        }
        errs
    }

    /// Whether `dev` is an array whose members are all planned partitions.
    fn array_is_ours(&self, dev: &str) -> bool {
        array_members(&self.sysroot, dev)
            .is_some_and(|m| !m.is_empty() && m.iter().all(|p| self.is_partition(p)))
    }

    fn is_partition(&self, a: &str) -> bool {
        self.plan
            .storage
            .disks
            .iter()
            .any(|d| d.partitions.iter().any(|p| p.dev == a))
    }

    pub fn mdstat(&self) -> &str {
        &self.mdstat
    }

    pub fn report(&self, failed: Option<(Phase, &anyhow::Error)>) -> Report {
        let arrays = self
            .plan
            .storage
            .arrays
            .iter()
            .map(|a| {
                let state = mdstat_line(&self.mdstat, &a.dev, &self.sysroot);
                format!("{} {}: {}", a.dev, a.level, state)
            })
            .collect();
        Report {
            result: if failed.is_some() { "failed" } else { "ok" },
            hostname: self.plan.fqdn.clone(),
            phases: self.phase_times(),
            total_seconds: round(self.started.elapsed().as_secs_f64()),
            disks: self
                .plan
                .storage
                .disks
                .iter()
                .map(|d| format!("{} ({})", d.dev, d.stable_path))
                .collect(),
            arrays,
            addresses: self
                .plan
                .network
                .addresses
                .iter()
                .map(|a| format!("{} {}", a.interface, a.address))
                .collect(),
            disk_speeds: self.speeds.clone(),
            failed_phase: failed.map(|(p, _)| p.name().to_string()),
            error: failed.map(|(_, e)| self.runner.redact(&format!("{e:#}"))),
        }
    }
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn copy_log(sys: &mut impl System, dir: &Path) -> Result<()> {
    if let Some(src) = sys.log_path().map(Path::to_path_buf) {
        let dst = dir.join("install.log");
        sys.copy(&src, &dst)
            .with_context(|| format!("copying the log to {}", dst.display()))?;
        sys.set_mode(&dst, 0o600)?;
    }
    Ok(())
}

fn partitions_of(sys: &Path, disk: &str) -> Vec<String> {
    dir_names(&sys.join(disk))
        .into_iter()
        .filter(|n| n.starts_with(disk) && sys.join(disk).join(n).join("partition").exists())
        .collect()
}

/// The topmost devices stacked over `dev` (itself if nothing holds it).
fn tops_of(sys: &Path, dev: &str) -> Vec<String> {
    let holders = dir_names(&sys.join(dev).join("holders"));
    if holders.is_empty() {
        return vec![dev.to_string()];
    }
    holders.iter().flat_map(|h| tops_of(sys, h)).collect()
}

/// The whole disks a stacked device rests on, through its slaves.
fn disks_under(sys: &Path, dev: &str) -> BTreeSet<String> {
    let slaves = dir_names(&sys.join(dev).join("slaves"));
    if slaves.is_empty() {
        // A partition's disk is its parent directory in sysfs.
        let is_part = sys.join(dev).join("partition").exists();
        let disk = if is_part {
            std::fs::canonicalize(sys.join(dev))
                .ok()
                .and_then(|p| {
                    p.parent()
                        .and_then(|q| q.file_name())
                        .map(|f| f.to_string_lossy().into_owned())
                })
                .unwrap_or_else(|| dev.to_string())
        } else {
            dev.to_string()
        };
        return BTreeSet::from([disk]);
    }
    slaves.iter().flat_map(|s| disks_under(sys, s)).collect()
}

/// An array's status line from /proc/mdstat ("active raid6 vdd4[3] … [4/4] [UUUU]"),
/// found through the /dev/md/<name> link.
fn mdstat_line(mdstat: &str, dev: &str, sysroot: &Path) -> String {
    let kernel = std::fs::canonicalize(sysroot.join(dev.trim_start_matches('/')))
        .ok()
        .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()));
    let Some(k) = kernel else {
        return "not assembled".into();
    };
    let mut lines = mdstat.lines();
    while let Some(l) = lines.next() {
        if l.split_whitespace().next() == Some(k.as_str()) {
            let status = lines.next().map(str::trim).unwrap_or("");
            let rest = l.split_once(':').map(|(_, r)| r.trim()).unwrap_or(l);
            return format!("{k} {rest} {status}");
        }
    }
    format!("{k} not in /proc/mdstat")
}

/// The closing text: phases with times, arrays, disks, addresses.
pub fn summary(r: &Report, mdstat: &str) -> String {
    let mut o = String::new();
    o.push_str(&format!(
        "== install of {} {} after {:.1} s\n",
        r.hostname,
        if r.result == "ok" {
            "finished"
        } else {
            "FAILED"
        },
        r.total_seconds
    ));
    for p in &r.phases {
        o.push_str(&format!("   {:<11} {:>8.1} s\n", p.phase, p.seconds));
    }
    o.push_str("disks:\n");
    for d in &r.disks {
        o.push_str(&format!("   {d}\n"));
    }
    if !r.disk_speeds.is_empty() {
        o.push_str("disk speeds (erased disks, MB/s):\n");
        for d in &r.disk_speeds {
            o.push_str(&format!(
                "   {:<9} read {:>6.0}  write {:>6.0}{}\n",
                d.disk,
                d.read_mbps,
                d.write_mbps,
                if d.slow.is_empty() {
                    String::new()
                } else {
                    format!("  SLOW: {}", d.slow.join("; "))
                }
            ));
        }
    }
    o.push_str("arrays:\n");
    for a in &r.arrays {
        o.push_str(&format!("   {a}\n"));
    }
    if !mdstat.trim().is_empty() {
        o.push_str("/proc/mdstat:\n");
        for l in mdstat.lines() {
            o.push_str(&format!("   {l}\n"));
        }
    }
    if !r.addresses.is_empty() {
        o.push_str("addresses:\n");
        for a in &r.addresses {
            o.push_str(&format!("   {a}\n"));
        }
    }
    o
}

/// Every secret value an answer brings (root password hash, DRBD shared secrets, given
/// `drbd` to look up a resource's): the log, error texts and the report never show them.
pub fn answer_secrets(answer: &Answer, drbd: impl Fn(&str) -> String) -> Vec<String> {
    let mut out: Vec<String> = answer.system.root_password_hash.iter().cloned().collect();
    for r in answer.drbd.iter().flat_map(|d| &d.resources) {
        out.push(drbd(&r.name));
    }
    out
}

/// The machine-readable last line for test harnesses.
pub fn result_line(r: &Report) -> String {
    format!(
        "TANDEM-RESULT {}",
        serde_json::to_string(r).unwrap_or_else(|_| "{}".into())
    )
}

/// Returns at once when every node exists under `root` (no process started: each costs
/// about a second under TCG); otherwise calls `settle` once with the missing ones and
/// polls until `timeout`, then names what is still missing.
fn wait_for_nodes(
    root: &std::path::Path,
    nodes: &[String],
    timeout: std::time::Duration,
    settle: impl FnOnce(&[String]) -> Result<()>,
) -> Result<()> {
    let missing = || -> Vec<String> {
        nodes
            .iter()
            .filter(|n| !root.join(n.trim_start_matches('/')).exists())
            .cloned()
            .collect()
    };
    let waiting = missing();
    if waiting.is_empty() {
        return Ok(());
    }
    settle(&waiting)?;
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let m = missing();
        if m.is_empty() {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            bail!(
                "udev did not create {} within {} s after udevadm settle (see `udevadm \
                 monitor` and the kernel log)",
                m.join(", "),
                timeout.as_secs()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

/// The member devices of the md array `dev` (/dev/md/<name>) as sysfs lists them under
/// `sysroot`; None when no such array is running.
fn array_members(sysroot: &Path, dev: &str) -> Option<Vec<String>> {
    let md = std::fs::canonicalize(sysroot.join(dev.trim_start_matches('/'))).ok()?;
    let md = md.file_name()?.to_string_lossy().into_owned();
    let slaves = std::fs::read_dir(sysroot.join(format!("sys/block/{md}/slaves"))).ok()?;
    Some(
        slaves
            .filter_map(|e| e.ok())
            .map(|e| format!("/dev/{}", e.file_name().to_string_lossy()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_members_come_from_sysfs_through_the_md_link() {
        let root = std::env::temp_dir().join(format!("tandem-md-members-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("dev/md")).unwrap();
        std::fs::write(root.join("dev/md127"), "").unwrap();
        std::os::unix::fs::symlink("../md127", root.join("dev/md/data")).unwrap();
        for m in ["vda4", "vdc1"] {
            std::fs::create_dir_all(root.join("sys/block/md127/slaves").join(m)).unwrap();
        }
        let mut m = array_members(&root, "/dev/md/data").unwrap();
        m.sort();
        assert_eq!(m, ["/dev/vda4", "/dev/vdc1"]);
        assert_eq!(array_members(&root, "/dev/md/boot"), None);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn nodes_are_waited_for_only_when_missing_and_named_when_they_never_come() {
        let t = std::env::temp_dir().join(format!("tandem-nodes-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&t);
        std::fs::create_dir_all(t.join("dev/md")).unwrap();
        std::fs::write(t.join("dev/md/boot"), "").unwrap();
        let nodes = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let quick = std::time::Duration::from_millis(300);
        // Present: no settle at all.
        wait_for_nodes(&t, &nodes(&["/dev/md/boot"]), quick, |_| {
            panic!("settle ran although the node exists")
        })
        .unwrap();
        // Made by udev during the settle.
        let mut asked = vec![];
        wait_for_nodes(&t, &nodes(&["/dev/md/boot", "/dev/md/data"]), quick, |m| {
            asked = m.to_vec();
            std::fs::write(t.join("dev/md/data"), "").unwrap();
            Ok(())
        })
        .unwrap();
        assert_eq!(asked, ["/dev/md/data"]);
        // Never made: the error names it.
        let e = wait_for_nodes(&t, &nodes(&["/dev/pve/root"]), quick, |_| Ok(())).unwrap_err();
        assert!(
            e.to_string().contains("udev did not create /dev/pve/root"),
            "{e}"
        );
        std::fs::remove_dir_all(t).unwrap();
    }

    /// A fake /sys/class/block: sda with sda1 under md127 under dm-0; sdb1 under md127;
    /// sdc2 under md126 alone.
    fn fake_sys() -> PathBuf {
        let t = std::env::temp_dir().join(format!("tandem-sys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&t);
        let mk = |p: &str| std::fs::create_dir_all(t.join(p)).unwrap();
        for (disk, part) in [("sda", "sda1"), ("sdb", "sdb1"), ("sdc", "sdc2")] {
            mk(&format!("devices/{disk}/{part}"));
            std::fs::write(t.join(format!("devices/{disk}/{part}/partition")), "1").unwrap();
            std::os::unix::fs::symlink(t.join(format!("devices/{disk}")), t.join(disk)).unwrap();
            std::os::unix::fs::symlink(t.join(format!("devices/{disk}/{part}")), t.join(part))
                .unwrap();
        }
        for (holder, slaves) in [("md127", vec!["sda1", "sdb1"]), ("md126", vec!["sdc2"])] {
            mk(&format!("{holder}/slaves"));
            mk(&format!("{holder}/holders"));
            for s in slaves {
                mk(&format!("devices/{}/{s}/holders/{holder}", &s[..3]));
                mk(&format!("{holder}/slaves/{s}"));
            }
        }
        mk("dm-0/slaves/md127");
        mk("dm-0/holders");
        mk("md127/holders/dm-0");
        t
    }

    #[test]
    fn stacks_resolve_to_their_disks() {
        let sys = fake_sys();
        assert_eq!(partitions_of(&sys, "sda"), vec!["sda1"]);
        assert_eq!(tops_of(&sys, "md127"), vec!["dm-0"]);
        assert_eq!(
            disks_under(&sys, "dm-0"),
            BTreeSet::from(["sda".to_string(), "sdb".to_string()])
        );
        assert_eq!(
            disks_under(&sys, "md126"),
            BTreeSet::from(["sdc".to_string()])
        );
        std::fs::remove_dir_all(sys).unwrap();
    }

    #[test]
    fn mdstat_state_by_array_name() {
        let md = "Personalities : [raid1] [raid6]\nmd127 : active raid6 vdd4[3] vdc4[2] vdb4[1] vda4[0]\n      37699584 blocks super 1.2 level 6, 512k chunk, algorithm 2 [4/4] [UUUU]\n\nunused devices: <none>\n";
        let t = std::env::temp_dir().join(format!("tandem-md-{}", std::process::id()));
        std::fs::create_dir_all(t.join("dev/md")).unwrap();
        std::fs::write(t.join("dev/md127"), "").unwrap();
        let _ = std::fs::remove_file(t.join("dev/md/data"));
        std::os::unix::fs::symlink("../md127", t.join("dev/md/data")).unwrap();
        let l = mdstat_line(md, "/dev/md/data", &t);
        assert!(l.starts_with("md127 active raid6 vdd4[3]"), "{l}");
        assert!(l.ends_with("[4/4] [UUUU]"), "{l}");
        assert_eq!(mdstat_line(md, "/dev/md/boot", &t), "not assembled");
        std::fs::remove_dir_all(t).unwrap();
    }

    #[test]
    fn result_line_is_one_json_line() {
        let r = Report {
            result: "failed",
            hostname: "h.example".into(),
            phases: vec![PhaseTime {
                phase: "wipe".into(),
                seconds: 1.5,
            }],
            total_seconds: 2.0,
            disks: vec!["/dev/vda".into()],
            arrays: vec![],
            addresses: vec![],
            disk_speeds: vec![DiskSpeed {
                disk: "vda".into(),
                read_mbps: 180.4,
                write_mbps: 20.0,
                slow: vec!["writes 20 MB/s, less than half …".into()],
            }],
            failed_phase: Some("raid".into()),
            error: Some("command failed\nwith output".into()),
        };
        let l = result_line(&r);
        assert_eq!(l.lines().count(), 1);
        let v: serde_json::Value =
            serde_json::from_str(l.strip_prefix("TANDEM-RESULT ").unwrap()).unwrap();
        assert_eq!(v["failed-phase"], "raid");
        assert_eq!(v["phases"][0]["seconds"], 1.5);
        assert_eq!(v["disk-speeds"][0]["write-mbps"], 20.0);
        let text = summary(&r, "");
        assert!(text.contains("FAILED"));
        assert!(
            text.contains("vda       read    180  write     20  SLOW: writes 20"),
            "{text}"
        );
    }
}

#[cfg(test)]
#[path = "task_tests.rs"]
mod task_tests;
