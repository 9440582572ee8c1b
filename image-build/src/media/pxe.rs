//! Network boot artifacts: `pxe/{vmlinuz,initrd.img,filesystem.squashfs,boot.ipxe}`, plus
//! what the installer lays down (`base.squashfs`, its dpkg status `base.status`, and `repo/`
//! when built from one).
//! iPXE loads kernel and initramfs over HTTP; live-boot then fetches the squashfs into RAM
//! (`fetch=`); the installer reads its answer from a per-machine URL and finds the base
//! image and repository under `tandem.media=` (the same base URL).

use crate::media::iso::{link_or_copy, CONSOLES};
use crate::pipeline::Ctx;
use anyhow::Result;
use std::path::PathBuf;

/// Default answer location, relative to the base URL; `${net0/mac}` is expanded by iPXE
/// (colon-separated lower-case MAC of the booting NIC).
pub(crate) const DEFAULT_ANSWER_PATH: &str = "answers/${net0/mac}.toml";

/// boot.ipxe (the answer's URL on the kernel command line) or, without `answer_path`,
/// discover.ipxe (the installer finds its answer by DHCP option or DNS,
/// docs/answer-discovery.md). The HTTP base URL is `${tandem-base}` when the DHCP server
/// or a chaining script set it, else `http://${next-server}` (the TFTP server, usually the
/// same host). A chaining script may set `tandem-args` to add kernel parameters (a fleet's
/// per-machine script gives `tandem.answer=` and `tandem.answer-fingerprint=` that way,
/// docs/pxe.md); iPXE expands an unset setting to nothing.
fn boot_script(answer_path: Option<&str>, append: &str) -> String {
    let append = if append.trim().is_empty() {
        String::new()
    } else {
        format!(" {}", append.trim())
    };
    format!(
        "#!ipxe\n\
         # Tandem network boot. Set tandem-base first (e.g. in a script that chains this\n\
         # one) to serve from somewhere other than http://<next-server>, and tandem-args\n\
         # to add kernel parameters.\n\
         isset ${{net0/ip}} || dhcp\n\
         isset ${{tandem-base}} || set tandem-base http://${{next-server}}\n\
         echo Tandem: booting from ${{tandem-base}}\n\
         kernel ${{tandem-base}}/vmlinuz initrd=initrd.img boot=live fetch=${{tandem-base}}/filesystem.squashfs \
         {answer}tandem.media=${{tandem-base}} {CONSOLES}{append} ${{tandem-args}}\n\
         initrd ${{tandem-base}}/initrd.img\n\
         boot\n",
        answer = answer_path
            .map(|p| format!("tandem.answer=${{tandem-base}}/{p} "))
            .unwrap_or_default(),
    )
}

pub(crate) fn build(ctx: &mut Ctx, answer_path: &str, append: &str) -> Result<PathBuf> {
    let dir = ctx.out.join("pxe");
    crate::media::base::fresh_dir(&dir)?;
    std::fs::create_dir_all(&dir)?;
    let live = ctx.stage_dir().join("live");
    for f in ["vmlinuz", "initrd.img", "filesystem.squashfs"] {
        link_or_copy(&live.join(f), &dir.join(f))?;
    }
    for f in ["base.squashfs", "base.status"] {
        link_or_copy(&ctx.stage_dir().join(f), &dir.join(f))?;
    }
    ctx.link_medium_repo(&dir.join("repo"))?;
    std::fs::write(
        dir.join("boot.ipxe"),
        boot_script(Some(answer_path), append),
    )?;
    std::fs::write(dir.join("discover.ipxe"), boot_script(None, append))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_fetches_squashfs_and_answer() {
        let s = boot_script(Some(DEFAULT_ANSWER_PATH), "");
        assert!(s.starts_with("#!ipxe\n"));
        let kernel = s.lines().find(|l| l.starts_with("kernel ")).unwrap();
        assert!(kernel.contains(" boot=live fetch=${tandem-base}/filesystem.squashfs "));
        assert!(kernel.contains(" tandem.answer=${tandem-base}/answers/${net0/mac}.toml "));
        assert!(kernel.contains(" tandem.media=${tandem-base} "));
        assert!(kernel.ends_with("console=ttyS0,115200 console=tty0 ${tandem-args}"));
        let custom = boot_script(Some("nodes/${hostname}.toml"), "quiet");
        assert!(custom.contains("tandem.answer=${tandem-base}/nodes/${hostname}.toml "));
        assert!(custom.contains("console=tty0 quiet ${tandem-args}\n"));
        // discover.ipxe: the same kernel line, no answer on it.
        let discover = boot_script(None, "");
        assert!(!discover.contains("tandem.answer"));
        assert_eq!(
            discover.replace(
                " tandem.media",
                " tandem.answer=${tandem-base}/answers/${net0/mac}.toml tandem.media"
            ),
            s
        );
    }
}
