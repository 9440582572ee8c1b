//! Files that exist only while the installer works in the target's chroot: they keep
//! package scripts from starting services or touching the disks, and are removed before
//! the install ends.

use super::RenderedFile;
use crate::answer::Answer;
use crate::plan::Plan;

/// policy-rc.d keeps package scripts from starting services in the chroot.
pub const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";

pub fn policy_rc_d() -> RenderedFile {
    RenderedFile {
        path: POLICY_RC_D.into(),
        mode: 0o755,
        content:
            "#!/bin/sh\n# Tandem: no service starts inside the installer's chroot.\nexit 101\n"
                .into(),
    }
}

/// The answer's debconf selections, without GRUB's install devices: while packages are
/// configured grub-pc must not write to the disks (GRUB goes on them last but one).
pub fn package_preseed(answer: &Answer, plan: &Plan) -> String {
    let full = super::debconf::selections(answer, plan).content;
    let mut out: String = full
        .lines()
        .filter(|l| !l.starts_with("grub-pc grub-pc/install_devices"))
        .map(|l| format!("{l}\n"))
        .collect();
    if plan.firmware.bios() {
        out.push_str("grub-pc grub-pc/install_devices multiselect \n");
        out.push_str("grub-pc grub-pc/install_devices_empty boolean true\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_rc_d_refuses_every_service() {
        let f = policy_rc_d();
        assert_eq!(f.path, "/usr/sbin/policy-rc.d");
        assert_eq!(f.mode, 0o755);
        assert_eq!(
            f.content,
            "#!/bin/sh\n# Tandem: no service starts inside the installer's chroot.\nexit 101\n"
        );
    }
}
