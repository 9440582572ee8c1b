//! `[first-boot]`: hook names, exactly one source each, pinned downloads, inline scripts.

use crate::answer::{FirstBoot, Issue};
use crate::contract::first_boot::script_problem;
use std::collections::HashSet;

pub(super) fn check(fb: &FirstBoot, out: &mut Vec<Issue>) {
    let mut seen = HashSet::new();
    for (i, h) in fb.hook.iter().enumerate() {
        let at = |k: &str| format!("first-boot.hook[{i}].{k}");
        let name_ok = !h.name.is_empty()
            && h.name.len() <= 64
            && h.name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !h.name.starts_with('-');
        if !name_ok {
            out.push(Issue::new(
                at("name"),
                format!(
                    "{:?} is not a hook name; use 1-64 lower-case letters, digits and '-' \
                     (not first), like \"enroll\"",
                    h.name
                ),
            ));
        } else if !seen.insert(h.name.as_str()) {
            out.push(Issue::new(
                at("name"),
                format!("a second hook named {:?}; hook names are unique", h.name),
            ));
        }
        let given: Vec<&str> = [
            ("script", h.script.is_some()),
            ("file", h.file.is_some()),
            ("url", h.url.is_some()),
        ]
        .iter()
        .filter(|(_, set)| *set)
        .map(|(k, _)| *k)
        .collect();
        if given.len() != 1 {
            let (key, found) = match given.first() {
                None => ("name", "none".to_string()),
                Some(_) => (given[1], given.join(", ")),
            };
            out.push(Issue::new(
                at(key),
                format!("a hook takes exactly one of script, file, url; found {found}"),
            ));
        }
        if let Some(s) = &h.script {
            if let Some(p) = script_problem(s.as_bytes()) {
                out.push(Issue::new(at("script"), format!("the script {p}")));
            }
        }
        if let Some(f) = &h.file {
            let clean = !f.is_empty()
                && !f.starts_with('/')
                && f.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
                && !f.chars().any(char::is_control);
            if !clean {
                out.push(Issue::new(
                    at("file"),
                    format!(
                        "{f:?} is not a path inside the medium's tandem/ directory; expected \
                         a relative path like \"hooks/enroll.sh\""
                    ),
                ));
            }
        }
        if let Some(u) = &h.url {
            let ok = ["http://", "https://"].iter().any(|p| {
                u.strip_prefix(p)
                    .is_some_and(|r| !r.is_empty() && !r.contains(char::is_whitespace))
            });
            if !ok {
                out.push(Issue::new(
                    at("url"),
                    format!("{u:?} is not an http:// or https:// URL"),
                ));
            } else if h.sha256.is_none() {
                // What runs as root on every node must be the script that was reviewed,
                // whoever answers at that address on install day.
                out.push(Issue::new(
                    at("url"),
                    "a hook fetched by url needs sha256 = \"<64 hex digits>\" of the script",
                ));
            }
        }
        if let Some(d) = &h.sha256 {
            if d.len() != 64 || !d.chars().all(|c| c.is_ascii_hexdigit()) {
                out.push(Issue::new(
                    at("sha256"),
                    format!("{d:?} is not a SHA-256 (64 hex digits, as sha256sum prints)"),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::{Hook, HookStage};

    fn hook(name: &str) -> Hook {
        Hook {
            name: name.into(),
            after: HookStage::NetworkOnline,
            script: Some("#!/bin/sh\necho hi\n".into()),
            file: None,
            url: None,
            sha256: None,
        }
    }

    fn issues(hooks: Vec<Hook>) -> Vec<String> {
        let mut out = Vec::new();
        check(&FirstBoot { hook: hooks }, &mut out);
        out.into_iter()
            .map(|i| format!("{}: {}", i.path, i.message))
            .collect()
    }

    #[test]
    fn a_plain_hook_is_valid() {
        assert_eq!(
            issues(vec![hook("enroll"), hook("b-2")]),
            Vec::<String>::new()
        );
    }

    #[test]
    fn names_sources_and_digests() {
        let bad = issues(vec![hook("Enroll"), hook("x"), hook("x")]);
        assert_eq!(bad.len(), 2, "{bad:?}");
        assert!(bad[0].starts_with("first-boot.hook[0].name:"), "{bad:?}");
        assert!(bad[1].starts_with("first-boot.hook[2].name:"), "{bad:?}");

        let mut two = hook("a");
        two.file = Some("hooks/a.sh".into());
        let mut none = hook("b");
        none.script = None;
        let bad = issues(vec![two, none]);
        assert_eq!(bad.len(), 2, "{bad:?}");
        assert!(bad[0].starts_with("first-boot.hook[0].file:"), "{bad:?}");
        assert!(bad[1].starts_with("first-boot.hook[1].name:"), "{bad:?}");

        let mut url = hook("u");
        url.script = None;
        url.url = Some("https://d.example/u.sh".into());
        let bad = issues(vec![url.clone()]);
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert!(bad[0].contains("sha256"), "{bad:?}");
        url.sha256 = Some("ab".repeat(32));
        assert_eq!(issues(vec![url.clone()]), Vec::<String>::new());
        url.sha256 = Some("xy".into());
        assert!(issues(vec![url])[0].starts_with("first-boot.hook[0].sha256:"));

        let mut f = hook("f");
        f.script = None;
        f.file = Some("../etc/shadow".into());
        assert!(issues(vec![f])[0].starts_with("first-boot.hook[0].file:"));
    }

    #[test]
    fn inline_scripts_are_scripts() {
        let mut h = hook("s");
        h.script = Some("echo no shebang\n".into());
        assert!(issues(vec![h.clone()])[0].contains("#!"));
        h.script = Some("#!/bin/sh\n\0".into());
        assert!(issues(vec![h.clone()])[0].contains("NUL"));
        h.script = Some(format!("#!/bin/sh\n{}", "#".repeat(300 * 1024)));
        assert!(issues(vec![h])[0].contains("at most"));
    }
}
