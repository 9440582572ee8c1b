//! The wizard's logic, separate from the terminal: a sequence of steps, each with what it
//! shows, the choices it allows, defaults computed from the inventory, and how a reply is
//! parsed (or refused with a reason, which re-asks). It produces the same `Answer` an
//! answer file does; nothing here touches a disk or a terminal.
//!
//! Validation and planning are not done here: the wizard asks the validator (through
//! [`Services`]) about the key paths each step sets, and shows the planner's summary.

pub mod accounts;
pub mod disks;
pub mod draft;
pub mod drbd;
pub mod finish;
pub mod identity;
pub mod locale;
pub mod network;
pub mod raid;
pub mod volumes;

use crate::answer::{Answer, Issue};
use crate::hardware::Inventory;
use draft::Draft;
use std::path::PathBuf;
use zeroize::Zeroizing;

/// What the wizard needs from the rest of Tandem. The command line wires these to
/// `validate::validate` and to `plan::build` + the plan's text summary (what `tandem plan`
/// prints); tests pass stand-ins.
pub struct Services<'a> {
    /// Every problem with an answer for `node` (index into `cluster.nodes`) on `inv`.
    pub validate: &'a ValidateFn,
    /// The plan's summary text, or why no plan can be made.
    pub summarize: &'a SummarizeFn,
}

/// `validate(answer, node, inv)`.
pub type ValidateFn = dyn Fn(&Answer, Option<usize>, &Inventory) -> Vec<Issue>;
/// `summarize(answer, node, inv)`: the plan's text summary.
pub type SummarizeFn = dyn Fn(&Answer, Option<usize>, &Inventory) -> Result<String, Vec<Issue>>;

/// One question. Steps are asked in this order; a step whose question does not apply
/// (e.g. the bond mode with one NIC) is skipped both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    Keyboard,
    Locale,
    Timezone,
    Disks,
    Level,
    DrbdWanted,
    RootSize,
    SwapSize,
    VzSize,
    DrbdSize,
    NetMembers,
    BondMode,
    Vlans,
    AddressInterface,
    Address,
    Gateway,
    Dns,
    Hostname,
    Domain,
    RootPassword,
    SshKeys,
    ClusterName,
    PeerName,
    PeerAddress,
    ReplicationNic,
    ReplicationAddress,
    PeerReplicationAddress,
    Summary,
    Confirm,
    SaveTarget,
    SavePath,
    Done,
}

impl Step {
    pub const ORDER: [Step; 32] = [
        Step::Keyboard,
        Step::Locale,
        Step::Timezone,
        Step::Disks,
        Step::Level,
        Step::DrbdWanted,
        Step::RootSize,
        Step::SwapSize,
        Step::VzSize,
        Step::DrbdSize,
        Step::NetMembers,
        Step::BondMode,
        Step::Vlans,
        Step::AddressInterface,
        Step::Address,
        Step::Gateway,
        Step::Dns,
        Step::Hostname,
        Step::Domain,
        Step::RootPassword,
        Step::SshKeys,
        Step::ClusterName,
        Step::PeerName,
        Step::PeerAddress,
        Step::ReplicationNic,
        Step::ReplicationAddress,
        Step::PeerReplicationAddress,
        Step::Summary,
        Step::Confirm,
        Step::SaveTarget,
        Step::SavePath,
        Step::Done,
    ];

    /// Whether the question is asked, given the replies so far.
    fn applies(self, d: &Draft, inv: &Inventory) -> bool {
        match self {
            Step::BondMode => network::members(d, inv).len() >= 2,
            Step::AddressInterface => !d.vlans.is_empty(),
            Step::Gateway => d.address.is_some_and(|a| network::is_static(&a)),
            Step::DrbdSize
            | Step::ClusterName
            | Step::PeerName
            | Step::PeerAddress
            | Step::ReplicationNic => d.drbd,
            Step::ReplicationAddress | Step::PeerReplicationAddress => {
                d.drbd && d.replication_nic.is_some()
            }
            Step::SavePath => d.save_other,
            _ => true,
        }
    }

    /// Issue paths that concern this step exactly (not what lies under them): the
    /// planner reports volumes that do not fit at `storage.volumes`.
    fn exact_paths(self) -> &'static [&'static str] {
        match self {
            Step::RootSize | Step::SwapSize | Step::VzSize | Step::DrbdSize => &["storage.volumes"],
            _ => &[],
        }
    }

    /// The answer-file keys this step sets: validator issues under them re-ask the step.
    fn paths(self) -> &'static [&'static str] {
        match self {
            Step::Keyboard => &["system.keyboard"],
            Step::Locale => &["system.locale"],
            Step::Timezone => &["system.timezone"],
            Step::Disks => &["storage.disks"],
            Step::Level => &["storage.level"],
            Step::RootSize => &["storage.volumes.root"],
            Step::SwapSize => &["storage.volumes.swap"],
            Step::VzSize => &["storage.volumes.vz"],
            Step::DrbdSize => &["storage.volumes.drbd"],
            Step::NetMembers | Step::BondMode => &["network.bonds"],
            Step::Vlans => &["network.vlans"],
            Step::Address => &["network.addresses[0].address"],
            Step::Gateway => &["network.addresses[0].gateway"],
            Step::Dns => &["network.dns"],
            Step::Hostname => &["system.hostname"],
            Step::Domain => &["system.domain"],
            Step::RootPassword => &["system.root-password-hash"],
            Step::SshKeys => &["system.root-ssh-keys"],
            Step::ClusterName => &["cluster.name"],
            Step::PeerName => &["cluster.nodes[1].name"],
            Step::PeerAddress => &["cluster.nodes[1].address"],
            Step::ReplicationAddress => &["network.addresses[1]"],
            Step::PeerReplicationAddress => &["cluster.nodes[1].replication-address"],
            _ => &[],
        }
    }
}

/// How a question is asked.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// One of `items`; Esc goes back.
    Select { items: Vec<String>, default: usize },
    /// Any number of `items` (space toggles); Esc goes back.
    MultiSelect {
        items: Vec<String>,
        checked: Vec<bool>,
    },
    /// A line of text; empty takes the default (if any); "<" goes back.
    Input { default: Option<String> },
    /// A secret typed twice, not echoed.
    Password,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    pub step: Step,
    /// The question, one line.
    pub title: String,
    /// What to show above the question: tables, what a choice means, notes.
    pub body: Vec<String>,
    pub kind: Kind,
}

/// The user's reply to a prompt.
pub enum Reply {
    Back,
    Choice(usize),
    Choices(Vec<usize>),
    Text(String),
    /// The password and its repetition; dropped (and wiped) once hashed.
    Password(Zeroizing<String>, Zeroizing<String>),
}

/// A refused reply: the reason, shown before the question is asked again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Reask(pub String);

/// What the wizard ends with.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub answer: Answer,
    /// Index of this node in `cluster.nodes`, when it is a cluster member.
    pub node: Option<usize>,
    /// Where to save the answer file, if the user wants it saved.
    pub save_to: Option<PathBuf>,
}

pub struct Wizard<'a> {
    inv: &'a Inventory,
    services: Services<'a>,
    draft: Draft,
    step: Step,
    /// Steps answered, for going back.
    history: Vec<Step>,
    notice: Option<String>,
}

impl<'a> Wizard<'a> {
    /// `save_default`: the path offered first at the end (`--save-answer`).
    pub fn new(inv: &'a Inventory, services: Services<'a>, save_default: Option<PathBuf>) -> Self {
        let draft = Draft {
            save_default,
            ..Draft::default()
        };
        Wizard {
            inv,
            services,
            draft,
            step: Step::ORDER[0],
            history: Vec::new(),
            notice: None,
        }
    }

    /// Where the wizard stands, for the tests that drive it (the terminal only follows
    /// prompts).
    #[cfg(test)]
    pub fn step(&self) -> Step {
        self.step
    }

    #[cfg(test)]
    pub fn draft(&self) -> &Draft {
        &self.draft
    }

    /// Whether the user has typed the erase confirmation.
    pub fn confirmed(&self) -> bool {
        self.draft.confirmed
    }

    /// The answer as it stands (unanswered questions take their defaults).
    pub fn answer(&self) -> Answer {
        draft::to_answer(&self.draft, self.inv)
    }

    pub fn outcome(&self) -> Option<Outcome> {
        (self.step == Step::Done).then(|| Outcome {
            answer: self.answer(),
            node: draft::node_index(&self.draft),
            save_to: self.draft.save_to.clone(),
        })
    }

    /// The current question.
    pub fn prompt(&self) -> Prompt {
        let d = &self.draft;
        let inv = self.inv;
        let (title, body, kind) = match self.step {
            Step::Keyboard => locale::keyboard_prompt(d),
            Step::Locale => locale::locale_prompt(d),
            Step::Timezone => locale::timezone_prompt(d),
            Step::Disks => disks::prompt(d, inv),
            Step::Level => raid::prompt(d, inv),
            Step::DrbdWanted => drbd::wanted_prompt(d),
            Step::RootSize | Step::SwapSize | Step::VzSize | Step::DrbdSize => {
                volumes::prompt(self.step, d, inv)
            }
            Step::NetMembers => network::members_prompt(d, inv),
            Step::BondMode => network::mode_prompt(d),
            Step::Vlans => network::vlans_prompt(d, inv),
            Step::AddressInterface => network::address_interface_prompt(d, inv),
            Step::Address => network::address_prompt(d),
            Step::Gateway => network::gateway_prompt(d),
            Step::Dns => network::dns_prompt(d),
            Step::Hostname => identity::hostname_prompt(d),
            Step::Domain => identity::domain_prompt(d),
            Step::RootPassword => accounts::password_prompt(d),
            Step::SshKeys => accounts::keys_prompt(d),
            Step::ClusterName => drbd::cluster_name_prompt(d),
            Step::PeerName => drbd::peer_name_prompt(d),
            Step::PeerAddress => drbd::peer_address_prompt(d),
            Step::ReplicationNic => drbd::replication_nic_prompt(d, inv),
            Step::ReplicationAddress => drbd::replication_address_prompt(d),
            Step::PeerReplicationAddress => drbd::peer_replication_address_prompt(d),
            Step::Summary => finish::summary_prompt(self.summary()),
            Step::Confirm => finish::confirm_prompt(d, inv),
            Step::SaveTarget => finish::save_target_prompt(d, inv),
            Step::SavePath => finish::save_path_prompt(d),
            Step::Done => ("Done".into(), vec![], Kind::Input { default: None }),
        };
        Prompt {
            step: self.step,
            title,
            body,
            kind,
        }
    }

    fn summary(&self) -> Result<String, Vec<Issue>> {
        let answer = self.answer();
        let node = draft::node_index(&self.draft);
        let issues = (self.services.validate)(&answer, node, self.inv);
        if !issues.is_empty() {
            return Err(issues);
        }
        (self.services.summarize)(&answer, node, self.inv)
    }

    /// Takes a reply: on success moves to the next question, else leaves the draft as it
    /// was and says why.
    pub fn reply(&mut self, reply: Reply) -> Result<(), Reask> {
        if let Reply::Back = reply {
            return self.back();
        }
        let mut next = self.draft.clone();
        let inv = self.inv;
        let r = match self.step {
            Step::Keyboard => locale::keyboard_apply(&mut next, reply),
            Step::Locale => locale::locale_apply(&mut next, reply),
            Step::Timezone => locale::timezone_apply(&mut next, reply),
            Step::Disks => disks::apply(&mut next, inv, reply),
            Step::Level => raid::apply(&mut next, inv, reply),
            Step::DrbdWanted => drbd::wanted_apply(&mut next, reply),
            Step::RootSize | Step::SwapSize | Step::VzSize | Step::DrbdSize => {
                volumes::apply(self.step, &mut next, reply)
            }
            Step::NetMembers => network::members_apply(&mut next, inv, reply),
            Step::BondMode => network::mode_apply(&mut next, reply),
            Step::Vlans => network::vlans_apply(&mut next, reply),
            Step::AddressInterface => network::address_interface_apply(&mut next, reply),
            Step::Address => network::address_apply(&mut next, reply),
            Step::Gateway => network::gateway_apply(&mut next, reply),
            Step::Dns => network::dns_apply(&mut next, reply),
            Step::Hostname => identity::hostname_apply(&mut next, reply),
            Step::Domain => identity::domain_apply(&mut next, reply),
            Step::RootPassword => accounts::password_apply(&mut next, reply),
            Step::SshKeys => accounts::keys_apply(&mut next, reply),
            Step::ClusterName => drbd::cluster_name_apply(&mut next, reply),
            Step::PeerName => drbd::peer_name_apply(&mut next, reply),
            Step::PeerAddress => drbd::peer_address_apply(&mut next, reply),
            Step::ReplicationNic => drbd::replication_nic_apply(&mut next, inv, reply),
            Step::ReplicationAddress => drbd::replication_address_apply(&mut next, reply),
            Step::PeerReplicationAddress => drbd::peer_replication_address_apply(&mut next, reply),
            Step::Summary => {
                if !finish::summary_continues(self.summary().is_ok(), &reply) {
                    return self.back();
                }
                Ok(())
            }
            Step::Confirm => finish::confirm_apply(&mut next, inv, reply),
            Step::SaveTarget => finish::save_target_apply(&mut next, inv, reply),
            Step::SavePath => finish::save_path_apply(&mut next, reply),
            Step::Done => Err("the wizard is finished".into()),
        };
        r.map_err(Reask)?;
        self.check_with_validator(&next)?;
        self.draft = next;
        self.history.push(self.step);
        self.step = self.next_after(self.step);
        Ok(())
    }

    /// The validator's and the planner's verdict on the keys this step set, so their
    /// reasons re-ask here rather than at the summary. The planner is asked even when
    /// other (later) questions still leave the answer invalid, since only issues on this
    /// step's keys count.
    fn check_with_validator(&self, next: &Draft) -> Result<(), Reask> {
        let (paths, exact) = (self.step.paths(), self.step.exact_paths());
        if paths.is_empty() && exact.is_empty() {
            return Ok(());
        }
        let answer = draft::to_answer(next, self.inv);
        let node = draft::node_index(next);
        let mut issues = (self.services.validate)(&answer, node, self.inv);
        if let Err(more) = (self.services.summarize)(&answer, node, self.inv) {
            issues.extend(more);
        }
        let mut mine: Vec<String> = issues
            .into_iter()
            .filter(|i| paths.iter().any(|p| under(&i.path, p)) || exact.contains(&i.path.as_str()))
            .map(|i| format!("{}: {}", i.path, i.message))
            .collect();
        mine.dedup();
        if mine.is_empty() {
            Ok(())
        } else {
            Err(Reask(mine.join("\n")))
        }
    }

    fn next_after(&self, s: Step) -> Step {
        let i = Step::ORDER.iter().position(|x| *x == s).unwrap_or(0);
        Step::ORDER[i + 1..]
            .iter()
            .copied()
            .find(|x| x.applies(&self.draft, self.inv))
            .unwrap_or(Step::Done)
    }

    /// The answer file to save, checked to read back as the same answer with the same plan.
    pub fn answer_file(&self) -> Result<String, String> {
        let answer = self.answer();
        finish::answer_file(
            &answer,
            draft::node_index(&self.draft),
            self.inv,
            &self.services,
        )
    }

    /// Saving failed (say, a read-only stick): ask where to save again, saying why.
    pub fn save_failed(&mut self, reason: String) {
        self.step = Step::SaveTarget;
        self.notice = Some(reason);
    }

    /// A reason to show with the next question that did not come from a reply.
    pub fn take_notice(&mut self) -> Option<String> {
        self.notice.take()
    }

    /// Back to the previous question. Not past the erase confirmation: once it is typed,
    /// the disks may already be in use.
    pub fn back(&mut self) -> Result<(), Reask> {
        if self.draft.confirmed {
            return Err(Reask(
                "the erase confirmation was given; there is no going back from here".into(),
            ));
        }
        match self.history.pop() {
            Some(s) => {
                self.step = s;
                Ok(())
            }
            None => Err(Reask("this is the first question".into())),
        }
    }
}

/// Whether issue path `p` is `prefix` or lies under it.
fn under(p: &str, prefix: &str) -> bool {
    p == prefix
        || p.strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

// Reply accessors shared by the steps: each says what kind of reply it wanted.
impl Reply {
    fn text(self) -> Result<String, String> {
        match self {
            Reply::Text(t) => Ok(t.trim().to_string()),
            _ => Err("expected a line of text".into()),
        }
    }
    fn choice(self, n: usize) -> Result<usize, String> {
        match self {
            Reply::Choice(i) if i < n => Ok(i),
            _ => Err("expected one of the choices".into()),
        }
    }
    fn choices(self, n: usize) -> Result<Vec<usize>, String> {
        match self {
            Reply::Choices(v) if v.iter().all(|i| *i < n) => Ok(v),
            _ => Err("expected some of the choices".into()),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
