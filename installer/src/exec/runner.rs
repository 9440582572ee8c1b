//! Runs the well-kept tools (mdadm, lvm, mkfs, grub-install, dpkg) and keeps a log of every
//! command with its output and duration. The log ends up on the installed system, so
//! secrets are redacted before anything is written to it, and a failure carries the
//! failing command and its output to the user.

use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One command to run. Built with [`Cmd::new`] and the builder methods.
#[derive(Debug, Clone)]
pub struct Cmd {
    program: String,
    args: Vec<String>,
    stdin: Option<Vec<u8>>,
    env: Vec<(String, String)>,
    /// Run inside this root (via chroot(8)), for commands that act on the target.
    root: Option<PathBuf>,
}

impl Cmd {
    pub fn new(program: impl Into<String>) -> Self {
        Cmd {
            program: program.into(),
            args: Vec::new(),
            stdin: None,
            env: Vec::new(),
            root: None,
        }
    }

    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }

    pub fn args<I, S>(mut self, it: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(it.into_iter().map(Into::into));
        self
    }

    /// Feeds `data` on standard input; it is never logged (it is how secrets reach tools).
    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(data.into());
        self
    }

    pub fn env(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn in_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.root = Some(root.into());
        self
    }

    pub fn program(&self) -> &str {
        &self.program
    }

    pub fn argv(&self) -> &[String] {
        &self.args
    }

    /// Whether data is fed on standard input (its content is never shown).
    pub fn has_stdin(&self) -> bool {
        self.stdin.is_some()
    }

    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    /// The command line as a shell would read it (for the log and error texts).
    pub fn display(&self) -> String {
        let mut parts = Vec::new();
        for (k, v) in &self.env {
            parts.push(format!("{k}={}", shell_quote(v)));
        }
        if let Some(r) = &self.root {
            parts.push(format!("chroot {}", shell_quote(&r.display().to_string())));
        }
        parts.push(shell_quote(&self.program));
        parts.extend(self.args.iter().map(|a| shell_quote(a)));
        parts.join(" ")
    }

    fn to_command(&self) -> Command {
        let mut c = match &self.root {
            Some(r) => {
                let mut c = Command::new("chroot");
                c.arg(r).arg(&self.program);
                c
            }
            None => Command::new(&self.program),
        };
        c.args(&self.args);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }
}

fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// What a finished command produced.
#[derive(Debug, Clone)]
pub struct Output {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
    pub duration: Duration,
}

/// A command that failed: what ran, how it ended and what it said (secrets redacted).
#[derive(Debug, Clone, thiserror::Error)]
pub struct CommandFailed {
    pub command: String,
    /// Exit status, or None when it could not be started or was killed by a signal.
    pub status: Option<i32>,
    pub output: String,
}

impl fmt::Display for CommandFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(s) => writeln!(f, "command failed with exit status {s}: {}", self.command)?,
            None => writeln!(f, "command could not run: {}", self.command)?,
        }
        let out = self.output.trim_end();
        if out.is_empty() {
            write!(f, "(no output)")
        } else {
            write!(f, "{out}")
        }
    }
}

/// Runs commands and writes the install log.
pub struct Runner {
    log: Option<File>,
    log_path: Option<PathBuf>,
    secrets: Vec<String>,
}

impl Runner {
    /// A runner that logs to `path` (created 0600: even redacted, the log describes the
    /// machine in detail).
    pub fn with_log(path: &Path) -> std::io::Result<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        Ok(Runner {
            log: Some(log),
            log_path: Some(path.to_path_buf()),
            secrets: Vec::new(),
        })
    }

    /// A runner without a log file (tests, read-only probes).
    pub fn unlogged() -> Self {
        Runner {
            log: None,
            log_path: None,
            secrets: Vec::new(),
        }
    }

    pub fn log_path(&self) -> Option<&Path> {
        self.log_path.as_deref()
    }

    /// Registers a value that must never reach the log or an error text.
    pub fn add_secret(&mut self, s: impl Into<String>) {
        let s = s.into();
        // Very short values would redact innocent text everywhere; secrets are longer.
        if s.len() >= 4 && !self.secrets.contains(&s) {
            self.secrets.push(s);
        }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut t = text.to_string();
        for s in &self.secrets {
            t = t.replace(s.as_str(), "<redacted>");
        }
        t
    }

    /// Writes a line to the log (redacted), with a UTC timestamp.
    pub fn note(&mut self, line: &str) {
        let line = self.redact(line);
        if let Some(f) = self.log.as_mut() {
            let _ = writeln!(f, "[{}] {line}", timestamp());
        }
    }

    /// Runs a command to completion; a non-zero exit is an error carrying its output.
    pub fn run(&mut self, cmd: &Cmd) -> Result<Output, CommandFailed> {
        let out = self.run_status(cmd)?;
        if out.status != 0 {
            return Err(CommandFailed {
                command: self.redact(&cmd.display()),
                status: Some(out.status),
                output: self.redact(&join_output(&out.stdout, &out.stderr)),
            });
        }
        Ok(out)
    }

    /// Runs a command and returns its output whatever the exit status (for probes whose
    /// non-zero exit is an answer, like `mdadm --examine` on a blank disk).
    pub fn run_status(&mut self, cmd: &Cmd) -> Result<Output, CommandFailed> {
        let shown = self.redact(&cmd.display());
        self.note(&format!("$ {shown}"));
        let start = Instant::now();
        let mut c = cmd.to_command();
        c.stdin(if cmd.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let spawned = c.spawn().map_err(|e| CommandFailed {
            command: shown.clone(),
            status: None,
            output: e.to_string(),
        });
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                self.note(&format!("  could not start: {}", e.output));
                return Err(e);
            }
        };
        // Write stdin from a thread so a tool that talks before reading can't deadlock us.
        let feeder = cmd.stdin.clone().and_then(|data| {
            child.stdin.take().map(|mut w| {
                std::thread::spawn(move || {
                    let _ = w.write_all(&data);
                })
            })
        });
        let mut err_pipe = child.stderr.take();
        let err_reader = std::thread::spawn(move || {
            let mut s = Vec::new();
            if let Some(p) = err_pipe.as_mut() {
                let _ = p.read_to_end(&mut s);
            }
            s
        });
        let mut stdout = Vec::new();
        if let Some(mut p) = child.stdout.take() {
            let _ = p.read_to_end(&mut stdout);
        }
        let stderr = err_reader.join().unwrap_or_default();
        if let Some(f) = feeder {
            let _ = f.join();
        }
        let status = child.wait().map_err(|e| CommandFailed {
            command: shown.clone(),
            status: None,
            output: e.to_string(),
        })?;
        let out = Output {
            status: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            duration: start.elapsed(),
        };
        let body = self.redact(&join_output(&out.stdout, &out.stderr));
        for l in body.lines() {
            self.note(&format!("  {l}"));
        }
        self.note(&format!(
            "  exit {} after {:.2} s",
            out.status,
            out.duration.as_secs_f64()
        ));
        if status.code().is_none() {
            return Err(CommandFailed {
                command: shown,
                status: None,
                output: format!("killed by a signal\n{body}"),
            });
        }
        Ok(out)
    }
}

fn join_output(stdout: &str, stderr: &str) -> String {
    match (stdout.trim_end().is_empty(), stderr.trim_end().is_empty()) {
        (true, true) => String::new(),
        (false, true) => stdout.to_string(),
        (true, false) => stderr.to_string(),
        (false, false) => format!("{}\n{}", stdout.trim_end(), stderr),
    }
}

/// The log's clock: RFC 3339, UTC, to the second.
pub fn timestamp() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_is_shell_safe() {
        let c = Cmd::new("mkfs.ext4").args(["-L", "my root", "/dev/pve/root"]);
        assert_eq!(c.display(), "mkfs.ext4 -L 'my root' /dev/pve/root");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn failure_carries_command_and_output() {
        let mut r = Runner::unlogged();
        let e = r
            .run(&Cmd::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]))
            .unwrap_err();
        assert_eq!(e.status, Some(3));
        assert!(e.output.contains("out") && e.output.contains("err"), "{e}");
        assert!(e
            .to_string()
            .starts_with("command failed with exit status 3: sh -c"));
    }

    #[test]
    fn missing_program_is_an_error_not_a_panic() {
        let mut r = Runner::unlogged();
        let e = r.run(&Cmd::new("/nonexistent/tool")).unwrap_err();
        assert_eq!(e.status, None);
    }

    #[test]
    fn secrets_never_reach_log_or_error() {
        let dir = std::env::temp_dir().join(format!("tandem-runner-{}", std::process::id()));
        let log = dir.join("install.log");
        let mut r = Runner::with_log(&log).unwrap();
        r.add_secret("s3cr3t-value");
        let _ = r.run(&Cmd::new("echo").arg("token=s3cr3t-value"));
        let e = r
            .run(&Cmd::new("sh").args(["-c", "echo s3cr3t-value >&2; exit 1"]))
            .unwrap_err();
        // Data fed on stdin is never logged at all.
        let _ = r.run(&Cmd::new("cat").stdin("stdin-only-secret"));
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(!text.contains("s3cr3t-value"), "{text}");
        assert!(text.contains("token=<redacted>"), "{text}");
        assert!(!e.to_string().contains("s3cr3t-value"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&log).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn stdin_is_fed() {
        let mut r = Runner::unlogged();
        let out = r.run(&Cmd::new("cat").stdin("hello")).unwrap();
        assert_eq!(out.stdout, "hello");
    }
}
