//! Where the answer comes from, in a fixed order: `--answer`, then `tandem.answer=` on the
//! kernel command line (an HTTP(S) URL or a path), then an answer embedded in the image,
//! then `answer.toml` on a partition labelled TANDEM. None of these: the wizard.
//!
//! The search only reads. A PXE-served answer may need a token (`tandem.answer-token=`);
//! it is sent as a bearer token and never printed.

use anyhow::{Context, Result};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the answer in hand was found; printed before anything else happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Flag(String),
    KernelCmdline(String),
    Embedded(PathBuf),
    Partition(PathBuf),
    /// Answered in the wizard on the console and saved there.
    Wizard(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(s) => write!(f, "--answer {s}"),
            Origin::KernelCmdline(s) => write!(f, "kernel command line tandem.answer={s}"),
            Origin::Embedded(p) => write!(f, "answer embedded in the image ({})", p.display()),
            Origin::Partition(p) => write!(f, "partition labelled TANDEM ({})", p.display()),
            Origin::Wizard(p) => write!(f, "the wizard (saved to {})", p.display()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Found {
    pub origin: Origin,
    /// The name errors use for the file (a path or a URL).
    pub name: String,
    pub text: String,
}

/// The `tandem.*` parameters of a kernel command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CmdlineParams {
    pub answer: Option<String>,
    pub token: Option<String>,
    pub node: Option<String>,
    /// `tandem.media=`: where base.squashfs and repo/ are served (PXE).
    pub media: Option<String>,
}

impl CmdlineParams {
    pub fn parse(cmdline: &str) -> Self {
        let mut p = CmdlineParams::default();
        for word in split_cmdline(cmdline) {
            if let Some((k, v)) = word.split_once('=') {
                match k {
                    "tandem.answer" => p.answer = Some(v.to_string()),
                    "tandem.answer-token" => p.token = Some(v.to_string()),
                    "tandem.node" => p.node = Some(v.to_string()),
                    "tandem.media" => p.media = Some(v.to_string()),
                    _ => {}
                }
            }
        }
        p
    }
}

/// Splits like the kernel does: whitespace separates words, double quotes group.
fn split_cmdline(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

/// Where to look; the defaults are the live system's paths, tests point them elsewhere.
#[derive(Debug, Clone)]
pub struct Places {
    pub flag: Option<String>,
    pub cmdline: CmdlineParams,
    /// The answer `tandem-image embed-answer` puts on the medium.
    pub embedded: PathBuf,
    /// /dev/disk/by-label/TANDEM.
    pub label_device: PathBuf,
    /// How long to keep trying an HTTP answer (the network may still be coming up).
    pub http_patience: Duration,
}

impl Places {
    pub fn live_system() -> Self {
        let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
        Places {
            flag: None,
            cmdline: CmdlineParams::parse(&cmdline),
            embedded: PathBuf::from("/run/live/medium/tandem/answer.toml"),
            label_device: PathBuf::from("/dev/disk/by-label/TANDEM"),
            http_patience: Duration::from_secs(120),
        }
    }
}

/// Finds the answer, or None when there is none anywhere (the caller starts the wizard).
/// An answer that is named but cannot be read is an error, never a fall-through: an
/// unattended install must not silently become an interactive one.
pub fn locate(p: &Places) -> Result<Option<Found>> {
    if let Some(f) = &p.flag {
        return read_named(f, p, Origin::Flag(f.clone())).map(Some);
    }
    if let Some(a) = &p.cmdline.answer {
        return read_named(a, p, Origin::KernelCmdline(a.clone())).map(Some);
    }
    if p.embedded.is_file() {
        let text = std::fs::read_to_string(&p.embedded)
            .with_context(|| format!("reading {}", p.embedded.display()))?;
        return Ok(Some(Found {
            origin: Origin::Embedded(p.embedded.clone()),
            name: p.embedded.display().to_string(),
            text,
        }));
    }
    if p.label_device.exists() {
        return read_labelled(&p.label_device);
    }
    Ok(None)
}

fn read_named(what: &str, p: &Places, origin: Origin) -> Result<Found> {
    let text = if what.starts_with("http://") || what.starts_with("https://") {
        fetch_http(what, p.cmdline.token.as_deref(), p.http_patience)?
    } else {
        std::fs::read_to_string(what).with_context(|| format!("reading answer file {what}"))?
    };
    Ok(Found {
        origin,
        name: what.to_string(),
        text,
    })
}

/// Answers are small; anything bigger is not an answer file.
const MAX_ANSWER_BYTES: u64 = 1 << 20;

/// GETs an answer (retries as [`crate::http`] does: a missing per-MAC answer is final).
fn fetch_http(url: &str, token: Option<&str>, patience: Duration) -> Result<String> {
    crate::http::get_text(
        "the answer",
        url,
        &crate::http::Trust::Roots,
        token,
        MAX_ANSWER_BYTES,
        patience,
    )
}

/// Mounts the TANDEM partition read-only just long enough to read answer.toml. Without
/// one there it names no answer: the Tandem ISO itself carries the label TANDEM (its
/// embedded answer is /tandem/answer.toml, found above), so a CD or USB boot always has
/// such a device.
fn read_labelled(dev: &Path) -> Result<Option<Found>> {
    let mnt = std::env::temp_dir().join(format!("tandem-answer.{}", std::process::id()));
    std::fs::create_dir_all(&mnt)?;
    let mut runner = crate::exec::runner::Runner::unlogged();
    let dev_s = dev.display().to_string();
    runner.run(&crate::exec::runner::Cmd::new("mount").args([
        "-o",
        "ro",
        &dev_s,
        &mnt.display().to_string(),
    ]))?;
    let path = mnt.join("answer.toml");
    let present = path.exists();
    let text = std::fs::read_to_string(&path);
    let _ = runner.run(&crate::exec::runner::Cmd::new("umount").arg(mnt.display().to_string()));
    let _ = std::fs::remove_dir(&mnt);
    if !present {
        return Ok(None);
    }
    let text = text.with_context(|| format!("reading answer.toml on {dev_s}"))?;
    Ok(Some(Found {
        origin: Origin::Partition(dev.to_path_buf()),
        name: format!("{dev_s}:answer.toml"),
        text,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmdline_parsing() {
        let p = CmdlineParams::parse(
            "BOOT_IMAGE=/live/vmlinuz boot=live tandem.answer=http://10.0.2.2:8080/answers/52:54:00:12:34:56.toml \
             tandem.answer-token=abc \"tandem.node=lx eon\" tandem.media=http://10.0.2.2:8080 quiet",
        );
        assert_eq!(
            p.answer.as_deref(),
            Some("http://10.0.2.2:8080/answers/52:54:00:12:34:56.toml")
        );
        assert_eq!(p.token.as_deref(), Some("abc"));
        assert_eq!(p.node.as_deref(), Some("lx eon"));
        assert_eq!(p.media.as_deref(), Some("http://10.0.2.2:8080"));
        assert_eq!(CmdlineParams::parse("quiet"), CmdlineParams::default());
    }

    #[test]
    fn http_404_is_final_and_names_the_url() {
        let (base, _) = crate::http::tests::serve(vec![(404, b"no".to_vec(), None)]);
        let url = format!("{base}/answers/52:54:00:00:00:09.toml");
        let e = fetch_http(&url, None, Duration::from_secs(20)).unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            format!("fetching the answer from {url}: HTTP 404")
        );
    }

    #[test]
    fn order_is_flag_cmdline_embedded_then_none() {
        let dir = std::env::temp_dir().join(format!("tandem-locate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let emb = dir.join("embedded.toml");
        let flag = dir.join("flag.toml");
        let cmd = dir.join("cmdline.toml");
        std::fs::write(&emb, "embedded").unwrap();
        std::fs::write(&flag, "flag").unwrap();
        std::fs::write(&cmd, "cmdline").unwrap();
        let mut p = Places {
            flag: Some(flag.display().to_string()),
            cmdline: CmdlineParams {
                answer: Some(cmd.display().to_string()),
                ..Default::default()
            },
            embedded: emb.clone(),
            label_device: dir.join("no-such-label"),
            http_patience: Duration::from_secs(1),
        };
        assert_eq!(locate(&p).unwrap().unwrap().text, "flag");
        p.flag = None;
        let f = locate(&p).unwrap().unwrap();
        assert_eq!(f.text, "cmdline");
        assert!(matches!(f.origin, Origin::KernelCmdline(_)));
        p.cmdline.answer = None;
        assert_eq!(
            locate(&p).unwrap().unwrap().origin,
            Origin::Embedded(emb.clone())
        );
        std::fs::remove_file(&emb).unwrap();
        assert!(locate(&p).unwrap().is_none());
        // A named answer that can't be read is an error, not a fall-through to the wizard.
        p.flag = Some(dir.join("missing.toml").display().to_string());
        assert!(locate(&p).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
