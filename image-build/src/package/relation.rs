//! Dependency relation fields (`Depends`, `Pre-Depends`, `Recommends`, `Provides`):
//! `a (>= 1) | b:any, c`. Binary Packages files carry no architecture or profile
//! restrictions, but they are tolerated (and ignored) when present.

use std::cmp::Ordering;
use std::fmt;

// `super`, not a crate path: the fuzz harness includes this file at its crate root.
use super::version;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "<<" => Op::Lt,
            "<=" | "<" => Op::Le, // `<` and `>` are deprecated spellings of <= and >=
            "=" => Op::Eq,
            ">=" | ">" => Op::Ge,
            ">>" => Op::Gt,
            _ => return None,
        })
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<<",
            Op::Le => "<=",
            Op::Eq => "=",
            Op::Ge => ">=",
            Op::Gt => ">>",
        }
    }

    /// Whether `have OP want` holds.
    pub(crate) fn holds(self, have: &str, want: &str) -> bool {
        let ord = version::compare(have, want);
        match self {
            Op::Lt => ord == Ordering::Less,
            Op::Le => ord != Ordering::Greater,
            Op::Eq => ord == Ordering::Equal,
            Op::Ge => ord != Ordering::Less,
            Op::Gt => ord == Ordering::Greater,
        }
    }
}

/// One atom: `name[:arch] [(op version)]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Atom {
    pub(crate) name: String,
    /// `any`, `native` or an architecture name; we build for one architecture, so all
    /// qualifiers resolve to the same package set.
    pub(crate) arch: Option<String>,
    pub(crate) constraint: Option<(Op, String)>,
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(a) = &self.arch {
            write!(f, ":{a}")?;
        }
        if let Some((op, v)) = &self.constraint {
            write!(f, " ({} {v})", op.as_str())?;
        }
        Ok(())
    }
}

/// A group of alternatives `a | b | c`.
pub(crate) type Group = Vec<Atom>;

pub(crate) fn display_group(g: &[Atom]) -> String {
    g.iter()
        .map(Atom::to_string)
        .collect::<Vec<_>>()
        .join(" | ")
}

#[derive(Debug, thiserror::Error)]
#[error("bad relation {text:?}: {message}")]
pub(crate) struct RelationError {
    pub(crate) text: String,
    pub(crate) message: String,
}

pub(crate) fn parse_atom(text: &str) -> Result<Atom, RelationError> {
    let err = |m: &str| RelationError {
        text: text.to_string(),
        message: m.to_string(),
    };
    let mut rest = text.trim();
    // Architecture restrictions `[...]` and build profiles `<...>` follow the name and
    // the optional version constraint; they do not apply to binary packages.
    let after = rest.find(')').map_or(0, |i| i + 1);
    if let Some(i) = rest[after..].find(['[', '<']) {
        if !rest[..after + i].contains('(') || after > 0 {
            rest = rest[..after + i].trim();
        }
    }
    let (head, constraint) = match rest.split_once('(') {
        Some((head, c)) => {
            let c = c
                .trim()
                .strip_suffix(')')
                .ok_or_else(|| err("unclosed `(`"))?
                .trim();
            let split = c
                .find(|ch: char| !"<>=".contains(ch))
                .ok_or_else(|| err("constraint without version"))?;
            let op = Op::parse(c[..split].trim()).ok_or_else(|| err("unknown operator"))?;
            let ver = c[split..].trim();
            if ver.is_empty() {
                return Err(err("constraint without version"));
            }
            (head.trim(), Some((op, ver.to_string())))
        }
        None => (rest, None),
    };
    let (name, arch) = match head.split_once(':') {
        Some((n, a)) => (n, Some(a.to_string())),
        None => (head, None),
    };
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(err("bad package name"));
    }
    Ok(Atom {
        name: name.to_string(),
        arch,
        constraint,
    })
}

/// Parses a whole relation field into groups of alternatives.
pub(crate) fn parse(text: &str) -> Result<Vec<Group>, RelationError> {
    let mut groups = Vec::new();
    for group in text.split(',') {
        if group.trim().is_empty() {
            continue;
        }
        groups.push(
            group
                .split('|')
                .map(parse_atom)
                .collect::<Result<Vec<_>, _>>()?,
        );
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_alternatives_constraints_qualifiers() {
        let g = parse("libc6 (>= 2.36), perl:any | awk, python3:native (<< 3.14~), foo [amd64]")
            .unwrap();
        assert_eq!(g.len(), 4);
        assert_eq!(g[0][0].constraint, Some((Op::Ge, "2.36".into())));
        assert_eq!(g[1].len(), 2);
        assert_eq!(g[1][0].arch.as_deref(), Some("any"));
        assert_eq!(g[1][1].name, "awk");
        assert_eq!(g[2][0].constraint, Some((Op::Lt, "3.14~".into())));
        assert_eq!(g[3][0].name, "foo");
        assert_eq!(display_group(&g[1]), "perl:any | awk");
        assert_eq!(g[2][0].to_string(), "python3:native (<< 3.14~)");
    }

    #[test]
    fn operators() {
        assert!(Op::Ge.holds("2.0", "2.0"));
        assert!(!Op::Gt.holds("2.0", "2.0"));
        assert!(Op::Lt.holds("2.0~rc1", "2.0"));
        assert!(Op::Le.holds("1:1", "1:1"));
        assert!(!Op::Eq.holds("1.0-1", "1.0-2"));
        assert!(parse("a (>= )").is_err());
        assert!(parse("a (~= 1)").is_err());
    }
}
