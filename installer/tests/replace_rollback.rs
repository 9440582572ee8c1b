//! `tandem disk replace`: when adding the new disk to an array fails, the adds before it
//! are undone, so no array keeps half a new disk. A fake `mdadm` first on PATH records its
//! calls and refuses the second add (this file holds one test: PATH is process-wide).

use std::os::unix::fs::PermissionsExt;
use tandem::exec::runner::Runner;
use tandem::node::replace::{execute, Step};

#[test]
fn a_failed_add_undoes_the_adds_before_it() {
    let dir = std::env::temp_dir().join(format!("tandem-rollback-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let calls = dir.join("calls");
    let fake = dir.join("mdadm");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\necho \"$*\" >> {}\ncase \"$*\" in *--add*/dev/new4*) echo 'mdadm: add failed' >&2; exit 1;; esac\n",
            calls.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // SAFETY: the only test in this binary; nothing else reads the environment meanwhile.
    unsafe { std::env::set_var("PATH", path) };
    let steps = [
        Step::Add {
            array: "/dev/md127".into(),
            part: "/dev/new3".into(),
        },
        Step::Add {
            array: "/dev/md126".into(),
            part: "/dev/new4".into(),
        },
    ];
    let e = execute(&mut Runner::unlogged(), &steps, &mut |_| {}).unwrap_err();
    let msg = format!("{e:#}");
    assert!(msg.contains("the arrays are as they were"), "{msg}");
    assert!(msg.contains("mdadm: add failed"), "{msg}");
    let log = std::fs::read_to_string(&calls).unwrap();
    assert_eq!(
        log,
        "--manage /dev/md127 --add /dev/new3\n\
         --manage /dev/md126 --add /dev/new4\n\
         --manage /dev/md127 --fail /dev/new3 --remove /dev/new3\n\
         --zero-superblock /dev/new3\n"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
