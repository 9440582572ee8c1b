//! `tandem-image fetch`: profile → verified indexes → closure → verified .debs in the
//! host cache → the medium's repository.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};

use crate::package::cache::Cache;
use crate::package::profile::Profile;
use crate::package::repo::{self, Entry, Manifest, ManifestPackage, ManifestSet, RepoMeta};
use crate::package::resolve::{self, Options, Resolution, Universe};
use crate::package::source::Source;

#[derive(clap::Args, Debug, Clone)]
pub(crate) struct FetchArgs {
    /// Image profile (TOML), e.g. image-build/profiles/default.toml.
    #[arg(long)]
    pub(crate) profile: PathBuf,
    /// Output directory; the repository is written to OUT/repo.
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Host cache of verified .debs and indexes, keyed by SHA-256.
    #[arg(long, default_value = "/var/cache/tandem")]
    pub(crate) cache: PathBuf,
    /// Reuse the last verified InRelease/Packages and cached .debs; no network.
    #[arg(long)]
    pub(crate) offline: bool,
    /// Parallel downloads.
    #[arg(long, default_value_t = 4)]
    jobs: usize,
    /// Date of the written Release file, in seconds since 1970; without it, the newest
    /// source Release date (same inputs, same output either way).
    #[arg(long, env = "SOURCE_DATE_EPOCH", value_name = "SECONDS")]
    pub(crate) source_date_epoch: Option<i64>,
}

#[derive(Debug, Default)]
pub(crate) struct Summary {
    pub(crate) packages: usize,
    pub(crate) bytes: u64,
    pub(crate) downloaded: usize,
    downloaded_bytes: u64,
    /// Network requests for .debs only (index requests are counted separately).
    deb_requests: usize,
    index_requests: usize,
    /// InRelease + Packages fetch, verification and parsing.
    index_secs: f64,
    /// Dependency closure of every set.
    resolve_secs: f64,
    download_secs: f64,
}

/// Verified indexes of every repository of a profile, loaded into a resolver universe.
pub(crate) struct Loaded<'p> {
    pub(crate) sources: Vec<Source<'p>>,
    pub(crate) universe: Universe,
    /// Per source: (component, verified Packages text), kept for the apt comparison.
    pub(crate) indexes: Vec<Vec<(String, String)>>,
    /// Per source: the verified (signature-stripped) InRelease text.
    pub(crate) release_texts: Vec<String>,
    newest_date: i64,
}

pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub(crate) fn load<'p>(
    profile: &'p Profile,
    cache: &Cache,
    offline: bool,
    keep_indexes: bool,
) -> Result<Loaded<'p>> {
    let sources: Vec<Source> = profile
        .repositories
        .iter()
        .map(|r| Source::new(r, offline))
        .collect();
    // Every InRelease first: an unreachable repository or a bad signature stops the
    // build before anything large is downloaded.
    let mut releases = Vec::new();
    let mut release_texts = Vec::new();
    for s in &sources {
        let (release, text) = s.release(cache, offline, now())?;
        releases.push(release);
        release_texts.push(if keep_indexes { text } else { String::new() });
    }
    let mut universe = Universe::default();
    let mut indexes = Vec::new();
    let mut newest_date = 0;
    for (n, (s, rel)) in sources.iter().zip(&releases).enumerate() {
        newest_date = newest_date.max(rel.date.unwrap_or(0));
        let loaded = s.indexes(rel, &profile.architecture, cache, offline)?;
        let mut texts = Vec::new();
        for idx in loaded {
            universe.add(n, s.repo.priority, idx.stanzas, &profile.architecture)?;
            if keep_indexes {
                texts.push((idx.component, idx.text));
            }
        }
        indexes.push(texts);
    }
    universe.index();
    Ok(Loaded {
        sources,
        universe,
        indexes,
        release_texts,
        newest_date,
    })
}

/// Resolves every set of the profile; returns (set name → resolution).
pub(crate) fn resolve_sets(
    profile: &Profile,
    universe: &Universe,
) -> Result<BTreeMap<String, Resolution>> {
    let opts = Options {
        recommends: profile.resolver.recommends,
        priorities: &profile.resolver.priorities,
        essential: profile.resolver.essential,
        priority_exclude: &profile.resolver.priority_exclude,
    };
    let mut out = BTreeMap::new();
    let mut problems = Vec::new();
    for set in profile.sets.keys() {
        match resolve::resolve(universe, &profile.set_roots(set), &opts) {
            Ok(r) => {
                out.insert(set.clone(), r);
            }
            Err(e) => problems.extend(e.problems.into_iter().map(|p| format!("set {set}: {p}"))),
        }
    }
    if !problems.is_empty() {
        problems.dedup();
        bail!(resolve::ResolveError { problems });
    }
    Ok(out)
}

pub(crate) fn run(args: &FetchArgs) -> Result<()> {
    let s = fetch(args)?;
    eprintln!(
        "tandem-image fetch: {} packages, {:.1} MiB in {}; {} downloaded ({:.1} MiB, {} requests) in {:.1} s, {} from cache; indexes {:.1} s ({} requests), resolve {:.2} s",
        s.packages,
        s.bytes as f64 / 1048576.0,
        args.out.join("repo").display(),
        s.downloaded,
        s.downloaded_bytes as f64 / 1048576.0,
        s.deb_requests,
        s.download_secs,
        s.packages - s.downloaded,
        s.index_secs,
        s.index_requests,
        s.resolve_secs,
    );
    Ok(())
}

pub(crate) fn fetch(args: &FetchArgs) -> Result<Summary> {
    let profile = Profile::load(&args.profile)?;
    let cache = Cache::new(args.cache.clone())?;
    let t0 = Instant::now();
    let loaded = load(&profile, &cache, args.offline, false)?;
    let index_secs = t0.elapsed().as_secs_f64();
    let sets = resolve_sets(&profile, &loaded.universe)?;
    let resolve_secs = t0.elapsed().as_secs_f64() - index_secs;
    let index_requests = loaded.sources.iter().map(|s| s.net.request_count()).sum();

    // Union of all closures, one entry per (name, version).
    let mut wanted: BTreeSet<usize> = BTreeSet::new();
    for r in sets.values() {
        wanted.extend(r.chosen.values().copied());
    }
    let u = &loaded.universe;
    let mut jobs = Vec::new();
    for &i in &wanted {
        let p = &u.pkgs[i];
        let what = format!("{} {}", p.name, p.version);
        let sha = p
            .stanza
            .get("SHA256")
            .with_context(|| format!("{what}: no SHA256 in the index"))?
            .to_ascii_lowercase();
        let size: u64 = p
            .stanza
            .get("Size")
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("{what}: no Size in the index"))?;
        let filename = p
            .stanza
            .get("Filename")
            .with_context(|| format!("{what}: no Filename in the index"))?;
        jobs.push(Job {
            pkg: i,
            what,
            url: loaded.sources[p.repo].file_url(filename),
            sha256: sha,
            size,
        });
    }

    let t1 = Instant::now();
    let before: usize = loaded.sources.iter().map(|s| s.net.request_count()).sum();
    let downloaded = download_all(&jobs, &loaded, &cache, args.offline, args.jobs.max(1))?;
    let download_secs = t1.elapsed().as_secs_f64();
    let deb_requests = loaded
        .sources
        .iter()
        .map(|s| s.net.request_count())
        .sum::<usize>()
        - before;

    let entries: Vec<Entry> = jobs
        .iter()
        .map(|j| Entry {
            pkg: &u.pkgs[j.pkg],
            deb: cache.deb_path(&j.sha256),
            size: j.size,
            sha256: j.sha256.clone(),
        })
        .collect();
    let manifest = manifest(&profile, &sets, &entries);
    let date = args.source_date_epoch.unwrap_or(loaded.newest_date);
    let meta = RepoMeta {
        suite: &profile.output.suite,
        origin: &profile.output.origin,
        arch: &profile.architecture,
        date,
    };
    write_repo(&args.out, &entries, &meta, &manifest)?;
    Ok(Summary {
        packages: entries.len(),
        bytes: entries.iter().map(|e| e.size).sum(),
        downloaded: downloaded.0,
        downloaded_bytes: downloaded.1,
        deb_requests,
        index_requests,
        index_secs,
        resolve_secs,
        download_secs,
    })
}

struct Job {
    pkg: usize,
    what: String,
    url: String,
    sha256: String,
    size: u64,
}

/// Downloads what the cache lacks, `workers` at a time; returns (count, bytes) fetched.
fn download_all(
    jobs: &[Job],
    loaded: &Loaded,
    cache: &Cache,
    offline: bool,
    workers: usize,
) -> Result<(usize, u64)> {
    let total: u64 = jobs.iter().map(|j| j.size).sum();
    let bar = if std::io::stderr().is_terminal() {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let errors = Mutex::new(Vec::new());
    let fetched = Mutex::new((0usize, 0u64));
    std::thread::scope(|scope| {
        for _ in 0..workers.min(jobs.len().max(1)) {
            scope.spawn(|| {
                while !failed.load(Ordering::Relaxed) {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(n) else { break };
                    let dest = cache.deb_path(&job.sha256);
                    let result = if offline && !dest.exists() {
                        Err(anyhow::anyhow!(
                            "--offline: {} is not in the cache",
                            job.what
                        ))
                    } else {
                        let net = &loaded.sources[loaded.universe.pkgs[job.pkg].repo].net;
                        cache.fetch_verified(
                            net,
                            &job.url,
                            &format!("package {}", job.what),
                            &job.sha256,
                            job.size,
                            &dest,
                        )
                    };
                    match result {
                        Ok(used_network) => {
                            if used_network {
                                let mut f = fetched.lock().unwrap_or_else(|e| e.into_inner());
                                f.0 += 1;
                                f.1 += job.size;
                            }
                            bar.set_message(job.what.clone());
                            bar.inc(job.size);
                        }
                        Err(e) => {
                            failed.store(true, Ordering::Relaxed);
                            errors.lock().unwrap_or_else(|e| e.into_inner()).push(e);
                        }
                    }
                }
            });
        }
    });
    bar.finish_and_clear();
    if let Some(e) = errors
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .next()
    {
        return Err(e);
    }
    Ok(fetched.into_inner().unwrap_or_else(|e| e.into_inner()))
}

fn manifest(profile: &Profile, sets: &BTreeMap<String, Resolution>, entries: &[Entry]) -> Manifest {
    let mut out_sets = BTreeMap::new();
    for (name, res) in sets {
        let set = &profile.sets[name];
        let priority = res
            .reasons
            .iter()
            .filter(|(_, r)| matches!(r, resolve::Reason::Priority(_) | resolve::Reason::Essential))
            .map(|(n, _)| n.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        out_sets.insert(
            name.clone(),
            ManifestSet {
                description: set.description.clone(),
                extends: set.extends.clone(),
                requested: profile.set_roots(name),
                priority,
                closure: res.chosen.keys().cloned().collect(),
            },
        );
    }
    let mut packages: Vec<ManifestPackage> = entries
        .iter()
        .map(|e| ManifestPackage {
            name: e.pkg.name.clone(),
            version: e.pkg.version.clone(),
            architecture: e.pkg.arch.clone(),
            filename: repo::pool_path(e.pkg),
            size: e.size,
            sha256: e.sha256.clone(),
        })
        .collect();
    packages.sort_by(|a, b| {
        a.name
            .cmp(&b.name)
            .then_with(|| crate::package::version::compare(&a.version, &b.version))
    });
    Manifest {
        profile: profile.name.clone(),
        suite: profile.output.suite.clone(),
        component: "main".into(),
        architecture: profile.architecture.clone(),
        sets: out_sets,
        packages,
    }
}

/// Writes into OUT/repo.new, then swaps it in, so a failed build never leaves a
/// half-written repository under the name consumers use.
fn write_repo(out: &Path, entries: &[Entry], meta: &RepoMeta, manifest: &Manifest) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let tmp = out.join("repo.new");
    let dest = out.join("repo");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)?;
    }
    repo::write(&tmp, entries, meta, manifest)
        .with_context(|| format!("writing {}", tmp.display()))?;
    if dest.exists() {
        std::fs::remove_dir_all(&dest)
            .with_context(|| format!("removing old {}", dest.display()))?;
    }
    std::fs::rename(&tmp, &dest)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::process::Command;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::package::testrepo::{self, build_repo, keys, pkg, RepoSpec, Server};

    /// Two repositories: the archive and an update that carries a newer libfoo.
    fn archive(root: &Path) {
        build_repo(
            &root.join("debian"),
            &RepoSpec {
                suite: "trixie",
                component: "main",
                signer: "good@tandem.invalid",
                valid_until: None,
                xz_by_hash: false,
                pkgs: vec![
                    pkg("openssh-server", "1:10.0p1-7", "Depends: openssh-sftp-server, systemd | sysvinit-core, mail-transport-agent\n"),
                    pkg("openssh-sftp-server", "1:10.0p1-7", "Depends: libfoo (>= 1.5)\n"),
                    pkg("libfoo", "1.9", ""),
                    pkg("systemd", "257", ""),
                    pkg("sysvinit-core", "3.14", ""),
                    pkg("postfix", "3.10", "Provides: mail-transport-agent\n"),
                    pkg("broken", "1", "Depends: libbar (>= 2)\n"),
                    pkg("libbar", "1.9", ""),
                    pkg("unrelated", "1", ""),
                ],
            },
        );
        build_repo(
            &root.join("updates"),
            &RepoSpec {
                suite: "trixie-updates",
                component: "main",
                signer: "good@tandem.invalid",
                valid_until: None,
                xz_by_hash: true,
                pkgs: vec![pkg("libfoo", "2.0", "")],
            },
        );
    }

    fn profile(dir: &Path, base: &str, keyring: &Path, set: Vec<&str>) -> PathBuf {
        let sets = BTreeMap::from([("base", set)]);
        testrepo::write_profile(
            dir,
            &[
                (
                    "debian",
                    &format!("{base}/debian"),
                    "trixie",
                    "main",
                    keyring,
                ),
                (
                    "updates",
                    &format!("{base}/updates"),
                    "trixie-updates",
                    "main",
                    keyring,
                ),
            ],
            &sets,
        )
    }

    fn args(profile: PathBuf, out: PathBuf, cache: PathBuf) -> FetchArgs {
        FetchArgs {
            profile,
            out,
            cache,
            offline: false,
            jobs: 4,
            source_date_epoch: None,
        }
    }

    fn err(r: Result<Summary>) -> String {
        format!("{:#}", r.expect_err("fetch should fail"))
    }

    #[test]
    fn http_repo_verified_written_and_cache_hit_makes_no_requests() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        archive(&t.join("srv"));
        let server = Server::start(t.join("srv"));
        let prof = profile(t, &server.url, &keys().good, vec!["openssh-server"]);
        let s = fetch(&args(prof.clone(), t.join("out1"), t.join("cache"))).unwrap();
        assert_eq!(
            s.packages, 5,
            "openssh-server, sftp-server, libfoo 2.0, systemd, postfix"
        );
        assert_eq!(s.downloaded, 5);
        assert_eq!(server.count(".deb"), 5);
        assert_eq!(server.count("/InRelease"), 2);
        assert_eq!(
            server.count("/updates/dists/trixie-updates/main/binary-amd64/Packages.xz"),
            0
        );
        assert_eq!(
            server
                .requests
                .lock()
                .unwrap()
                .iter()
                .filter(|p| p
                    .contains("/updates/dists/trixie-updates/main/binary-amd64/by-hash/SHA256/"))
                .count(),
            1,
            "xz index fetched by hash"
        );

        let repo = t.join("out1/repo");
        // Readable by a web server that is not root (PXE, docs/pxe.md).
        let deb = repo.join("pool/main/l/libfoo/libfoo_2.0_amd64.deb");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(deb.metadata().unwrap().permissions().mode() & 0o777, 0o644);
        let packages =
            std::fs::read_to_string(repo.join("dists/tandem/main/binary-amd64/Packages")).unwrap();
        assert!(
            packages.contains("Filename: pool/main/l/libfoo/libfoo_2.0_amd64.deb"),
            "{packages}"
        );
        assert!(!packages.contains("Version: 1.9"));
        assert!(
            !packages.contains("Package: sysvinit-core")
                && !packages.contains("Package: unrelated")
        );
        let release = std::fs::read_to_string(repo.join("dists/tandem/Release")).unwrap();
        assert!(release.contains(&crate::package::cache::sha256_bytes(packages.as_bytes())));
        assert!(release.contains("Date: Sat, 21 Nov 2026 09:15:44 UTC"));
        // Every pool file matches the SHA256 of its stanza.
        for st in crate::package::deb822::parse(&packages).unwrap() {
            let f = repo.join(st.get("Filename").unwrap());
            assert_eq!(
                crate::package::cache::file_sha256(&f).unwrap(),
                st.get("SHA256").unwrap()
            );
        }
        let manifest: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(repo.join("tandem-manifest.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(manifest["suite"], "tandem");
        assert_eq!(
            manifest["sets"]["base"]["requested"],
            serde_json::json!(["openssh-server"])
        );
        assert_eq!(
            manifest["sets"]["base"]["closure"]
                .as_array()
                .unwrap()
                .len(),
            5
        );

        // Warm cache: no .deb requests, identical output.
        let s2 = fetch(&args(prof.clone(), t.join("out2"), t.join("cache"))).unwrap();
        assert_eq!((s2.downloaded, s2.deb_requests), (0, 0));
        assert_eq!(server.count(".deb"), 5, "no new .deb requests");
        for f in [
            "dists/tandem/Release",
            "dists/tandem/main/binary-amd64/Packages",
            "dists/tandem/main/binary-amd64/Packages.gz",
            "tandem-manifest.json",
        ] {
            assert_eq!(
                std::fs::read(repo.join(f)).unwrap(),
                std::fs::read(t.join("out2/repo").join(f)).unwrap(),
                "{f} differs between builds"
            );
        }

        // Offline: nothing at all goes over the network.
        let before = server.requests.lock().unwrap().len();
        let mut a = args(prof, t.join("out3"), t.join("cache"));
        a.offline = true;
        let s3 = fetch(&a).unwrap();
        assert_eq!((s3.packages, s3.index_requests, s3.deb_requests), (5, 0, 0));
        assert_eq!(server.requests.lock().unwrap().len(), before);
        // Offline with a corrupt cache entry: refused, still no request.
        let cached = t
            .join("cache/debs")
            .read_dir()
            .unwrap()
            .flatten()
            .next()
            .unwrap()
            .path();
        let good = std::fs::read(&cached).unwrap();
        std::fs::write(&cached, b"garbage").unwrap();
        let mut a = args(t.join("profile.toml"), t.join("out3"), t.join("cache"));
        a.offline = true;
        let e = err(fetch(&a));
        assert!(
            e.contains("--offline:") && e.contains(".deb is not in the cache"),
            "{e}"
        );
        assert_eq!(server.requests.lock().unwrap().len(), before);
        std::fs::write(&cached, good).unwrap();

        apt_can_install(&repo, "openssh-server");

        // A corrupt cache entry is noticed and fetched again, only that one.
        let cached = t
            .join("cache/debs")
            .read_dir()
            .unwrap()
            .flatten()
            .next()
            .unwrap()
            .path();
        std::fs::write(&cached, b"garbage").unwrap();
        let s4 = fetch(&args(
            t.join("profile.toml"),
            t.join("out4"),
            t.join("cache"),
        ))
        .unwrap();
        assert_eq!((s4.downloaded, s4.deb_requests), (1, 1));
    }

    /// The written repository works for apt as `deb [trusted=yes] file://... tandem main`.
    fn apt_can_install(repo: &Path, pkg: &str) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        for sub in ["lists/partial", "etc/apt.conf.d", "cache/archives/partial"] {
            std::fs::create_dir_all(p.join(sub)).unwrap();
        }
        std::fs::write(p.join("status"), "").unwrap();
        std::fs::write(
            p.join("etc/sources.list"),
            format!("deb [trusted=yes] file://{} tandem main\n", repo.display()),
        )
        .unwrap();
        let pd = p.display();
        std::fs::write(
            p.join("apt.conf"),
            format!("Dir::State \"{pd}/\";\nDir::State::status \"{pd}/status\";\nDir::State::Lists \"{pd}/lists/\";\nDir::Cache \"{pd}/cache/\";\nDir::Etc \"{pd}/etc/\";\nDir::Etc::Parts \"{pd}/etc/apt.conf.d/\";\nAPT::Architecture \"amd64\";\nDebug::NoLocking \"true\";\n"),
        )
        .unwrap();
        let apt = |args: &[&str]| {
            Command::new("apt-get")
                .env("APT_CONFIG", p.join("apt.conf"))
                .args(args)
                .output()
                .unwrap()
        };
        let up = apt(&["update"]);
        assert!(
            up.status.success(),
            "{}",
            String::from_utf8_lossy(&up.stderr)
        );
        let sim = apt(&["--simulate", "install", pkg]);
        let out = String::from_utf8_lossy(&sim.stdout);
        assert!(
            sim.status.success(),
            "{out}{}",
            String::from_utf8_lossy(&sim.stderr)
        );
        assert!(out.contains("Inst libfoo (2.0"), "{out}");
    }

    #[test]
    fn file_urls_work_without_network() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        archive(&t.join("srv"));
        let prof = profile(
            t,
            &format!("file://{}", t.join("srv").display()),
            &keys().good,
            vec!["openssh-server", "sysvinit-core"],
        );
        let s = fetch(&args(prof, t.join("out"), t.join("cache"))).unwrap();
        // sysvinit-core requested first: the alternative `systemd | sysvinit-core` is satisfied.
        assert_eq!((s.packages, s.index_requests, s.deb_requests), (5, 0, 0));
        let packages =
            std::fs::read_to_string(t.join("out/repo/dists/tandem/main/binary-amd64/Packages"))
                .unwrap();
        assert!(
            packages.contains("Package: sysvinit-core") && !packages.contains("Package: systemd\n")
        );
    }

    #[test]
    fn signature_from_another_key_stops_the_build() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        archive(&t.join("srv"));
        let server = Server::start(t.join("srv"));
        let prof = profile(t, &server.url, &keys().other, vec!["openssh-server"]);
        let e = err(fetch(&args(prof, t.join("out"), t.join("cache"))));
        assert!(
            e.contains("signature check against keyring")
                && e.contains("/debian/dists/trixie/InRelease"),
            "{e}"
        );
        assert_eq!(
            server.count("Packages.gz"),
            0,
            "nothing past InRelease is fetched"
        );
        assert!(!t.join("out/repo").exists());
    }

    #[test]
    fn unsigned_inrelease_stops_the_build() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        archive(&t.join("srv"));
        let dists = t.join("srv/debian/dists/trixie");
        std::fs::copy(dists.join("Release"), dists.join("InRelease")).unwrap();
        let prof = profile(
            t,
            &format!("file://{}", t.join("srv").display()),
            &keys().good,
            vec!["openssh-server"],
        );
        let e = err(fetch(&args(prof, t.join("out"), t.join("cache"))));
        assert!(e.contains("not signed"), "{e}");
    }

    #[test]
    fn tampered_packages_index_stops_the_build() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        archive(&t.join("srv"));
        let gz = t.join("srv/debian/dists/trixie/main/binary-amd64/Packages.gz");
        let mut data = std::fs::read(&gz).unwrap();
        let n = data.len() - 10;
        data[n] ^= 0xff;
        std::fs::write(&gz, data).unwrap();
        let server = Server::start(t.join("srv"));
        let prof = profile(t, &server.url, &keys().good, vec!["openssh-server"]);
        let e = err(fetch(&args(prof, t.join("out"), t.join("cache"))));
        assert!(
            e.contains("index main/binary-amd64/Packages.gz of debian: SHA256 mismatch"),
            "{e}"
        );
        assert_eq!(server.count(".deb"), 0);
    }

    #[test]
    fn tampered_deb_names_the_package() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        archive(&t.join("srv"));
        let deb = t.join("srv/updates/pool/main/l/libfoo/libfoo_2.0_amd64.deb");
        let mut data = std::fs::read(&deb).unwrap();
        data[100] ^= 0x01;
        std::fs::write(&deb, data).unwrap();
        let server = Server::start(t.join("srv"));
        let prof = profile(t, &server.url, &keys().good, vec!["openssh-server"]);
        let e = err(fetch(&args(prof, t.join("out"), t.join("cache"))));
        assert!(e.contains("package libfoo 2.0: SHA256 mismatch"), "{e}");
        assert!(
            !t.join("cache/debs").read_dir().unwrap().flatten().any(|f| f
                .path()
                .to_string_lossy()
                .contains(&crate::package::cache::file_sha256(&deb).unwrap()))
        );
        assert!(!t.join("out/repo").exists());
    }

    #[test]
    fn oversized_deb_is_cut_off_and_named() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        archive(&t.join("srv"));
        let deb = t.join("srv/debian/pool/main/s/systemd/systemd_257_amd64.deb");
        let mut data = std::fs::read(&deb).unwrap();
        data.extend_from_slice(&[0u8; 70000]);
        std::fs::write(&deb, data).unwrap();
        let server = Server::start(t.join("srv"));
        let prof = profile(t, &server.url, &keys().good, vec!["openssh-server"]);
        let e = err(fetch(&args(prof, t.join("out"), t.join("cache"))));
        assert!(
            e.contains("package systemd 257: size mismatch: more than the expected"),
            "{e}"
        );
    }

    #[test]
    fn missing_dependency_names_the_chain() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        archive(&t.join("srv"));
        let prof = profile(
            t,
            &format!("file://{}", t.join("srv").display()),
            &keys().good,
            vec!["openssh-server", "broken"],
        );
        let e = err(fetch(&args(prof, t.join("out"), t.join("cache"))));
        assert!(
            e.contains("set base: broken -> libbar (>= 2) : no version satisfies; candidates: 1.9"),
            "{e}"
        );
    }

    #[test]
    fn expired_valid_until_stops_the_build() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        archive(&t.join("srv"));
        build_repo(
            &t.join("srv/updates"),
            &RepoSpec {
                suite: "trixie-updates",
                component: "main",
                signer: "good@tandem.invalid",
                valid_until: Some("Mon, 01 Jan 2024 00:00:00 UTC"),
                xz_by_hash: false,
                pkgs: vec![pkg("libfoo", "2.0", "")],
            },
        );
        let prof = profile(
            t,
            &format!("file://{}", t.join("srv").display()),
            &keys().good,
            vec!["openssh-server"],
        );
        let e = err(fetch(&args(prof, t.join("out"), t.join("cache"))));
        assert!(
            e.contains(
                "updates/dists/trixie-updates/InRelease expired at Mon, 01 Jan 2024 00:00:00 UTC"
            ),
            "{e}"
        );
    }

    #[test]
    fn unreachable_repository_fails_fast_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        // A port that was just free: connection refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let prof = profile(t, &url, &keys().good, vec!["openssh-server"]);
        let start = Instant::now();
        let e = err(fetch(&args(prof, t.join("out"), t.join("cache"))));
        assert!(
            e.contains(&format!(
                "repository \"debian\" at {url}/debian is unreachable"
            )),
            "{e}"
        );
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    /// The Proxmox repository cannot be reached from the build machine here: the profile
    /// must fail fast and say which repository. Tests send no traffic off this machine, so
    /// the profile's Proxmox source is pointed at a closed port on 127.0.0.1; everything
    /// else (its name, timeout, keyring) is the shipped profile's. `make image-proxmox`
    /// tries the real address.
    #[test]
    fn proxmox_profile_fails_fast_naming_its_repository() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
        let p = Profile::load(&dir.join("proxmox-ve.toml")).unwrap();
        let mut repo = p
            .repositories
            .iter()
            .find(|r| r.name == "proxmox")
            .unwrap()
            .clone();
        assert_eq!(repo.connect_timeout_seconds, 10);
        assert!(repo.url.contains("download.proxmox.com"));
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        repo.url = format!("http://127.0.0.1:{port}/debian/pve");
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache::new(tmp.path().to_path_buf()).unwrap();
        let start = Instant::now();
        let e = format!(
            "{:#}",
            Source::new(&repo, false)
                .release(&cache, false, now())
                .unwrap_err()
        );
        assert!(
            e.contains(&format!(
                "repository \"proxmox\" at http://127.0.0.1:{port}/debian/pve is unreachable"
            )),
            "{e}"
        );
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "took {:?}",
            start.elapsed()
        );
    }
}
