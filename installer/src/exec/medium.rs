//! What the install reads from the medium: the base image and the package repository.
//! Either the boot medium (`tandem-image build` puts them at /tandem/base.squashfs and
//! /tandem/repo; live-boot mounts the medium at /run/live/medium), or an HTTP server
//! (`tandem.media=URL` on a PXE boot, `--medium URL`): `URL/base.squashfs`,
//! `URL/base.status` (the base image's dpkg status) and `URL/repo/`.

use super::packages::{self, DebToInstall};
use super::runner::{Cmd, Runner};
use crate::http::Trust;
use crate::plan::Plan;
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::time::Duration;

pub const MEDIUM: &str = "/run/live/medium";

/// How long to keep retrying the HTTP medium (a server restarting, a link coming up).
pub const HTTP_PATIENCE: Duration = Duration::from_secs(120);
/// A Packages index or dpkg status bigger than this is not one.
const MAX_INDEX_BYTES: u64 = 64 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Medium {
    /// The root of a mounted medium (or a directory laid out like one).
    Local(PathBuf),
    /// The base URL of a medium served over HTTP (the PXE directory).
    Http(String),
}

/// Where the base image comes from, as checked before anything is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseImage {
    Local(PathBuf),
    /// Downloaded into the target after mkfs (never into the live system's RAM).
    Http {
        url: String,
        size: u64,
    },
}

impl BaseImage {
    pub fn describe(&self) -> String {
        match self {
            BaseImage::Local(p) => p.display().to_string(),
            BaseImage::Http { url, .. } => url.clone(),
        }
    }
}

impl Medium {
    /// `--medium`, else `tandem.media=`, else the boot medium.
    pub fn choose(flag: Option<&str>, cmdline_media: Option<&str>) -> Self {
        match flag.or(cmdline_media) {
            Some(s) if s.starts_with("http://") || s.starts_with("https://") => {
                Medium::Http(s.trim_end_matches('/').to_string())
            }
            Some(s) => Medium::Local(PathBuf::from(s)),
            None => Medium::Local(PathBuf::from(MEDIUM)),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Medium::Local(root) => root.join("tandem").display().to_string(),
            Medium::Http(url) => url.clone(),
        }
    }

    fn url(&self, rel: &str) -> Option<String> {
        match self {
            Medium::Http(base) => Some(format!("{base}/{rel}")),
            Medium::Local(_) => None,
        }
    }

    /// The base image: present on the medium (HTTP: answered by a HEAD request).
    pub fn base_image(&self) -> Result<BaseImage> {
        match self {
            Medium::Local(root) => {
                let img = root.join("tandem/base.squashfs");
                if !img.is_file() {
                    anyhow::bail!(
                        "the base system image {} is missing: is this a Tandem medium?",
                        img.display()
                    );
                }
                Ok(BaseImage::Local(img))
            }
            Medium::Http(_) => {
                let url = self.url("base.squashfs").unwrap_or_default();
                let size = crate::http::content_length(
                    "the base image",
                    &url,
                    &Trust::Roots,
                    HTTP_PATIENCE,
                )?;
                Ok(BaseImage::Http { url, size })
            }
        }
    }

    /// Where the base image would be, unchecked (for a dry run's listing).
    pub fn assumed_base_image(&self) -> BaseImage {
        match self {
            Medium::Local(root) => BaseImage::Local(root.join("tandem/base.squashfs")),
            Medium::Http(_) => BaseImage::Http {
                url: self.url("base.squashfs").unwrap_or_default(),
                size: 0,
            },
        }
    }

    /// The base image's dpkg status, read without writing anything.
    fn base_status(&self, base: &BaseImage, runner: &mut Runner) -> Result<String> {
        match base {
            BaseImage::Local(img) => Ok(runner
                .run(&Cmd::new("unsquashfs").args([
                    "-cat".to_string(),
                    img.display().to_string(),
                    "var/lib/dpkg/status".into(),
                ]))
                .with_context(|| format!("reading the package list of {}", img.display()))?
                .stdout),
            // The squashfs cannot be read over HTTP piecewise; the image build publishes
            // its dpkg status beside it.
            BaseImage::Http { .. } => crate::http::get_text(
                "the base image's package list",
                &self.url("base.status").unwrap_or_default(),
                &Trust::Roots,
                None,
                MAX_INDEX_BYTES,
                HTTP_PATIENCE,
            ),
        }
    }

    /// The node's .debs beyond the base image, decided without writing anything.
    pub fn debs_for(
        &self,
        plan: &Plan,
        base: &BaseImage,
        runner: &mut Runner,
    ) -> Result<Vec<DebToInstall>> {
        let wanted: Vec<(String, String)> = plan
            .packages
            .iter()
            .map(|p| (p.name.clone(), p.why.clone()))
            .collect();
        self.debs_wanted(&wanted, base, runner)
    }

    /// The .debs that complete `wanted` (name, why) on top of the base image.
    fn debs_wanted(
        &self,
        wanted: &[(String, String)],
        base: &BaseImage,
        runner: &mut Runner,
    ) -> Result<Vec<DebToInstall>> {
        let installed = packages::installed(&self.base_status(base, runner)?);
        if wanted.iter().all(|(n, _)| installed.contains(n)) {
            return Ok(vec![]);
        }
        let (index, repo) = match self {
            Medium::Local(root) => {
                let repo = root.join("tandem/repo");
                let index_path = packages::find_index(&repo).with_context(|| {
                    format!(
                        "the node needs packages the base image lacks, and the medium has no \
                         repository at {}",
                        repo.display()
                    )
                })?;
                let index = std::fs::read_to_string(&index_path)
                    .with_context(|| format!("reading {}", index_path.display()))?;
                (index, repo.display().to_string())
            }
            Medium::Http(_) => {
                let repo = self.url("repo").unwrap_or_default();
                (http_index(&repo)?, repo)
            }
        };
        let chosen = packages::resolve(wanted, &installed, &packages::parse_index(&index))?;
        Ok(packages::debs(&repo, &chosen))
    }
}

/// The repository's Packages index over HTTP: the suite is named in the repository's
/// tandem-manifest.json (HTTP has no directory listing to glob).
fn http_index(repo: &str) -> Result<String> {
    let manifest = crate::http::get_text(
        "the repository manifest",
        &format!("{repo}/tandem-manifest.json"),
        &Trust::Roots,
        None,
        MAX_INDEX_BYTES,
        HTTP_PATIENCE,
    )?;
    let m: serde_json::Value =
        serde_json::from_str(&manifest).context("reading the repository manifest")?;
    let suite = m["suite"].as_str().unwrap_or("trixie");
    let component = m["component"].as_str().unwrap_or("main");
    let arch = m["architecture"].as_str().unwrap_or("amd64");
    crate::http::get_text(
        "the package index",
        &format!("{repo}/dists/{suite}/{component}/binary-{arch}/Packages"),
        &Trust::Roots,
        None,
        MAX_INDEX_BYTES,
        HTTP_PATIENCE,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A medium laid out like the PXE directory, served on 127.0.0.1.
    fn http_medium(name: &str) -> (std::path::PathBuf, String) {
        let dir = std::env::temp_dir().join(format!("tandem-medium-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let pool = dir.join("repo/pool/main/h/htop");
        std::fs::create_dir_all(&pool).unwrap();
        std::fs::create_dir_all(dir.join("repo/dists/trixie/main/binary-amd64")).unwrap();
        std::fs::write(dir.join("base.squashfs"), vec![7u8; 4096]).unwrap();
        std::fs::write(
            dir.join("base.status"),
            "Package: libc6\nStatus: install ok installed\n\nPackage: mdadm\nStatus: install ok installed\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("repo/tandem-manifest.json"),
            r#"{"suite":"trixie","component":"main","architecture":"amd64"}"#,
        )
        .unwrap();
        let deb = b"!<arch>\nnot really a deb".to_vec();
        std::fs::write(pool.join("htop_3.4.1-1_amd64.deb"), &deb).unwrap();
        let sha = String::from_utf8(
            std::process::Command::new("sha256sum")
                .arg(pool.join("htop_3.4.1-1_amd64.deb"))
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        std::fs::write(
            dir.join("repo/dists/trixie/main/binary-amd64/Packages"),
            format!(
                "Package: htop\nVersion: 3.4.1-1\nDepends: libc6\n\
                 Filename: pool/main/h/htop/htop_3.4.1-1_amd64.deb\nSize: {}\nSHA256: {}\n",
                deb.len(),
                &sha[..64]
            ),
        )
        .unwrap();
        let url = crate::http::tests::serve_dir(dir.clone());
        (dir, url)
    }

    fn want(names: &[&str]) -> Vec<(String, String)> {
        names
            .iter()
            .map(|n| (n.to_string(), "plan".into()))
            .collect()
    }

    #[test]
    fn choice_of_medium() {
        assert_eq!(
            Medium::choose(None, None),
            Medium::Local(PathBuf::from(MEDIUM))
        );
        assert_eq!(
            Medium::choose(None, Some("http://10.0.2.2:8000/")),
            Medium::Http("http://10.0.2.2:8000".into())
        );
        assert_eq!(
            Medium::choose(Some("/mnt/m"), Some("http://x")),
            Medium::Local(PathBuf::from("/mnt/m"))
        );
    }

    #[test]
    fn http_medium_resolves_before_anything_is_written() {
        let (dir, url) = http_medium("ok");
        let m = Medium::choose(Some(&url), None);
        let base = m.base_image().unwrap();
        assert_eq!(
            base,
            BaseImage::Http {
                url: format!("{url}/base.squashfs"),
                size: 4096
            }
        );
        let mut r = Runner::unlogged();
        // mdadm is in the base: nothing to download.
        assert!(m
            .debs_wanted(&want(&["mdadm"]), &base, &mut r)
            .unwrap()
            .is_empty());
        let debs = m
            .debs_wanted(&want(&["htop", "mdadm"]), &base, &mut r)
            .unwrap();
        assert_eq!(debs.len(), 1);
        assert_eq!(
            debs[0].from,
            format!("{url}/repo/pool/main/h/htop/htop_3.4.1-1_amd64.deb")
        );
        let e = m
            .debs_wanted(&want(&["nosuch"]), &base, &mut r)
            .unwrap_err()
            .to_string();
        assert!(e.contains("nosuch (plan) is neither"), "{e}");

        // The download is checked against the index: size here, SHA256 by check_sums.
        let d = &debs[0];
        let dest = dir.join("got.deb");
        // Downloads the .deb and gives sha256sum's line for it, named as in the target.
        let fetch_and_sum = || {
            crate::http::download(
                "htop",
                &d.from,
                &Trust::Roots,
                &dest,
                d.size.unwrap(),
                HTTP_PATIENCE,
            )
            .unwrap();
            let out = std::process::Command::new("sha256sum")
                .arg(&dest)
                .output()
                .unwrap()
                .stdout;
            String::from_utf8(out).unwrap().replace(
                &dest.display().to_string(),
                &format!("/t/{}", d.file_name()),
            )
        };
        packages::check_sums(&debs, &fetch_and_sum()).unwrap();
        std::fs::write(
            dir.join("repo/pool/main/h/htop/htop_3.4.1-1_amd64.deb"),
            b"!<arch>\nnot really a deX",
        )
        .unwrap();
        let sum = fetch_and_sum();
        let e = packages::check_sums(&debs, &sum).unwrap_err().to_string();
        assert!(
            e.starts_with("package htop 3.4.1-1: SHA256 mismatch"),
            "{e}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn http_medium_without_base_image_is_refused() {
        let (dir, url) = http_medium("nobase");
        std::fs::remove_file(dir.join("base.squashfs")).unwrap();
        let e = Medium::Http(url.clone()).base_image().unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            format!("fetching the base image from {url}/base.squashfs: HTTP 404")
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
