//! The install's partition tables, written in-process with the `gpt` crate. One `sgdisk`
//! and one `partprobe` per disk made up most of the partition phase under TCG, as process
//! start-up; the table itself is a few sectors. The layout is the one `sgdisk --clear
//! --new … --typecode … --change-name …` wrote: the plan's sectors, 128 entries, random
//! disk and partition GUIDs, no attribute bits, behind a protective MBR.

use crate::plan::{PartRole, PlannedDisk};
use anyhow::{bail, ensure, Context, Result};
use gpt::disk::LogicalBlockSize;
use gpt::mbr::ProtectiveMBR;
use gpt::partition_types::{self, Type};
use gpt::GptConfig;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileTypeExt;
use std::time::Duration;

/// One disk's table as the plan lays it out, in the disk's logical sectors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// The whole disk, e.g. /dev/vda.
    pub dev: String,
    /// Logical sector size in bytes: the unit of every LBA below.
    pub sector: u64,
    /// Numbered 1, 2, … in order: the crate fills the entry array from its first slot.
    pub partitions: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub number: u32,
    pub first_lba: u64,
    /// Inclusive, as GPT stores it.
    pub last_lba: u64,
    pub role: PartRole,
    /// The GPT partition name (PARTLABEL).
    pub name: String,
}

impl Table {
    /// The plan's partitions of `d`, each under its in-progress name until the install's
    /// last step renames it.
    pub fn planned(d: &PlannedDisk, sector: u64) -> Table {
        let partitions = d
            .partitions
            .iter()
            .map(|p| Entry {
                number: p.number,
                first_lba: p.start_bytes / sector,
                last_lba: (p.start_bytes + p.size_bytes) / sector - 1,
                role: p.role,
                name: crate::hardware::unfinished_label(&p.label),
            })
            .collect();
        Table {
            dev: d.dev.to_string(),
            sector,
            partitions,
        }
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "write a GPT and a protective MBR on {} ({}-byte sectors):",
            self.dev, self.sector
        )?;
        for p in &self.partitions {
            write!(
                f,
                " {}:{}:{} {} {}",
                p.number,
                p.first_lba,
                p.last_lba,
                p.role.type_code(),
                p.name
            )?;
        }
        write!(f, "; the kernel re-reads it (partprobe if it refuses)")
    }
}

/// The partition type GUID behind each role's sgdisk code (EF02, EF00, FD00).
fn type_of(role: PartRole) -> Type {
    match role {
        PartRole::BiosBoot => partition_types::BIOS,
        PartRole::Esp => partition_types::EFI,
        PartRole::Boot | PartRole::Data => partition_types::LINUX_RAID,
    }
}

/// Whether the kernel took the new table.
#[derive(Debug)]
pub enum Reread {
    Done,
    /// An image file: there is no kernel table to refresh.
    NotABlockDevice,
    /// BLKRRPART kept failing (a partition still held open): the caller falls back to
    /// partprobe, which updates the partitions one by one.
    Refused(std::io::Error),
}

/// `_IO(0x12, 95)` from linux/fs.h; the libc crate does not define it.
const BLKRRPART: u64 = 0x125f;
/// udev probes a disk after every write to it and holds a partition open meanwhile,
/// which makes BLKRRPART fail with EBUSY for that moment.
const REREAD_TRIES: u32 = 20;
const REREAD_PAUSE: Duration = Duration::from_millis(250);

/// Writes `t` over whatever is at the start and the end of `t.dev` (the wipe phase has
/// erased it) and asks the kernel to re-read it.
pub fn write(t: &Table) -> Result<Reread> {
    let lb = LogicalBlockSize::try_from(t.sector)
        .with_context(|| format!("{}: {}-byte logical sectors", t.dev, t.sector))?;
    for (i, p) in t.partitions.iter().enumerate() {
        if p.number as usize != i + 1 || p.last_lba < p.first_lba {
            bail!(
                "{}: partition {} ({}–{}) is not the next in order or is empty",
                t.dev,
                p.number,
                p.first_lba,
                p.last_lba
            );
        }
    }
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&t.dev)
        .with_context(|| format!("opening {} to write its partition table", t.dev))?;
    let bytes = f
        .seek(SeekFrom::End(0))
        .with_context(|| format!("reading the size of {}", t.dev))?;
    let sectors = bytes / t.sector;
    ensure!(sectors > 0, "{}: empty device", t.dev);
    // The protective partition covers LBA 1 to the end, or as far as 32 bits reach.
    let mbr = ProtectiveMBR::with_lb_size(u32::try_from(sectors - 1).unwrap_or(u32::MAX));
    mbr.overwrite_lba0(&mut f)
        .with_context(|| format!("writing the protective MBR of {}", t.dev))?;
    let mut disk = GptConfig::new()
        .writable(true)
        .logical_block_size(lb)
        .create_from_device(f, None)
        .with_context(|| format!("laying out a GPT on {}", t.dev))?;
    for p in &t.partitions {
        disk.add_partition_at(
            &p.name,
            p.number,
            p.first_lba,
            p.last_lba - p.first_lba + 1,
            type_of(p.role),
            0,
        )
        .with_context(|| {
            format!(
                "{}: partition {} at {}–{}",
                t.dev, p.number, p.first_lba, p.last_lba
            )
        })?;
    }
    let f = disk
        .write()
        .with_context(|| format!("writing the GPT of {}", t.dev))?;
    f.sync_all()
        .with_context(|| format!("flushing the GPT of {}", t.dev))?;
    reread(&f, &t.dev)
}

fn reread(f: &File, dev: &str) -> Result<Reread> {
    let meta = f.metadata().with_context(|| format!("stat {dev}"))?;
    if !meta.file_type().is_block_device() {
        return Ok(Reread::NotABlockDevice);
    }
    let mut tries = 0;
    loop {
        // SAFETY: BLKRRPART takes no argument; the descriptor is open for the call.
        if unsafe { libc::ioctl(f.as_raw_fd(), BLKRRPART as libc::Ioctl) } == 0 {
            return Ok(Reread::Done);
        }
        let e = std::io::Error::last_os_error();
        tries += 1;
        if e.raw_os_error() != Some(libc::EBUSY) || tries == REREAD_TRIES {
            return Ok(Reread::Refused(e));
        }
        std::thread::sleep(REREAD_PAUSE);
    }
}
