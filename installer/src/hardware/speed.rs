//! `tandem detect --speed`: a short sequential read of each disk, bypassing the page cache
//! (O_DIRECT), to spot a disk much slower than its peers, which is a RAID member about to
//! fail. It only ever reads; the device is opened read-only.

use super::Disk;
use anyhow::{Context, Result};
use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// How much to read per disk, and for how long at most.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub bytes: u64,
    pub time: Duration,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            bytes: 256 << 20,
            time: Duration::from_secs(10),
        }
    }
}

impl Budget {
    /// What the wizard and the install spend per disk (and per direction): enough for a
    /// figure to compare with the disk's peers, little enough not to hold anyone up.
    pub const QUICK: Budget = Budget {
        bytes: 64 << 20,
        time: Duration::from_secs(2),
    };
}

/// One disk's measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub bytes: u64,
    pub seconds: f64,
}

impl Reading {
    /// Decimal megabytes per second, as hdparm and dd report them.
    pub fn mbps(&self) -> f64 {
        if self.seconds <= 0.0 {
            return 0.0;
        }
        self.bytes as f64 / 1e6 / self.seconds
    }

    /// MB/s to one decimal, as inventories, logs and results keep it.
    pub fn mbps_rounded(&self) -> f64 {
        (self.mbps() * 10.0).round() / 10.0
    }
}

/// A page-aligned buffer: O_DIRECT needs memory aligned to the logical block size.
struct Aligned {
    ptr: *mut u8,
    layout: Layout,
}

impl Aligned {
    fn new(len: usize) -> Result<Aligned> {
        let layout = Layout::from_size_align(len, 4096).context("buffer layout")?;
        // SAFETY: layout has a non-zero size; the pointer is checked and freed in Drop.
        let ptr = unsafe { alloc_zeroed(layout) };
        anyhow::ensure!(!ptr.is_null(), "cannot allocate {len} bytes");
        Ok(Aligned { ptr, layout })
    }
    fn as_mut(&mut self) -> &mut [u8] {
        // SAFETY: ptr points to layout.size() initialised bytes owned by self.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.layout.size()) }
    }
}

impl Drop for Aligned {
    fn drop(&mut self) {
        // SAFETY: allocated in new() with this layout.
        unsafe { dealloc(self.ptr, self.layout) }
    }
}

/// Reads the device sequentially from the start with O_DIRECT until the byte or time
/// budget is spent or the device ends.
pub fn measure(dev: &Path, budget: Budget) -> Result<Reading> {
    let mut f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(dev)
        .with_context(|| format!("opening {} read-only (O_DIRECT)", dev.display()))?;
    let mut buf = Aligned::new(CHUNK)?;
    timed(budget, |len| {
        f.read(&mut buf.as_mut()[..len])
            .with_context(|| format!("reading {}", dev.display()))
    })
}

/// One read or write of the measurements.
const CHUNK: usize = 4 << 20;

/// The budgeted loop of both measurements: `step(len)` moves up to `len` bytes (a
/// multiple of 4 KiB, which every logical block size divides) and says how many it
/// moved; 0 (the device's end) stops early.
fn timed(budget: Budget, mut step: impl FnMut(usize) -> Result<usize>) -> Result<Reading> {
    let start = Instant::now();
    let mut total = 0u64;
    while total < budget.bytes && start.elapsed() < budget.time {
        let want = CHUNK.min((budget.bytes - total) as usize);
        let n = step((want + 4095) & !4095)?;
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    Ok(Reading {
        bytes: total,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Measures every disk but the boot medium (never a candidate, and busy being read by
/// the live system), one after the other so they do not compete, and records the speed
/// in `read_mbps`. `each` hears of every disk as it is done; a disk that cannot be read
/// keeps no speed.
pub fn measure_disks(
    disks: &mut [Disk],
    budget: Budget,
    mut each: impl FnMut(&Disk, &Result<Reading>),
) {
    for d in disks.iter_mut().filter(|d| !d.boot_medium) {
        let r = measure(Path::new(&d.dev_path()), budget);
        if let Ok(r) = &r {
            d.read_mbps = Some(r.mbps_rounded());
        }
        each(d, &r);
    }
}

/// Disks reading below half the median of their rotational class, with the reason.
pub fn slow_disks(disks: &[Disk]) -> Vec<(String, String)> {
    let read: Vec<(&str, bool, Option<f64>)> = disks
        .iter()
        .map(|d| (d.name.as_str(), d.rotational, d.read_mbps))
        .collect();
    slower_than_peers(&read, "reads")
}

/// The one rule for "much slower than its peers": below half the median of the measured
/// disks of its rotational class (itself included; a class of one has no peers).
/// `values` are (name, rotational, MB/s); `verb` says what was measured ("reads",
/// "writes").
pub fn slower_than_peers(
    values: &[(&str, bool, Option<f64>)],
    verb: &str,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for &(name, rotational, mbps) in values {
        let Some(mine) = mbps else { continue };
        // The median of the whole class, this disk included: when half the disks are
        // slower (two models, or a noisy virtual machine) none of them is the odd one out.
        let mut peers: Vec<f64> = values
            .iter()
            .filter(|p| p.1 == rotational)
            .filter_map(|p| p.2)
            .collect();
        if peers.len() < 2 {
            continue;
        }
        peers.sort_by(f64::total_cmp);
        let n = peers.len();
        let median = if n % 2 == 1 {
            peers[n / 2]
        } else {
            (peers[n / 2 - 1] + peers[n / 2]) / 2.0
        };
        if mine < median / 2.0 {
            out.push((
                name.to_string(),
                format!(
                    "{verb} {mine:.0} MB/s, less than half the {median:.0} MB/s median of the {} disks",
                    if rotational { "rotational" } else { "solid-state" }
                ),
            ));
        }
    }
    out
}

/// Writes `budget` (bytes or time, whichever ends first) of a pseudo-random pattern from
/// `offset` on, each write synchronous (`O_DIRECT | O_DSYNC`, as `dd oflag=direct,dsync`):
/// what the disk really takes, not what its cache or a compressing controller does.
/// DESTRUCTIVE: only for a disk that is being erased.
pub fn measure_write(dev: &Path, offset: u64, budget: Budget) -> Result<Reading> {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DIRECT | libc::O_DSYNC)
        .open(dev)
        .with_context(|| format!("opening {} for writing (O_DIRECT|O_DSYNC)", dev.display()))?;
    f.seek(SeekFrom::Start(offset & !4095))
        .with_context(|| format!("seeking on {}", dev.display()))?;
    let mut buf = Aligned::new(CHUNK)?;
    // xorshift: cheap bytes that neither compress nor deduplicate.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for w in buf.as_mut().chunks_exact_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        w.copy_from_slice(&x.to_le_bytes());
    }
    timed(budget, |len| {
        f.write(&buf.as_mut()[..len])
            .with_context(|| format!("writing {}", dev.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(name: &str, rot: bool, mbps: f64) -> Disk {
        Disk {
            name: name.into(),
            rotational: rot,
            read_mbps: Some(mbps),
            ..Disk::default()
        }
    }

    #[test]
    fn flags_the_slow_member_only_against_its_class() {
        let disks = vec![
            disk("sda", true, 180.0),
            disk("sdb", true, 175.0),
            disk("sdc", true, 60.0),
            disk("nvme0n1", false, 2500.0),
            disk("nvme1n1", false, 2400.0),
        ];
        let slow = slow_disks(&disks);
        assert_eq!(slow.len(), 1, "{slow:?}");
        assert_eq!(slow[0].0, "sdc");
        assert!(slow[0].1.contains("175 MB/s median"), "{}", slow[0].1);
    }

    #[test]
    fn half_the_class_slower_is_no_outlier() {
        // Seen under QEMU: two virtual disks read at a third of the other two.
        let disks = vec![
            disk("vda", true, 912.0),
            disk("vdb", true, 352.0),
            disk("vdc", true, 331.0),
            disk("vdd", true, 1126.0),
        ];
        assert!(slow_disks(&disks).is_empty(), "{:?}", slow_disks(&disks));
    }

    #[test]
    fn a_lone_disk_has_no_peers() {
        assert!(slow_disks(&[disk("sda", true, 5.0), disk("nvme0n1", false, 2000.0)]).is_empty());
    }

    #[test]
    fn slow_writers_are_flagged_by_the_same_rule() {
        let v = [
            ("sda", true, Some(150.0)),
            ("sdb", true, Some(160.0)),
            ("sdc", true, Some(20.0)),
            ("sdd", true, None),
        ];
        let slow = slower_than_peers(&v, "writes");
        assert_eq!(slow.len(), 1, "{slow:?}");
        assert!(slow[0].1.starts_with("writes 20 MB/s"), "{}", slow[0].1);
    }

    #[test]
    fn writes_a_file_within_budget_from_the_offset() {
        let dir = std::env::temp_dir().join(format!("tandem-wspeed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("img");
        std::fs::write(&f, vec![7u8; 16 << 20]).unwrap();
        let budget = Budget {
            bytes: 8 << 20,
            time: Duration::from_secs(5),
        };
        // tmpfs does not support O_DIRECT; then there is nothing to measure here.
        match measure_write(&f, 4 << 20, budget) {
            Ok(r) => {
                assert_eq!(r.bytes, 8 << 20);
                let after = std::fs::read(&f).unwrap();
                assert_eq!(after.len(), 16 << 20, "the file grew");
                assert!(
                    after[..4 << 20].iter().all(|b| *b == 7),
                    "wrote before the offset"
                );
                assert!(
                    after[12 << 20..].iter().all(|b| *b == 7),
                    "wrote past the budget"
                );
                assert!(after[4 << 20..12 << 20].iter().any(|b| *b != 7));
            }
            Err(e) => assert!(format!("{e:#}").contains("Invalid argument"), "{e:#}"),
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reads_a_file_within_budget() {
        let dir = std::env::temp_dir().join(format!("tandem-speed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("img");
        std::fs::write(&f, vec![7u8; 8 << 20]).unwrap();
        // tmpfs does not support O_DIRECT; then there is nothing to measure here.
        match measure(
            &f,
            Budget {
                bytes: 6 << 20,
                time: Duration::from_secs(5),
            },
        ) {
            Ok(r) => {
                assert_eq!(r.bytes, 6 << 20);
                assert!(r.mbps() > 0.0);
            }
            Err(e) => assert!(format!("{e:#}").contains("Invalid argument"), "{e:#}"),
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
