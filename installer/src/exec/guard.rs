//! What the install holds while it runs, each released when its guard is dropped,
//! however the install ends (an error returned early, a panic unwinding): the install
//! lock, the install's own mount namespace, and the mounts the executor makes itself.

use super::system::System;
use anyhow::{Context, Result};
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

/// Held (flock) by the running install for its whole life; the kernel lets go of it
/// when the process ends, however it ends.
pub const INSTALL_LOCK: &str = "/run/tandem-install.lock";

/// The install lock, held while this value lives. The file (with the holder's pid) stays:
/// removing a lock file while another process waits on it would let a third one in.
#[must_use = "the install lock is released as soon as the guard is dropped"]
#[derive(Debug)]
pub struct InstallLock {
    file: File,
    path: PathBuf,
}

impl InstallLock {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for InstallLock {
    fn drop(&mut self) {
        // Closing the file would release it too; unlocking says so where it happens.
        // SAFETY: flock on a file descriptor this guard owns.
        unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// The install lock, with this process's pid in the file; another holder is an error
/// naming its pid.
pub fn take_install_lock(path: &Path) -> Result<InstallLock> {
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
    Ok(InstallLock {
        file: f,
        path: path.to_path_buf(),
    })
}

/// The install's own mount namespace, entered by [`private_mounts`]. Dropping it goes back
/// to the namespace the process came from; the kernel then detaches whatever the install
/// left mounted in its own, so no copy of /target keeps the volumes busy.
#[must_use = "dropping the guard leaves the install's mount namespace at once"]
#[derive(Debug)]
pub struct MountNamespace {
    original: File,
}

impl Drop for MountNamespace {
    fn drop(&mut self) {
        // Best effort: setns refuses once another thread shares this one's filesystem
        // context; the process then stays in the install's namespace until it ends, as
        // it did before the guard existed.
        let _ = nix::sched::setns(self.original.as_fd(), nix::sched::CloneFlags::CLONE_NEWNS);
    }
}

/// The install's mounts live in a mount namespace of their own, so nothing else on the live
/// system (udev and other services sit in namespaces that receive propagated mounts) keeps
/// a copy of /target busy: after `umount --recursive` the volumes are really free.
pub fn private_mounts() -> Result<MountNamespace> {
    use nix::mount::{mount, MsFlags};
    let original =
        File::open("/proc/self/ns/mnt").context("opening this process's mount namespace")?;
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .context("creating a mount namespace for the install")?;
    let guard = MountNamespace { original };
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .context("making the install's mounts private")?;
    Ok(guard)
}

/// A filesystem the executor mounted itself, unmounted when the guard is dropped. Call
/// [`MountGuard::unmount`] where the unmount's failure matters; the drop is the fallback
/// for an early return, and its failure is only logged.
#[must_use = "the filesystem is unmounted as soon as the guard is dropped"]
pub struct MountGuard<'s> {
    sys: &'s mut dyn System,
    at: PathBuf,
    mounted: bool,
}

impl<'s> MountGuard<'s> {
    /// Mounts `dev` at `at` through `sys`.
    pub fn mount(sys: &'s mut dyn System, dev: &Path, at: &Path) -> Result<Self> {
        sys.mount(dev, at)?;
        Ok(MountGuard {
            sys,
            at: at.to_path_buf(),
            mounted: true,
        })
    }

    pub fn path(&self) -> &Path {
        &self.at
    }

    /// Unmounts now and says whether that worked.
    pub fn unmount(mut self) -> Result<()> {
        self.mounted = false;
        self.sys.umount(&self.at)?;
        Ok(())
    }
}

impl Drop for MountGuard<'_> {
    fn drop(&mut self) {
        if self.mounted {
            if let Err(e) = self.sys.umount(&self.at) {
                self.sys.note(&format!(
                    "could not unmount {} after an error: {e:#}",
                    self.at.display()
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::system::{Call, Recording};

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
        assert_eq!(first.path(), path);
        drop(first);
        drop(take_install_lock(&path).expect("free again once the first install is gone"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_mount_is_undone_when_its_guard_goes_out_of_scope() {
        let mut sys = Recording::new(std::env::temp_dir());
        let mut fails = || -> Result<()> {
            let _m = MountGuard::mount(&mut sys, Path::new("/dev/vdb1"), Path::new("/mnt/x"))?;
            anyhow::bail!("mirroring failed")
        };
        assert!(fails().is_err());
        assert_eq!(
            sys.calls(),
            [
                Call::Mount("/dev/vdb1".into(), "/mnt/x".into()),
                Call::Umount("/mnt/x".into())
            ]
        );
        let m = MountGuard::mount(&mut sys, Path::new("/dev/vdc1"), Path::new("/mnt/y")).unwrap();
        m.unmount().unwrap();
        assert_eq!(sys.calls().len(), 4, "unmounted once, not again on drop");
    }
}
