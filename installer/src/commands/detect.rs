//! `tandem detect`: the machine as the installer sees it, and with `--match` which disks and
//! NICs an answer selects.

use crate::error::InputError;
use crate::session;
use anyhow::Result;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct DetectArgs {
    /// Print the inventory as JSON (the format `validate --hardware` reads).
    #[arg(long)]
    pub json: bool,
    /// Read /sys, /proc and /run/udev/data under this directory instead of /.
    #[arg(long, default_value = "/")]
    pub sysroot: PathBuf,
    /// Measure each disk's sequential read speed (O_DIRECT, reads only).
    #[arg(long)]
    pub speed: bool,
    /// How much to read per disk with --speed, in MiB.
    #[arg(long, default_value_t = 256)]
    pub speed_mib: u64,
    /// Time limit per disk with --speed, in seconds.
    #[arg(long, default_value_t = 10)]
    pub speed_seconds: u64,
    /// Show which disks and NICs this answer file selects, and why the others are left out.
    #[arg(long = "match", value_name = "ANSWER")]
    pub answer: Option<PathBuf>,
    /// With --match: the cluster node the answer is for (default: found by MAC).
    #[arg(long)]
    pub node: Option<String>,
}

pub fn run(args: DetectArgs) -> Result<()> {
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
        for (node, loaded) in session::load_answers(path, args.node.clone(), Some(&inv))? {
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
