//! `tandem prepare`: fills in what an answer file leaves to be generated, once, before
//! the files go to the machines. Today that is the DRBD shared secret: every node of a
//! pair must hold the same one, so it cannot be made at install time on either node.
//! Files are edited with toml_edit so comments and layout survive.

use crate::answer::Document;
use crate::answer::DrbdSecret;
use crate::error::InputError;
use crate::validate::secret_problem;
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use toml_edit::{DocumentMut, Item, TableLike, Value};

/// What one file says about one resource's secret.
#[derive(Debug, Clone, PartialEq)]
enum Secret {
    /// Absent (the default is "generate") or "generate".
    Wanted,
    Given(String),
}

/// Calls `f` with every DRBD resource table: `drbd.resources` and each cluster node's
/// `override.drbd.resources`, in `[[array]]` or inline form.
fn each_resource(root: &mut dyn TableLike, f: &mut dyn FnMut(&mut dyn TableLike)) {
    fn resources_in(t: &mut dyn TableLike, f: &mut dyn FnMut(&mut dyn TableLike)) {
        if let Some(r) = t
            .get_mut("drbd")
            .and_then(Item::as_table_like_mut)
            .and_then(|d| d.get_mut("resources"))
        {
            each_table(r, f);
        }
    }
    resources_in(root, f);
    if let Some(nodes) = root
        .get_mut("cluster")
        .and_then(Item::as_table_like_mut)
        .and_then(|c| c.get_mut("nodes"))
    {
        each_table(nodes, &mut |node| {
            if let Some(ov) = node.get_mut("override").and_then(Item::as_table_like_mut) {
                resources_in(ov, f);
            }
        });
    }
}

fn each_table(item: &mut Item, f: &mut dyn FnMut(&mut dyn TableLike)) {
    match item {
        Item::ArrayOfTables(a) => a.iter_mut().for_each(|t| f(t)),
        Item::Value(Value::Array(a)) => {
            for v in a.iter_mut() {
                if let Some(t) = v.as_inline_table_mut() {
                    f(t);
                }
            }
        }
        _ => {}
    }
}

fn name_and_secret(t: &dyn TableLike) -> Option<(String, Secret)> {
    let name = t.get("name")?.as_str()?.to_string();
    let secret = match t.get("secret").and_then(Item::as_str) {
        None | Some(DrbdSecret::GENERATE) => Secret::Wanted,
        Some(s) => Secret::Given(s.to_string()),
    };
    Some((name, secret))
}

/// A fresh secret: 32 random bytes, base64 (44 characters, within DRBD 8.4's 63).
fn new_secret() -> Result<String> {
    loop {
        let mut buf = [0u8; 32];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut buf))
            .context("reading /dev/urandom")?;
        let s = crate::base64::encode(&buf);
        // A random string could, in theory, spell a word the placeholder check refuses.
        if secret_problem(&s).is_none() {
            return Ok(s);
        }
    }
}

/// Sets a string value; an existing value's surrounding whitespace and trailing comment stay.
fn set_keeping_comment(t: &mut dyn TableLike, key: &str, v: &str) {
    match t.get_mut(key) {
        Some(Item::Value(old)) => {
            let decor = old.decor().clone();
            *old = Value::from(v);
            *old.decor_mut() = decor;
        }
        _ => {
            t.insert(key, toml_edit::value(v));
        }
    }
}

/// Prepares `inputs` (one cluster's files) and writes each in place, or the single input
/// to `output`. Returns one line per file saying what was done, never the secret.
pub fn prepare_files(inputs: &[PathBuf], output: Option<&Path>) -> Result<Vec<String>> {
    let mut docs = Vec::new();
    for p in inputs {
        let text = std::fs::read_to_string(p)
            .map_err(|e| InputError::Other(format!("{}: cannot read: {e}", p.display())))?;
        // Placed syntax errors, as validate reports them.
        Document::parse(&p.display().to_string(), &text).map_err(InputError::from)?;
        let doc: DocumentMut = text
            .parse()
            .map_err(|e| InputError::Other(format!("{}: {e}", p.display())))?;
        docs.push(doc);
    }
    // One secret per resource name across every file.
    let mut given: HashMap<String, (String, usize)> = HashMap::new();
    for (i, doc) in docs.iter_mut().enumerate() {
        let mut conflict = None;
        each_resource(doc.as_table_mut(), &mut |t| {
            if let Some((name, Secret::Given(s))) = name_and_secret(t) {
                match given.get(&name) {
                    Some((other, j)) if *other != s => conflict = Some((name, *j)),
                    Some(_) => {}
                    None => {
                        given.insert(name, (s, i));
                    }
                }
            }
        });
        if let Some((name, j)) = conflict {
            return Err(InputError::Other(format!(
                "resource {name} has different secrets in {} and {}; the nodes of a DRBD \
                 pair must share one (set both to \"generate\" to make a new one)",
                inputs[j].display(),
                inputs[i].display()
            ))
            .into());
        }
    }
    let mut secrets: HashMap<String, String> =
        given.into_iter().map(|(n, (s, _))| (n, s)).collect();
    let mut report = Vec::new();
    for (i, doc) in docs.iter_mut().enumerate() {
        let mut filled: Vec<String> = Vec::new();
        let mut err = None;
        each_resource(doc.as_table_mut(), &mut |t| {
            let Some((name, Secret::Wanted)) = name_and_secret(t) else {
                return;
            };
            let secret = match secrets.get(&name) {
                Some(s) => s.clone(),
                None => match new_secret() {
                    Ok(s) => {
                        secrets.insert(name.clone(), s.clone());
                        s
                    }
                    Err(e) => {
                        err = Some(e);
                        return;
                    }
                },
            };
            set_keeping_comment(t, "secret", &secret);
            filled.push(name);
        });
        if let Some(e) = err {
            return Err(e);
        }
        let input = &inputs[i];
        let target = output.unwrap_or(input);
        if filled.is_empty() && output.is_none() {
            report.push(format!("{}: nothing to prepare", input.display()));
            continue;
        }
        crate::answer::write_private(target, &doc.to_string())
            .with_context(|| format!("writing {}", target.display()))?;
        report.push(if filled.is_empty() {
            format!("{}: nothing to prepare; copied", target.display())
        } else {
            format!(
                "{}: secret set for {} (not shown; the file is mode 0600)",
                target.display(),
                filled.join(", ")
            )
        });
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const A: &str = r#"# node a
[system]
hostname = "a"   # keep me

[[drbd.resources]]
name = "r0"
secret = "generate"   # one per cluster

[[drbd.resources]]
name = "r1"
"#;

    const B: &str = r#"drbd = { resources = [{ name = "r0", secret = "generate" }, { name = "r1" }] }
[system]
hostname = "b"
"#;

    fn secrets_of(text: &str) -> Vec<(String, String)> {
        let mut doc: DocumentMut = text.parse().unwrap();
        let mut v = Vec::new();
        each_resource(doc.as_table_mut(), &mut |t| {
            v.push((
                t.get("name").and_then(Item::as_str).unwrap().to_string(),
                t.get("secret")
                    .and_then(Item::as_str)
                    .unwrap_or_default()
                    .to_string(),
            ))
        });
        v
    }

    #[test]
    fn same_secret_per_resource_across_files_and_layout_kept() {
        let dir = std::env::temp_dir().join(format!("tandem-prepare-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a.toml"), dir.join("b.toml"));
        std::fs::write(&a, A).unwrap();
        std::fs::write(&b, B).unwrap();
        let report = prepare_files(&[a.clone(), b.clone()], None).unwrap();
        let ta = std::fs::read_to_string(&a).unwrap();
        let tb = std::fs::read_to_string(&b).unwrap();
        let (sa, sb) = (secrets_of(&ta), secrets_of(&tb));
        assert_eq!(sa.len(), 2);
        assert_eq!(sa, sb);
        assert_ne!(sa[0].1, sa[1].1);
        for (_, s) in &sa {
            assert_eq!(s.len(), 44);
            assert!(secret_problem(s).is_none());
            assert!(!report.join("\n").contains(s.as_str()));
        }
        assert!(ta.starts_with("# node a\n[system]\nhostname = \"a\"   # keep me\n"));
        assert!(ta.contains("# one per cluster"));
        for p in [&a, &b] {
            let mode = std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        // A second run finds nothing to do and keeps the secrets.
        let again = prepare_files(&[a.clone(), b.clone()], None).unwrap();
        assert!(
            again.iter().all(|l| l.ends_with("nothing to prepare")),
            "{again:?}"
        );
        assert_eq!(secrets_of(&std::fs::read_to_string(&a).unwrap()), sa);
        // A node file added later takes the existing secret.
        let c = dir.join("c.toml");
        std::fs::write(&c, B.replace("\"b\"", "\"c\"")).unwrap();
        prepare_files(&[a.clone(), c.clone()], None).unwrap();
        assert_eq!(secrets_of(&std::fs::read_to_string(&c).unwrap()), sa);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn differing_secrets_are_refused() {
        let dir = std::env::temp_dir().join(format!("tandem-prepare-x-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a.toml"), dir.join("b.toml"));
        std::fs::write(&a, A.replace("\"generate\"", "\"Zq8v0J2kLx7Wm4Rt9bNc\"")).unwrap();
        std::fs::write(&b, B.replace("\"generate\"", "\"Pq8v0J2kLx7Wm4Rt9bNc\"")).unwrap();
        let e = prepare_files(&[a, b], None).unwrap_err();
        assert!(e.downcast_ref::<InputError>().is_some());
        assert!(!e.to_string().contains("Rt9bNc"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn override_resources_and_output_file() {
        let dir = std::env::temp_dir().join(format!("tandem-prepare-o-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, out) = (dir.join("a.toml"), dir.join("out.toml"));
        let text = "[cluster]\nname = \"c\"\n[[cluster.nodes]]\nname = \"a\"\n[[cluster.nodes.override.drbd.resources]]\nname = \"r5\"\n";
        std::fs::write(&a, text).unwrap();
        prepare_files(std::slice::from_ref(&a), Some(&out)).unwrap();
        assert_eq!(std::fs::read_to_string(&a).unwrap(), text);
        let s = secrets_of(&std::fs::read_to_string(&out).unwrap());
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].1.len(), 44);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
