//! The machine the executor's tasks act on: commands, files, mounts, downloads and disk
//! measurements, behind one trait. [`Runner`] is the real machine (commands logged with
//! secrets redacted, files through std::fs); [`Recording`] keeps every call as data and
//! answers from a script, so each task is tested without root, disks or QEMU.
//!
//! Files are named by their full path: the real install's are under / and /target, a
//! test's under its own temporary directory, which [`Recording`] holds every write to.

use super::gpt::{self, Reread};
use super::runner::{Cmd, CommandFailed, Output, Runner};
use crate::hardware::speed::{Budget, Reading};
use crate::render::RenderedFile;
use anyhow::{Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long one download may keep failing transiently before the install gives up.
const HTTP_DOWNLOAD_PATIENCE: Duration = Duration::from_secs(300);

pub trait System {
    /// Runs a command to completion; a non-zero exit is an error carrying its output.
    fn run(&mut self, cmd: &Cmd) -> Result<Output, CommandFailed>;
    /// Runs a command and returns its output whatever the exit status.
    fn run_status(&mut self, cmd: &Cmd) -> Result<Output, CommandFailed>;
    /// A line for the install log (redacted).
    fn note(&mut self, line: &str);
    /// `text` with every registered secret replaced.
    fn redact(&self, text: &str) -> String;
    /// The install log, when there is one.
    fn log_path(&self) -> Option<&Path>;

    fn read(&mut self, path: &Path) -> io::Result<Vec<u8>>;
    fn write(&mut self, path: &Path, data: &[u8]) -> io::Result<()>;
    /// Writes a file only root may read (created so, never readable for a moment).
    fn write_private(&mut self, path: &Path, text: &str) -> io::Result<()>;
    /// Rendered files under `root`, with their modes (see [`super::tree::write_tree`]).
    fn write_files(&mut self, root: &Path, files: &[RenderedFile]) -> Result<()>;
    /// Appends to an existing file and syncs it.
    fn append(&mut self, path: &Path, data: &[u8]) -> io::Result<()>;
    fn create_dir_all(&mut self, path: &Path) -> io::Result<()>;
    fn copy(&mut self, from: &Path, to: &Path) -> io::Result<u64>;
    fn set_mode(&mut self, path: &Path, mode: u32) -> io::Result<()>;
    fn remove_file(&mut self, path: &Path) -> io::Result<()>;
    fn remove_dir_all(&mut self, path: &Path) -> io::Result<()>;
    /// Removes an empty directory (a mount point: one still mounted is not empty).
    fn remove_dir(&mut self, path: &Path) -> io::Result<()>;

    /// Mounts `dev` at `at` (the kernel identifies the filesystem).
    fn mount(&mut self, dev: &Path, at: &Path) -> Result<()>;
    fn umount(&mut self, at: &Path) -> Result<()>;
    fn is_mountpoint(&mut self, path: &Path) -> bool;
    /// The device mounted at `mountpoint`.
    fn mounted_device(&mut self, mountpoint: &Path) -> Result<PathBuf>;

    /// Downloads `url` to `dest`, which must then hold exactly `size` bytes.
    fn download(&mut self, what: &str, url: &str, dest: &Path, size: u64) -> Result<()>;

    /// Writes a disk's partition table and asks the kernel to re-read it.
    fn write_gpt(&mut self, table: &gpt::Table) -> Result<Reread>;

    /// Sequential O_DIRECT read speed of a block device.
    fn measure_read(&mut self, dev: &Path, budget: Budget) -> Result<Reading>;
    /// Sequential O_DSYNC write speed of a block device from `offset` on (it overwrites!).
    fn measure_write(&mut self, dev: &Path, offset: u64, budget: Budget) -> Result<Reading>;
}

fn append(path: &Path, data: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// The real machine: commands through the runner (logged, secrets redacted), files
/// through std::fs, mounts through mount(8), downloads over HTTP, disks measured directly.
impl System for Runner {
    fn run(&mut self, cmd: &Cmd) -> Result<Output, CommandFailed> {
        Runner::run(self, cmd)
    }
    fn run_status(&mut self, cmd: &Cmd) -> Result<Output, CommandFailed> {
        Runner::run_status(self, cmd)
    }
    fn note(&mut self, line: &str) {
        Runner::note(self, line)
    }
    fn redact(&self, text: &str) -> String {
        Runner::redact(self, text)
    }
    fn log_path(&self) -> Option<&Path> {
        Runner::log_path(self)
    }
    fn read(&mut self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }
    fn write(&mut self, path: &Path, data: &[u8]) -> io::Result<()> {
        std::fs::write(path, data)
    }
    fn write_private(&mut self, path: &Path, text: &str) -> io::Result<()> {
        crate::answer::write_private(path, text)
    }
    fn write_files(&mut self, root: &Path, files: &[RenderedFile]) -> Result<()> {
        super::tree::write_tree(root, files)
    }
    fn append(&mut self, path: &Path, data: &[u8]) -> io::Result<()> {
        append(path, data)
    }
    fn create_dir_all(&mut self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }
    fn copy(&mut self, from: &Path, to: &Path) -> io::Result<u64> {
        std::fs::copy(from, to)
    }
    fn set_mode(&mut self, path: &Path, mode: u32) -> io::Result<()> {
        set_mode(path, mode)
    }
    fn remove_file(&mut self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
    fn remove_dir_all(&mut self, path: &Path) -> io::Result<()> {
        std::fs::remove_dir_all(path)
    }
    fn remove_dir(&mut self, path: &Path) -> io::Result<()> {
        std::fs::remove_dir(path)
    }
    fn mount(&mut self, dev: &Path, at: &Path) -> Result<()> {
        Runner::run(
            self,
            &Cmd::new("mount").args([dev.display().to_string(), at.display().to_string()]),
        )?;
        Ok(())
    }
    fn umount(&mut self, at: &Path) -> Result<()> {
        Runner::run(self, &Cmd::new("umount").arg(at.display().to_string()))?;
        Ok(())
    }
    fn is_mountpoint(&mut self, path: &Path) -> bool {
        let want = path.display().to_string();
        std::fs::read_to_string("/proc/self/mounts")
            .map(|m| {
                m.lines()
                    .any(|l| l.split(' ').nth(1) == Some(want.as_str()))
            })
            .unwrap_or(false)
    }
    fn mounted_device(&mut self, mountpoint: &Path) -> Result<PathBuf> {
        mounted_device(mountpoint)
    }
    fn download(&mut self, what: &str, url: &str, dest: &Path, size: u64) -> Result<()> {
        // The medium is served by the same PXE server as the kernel; no pin for it yet.
        crate::http::download(
            what,
            url,
            &crate::http::Trust::Roots,
            dest,
            size,
            HTTP_DOWNLOAD_PATIENCE,
        )
    }
    fn write_gpt(&mut self, table: &gpt::Table) -> Result<Reread> {
        gpt::write(table)
    }
    fn measure_read(&mut self, dev: &Path, budget: Budget) -> Result<Reading> {
        crate::hardware::speed::measure(dev, budget)
    }
    fn measure_write(&mut self, dev: &Path, offset: u64, budget: Budget) -> Result<Reading> {
        crate::hardware::speed::measure_write(dev, offset, budget)
    }
}

/// One call a task made, as [`Recording`] keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// A command as the log shows it (redacted), `< (input)` appended when it is fed
    /// standard input.
    Run(String),
    Write(PathBuf),
    WritePrivate(PathBuf),
    /// A rendered file: its full path and mode.
    WriteFile(PathBuf, u32),
    Append(PathBuf, usize),
    CreateDir(PathBuf),
    Copy(PathBuf, PathBuf),
    SetMode(PathBuf, u32),
    Remove(PathBuf),
    RemoveDir(PathBuf),
    Mount(PathBuf, PathBuf),
    Umount(PathBuf),
    Download(String, PathBuf),
    /// A partition table: the disk and its partitions' numbers.
    WriteGpt(String, Vec<u32>),
    MeasureRead(PathBuf),
    MeasureWrite(PathBuf, u64),
}

/// A scripted answer to the commands whose line contains a pattern.
#[derive(Debug, Clone)]
struct Reply {
    pattern: String,
    status: i32,
    stdout: String,
}

/// A machine for tests: every call is recorded, commands and measurements answer from a
/// script (by default: exit 0, no output), downloads serve scripted bytes, mounts are
/// remembered but nothing is mounted. Files are really read and written, and every write
/// must stay under `root` (the test's temporary directory): a path outside panics.
pub struct Recording {
    root: PathBuf,
    calls: Vec<Call>,
    notes: Vec<String>,
    replies: Vec<Reply>,
    secrets: Runner,
    log: Option<PathBuf>,
    /// Mount point → device.
    pub mounted: BTreeMap<PathBuf, PathBuf>,
    /// URL → body.
    pub downloads: BTreeMap<String, Vec<u8>>,
    /// Device → (read MB/s, write MB/s); a device not listed cannot be opened.
    pub speeds: BTreeMap<PathBuf, (f64, f64)>,
    /// Disks whose kernel refuses to re-read a new partition table (busy).
    pub reread_refused: BTreeSet<String>,
}

impl Recording {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Recording {
            root: root.into(),
            calls: Vec::new(),
            notes: Vec::new(),
            replies: Vec::new(),
            secrets: Runner::unlogged(),
            log: None,
            mounted: BTreeMap::new(),
            downloads: BTreeMap::new(),
            speeds: BTreeMap::new(),
            reread_refused: BTreeSet::new(),
        }
    }

    /// Commands whose line contains `pattern` exit with `status` and print `stdout`
    /// (the first matching reply wins).
    pub fn reply(&mut self, pattern: &str, status: i32, stdout: &str) -> &mut Self {
        self.replies.push(Reply {
            pattern: pattern.into(),
            status,
            stdout: stdout.into(),
        });
        self
    }

    /// A file that stands for the install log.
    pub fn with_log(mut self, path: impl Into<PathBuf>) -> Self {
        self.log = Some(path.into());
        self
    }

    pub fn add_secret(&mut self, s: &str) {
        self.secrets.add_secret(s);
    }

    pub fn calls(&self) -> &[Call] {
        &self.calls
    }

    /// The command lines run, in order.
    pub fn commands(&self) -> Vec<String> {
        self.calls
            .iter()
            .filter_map(|c| match c {
                Call::Run(l) => Some(l.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    fn inside(&self, p: &Path) {
        assert!(
            p.starts_with(&self.root),
            "a test system wrote outside its directory {}: {}",
            self.root.display(),
            p.display()
        );
    }
}

impl System for Recording {
    fn run(&mut self, cmd: &Cmd) -> Result<Output, CommandFailed> {
        let out = self.run_status(cmd)?;
        if out.status != 0 {
            return Err(CommandFailed {
                command: self.redact(&cmd.display()),
                status: Some(out.status),
                output: self.redact(&out.stdout),
            });
        }
        Ok(out)
    }
    fn run_status(&mut self, cmd: &Cmd) -> Result<Output, CommandFailed> {
        let mut line = self.redact(&cmd.display());
        if cmd.has_stdin() {
            line.push_str(" < (input)");
        }
        self.calls.push(Call::Run(line.clone()));
        let reply = self.replies.iter().find(|r| line.contains(&r.pattern));
        Ok(Output {
            status: reply.map(|r| r.status).unwrap_or(0),
            stdout: reply.map(|r| r.stdout.clone()).unwrap_or_default(),
            stderr: String::new(),
            duration: Duration::ZERO,
        })
    }
    fn note(&mut self, line: &str) {
        let line = self.redact(line);
        self.notes.push(line);
    }
    fn redact(&self, text: &str) -> String {
        self.secrets.redact(text)
    }
    fn log_path(&self) -> Option<&Path> {
        self.log.as_deref()
    }
    fn read(&mut self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }
    fn write(&mut self, path: &Path, data: &[u8]) -> io::Result<()> {
        self.inside(path);
        self.calls.push(Call::Write(path.into()));
        std::fs::write(path, data)
    }
    fn write_private(&mut self, path: &Path, text: &str) -> io::Result<()> {
        self.inside(path);
        self.calls.push(Call::WritePrivate(path.into()));
        crate::answer::write_private(path, text)
    }
    fn write_files(&mut self, root: &Path, files: &[RenderedFile]) -> Result<()> {
        self.inside(root);
        for f in files {
            self.calls.push(Call::WriteFile(
                root.join(f.path.trim_start_matches('/')),
                f.mode,
            ));
        }
        super::tree::write_tree(root, files)
    }
    fn append(&mut self, path: &Path, data: &[u8]) -> io::Result<()> {
        self.inside(path);
        self.calls.push(Call::Append(path.into(), data.len()));
        append(path, data)
    }
    fn create_dir_all(&mut self, path: &Path) -> io::Result<()> {
        self.inside(path);
        self.calls.push(Call::CreateDir(path.into()));
        std::fs::create_dir_all(path)
    }
    fn copy(&mut self, from: &Path, to: &Path) -> io::Result<u64> {
        self.inside(to);
        self.calls.push(Call::Copy(from.into(), to.into()));
        std::fs::copy(from, to)
    }
    fn set_mode(&mut self, path: &Path, mode: u32) -> io::Result<()> {
        self.inside(path);
        self.calls.push(Call::SetMode(path.into(), mode));
        set_mode(path, mode)
    }
    fn remove_file(&mut self, path: &Path) -> io::Result<()> {
        self.inside(path);
        self.calls.push(Call::Remove(path.into()));
        std::fs::remove_file(path)
    }
    fn remove_dir_all(&mut self, path: &Path) -> io::Result<()> {
        self.inside(path);
        self.calls.push(Call::Remove(path.into()));
        std::fs::remove_dir_all(path)
    }
    fn remove_dir(&mut self, path: &Path) -> io::Result<()> {
        self.inside(path);
        self.calls.push(Call::RemoveDir(path.into()));
        std::fs::remove_dir(path)
    }
    fn mount(&mut self, dev: &Path, at: &Path) -> Result<()> {
        self.calls.push(Call::Mount(dev.into(), at.into()));
        self.mounted.insert(at.into(), dev.into());
        Ok(())
    }
    fn umount(&mut self, at: &Path) -> Result<()> {
        self.calls.push(Call::Umount(at.into()));
        match self.mounted.remove(at) {
            Some(_) => Ok(()),
            None => anyhow::bail!("umount: {}: not mounted", at.display()),
        }
    }
    fn is_mountpoint(&mut self, path: &Path) -> bool {
        self.mounted.contains_key(path)
    }
    fn mounted_device(&mut self, mountpoint: &Path) -> Result<PathBuf> {
        self.mounted
            .get(mountpoint)
            .cloned()
            .with_context(|| format!("nothing is mounted at {}", mountpoint.display()))
    }
    fn download(&mut self, what: &str, url: &str, dest: &Path, size: u64) -> Result<()> {
        self.inside(dest);
        self.calls.push(Call::Download(url.into(), dest.into()));
        let body = self
            .downloads
            .get(url)
            .with_context(|| format!("{what}: {url}: 404 Not Found"))?;
        if body.len() as u64 != size {
            anyhow::bail!("{what}: {url}: {} bytes, expected {size}", body.len());
        }
        std::fs::write(dest, body).with_context(|| format!("writing {}", dest.display()))
    }
    fn write_gpt(&mut self, table: &gpt::Table) -> Result<Reread> {
        self.calls.push(Call::WriteGpt(
            table.dev.clone(),
            table.partitions.iter().map(|p| p.number).collect(),
        ));
        Ok(if self.reread_refused.contains(&table.dev) {
            Reread::Refused(io::Error::from_raw_os_error(libc::EBUSY))
        } else {
            Reread::Done
        })
    }
    fn measure_read(&mut self, dev: &Path, _budget: Budget) -> Result<Reading> {
        self.calls.push(Call::MeasureRead(dev.into()));
        let (r, _) = self.speeds.get(dev).with_context(|| {
            format!(
                "opening {} read-only (O_DIRECT): No such device",
                dev.display()
            )
        })?;
        Ok(Reading {
            bytes: (r * 1e6) as u64,
            seconds: 1.0,
        })
    }
    fn measure_write(&mut self, dev: &Path, offset: u64, _budget: Budget) -> Result<Reading> {
        self.calls.push(Call::MeasureWrite(dev.into(), offset));
        let (_, w) = self.speeds.get(dev).with_context(|| {
            format!(
                "opening {} for writing (O_DIRECT|O_DSYNC): No such device",
                dev.display()
            )
        })?;
        Ok(Reading {
            bytes: (w * 1e6) as u64,
            seconds: 1.0,
        })
    }
}
/// The device mounted at `mountpoint`, from /proc/self/mountinfo.
pub fn mounted_device(mountpoint: &Path) -> Result<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").context("reading mountinfo")?;
    let want = std::fs::canonicalize(mountpoint)
        .with_context(|| format!("{} does not exist", mountpoint.display()))?;
    for line in info.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let Some(sep) = f.iter().position(|x| *x == "-") else {
            continue;
        };
        if f.get(4).map(|m| Path::new(m) == want).unwrap_or(false) {
            if let Some(src) = f.get(sep + 2) {
                return Ok(PathBuf::from(src));
            }
        }
    }
    anyhow::bail!("nothing is mounted at {}", mountpoint.display())
}
