//! Command-line front end. Exit codes: 0 success, 2 invalid input or usage, 1 anything else.

use crate::answer::{self, Diagnostics, Loaded, NodeHint};
use crate::hardware::Inventory;
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "tandem",
    version,
    about = "Turns bare metal into a Proxmox VE HA node"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
    /// Show the machine's disks, NICs and firmware as the installer sees them. Reads only.
    Detect(DetectArgs),
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

/// A failure that is the input's fault: exit code 2, nothing was touched.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{0}")]
    Answer(#[from] Diagnostics),
    #[error("{0}")]
    Other(String),
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(ie) = e.downcast_ref::<InputError>() {
                eprintln!("{ie}");
                ExitCode::from(2)
            } else {
                eprintln!("tandem: {e:#}");
                ExitCode::from(1)
            }
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Validate {
            answer,
            hardware,
            node,
        } => {
            let inv = hardware.as_deref().map(read_inventory).transpose()?;
            for (name, _loaded) in load_answers(&answer, node, inv.as_ref())? {
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
        Command::Detect(args) => detect(args),
    }
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
        for d in &mut inv.disks {
            match speed::measure(Path::new(&d.dev_path()), budget) {
                Ok(r) => d.read_mbps = Some((r.mbps() * 10.0).round() / 10.0),
                Err(e) => eprintln!("tandem: speed of {}: {e:#}", d.name),
            }
        }
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

pub fn read_inventory(path: &Path) -> Result<Inventory> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading hardware inventory {}", path.display()))?;
    Inventory::from_json(&text).map_err(|e| {
        InputError::Other(format!(
            "{}:{}:{}: invalid hardware inventory: {e}",
            path.display(),
            e.line(),
            e.column()
        ))
        .into()
    })
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
