//! The day-2 commands on a machine that is not a Tandem node: exit 2, saying so, nothing
//! written (the decisions themselves are unit-tested in `node::`; the e2e suite runs them
//! on installed nodes).

use std::process::Command;

fn scratch(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("tandem-node-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("sys/block")).unwrap();
    d
}

#[test]
fn status_and_disk_replace_refuse_a_machine_tandem_did_not_install() {
    let root = scratch("not-a-node");
    let r = root.display().to_string();
    for args in [
        vec!["status", "--sysroot", &r],
        vec!["status", "--json", "--sysroot", &r],
        vec!["disk", "replace", "vdz", "--yes", "--sysroot", &r],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_tandem"))
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("not a Tandem node"), "{args:?}: {err}");
    }
    let after: Vec<_> = std::fs::read_dir(&root).unwrap().collect();
    assert_eq!(after.len(), 1, "only sys/ is there");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn status_exit_codes_are_in_its_help() {
    let out = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["status", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("Exit 0 healthy, 1 degraded or out of sync"),
        "{help}"
    );
}
