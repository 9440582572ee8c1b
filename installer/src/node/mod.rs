//! Day 2: the installed node. `tandem status` judges what the install left (arrays, ESPs,
//! GRUB's targets, DRBD); `tandem disk replace` puts a new disk in a failed one's place.
//! Facts are read from sysfs and files, judged and planned by pure functions, and only
//! `replace::execute` writes, through the same `Runner` (and log) as the install.

pub mod first_boot;
pub mod md;
pub mod replace;
pub mod status;

use crate::exec::runner::Runner;
use crate::hardware::speed::{self, Budget};
use anyhow::{Context, Result};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::error::{Refused, Unhealthy};

/// Where node_exporter's textfile collector reads on Debian (prometheus-node-exporter's
/// `--collector.textfile.directory`).
pub const TEXTFILE_DIR: &str = "/var/lib/prometheus/node-exporter";
/// `tandem disk replace`'s log, beside the install's.
pub const REPLACE_LOG: &str = "/var/log/tandem/disk-replace.log";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    /// node_exporter textfile-collector metrics, written to --textfile-dir.
    Prometheus,
}

pub fn status_command(sysroot: &Path, format: Format, textfile_dir: &Path) -> Result<()> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let is_root = unsafe { libc::geteuid() } == 0;
    let facts = status::collect(sysroot, is_root && sysroot == Path::new("/"))?;
    let s = status::judge(&facts);
    match format {
        Format::Text => print!("{}", s.text()),
        Format::Json => println!("{}", serde_json::to_string_pretty(&s)?),
        Format::Prometheus => {
            let path = status::write_textfile(textfile_dir, &s.prometheus())?;
            println!("{}", path.display());
        }
    }
    if s.healthy {
        Ok(())
    } else {
        Err(Unhealthy.into())
    }
}

#[derive(Debug, clap::Args)]
pub struct ReplaceArgs {
    /// The new disk: /dev/NAME, a /dev/disk/by-id name, or its serial.
    pub new: String,
    /// The disk to replace, when it is still attached (failing, or replaced while it
    /// works). Without it: the arrays' missing or faulty members.
    #[arg(long = "for", value_name = "OLD")]
    pub old: Option<String>,
    /// Don't ask for the typed confirmation.
    #[arg(long)]
    pub yes: bool,
    /// Print the plan and the steps; touch nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Use a new disk that holds signatures (a partition table, a filesystem): it is wiped.
    #[arg(long)]
    pub force: bool,
    /// Every command and its output, appended.
    #[arg(long, default_value = REPLACE_LOG)]
    pub log: PathBuf,
    /// Read /sys, /dev and /etc under this directory (tests; implies --dry-run).
    #[arg(long, default_value = "/", hide = true)]
    pub sysroot: PathBuf,
}

/// A FAT volume id from the kernel's CSPRNG, as mkfs.vfat would pick one.
fn fresh_volume_id() -> String {
    let mut b = [0u8; 4];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut b);
    }
    format!("{:02X}{:02X}-{:02X}{:02X}", b[3], b[2], b[1], b[0])
}

pub fn replace_command(a: ReplaceArgs) -> Result<()> {
    let started = Instant::now();
    let facts = status::collect(&a.sysroot, false)?;
    let req = replace::Request {
        new: a.new.clone(),
        old: a.old.clone(),
        force: a.force,
    };
    let r = replace::decide(&facts, &req, fresh_volume_id)?;
    let wipe = a.force
        && facts
            .inventory
            .disks
            .iter()
            .any(|d| d.dev_path() == r.new && !d.all_signatures().is_empty());
    let steps = replace::steps(&r, wipe);
    print!("{}", replace::describe(&r, &steps));
    if a.dry_run || a.sysroot != Path::new("/") {
        println!("dry run: nothing was written");
        return Ok(());
    }
    if !a.yes {
        let want = crate::plan::erase_phrase([r.new.trim_start_matches("/dev/")]);
        print!("Type \"{want}\" to go on: ");
        std::io::stdout().flush()?;
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        if line.trim_end_matches(['\n', '\r']) != want {
            return Err(Refused("not confirmed; nothing was written".into()).into());
        }
    }
    let mut runner =
        Runner::with_log(&a.log).with_context(|| format!("opening the log {}", a.log.display()))?;
    runner.note(&format!("tandem {} disk replace {}", crate::VERSION, r.new));
    let speeds = measure(&mut runner, &r);
    let mut say = |s: &str| println!("  {s}");
    let res = replace::execute(&mut runner, &steps, &mut say);
    let result = serde_json::json!({
        "command": "disk-replace",
        "result": if res.is_ok() { "ok" } else { "failed" },
        "new": r.new,
        "new-stable": r.new_stable,
        "arrays": r.partitions.iter().filter_map(|p| p.array.clone()).collect::<Vec<_>>(),
        "esp": r.esp.as_ref().map(|e| e.uuid.clone()),
        "speeds": speeds,
        "seconds": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        "error": res.as_ref().err().map(|e| runner.redact(&format!("{e:#}"))),
    });
    match &res {
        Ok(()) => println!(
            "{} joined the arrays; md rebuilds in the background (tandem status, cat /proc/mdstat). \
             Log: {}",
            r.new,
            a.log.display()
        ),
        Err(_) => eprintln!("tandem disk replace FAILED; log: {}", a.log.display()),
    }
    runner.note(&format!("TANDEM-RESULT {result}"));
    println!("TANDEM-RESULT {result}");
    res
}

/// The new disk's read and write speed and its peers' reads, like the install measures
/// (writes only on the new disk: the others hold data). A much slower new disk is
/// reported, not refused: the admin may have no other.
fn measure(runner: &mut Runner, r: &replace::Replacement) -> serde_json::Value {
    let mut reads = Vec::new();
    let mut names = vec![r.new.trim_start_matches("/dev/").to_string()];
    names.extend(r.peers.iter().cloned());
    for n in &names {
        let dev = PathBuf::from(format!("/dev/{n}"));
        let mbps = speed::measure(&dev, Budget::QUICK)
            .ok()
            .map(|x| x.mbps_rounded());
        reads.push((n.clone(), mbps));
    }
    // Past the first MiB: the partitioning that follows rewrites all of it anyway.
    let write = speed::measure_write(Path::new(&r.new), 1 << 20, Budget::QUICK)
        .ok()
        .map(|x| x.mbps_rounded());
    let classes: Vec<(&str, bool, Option<f64>)> =
        reads.iter().map(|(n, m)| (n.as_str(), false, *m)).collect();
    for (name, why) in speed::slower_than_peers(&classes, "reads") {
        if format!("/dev/{name}") == r.new {
            let line = format!("warning: the new disk {name} {why}");
            println!("{line}");
            runner.note(&line);
        }
    }
    runner.note(&format!(
        "speeds: reads {reads:?}, new disk writes {write:?} MB/s"
    ));
    serde_json::json!({
        "read-mbps": reads.iter().map(|(n, m)| (n.clone(), *m)).collect::<std::collections::BTreeMap<_, _>>(),
        "new-write-mbps": write,
    })
}
