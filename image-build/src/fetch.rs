//! `tandem-image fetch`: profile → verified indexes → closure → verified .debs in the
//! host cache → the medium's repository.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};

use crate::cache::Cache;
use crate::profile::Profile;
use crate::repo::{self, Entry, Manifest, ManifestPackage, ManifestSet, RepoMeta};
use crate::resolve::{self, Options, Resolution, Universe};
use crate::source::Source;

#[derive(clap::Args, Debug, Clone)]
pub struct FetchArgs {
    /// Image profile (TOML), e.g. image-build/profiles/default.toml.
    #[arg(long)]
    pub profile: PathBuf,
    /// Output directory; the repository is written to OUT/repo.
    #[arg(long)]
    pub out: PathBuf,
    /// Host cache of verified .debs and indexes, keyed by SHA-256.
    #[arg(long, default_value = "/var/cache/tandem")]
    pub cache: PathBuf,
    /// Reuse the last verified InRelease/Packages and cached .debs; no network.
    #[arg(long)]
    pub offline: bool,
    /// Parallel downloads.
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
}

#[derive(Debug, Default)]
pub struct Summary {
    pub packages: usize,
    pub bytes: u64,
    pub downloaded: usize,
    pub downloaded_bytes: u64,
    /// Network requests for .debs only (index requests are counted separately).
    pub deb_requests: usize,
    pub index_requests: usize,
    pub resolve_secs: f64,
    pub download_secs: f64,
}

/// Verified indexes of every repository of a profile, loaded into a resolver universe.
pub struct Loaded<'p> {
    pub sources: Vec<Source<'p>>,
    pub universe: Universe,
    /// Per source: (component, verified Packages text), kept for the apt comparison.
    pub indexes: Vec<Vec<(String, String)>>,
    pub newest_date: i64,
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub fn load<'p>(
    profile: &'p Profile,
    cache: &Cache,
    offline: bool,
    keep_indexes: bool,
) -> Result<Loaded<'p>> {
    let sources: Vec<Source> = profile.repositories.iter().map(Source::new).collect();
    // Every InRelease first: an unreachable repository or a bad signature stops the
    // build before anything large is downloaded.
    let mut releases = Vec::new();
    for s in &sources {
        releases.push(s.release(cache, offline, now())?.0);
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
        newest_date,
    })
}

/// Resolves every set of the profile; returns (set name → resolution).
pub fn resolve_sets(
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

pub fn run(args: &FetchArgs) -> Result<()> {
    let s = fetch(args)?;
    eprintln!(
        "tandem-image fetch: {} packages, {:.1} MiB in {}; {} downloaded ({:.1} MiB, {} requests) in {:.1} s, {} from cache; indexes+resolve {:.1} s ({} index requests)",
        s.packages,
        s.bytes as f64 / 1048576.0,
        args.out.join("repo").display(),
        s.downloaded,
        s.downloaded_bytes as f64 / 1048576.0,
        s.deb_requests,
        s.download_secs,
        s.packages - s.downloaded,
        s.resolve_secs,
        s.index_requests,
    );
    Ok(())
}

pub fn fetch(args: &FetchArgs) -> Result<Summary> {
    let profile = Profile::load(&args.profile)?;
    let cache = Cache::new(args.cache.clone())?;
    let t0 = Instant::now();
    let loaded = load(&profile, &cache, args.offline, false)?;
    let sets = resolve_sets(&profile, &loaded.universe)?;
    let resolve_secs = t0.elapsed().as_secs_f64();
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
    let date = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v
            .trim()
            .parse()
            .context("SOURCE_DATE_EPOCH is not an integer")?,
        // Otherwise the newest source Date: same inputs, same Release file.
        Err(_) => loaded.newest_date,
    };
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
            .then_with(|| crate::version::compare(&a.version, &b.version))
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
