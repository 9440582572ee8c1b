//! Test fixtures: tiny real .debs (dpkg-deb), a repository signed with a throwaway gpg
//! key, and a minimal HTTP server on 127.0.0.1 that counts requests.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};

use crate::package::cache::{file_sha256, sha256_bytes};

pub(crate) struct Keys {
    home: tempfile::TempDir,
    /// Binary keyrings with the public key of each test key.
    pub(crate) good: PathBuf,
    pub(crate) other: PathBuf,
}

static KEYS: OnceLock<Keys> = OnceLock::new();
static GPG: Mutex<()> = Mutex::new(());

fn gpg(home: &Path, args: &[&str]) -> Vec<u8> {
    // gpg 2.2.40 once failed a clearsign under load with "keydb_search failed: End of
    // file" on a keyring nothing else was using; not reproduced in 8 runs since. A failed
    // signing is tried again (said on stderr); a second failure fails the test. Key
    // generation is not retried: a half-made key would be made twice.
    let retries = if args.contains(&"--clearsign") { 1 } else { 0 };
    for attempt in 0.. {
        match gpg_once(home, args) {
            Ok(out) => return out,
            Err(e) if attempt < retries => eprintln!("testrepo: retrying gpg once: {e}"),
            Err(e) => panic!("{e}"),
        }
    }
    unreachable!()
}

fn gpg_once(home: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let out = Command::new("gpg")
        .env("GNUPGHOME", home)
        .args([
            "--batch",
            "--quiet",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
        ])
        .args(args)
        .output()
        .expect("gpg");
    if !out.status.success() {
        return Err(format!(
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(out.stdout)
}

fn kill_agent(home: &Path) {
    // The agent would outlive the test otherwise.
    let _ = Command::new("gpgconf")
        .env("GNUPGHOME", home)
        .args(["--kill", "gpg-agent"])
        .output();
}

pub(crate) fn keys() -> &'static Keys {
    KEYS.get_or_init(|| {
        let _g = GPG.lock().unwrap_or_else(|e| e.into_inner());
        let home = tempfile::Builder::new()
            .prefix("tg")
            .tempdir_in("/tmp")
            .unwrap();
        let h = home.path();
        std::fs::set_permissions(h, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        for uid in ["good@tandem.invalid", "other@tandem.invalid"] {
            gpg(h, &["--quick-gen-key", uid, "ed25519", "sign", "never"]);
        }
        let good = h.join("good.gpg");
        let other = h.join("other.gpg");
        std::fs::write(&good, gpg(h, &["--export", "good@tandem.invalid"])).unwrap();
        std::fs::write(&other, gpg(h, &["--export", "other@tandem.invalid"])).unwrap();
        kill_agent(h);
        Keys { home, good, other }
    })
}

fn clearsign(text: &str, uid: &str) -> Vec<u8> {
    let k = keys();
    let _g = GPG.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("Release");
    std::fs::write(&f, text).unwrap();
    let out = dir.path().join("InRelease");
    gpg(
        k.home.path(),
        &[
            "--yes",
            "--local-user",
            uid,
            "--clearsign",
            "-o",
            out.to_str().unwrap(),
            f.to_str().unwrap(),
        ],
    );
    kill_agent(k.home.path());
    std::fs::read(out).unwrap()
}

pub(crate) struct FakePkg {
    pub(crate) name: &'static str,
    pub(crate) version: &'static str,
    pub(crate) arch: &'static str,
    pub(crate) extra: &'static str,
}

pub(crate) fn pkg(name: &'static str, version: &'static str, extra: &'static str) -> FakePkg {
    FakePkg {
        name,
        version,
        arch: "amd64",
        extra,
    }
}

/// Builds a real .deb with dpkg-deb; `extra` adds control fields (Depends, Provides...).
fn build_deb(p: &FakePkg, out: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let debian = dir.path().join("DEBIAN");
    std::fs::create_dir_all(&debian).unwrap();
    let doc = dir.path().join("usr/share/doc").join(p.name);
    std::fs::create_dir_all(&doc).unwrap();
    std::fs::write(doc.join("README"), format!("{} {}\n", p.name, p.version)).unwrap();
    let control = format!(
        "Package: {}\nVersion: {}\nArchitecture: {}\nMaintainer: Tandem Tests <t@tandem.invalid>\n{}Description: fixture {}\n",
        p.name, p.version, p.arch, p.extra, p.name
    );
    std::fs::write(debian.join("control"), control).unwrap();
    let st = Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Znone", "--build"])
        .arg(dir.path())
        .arg(out)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "dpkg-deb: {}",
        String::from_utf8_lossy(&st.stderr)
    );
}

pub(crate) struct RepoSpec<'a> {
    pub(crate) suite: &'a str,
    pub(crate) component: &'a str,
    pub(crate) pkgs: Vec<FakePkg>,
    pub(crate) signer: &'a str,
    pub(crate) valid_until: Option<&'a str>,
    /// Publish Packages.xz (not .gz) with `Acquire-By-Hash: yes`, as Debian's
    /// trixie-updates and trixie-security do.
    pub(crate) xz_by_hash: bool,
}

/// Writes a signed repository under `root` (dists/, pool/) and returns the Packages text.
pub(crate) fn build_repo(root: &Path, spec: &RepoSpec) -> String {
    let mut packages = String::new();
    for p in &spec.pkgs {
        let rel = format!(
            "pool/{}/{}/{}/{}_{}_{}.deb",
            spec.component,
            &p.name[..1],
            p.name,
            p.name,
            p.version,
            p.arch
        );
        let path = root.join(&rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        build_deb(p, &path);
        let size = std::fs::metadata(&path).unwrap().len();
        packages.push_str(&format!(
            "Package: {}\nVersion: {}\nArchitecture: {}\nMaintainer: Tandem Tests <t@tandem.invalid>\n{}Priority: optional\nFilename: {rel}\nSize: {size}\nSHA256: {}\nDescription: fixture {}\n\n",
            p.name,
            p.version,
            p.arch,
            p.extra,
            file_sha256(&path).unwrap(),
            p.name
        ));
    }
    let dists = root.join("dists").join(spec.suite);
    let bin = dists.join(spec.component).join("binary-amd64");
    std::fs::create_dir_all(&bin).unwrap();
    let (ext, compressed) = if spec.xz_by_hash {
        let mut xz = Vec::new();
        lzma_rs::xz_compress(&mut packages.as_bytes(), &mut xz).unwrap();
        ("xz", xz)
    } else {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(packages.as_bytes()).unwrap();
        ("gz", gz.finish().unwrap())
    };
    std::fs::write(bin.join(format!("Packages.{ext}")), &compressed).unwrap();
    std::fs::write(bin.join("Packages"), &packages).unwrap();
    if spec.xz_by_hash {
        let by_hash = bin.join("by-hash/SHA256");
        std::fs::create_dir_all(&by_hash).unwrap();
        std::fs::write(by_hash.join(sha256_bytes(&compressed)), &compressed).unwrap();
    }
    let mut release = format!(
        "Origin: Fixture\nSuite: {0}\nCodename: {0}\nDate: Sat, 21 Nov 2026 09:15:44 UTC\n",
        spec.suite
    );
    if let Some(v) = spec.valid_until {
        release.push_str(&format!("Valid-Until: {v}\n"));
    }
    if spec.xz_by_hash {
        release.push_str("Acquire-By-Hash: yes\n");
    }
    release.push_str("Architectures: amd64\nSHA256:\n");
    let compressed_name = format!("Packages.{ext}");
    for (name, data) in [
        ("Packages", packages.as_bytes()),
        (compressed_name.as_str(), &compressed[..]),
    ] {
        release.push_str(&format!(
            " {} {} {}/binary-amd64/{name}\n",
            sha256_bytes(data),
            data.len(),
            spec.component
        ));
    }
    std::fs::write(dists.join("Release"), &release).unwrap();
    std::fs::write(dists.join("InRelease"), clearsign(&release, spec.signer)).unwrap();
    packages
}

/// A static file server on 127.0.0.1; records every requested path.
pub(crate) struct Server {
    pub(crate) url: String,
    pub(crate) requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub(crate) fn start(root: PathBuf) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                // Drain the headers.
                let mut h = String::new();
                while reader.read_line(&mut h).is_ok_and(|n| n > 2) {
                    h.clear();
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                log.lock().unwrap().push(path.clone());
                let file = root.join(path.trim_start_matches('/'));
                let _ = match std::fs::read(&file) {
                    Ok(body) if file.is_file() => {
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        );
                        stream
                            .write_all(head.as_bytes())
                            .and_then(|_| stream.write_all(&body))
                    }
                    _ => stream.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    ),
                };
            }
        });
        Server { url, requests }
    }

    pub(crate) fn count(&self, suffix: &str) -> usize {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.ends_with(suffix))
            .count()
    }
}

/// Writes a profile for the given repositories (name, url, suite, component, keyring).
pub(crate) fn write_profile(
    dir: &Path,
    repos: &[(&str, &str, &str, &str, &Path)],
    sets: &BTreeMap<&str, Vec<&str>>,
) -> PathBuf {
    let mut t = String::from(
        "name = \"fixture\"\n[output]\nsuite = \"tandem\"\n[resolver]\npriorities = []\n",
    );
    for (name, url, suite, comp, keyring) in repos {
        t.push_str(&format!(
            "[[repository]]\nname = \"{name}\"\nurl = \"{url}\"\nsuite = \"{suite}\"\ncomponents = [\"{comp}\"]\nkeyring = \"{}\"\nconnect-timeout-seconds = 2\n",
            keyring.display()
        ));
    }
    for (set, pkgs) in sets {
        t.push_str(&format!("[sets.{set}]\npackages = {pkgs:?}\n"));
    }
    let f = dir.join("profile.toml");
    std::fs::write(&f, t).unwrap();
    f
}

/// A key that expires `secs` seconds after creation, and `text` clearsigned with it right
/// away: (keyring, signed). The caller waits for the expiry.
pub(crate) fn sign_with_expiring_key(
    text: &str,
    secs: u32,
) -> (tempfile::TempDir, PathBuf, Vec<u8>) {
    let home = tempfile::Builder::new()
        .prefix("tge")
        .tempdir_in("/tmp")
        .unwrap();
    let h = home.path();
    std::fs::set_permissions(h, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let uid = "expiring@tandem.invalid";
    gpg(
        h,
        &[
            "--quick-gen-key",
            uid,
            "ed25519",
            "sign",
            &format!("seconds={secs}"),
        ],
    );
    let keyring = h.join("expiring.gpg");
    std::fs::write(&keyring, gpg(h, &["--export", uid])).unwrap();
    let f = h.join("Release");
    std::fs::write(&f, text).unwrap();
    let signed = gpg(
        h,
        &[
            "--local-user",
            uid,
            "--clearsign",
            "-o",
            "-",
            f.to_str().unwrap(),
        ],
    );
    kill_agent(h);
    (home, keyring, signed)
}
