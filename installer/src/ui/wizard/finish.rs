//! The end: the plan's summary, the typed erase confirmation that names the disks, and
//! saving the answer so the node (or its peer) can be installed unattended.

use super::draft::Draft;
use super::{disks, Kind, Reply, Services};
use crate::answer::{self, Answer, Issue, NodeHint, Size};
use crate::hardware::Inventory;
use std::path::{Path, PathBuf};

type Shown = (String, Vec<String>, Kind);

pub const CONTINUE: &str = "continue: confirm erasing the disks";
pub const BACK: &str = "back: change an answer";

pub fn summary_prompt(summary: Result<String, Vec<Issue>>) -> Shown {
    match summary {
        Ok(text) => (
            "Summary: this is what will be done".into(),
            text.lines().map(String::from).collect(),
            Kind::Select {
                items: vec![CONTINUE.into(), BACK.into()],
                default: 0,
            },
        ),
        Err(issues) => {
            let mut body = vec!["These answers cannot be installed:".to_string()];
            body.extend(
                issues
                    .iter()
                    .map(|i| format!("  {}: {}", i.path, i.message)),
            );
            (
                "Summary: problems to fix".into(),
                body,
                Kind::Select {
                    items: vec![BACK.into()],
                    default: 0,
                },
            )
        }
    }
}

/// Whether the summary's reply moves on (true) or goes back (false).
pub fn summary_continues(summary_ok: bool, reply: &Reply) -> bool {
    summary_ok && matches!(reply, Reply::Choice(0))
}

/// The exact text that confirms erasing: "erase" and the chosen disks' names.
pub fn confirmation_text(d: &Draft, inv: &Inventory) -> String {
    crate::plan::erase_phrase(disks::chosen(d, inv).iter().map(|x| x.name.as_str()))
}

pub fn confirm_prompt(d: &Draft, inv: &Inventory) -> Shown {
    let text = confirmation_text(d, inv);
    let mut body = vec!["Everything on these disks will be lost:".to_string()];
    for x in disks::chosen(d, inv) {
        body.push(format!(
            "  {:<9} {:>10}  {} {}  now: {}",
            x.name,
            Size(x.size_bytes).human(),
            x.model.as_deref().unwrap_or("-"),
            x.serial.as_deref().unwrap_or("-"),
            disks::contents(x)
        ));
    }
    body.push(String::new());
    body.push(format!("To go on, type exactly: {text}"));
    body.push(
        "Anything else asks again; \"<\" goes back; Ctrl-C quits with nothing written.".into(),
    );
    (
        format!("Type \"{text}\""),
        body,
        Kind::Input { default: None },
    )
}

pub fn confirm_apply(d: &mut Draft, inv: &Inventory, reply: Reply) -> Result<(), String> {
    let want = confirmation_text(d, inv);
    let got = reply.text()?;
    // Exact text, single spaces: a confirmation is not something to be lenient about.
    if got != want {
        return Err(format!(
            "not confirmed: you typed {got:?}; to erase, type exactly \"{want}\""
        ));
    }
    d.confirmed = true;
    Ok(())
}

/// Where the answer can be saved: the `--save-answer` path, a file on each mounted USB
/// stick, another path, or nowhere.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Path(PathBuf),
    Other,
    Nowhere,
}

pub const FILE_NAME: &str = "tandem-answer.toml";

pub fn targets(d: &Draft, inv: &Inventory) -> Vec<(Target, String)> {
    let mut v = Vec::new();
    if let Some(p) = &d.save_default {
        v.push((Target::Path(p.clone()), format!("save to {}", p.display())));
    }
    for x in inv
        .disks
        .iter()
        .filter(|x| x.removable && !x.boot_medium && !x.read_only)
    {
        for m in &x.mounts {
            let p = Path::new(m).join(FILE_NAME);
            v.push((
                Target::Path(p.clone()),
                format!(
                    "save to {} (USB stick {}, {})",
                    p.display(),
                    x.name,
                    x.model.as_deref().unwrap_or("-")
                ),
            ));
        }
    }
    v.push((Target::Other, "save to another path".into()));
    v.push((Target::Nowhere, "do not save".into()));
    v
}

pub fn save_target_prompt(d: &Draft, inv: &Inventory) -> Shown {
    (
        "Save the answer file?".into(),
        vec![
            "The saved file installs this node again, or its peer, without questions".into(),
            "(`tandem validate --answer FILE` checks it). It holds the password hash, so it".into(),
            "is written with mode 0600.".into(),
        ],
        Kind::Select {
            items: targets(d, inv).into_iter().map(|(_, t)| t).collect(),
            default: 0,
        },
    )
}

pub fn save_target_apply(d: &mut Draft, inv: &Inventory, reply: Reply) -> Result<(), String> {
    let t = targets(d, inv);
    let (target, _) = &t[reply.choice(t.len())?];
    d.save_other = *target == Target::Other;
    d.save_to = match target {
        Target::Path(p) => Some(p.clone()),
        _ => None,
    };
    Ok(())
}

pub fn save_path_prompt(d: &Draft) -> Shown {
    (
        "Path of the answer file".into(),
        vec![],
        Kind::Input {
            default: d.save_to.as_ref().map(|p| p.display().to_string()),
        },
    )
}

pub fn save_path_apply(d: &mut Draft, reply: Reply) -> Result<(), String> {
    let t = reply.text()?;
    if t.is_empty() {
        return Err("a path is needed, e.g. /root/tandem-answer.toml".into());
    }
    d.save_to = Some(PathBuf::from(t));
    Ok(())
}

/// The answer as the TOML file the wizard saves, checked to read back as the same answer,
/// to pass validation and to give the same plan summary.
pub fn answer_file(
    answer: &Answer,
    node: Option<usize>,
    inv: &Inventory,
    services: &Services<'_>,
) -> Result<String, String> {
    let body = toml::to_string(answer).map_err(|e| format!("cannot write the answer: {e}"))?;
    let text = format!(
        "# Tandem answer file written by `tandem wizard`.\n\
         # Check it with `tandem validate --answer FILE`.\n\n{body}"
    );
    let back = answer::load("saved answer", &text, &NodeHint::default())
        .map_err(|e| format!("the saved answer does not read back: {e}"))?;
    let order = |a: &Answer| a.storage.volumes.keys().cloned().collect::<Vec<_>>();
    // IndexMap's == ignores order, and the volumes' order is part of the answer.
    if back.answer != *answer || order(&back.answer) != order(answer) || back.node != node {
        return Err("the saved answer reads back as a different answer".into());
    }
    let issues = (services.validate)(&back.answer, back.node, inv);
    if !issues.is_empty() {
        let v: Vec<String> = issues
            .iter()
            .map(|i| format!("{}: {}", i.path, i.message))
            .collect();
        return Err(format!(
            "the saved answer does not validate: {}",
            v.join("; ")
        ));
    }
    let before = (services.summarize)(answer, node, inv);
    let after = (services.summarize)(&back.answer, back.node, inv);
    if let Err(issues) = &before {
        let v: Vec<String> = issues
            .iter()
            .map(|i| format!("{}: {}", i.path, i.message))
            .collect();
        return Err(format!("the answer cannot be planned: {}", v.join("; ")));
    }
    if before != after {
        return Err("the saved answer gives a different plan".into());
    }
    Ok(text)
}
