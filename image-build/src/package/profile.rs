//! Image profiles: which repositories to trust and which package sets the medium carries.
//! TOML, strict (unknown keys are errors). A profile may `extends` another profile file;
//! repositories are appended and same-named sets get their package lists appended.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawProfile {
    name: String,
    extends: Option<PathBuf>,
    architecture: Option<String>,
    output: Option<Output>,
    resolver: Option<ResolverOptions>,
    #[serde(default)]
    repository: Vec<Repository>,
    #[serde(default)]
    sets: BTreeMap<String, PackageSet>,
}

/// The resolved profile, after `extends` merging.
#[derive(Debug, Clone)]
pub(crate) struct Profile {
    pub(crate) name: String,
    pub(crate) architecture: String,
    pub(crate) output: Output,
    pub(crate) resolver: ResolverOptions,
    pub(crate) repositories: Vec<Repository>,
    pub(crate) sets: BTreeMap<String, PackageSet>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct Output {
    /// Suite (and codename) of the repository written to the medium.
    pub(crate) suite: String,
    #[serde(default = "default_origin")]
    pub(crate) origin: String,
}

fn default_origin() -> String {
    "Tandem".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct ResolverOptions {
    /// Follow Recommends as well as Depends/Pre-Depends.
    #[serde(default)]
    pub(crate) recommends: bool,
    /// Every package with one of these priorities is included (`required`, `important`).
    #[serde(default = "default_priorities")]
    pub(crate) priorities: Vec<String>,
    /// Include every `Essential: yes` package.
    #[serde(default = "yes")]
    pub(crate) essential: bool,
    /// Packages not taken in by `priorities` (e.g. `ifupdown`, which conflicts with the
    /// requested `ifupdown2`). They still come in when something depends on them.
    #[serde(default)]
    pub(crate) priority_exclude: Vec<String>,
}

fn default_priorities() -> Vec<String> {
    vec!["required".into()]
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct Repository {
    /// Short name used in messages and cache paths.
    pub(crate) name: String,
    /// `http://...` or `file:///...` base URL (the directory holding `dists/`).
    pub(crate) url: String,
    pub(crate) suite: String,
    pub(crate) components: Vec<String>,
    /// OpenPGP keyring (binary or armored) that must have signed InRelease. Relative
    /// paths are relative to the profile file.
    pub(crate) keyring: PathBuf,
    /// Like an apt pin priority: a higher priority wins over a higher version.
    #[serde(default = "default_priority")]
    pub(crate) priority: i32,
    #[serde(default = "default_connect_timeout")]
    pub(crate) connect_timeout_seconds: u64,
}

fn default_priority() -> i32 {
    500
}

fn default_connect_timeout() -> u64 {
    10
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct PackageSet {
    #[serde(default)]
    pub(crate) description: String,
    /// Sets this one is installed on top of (their packages are resolved together).
    #[serde(default)]
    pub(crate) extends: Vec<String>,
    #[serde(default)]
    pub(crate) packages: Vec<String>,
}

impl Profile {
    pub(crate) fn load(path: &Path) -> Result<Profile> {
        let mut chain = Vec::new();
        let profile = load_raw(path, &mut chain)?;
        profile
            .validate()
            .with_context(|| format!("profile {}", path.display()))?;
        Ok(profile)
    }

    /// Packages the given set is resolved with: its own and those of the sets it extends.
    pub(crate) fn set_roots(&self, set: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut seen = Vec::new();
        self.collect_roots(set, &mut out, &mut seen);
        out
    }

    fn collect_roots(&self, set: &str, out: &mut Vec<String>, seen: &mut Vec<String>) {
        if seen.iter().any(|s| s == set) {
            return;
        }
        seen.push(set.to_string());
        if let Some(s) = self.sets.get(set) {
            for parent in &s.extends {
                self.collect_roots(parent, out, seen);
            }
            for p in &s.packages {
                if !out.contains(p) {
                    out.push(p.clone());
                }
            }
        }
    }

    fn validate(&self) -> Result<()> {
        if self.repositories.is_empty() {
            bail!("no [[repository]] defined");
        }
        if self.sets.is_empty() {
            bail!("no [sets.*] defined");
        }
        let mut names = Vec::new();
        for r in &self.repositories {
            if names.contains(&&r.name) {
                bail!("repository name {:?} used twice", r.name);
            }
            names.push(&r.name);
            // No TLS stack is built in: integrity comes from the signed InRelease chain,
            // not from the transport, so plain HTTP loses nothing.
            if !(r.url.starts_with("http://") || r.url.starts_with("file:///")) {
                bail!(
                    "repository {:?}: url {:?} must start with http:// or file:/// (https is not supported; \
                     the signature chain, not the transport, protects the packages)",
                    r.name,
                    r.url
                );
            }
            if r.components.is_empty() {
                bail!("repository {:?}: no components", r.name);
            }
        }
        for p in &self.resolver.priorities {
            if !["required", "important", "standard"].contains(&p.as_str()) {
                bail!(
                    "resolver.priorities: unknown priority {p:?} (required, important, standard)"
                );
            }
        }
        for (name, set) in &self.sets {
            for parent in &set.extends {
                if !self.sets.contains_key(parent) {
                    bail!("sets.{name}.extends: no set named {parent:?}");
                }
            }
        }
        Ok(())
    }
}

fn load_raw(path: &Path, chain: &mut Vec<PathBuf>) -> Result<Profile> {
    let canonical = path
        .canonicalize()
        .with_context(|| format!("reading profile {}", path.display()))?;
    if chain.contains(&canonical) {
        bail!("profile {} extends itself", path.display());
    }
    chain.push(canonical);
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading profile {}", path.display()))?;
    let raw: RawProfile =
        toml::from_str(&text).with_context(|| format!("parsing profile {}", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut repositories = raw.repository;
    for r in &mut repositories {
        if r.keyring.is_relative() {
            r.keyring = dir.join(&r.keyring);
        }
    }
    let Some(parent_path) = raw.extends else {
        return Ok(Profile {
            name: raw.name,
            architecture: raw.architecture.unwrap_or_else(|| "amd64".into()),
            output: raw.output.context("missing [output] (and no `extends`)")?,
            resolver: raw.resolver.unwrap_or(ResolverOptions {
                recommends: false,
                priorities: default_priorities(),
                essential: true,
                priority_exclude: Vec::new(),
            }),
            repositories,
            sets: raw.sets,
        });
    };
    let mut base = load_raw(&dir.join(parent_path), chain)?;
    base.name = raw.name;
    if let Some(a) = raw.architecture {
        base.architecture = a;
    }
    if let Some(o) = raw.output {
        base.output = o;
    }
    if let Some(r) = raw.resolver {
        base.resolver = r;
    }
    base.repositories.extend(repositories);
    for (name, set) in raw.sets {
        match base.sets.get_mut(&name) {
            Some(existing) => {
                if !set.description.is_empty() {
                    existing.description = set.description;
                }
                existing.extends.extend(set.extends);
                existing.packages.extend(set.packages);
            }
            None => {
                base.sets.insert(name, set);
            }
        }
    }
    Ok(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profiles_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles")
    }

    #[test]
    fn shipped_profiles_load() {
        let d = Profile::load(&profiles_dir().join("default.toml")).unwrap();
        assert_eq!(d.output.suite, "trixie");
        assert!(d.sets["base"]
            .packages
            .contains(&"openssh-server".to_string()));
        assert!(
            d.set_roots("node").contains(&"mdadm".to_string()),
            "node extends base"
        );
        let p = Profile::load(&profiles_dir().join("proxmox-ve.toml")).unwrap();
        assert_eq!(p.repositories.len(), d.repositories.len() + 1);
        let pve = p.repositories.last().unwrap();
        assert!(pve.url.contains("download.proxmox.com"));
        assert!(p.set_roots("pve").contains(&"proxmox-ve".to_string()));
    }

    #[test]
    fn unknown_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("p.toml");
        std::fs::write(
            &f,
            "name='x'\n[output]\nsuite='s'\n[[repository]]\nname='r'\nurl='file:///x'\nsuite='s'\ncomponents=['main']\nkeyring='k'\nmirror='typo'\n[sets.a]\npackages=['p']\n",
        )
        .unwrap();
        let err = format!("{:#}", Profile::load(&f).unwrap_err());
        assert!(err.contains("mirror"), "{err}");
        let text = std::fs::read_to_string(&f).unwrap();
        std::fs::write(
            &f,
            text.replace("mirror='typo'\n", "")
                .replace("file:///x", "https://x"),
        )
        .unwrap();
        let err = format!("{:#}", Profile::load(&f).unwrap_err());
        assert!(err.contains("https is not supported"), "{err}");
    }
}
