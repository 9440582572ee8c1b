//! Which .debs the node needs beyond the base image, from the medium's repository alone.
//!
//! The base image and the medium's repository come from one resolver run of the image
//! build, so versions agree; this only has to close the node's package set over
//! Depends/Pre-Depends against what the base already has. Everything is decided before a
//! disk is written: a package that is neither in the base nor on the medium stops the
//! install while the disks are untouched.

use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

/// One stanza of a Packages index (the fields the installer uses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub name: String,
    pub version: String,
    /// Relative to the repository root: pool/main/…
    pub filename: String,
    pub sha256: String,
    /// The index's Size (a download is checked against it).
    pub size: Option<u64>,
    pub depends: Vec<Vec<String>>,
    pub provides: Vec<String>,
}

/// A .deb chosen for the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebToInstall {
    pub name: String,
    pub version: String,
    /// Where the .deb is: an absolute path on the medium, or an URL.
    pub from: String,
    pub sha256: String,
    pub size: Option<u64>,
}

impl DebToInstall {
    pub fn file_name(&self) -> String {
        self.from.rsplit('/').next().unwrap_or_default().to_string()
    }
}

/// deb822 stanzas as field maps (continuation lines joined with a space).
pub fn stanzas(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut out = Vec::new();
    let mut cur: BTreeMap<String, String> = BTreeMap::new();
    let mut last: Option<String> = None;
    for line in text.lines() {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            last = None;
        } else if line.starts_with([' ', '\t']) {
            if let Some(k) = &last {
                if let Some(v) = cur.get_mut(k) {
                    v.push(' ');
                    v.push_str(line.trim());
                }
            }
        } else if let Some((k, v)) = line.split_once(':') {
            cur.insert(k.trim().to_string(), v.trim().to_string());
            last = Some(k.trim().to_string());
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// `a (>= 1) | b:any, c` → [["a", "b"], ["c"]]: names only. Versions are not compared —
/// base and repository are one consistent snapshot.
fn parse_relations(field: &str) -> Vec<Vec<String>> {
    field
        .split(',')
        .map(|group| {
            group
                .split('|')
                .filter_map(|alt| {
                    let name = alt.split(['(', '[', '<']).next().unwrap_or("").trim();
                    let name = name.split(':').next().unwrap_or("").trim();
                    (!name.is_empty()).then(|| name.to_string())
                })
                .collect::<Vec<_>>()
        })
        .filter(|g| !g.is_empty())
        .collect()
}

pub fn parse_index(text: &str) -> Vec<IndexEntry> {
    stanzas(text)
        .into_iter()
        .filter_map(|s| {
            let mut depends = Vec::new();
            for f in ["Pre-Depends", "Depends"] {
                if let Some(v) = s.get(f) {
                    depends.extend(parse_relations(v));
                }
            }
            Some(IndexEntry {
                name: s.get("Package")?.clone(),
                version: s.get("Version").cloned().unwrap_or_default(),
                filename: s.get("Filename")?.clone(),
                sha256: s.get("SHA256")?.to_ascii_lowercase(),
                size: s.get("Size").and_then(|v| v.parse().ok()),
                depends,
                provides: s
                    .get("Provides")
                    .map(|p| parse_relations(p).into_iter().flatten().collect())
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// Names a dpkg status file has installed, with what they provide.
pub fn installed(status: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for s in stanzas(status) {
        let ok = s
            .get("Status")
            .is_some_and(|st| st.ends_with(" installed") && st.starts_with("install"));
        if !ok {
            continue;
        }
        if let Some(n) = s.get("Package") {
            out.insert(n.clone());
        }
        if let Some(p) = s.get("Provides") {
            out.extend(parse_relations(p).into_iter().flatten());
        }
    }
    out
}

/// The .debs to install so that every `wanted` package is present: those the base lacks,
/// plus the dependencies they need that the base lacks, in a stable order. `why` names
/// where a wanted package came from, for the error text.
pub fn resolve(
    wanted: &[(String, String)],
    base: &BTreeSet<String>,
    index: &[IndexEntry],
) -> Result<Vec<IndexEntry>> {
    let by_name: BTreeMap<&str, &IndexEntry> = index.iter().map(|e| (e.name.as_str(), e)).collect();
    let mut providers: BTreeMap<&str, &IndexEntry> = BTreeMap::new();
    for e in index {
        for p in &e.provides {
            providers.entry(p.as_str()).or_insert(e);
        }
    }
    let mut chosen: BTreeMap<String, &IndexEntry> = BTreeMap::new();
    let mut provided: BTreeSet<String> = BTreeSet::new();
    let mut queue: VecDeque<(&IndexEntry, String)> = VecDeque::new();
    let mut missing = Vec::new();
    for (name, why) in wanted {
        if base.contains(name) {
            continue;
        }
        match by_name.get(name.as_str()) {
            Some(e) => queue.push_back((e, why.clone())),
            None => missing.push(format!(
                "{name} ({why}) is neither in the base system nor in the medium's repository"
            )),
        }
    }
    while let Some((e, why)) = queue.pop_front() {
        if chosen.contains_key(&e.name) {
            continue;
        }
        chosen.insert(e.name.clone(), e);
        provided.extend(e.provides.iter().cloned());
        for group in &e.depends {
            let have =
                |n: &String| base.contains(n) || chosen.contains_key(n) || provided.contains(n);
            if group.iter().any(have) {
                continue;
            }
            let pick = group.iter().find_map(|n| {
                by_name
                    .get(n.as_str())
                    .or_else(|| providers.get(n.as_str()))
                    .copied()
            });
            match pick {
                Some(p) => queue.push_back((p, format!("needed by {}", e.name))),
                None => missing.push(format!(
                    "{} needs {}, which is neither in the base system nor on the medium",
                    e.name,
                    group.join(" | ")
                )),
            }
        }
        let _ = why;
    }
    if !missing.is_empty() {
        bail!(
            "the medium cannot install this node:\n  {}",
            missing.join("\n  ")
        );
    }
    Ok(chosen.into_values().cloned().collect())
}

/// The Packages index under a repository root: dists/<suite>/main/binary-amd64/Packages
/// (the suite is whatever the image profile named).
pub fn find_index(repo: &Path) -> Result<PathBuf> {
    let pat = repo.join("dists/*/main/binary-amd64/Packages");
    let mut found: Vec<PathBuf> = glob::glob(&pat.display().to_string())
        .context("bad repository path")?
        .filter_map(|p| p.ok())
        .collect();
    found.sort();
    found
        .into_iter()
        .next()
        .with_context(|| format!("no Packages index under {}/dists", repo.display()))
}

/// Turns resolved entries into files of the repository at `repo` (a path or an URL).
pub fn debs(repo: &str, entries: &[IndexEntry]) -> Vec<DebToInstall> {
    entries
        .iter()
        .map(|e| DebToInstall {
            name: e.name.clone(),
            version: e.version.clone(),
            from: format!("{}/{}", repo.trim_end_matches('/'), e.filename),
            sha256: e.sha256.clone(),
            size: e.size,
        })
        .collect()
}

/// Checks `sha256sum` output against the index; the first mismatch names the package.
pub fn check_sums(debs: &[DebToInstall], sha256sum_output: &str) -> Result<()> {
    let got: BTreeMap<String, String> = sha256sum_output
        .lines()
        .filter_map(|l| {
            let (sum, file) = l.split_once(char::is_whitespace)?;
            let file = file.trim_start().trim_start_matches('*');
            let name = Path::new(file).file_name()?.to_string_lossy().into_owned();
            Some((name, sum.to_ascii_lowercase()))
        })
        .collect();
    for d in debs {
        match got.get(&d.file_name()) {
            Some(s) if *s == d.sha256 => {}
            Some(s) => bail!(
                "package {} {}: SHA256 mismatch: the medium's index says {}, the file has {s}; \
                 the medium is damaged or was altered",
                d.name,
                d.version,
                d.sha256
            ),
            None => bail!("package {} {}: no checksum computed", d.name, d.version),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = "\
Package: drbd-utils
Version: 9.22.0-1
Depends: libc6 (>= 2.34), lsb-base | sysvinit-utils, mail-transport-agent | default-mta
Filename: pool/main/d/drbd-utils/drbd-utils_9.22.0-1_amd64.deb
SHA256: AAAA

Package: exim4-daemon-light
Version: 4.98-1
Provides: mail-transport-agent
Depends: exim4-base
Filename: pool/main/e/exim4/exim4-daemon-light_4.98-1_amd64.deb
SHA256: bbbb

Package: exim4-base
Version: 4.98-1
Pre-Depends: libc6
Filename: pool/main/e/exim4/exim4-base_4.98-1_amd64.deb
SHA256: cccc

Package: htop
Version: 3.4.1-1
Depends: libc6, libncursesw6
Description: x
 continued
Filename: pool/main/h/htop/htop_3.4.1-1_amd64.deb
SHA256: dddd
";

    const STATUS: &str = "\
Package: libc6
Status: install ok installed

Package: sysvinit-utils
Status: install ok installed

Package: libncursesw6
Status: deinstall ok config-files

Package: mdadm
Status: install ok installed
";

    fn want(names: &[&str]) -> Vec<(String, String)> {
        names
            .iter()
            .map(|n| (n.to_string(), "plan".to_string()))
            .collect()
    }

    #[test]
    fn relations_drop_versions_and_arch() {
        assert_eq!(
            parse_relations("a (>= 1) | b:any, c [amd64]"),
            vec![vec!["a".to_string(), "b".into()], vec!["c".into()]]
        );
    }

    #[test]
    fn closes_over_dependencies_through_provides() {
        let idx = parse_index(INDEX);
        assert_eq!(idx[0].sha256, "aaaa");
        let base = installed(STATUS);
        assert!(base.contains("mdadm") && !base.contains("libncursesw6"));
        let r = resolve(&want(&["drbd-utils", "mdadm"]), &base, &idx).unwrap();
        let names: Vec<&str> = r.iter().map(|e| e.name.as_str()).collect();
        // mdadm is in the base; the MTA comes in through the virtual package.
        assert_eq!(
            names,
            vec!["drbd-utils", "exim4-base", "exim4-daemon-light"]
        );
    }

    #[test]
    fn missing_packages_are_named_with_their_origin() {
        let idx = parse_index(INDEX);
        let e = resolve(
            &[("nosuch".into(), "system.packages".into())],
            &installed(STATUS),
            &idx,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("nosuch (system.packages) is neither"), "{e}");
        // htop needs libncursesw6, which the base has only as config files.
        let e = resolve(&want(&["htop"]), &installed(STATUS), &idx)
            .unwrap_err()
            .to_string();
        assert!(e.contains("htop needs libncursesw6"), "{e}");
    }

    #[test]
    fn checksum_mismatch_names_the_package() {
        let idx = parse_index(INDEX);
        let d = debs("/m/repo/", &idx[..2]);
        assert_eq!(
            d[0].from,
            "/m/repo/pool/main/d/drbd-utils/drbd-utils_9.22.0-1_amd64.deb"
        );
        let ok = "aaaa  /t/var/cache/tandem/debs/drbd-utils_9.22.0-1_amd64.deb\n\
                  bbbb  /t/var/cache/tandem/debs/exim4-daemon-light_4.98-1_amd64.deb\n";
        check_sums(&d, ok).unwrap();
        let bad = ok.replace("bbbb", "beef");
        let e = check_sums(&d, &bad).unwrap_err().to_string();
        assert!(
            e.starts_with("package exim4-daemon-light 4.98-1: SHA256 mismatch"),
            "{e}"
        );
    }
}
