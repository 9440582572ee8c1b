//! Debian's Secure Boot chain for the medium, taken from the medium's own repository:
//! `shim-signed` (shim, signed by Microsoft's UEFI CA), `shim-helpers-amd64-signed`
//! (MokManager, which shim starts when asked to enrol a key) and
//! `grub-efi-amd64-signed` (GRUB images signed by Debian, whose key shim carries). The
//! firmware verifies shim, shim verifies GRUB and the kernel; the live kernel is Debian's
//! signed one. Nothing is signed here and no key is ours: a machine with Secure Boot on
//! and only Microsoft's keys enrolled (as shipped) boots the medium, and the same files
//! boot a machine with Secure Boot off.
//!
//! The files come out of the very .debs the installed nodes get, so the medium and its
//! nodes run one version of the chain.

use crate::pipeline::Ctx;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use tandem::exec::runner::Cmd;

/// (package, file inside it) for each part of the chain.
const SHIM: (&str, &str) = ("shim-signed", "usr/lib/shim/shimx64.efi.signed");
const MOK_MANAGER: (&str, &str) = ("shim-helpers-amd64-signed", "usr/lib/shim/mmx64.efi.signed");
/// The CD variant: it finds its medium by `/.disk/info` and reads `/boot/grub/grub.cfg`
/// there, where the installed-disk variant would look for `EFI/debian/grub.cfg`.
const GRUB_CD: (&str, &str) = (
    "grub-efi-amd64-signed",
    "usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed",
);

/// The network variant (PXE): its prefix is `(tftp,<next-server>)/grub`, so it reads
/// `grub/grub.cfg` from the TFTP server that served it.
const GRUB_NET: (&str, &str) = (
    "grub-efi-amd64-signed",
    "usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed",
);

/// The chain's files, extracted under the build's work directory.
#[derive(Debug, Clone)]
pub(crate) struct Chain {
    pub(crate) shim: PathBuf,
    pub(crate) mok_manager: PathBuf,
    pub(crate) grub_cd: PathBuf,
    pub(crate) grub_net: PathBuf,
}

/// The pool path (`Filename:`) of package `name` in a Packages index.
fn pool_file(packages: &str, name: &str) -> Option<String> {
    packages.split("\n\n").find_map(|stanza| {
        let field = |f: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(f)?.strip_prefix(": "))
        };
        (field("Package")? == name).then(|| field("Filename").map(str::to_string))?
    })
}

/// Unpacks the chain's packages from the medium's repository into `work/signed-efi`.
pub(crate) fn extract(ctx: &mut Ctx) -> Result<Chain> {
    let repo = ctx.medium_repo();
    let index = repo.join(format!(
        "dists/{}/main/binary-amd64/Packages",
        ctx.source.suite
    ));
    let packages =
        std::fs::read_to_string(&index).with_context(|| format!("reading {}", index.display()))?;
    let dir = ctx.work.join("signed-efi");
    crate::media::base::fresh_dir(&dir)?;
    std::fs::create_dir_all(&dir)?;
    let mut unpack = |(package, file): (&str, &str)| -> Result<PathBuf> {
        let Some(deb) = pool_file(&packages, package) else {
            bail!(
                "the medium's repository has no {package}: the Secure Boot chain comes from \
                 it (package set `uefi`, docs/image-build.md)"
            );
        };
        let root = dir.join(package);
        if !root.is_dir() {
            ctx.run(
                &Cmd::new("dpkg-deb")
                    .arg("-x")
                    .arg(repo.join(&deb).display().to_string())
                    .arg(root.display().to_string()),
            )
            .with_context(|| format!("unpacking {deb}"))?;
        }
        let path = root.join(file);
        if !path.is_file() {
            bail!("{deb} has no {file}");
        }
        Ok(path)
    };
    Ok(Chain {
        shim: unpack(SHIM)?,
        mok_manager: unpack(MOK_MANAGER)?,
        grub_cd: unpack(GRUB_CD)?,
        grub_net: unpack(GRUB_NET)?,
    })
}

/// Shim starts `grubx64.efi` and `mmx64.efi` from its own directory, whatever their
/// variant: these are the names each file takes beside it.
pub(crate) fn removable_names(chain: &Chain, grub: &Path) -> [(PathBuf, &'static str); 3] {
    [
        (chain.shim.clone(), "BOOTX64.EFI"),
        (grub.to_path_buf(), "grubx64.efi"),
        (chain.mok_manager.clone(), "mmx64.efi"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_package_by_exact_name() {
        let index = "Package: shim-signed-common\nVersion: 1\nFilename: pool/main/s/a.deb\n\n\
                     Package: shim-signed\nVersion: 2\nFilename: pool/main/s/b.deb\n\n";
        assert_eq!(
            pool_file(index, "shim-signed").as_deref(),
            Some("pool/main/s/b.deb")
        );
        assert_eq!(
            pool_file(index, "shim-signed-common").as_deref(),
            Some("pool/main/s/a.deb")
        );
        assert_eq!(pool_file(index, "shim"), None);
    }

    #[test]
    fn shim_is_the_removable_loader_and_grub_sits_beside_it() {
        let chain = Chain {
            shim: "/s".into(),
            mok_manager: "/m".into(),
            grub_cd: "/cd".into(),
            grub_net: "/net".into(),
        };
        let names = removable_names(&chain, &chain.grub_cd);
        assert_eq!(names[0], (PathBuf::from("/s"), "BOOTX64.EFI"));
        assert_eq!(names[1], (PathBuf::from("/cd"), "grubx64.efi"));
        assert_eq!(names[2], (PathBuf::from("/m"), "mmx64.efi"));
    }
}
