//! `[apt]`: package sources written to the installed system.

use crate::answer::{Apt, Issue};
use std::collections::HashSet;

const SUITES: [&str; 9] = [
    "bookworm",
    "trixie",
    "forky",
    "sid",
    "oldstable",
    "stable",
    "testing",
    "unstable",
    "experimental",
];
const COMPONENTS: [&str; 4] = ["main", "contrib", "non-free", "non-free-firmware"];

pub(super) fn check(a: &Apt, out: &mut Vec<Issue>) {
    if !SUITES.contains(&a.suite.as_str()) {
        out.push(Issue::new(
            "apt.suite",
            format!(
                "{:?} is not a Debian suite; allowed are {}",
                a.suite,
                SUITES.join(", ")
            ),
        ));
    }
    if matches!(a.suite.as_str(), "sid" | "unstable" | "experimental") {
        for (on, key) in [(a.updates, "updates"), (a.security, "security")] {
            if on {
                out.push(Issue::new(
                    format!("apt.{key}"),
                    format!("{} has no {key} suite; set {key} = false", a.suite),
                ));
            }
        }
    }
    let url_ok = ["http://", "https://", "file:/"].iter().any(|s| {
        a.mirror
            .strip_prefix(s)
            .is_some_and(|rest| !rest.is_empty() && !rest.contains(char::is_whitespace))
    });
    if !url_ok {
        out.push(Issue::new(
            "apt.mirror",
            format!(
                "{:?} is not a mirror URL; expected http://, https:// or file:/ like \
                 \"http://deb.debian.org/debian\"",
                a.mirror
            ),
        ));
    }
    if !a.components.iter().any(|c| c == "main") {
        out.push(Issue::new("apt.components", "must include main"));
    }
    let mut seen = HashSet::new();
    for (i, c) in a.components.iter().enumerate() {
        let path = format!("apt.components[{i}]");
        if !COMPONENTS.contains(&c.as_str()) {
            out.push(Issue::new(
                path,
                format!(
                    "{c:?} is not a Debian component; allowed are {}",
                    COMPONENTS.join(", ")
                ),
            ));
        } else if !seen.insert(c) {
            out.push(Issue::new(path, format!("{c} is listed twice")));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::answer::Apt;

    fn paths(a: &Apt) -> Vec<String> {
        let mut out = Vec::new();
        super::check(a, &mut out);
        out.into_iter().map(|i| i.path).collect()
    }

    #[test]
    fn apt_checks() {
        assert!(paths(&Apt::default()).is_empty());
        let sid = Apt {
            suite: "sid".into(),
            ..Apt::default()
        };
        assert_eq!(paths(&sid), vec!["apt.updates", "apt.security"]);
        let bad = Apt {
            suite: "buster".into(),
            mirror: "ftp://x".into(),
            components: vec!["contrib".into(), "contrib".into()],
            ..Apt::default()
        };
        assert_eq!(
            paths(&bad),
            vec![
                "apt.suite",
                "apt.mirror",
                "apt.components",
                "apt.components[1]"
            ]
        );
    }
}
