//! `tandem install` from the outside: bad input exits 2 before anything is touched;
//! --dry-run prints the script and writes nothing.

use std::process::Command;

fn tandem() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tandem"))
}

fn manifest(p: &str) -> String {
    format!("{}/{p}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn invalid_answer_exits_2_with_placed_diagnostics() {
    let dir = std::env::temp_dir().join(format!("tandem-install-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    let text = std::fs::read_to_string(manifest("../examples/qemu-4disk.toml"))
        .unwrap()
        .replace("level = \"raid6\"", "level = \"raid7\"");
    std::fs::write(&bad, text).unwrap();
    let out = tandem()
        .args(["install", "--dry-run", "--answer"])
        .arg(&bad)
        .arg("--hardware")
        .arg(manifest(
            "tests/fixtures/hardware/qemu-4disk-virtio-2nic.json",
        ))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stdout.contains("answer: --answer"), "{stdout}");
    assert!(stderr.contains("storage.level"), "{stderr}");
    assert!(!stdout.contains("== wipe"), "{stdout}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn dry_run_lists_every_phase() {
    let out = tandem()
        .args(["install", "--dry-run", "--answer"])
        .arg(manifest("../examples/qemu-4disk.toml"))
        .arg("--hardware")
        .arg(manifest(
            "tests/fixtures/hardware/qemu-4disk-virtio-2nic.json",
        ))
        .args(["--medium", "/nonexistent"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    for phase in [
        "checks",
        "wipe",
        "partition",
        "raid",
        "volumes",
        "system",
        "configure",
        "initramfs",
        "bootloader",
        "finish",
    ] {
        assert!(
            stdout.contains(&format!("== {phase}:")),
            "{phase} missing:\n{stdout}"
        );
    }
    // Without a medium the package steps are left out, and it says so.
    assert!(stdout.contains("package steps are left out"), "{stdout}");
}

#[test]
fn hardware_file_only_with_dry_run() {
    let out = tandem()
        .args(["install", "--answer", "x.toml", "--hardware", "y.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn no_answer_anywhere_and_no_console_says_how_to_give_one() {
    // Only meaningful where nothing names an answer (not inside a Tandem live system).
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    if cmdline.contains("tandem.answer=")
        || std::path::Path::new("/run/live/medium/tandem/answer.toml").exists()
        || std::path::Path::new("/dev/disk/by-label/TANDEM").exists()
    {
        return;
    }
    let out = tandem()
        .arg("install")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no answer file"), "{stderr}");
}

#[test]
fn plain_tandem_without_a_console_prints_the_help_and_installs_nothing() {
    let out = tandem()
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stdout.contains("Usage: tandem"), "{stdout}");
    assert!(stderr.contains("no command given"), "{stderr}");
    assert!(!stdout.contains("answer:"), "{stdout}");
}
