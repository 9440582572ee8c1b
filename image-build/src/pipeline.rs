//! `tandem-image build`: rootfs (mmdebstrap base + live) → squashfs (overlays, tandem
//! binary, base.squashfs, live/) → iso → pxe. Each stage reads only what the previous ones
//! left in `OUT/work` and `OUT/stage`, so a later stage can be re-run alone (that is how
//! the reproducibility test rebuilds the ISO from the same roots).

use crate::media::{base, iso, live, pxe};
use crate::package::sets::{self, PackageSets, Source};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tandem::exec::runner::{Cmd, Output, Runner};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
enum Stage {
    /// mmdebstrap the base and live roots (the slow, package-installing part).
    Rootfs,
    /// Overlays, tandem binary, identity scrub, base.squashfs, live/ squashfs+kernel+initrd.
    Squashfs,
    /// The tandem .deb and the medium's repository (the fetched one with it): stage/repo.
    Package,
    /// The hybrid ISO.
    Iso,
    /// pxe/ artifacts.
    Pxe,
}

#[derive(clap::Args, Debug)]
pub(crate) struct BuildArgs {
    /// Output directory: the ISO, pxe/, and work/ + stage/ intermediates.
    #[arg(long, default_value = "build/image")]
    pub(crate) out: PathBuf,
    /// The repository `tandem-image fetch` made (DIR/repo with tandem-manifest.json). It is
    /// the package source and goes onto the medium at /tandem/repo.
    #[arg(long)]
    pub(crate) repo: Option<PathBuf>,
    /// Without --repo: build from this Debian mirror with the development package lists.
    #[arg(long, default_value = "http://deb.debian.org/debian")]
    pub(crate) mirror: String,
    #[arg(long, default_value = "trixie")]
    pub(crate) suite: String,
    /// Development only: keep downloaded .debs here between builds from a mirror.
    #[arg(long)]
    pub(crate) deb_cache: Option<PathBuf>,
    /// The statically linked tandem binary for the live system.
    #[arg(long, default_value = "target/x86_64-unknown-linux-gnu/release/tandem")]
    pub(crate) tandem_bin: PathBuf,
    /// overlays/ with live/ and target/ trees.
    #[arg(long, default_value = "overlays")]
    pub(crate) overlays: PathBuf,
    /// Stages to run (default: all, in order).
    #[arg(long, value_enum, value_delimiter = ',')]
    stages: Vec<Stage>,
    /// Timestamp for every date in the outputs (default: $SOURCE_DATE_EPOCH, else now).
    #[arg(long)]
    pub(crate) source_date_epoch: Option<i64>,
    /// Extra kernel parameters for the ISO and PXE boot entries (e.g. tandem.answer=URL).
    #[arg(long, default_value = "")]
    pub(crate) append: String,
    /// Seconds the ISO's boot menu waits.
    #[arg(long, default_value_t = 3)]
    grub_timeout: u32,
    /// Answer URL path under the PXE base URL; iPXE variables such as ${net0/mac} expand.
    #[arg(long, default_value = pxe::DEFAULT_ANSWER_PATH)]
    pxe_answer_path: String,
    #[arg(long, default_value = "tandem.iso")]
    pub(crate) iso_name: String,
}

/// Everything the stages share.
pub(crate) struct Ctx {
    pub(crate) out: PathBuf,
    pub(crate) work: PathBuf,
    pub(crate) source: Source,
    pub(crate) sets: PackageSets,
    pub(crate) deb_cache: Option<PathBuf>,
    pub(crate) tandem_bin: PathBuf,
    pub(crate) overlays: PathBuf,
    pub(crate) epoch: i64,
    pub(crate) iso_name: String,
    runner: Runner,
}

impl Ctx {
    pub(crate) fn base_root(&self) -> PathBuf {
        self.work.join("base-root")
    }
    pub(crate) fn live_root(&self) -> PathBuf {
        self.work.join("live-root")
    }
    pub(crate) fn stage_dir(&self) -> PathBuf {
        self.out.join("stage")
    }
    /// The repository the medium carries (stage Package writes it).
    pub(crate) fn medium_repo(&self) -> PathBuf {
        self.stage_dir().join("repo")
    }
    /// The medium's repository into a medium's tree, as hard links. Every node installs
    /// the tandem package from it: a medium without it is refused here.
    pub(crate) fn link_medium_repo(&mut self, dest: &Path) -> Result<()> {
        let repo = self.medium_repo();
        if !repo.join("dists").is_dir() {
            bail!(
                "no medium repository at {}: run the package stage first",
                repo.display()
            );
        }
        self.run(
            &Cmd::new("cp")
                .arg("-al")
                .arg(repo.display().to_string())
                .arg(dest.display().to_string()),
        )
        .with_context(|| format!("linking the package repository into {}", dest.display()))?;
        Ok(())
    }
    pub(crate) fn run(&mut self, cmd: &Cmd) -> Result<Output> {
        Ok(self.runner.run(cmd)?)
    }
}

fn absolute(p: &Path) -> Result<PathBuf> {
    Ok(if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()?.join(p)
    })
}

/// SOURCE_DATE_EPOCH as the flag, the environment or the clock give it.
pub(crate) fn epoch_now(flag: Option<i64>) -> Result<i64> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    epoch_from(flag, std::env::var("SOURCE_DATE_EPOCH").ok(), now)
}

fn epoch_from(flag: Option<i64>, env: Option<String>, now: i64) -> Result<i64> {
    match (flag, env) {
        (Some(e), _) => Ok(e),
        (None, Some(s)) if !s.trim().is_empty() => s
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("SOURCE_DATE_EPOCH={s:?} is not a Unix time")),
        _ => Ok(now),
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

pub(crate) fn run(args: &BuildArgs) -> Result<()> {
    let out = absolute(&args.out)?;
    std::fs::create_dir_all(out.join("stage"))?;
    let epoch = epoch_now(args.source_date_epoch)?;
    let (source, sets, from_repo) = sets::resolve(args.repo.as_deref(), &args.mirror, &args.suite)?;
    if !from_repo {
        eprintln!(
            "tandem-image: no --repo: building from {} with the development package lists",
            source.uri
        );
    }
    if from_repo && args.deb_cache.is_some() {
        bail!("--deb-cache is for builds from a remote mirror; a --repo is already local");
    }
    let deb_cache = match &args.deb_cache {
        Some(d) => {
            let d = absolute(d)?;
            std::fs::create_dir_all(&d)?;
            Some(d)
        }
        None => None,
    };
    let log = out.join("build.log");
    let mut ctx = Ctx {
        work: out.join("work"),
        out: out.clone(),
        source,
        sets,
        deb_cache,
        tandem_bin: absolute(&args.tandem_bin)?,
        overlays: absolute(&args.overlays)?,
        epoch,
        iso_name: args.iso_name.clone(),
        runner: Runner::with_log(&log)?,
    };
    let mut stages = args.stages.clone();
    if stages.is_empty() {
        stages = vec![
            Stage::Rootfs,
            Stage::Squashfs,
            Stage::Package,
            Stage::Iso,
            Stage::Pxe,
        ];
    }
    stages.sort();
    stages.dedup();
    eprintln!(
        "tandem-image: SOURCE_DATE_EPOCH={epoch}, log {}",
        log.display()
    );
    let menu = iso::BootMenu {
        timeout_secs: args.grub_timeout,
        append: args.append.clone(),
    };
    for stage in stages {
        match stage {
            Stage::Rootfs => {
                timed("rootfs base", || base::bootstrap(&mut ctx))?;
                timed("rootfs live", || live::bootstrap(&mut ctx))?;
                println!(
                    "base root {}, live root {}",
                    mib(crate::media::rootfs::tree_size(&ctx.base_root())),
                    mib(crate::media::rootfs::tree_size(&ctx.live_root()))
                );
            }
            Stage::Squashfs => {
                let b = timed("squashfs base", || base::image(&mut ctx))?;
                println!(
                    "base image {}: {}",
                    ctx.stage_dir().join("base.squashfs").display(),
                    mib(b)
                );
                let l = timed("squashfs live", || live::image(&mut ctx))?;
                println!(
                    "live squashfs (tandem {}): {}",
                    l.version,
                    mib(l.squashfs_bytes)
                );
            }
            Stage::Package => {
                let deb = timed("package", || package_and_repo(&mut ctx))?;
                println!(
                    "package {}: {}; medium repository {}",
                    deb.display(),
                    mib(std::fs::metadata(&deb)?.len()),
                    ctx.medium_repo().display()
                );
            }
            Stage::Iso => {
                let (path, size) = timed("iso", || iso::build(&mut ctx, &menu))?;
                println!("ISO {}: {}", path.display(), mib(size));
            }
            Stage::Pxe => {
                let dir = timed("pxe", || {
                    pxe::build(&mut ctx, &args.pxe_answer_path, &args.append)
                })?;
                println!("PXE artifacts in {}", dir.display());
            }
        }
    }
    Ok(())
}

/// The tandem package from the build's binary, then the medium's repository with it.
fn package_and_repo(ctx: &mut Ctx) -> Result<PathBuf> {
    let stage = ctx.stage_dir();
    let deb = crate::media::deb::build(
        &mut ctx.runner,
        &ctx.tandem_bin,
        crate::media::deb::default_version(),
        ctx.epoch,
        &ctx.work,
        &stage,
    )?;
    let fetched = ctx.source.local_dir();
    let (repo, suite) = (ctx.medium_repo(), ctx.source.suite.clone());
    crate::media::deb::medium_repo(
        &mut ctx.runner,
        fetched.as_deref(),
        &deb,
        &repo,
        &suite,
        ctx.epoch,
    )?;
    Ok(deb)
}

fn timed<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    eprintln!("== {what}");
    let t = Instant::now();
    let r = f();
    println!("stage {what}: {:.1} s", t.elapsed().as_secs_f64());
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_precedence() {
        assert_eq!(epoch_from(Some(5), Some("7".into()), 9).unwrap(), 5);
        assert_eq!(epoch_from(None, Some("7".into()), 9).unwrap(), 7);
        assert_eq!(epoch_from(None, None, 9).unwrap(), 9);
        assert_eq!(epoch_from(None, Some(String::new()), 9).unwrap(), 9);
        assert!(epoch_from(None, Some("yesterday".into()), 9).is_err());
    }
}
