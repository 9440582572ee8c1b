//! `tandem install` (and plain `tandem` at a console): finds the answer (or asks the wizard
//! for one), has the session check and plan it against this machine, shows the medium and
//! asks for the typed confirmation, then hands the prepared install to the executor.

use crate::answer::NodeHint;
use crate::error::InputError;
use crate::exec::{install, locate, medium, progress, report, runner, steps};
use crate::hardware::Inventory;
use crate::plan::Plan;
use crate::session::{self, Prepared};
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
    pub progress: crate::exec::progress::Mode,
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
pub fn run(a: InstallArgs) -> Result<()> {
    let mut places = locate::Places::live_system();
    places.flag = a.answer.clone();
    let inventory = || -> Result<Inventory> {
        match &a.hardware {
            Some(h) => session::read_inventory(h),
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
    let hint = NodeHint {
        name: a.node.clone().or(places.cmdline.node.clone()),
        macs: inv.physical_nics().map(|n| n.hw_mac().clone()).collect(),
    };
    let prepared = Prepared::for_install(&found.name, &found.text, &hint, &inv)?;
    for w in &prepared.warnings {
        println!("warning: {w}");
    }
    let (answer, plan, files) = (prepared.answer(), &prepared.plan, &prepared.files);
    let mut probe = runner::Runner::unlogged();
    let checked = medium.base_image().and_then(|base| {
        let debs = medium.debs_for(plan, &base, &mut probe)?;
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
    let script = steps::script(answer, plan, &inv, &debs, files, &env);
    if a.dry_run {
        print!("{}", steps::describe(&script));
        println!("== then: {}", steps::finish_command(answer).display());
        return Ok(());
    }

    // One install per machine at a time: the screen's wizard and a serial console (or
    // two people) could otherwise both pass the exclusive-access check and write the
    // same disks. Taken before the confirmation, so nobody types `erase …` in vain.
    let _lock = crate::exec::take_install_lock(std::path::Path::new(crate::exec::INSTALL_LOCK))?;

    let unattended = found.origin.is_unattended();
    if !a.yes && (a.always_confirm || !unattended) && !confirmed {
        confirm(plan, &inv)?;
    }

    let _mount_namespace = crate::exec::private_mounts()?;
    let mut runner = runner::Runner::with_log(std::path::Path::new(install::LIVE_LOG))
        .with_context(|| format!("opening {}", install::LIVE_LOG))?;
    for s in install::answer_secrets(answer, |r| prepared.secrets.drbd(r).to_string()) {
        runner.add_secret(s);
    }
    if let Some(t) = &places.cmdline.token {
        runner.add_secret(t.clone());
    }
    runner.note(&format!("answer: {}", found.origin));
    let progress = progress::Progress::new(a.progress, script.len());
    let mut ex = install::Executor::new(answer, plan, env, PathBuf::from("/"), runner, progress);
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
            ex.send_report(&r, &inv, std::path::Path::new(report::DMI_DIR));
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
            ex.send_report(&r, &inv, std::path::Path::new(report::DMI_DIR));
            Err(anyhow::anyhow!("install failed in phase {phase}"))
        }
    }
}

fn confirm(plan: &Plan, inv: &Inventory) -> Result<()> {
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
    let want = plan.confirmation_text();
    print!("Type \"{want}\" to go on: ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    if line.trim_end_matches(['\n', '\r']) != want {
        return Err(InputError::Other("not confirmed; nothing was written".into()).into());
    }
    Ok(())
}

/// Plain `tandem` typed by a person at a console: `install` with its defaults, always
/// asking for the typed confirmation.
pub fn bare() -> Result<()> {
    use clap::{Args, FromArgMatches};
    let m =
        InstallArgs::augment_args(clap::Command::new("tandem")).try_get_matches_from(["tandem"])?;
    let mut args = InstallArgs::from_arg_matches(&m)?;
    args.always_confirm = true;
    run(args)
}
