//! What the install reads from the boot medium: the base image and the package repository
//! (`tandem-image build` puts them at /tandem/base.squashfs and /tandem/repo; live-boot
//! mounts the medium at /run/live/medium).

use super::packages::{self, DebToInstall};
use super::runner::{Cmd, Runner};
use crate::plan::Plan;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

pub const MEDIUM: &str = "/run/live/medium";

#[derive(Debug, Clone)]
pub struct Medium {
    pub root: PathBuf,
}

impl Medium {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Medium { root: root.into() }
    }

    pub fn base_image(&self) -> PathBuf {
        self.root.join("tandem/base.squashfs")
    }

    pub fn repo(&self) -> PathBuf {
        self.root.join("tandem/repo")
    }

    /// The node's .debs beyond the base image, decided without writing anything: the base
    /// image's dpkg status is read straight out of the squashfs.
    pub fn debs_for(&self, plan: &Plan, runner: &mut Runner) -> Result<Vec<DebToInstall>> {
        let img = self.base_image();
        if !img.is_file() {
            anyhow::bail!(
                "the base system image {} is missing: is this a Tandem medium?",
                img.display()
            );
        }
        let status = runner
            .run(&Cmd::new("unsquashfs").args([
                "-cat".to_string(),
                img.display().to_string(),
                "var/lib/dpkg/status".into(),
            ]))
            .with_context(|| format!("reading the package list of {}", img.display()))?
            .stdout;
        let base = packages::installed(&status);
        let wanted: Vec<(String, String)> = plan
            .packages
            .iter()
            .map(|p| (p.name.clone(), p.why.clone()))
            .collect();
        if wanted.iter().all(|(n, _)| base.contains(n)) {
            return Ok(vec![]);
        }
        let repo = self.repo();
        let index_path = packages::find_index(&repo).with_context(|| {
            format!(
                "the node needs packages the base image lacks, and the medium has no \
                 repository at {}",
                repo.display()
            )
        })?;
        let index = std::fs::read_to_string(&index_path)
            .with_context(|| format!("reading {}", index_path.display()))?;
        let chosen = packages::resolve(&wanted, &base, &packages::parse_index(&index))?;
        Ok(packages::debs(&repo, &chosen))
    }
}

/// The root of the medium the live system booted from, unless told otherwise.
pub fn default_root() -> &'static Path {
    Path::new(MEDIUM)
}
