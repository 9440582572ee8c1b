//! Network boot artifacts: `pxe/{vmlinuz,initrd.img,filesystem.squashfs,boot.ipxe}`, their
//! GRUB equivalents `boot.grub`/`discover.grub` with Debian's signed chain in `pxe/efi/`
//! (shim, the network GRUB as `grubx64.efi`, MokManager) for UEFI clients, plus
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

/// The kernel command line after the kernel's path, one source for iPXE and GRUB: `base`
/// is the HTTP base URL and `args` the extra-parameters variable in the script's syntax,
/// `answer_path` relative to the base.
fn kernel_args(base: &str, answer_path: Option<&str>, append: &str, args: &str) -> String {
    let append = if append.trim().is_empty() {
        String::new()
    } else {
        format!(" {}", append.trim())
    };
    let answer = answer_path
        .map(|p| format!("tandem.answer={base}/{p} "))
        .unwrap_or_default();
    format!(
        "initrd=initrd.img boot=live fetch={base}/filesystem.squashfs \
         {answer}tandem.media={base} {CONSOLES}{append} {args}"
    )
}

/// boot.grub / discover.grub: what boot.ipxe / discover.ipxe do, for Debian's signed
/// network GRUB (UEFI, Secure Boot or not), which under Secure Boot runs only its built-in
/// commands. A script that `source`s it sets `tandem_server` (the HTTP server) and
/// `tandem_path` (the directory of these files on it, e.g. `/tandem`); without them the
/// TFTP server and `/` serve. `tandem_args` adds kernel parameters. `${net0/mac}` in the
/// answer path becomes GRUB's `${net_default_mac}` (the same colon-separated lower-case
/// MAC).
fn grub_script(answer_path: Option<&str>, append: &str) -> String {
    let answer = answer_path.map(|p| p.replace("${net0/mac}", "${net_default_mac}"));
    let base = "http://${tandem_server}${tandem_path}";
    let dev = "(http,${tandem_server})${tandem_path}";
    format!(
        "# Tandem network boot (Debian's signed network GRUB). Set tandem_server and\n\
         # tandem_path first (in a script that sources this one) to serve from somewhere\n\
         # other than http://<next-server>/, and tandem_args to add kernel parameters.\n\
         if [ -z \"${{tandem_server}}\" ]; then set tandem_server=${{net_default_server}}; fi\n\
         echo \"Tandem: booting from {base}\"\n\
         linux {dev}/vmlinuz {args}\n\
         initrd {dev}/initrd.img\n\
         boot\n",
        args = kernel_args(base, answer.as_deref(), append, "${tandem_args}"),
    )
}

/// boot.ipxe (the answer's URL on the kernel command line) or, without `answer_path`,
/// discover.ipxe (the installer finds its answer by DHCP option or DNS,
/// docs/answer-discovery.md). The HTTP base URL is `${tandem-base}` when the DHCP server
/// or a chaining script set it, else `http://${next-server}` (the TFTP server, usually the
/// same host). A chaining script may set `tandem-args` to add kernel parameters (a fleet's
/// per-machine script gives `tandem.answer=` and `tandem.answer-fingerprint=` that way,
/// docs/pxe.md); iPXE expands an unset setting to nothing.
fn boot_script(answer_path: Option<&str>, append: &str) -> String {
    format!(
        "#!ipxe\n\
         # Tandem network boot. Set tandem-base first (e.g. in a script that chains this\n\
         # one) to serve from somewhere other than http://<next-server>, and tandem-args\n\
         # to add kernel parameters.\n\
         isset ${{net0/ip}} || dhcp\n\
         isset ${{tandem-base}} || set tandem-base http://${{next-server}}\n\
         echo Tandem: booting from ${{tandem-base}}\n\
         kernel ${{tandem-base}}/vmlinuz {args}\n\
         initrd ${{tandem-base}}/initrd.img\n\
         boot\n",
        args = kernel_args("${tandem-base}", answer_path, append, "${tandem-args}"),
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
    std::fs::write(
        dir.join("boot.grub"),
        grub_script(Some(answer_path), append),
    )?;
    std::fs::write(dir.join("discover.grub"), grub_script(None, append))?;
    // A TFTP server serves these flat from its root: shim fetches grubx64.efi from the
    // root, not from the directory shim came from (docs/pxe.md).
    let chain = crate::media::signed::extract(ctx)?;
    let efi = dir.join("efi");
    std::fs::create_dir_all(&efi)?;
    for (src, name) in [
        (&chain.shim, "shimx64.efi"),
        (&chain.grub_net, "grubx64.efi"),
        (&chain.mok_manager, "mmx64.efi"),
    ] {
        link_or_copy(src, &efi.join(name))?;
    }
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

    #[test]
    fn grub_script_has_the_ipxe_kernel_line() {
        let ipxe = boot_script(Some(DEFAULT_ANSWER_PATH), "quiet");
        let grub = grub_script(Some(DEFAULT_ANSWER_PATH), "quiet");
        let kernel = ipxe.lines().find(|l| l.starts_with("kernel ")).unwrap();
        let linux = grub.lines().find(|l| l.starts_with("linux ")).unwrap();
        // The same parameters once the base, the MAC and the args variable are mapped.
        assert_eq!(
            linux
                .replace(
                    "(http,${tandem_server})${tandem_path}/vmlinuz",
                    "kernel ${tandem-base}/vmlinuz"
                )
                .replace("linux kernel", "kernel")
                .replace("http://${tandem_server}${tandem_path}", "${tandem-base}")
                .replace("${net_default_mac}", "${net0/mac}")
                .replace("${tandem_args}", "${tandem-args}"),
            kernel
        );
        assert!(linux.contains(
            " tandem.answer=http://${tandem_server}${tandem_path}/answers/${net_default_mac}.toml "
        ));
        assert!(grub.contains("initrd (http,${tandem_server})${tandem_path}/initrd.img\n"));
        assert!(grub.ends_with("boot\n"));
        // GRUB knows no `${net0/...}`: nothing iPXE-only may be left.
        assert!(!grub.contains("net0") && !grub.contains("tandem-"));
        assert!(!grub_script(None, "").contains("tandem.answer"));
    }
}
