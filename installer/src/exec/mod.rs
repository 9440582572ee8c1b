//! The executor: the only code that touches disks. `steps` turns (answer, plan, inventory)
//! into the ordered install script; `install` runs it through [`runner::Runner`], which
//! logs every command; `progress` shows it.

pub mod esp;
pub mod gpt;
pub mod initramfs;
pub mod install;
pub mod medium;
pub mod packages;
pub mod progress;
pub mod runner;
pub mod steps;

use crate::answer::{locate, Document, NodeHint};
use crate::cli::InputError;
use crate::hardware::Inventory;
use crate::{plan, render, validate};
use anyhow::{Context, Result};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

/// Where an answer given in the wizard is saved (0600), for the log and a reinstall.
pub const WIZARD_ANSWER: &str = "/root/answer.toml";

#[derive(clap::Args, Debug)]
pub struct InstallArgs {
    /// The answer file (path or http URL). Without it: tandem.answer= on the kernel
    /// command line, then the answer embedded in the medium, then a partition labelled
    /// TANDEM.
    #[arg(long)]
    pub answer: Option<String>,
    /// Do not ask for the typed confirmation.
    #[arg(long)]
    pub yes: bool,
    /// Print every step the install would run, then stop. Writes nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// How to show progress.
    #[arg(long, value_enum, default_value = "auto")]
    pub progress: progress::Mode,
    /// When the install fails, clear the selected disks' signatures and partition tables
    /// (without it they keep what the failure left, recognisable as an interrupted install).
    #[arg(long)]
    pub reset_on_error: bool,
    /// Which node of a cluster file this machine is (default: by its MACs).
    #[arg(long)]
    pub node: Option<String>,
    /// Plan against this inventory JSON instead of the live machine (only with --dry-run).
    #[arg(long, requires = "dry_run")]
    pub hardware: Option<PathBuf>,
    /// Where the base image and the package repository are: a directory laid out like
    /// the boot medium (tandem/base.squashfs, tandem/repo) or the URL of a medium served
    /// over HTTP (base.squashfs, base.status, repo/). Default: tandem.media= on the kernel
    /// command line, else the boot medium at /run/live/medium.
    #[arg(long, value_name = "PATH|URL")]
    pub medium: Option<String>,
    /// Print where the answer comes from (`none` if from nowhere) and stop.
    #[arg(long, conflicts_with_all = ["dry_run", "auto"])]
    pub locate: bool,
    /// The live console's autostart: only an answer found without asking, never the
    /// wizard; prints "TANDEM AUTO-INSTALL from <origin>" first.
    #[arg(long, hide = true)]
    pub auto: bool,
    /// Where the new system is assembled.
    #[arg(long, default_value = "/target", hide = true)]
    pub target: PathBuf,
    /// Ask for the typed confirmation even for an unattended answer (plain `tandem`, typed
    /// by a person, never installs without one).
    #[arg(skip)]
    pub always_confirm: bool,
}

/// `tandem install`.
pub fn install_command(a: InstallArgs) -> Result<()> {
    let mut places = locate::Places::live_system();
    places.flag = a.answer.clone();
    let inventory = || -> Result<Inventory> {
        match &a.hardware {
            Some(h) => crate::cli::read_inventory(h),
            None => crate::hardware::detect(std::path::Path::new("/"))
                .context("detecting this machine's hardware"),
        }
    };
    let mut inv = None;
    let mut confirmed = false;
    let located = locate::locate(&places)?;
    if a.locate {
        match &located {
            Some(f) => println!("{}", f.origin),
            None => println!("none"),
        }
        return Ok(());
    }
    if let (true, Some(f)) = (a.auto, &located) {
        println!("TANDEM AUTO-INSTALL from {}", f.origin);
    }
    let found = match located {
        Some(f) => f,
        // Nobody named an answer: ask for one on the console, if there is someone there.
        None if std::io::stdin().is_terminal() && !a.dry_run && !a.auto => {
            let path = PathBuf::from(WIZARD_ANSWER);
            let mut detected = inventory()?;
            if a.hardware.is_none() {
                crate::ui::measure_speed(&mut detected);
            }
            let asked = crate::ui::ask(&detected, Some(path))?;
            inv = Some(detected);
            let Some((path, typed)) = asked else {
                return Err(InputError::Other(
                    "the wizard's answer was not saved; nothing was installed".into(),
                )
                .into());
            };
            confirmed = typed;
            // A DRBD peer's secret is left as "generate" by the wizard: made here, into
            // the saved file, which is then what the peer is installed with.
            for line in crate::prepare::prepare_files(std::slice::from_ref(&path), None)? {
                if !line.ends_with("nothing to prepare") {
                    println!("{line}");
                }
            }
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            locate::Found {
                origin: locate::Origin::Wizard(path.clone()),
                name: path.display().to_string(),
                text,
            }
        }
        None => {
            return Err(InputError::Other(
                "no answer file: give --answer PATH|URL, boot with tandem.answer=URL, embed \
                 one with `tandem-image embed-answer`, put answer.toml on a partition \
                 labelled TANDEM, or run `tandem install` on a console to answer the wizard"
                    .into(),
            )
            .into())
        }
    };
    println!("answer: {}", found.origin);
    let medium = medium::Medium::choose(a.medium.as_deref(), places.cmdline.media.as_deref());
    println!("medium: {}", medium.describe());
    let inv = match inv {
        Some(i) => i,
        None => inventory()?,
    };

    // Everything is checked before anything is written.
    let doc = Document::parse(&found.name, &found.text).map_err(InputError::from)?;
    let hint = NodeHint {
        name: a.node.clone().or(places.cmdline.node.clone()),
        macs: inv.physical_nics().map(|n| n.hw_mac().clone()).collect(),
    };
    let loaded = doc.resolve(&hint).map_err(InputError::from)?;
    let answer = &loaded.answer;
    let mut issues = validate::validate(answer, loaded.node, Some(&inv));
    issues.extend(validate::check_for_install(answer));
    let plan = if issues.is_empty() {
        match plan::build(answer, loaded.node, &inv) {
            Ok(p) => Some(p),
            Err(mut p) => {
                issues.append(&mut p);
                None
            }
        }
    } else {
        None
    };
    let Some(plan) = plan else {
        return Err(InputError::Answer(loaded.map.diagnostics(issues)).into());
    };
    for w in loaded.map.diagnostics(validate::warnings(answer)).0 {
        println!("warning: {w}");
    }
    // check_for_install refused "generate": every secret is in the answer.
    let secrets = render::Secrets::from_answer(answer, |_| String::new());
    let files = render::all(answer, &plan, &secrets);
    let mut probe = runner::Runner::unlogged();
    let checked = medium.base_image().and_then(|base| {
        let debs = medium.debs_for(&plan, &base, &mut probe)?;
        Ok((base, debs))
    });
    let (base, debs) = match checked {
        Ok(x) => x,
        Err(e) if a.dry_run => {
            println!("note: {e:#}; the package steps are left out of this listing");
            (medium.assumed_base_image(), vec![])
        }
        Err(e) => return Err(e.context("checking the medium before writing anything")),
    };
    if let medium::BaseImage::Http { url, size } = &base {
        let bytes: u64 = debs.iter().filter_map(|d| d.size).sum();
        println!(
            "to download: {url} ({size} bytes) and {} packages ({bytes} bytes)",
            debs.len()
        );
    }
    let mut env = steps::Env::new(&a.target, base);
    if a.hardware.is_none() {
        env.consoles =
            steps::consoles_of(&std::fs::read_to_string("/proc/cmdline").unwrap_or_default());
    }
    let script = steps::script(answer, &plan, &inv, &debs, &files, &env);
    if a.dry_run {
        print!("{}", steps::describe(&script));
        println!("== then: {}", steps::finish_command(answer).display());
        return Ok(());
    }

    // One install per machine at a time: the screen's wizard and a serial console (or
    // two people) could otherwise both pass the exclusive-access check and write the
    // same disks. Taken before the confirmation, so nobody types `erase …` in vain.
    let _lock = take_install_lock(std::path::Path::new(INSTALL_LOCK))?;

    let unattended = matches!(
        found.origin,
        locate::Origin::KernelCmdline(_) | locate::Origin::Embedded(_)
    );
    if !a.yes && (a.always_confirm || !unattended) && !confirmed {
        confirm(&plan, &inv)?;
    }

    private_mounts()?;
    let mut runner = runner::Runner::with_log(std::path::Path::new(install::LIVE_LOG))
        .with_context(|| format!("opening {}", install::LIVE_LOG))?;
    if let Some(h) = &answer.system.root_password_hash {
        runner.add_secret(h.clone());
    }
    for r in answer.drbd.iter().flat_map(|d| &d.resources) {
        runner.add_secret(secrets.drbd(&r.name).to_string());
    }
    if let Some(t) = &places.cmdline.token {
        runner.add_secret(t.clone());
    }
    runner.note(&format!("answer: {}", found.origin));
    let progress = progress::Progress::new(a.progress, script.len());
    let mut ex = install::Executor::new(answer, &plan, env, PathBuf::from("/"), runner, progress);
    if let locate::Origin::Wizard(p) = &found.origin {
        ex.wizard_answer = Some(p.clone());
    }
    match ex.run(&script) {
        Ok(()) => {
            ex.progress.clear();
            let r = ex.report(None);
            print!("{}", install::summary(&r, ex.mdstat()));
            println!("{}", install::result_line(&r));
            let _ = std::io::stdout().flush();
            ex.runner.run(&steps::finish_command(answer))?;
            Ok(())
        }
        Err((phase, e)) => {
            ex.progress.clear();
            eprintln!("tandem install: failed in phase {phase}:\n{e:#}");
            if !a.reset_on_error {
                let kept = format!(
                    "the selected disks are left as the failure found them, unmounted and \
                     their arrays stopped (their partitions are named {}*, which \
                     wipe = \"if-empty\" refuses as an interrupted install): fix the cause \
                     and install again with wipe = \"force\", or pass --reset-on-error to \
                     clear them on a failure",
                    crate::hardware::PARTLABEL_UNFINISHED
                );
                eprintln!("{kept}");
                ex.runner.note(&kept);
            }
            ex.keep_log_on_failure();
            ex.tear_down(a.reset_on_error);
            if a.reset_on_error {
                let errs = ex.reset_disks();
                let mut lines = Vec::new();
                if errs.is_empty() {
                    lines.push(
                        "--reset-on-error: the selected disks' signatures and partition tables \
                         are cleared"
                            .to_string(),
                    );
                }
                lines.extend(errs.iter().map(|e| format!("--reset-on-error: {e}")));
                for l in lines {
                    eprintln!("{l}");
                    ex.runner.note(&l);
                }
            }
            eprintln!("the log is {}", install::LIVE_LOG);
            let r = ex.report(Some((phase, &e)));
            print!("{}", install::summary(&r, ex.mdstat()));
            println!("{}", install::result_line(&r));
            Err(anyhow::anyhow!("install failed in phase {phase}"))
        }
    }
}

/// The exact words that confirm erasing the selected disks.
pub fn confirmation_text(plan: &plan::Plan) -> String {
    erase_phrase(plan.storage.disks.iter().map(|d| d.name.as_str()))
}

/// "erase sda sdb sdc": what a person types to let disks be erased, in the installer and
/// in the wizard alike. Naming every disk makes a stray keypress harmless.
pub fn erase_phrase<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.into_iter().collect();
    format!("erase {}", names.join(" "))
}

fn confirm(plan: &plan::Plan, inv: &Inventory) -> Result<()> {
    println!("The install erases everything on these disks:");
    for d in &plan.storage.disks {
        let model = inv
            .disk(&d.name)
            .and_then(|x| x.model.clone())
            .unwrap_or_default();
        println!(
            "  {:<10} {:>10}  {model}  {}",
            d.dev,
            crate::answer::Size(d.size_bytes).human(),
            d.stable_path
        );
    }
    let want = confirmation_text(plan);
    print!("Type \"{want}\" to go on: ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    if line.trim_end_matches(['\n', '\r']) != want {
        return Err(InputError::Other("not confirmed; nothing was written".into()).into());
    }
    Ok(())
}

/// Held (flock) by the running install for its whole life; the kernel lets go of it
/// when the process ends, however it ends.
pub const INSTALL_LOCK: &str = "/run/tandem-install.lock";

/// The install lock, with this process's pid in the file; another holder is an error
/// naming its pid.
pub fn take_install_lock(path: &std::path::Path) -> Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    // SAFETY: flock on a file descriptor this function owns.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let holder = std::fs::read_to_string(path).unwrap_or_default();
        anyhow::bail!(
            "another tandem install is running on this machine (pid {}; lock {}): \
             two installs at once could write the same disks",
            holder.trim(),
            path.display()
        );
    }
    f.set_len(0).context("truncating the install lock")?;
    writeln!(f, "{}", std::process::id()).context("writing the install lock")?;
    Ok(f)
}

/// The install's mounts live in a mount namespace of their own, so nothing else on the live
/// system (udev and other services sit in namespaces that receive propagated mounts) keeps
/// a copy of /target busy: after `umount --recursive` the volumes are really free.
fn private_mounts() -> Result<()> {
    use nix::mount::{mount, MsFlags};
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .context("creating a mount namespace for the install")?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .context("making the install's mounts private")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_install_is_refused_while_the_first_holds_the_lock() {
        let dir = std::env::temp_dir().join(format!("tandem-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("install.lock");
        let first = take_install_lock(&path).unwrap();
        let e = take_install_lock(&path).unwrap_err().to_string();
        assert!(
            e.contains(&format!(
                "another tandem install is running on this machine (pid {}",
                std::process::id()
            )),
            "{e}"
        );
        drop(first);
        take_install_lock(&path).expect("free again once the first install is gone");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
