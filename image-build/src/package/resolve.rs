//! Dependency closure over one or more verified package indexes, following apt's
//! choices where they matter for an offline medium: one candidate per package (highest
//! repository priority, then highest version), Depends + Pre-Depends (Recommends on
//! request), the first satisfiable alternative unless another one is already chosen,
//! virtual packages via (versioned) Provides, `:any`/`:native` qualifiers.
//! Conflicts/Breaks are not evaluated: the medium only has to contain a closure.

use std::collections::{BTreeMap, HashMap, VecDeque};

use anyhow::{Context, Result};

use crate::package::deb822::Stanza;
use crate::package::relation::{self, Atom, Group};
use crate::package::version;

#[derive(Debug, Clone)]
pub(crate) struct Pkg {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) arch: String,
    pub(crate) priority: String,
    pub(crate) essential: bool,
    /// Pre-Depends first, then Depends.
    pub(crate) depends: Vec<Group>,
    pub(crate) recommends: Vec<Group>,
    pub(crate) provides: Vec<Atom>,
    /// Index of the repository in the profile, and its pin priority.
    pub(crate) repo: usize,
    pub(crate) pin: i32,
    pub(crate) stanza: Stanza,
}

#[derive(Default)]
pub(crate) struct Universe {
    /// The architecture being built; `all` packages are kept too.
    pub(crate) arch: String,
    pub(crate) pkgs: Vec<Pkg>,
    /// name → package indexes, best first (pin, then version).
    by_name: HashMap<String, Vec<usize>>,
    /// virtual name → (provider index, provided version)
    providers: HashMap<String, Vec<(usize, Option<String>)>>,
}

fn priority_rank(p: &str) -> u8 {
    match p {
        "required" => 0,
        "important" => 1,
        "standard" => 2,
        "optional" => 3,
        _ => 4,
    }
}

impl Universe {
    /// Adds the stanzas of one index. Only `arch` and `all` packages are kept.
    pub(crate) fn add(
        &mut self,
        repo: usize,
        pin: i32,
        stanzas: Vec<Stanza>,
        arch: &str,
    ) -> Result<()> {
        self.arch = arch.to_string();
        for stanza in stanzas {
            let (Some(name), Some(ver), Some(a)) = (
                stanza.get("Package"),
                stanza.get("Version"),
                stanza.get("Architecture"),
            ) else {
                continue;
            };
            if a != arch && a != "all" {
                continue;
            }
            let rel = |field: &str| -> Result<Vec<Group>> {
                stanza
                    .get(field)
                    .map(relation::parse)
                    .transpose()
                    .map(Option::unwrap_or_default)
                    .with_context(|| format!("{name} {ver}: {field}"))
            };
            let mut depends = rel("Pre-Depends")?;
            depends.extend(rel("Depends")?);
            let recommends = rel("Recommends")?;
            let provides = rel("Provides")?.into_iter().flatten().collect();
            self.pkgs.push(Pkg {
                name: name.to_string(),
                version: ver.to_string(),
                arch: a.to_string(),
                priority: stanza.get("Priority").unwrap_or("optional").to_string(),
                essential: stanza.get("Essential") == Some("yes"),
                depends,
                recommends,
                provides,
                repo,
                pin,
                stanza,
            });
        }
        Ok(())
    }

    /// Builds the lookup tables; call after the last `add`.
    pub(crate) fn index(&mut self) {
        self.by_name.clear();
        self.providers.clear();
        for (i, p) in self.pkgs.iter().enumerate() {
            self.by_name.entry(p.name.clone()).or_default().push(i);
        }
        let pkgs = &self.pkgs;
        for list in self.by_name.values_mut() {
            list.sort_by(|&a, &b| {
                pkgs[b]
                    .pin
                    .cmp(&pkgs[a].pin)
                    .then_with(|| version::compare(&pkgs[b].version, &pkgs[a].version))
            });
            // The same version in two repositories is the same package: keep the first.
            list.dedup_by(|a, b| pkgs[*a].version == pkgs[*b].version);
        }
        // Like apt, only a package's candidate version provides virtual packages.
        for list in self.by_name.values() {
            let cand = list[0];
            for atom in &pkgs[cand].provides {
                let ver = atom.constraint.as_ref().map(|(_, v)| v.clone());
                self.providers
                    .entry(atom.name.clone())
                    .or_default()
                    .push((cand, ver));
            }
        }
        for list in self.providers.values_mut() {
            list.sort_by(|a, b| pkgs[a.0].name.cmp(&pkgs[b.0].name));
        }
    }

    pub(crate) fn candidate(&self, name: &str) -> Option<&Pkg> {
        self.by_name.get(name).map(|l| &self.pkgs[l[0]])
    }

    /// Candidates (best version per name), in name order.
    pub(crate) fn candidates(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self.by_name.values().map(|l| l[0]).collect();
        v.sort_by(|&a, &b| self.pkgs[a].name.cmp(&self.pkgs[b].name));
        v
    }
}

/// Why a package is in the closure.
#[derive(Debug, Clone)]
pub(crate) enum Reason {
    Requested,
    Priority(String),
    Essential,
    Dependency { parent: String },
}

/// An alternative decision, kept so differences to apt can be explained.
#[derive(Debug, Clone)]
pub(crate) struct Choice {
    pub(crate) by: String,
    pub(crate) group: String,
    pub(crate) picked: String,
}

#[derive(Debug, Default)]
pub(crate) struct Resolution {
    /// package name → package index
    pub(crate) chosen: BTreeMap<String, usize>,
    pub(crate) reasons: HashMap<String, Reason>,
    pub(crate) choices: Vec<Choice>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot resolve the package set:\n  {}", .problems.join("\n  "))]
pub(crate) struct ResolveError {
    pub(crate) problems: Vec<String>,
}

pub(crate) struct Options<'a> {
    pub(crate) recommends: bool,
    pub(crate) priorities: &'a [String],
    pub(crate) essential: bool,
    pub(crate) priority_exclude: &'a [String],
}

struct Resolver<'u> {
    u: &'u Universe,
    res: Resolution,
    /// virtual name → chosen providers (package name, provided version)
    provided: HashMap<String, Vec<(String, Option<String>)>>,
    queue: VecDeque<String>,
    problems: Vec<String>,
}

pub(crate) fn resolve(
    u: &Universe,
    requested: &[String],
    opts: &Options,
) -> Result<Resolution, ResolveError> {
    let mut r = Resolver {
        u,
        res: Resolution::default(),
        provided: HashMap::new(),
        queue: VecDeque::new(),
        problems: Vec::new(),
    };
    // Essential and priority packages first, as mmdebstrap/debootstrap install them first.
    for i in u.candidates() {
        let p = &u.pkgs[i];
        if opts.priority_exclude.contains(&p.name) {
            continue;
        }
        if opts.essential && p.essential {
            r.choose(i, Reason::Essential);
        } else if opts.priorities.contains(&p.priority) {
            r.choose(i, Reason::Priority(p.priority.clone()));
        }
    }
    for name in requested {
        let atom = match relation::parse_atom(name) {
            Ok(a) => a,
            Err(e) => {
                r.problems.push(e.to_string());
                continue;
            }
        };
        if r.satisfied(&atom) {
            r.res
                .reasons
                .entry(atom.name.clone())
                .or_insert(Reason::Requested);
            continue;
        }
        match r.find(&atom) {
            Ok(i) => r.choose(i, Reason::Requested),
            Err(why) => r.problems.push(format!("{name} : {why}")),
        }
    }
    while let Some(name) = r.queue.pop_front() {
        let p = &u.pkgs[r.res.chosen[&name]];
        for group in &p.depends {
            r.depend(&name, group, true);
        }
        if opts.recommends {
            for group in &p.recommends {
                r.depend(&name, group, false);
            }
        }
    }
    if r.problems.is_empty() {
        Ok(r.res)
    } else {
        Err(ResolveError {
            problems: r.problems,
        })
    }
}

impl Resolver<'_> {
    fn choose(&mut self, i: usize, reason: Reason) {
        let p = &self.u.pkgs[i];
        if self.res.chosen.contains_key(&p.name) {
            return;
        }
        self.res.chosen.insert(p.name.clone(), i);
        self.res.reasons.insert(p.name.clone(), reason);
        for a in &p.provides {
            let ver = a.constraint.as_ref().map(|(_, v)| v.clone());
            self.provided
                .entry(a.name.clone())
                .or_default()
                .push((p.name.clone(), ver));
        }
        self.queue.push_back(p.name.clone());
    }

    fn arch_ok(&self, atom: &Atom) -> bool {
        // Single-architecture build: any, native and our own arch all mean "this one".
        atom.arch
            .as_deref()
            .is_none_or(|a| a == "any" || a == "native" || a == self.u.arch)
    }

    fn satisfied(&self, atom: &Atom) -> bool {
        if let Some(&i) = self.res.chosen.get(&atom.name) {
            if constraint_ok(atom, &self.u.pkgs[i].version) {
                return true;
            }
        }
        self.provided
            .get(&atom.name)
            .is_some_and(|list| list.iter().any(|(_, v)| provide_ok(atom, v.as_deref())))
    }

    /// Finds a package to install for `atom`, or says why there is none.
    fn find(&self, atom: &Atom) -> Result<usize, String> {
        if !self.arch_ok(atom) {
            return Err(format!(
                "architecture qualifier {:?} not available",
                atom.arch
            ));
        }
        let real = self.u.by_name.get(&atom.name);
        if let Some(list) = real {
            if let Some(&c) = self.res.chosen.get(&atom.name) {
                if !constraint_ok(atom, &self.u.pkgs[c].version) {
                    return Err(format!("version {} already chosen", self.u.pkgs[c].version));
                }
            }
            // The candidate first (what apt would take); an older satisfying version
            // otherwise, since the medium's repository will then hold only that one.
            if let Some(&i) = list
                .iter()
                .find(|&&i| constraint_ok(atom, &self.u.pkgs[i].version))
            {
                return Ok(i);
            }
        }
        let mut providers: Vec<usize> = self
            .u
            .providers
            .get(&atom.name)
            .map(|l| {
                l.iter()
                    .filter(|(i, v)| {
                        provide_ok(atom, v.as_deref())
                            && !self.res.chosen.contains_key(&self.u.pkgs[*i].name)
                    })
                    .map(|(i, _)| *i)
                    .collect()
            })
            .unwrap_or_default();
        providers.sort_by_key(|&i| {
            let p = &self.u.pkgs[i];
            (!p.essential, priority_rank(&p.priority), p.name.clone())
        });
        if let Some(&i) = providers.first() {
            return Ok(i);
        }
        Err(match (real, self.u.providers.get(&atom.name)) {
            (Some(list), _) => {
                let versions: Vec<&str> = list
                    .iter()
                    .map(|&i| self.u.pkgs[i].version.as_str())
                    .collect();
                format!("no version satisfies; candidates: {}", versions.join(", "))
            }
            (None, Some(list)) => {
                let names: Vec<String> = list
                    .iter()
                    .map(|(i, v)| {
                        format!(
                            "{} provides {}",
                            self.u.pkgs[*i].name,
                            v.as_deref()
                                .map_or(atom.name.clone(), |v| format!("{} (= {v})", atom.name))
                        )
                    })
                    .collect();
                format!("no provider satisfies; {}", names.join(", "))
            }
            (None, None) => "no package or provider of that name".to_string(),
        })
    }

    fn depend(&mut self, parent: &str, group: &[Atom], hard: bool) {
        if let Some(atom) = group.iter().find(|a| self.arch_ok(a) && self.satisfied(a)) {
            if group.len() > 1 {
                // Recorded so a difference to apt (which may pick another option when
                // it meets this group earlier) can be explained.
                self.res.choices.push(Choice {
                    by: parent.to_string(),
                    group: relation::display_group(group),
                    picked: format!("{} (already chosen)", atom.name),
                });
            }
            return;
        }
        let mut why = Vec::new();
        for atom in group {
            match self.find(atom) {
                Ok(i) => {
                    if group.len() > 1 || self.u.pkgs[i].name != atom.name {
                        self.res.choices.push(Choice {
                            by: parent.to_string(),
                            group: relation::display_group(group),
                            picked: self.u.pkgs[i].name.clone(),
                        });
                    }
                    self.choose(
                        i,
                        Reason::Dependency {
                            parent: parent.to_string(),
                        },
                    );
                    return;
                }
                Err(e) => why.push(if group.len() > 1 {
                    format!("{atom}: {e}")
                } else {
                    e
                }),
            }
        }
        if hard {
            self.problems.push(format!(
                "{} -> {} : {}",
                self.chain(parent),
                relation::display_group(group),
                why.join("; ")
            ));
        }
    }

    /// `root -> ... -> name`, following the first reason each package was chosen for.
    fn chain(&self, name: &str) -> String {
        let mut parts = vec![name.to_string()];
        let mut cur = name.to_string();
        while let Some(Reason::Dependency { parent, .. }) = self.res.reasons.get(&cur) {
            if parts.contains(parent) {
                break;
            }
            parts.push(parent.clone());
            cur = parent.clone();
        }
        match self.res.reasons.get(&cur) {
            Some(Reason::Priority(p)) => parts.push(format!("(Priority: {p})")),
            Some(Reason::Essential) => parts.push("(Essential)".into()),
            _ => {}
        }
        parts.reverse();
        parts.join(" -> ")
    }
}

fn constraint_ok(atom: &Atom, have: &str) -> bool {
    atom.constraint
        .as_ref()
        .is_none_or(|(op, want)| op.holds(have, want))
}

/// A versioned dependency is only satisfied by a versioned Provides.
fn provide_ok(atom: &Atom, provided: Option<&str>) -> bool {
    match (&atom.constraint, provided) {
        (None, _) => true,
        (Some((op, want)), Some(have)) => op.holds(have, want),
        (Some(_), None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::deb822;

    fn universe(repos: &[(i32, &str)]) -> Universe {
        let mut u = Universe::default();
        for (n, (pin, text)) in repos.iter().enumerate() {
            u.add(n, *pin, deb822::parse(text).unwrap(), "amd64")
                .unwrap();
        }
        u.index();
        u
    }

    fn opts() -> Options<'static> {
        Options {
            recommends: false,
            priorities: &[],
            essential: true,
            priority_exclude: &[],
        }
    }

    fn names(r: &Resolution) -> Vec<&str> {
        r.chosen.keys().map(String::as_str).collect()
    }

    const ARCHIVE: &str = "\
Package: openssh-server\nVersion: 1:10.0p1-7\nArchitecture: amd64\nDepends: openssh-sftp-server, libc6 (>= 2.36), systemd | sysvinit-core\nRecommends: xauth\n
Package: openssh-sftp-server\nVersion: 1:10.0p1-7\nArchitecture: amd64\nDepends: libfoo (>= 2)\n
Package: libfoo\nVersion: 1.9\nArchitecture: amd64\n
Package: libc6\nVersion: 2.41-12\nArchitecture: amd64\nPriority: required\n
Package: libc6\nVersion: 2.41-12\nArchitecture: i386\nPriority: required\n
Package: systemd\nVersion: 257\nArchitecture: amd64\n
Package: sysvinit-core\nVersion: 3.14\nArchitecture: amd64\n
Package: xauth\nVersion: 1\nArchitecture: amd64\n
Package: mailer\nVersion: 1\nArchitecture: all\nDepends: mail-transport-agent, perl:any (>= 5.36)\n
Package: postfix\nVersion: 3.10\nArchitecture: amd64\nProvides: mail-transport-agent\nPriority: optional\n
Package: exim4-daemon-light\nVersion: 4.98\nArchitecture: amd64\nProvides: mail-transport-agent\nPriority: standard\n
Package: perl\nVersion: 5.40.1-6\nArchitecture: amd64\nEssential: yes\nPriority: required\n
Package: needs-awk\nVersion: 1\nArchitecture: all\nPre-Depends: awk (>= 1:4)\n
Package: mawk\nVersion: 1.3.4\nArchitecture: amd64\nProvides: awk\n
Package: gawk\nVersion: 1:5.2\nArchitecture: amd64\nProvides: awk (= 1:5.2)\n
";

    #[test]
    fn missing_dependency_names_the_chain() {
        let u = universe(&[(500, ARCHIVE)]);
        let err = resolve(&u, &["openssh-server".into()], &opts())
            .unwrap_err()
            .to_string();
        assert!(err.contains("openssh-server -> openssh-sftp-server -> libfoo (>= 2) : no version satisfies; candidates: 1.9"), "{err}");
    }

    #[test]
    fn newer_repository_version_wins_and_fixes_the_chain() {
        let updates = "Package: libfoo\nVersion: 2.0\nArchitecture: amd64\n";
        let u = universe(&[(500, ARCHIVE), (500, updates)]);
        let r = resolve(&u, &["openssh-server".into()], &opts()).unwrap();
        assert_eq!(u.pkgs[r.chosen["libfoo"]].version, "2.0");
        // First alternative, no Recommends, essential perl and required libc6 included,
        // the i386 libc6 ignored.
        assert_eq!(
            names(&r),
            [
                "libc6",
                "libfoo",
                "openssh-server",
                "openssh-sftp-server",
                "perl",
                "systemd"
            ]
        );
        assert_eq!(u.pkgs[r.chosen["libc6"]].arch, "amd64");
    }

    #[test]
    fn repository_priority_beats_version() {
        let pinned = "Package: libfoo\nVersion: 0.5\nArchitecture: amd64\n";
        let u = universe(&[(500, ARCHIVE), (900, pinned)]);
        assert_eq!(u.candidate("libfoo").unwrap().version, "0.5");
    }

    #[test]
    fn alternatives_prefer_already_chosen() {
        let u = universe(&[(500, ARCHIVE)]);
        let r = resolve(
            &u,
            &[
                "sysvinit-core".into(),
                "openssh-server".into(),
                "libfoo".into(),
            ],
            &opts(),
        );
        // libfoo (>= 2) still fails, but the alternative picked must be sysvinit-core.
        assert!(r.is_err());
        let extra = "Package: libfoo\nVersion: 2\nArchitecture: amd64\n";
        let u = universe(&[(500, ARCHIVE), (500, extra)]);
        let r = resolve(
            &u,
            &["sysvinit-core".into(), "openssh-server".into()],
            &opts(),
        )
        .unwrap();
        assert!(r.chosen.contains_key("sysvinit-core"));
        assert!(!r.chosen.contains_key("systemd"));
    }

    #[test]
    fn virtual_packages_and_versioned_provides() {
        let u = universe(&[(500, ARCHIVE)]);
        let r = resolve(&u, &["mailer".into(), "needs-awk".into()], &opts()).unwrap();
        // exim4 has the better Priority among mail-transport-agent providers.
        assert!(r.chosen.contains_key("exim4-daemon-light"));
        assert!(!r.chosen.contains_key("postfix"));
        // awk (>= 1:4) needs a versioned Provides: gawk, not mawk.
        assert!(r.chosen.contains_key("gawk"));
        assert!(!r.chosen.contains_key("mawk"));
        // An already chosen provider satisfies the virtual dependency.
        let r = resolve(&u, &["postfix".into(), "mailer".into()], &opts()).unwrap();
        assert!(!r.chosen.contains_key("exim4-daemon-light"));
    }

    #[test]
    fn version_constraints_and_recommends() {
        let u = universe(&[(500, ARCHIVE)]);
        let err = resolve(&u, &["libc6 (>> 2.41-12)".into()], &opts())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("libc6 (>> 2.41-12) : version 2.41-12 already chosen")
                || err.contains("no version satisfies"),
            "{err}"
        );
        let extra = "Package: libfoo\nVersion: 2\nArchitecture: amd64\n";
        let u = universe(&[(500, ARCHIVE), (500, extra)]);
        let o = Options {
            recommends: true,
            priorities: &[],
            essential: false,
            priority_exclude: &[],
        };
        let r = resolve(&u, &["openssh-server".into()], &o).unwrap();
        assert!(r.chosen.contains_key("xauth"));
        assert!(!r.chosen.contains_key("perl"), "essential off");
        let prio = ["required".to_string()];
        let o = Options {
            recommends: false,
            priorities: &prio,
            essential: false,
            priority_exclude: &[],
        };
        let r = resolve(&u, &[], &o).unwrap();
        assert_eq!(names(&r), ["libc6", "perl"]);
    }
}
