//! `tandem-image embed-answer`: puts an answer file into a copy of an ISO at
//! `/tandem/answer.toml`, keeping its BIOS/UEFI hybrid boot equipment. The answer is
//! validated first exactly as `tandem validate` does (every node of a cluster file, without
//! hardware): an invalid answer never reaches an image.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use tandem::exec::runner::{Cmd, Runner};

/// Where the live system finds an embedded answer (under live-boot's medium mount,
/// `/run/live/medium`).
const ANSWER_PATH: &str = "/tandem/answer.toml";

#[derive(clap::Args, Debug)]
pub(crate) struct EmbedArgs {
    /// The Tandem ISO to start from (left untouched).
    pub(crate) iso: PathBuf,
    /// The answer file (TOML) to embed.
    pub(crate) answer: PathBuf,
    /// The new ISO.
    #[arg(short, long)]
    pub(crate) output: PathBuf,
}

/// Re-writes `iso` as `out` with the answer added; `-boot_image any replay` carries the
/// El Torito entries, hybrid MBR, GPT and the appended EFI partition over.
pub(crate) fn xorriso_command(iso: &Path, answer: &Path, out: &Path) -> Cmd {
    Cmd::new("xorriso")
        .args(["-indev"])
        .arg(iso.display().to_string())
        .args(["-outdev"])
        .arg(out.display().to_string())
        .args(["-boot_image", "any", "replay"])
        .args(["-map"])
        .arg(answer.display().to_string())
        .arg(ANSWER_PATH)
        .args(["-chmod", "0644", ANSWER_PATH, "--"])
        .arg("-commit")
}

pub(crate) fn run(args: &EmbedArgs) -> Result<()> {
    // Validation first: errors are the input's fault (exit 2) and stop before any write.
    let loaded = tandem::session::validate_answers(&args.answer, None, None)?;
    if !args.iso.is_file() {
        return Err(tandem::error::InputError::Other(format!(
            "{}: no such ISO",
            args.iso.display()
        ))
        .into());
    }
    if same_file(&args.iso, &args.output) {
        bail!("the output must not be the input ISO");
    }
    if args.output.exists() {
        std::fs::remove_file(&args.output)
            .with_context(|| format!("removing old {}", args.output.display()))?;
    }
    let mut runner = Runner::unlogged();
    runner
        .run(&xorriso_command(&args.iso, &args.answer, &args.output))
        .context("writing the ISO with the embedded answer")?;
    println!(
        "{}: answer {} embedded at {ANSWER_PATH} ({} node{})",
        args.output.display(),
        args.answer.display(),
        loaded.len(),
        if loaded.len() == 1 { "" } else { "s" }
    );
    Ok(())
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_boot_equipment() {
        let line = xorriso_command(
            Path::new("/in.iso"),
            Path::new("/a.toml"),
            Path::new("/out.iso"),
        )
        .display();
        assert_eq!(
            line,
            "xorriso -indev /in.iso -outdev /out.iso -boot_image any replay \
             -map /a.toml /tandem/answer.toml -chmod 0644 /tandem/answer.toml -- -commit"
        );
    }

    #[test]
    fn invalid_answer_is_an_input_error_before_any_image() {
        let d = std::env::temp_dir().join(format!("tandem-embed-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let answer = d.join("bad.toml");
        std::fs::write(&answer, "no-such-key = 1\n").unwrap();
        let args = EmbedArgs {
            iso: d.join("missing.iso"),
            answer,
            output: d.join("out.iso"),
        };
        let err = run(&args).unwrap_err();
        assert!(
            err.downcast_ref::<tandem::error::InputError>().is_some(),
            "{err:#}"
        );
        assert!(err.to_string().contains("bad.toml"), "{err}");
        assert!(!d.join("out.iso").exists());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn semantically_invalid_answer_is_refused_too() {
        // Well-formed TOML with known keys that the validator rejects (apt without main).
        let base = include_str!("../../../examples/minimal-dhcp.toml");
        assert!(
            base.trim_end().ends_with("proxmox = \"none\""),
            "fixture changed"
        );
        let d = std::env::temp_dir().join(format!("tandem-embed-sem-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let answer = d.join("no-main.toml");
        std::fs::write(&answer, format!("{base}components = [\"contrib\"]\n")).unwrap();
        let args = EmbedArgs {
            iso: d.join("missing.iso"),
            answer,
            output: d.join("out.iso"),
        };
        let err = run(&args).unwrap_err();
        assert!(
            err.downcast_ref::<tandem::error::InputError>().is_some(),
            "{err:#}"
        );
        assert!(err.to_string().contains("apt.components"), "{err}");
        assert!(!d.join("out.iso").exists());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
