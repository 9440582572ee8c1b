//! Writes a rendered file tree: the preview of `tandem render`, and each file the install
//! puts into the target.

use crate::error::InputError;
use crate::render::{tree_path, tree_problems, RenderedFile};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Writes rendered files under `out`, with their modes. Refuses `/`: rendering is a
/// preview, never an install.
///
/// Validation keeps bad names and values out of the files; this is the second line. Every
/// file is checked before the first is written: its path must stay under `out` (no `..`,
/// no component longer than a file name may be) and no line may carry a control
/// character. A tree for a new `out` is written into a temporary sibling and renamed into
/// place, so it appears whole or not at all.
pub fn write_tree(out: &Path, files: &[RenderedFile]) -> Result<()> {
    let resolved = std::fs::canonicalize(out).unwrap_or_else(|_| out.to_path_buf());
    if resolved == Path::new("/") || out.as_os_str().is_empty() {
        return Err(InputError::Other(format!(
            "--out {}: refusing to render over the root filesystem",
            out.display()
        ))
        .into());
    }
    let problems = tree_problems(files);
    if !problems.is_empty() {
        return Err(InputError::Other(format!(
            "{}: nothing written:\n{}",
            out.display(),
            problems.join("\n")
        ))
        .into());
    }
    let checked: Vec<(PathBuf, &RenderedFile)> = files
        .iter()
        .filter_map(|f| tree_path(f).ok().map(|rel| (rel, f)))
        .collect();
    if out.exists() {
        return write_files(out, &checked);
    }
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let stage = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join(format!(".{name}.tandem-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&stage);
    let written = std::fs::create_dir_all(&stage)
        .with_context(|| format!("creating {}", stage.display()))
        .and_then(|()| write_files(&stage, &checked))
        .and_then(|()| {
            std::fs::rename(&stage, out)
                .with_context(|| format!("renaming {} to {}", stage.display(), out.display()))
        });
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&stage);
    }
    written
}

fn write_files(root: &Path, files: &[(PathBuf, &RenderedFile)]) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for (rel, f) in files {
        let p = root.join(rel);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        // Create with the final mode, so a secret is never readable even for a moment.
        let _ = std::fs::remove_file(&p);
        {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut fh = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(f.mode)
                .open(&p)
                .with_context(|| format!("writing {}", p.display()))?;
            fh.write_all(f.content.as_bytes())
                .with_context(|| format!("writing {}", p.display()))?;
        }
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(f.mode))
            .with_context(|| format!("setting the mode of {}", p.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, content: &str) -> RenderedFile {
        RenderedFile {
            path: path.into(),
            mode: 0o644,
            content: content.into(),
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tandem-tree-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn refused(files: &[RenderedFile], want: &str) {
        let d = scratch("refused");
        let out = d.join("out");
        let e = write_tree(&out, files).unwrap_err();
        assert!(e.downcast_ref::<InputError>().is_some(), "{e:#}");
        assert!(format!("{e:#}").contains(want), "{e:#}");
        // Nothing at all: not the good file before the bad one, not a staging directory.
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_path_that_leaves_the_tree_is_refused_and_nothing_is_written() {
        let good = file("/etc/hostname", "a\n");
        for p in [
            "/etc/drbd.d/../../../escaped.res",
            "../x",
            "/etc/./x/../../../y",
        ] {
            refused(
                &[good.clone(), file(p, "x\n")],
                "leaves the output directory",
            );
        }
        refused(&[good.clone(), file("/", "x\n")], "not a file path");
        let long = format!("/etc/systemd/network/10-{}.link", "e".repeat(300));
        refused(&[good.clone(), file(&long, "x\n")], "longer than 255 bytes");
        refused(&[good, file("/etc/a\nb", "x\n")], "control character");
    }

    #[test]
    fn a_line_with_a_control_character_is_refused() {
        refused(
            &[file(
                "/etc/hosts",
                "127.0.0.1 localhost\n10.0.0.1 a\u{1b}[2J\n",
            )],
            "/etc/hosts: line 2 carries the control character U+001B",
        );
        refused(&[file("/etc/fstab", "a\rb\n")], "U+000D");
    }

    #[test]
    fn a_new_tree_appears_whole_and_an_existing_one_is_written_into() {
        let d = scratch("whole");
        let out = d.join("out");
        let files = [
            file("/etc/hosts", "127.0.0.1\tlocalhost\n"),
            file("etc/x/y", ""),
        ];
        write_tree(&out, &files).unwrap();
        assert_eq!(
            std::fs::read_to_string(out.join("etc/hosts")).unwrap(),
            "127.0.0.1\tlocalhost\n"
        );
        assert!(out.join("etc/x/y").is_file());
        let names: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            ["out"],
            "the staging directory was renamed, not left"
        );
        std::fs::write(out.join("mine"), "kept").unwrap();
        write_tree(&out, &[file("/etc/hostname", "b\n")]).unwrap();
        assert_eq!(std::fs::read_to_string(out.join("mine")).unwrap(), "kept");
        assert!(out.join("etc/hostname").is_file());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
