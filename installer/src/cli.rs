//! Command-line front end. Exit codes: 0 success, 2 invalid input or usage, 1 anything else.

use crate::answer::{self, Diagnostics, Loaded, NodeHint};
use crate::hardware::Inventory;
use crate::{plan, render};
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "tandem",
    version = crate::VERSION,
    about = "Turns bare metal into a Proxmox VE HA node"
)]
struct Cli {
    /// Without a command, on a console: `install`, always asking for the typed
    /// confirmation (the wizard when no answer is found anywhere).
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Check an answer file (against a hardware inventory, if given). Touches nothing.
    Validate {
        #[arg(long)]
        answer: PathBuf,
        /// Hardware inventory JSON (from `tandem detect --json`).
        #[arg(long)]
        hardware: Option<PathBuf>,
        /// Which node of a cluster file to check (default: every node).
        #[arg(long)]
        node: Option<String>,
    },
    /// Print the answer file's JSON Schema, for editors.
    Schema,
    /// Show what an install would do on this hardware: disks, arrays, volumes, network,
    /// DRBD, packages, files. Touches nothing.
    Plan {
        #[arg(long)]
        answer: PathBuf,
        /// Hardware inventory JSON (from `tandem detect --json`).
        #[arg(long)]
        hardware: PathBuf,
        /// Which node of a cluster file (default: the one whose MACs the hardware has).
        #[arg(long)]
        node: Option<String>,
        /// Print the plan as JSON, for tools.
        #[arg(long)]
        json: bool,
    },
    /// Write every config file the install would write, under DIR. Touches nothing else.
    Render {
        #[arg(long)]
        answer: PathBuf,
        /// Hardware inventory JSON (from `tandem detect --json`).
        #[arg(long)]
        hardware: PathBuf,
        /// Which node of a cluster file (default: the one whose MACs the hardware has).
        #[arg(long)]
        node: Option<String>,
        /// Directory to write the file tree into (never /).
        #[arg(long)]
        out: PathBuf,
    },
    /// Fill in what an answer file leaves to the installer: every DRBD `secret =
    /// "generate"` becomes a fresh random secret. Give every file of one cluster in one
    /// run so all nodes get the same secret. The secret is never printed.
    Prepare {
        /// Answer file(s) to prepare; rewritten in place (mode 0600) unless --output.
        #[arg(long, required = true, num_args = 1..)]
        answer: Vec<PathBuf>,
        /// Where to write the result (only with a single --answer).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Mirror the mounted ESP onto every other disk's ESP (run by an apt hook on installed
    /// nodes, so every disk stays bootable after GRUB upgrades).
    EspSync {
        /// The mounted ESP to copy from.
        #[arg(long, default_value = "/boot/efi")]
        source: PathBuf,
        /// File listing every ESP's filesystem UUID.
        #[arg(long, default_value = crate::contract::ESP_LIST)]
        list: PathBuf,
        /// Where ESPs are found by UUID.
        #[arg(long, default_value = "/dev/disk/by-uuid", hide = true)]
        by_uuid: PathBuf,
        /// Print only problems.
        #[arg(long)]
        quiet: bool,
    },
    /// Ask the questions an answer file answers, on the console, and save the answer.
    /// Touches nothing but the saved file.
    Wizard {
        /// Hardware inventory JSON (from `tandem detect --json`) to build the node for;
        /// without it, this machine as detected now.
        #[arg(long)]
        hardware: Option<PathBuf>,
        /// Offer to save the answer file here at the end.
        #[arg(long)]
        save_answer: Option<PathBuf>,
    },
    /// Show the machine's disks, NICs and firmware as the installer sees them. Reads only.
    Detect(DetectArgs),
    /// Bring this node's DRBD resources up (tandem-drbd.service, every boot): module and
    /// drbd-utils checked, metadata on first boot, initial sync skipped for brand-new
    /// disks, Primary, the VG on top. Logs to /var/log/tandem/drbd-start.log.
    DrbdStart {
        #[arg(long, default_value = crate::contract::drbd::CONFIG)]
        config: PathBuf,
        #[arg(long, default_value = crate::contract::drbd::STATE_DIR)]
        state_dir: PathBuf,
        #[arg(long, default_value = crate::drbdctl::LOG)]
        log: PathBuf,
    },
    /// Take this node's DRBD resources down cleanly (tandem-drbd.service at shutdown).
    DrbdStop {
        #[arg(long, default_value = crate::contract::drbd::CONFIG)]
        config: PathBuf,
        #[arg(long, default_value = crate::drbdctl::LOG)]
        log: PathBuf,
    },
    /// On an installed node: arrays, ESPs, GRUB targets and DRBD against what the install
    /// made.
    ///
    /// Exit 0 healthy, 1 degraded or out of sync (names what), 2 not a Tandem node.
    Status {
        /// Print JSON (same as --format json).
        #[arg(long)]
        json: bool,
        #[arg(long, value_enum, default_value = "text")]
        format: crate::node::Format,
        /// With --format prometheus: node_exporter's textfile-collector directory;
        /// tandem.prom there is replaced whole.
        #[arg(long, default_value = crate::node::TEXTFILE_DIR)]
        textfile_dir: PathBuf,
        /// Read /sys, /proc, /dev and /etc under this directory instead of /.
        #[arg(long, default_value = "/", hide = true)]
        sysroot: PathBuf,
    },
    /// Disks of an installed node.
    #[command(subcommand)]
    Disk(DiskCommand),
    /// Install this machine from an answer file: validates everything first, then
    /// partitions, RAID, LVM, the base system and packages from the medium, configs, GRUB.
    Install(crate::exec::InstallArgs),
}

#[derive(Subcommand)]
enum DiskCommand {
    /// Put NEW in the place of a failed or missing disk of every array.
    ///
    /// The layout of a healthy member with new GUIDs, the ESP (with the missing one's
    /// volume id) and GRUB, then every array; md rebuilds in the background. Prints the
    /// plan and asks first. Exit 2 when the disk is refused (nothing written).
    Replace(crate::node::ReplaceArgs),
}

#[derive(clap::Args)]
struct DetectArgs {
    /// Print the inventory as JSON (the format `validate --hardware` reads).
    #[arg(long)]
    json: bool,
    /// Read /sys, /proc and /run/udev/data under this directory instead of /.
    #[arg(long, default_value = "/")]
    sysroot: PathBuf,
    /// Measure each disk's sequential read speed (O_DIRECT, reads only).
    #[arg(long)]
    speed: bool,
    /// How much to read per disk with --speed, in MiB.
    #[arg(long, default_value_t = 256)]
    speed_mib: u64,
    /// Time limit per disk with --speed, in seconds.
    #[arg(long, default_value_t = 10)]
    speed_seconds: u64,
    /// Show which disks and NICs this answer file selects, and why the others are left out.
    #[arg(long = "match", value_name = "ANSWER")]
    answer: Option<PathBuf>,
    /// With --match: the cluster node the answer is for (default: found by MAC).
    #[arg(long)]
    node: Option<String>,
}

/// The command line's definition: the man pages and shell completions are generated from
/// it (tandem-image), so they cannot drift from the parser.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    Cli::command()
}

/// A failure that is the input's fault: exit code 2, nothing was touched.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{0}")]
    Answer(#[from] Diagnostics),
    #[error("{0}")]
    Other(String),
}

/// Parses the command line; on failure prints clap's text and gives the exit code: 2 for a
/// usage error, 0 for --help and --version. Both binaries use this rule.
pub fn parse_args<C: Parser>() -> Result<C, ExitCode> {
    C::try_parse().map_err(|e| {
        let _ = e.print();
        if e.use_stderr() {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        }
    })
}

pub fn main() -> ExitCode {
    let cli: Cli = match parse_args() {
        Ok(c) => c,
        Err(code) => return code,
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(a) = e.downcast_ref::<crate::ui::term::Aborted>() {
                eprintln!("\n{a}");
                ExitCode::from(130)
            } else if let Some(ie) = e.downcast_ref::<InputError>() {
                eprintln!("{ie}");
                ExitCode::from(2)
            } else if let Some(r) = e.downcast_ref::<crate::node::Refused>() {
                eprintln!("tandem: {r}");
                ExitCode::from(2)
            } else if e.downcast_ref::<crate::node::Unhealthy>().is_some() {
                ExitCode::from(1)
            } else {
                eprintln!("tandem: {e:#}");
                ExitCode::from(1)
            }
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let Some(command) = cli.command else {
        return bare();
    };
    match command {
        Command::Validate {
            answer,
            hardware,
            node,
        } => {
            let inv = hardware.as_deref().map(read_inventory).transpose()?;
            for (name, _loaded) in validate_answers(&answer, node, inv.as_ref())? {
                match name {
                    Some(n) => println!("{}: node {n}: valid", answer.display()),
                    None => println!("{}: valid", answer.display()),
                }
            }
            Ok(())
        }
        Command::Schema => {
            println!("{}", serde_json::to_string_pretty(&answer::schema())?);
            Ok(())
        }
        Command::Plan {
            answer,
            hardware,
            node,
            json,
        } => {
            let inv = read_inventory(&hardware)?;
            let loaded = load_one(&answer, node, &inv)?;
            let plan = plan_for(&loaded, &inv)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&plan)?);
            } else {
                print!("{plan}");
            }
            Ok(())
        }
        Command::Render {
            answer,
            hardware,
            node,
            out,
        } => {
            let inv = read_inventory(&hardware)?;
            let loaded = load_one(&answer, node, &inv)?;
            let plan = plan_for(&loaded, &inv)?;
            let secrets = render::Secrets::from_answer(&loaded.answer, |res| {
                eprintln!(
                    "tandem render: warning: drbd resource {res} has secret = \"generate\"; \
                     this preview uses a random secret. Peers must share one secret: \
                     `tandem prepare` writes one into the answer file."
                );
                preview_secret()
            });
            let files = render::all(&loaded.answer, &plan, &secrets);
            write_tree(&out, &files)?;
            println!("{}: {} files written", out.display(), files.len());
            Ok(())
        }
        Command::Prepare { answer, output } => {
            if output.is_some() && answer.len() != 1 {
                return Err(InputError::Other(
                    "--output goes with a single --answer; several files are prepared in place"
                        .into(),
                )
                .into());
            }
            for line in crate::prepare::prepare_files(&answer, output.as_deref())? {
                println!("{line}");
            }
            Ok(())
        }
        Command::EspSync {
            source,
            list,
            by_uuid,
            quiet,
        } => esp_sync(&source, &list, &by_uuid, quiet),
        Command::Wizard {
            hardware,
            save_answer,
        } => {
            let (inv, source) = match &hardware {
                Some(h) => (read_inventory(h)?, format!("the inventory {}", h.display())),
                None => {
                    let mut inv = crate::hardware::detect(Path::new("/"))
                        .context("detecting this machine's hardware")?;
                    crate::ui::measure_speed(&mut inv);
                    (inv, "this machine".to_string())
                }
            };
            crate::ui::run_wizard(&inv, &source, save_answer)
        }
        Command::Detect(args) => detect(args),
        Command::Install(args) => crate::exec::install_command(args),
        Command::DrbdStart {
            config,
            state_dir,
            log,
        } => crate::drbdctl::start(&config, &state_dir, &log),
        Command::DrbdStop { config, log } => crate::drbdctl::stop(&config, &log),
        Command::Status {
            json,
            format,
            textfile_dir,
            sysroot,
        } => {
            let format = if json {
                crate::node::Format::Json
            } else {
                format
            };
            crate::node::status_command(&sysroot, format, &textfile_dir)
        }
        Command::Disk(DiskCommand::Replace(args)) => crate::node::replace_command(args),
    }
}

/// Plain `tandem`: a person at the console wants to install; anything else gets the help.
fn bare() -> Result<()> {
    use clap::{Args, CommandFactory, FromArgMatches};
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        Cli::command().print_help()?;
        return Err(InputError::Other("\nno command given".into()).into());
    }
    let m = crate::exec::InstallArgs::augment_args(clap::Command::new("tandem"))
        .try_get_matches_from(["tandem"])?;
    let mut args = crate::exec::InstallArgs::from_arg_matches(&m)?;
    args.always_confirm = true;
    crate::exec::install_command(args)
}

fn esp_sync(source: &Path, list: &Path, by_uuid: &Path, quiet: bool) -> Result<()> {
    use crate::exec::esp::{self, EspOutcome};
    let text = match std::fs::read_to_string(list) {
        Ok(t) => t,
        // A node installed without UEFI (or by something else) has no list: nothing to do.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", list.display())),
    };
    let uuids = crate::contract::read_esp_list(&text);
    let scratch = std::env::temp_dir().join(format!("tandem-esp-sync.{}", std::process::id()));
    let mut runner = crate::exec::runner::Runner::unlogged();
    let res = esp::sync_all(&mut runner, source, &uuids, by_uuid, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    let mut missing = 0;
    for (uuid, outcome) in res? {
        match outcome {
            EspOutcome::Source => {}
            EspOutcome::Missing => {
                missing += 1;
                eprintln!("tandem esp-sync: ESP {uuid} not found (failed or removed disk?)");
            }
            EspOutcome::Synced(r) if !quiet => println!(
                "ESP {uuid}: {} copied, {} removed, {} unchanged",
                r.copied, r.removed, r.unchanged
            ),
            EspOutcome::Synced(_) => {}
        }
    }
    if missing > 0 && !quiet {
        eprintln!("tandem esp-sync: {missing} ESP(s) missing; the others are in sync");
    }
    Ok(())
}

/// Plans one node; the planner's issues are placed in the answer file like validation's.
pub fn plan_for(loaded: &Loaded, inv: &Inventory) -> Result<plan::Plan> {
    plan::build(&loaded.answer, loaded.node, inv)
        .map_err(|issues| InputError::from(loaded.map.diagnostics(issues)).into())
}

/// Loads and validates the answer for the one node this hardware is: `plan` and `render`
/// refuse what `validate` refuses, with the same messages.
fn load_one(path: &Path, node: Option<String>, inv: &Inventory) -> Result<Loaded> {
    validate_answers(path, node, Some(inv))?
        .into_iter()
        .next()
        .map(|(_, l)| l)
        .ok_or_else(|| InputError::Other(format!("{}: no node to plan", path.display())).into())
}

/// A random secret for previews, from the kernel's CSPRNG.
fn preview_secret() -> String {
    let mut b = [0u8; 24];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut b);
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Writes rendered files under `out`, with their modes. Refuses `/`: rendering is a
/// preview, never an install.
///
/// Validation keeps bad names and values out of the files; this is the second line. Every
/// file is checked before the first is written: its path must stay under `out` (no `..`,
/// no component longer than a file name may be) and no line may carry a control
/// character. A tree for a new `out` is written into a temporary sibling and renamed into
/// place, so it appears whole or not at all.
pub fn write_tree(out: &Path, files: &[render::RenderedFile]) -> Result<()> {
    let resolved = std::fs::canonicalize(out).unwrap_or_else(|_| out.to_path_buf());
    if resolved == Path::new("/") || out.as_os_str().is_empty() {
        return Err(InputError::Other(format!(
            "--out {}: refusing to render over the root filesystem",
            out.display()
        ))
        .into());
    }
    let problems = tree_problems(files);
    if !problems.is_empty() {
        return Err(InputError::Other(format!(
            "{}: nothing written:\n{}",
            out.display(),
            problems.join("\n")
        ))
        .into());
    }
    let checked: Vec<(PathBuf, &render::RenderedFile)> = files
        .iter()
        .filter_map(|f| tree_path(f).ok().map(|rel| (rel, f)))
        .collect();
    if out.exists() {
        return write_files(out, &checked);
    }
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let stage = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join(format!(".{name}.tandem-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&stage);
    let written = std::fs::create_dir_all(&stage)
        .with_context(|| format!("creating {}", stage.display()))
        .and_then(|()| write_files(&stage, &checked))
        .and_then(|()| {
            std::fs::rename(&stage, out)
                .with_context(|| format!("renaming {} to {}", stage.display(), out.display()))
        });
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&stage);
    }
    written
}

/// Why each of `files` could not be written under a root: a path that leaves it, a name
/// too long, a control character in a path or a line. Empty when all can. (The fuzz
/// targets hold every rendered tree of a valid answer to this too.)
pub fn tree_problems(files: &[render::RenderedFile]) -> Vec<String> {
    files.iter().filter_map(|f| tree_path(f).err()).collect()
}

/// The path of a rendered file relative to the tree's root, or why it cannot be written.
fn tree_path(f: &render::RenderedFile) -> std::result::Result<PathBuf, String> {
    use std::path::Component;
    let rel = Path::new(f.path.trim_start_matches('/'));
    let shown = f.path.escape_debug();
    if f.path.chars().any(char::is_control) {
        return Err(format!("{shown}: the path contains a control character"));
    }
    if rel.as_os_str().is_empty() {
        return Err(format!("{shown}: not a file path"));
    }
    for c in rel.components() {
        match c {
            Component::Normal(n) if n.len() <= 255 => {}
            Component::Normal(_) => {
                return Err(format!(
                    "{shown}: a path component is longer than 255 bytes"
                ))
            }
            _ => return Err(format!("{shown}: the path leaves the output directory")),
        }
    }
    if let Some((n, line)) = f
        .content
        .split('\n')
        .enumerate()
        .find(|(_, l)| l.chars().any(|c| c.is_control() && c != '\t'))
    {
        let c = line
            .chars()
            .find(|c| c.is_control() && *c != '\t')
            .unwrap_or('?');
        return Err(format!(
            "{shown}: line {} carries the control character U+{:04X}",
            n + 1,
            c as u32
        ));
    }
    Ok(rel.to_path_buf())
}

fn write_files(root: &Path, files: &[(PathBuf, &render::RenderedFile)]) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for (rel, f) in files {
        let p = root.join(rel);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        // Create with the final mode, so a secret is never readable even for a moment.
        let _ = std::fs::remove_file(&p);
        {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut fh = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(f.mode)
                .open(&p)
                .with_context(|| format!("writing {}", p.display()))?;
            fh.write_all(f.content.as_bytes())
                .with_context(|| format!("writing {}", p.display()))?;
        }
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(f.mode))
            .with_context(|| format!("setting the mode of {}", p.display()))?;
    }
    Ok(())
}

fn detect(args: DetectArgs) -> Result<()> {
    use crate::hardware::{self, report, speed};
    let mut inv = hardware::detect(&args.sysroot)?;
    let mut slow = Vec::new();
    if args.speed {
        if args.sysroot != Path::new("/") {
            return Err(InputError::Other(
                "--speed reads the live disks; it cannot be used with --sysroot".into(),
            )
            .into());
        }
        let budget = speed::Budget {
            bytes: args.speed_mib << 20,
            time: std::time::Duration::from_secs(args.speed_seconds),
        };
        speed::measure_disks(&mut inv.disks, budget, |d, r| {
            if let Err(e) = r {
                eprintln!("tandem: speed of {}: {e:#}", d.name);
            }
        });
        slow = speed::slow_disks(&inv.disks);
    }
    if let Some(path) = &args.answer {
        let mut failed = Vec::new();
        for (node, loaded) in load_answers(path, args.node.clone(), Some(&inv))? {
            if let Some(n) = node {
                println!("{}: node {n}", path.display());
            }
            let (text, issues) = report::matches(&loaded.answer, &inv);
            print!("{text}");
            if !issues.is_empty() {
                failed.push(loaded.map.diagnostics(issues).to_string());
            }
        }
        if !failed.is_empty() {
            return Err(InputError::Other(failed.join("\n")).into());
        }
        return Ok(());
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&inv)?);
        for (name, why) in &slow {
            eprintln!("tandem: warning: {name} {why}");
        }
    } else {
        print!("{}", report::inventory(&inv, &slow));
    }
    Ok(())
}

/// Loads an answer (every node of a cluster file, unless one is named) and validates each,
/// against `inv` when given. All problems of all nodes come back as one `InputError`; a
/// problem that only some nodes of a cluster file have names the node.
pub fn validate_answers(
    path: &Path,
    node: Option<String>,
    inv: Option<&Inventory>,
) -> Result<Vec<(Option<String>, Loaded)>> {
    let loaded = load_answers(path, node, inv)?;
    let per_node: Vec<Vec<answer::Diagnostic>> = loaded
        .iter()
        .map(|(_, l)| {
            let mut issues = crate::validate::validate(&l.answer, l.node, inv);
            // A valid answer is also planned against the hardware: capacity and layout
            // problems are the planner's to find.
            if let (true, Some(inv)) = (issues.is_empty(), inv) {
                if let Err(mut p) = plan::build(&l.answer, l.node, inv) {
                    issues.append(&mut p);
                }
            }
            l.map.diagnostics(issues).0
        })
        .collect();
    let mut all: Vec<answer::Diagnostic> = Vec::new();
    for (i, diags) in per_node.iter().enumerate() {
        for d in diags {
            let everywhere = per_node.iter().all(|o| o.contains(d));
            if everywhere {
                if i == 0 {
                    all.push(d.clone());
                }
            } else {
                let mut d = d.clone();
                if let Some(n) = &loaded[i].0 {
                    d.message = format!("node {n}: {}", d.message);
                }
                all.push(d);
            }
        }
    }
    all.extend(cross_node_diagnostics(path));
    let mut warnings: Vec<answer::Diagnostic> = loaded
        .iter()
        .flat_map(|(_, l)| l.map.diagnostics(crate::validate::warnings(&l.answer)).0)
        .collect();
    warnings.sort_by_key(|d| (d.line, d.column));
    warnings.dedup();
    for w in &warnings {
        eprintln!("tandem: warning: {w}");
    }
    if all.is_empty() {
        return Ok(loaded);
    }
    all.sort_by_key(|d| (d.line, d.column));
    all.dedup();
    Err(InputError::Answer(Diagnostics(all)).into())
}

/// What the nodes of one cluster file must agree on (DRBD peers), each node resolved with
/// its overrides, whichever node this validation is for. A node that does not resolve is
/// left to the per-node checks.
fn cross_node_diagnostics(path: &Path) -> Vec<answer::Diagnostic> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return vec![];
    };
    let Ok(doc) = answer::Document::parse(&path.display().to_string(), &text) else {
        return vec![];
    };
    let mut nodes = Vec::new();
    for n in doc.node_names() {
        let hint = NodeHint {
            name: Some(n.clone()),
            macs: vec![],
        };
        match doc.resolve(&hint) {
            Ok(l) => nodes.push((n, l)),
            Err(_) => return vec![],
        }
    }
    let answers: Vec<(String, answer::Answer)> = nodes
        .iter()
        .map(|(n, l)| (n.clone(), l.answer.clone()))
        .collect();
    crate::validate::drbd_across_nodes(&answers)
        .into_iter()
        .flat_map(|(j, issue)| {
            let (name, l) = &nodes[j];
            l.map
                .diagnostics(vec![issue])
                .0
                .into_iter()
                .map(move |mut d| {
                    d.message = format!("node {name}: {}", d.message);
                    d
                })
        })
        .collect()
}

/// Reads `--hardware`: a file that is not a readable, well-formed and possible inventory
/// is bad input (exit 2), named with every problem.
pub fn read_inventory(path: &Path) -> Result<Inventory> {
    let bytes = std::fs::read(path).map_err(|e| {
        InputError::Other(format!(
            "{}: cannot read the hardware inventory: {e}",
            path.display()
        ))
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        InputError::Other(format!(
            "{}: invalid hardware inventory: not UTF-8 text (byte {})",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
    })?;
    let inv = Inventory::from_json(&text).map_err(|e| {
        InputError::Other(format!(
            "{}:{}:{}: invalid hardware inventory: {e}",
            path.display(),
            e.line(),
            e.column()
        ))
    })?;
    let problems = inv.problems();
    if !problems.is_empty() {
        return Err(InputError::Other(
            problems
                .iter()
                .map(|p| format!("{}: invalid hardware inventory: {p}", path.display()))
                .collect::<Vec<_>>()
                .join("\n"),
        )
        .into());
    }
    Ok(inv)
}

/// Loads an answer for one node, or for every node of a cluster file when none is named
/// and the inventory cannot tell.
pub fn load_answers(
    path: &Path,
    node: Option<String>,
    inv: Option<&Inventory>,
) -> Result<Vec<(Option<String>, Loaded)>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError::Other(format!("{}: cannot read: {e}", path.display())))?;
    let file = path.display().to_string();
    let doc = answer::Document::parse(&file, &text).map_err(InputError::from)?;
    let macs = inv
        .map(|i| i.physical_nics().map(|n| n.hw_mac().clone()).collect())
        .unwrap_or_default();
    let single = NodeHint {
        name: node.clone(),
        macs,
    };
    let names = doc.node_names();
    let has_hostname = text_has_hostname(&doc, &single);
    let hints: Vec<NodeHint> =
        if node.is_some() || inv.is_some() || names.is_empty() || has_hostname {
            vec![single]
        } else {
            names
                .iter()
                .map(|n| NodeHint {
                    name: Some(n.clone()),
                    macs: vec![],
                })
                .collect()
        };
    let mut out = Vec::new();
    for h in hints {
        let loaded = doc.resolve(&h).map_err(InputError::from)?;
        let name = loaded.node.and_then(|i| {
            loaded
                .answer
                .cluster
                .as_ref()
                .map(|c| c.nodes[i].name.clone())
        });
        out.push((name, loaded));
    }
    Ok(out)
}

fn text_has_hostname(doc: &answer::Document, hint: &NodeHint) -> bool {
    // A file that names its own host resolves without a hint.
    doc.resolve(&NodeHint {
        name: None,
        macs: hint.macs.clone(),
    })
    .map(|l| l.node.is_none() || !l.answer.system.hostname.is_empty())
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use render::RenderedFile;

    fn file(path: &str, content: &str) -> RenderedFile {
        RenderedFile {
            path: path.into(),
            mode: 0o644,
            content: content.into(),
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tandem-tree-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn refused(files: &[RenderedFile], want: &str) {
        let d = scratch("refused");
        let out = d.join("out");
        let e = write_tree(&out, files).unwrap_err();
        assert!(e.downcast_ref::<InputError>().is_some(), "{e:#}");
        assert!(format!("{e:#}").contains(want), "{e:#}");
        // Nothing at all: not the good file before the bad one, not a staging directory.
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_path_that_leaves_the_tree_is_refused_and_nothing_is_written() {
        let good = file("/etc/hostname", "a\n");
        for p in [
            "/etc/drbd.d/../../../escaped.res",
            "../x",
            "/etc/./x/../../../y",
        ] {
            refused(
                &[good.clone(), file(p, "x\n")],
                "leaves the output directory",
            );
        }
        refused(&[good.clone(), file("/", "x\n")], "not a file path");
        let long = format!("/etc/systemd/network/10-{}.link", "e".repeat(300));
        refused(&[good.clone(), file(&long, "x\n")], "longer than 255 bytes");
        refused(&[good, file("/etc/a\nb", "x\n")], "control character");
    }

    #[test]
    fn a_line_with_a_control_character_is_refused() {
        refused(
            &[file(
                "/etc/hosts",
                "127.0.0.1 localhost\n10.0.0.1 a\u{1b}[2J\n",
            )],
            "/etc/hosts: line 2 carries the control character U+001B",
        );
        refused(&[file("/etc/fstab", "a\rb\n")], "U+000D");
    }

    #[test]
    fn a_new_tree_appears_whole_and_an_existing_one_is_written_into() {
        let d = scratch("whole");
        let out = d.join("out");
        let files = [
            file("/etc/hosts", "127.0.0.1\tlocalhost\n"),
            file("etc/x/y", ""),
        ];
        write_tree(&out, &files).unwrap();
        assert_eq!(
            std::fs::read_to_string(out.join("etc/hosts")).unwrap(),
            "127.0.0.1\tlocalhost\n"
        );
        assert!(out.join("etc/x/y").is_file());
        let names: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            ["out"],
            "the staging directory was renamed, not left"
        );
        std::fs::write(out.join("mine"), "kept").unwrap();
        write_tree(&out, &[file("/etc/hostname", "b\n")]).unwrap();
        assert_eq!(std::fs::read_to_string(out.join("mine")).unwrap(), "kept");
        assert!(out.join("etc/hostname").is_file());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
