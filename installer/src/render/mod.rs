//! Renderers: pure functions of (answer, plan) → the text of a file on the installed
//! system. One module per file family; `all` lists every file, and the plan's file list
//! comes from it (`listing`, handed to the planner by the session), so what the plan shows
//! is what gets written.

pub mod accounts;
pub mod apt;
pub mod chroot;
pub mod console;
pub mod debconf;
pub mod drbd;
pub mod esp;
pub mod first_boot;
pub mod fstab;
pub mod hosts;
pub mod links;
pub mod locale;
pub mod lvm;
pub mod mdadm;
pub mod modules;
pub mod network;
pub mod resolv;

use crate::answer::Answer;
use crate::plan::{Plan, PlannedFile};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One file for the target, path absolute on the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    pub path: String,
    pub mode: u32,
    pub content: String,
}

impl RenderedFile {
    fn new(path: impl Into<String>, content: String) -> Self {
        RenderedFile {
            path: path.into(),
            mode: 0o644,
            content,
        }
    }

    /// For files that hold a secret or that their reader wants private.
    fn secret(path: impl Into<String>, content: String) -> Self {
        RenderedFile {
            mode: 0o600,
            ..Self::new(path, content)
        }
    }
}

/// Secrets resolved for rendering. An answer's `secret = "generate"` is not a secret yet:
/// whoever renders decides where the real one comes from (`tandem prepare` writes one per
/// cluster; `tandem render` makes a throwaway one for preview; tests inject a fixed one).
#[derive(Clone, Default)]
pub struct Secrets {
    drbd: BTreeMap<String, String>,
}

/// Names the resources, never their secrets.
impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("drbd", &self.drbd.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Secrets {
    /// Takes every DRBD secret from the answer, asking `generate(resource)` for those that
    /// say "generate".
    pub fn from_answer(answer: &Answer, mut generate: impl FnMut(&str) -> String) -> Self {
        let mut drbd = BTreeMap::new();
        for r in answer.drbd.iter().flat_map(|d| &d.resources) {
            let s = match r.secret.given() {
                Some(s) => s.to_string(),
                None => generate(&r.name),
            };
            drbd.insert(r.name.clone(), s);
        }
        Secrets { drbd }
    }

    pub fn drbd(&self, resource: &str) -> &str {
        self.drbd.get(resource).map(String::as_str).unwrap_or("")
    }
}

/// The first line of every config file Tandem writes (files whose format allows comments).
pub(crate) const HEADER: &str = "# Written by Tandem from the answer file.";

/// The path and mode of every file [`all`] writes: secrets change neither.
pub fn listing(answer: &Answer, plan: &Plan) -> Vec<PlannedFile> {
    let placeholders = Secrets::from_answer(answer, |_| String::new());
    all(answer, plan, &placeholders)
        .into_iter()
        .map(|f| PlannedFile {
            path: f.path,
            mode: crate::plan::Mode(f.mode),
        })
        .collect()
}

/// Every file, in a fixed order.
pub fn all(answer: &Answer, plan: &Plan, secrets: &Secrets) -> Vec<RenderedFile> {
    let mut v = vec![
        hosts::hostname(plan),
        hosts::hosts(answer, plan),
        resolv::resolv_conf(plan),
        network::interfaces(plan),
    ];
    v.extend(links::links(plan));
    v.push(modules::modules(plan));
    v.push(fstab::fstab(plan));
    v.push(mdadm::mdadm_conf(plan));
    v.push(lvm::lvmlocal(plan));
    v.extend(esp::esp_list(plan));
    v.extend(drbd::files(plan, secrets));
    v.extend(apt::sources(answer));
    v.extend(locale::files(answer));
    v.push(debconf::selections(answer, plan));
    v.extend(accounts::authorized_keys(answer));
    v.extend(first_boot::files(answer));
    v
}

/// Why each of `files` could not be written under a root: a path that leaves it, a name
/// too long, a control character in a path or a line. Empty when all can. (The fuzz
/// targets hold every rendered tree of a valid answer to this too.)
pub fn tree_problems(files: &[RenderedFile]) -> Vec<String> {
    files.iter().filter_map(|f| tree_path(f).err()).collect()
}

/// The path of a rendered file relative to the tree's root, or why it cannot be written.
pub(crate) fn tree_path(f: &RenderedFile) -> std::result::Result<PathBuf, String> {
    use std::path::{Component, Path};
    let rel = Path::new(f.path.trim_start_matches('/'));
    let shown = f.path.escape_debug();
    if f.path.chars().any(char::is_control) {
        return Err(format!("{shown}: the path contains a control character"));
    }
    if rel.as_os_str().is_empty() {
        return Err(format!("{shown}: not a file path"));
    }
    for c in rel.components() {
        match c {
            Component::Normal(n) if n.len() <= 255 => {}
            Component::Normal(_) => {
                return Err(format!(
                    "{shown}: a path component is longer than 255 bytes"
                ))
            }
            _ => return Err(format!("{shown}: the path leaves the output directory")),
        }
    }
    if let Some((n, line)) = f
        .content
        .split('\n')
        .enumerate()
        .find(|(_, l)| l.chars().any(|c| c.is_control() && c != '\t'))
    {
        let c = line
            .chars()
            .find(|c| c.is_control() && *c != '\t')
            .unwrap_or('?');
        return Err(format!(
            "{shown}: line {} carries the control character U+{:04X}",
            n + 1,
            c as u32
        ));
    }
    Ok(rel.to_path_buf())
}
