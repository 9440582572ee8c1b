//! The installer's layers import only downwards (installer/src/lib.rs, README's layout):
//! each top-level module of the library has a rank, and no file of it may name a module of
//! a higher rank, nor one of its own rank but another name, outside its tests. A new
//! import that runs back up fails here with the file and the module it names.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Lowest first. Modules of one rank stay apart from each other.
const LAYERS: &[&[&str]] = &[
    &["http", "dns", "base64"],
    &["answer", "contract"],
    &["error", "hardware"],
    &["validate", "plan"],
    &["render", "prepare"],
    &["session"],
    &["exec"],
    &["ui", "drbdctl"],
    &["node"],
    &["commands"],
    &["args"],
    &["cli"],
];

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level modules a file names through `crate::`, in paths and in `use crate::{…}`
/// groups, leaving out its `#[cfg(test)]` part and comments.
fn named_modules(text: &str) -> BTreeSet<String> {
    let code: String = text
        .split("#[cfg(test)]")
        .next()
        .unwrap_or("")
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for item in group.split(',') {
                let m = ident(item.trim());
                if !m.is_empty() {
                    out.insert(m);
                }
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out
}

#[test]
fn every_layer_imports_only_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    let mut checked = 0;
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_string();
        if ["lib", "main"].contains(&module.as_str()) {
            continue;
        }
        let own = rank(&module).unwrap_or_else(|| {
            panic!("src/{module}: a module tests/layers.rs does not place; give it a layer")
        });
        let text = std::fs::read_to_string(f).unwrap();
        for m in named_modules(&text) {
            if m == module || ["VERSION", "REVISION"].contains(&m.as_str()) {
                continue;
            }
            checked += 1;
            match rank(&m) {
                Some(r) if r < own => {}
                Some(_) => wrong.push(format!("src/{}: names crate::{m}", rel.display())),
                None => wrong.push(format!(
                    "src/{}: names an unplaced crate::{m}",
                    rel.display()
                )),
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} imports found: the reader is broken"
    );
    assert!(
        wrong.is_empty(),
        "imports that run back up:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_reader_finds_paths_and_groups_and_skips_tests_and_comments() {
    let text = "use crate::answer::{A, B};\nuse crate::{plan, render::x};\n\
                // crate::cli in a comment\nfn f() { crate::exec::run(); }\n\
                #[cfg(test)]\nmod tests { use crate::session; }\n";
    let got: Vec<String> = named_modules(text).into_iter().collect();
    assert_eq!(got, ["answer", "exec", "plan", "render"]);
}
