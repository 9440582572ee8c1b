//! Host cache, content-addressed by SHA-256: a file is only ever stored under the hash
//! it was verified against, so a cache hit needs no network and no trust in the cache
//! beyond re-hashing.
//!
//! Layout: `<root>/debs/<sha256>.deb`, `<root>/indexes/by-hash/<sha256>` (verified
//! Packages files as downloaded), `<root>/indexes/release/<repo-key>/InRelease` (last
//! InRelease that passed gpgv, for `--offline`).

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::package::net::{Net, NetError};

pub(crate) struct Cache {
    pub(crate) root: PathBuf,
}

/// A size or hash mismatch: the file is not what the signed index says.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {problem} (from {url})")]
struct IntegrityError {
    pub(crate) what: String,
    pub(crate) url: String,
    pub(crate) problem: String,
}

impl Cache {
    pub(crate) fn new(root: PathBuf) -> Result<Cache> {
        for sub in ["debs", "indexes/by-hash", "indexes/release", "tmp"] {
            std::fs::create_dir_all(root.join(sub))
                .with_context(|| format!("creating cache dir {}", root.join(sub).display()))?;
        }
        Ok(Cache { root })
    }

    pub(crate) fn deb_path(&self, sha256: &str) -> PathBuf {
        self.root.join("debs").join(format!("{sha256}.deb"))
    }

    pub(crate) fn index_path(&self, sha256: &str) -> PathBuf {
        self.root.join("indexes/by-hash").join(sha256)
    }

    pub(crate) fn release_path(&self, key: &str) -> PathBuf {
        self.root
            .join("indexes/release")
            .join(key)
            .join("InRelease")
    }

    /// Returns `dest` if it already holds the right content, else downloads `url` into
    /// it, checking size and SHA-256 before the file appears under its final name.
    /// Returns whether the network was used.
    pub(crate) fn fetch_verified(
        &self,
        net: &Net,
        url: &str,
        what: &str,
        sha256: &str,
        size: u64,
        dest: &Path,
    ) -> Result<bool> {
        if dest.exists() {
            if file_sha256(dest)? == sha256 {
                return Ok(false);
            }
            // A corrupt cache entry (disk error, interrupted copy): replace it.
            std::fs::remove_file(dest).ok();
        }
        let mut tmp = tempfile::NamedTempFile::new_in(self.root.join("tmp"))
            .context("creating temp file in cache")?;
        let mut writer = HashingWriter {
            inner: tmp.as_file_mut(),
            hasher: Sha256::new(),
            len: 0,
        };
        match net.get(url, &mut writer, Some(size)) {
            Ok(_) => {}
            Err(NetError::TooLarge { .. }) => {
                return Err(IntegrityError {
                    what: what.into(),
                    url: url.into(),
                    problem: format!("size mismatch: more than the expected {size} bytes"),
                }
                .into())
            }
            Err(e) => return Err(e.into()),
        }
        let (len, got) = (writer.len, hex(&writer.hasher.finalize()));
        if len != size {
            return Err(IntegrityError {
                what: what.into(),
                url: url.into(),
                problem: format!("size mismatch: got {len} bytes, expected {size}"),
            }
            .into());
        }
        if got != sha256 {
            return Err(IntegrityError {
                what: what.into(),
                url: url.into(),
                problem: format!("SHA256 mismatch: got {got}, expected {sha256}"),
            }
            .into());
        }
        // The repository is served over HTTP to PXE machines, by a web server that is not
        // root (nginx's www-data): a temp file's 0600 would answer 403 for every .deb.
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .with_context(|| format!("making {} readable", dest.display()))?;
        tmp.persist(dest)
            .with_context(|| format!("storing {}", dest.display()))?;
        Ok(true)
    }
}

struct HashingWriter<'a> {
    inner: &'a mut File,
    hasher: Sha256,
    len: u64,
}

impl Write for HashingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn sha256_bytes(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

pub(crate) fn file_sha256(path: &Path) -> Result<String> {
    let mut r =
        BufReader::new(File::open(path).with_context(|| format!("opening {}", path.display()))?);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = r
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// Checks bytes against an expected (sha256, size) from a signed index.
pub(crate) fn check_bytes(
    data: &[u8],
    what: &str,
    url: &str,
    sha256: &str,
    size: u64,
) -> Result<()> {
    if data.len() as u64 != size {
        bail!(IntegrityError {
            what: what.into(),
            url: url.into(),
            problem: format!("size mismatch: got {} bytes, expected {size}", data.len())
        });
    }
    let got = sha256_bytes(data);
    if got != sha256 {
        bail!(IntegrityError {
            what: what.into(),
            url: url.into(),
            problem: format!("SHA256 mismatch: got {got}, expected {sha256}")
        });
    }
    Ok(())
}
