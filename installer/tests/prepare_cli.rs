//! `tandem prepare` through the real binary: secrets filled in, same across files, never
//! printed, files 0600, and the prepared files validate and pass the install-time check.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn tandem(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tandem-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn secret_of(text: &str) -> String {
    let a = tandem::answer::load("x.toml", text, &Default::default()).unwrap();
    let r = &a.answer.drbd.unwrap().resources[0];
    r.secret
        .given()
        .expect("a secret, not \"generate\"")
        .to_string()
}

#[test]
fn prepare_fills_the_same_secret_into_both_seed_nodes() {
    let dir = scratch("prepare");
    let valid = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/valid");
    for n in ["seed-lxeon", "seed-nettop"] {
        std::fs::copy(
            valid.join(format!("{n}.toml")),
            dir.join(format!("{n}.toml")),
        )
        .unwrap();
    }
    let before = std::fs::read_to_string(dir.join("seed-lxeon.toml")).unwrap();
    let a = tandem::answer::load("x.toml", &before, &Default::default()).unwrap();
    assert_eq!(tandem::validate::check_for_install(&a.answer).len(), 1);

    let out = tandem(
        &["prepare", "--answer", "seed-lxeon.toml", "seed-nettop.toml"],
        &dir,
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let (l, n) = (
        std::fs::read_to_string(dir.join("seed-lxeon.toml")).unwrap(),
        std::fs::read_to_string(dir.join("seed-nettop.toml")).unwrap(),
    );
    let s = secret_of(&l);
    assert_ne!(s, "generate");
    assert_eq!(s, secret_of(&n));
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!printed.contains(&s), "the secret was printed: {printed}");
    // Only the secret line changed; comments stay.
    let changed: Vec<(&str, &str)> = before
        .lines()
        .zip(l.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert!(changed[0]
        .1
        .contains("# one per cluster, never a fixed string"));
    for f in ["seed-lxeon.toml", "seed-nettop.toml"] {
        let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    let hw = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hardware/seed-lxeon-5disk-2nic.json");
    let v = tandem(
        &[
            "validate",
            "--answer",
            "seed-lxeon.toml",
            "--hardware",
            hw.to_str().unwrap(),
        ],
        &dir,
    );
    assert_eq!(v.status.code(), Some(0), "{v:?}");
    let a = tandem::answer::load("x.toml", &l, &Default::default()).unwrap();
    assert!(tandem::validate::check_for_install(&a.answer).is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn prepare_refuses_bad_input_with_exit_2() {
    let dir = scratch("prepare-bad");
    std::fs::write(dir.join("bad.toml"), "[system\n").unwrap();
    let out = tandem(&["prepare", "--answer", "bad.toml"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "bad.toml:1:8: TOML syntax: unclosed table, expected `]`\n"
    );
    std::fs::write(dir.join("ok.toml"), "").unwrap();
    let out = tandem(
        &["prepare", "--answer", "ok.toml", "bad.toml", "-o", "x.toml"],
        &dir,
    );
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}
