//! The executor: the only code that touches disks. `locate` finds the answer (kernel
//! command line, medium, HTTP); `steps` turns (answer, plan, inventory) into the ordered
//! install script; `install` runs it through [`runner::Runner`], which logs every command;
//! `progress` shows it.

pub mod esp;
pub mod gpt;
pub mod initramfs;
pub mod install;
pub mod locate;
pub mod medium;
pub mod packages;
pub mod progress;
pub mod runner;
pub mod steps;
pub mod tree;

use anyhow::{Context, Result};
use std::io::Write;

/// Held (flock) by the running install for its whole life; the kernel lets go of it
/// when the process ends, however it ends.
pub const INSTALL_LOCK: &str = "/run/tandem-install.lock";

/// The install lock, with this process's pid in the file; another holder is an error
/// naming its pid.
pub fn take_install_lock(path: &std::path::Path) -> Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    // SAFETY: flock on a file descriptor this function owns.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let holder = std::fs::read_to_string(path).unwrap_or_default();
        anyhow::bail!(
            "another tandem install is running on this machine (pid {}; lock {}): \
             two installs at once could write the same disks",
            holder.trim(),
            path.display()
        );
    }
    f.set_len(0).context("truncating the install lock")?;
    writeln!(f, "{}", std::process::id()).context("writing the install lock")?;
    Ok(f)
}

/// The install's mounts live in a mount namespace of their own, so nothing else on the live
/// system (udev and other services sit in namespaces that receive propagated mounts) keeps
/// a copy of /target busy: after `umount --recursive` the volumes are really free.
pub fn private_mounts() -> Result<()> {
    use nix::mount::{mount, MsFlags};
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .context("creating a mount namespace for the install")?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .context("making the install's mounts private")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_install_is_refused_while_the_first_holds_the_lock() {
        let dir = std::env::temp_dir().join(format!("tandem-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("install.lock");
        let first = take_install_lock(&path).unwrap();
        let e = take_install_lock(&path).unwrap_err().to_string();
        assert!(
            e.contains(&format!(
                "another tandem install is running on this machine (pid {}",
                std::process::id()
            )),
            "{e}"
        );
        drop(first);
        take_install_lock(&path).expect("free again once the first install is gone");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
