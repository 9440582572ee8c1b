//! Where the packages come from and which ones go into which system.
//!
//! The build's input is an apt repository plus package lists. Normally that is the
//! repository `tandem-image fetch` made (`DIR/repo`, with `tandem-manifest.json` naming the
//! sets); for development it can be a Debian mirror with the stand-in lists in `dev-sets/`.

use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// An apt source for mmdebstrap, as one sources.list line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Source {
    pub(crate) uri: String,
    pub(crate) suite: String,
    pub(crate) components: Vec<String>,
    /// A local repository made by `fetch` is unsigned; its files were verified when fetched.
    pub(crate) trusted: bool,
}

impl Source {
    pub(crate) fn sources_line(&self) -> String {
        let opts = if self.trusted { "[trusted=yes] " } else { "" };
        format!(
            "deb {opts}{} {} {}",
            self.uri,
            self.suite,
            self.components.join(" ")
        )
    }

    /// The local directory behind a `file://` source, which the ISO carries as its repo.
    pub(crate) fn local_dir(&self) -> Option<PathBuf> {
        self.uri.strip_prefix("file://").map(PathBuf::from)
    }
}

/// The package sets a build needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PackageSets {
    /// Every installed node (laid down from `base.squashfs`).
    pub(crate) base: Vec<String>,
    /// The installer's live system.
    pub(crate) live: Vec<String>,
}

/// Package names from a list file: one per line, `#` comments and blank lines ignored.
fn parse_list(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// The stand-in lists for building straight from a Debian mirror.
fn dev_sets() -> PackageSets {
    PackageSets {
        base: parse_list(include_str!("../../dev-sets/base.list")),
        live: parse_list(include_str!("../../dev-sets/live.list")),
    }
}

/// Reads the sets from a fetched repository's `tandem-manifest.json`. A set is found under
/// `sets.<name>` or `<name>`, and may be a list of names, a list of objects with `name`
/// (or `package`), or an object holding such a list under `requested` (what `fetch`
/// writes: the profile's names; apt resolves their dependencies from the repository,
/// which holds the whole closure) or `packages`.
fn from_manifest(json: &str) -> Result<(PackageSets, Option<String>)> {
    let v: Value = serde_json::from_str(json).context("tandem-manifest.json is not JSON")?;
    let sets = v.get("sets").unwrap_or(&v);
    let get = |name: &str| -> Result<Vec<String>> {
        let set = sets
            .get(name)
            .with_context(|| format!("tandem-manifest.json names no package set `{name}`"))?;
        let names = set_names(set);
        if names.is_empty() {
            bail!("tandem-manifest.json: package set `{name}` is empty or unreadable");
        }
        Ok(names)
    };
    let suite = v.get("suite").and_then(Value::as_str).map(str::to_string);
    Ok((
        PackageSets {
            base: get("base")?,
            live: get("live")?,
        },
        suite,
    ))
}

fn set_names(set: &Value) -> Vec<String> {
    match set {
        Value::Array(items) => items
            .iter()
            .filter_map(|i| match i {
                Value::String(s) => Some(s.clone()),
                Value::Object(o) => o
                    .get("name")
                    .or_else(|| o.get("package"))
                    .and_then(Value::as_str)
                    .map(str::to_string),
                _ => None,
            })
            .collect(),
        Value::Object(o) => o
            .get("requested")
            .or_else(|| o.get("packages"))
            .map(set_names)
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Source and sets for a build: a fetched repository when given, else the mirror with the
/// development lists.
pub(crate) fn resolve(
    repo: Option<&Path>,
    mirror: &str,
    suite: &str,
) -> Result<(Source, PackageSets, bool)> {
    match repo {
        Some(dir) => {
            let dir = std::fs::canonicalize(dir)
                .with_context(|| format!("repository {}", dir.display()))?;
            let manifest = dir.join("tandem-manifest.json");
            let text = std::fs::read_to_string(&manifest)
                .with_context(|| format!("reading {}", manifest.display()))?;
            let (sets, msuite) = from_manifest(&text)?;
            let source = Source {
                uri: format!("file://{}", dir.display()),
                suite: msuite.unwrap_or_else(|| suite.to_string()),
                components: vec!["main".into()],
                trusted: true,
            };
            Ok((source, sets, true))
        }
        None => Ok((
            Source {
                uri: mirror.to_string(),
                suite: suite.to_string(),
                components: vec!["main".into()],
                trusted: false,
            },
            dev_sets(),
            false,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_comments_and_blanks() {
        assert_eq!(
            parse_list("# head\nmdadm\n\n lvm2  # volume manager\n"),
            vec!["mdadm", "lvm2"]
        );
    }

    #[test]
    fn dev_sets_boot_an_md_root() {
        let s = dev_sets();
        for p in ["linux-image-amd64", "mdadm", "lvm2", "initramfs-tools"] {
            assert!(s.base.iter().any(|b| b == p), "base lacks {p}");
        }
        assert!(s.live.iter().any(|b| b == "live-boot"));
    }

    #[test]
    fn manifest_shapes() {
        let (a, suite) =
            from_manifest(r#"{"suite":"trixie","sets":{"base":["a","b"],"live":[{"name":"c"}]}}"#)
                .unwrap();
        assert_eq!(a.base, vec!["a", "b"]);
        assert_eq!(a.live, vec!["c"]);
        assert_eq!(suite.as_deref(), Some("trixie"));
        let (b, _) =
            from_manifest(r#"{"base":{"packages":["x"]},"live":{"packages":[{"package":"y"}]}}"#)
                .unwrap();
        assert_eq!(b.base, vec!["x"]);
        assert_eq!(b.live, vec!["y"]);
        // The shape `tandem-image fetch` writes.
        let (c, _) = from_manifest(
            r#"{"profile":"default","suite":"trixie","sets":{
                "base":{"requested":["mdadm"],"priority":["dpkg"],"closure":["dpkg","mdadm"]},
                "live":{"extends":[],"requested":["live-boot"],"closure":["live-boot"]}}}"#,
        )
        .unwrap();
        assert_eq!(
            (c.base, c.live),
            (vec!["mdadm".into()], vec!["live-boot".into()])
        );
        let err = from_manifest(r#"{"sets":{"base":["a"]}}"#).unwrap_err();
        assert!(err.to_string().contains("`live`"), "{err}");
    }

    #[test]
    fn sources_lines() {
        let s = Source {
            uri: "file:///srv/out/repo".into(),
            suite: "trixie".into(),
            components: vec!["main".into()],
            trusted: true,
        };
        assert_eq!(
            s.sources_line(),
            "deb [trusted=yes] file:///srv/out/repo trixie main"
        );
        assert_eq!(s.local_dir(), Some(PathBuf::from("/srv/out/repo")));
    }
}
