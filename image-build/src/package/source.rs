//! A remote repository as the profile names it: fetch InRelease, verify its signature
//! with gpgv against the profile keyring, then fetch each component's Packages index and
//! check it against the SHA256 list of the verified InRelease before parsing it.

use std::io::Read;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::package::cache::{self, Cache};
use crate::package::deb822::{self, Stanza};
use crate::package::net::{Net, NetError};
use crate::package::profile::Repository;
use crate::package::release::{self, Release};

/// A signature problem: the build must stop.
#[derive(Debug, thiserror::Error)]
#[error("{url}: signature check against keyring {keyring} failed: {detail}")]
struct SignatureError {
    pub(crate) url: String,
    pub(crate) keyring: String,
    detail: String,
}

pub(crate) struct Source<'a> {
    pub(crate) repo: &'a Repository,
    pub(crate) net: Net,
}

pub(crate) struct LoadedIndex {
    pub(crate) component: String,
    /// The verified, decompressed Packages text.
    pub(crate) text: String,
    pub(crate) stanzas: Vec<Stanza>,
}

impl<'a> Source<'a> {
    pub(crate) fn new(repo: &'a Repository, offline: bool) -> Source<'a> {
        Source {
            repo,
            net: Net::new(
                std::time::Duration::from_secs(repo.connect_timeout_seconds),
                offline,
            ),
        }
    }

    fn dists_url(&self) -> String {
        format!(
            "{}/dists/{}",
            self.repo.url.trim_end_matches('/'),
            self.repo.suite
        )
    }

    pub(crate) fn file_url(&self, filename: &str) -> String {
        format!("{}/{}", self.repo.url.trim_end_matches('/'), filename)
    }

    fn cache_key(&self) -> String {
        let raw = format!("{}_{}", self.repo.url, self.repo.suite);
        raw.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }

    /// Fetches (or, offline, reuses the last verified) InRelease and returns its verified
    /// content, parsed.
    pub(crate) fn release(
        &self,
        cache: &Cache,
        offline: bool,
        now: i64,
    ) -> Result<(Release, String)> {
        let url = format!("{}/InRelease", self.dists_url());
        let cached = cache.release_path(&self.cache_key());
        let signed = if offline {
            std::fs::read(&cached).with_context(|| {
                format!(
                    "--offline: no verified InRelease cached for {url} (expected {})",
                    cached.display()
                )
            })?
        } else {
            self.net.get_bytes(&url, Some(64 << 20)).map_err(|e| match e {
                NetError::Unreachable { message, .. } => anyhow::anyhow!(
                    "repository {:?} at {} is unreachable ({message}); check the network or remove it from the profile",
                    self.repo.name,
                    self.repo.url
                ),
                other => anyhow::anyhow!(other),
            })?
        };
        let content = verify_clearsigned(&signed, &self.repo.keyring, &url)?;
        let release = Release::parse(&content).with_context(|| format!("parsing {url}"))?;
        if let Some(until) = release.valid_until {
            if until < now {
                let msg = format!(
                    "{url} expired at {} (Valid-Until)",
                    release::format_date(until)
                );
                if !offline {
                    bail!("{msg}: the mirror serves stale metadata");
                }
                // Offline builds reuse what was verified earlier; expiry is expected there.
                eprintln!("warning: {msg}; using it because of --offline");
            }
        }
        if !offline {
            if let Some(dir) = cached.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&cached, &signed)
                .with_context(|| format!("caching {}", cached.display()))?;
        }
        Ok((release, content))
    }

    /// Fetches the Packages index of every component for `arch`, verified against the
    /// release. Components the release does not list are skipped with a warning, as apt does.
    pub(crate) fn indexes(
        &self,
        release: &Release,
        arch: &str,
        cache: &Cache,
        offline: bool,
    ) -> Result<Vec<LoadedIndex>> {
        let mut out = Vec::new();
        for component in &self.repo.components {
            let base = format!("{component}/binary-{arch}/Packages");
            // Prefer gzip (fast to decode), then xz, then uncompressed.
            let choice = ["gz", "xz", ""].iter().find_map(|ext| {
                let path = if ext.is_empty() {
                    base.clone()
                } else {
                    format!("{base}.{ext}")
                };
                release
                    .sha256
                    .get(&path)
                    .map(|(h, s)| (path, *ext, h.clone(), *s))
            });
            let Some((path, ext, sha256, size)) = choice else {
                eprintln!(
                    "warning: {} {}: no {base} listed in InRelease, skipping component",
                    self.repo.url, self.repo.suite
                );
                continue;
            };
            let url = if release.acquire_by_hash {
                // by-hash URLs cannot change under us while the mirror updates.
                let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
                format!("{}/{dir}/by-hash/SHA256/{sha256}", self.dists_url())
            } else {
                format!("{}/{path}", self.dists_url())
            };
            let stored = cache.index_path(&sha256);
            if offline && !stored.exists() {
                bail!(
                    "--offline: {url} is not in the cache ({})",
                    stored.display()
                );
            }
            cache.fetch_verified(
                &self.net,
                &url,
                &format!("index {path} of {}", self.repo.name),
                &sha256,
                size,
                &stored,
            )?;
            let raw =
                std::fs::read(&stored).with_context(|| format!("reading {}", stored.display()))?;
            // Re-check what we read: the cache file could have changed since it was verified.
            cache::check_bytes(&raw, &path, &url, &sha256, size)?;
            let text = decompress(&raw, ext).with_context(|| format!("decompressing {url}"))?;
            let stanzas = deb822::parse(&text).with_context(|| format!("parsing {url}"))?;
            out.push(LoadedIndex {
                component: component.clone(),
                text,
                stanzas,
            });
        }
        Ok(out)
    }
}

fn decompress(raw: &[u8], ext: &str) -> Result<String> {
    let mut out = Vec::with_capacity(raw.len() * 5);
    match ext {
        "gz" => {
            flate2::read::MultiGzDecoder::new(raw).read_to_end(&mut out)?;
        }
        "xz" => {
            lzma_rs::xz_decompress(&mut std::io::BufReader::new(raw), &mut out)
                .map_err(|e| anyhow::anyhow!("xz: {e:?}"))?;
        }
        _ => out = raw.to_vec(),
    }
    String::from_utf8(out).context("index is not UTF-8")
}

/// Verifies a clearsigned file with gpgv and returns the signed text. Accepts only if
/// at least one signature is valid and made by a key in `keyring`, and none is bad
/// (apt's rule); unknown extra signatures (e.g. a newer archive key) are tolerated.
fn verify_clearsigned(signed: &[u8], keyring: &Path, url: &str) -> Result<String> {
    let fail = |detail: String| SignatureError {
        url: url.into(),
        keyring: keyring.display().to_string(),
        detail,
    };
    if !keyring.is_file() {
        bail!(fail("keyring file does not exist".into()));
    }
    let keyring = keyring.canonicalize()?;
    let dir = tempfile::tempdir().context("temp dir for gpgv")?;
    let input = dir.path().join("InRelease");
    std::fs::write(&input, signed)?;
    let output = Command::new("gpgv")
        // An empty homedir: no default trustedkeys.kbx can sneak in extra keys.
        .arg("--homedir")
        .arg(dir.path())
        .args(["--status-fd", "2", "--keyring"])
        .arg(&keyring)
        .args(["--output", "-"])
        .arg(&input)
        .output()
        .context("running gpgv (install the gpgv package)")?;
    let status = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = status
        .lines()
        .filter_map(|l| l.strip_prefix("[GNUPG:] "))
        .collect();
    let has = |tag: &str| {
        lines
            .iter()
            .any(|l| l.split_whitespace().next() == Some(tag))
    };
    // GOODSIG is only emitted for a good signature by a valid key: an expired or revoked
    // key, or an expired signature, yields EXPKEYSIG/REVKEYSIG/EXPSIG instead, which apt
    // also treats as worthless.
    if has("BADSIG") || has("NODATA") || !has("GOODSIG") || !has("VALIDSIG") {
        let human: Vec<&str> = status
            .lines()
            .filter(|l| !l.starts_with("[GNUPG:]"))
            .collect();
        let detail = if has("BADSIG") {
            format!("BAD signature ({})", human.join("; "))
        } else if !has("NEWSIG") {
            format!("not signed ({})", human.join("; "))
        } else {
            format!(
                "no valid signature from a key in the keyring ({})",
                human.join("; ")
            )
        };
        bail!(fail(detail));
    }
    String::from_utf8(output.stdout).context("InRelease content is not UTF-8")
}

#[cfg(test)]
mod tests {
    use super::verify_clearsigned;
    use crate::package::testrepo;

    #[test]
    fn signature_by_an_expired_key_is_rejected() {
        let (_home, keyring, signed) = testrepo::sign_with_expiring_key("Origin: x\n", 5);
        // Still valid right after signing (well within the 5 s unless the box stalls).
        let fresh = verify_clearsigned(&signed, &keyring, "fixture");
        std::thread::sleep(std::time::Duration::from_secs(6));
        let e = verify_clearsigned(&signed, &keyring, "fixture")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no valid signature from a key in the keyring"),
            "{e}"
        );
        if let Ok(text) = fresh {
            assert_eq!(text, "Origin: x\n");
        }
    }
}
