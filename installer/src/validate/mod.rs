//! Validation: a pure function of (answer, hardware inventory) that returns every problem
//! at once, each with the key path as the file writes it, what was found and what is
//! allowed. Placing the problems in the file is the caller's job (`SourceMap`).
//!
//! Checks that need the machine (disk and NIC selection, wipe policy against signatures)
//! run only when an inventory is given; capacity against real disk sizes is the planner's.

mod apt;
mod cluster;
mod drbd;
mod first_boot;
mod names;
mod network;
mod report;
mod storage;
mod system;

use crate::answer::{AddressMethod, Answer, Issue};
use crate::hardware::Inventory;
use ipnet::IpNet;

// Single-value checks, also for front ends that check a field as it is typed (the wizard).
pub use drbd::{across_nodes as drbd_across_nodes, secret_problem};
pub use names::{
    debian_name_problem, domain_problem, hostname_problem, interface_name_problem, lvm_name_problem,
};
pub(crate) use storage::wipe_refusal;
pub use system::{
    keyboard_problem, locale_problem, password_hash_problem, ssh_key_problem, timezone_problem,
};

/// Every problem in `answer` for the node at `node` (an index into `cluster.nodes`, or
/// None when this machine is not a listed cluster member), checked against `inv` when
/// given. Empty means valid.
pub fn validate(answer: &Answer, node: Option<usize>, inv: Option<&Inventory>) -> Vec<Issue> {
    let mut out = Vec::new();
    system::check(&answer.system, &mut out);
    storage::check(&answer.storage, inv, &mut out);
    network::check(&answer.network, inv, &mut out);
    cluster::check(answer, node, &mut out);
    drbd::check(answer, node, &mut out);
    apt::check(&answer.apt, &mut out);
    if let Some(r) = &answer.report {
        report::check(r, &mut out);
    }
    if let Some(f) = &answer.first_boot {
        first_boot::check(f, &mut out);
    }
    out
}

/// What is valid but most likely not what the admin wants: printed as warnings by every
/// command that validates an answer, never a reason to stop. Those about the machine come
/// only with `inv`.
pub fn warnings(answer: &Answer, inv: Option<&Inventory>) -> Vec<Issue> {
    let mut out = Vec::new();
    system::warnings(&answer.system, inv, &mut out);
    drbd::warnings(answer, &mut out);
    out
}

/// What must additionally hold right before installing: nothing may be left for
/// `tandem prepare` to fill in. Plain `validate` accepts these, since a cluster's files
/// are checked before the shared secrets are generated.
pub fn check_for_install(answer: &Answer) -> Vec<Issue> {
    let mut out = Vec::new();
    if let Some(d) = &answer.drbd {
        for (i, r) in d.resources.iter().enumerate() {
            if r.secret == crate::answer::DrbdSecret::Generate {
                out.push(Issue::new(
                    format!("drbd.resources[{i}].secret"),
                    format!(
                        "resource {} still says secret = \"generate\"; run `tandem prepare` \
                         once for the whole cluster so every node gets the same secret",
                        r.name
                    ),
                ));
            }
        }
    }
    out
}

/// The node's static addresses, in file order.
pub(crate) fn static_addresses(a: &Answer) -> Vec<IpNet> {
    a.network
        .addresses
        .iter()
        .filter_map(|ad| match ad.address {
            AddressMethod::Static(n) => Some(n),
            _ => None,
        })
        .collect()
}

/// A comma-separated list for messages, "none" when empty.
pub(crate) fn join(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    use crate::answer::{load, Answer, NodeHint};

    /// A small valid answer the unit tests break one key at a time.
    pub const BASE: &str = r#"
[system]
hostname = "pve1"
domain = "example.org"
root-password-hash = "$6$Vn0wqkz2Xo6fB5cP$VorkVA4xtWVAec2yE36N.epbFc5iEKIjGU9M6inO0hFbVuAtm.U99MS02qj5r/7A4yrwRto4yqfPvk.qR4DVU0"

[storage]
disks = { count = 2 }
level = "raid1"
[storage.volumes]
root = { size = "20G" }
swap = { size = "4G" }

[[network.addresses]]
interface = "eno1"
address = "10.0.0.5/24"
gateway = "10.0.0.1"
"#;

    pub fn answer(extra_edit: impl Fn(&str) -> String) -> Answer {
        let text = extra_edit(BASE);
        load("t.toml", &text, &NodeHint::default())
            .unwrap_or_else(|e| panic!("{e}"))
            .answer
    }

    pub fn paths(issues: &[crate::answer::Issue]) -> Vec<String> {
        issues.iter().map(|i| i.path.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;

    #[test]
    fn base_is_valid() {
        let a = answer(|s| s.to_string());
        assert_eq!(validate(&a, None, None), vec![]);
    }

    #[test]
    fn generated_secret_blocks_install_only() {
        let a = answer(|s| {
            format!(
                "{s}\n[[drbd.resources]]\nname = \"r0\"\ndevice = \"/dev/drbd0\"\nbacking = \"/dev/sdb\"\n"
            )
        });
        assert!(!paths(&validate(&a, None, None)).contains(&"drbd.resources[0].secret".into()));
        assert_eq!(
            paths(&check_for_install(&a)),
            vec!["drbd.resources[0].secret".to_string()]
        );
    }
}
