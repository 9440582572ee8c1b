//! The command line's definition, apart from what runs it: the man pages and shell
//! completions are generated from it (tandem-image), so they cannot drift from the parser.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "tandem",
    version = crate::VERSION,
    about = "Turns bare metal into a Proxmox VE HA node"
)]
pub struct Cli {
    /// Without a command, on a console: `install`, always asking for the typed
    /// confirmation (the wizard when no answer is found anywhere).
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
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
    Detect(crate::commands::detect::DetectArgs),
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
    /// Run this node's `[first-boot]` hooks of one stage that have not run yet
    /// (tandem-first-boot-early/late.service). Logs to /var/log/tandem/first-boot.log.
    #[command(subcommand)]
    FirstBoot(FirstBootCommand),
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
    Install(crate::commands::install::InstallArgs),
}

#[derive(Subcommand)]
pub enum DiskCommand {
    /// Put NEW in the place of a failed or missing disk of every array.
    ///
    /// The layout of a healthy member with new GUIDs, the ESP (with the missing one's
    /// volume id) and GRUB, then every array; md rebuilds in the background. Prints the
    /// plan and asks first. Exit 2 when the disk is refused (nothing written).
    Replace(crate::node::ReplaceArgs),
}

/// The command line's definition: the man pages and shell completions are generated from/// it (tandem-image), so they cannot drift from the parser.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    Cli::command()
}

#[derive(Debug, Subcommand)]
pub enum FirstBootCommand {
    /// Run the stage's hooks without a done or failed stamp, once each.
    Run {
        #[arg(long, value_enum)]
        stage: crate::contract::first_boot::Stage,
    },
}
