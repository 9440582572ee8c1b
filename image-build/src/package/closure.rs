//! `tandem-image closure-check`: resolves each set of a profile with our resolver and
//! with `apt-get --simulate` on the same verified indexes, and explains every difference
//! (apt picks another alternative or provider, and what that choice pulls in). Exits
//! non-zero when a difference stays unexplained.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::package::cache::Cache;
use crate::package::fetch;
use crate::package::profile::Profile;
use crate::package::resolve::{Resolution, Universe};

#[derive(clap::Args, Debug, Clone)]
pub(crate) struct ClosureCheckArgs {
    #[arg(long)]
    pub(crate) profile: PathBuf,
    #[arg(long, default_value = "/var/cache/tandem")]
    pub(crate) cache: PathBuf,
    /// Use the last verified indexes from the cache.
    #[arg(long)]
    pub(crate) offline: bool,
}

pub(crate) fn run(args: &ClosureCheckArgs) -> Result<()> {
    let profile = Profile::load(&args.profile)?;
    let cache = Cache::new(args.cache.clone())?;
    let loaded = fetch::load(&profile, &cache, args.offline, true)?;
    let sets = fetch::resolve_sets(&profile, &loaded.universe)?;
    let apt = AptRoot::new(&profile, &loaded)?;
    let mut unexplained_total = 0;
    for (name, ours) in &sets {
        // apt gets exactly our roots: essential/priority packages plus the requested names.
        let mut roots: Vec<String> = ours
            .reasons
            .iter()
            .filter(|(_, r)| !matches!(r, crate::package::resolve::Reason::Dependency { .. }))
            .map(|(n, _)| n.clone())
            .collect();
        roots.sort();
        let theirs = apt
            .simulate(&roots)
            .with_context(|| format!("apt-get --simulate for set {name}"))?;
        let report = compare(&loaded.universe, ours, &theirs);
        println!(
            "set {name}: ours {} packages, apt {} packages, {} identical, {} version differences, {} only ours, {} only apt, {} unexplained",
            ours.chosen.len(),
            theirs.len(),
            report.same,
            report.versions.len(),
            report.only_ours.len(),
            report.only_apt.len(),
            report.unexplained
        );
        for line in report.lines {
            println!("  {line}");
        }
        unexplained_total += report.unexplained;
    }
    if unexplained_total > 0 {
        bail!("{unexplained_total} difference(s) between our closure and apt's are unexplained");
    }
    println!("closure-check: same package sets as apt, or every difference explained");
    Ok(())
}

struct AptRoot {
    dir: tempfile::TempDir,
    arch: String,
}

/// apt's list file name for a URI: scheme dropped, `/` → `_` (apt's URItoFileName).
fn list_name(url: &str, rest: &str) -> String {
    let no_scheme = url
        .split_once("://")
        .map_or(url, |(_, r)| r)
        .trim_end_matches('/');
    format!("{no_scheme}/{rest}").replace('/', "_")
}

impl AptRoot {
    fn new(profile: &Profile, loaded: &fetch::Loaded) -> Result<AptRoot> {
        let dir = tempfile::tempdir()?;
        let p = dir.path();
        for sub in [
            "lists/partial",
            "etc/apt.conf.d",
            "etc/preferences.d",
            "etc/sources.list.d",
            "cache/archives/partial",
            "log",
        ] {
            std::fs::create_dir_all(p.join(sub))?;
        }
        std::fs::write(p.join("status"), "")?;
        let mut sources = String::new();
        for (n, (s, indexes)) in loaded.sources.iter().zip(&loaded.indexes).enumerate() {
            let r = s.repo;
            sources.push_str(&format!(
                "deb [trusted=yes arch={}] {} {} {}\n",
                profile.architecture,
                r.url,
                r.suite,
                r.components.join(" ")
            ));
            for (component, text) in indexes {
                let name = list_name(
                    &r.url,
                    &format!(
                        "dists/{}/{component}/binary-{}/Packages",
                        r.suite, profile.architecture
                    ),
                );
                std::fs::write(p.join("lists").join(name), text)?;
            }
            // The Release file gives apt the origin data it needs to treat these lists like
            // a normal archive (without it, apt --simulate skips Recommends).
            let release = list_name(&r.url, &format!("dists/{}/Release", r.suite));
            std::fs::write(p.join("lists").join(release), &loaded.release_texts[n])?;
        }
        std::fs::write(p.join("etc/sources.list"), sources)?;
        let mut prefs = String::new();
        for r in &profile.repositories {
            if r.priority != 500 {
                let host = r
                    .url
                    .split_once("://")
                    .map_or(r.url.as_str(), |(_, h)| h)
                    .split('/')
                    .next()
                    .unwrap_or_default();
                prefs.push_str(&format!(
                    "Package: *\nPin: origin \"{host}\"\nPin-Priority: {}\n\n",
                    r.priority
                ));
            }
        }
        std::fs::write(p.join("etc/preferences"), prefs)?;
        let d = p.display();
        let conf = format!(
            "Dir \"{d}/\";\nDir::State \"{d}/\";\nDir::State::status \"{d}/status\";\nDir::State::Lists \"{d}/lists/\";\nDir::Cache \"{d}/cache/\";\nDir::Etc \"{d}/etc/\";\nDir::Etc::Parts \"{d}/etc/apt.conf.d/\";\nDir::Log \"{d}/log/\";\nAPT::Architecture \"{a}\";\nAPT::Architectures {{ \"{a}\"; }};\nAPT::Install-Recommends \"{rec}\";\nAPT::Get::AllowUnauthenticated \"true\";\nDebug::NoLocking \"true\";\n",
            a = profile.architecture,
            rec = profile.resolver.recommends,
        );
        std::fs::write(p.join("apt.conf"), conf)?;
        Ok(AptRoot {
            dir,
            arch: profile.architecture.clone(),
        })
    }

    /// Package name → version apt would install.
    fn simulate(&self, roots: &[String]) -> Result<BTreeMap<String, String>> {
        let out = Command::new("apt-get")
            .env("APT_CONFIG", self.dir.path().join("apt.conf"))
            .args(["--simulate", "--quiet", "install"])
            .args(roots)
            .output()
            .context("running apt-get")?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            bail!(
                "apt-get failed: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                {
                    let lines: Vec<&str> = stdout.lines().collect();
                    lines[lines.len().saturating_sub(30)..].join("\n")
                }
            );
        }
        let mut pkgs = BTreeMap::new();
        for line in stdout.lines() {
            // Inst libc6 (2.41-12 Debian:13.2/stable [amd64])
            if let Some(rest) = line.strip_prefix("Inst ") {
                let mut it = rest.split_whitespace();
                let name = it.next().unwrap_or_default();
                let ver = it.next().unwrap_or_default().trim_start_matches('(');
                let name = name
                    .strip_suffix(&format!(":{}", self.arch))
                    .unwrap_or(name);
                pkgs.insert(name.to_string(), ver.to_string());
            }
        }
        Ok(pkgs)
    }
}

struct Report {
    same: usize,
    versions: Vec<String>,
    only_ours: Vec<String>,
    only_apt: Vec<String>,
    unexplained: usize,
    lines: Vec<String>,
}

fn compare(u: &Universe, ours: &Resolution, apt: &BTreeMap<String, String>) -> Report {
    let our_names: BTreeSet<&str> = ours.chosen.keys().map(String::as_str).collect();
    let apt_names: BTreeSet<&str> = apt.keys().map(String::as_str).collect();
    let only_ours: Vec<&str> = our_names.difference(&apt_names).copied().collect();
    let only_apt: Vec<&str> = apt_names.difference(&our_names).copied().collect();
    let mut versions = Vec::new();
    let mut same = 0;
    for n in our_names.intersection(&apt_names) {
        let v = &u.pkgs[ours.chosen[*n]].version;
        if *v == apt[*n] {
            same += 1;
        } else {
            versions.push(format!("{n}: ours {v}, apt {}", apt[*n]));
        }
    }
    let mut explained: BTreeMap<&str, String> = BTreeMap::new();
    // Direct: the package is one side of an alternative/provider decision.
    for c in &ours.choices {
        let options: Vec<&str> = c
            .group
            .split(" | ")
            .map(|a| a.split([' ', ':']).next().unwrap_or_default())
            .collect();
        for &o in &only_apt {
            if options.contains(&o) || provides(u, o, &options) {
                explained.entry(o).or_insert_with(|| {
                    format!(
                        "{} needs `{}`: we picked {}, apt picked {o}",
                        c.by, c.group, c.picked
                    )
                });
            }
        }
        if only_ours.contains(&c.picked.as_str()) {
            explained.entry(c.picked.as_str()).or_insert_with(|| {
                format!(
                    "{} needs `{}`: we picked {}, apt picked another option",
                    c.by, c.group, c.picked
                )
            });
        }
    }
    // Transitive: pulled in only by an explained package of the same side.
    loop {
        let mut added = false;
        for (side, pool) in [(&only_ours, true), (&only_apt, false)] {
            for &n in side.iter() {
                if explained.contains_key(n) {
                    continue;
                }
                let by = side.iter().find(|&&p| {
                    p != n && explained.contains_key(p) && depends_on(u, p, n, pool, ours, apt)
                });
                if let Some(&p) = by {
                    explained.insert(n, format!("dependency of {p} (itself explained)"));
                    added = true;
                }
            }
        }
        if !added {
            break;
        }
    }
    let mut lines = Vec::new();
    let mut unexplained = 0;
    for (side, list) in [("only ours", &only_ours), ("only apt", &only_apt)] {
        for &n in list.iter() {
            match explained.get(n) {
                Some(why) => lines.push(format!("{side}: {n}: {why}")),
                None => {
                    unexplained += 1;
                    lines.push(format!("{side}: {n}: UNEXPLAINED"));
                }
            }
        }
    }
    for v in &versions {
        unexplained += 1;
        lines.push(format!("version: {v}: UNEXPLAINED"));
    }
    Report {
        same,
        versions,
        only_ours: only_ours.iter().map(|s| s.to_string()).collect(),
        only_apt: only_apt.iter().map(|s| s.to_string()).collect(),
        unexplained,
        lines,
    }
}

fn provides(u: &Universe, pkg: &str, names: &[&str]) -> bool {
    u.candidate(pkg)
        .is_some_and(|p| p.provides.iter().any(|a| names.contains(&a.name.as_str())))
}

/// Whether `parent` (as chosen by our side, or apt's candidate) depends on `child`
/// directly or through something `child` provides.
fn depends_on(
    u: &Universe,
    parent: &str,
    child: &str,
    ours_side: bool,
    ours: &Resolution,
    _apt: &BTreeMap<String, String>,
) -> bool {
    let p = if ours_side {
        ours.chosen.get(parent).map(|&i| &u.pkgs[i])
    } else {
        u.candidate(parent)
    };
    let Some(p) = p else { return false };
    let child_provides: Vec<&str> = u
        .candidate(child)
        .map(|c| c.provides.iter().map(|a| a.name.as_str()).collect())
        .unwrap_or_default();
    p.depends
        .iter()
        .chain(&p.recommends)
        .flatten()
        .any(|a| a.name == child || child_provides.contains(&a.name.as_str()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{compare, list_name};
    use crate::package::deb822;
    use crate::package::resolve::{resolve, Options, Universe};

    #[test]
    fn differences_are_explained_or_counted() {
        let text = "Package: a\nVersion: 1\nArchitecture: all\nDepends: x | y\n\nPackage: x\nVersion: 1\nArchitecture: all\n\nPackage: y\nVersion: 1\nArchitecture: all\nDepends: z\n\nPackage: z\nVersion: 1\nArchitecture: all\n\nPackage: w\nVersion: 2\nArchitecture: all\n";
        let mut u = Universe::default();
        u.add(0, 500, deb822::parse(text).unwrap(), "amd64")
            .unwrap();
        u.index();
        let opts = Options {
            recommends: false,
            priorities: &[],
            essential: false,
            priority_exclude: &[],
        };
        let ours = resolve(&u, &["a".into()], &opts).unwrap();
        let v = |s: &str| s.to_string();
        // apt picked y (and so z) for `x | y`.
        let apt = BTreeMap::from([(v("a"), v("1")), (v("y"), v("1")), (v("z"), v("1"))]);
        let r = compare(&u, &ours, &apt);
        assert_eq!((r.same, r.unexplained), (1, 0), "{:?}", r.lines);
        assert!(
            r.lines
                .iter()
                .any(|l| l == "only apt: y: a needs `x | y`: we picked x, apt picked y"),
            "{:?}",
            r.lines
        );
        assert!(
            r.lines
                .iter()
                .any(|l| l == "only apt: z: dependency of y (itself explained)"),
            "{:?}",
            r.lines
        );
        // An extra package and a version difference nobody explains.
        let apt = BTreeMap::from([(v("a"), v("0.9")), (v("x"), v("1")), (v("w"), v("2"))]);
        let r = compare(&u, &ours, &apt);
        assert_eq!(r.unexplained, 2, "{:?}", r.lines);
    }

    #[test]
    fn apt_list_names() {
        assert_eq!(
            list_name(
                "http://deb.debian.org/debian",
                "dists/trixie/main/binary-amd64/Packages"
            ),
            "deb.debian.org_debian_dists_trixie_main_binary-amd64_Packages"
        );
    }
}
