//! deb822 package sources for the installed system: Debian (with -updates and security)
//! and Proxmox VE's repository, each with its keyring. The install itself reads only the
//! medium's cache; these are for the node's later upgrades.

use super::{RenderedFile, HEADER};
use crate::answer::{Answer, ProxmoxRepo};

const DEBIAN_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";
const PROXMOX_KEYRING: &str = "/usr/share/keyrings/proxmox-archive-keyring.gpg";
const SECURITY: &str = "http://security.debian.org/debian-security";

pub fn sources(answer: &Answer) -> Vec<RenderedFile> {
    let apt = &answer.apt;
    let comps = apt.components.join(" ");
    let mut suites = vec![apt.suite.clone()];
    if apt.updates {
        suites.push(format!("{}-updates", apt.suite));
    }
    let mut deb = format!(
        "{HEADER}\nTypes: deb\nURIs: {}\nSuites: {}\nComponents: {comps}\nSigned-By: {DEBIAN_KEYRING}\n",
        apt.mirror,
        suites.join(" ")
    );
    if apt.security {
        deb.push_str(&format!(
            "\nTypes: deb\nURIs: {SECURITY}\nSuites: {}-security\nComponents: {comps}\nSigned-By: {DEBIAN_KEYRING}\n",
            apt.suite
        ));
    }
    let mut v = vec![RenderedFile::new(
        "/etc/apt/sources.list.d/debian.sources",
        deb,
    )];
    let pve = match apt.proxmox {
        ProxmoxRepo::NoSubscription => Some((
            "http://download.proxmox.com/debian/pve",
            "pve-no-subscription",
        )),
        ProxmoxRepo::Enterprise => Some((
            "https://enterprise.proxmox.com/debian/pve",
            "pve-enterprise",
        )),
        ProxmoxRepo::None => None,
    };
    if let Some((uri, comp)) = pve {
        v.push(RenderedFile::new(
            "/etc/apt/sources.list.d/proxmox.sources",
            format!(
                "{HEADER}\nTypes: deb\nURIs: {uri}\nSuites: {}\nComponents: {comp}\nSigned-By: {PROXMOX_KEYRING}\n",
                apt.suite
            ),
        ));
    }
    v
}
