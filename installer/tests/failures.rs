//! The failure corpus: every `tests/failures/<case>.toml` is an invalid answer file paired
//! with `<case>.err`, the exact text `tandem validate` prints on stderr for it. A header
//! comment `# hardware: <fixture>` validates against `tests/fixtures/hardware/<fixture>.json`
//! and `# node: <name>` picks a cluster node, as `--hardware` and `--node` would.
//!
//! `TANDEM_BLESS=1 cargo test -p tandem --test failures` rewrites the .err files from what
//! the code prints now; read the diff before committing it.
//!
//! `tests/valid/*.toml` (same headers) must validate cleanly.

use std::path::{Path, PathBuf};
use std::process::Command;
use tandem::error::InputError;
use tandem::session::{read_inventory, validate_answers};

const MIN_CASES: usize = 40;

struct Case {
    /// Relative to the crate root, as the file name in messages.
    toml: PathBuf,
    hardware: Option<PathBuf>,
    node: Option<String>,
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn cases(dir: &str) -> Vec<Case> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    v.into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let header = |key: &str| {
                text.lines()
                    .take_while(|l| l.starts_with('#'))
                    .find_map(|l| l.strip_prefix(&format!("# {key}:")))
                    .map(|v| v.trim().to_string())
            };
            Case {
                toml: Path::new(dir).join(p.file_name().unwrap()),
                hardware: header("hardware")
                    .map(|h| Path::new("tests/fixtures/hardware").join(format!("{h}.json"))),
                node: header("node"),
            }
        })
        .collect()
}

/// What `tandem validate` would print on stderr, through the library; None if valid.
fn library_stderr(c: &Case) -> Option<String> {
    // Relative paths resolve against the crate root, as cargo runs tests from there.
    std::env::set_current_dir(root()).unwrap();
    let inv = c.hardware.as_deref().map(|h| read_inventory(h).unwrap());
    match validate_answers(&c.toml, c.node.clone(), inv.as_ref()) {
        Ok(_) => None,
        Err(e) => match e.downcast_ref::<InputError>() {
            Some(ie) => Some(format!("{ie}\n")),
            None => panic!("{}: not an input error: {e:#}", c.toml.display()),
        },
    }
}

fn binary(c: &Case) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tandem"));
    cmd.current_dir(root())
        .arg("validate")
        .arg("--answer")
        .arg(&c.toml);
    if let Some(h) = &c.hardware {
        cmd.arg("--hardware").arg(h);
    }
    if let Some(n) = &c.node {
        cmd.arg("--node").arg(n);
    }
    cmd.output().unwrap()
}

#[test]
fn failure_corpus_matches_expected_errors() {
    let bless = std::env::var_os("TANDEM_BLESS").is_some_and(|v| v == "1");
    let all = cases("tests/failures");
    assert!(
        all.len() >= MIN_CASES,
        "only {} failure cases; the corpus keeps at least {MIN_CASES}",
        all.len()
    );
    let mut wrong = Vec::new();
    for c in &all {
        let err_path = root().join(c.toml.with_extension("err"));
        let Some(got) = library_stderr(c) else {
            wrong.push(format!("{}: validated cleanly", c.toml.display()));
            continue;
        };
        if bless {
            std::fs::write(&err_path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&err_path).unwrap_or_default();
        if got != want {
            wrong.push(format!(
                "{}:\n--- expected\n{want}--- got\n{got}",
                c.toml.display()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_failure_exits_2_with_the_expected_stderr() {
    // While blessing, the other test is rewriting the .err files.
    let bless = std::env::var_os("TANDEM_BLESS").is_some_and(|v| v == "1");
    for c in cases("tests/failures") {
        let out = binary(&c);
        let want =
            std::fs::read_to_string(root().join(c.toml.with_extension("err"))).unwrap_or_default();
        assert_eq!(out.status.code(), Some(2), "{}", c.toml.display());
        if bless {
            continue;
        }
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            want,
            "{}",
            c.toml.display()
        );
        assert!(out.stdout.is_empty(), "{}", c.toml.display());
    }
}

#[test]
fn every_err_file_has_its_case() {
    for e in std::fs::read_dir(root().join("tests/failures")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "err") {
            assert!(
                p.with_extension("toml").exists(),
                "{} has no .toml",
                p.display()
            );
        }
    }
}

#[test]
fn valid_corpus_validates() {
    let all = cases("tests/valid");
    assert!(!all.is_empty());
    for c in all {
        if let Some(e) = library_stderr(&c) {
            panic!("{} should be valid:\n{e}", c.toml.display());
        }
        let out = binary(&c);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            c.toml.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn messages_never_repeat_secrets() {
    for (case, secret) in [
        ("password-plain-text", "correct horse"),
        ("drbd-secret-placeholder", "my-secret"),
        ("drbd-secret-64-characters", "Xk3Xk3"),
    ] {
        let err =
            std::fs::read_to_string(root().join(format!("tests/failures/{case}.err"))).unwrap();
        assert!(!err.is_empty(), "{case}");
        assert!(!err.contains(secret), "{case}.err repeats the secret");
    }
}

/// The design's example answer (outside the repository, when present) is the seed's node
/// `lxeon` and must validate against that machine; `tests/valid/seed-lxeon.toml` is its
/// copy inside the repository.
#[test]
fn design_example_validates_against_the_seed_machine() {
    let shared = root().join("../../shared/design/example-answer.toml");
    let copy = std::fs::read_to_string(root().join("tests/valid/seed-lxeon.toml")).unwrap();
    if let Ok(original) = std::fs::read_to_string(&shared) {
        let body: String = copy.split_once('\n').map(|(_, b)| b.to_string()).unwrap();
        assert_eq!(
            body, original,
            "tests/valid/seed-lxeon.toml drifted from the design"
        );
    }
    let c = Case {
        toml: "tests/valid/seed-lxeon.toml".into(),
        hardware: Some("tests/fixtures/hardware/seed-lxeon-5disk-2nic.json".into()),
        node: None,
    };
    assert_eq!(library_stderr(&c), None);
}
