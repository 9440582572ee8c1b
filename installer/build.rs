//! Records the source revision for `tandem --version` (and the package's changelog): the
//! git commit when built from a clone, $TANDEM_REVISION when given (a build from a source
//! tarball), else "unknown".

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn main() {
    println!("cargo:rerun-if-env-changed=TANDEM_REVISION");
    let rev = std::env::var("TANDEM_REVISION")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    // A commit moves HEAD's reflog; a checkout rewrites HEAD.
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        for f in ["HEAD", "logs/HEAD"] {
            println!("cargo:rerun-if-changed={dir}/{f}");
        }
    }
    println!("cargo:rustc-env=TANDEM_REVISION={rev}");
}
