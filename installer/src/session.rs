//! The session: an answer file read, resolved to the node it is for, validated, planned
//! and rendered, once, for every command that needs it (`validate`, `plan`, `render`,
//! `detect --match`, `install`, the wizard, `tandem-image embed-answer`). Every problem of
//! the input comes back as one [`InputError`] (exit code 2) placed in the file at
//! line:column; nothing here touches a disk.

use crate::answer::{self, Answer, Diagnostic, Document, Issue, Loaded, NodeHint};
use crate::error::InputError;
use crate::hardware::Inventory;
use crate::plan::Plan;
use crate::render::{self, RenderedFile, Secrets};
use crate::validate;
use anyhow::Result;
use std::path::Path;

/// One node's answer made ready for writing: validated, planned, its files rendered with
/// the secrets they will carry.
pub struct Prepared {
    pub loaded: Loaded,
    pub plan: Plan,
    pub secrets: Secrets,
    pub files: Vec<RenderedFile>,
    /// The answer's warnings, placed in the file, for the caller to show.
    pub warnings: Vec<Diagnostic>,
}

impl Prepared {
    pub fn answer(&self) -> &Answer {
        &self.loaded.answer
    }

    /// `tandem render`'s preview of one node: a secret the answer leaves to "generate" is a
    /// random one, and `generated` is told which resource's.
    pub fn preview(
        path: &Path,
        node: Option<String>,
        inv: &Inventory,
        mut generated: impl FnMut(&str),
    ) -> Result<Prepared> {
        let loaded = load_one(path, node, inv)?;
        let plan = plan_loaded(&loaded, inv)?;
        let secrets = Secrets::from_answer(&loaded.answer, |res| {
            generated(res);
            preview_secret()
        });
        let files = render::all(&loaded.answer, &plan, &secrets);
        Ok(Prepared {
            loaded,
            plan,
            secrets,
            files,
            warnings: vec![],
        })
    }

    /// The install's answer (`name` is where it was found, for the messages): the node
    /// `hint` names or this machine's MACs find, validated with the install's own checks
    /// too (no secret left to generate: peers must share theirs), planned, rendered.
    pub fn for_install(
        name: &str,
        text: &str,
        hint: &NodeHint,
        inv: &Inventory,
    ) -> Result<Prepared> {
        let doc = Document::parse(name, text).map_err(InputError::from)?;
        let loaded = doc.resolve(hint).map_err(InputError::from)?;
        let answer = &loaded.answer;
        let mut issues = validate::validate(answer, loaded.node, Some(inv));
        issues.extend(validate::check_for_install(answer));
        let plan = if issues.is_empty() {
            plan_for(answer, loaded.node, inv).map_err(|mut p| issues.append(&mut p))
        } else {
            Err(())
        };
        let Ok(plan) = plan else {
            return Err(InputError::Answer(loaded.map.diagnostics(issues)).into());
        };
        let warnings = loaded
            .map
            .diagnostics(validate::warnings(answer, Some(inv)))
            .0;
        // check_for_install refused "generate": every secret is in the answer.
        let secrets = Secrets::from_answer(answer, |_| String::new());
        let files = render::all(answer, &plan, &secrets);
        Ok(Prepared {
            loaded,
            plan,
            secrets,
            files,
            warnings,
        })
    }
}

/// Plans one node, with the renderers' list of the files it writes.
pub fn plan_for(answer: &Answer, node: Option<usize>, inv: &Inventory) -> Result<Plan, Vec<Issue>> {
    crate::plan::build(answer, node, inv, render::listing)
}

/// Plans a loaded node; the planner's issues are placed in the answer file like
/// validation's.
pub fn plan_loaded(loaded: &Loaded, inv: &Inventory) -> Result<Plan> {
    plan_for(&loaded.answer, loaded.node, inv)
        .map_err(|issues| InputError::from(loaded.map.diagnostics(issues)).into())
}

/// Loads and validates the answer for the one node this hardware is: `plan` and `render`
/// refuse what `validate` refuses, with the same messages.
pub fn load_one(path: &Path, node: Option<String>, inv: &Inventory) -> Result<Loaded> {
    validate_answers(path, node, Some(inv))?
        .into_iter()
        .next()
        .map(|(_, l)| l)
        .ok_or_else(|| InputError::Other(format!("{}: no node to plan", path.display())).into())
}

/// A random secret for previews, from the kernel's CSPRNG.
fn preview_secret() -> String {
    let mut b = [0u8; 24];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut b);
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Loads an answer (every node of a cluster file, unless one is named) and validates each,
/// against `inv` when given. All problems of all nodes come back as one `InputError`; a
/// problem that only some nodes of a cluster file have names the node.
pub fn validate_answers(
    path: &Path,
    node: Option<String>,
    inv: Option<&Inventory>,
) -> Result<Vec<(Option<String>, Loaded)>> {
    let loaded = load_answers(path, node, inv)?;
    let per_node: Vec<Vec<answer::Diagnostic>> = loaded
        .iter()
        .map(|(_, l)| {
            let mut issues = validate::validate(&l.answer, l.node, inv);
            // A valid answer is also planned against the hardware: capacity and layout
            // problems are the planner's to find.
            if let (true, Some(inv)) = (issues.is_empty(), inv) {
                if let Err(mut p) = plan_for(&l.answer, l.node, inv) {
                    issues.append(&mut p);
                }
            }
            l.map.diagnostics(issues).0
        })
        .collect();
    let mut all: Vec<answer::Diagnostic> = Vec::new();
    for (i, diags) in per_node.iter().enumerate() {
        for d in diags {
            let everywhere = per_node.iter().all(|o| o.contains(d));
            if everywhere {
                if i == 0 {
                    all.push(d.clone());
                }
            } else {
                let mut d = d.clone();
                if let Some(n) = &loaded[i].0 {
                    d.message = format!("node {n}: {}", d.message);
                }
                all.push(d);
            }
        }
    }
    all.extend(cross_node_diagnostics(path));
    let mut warnings: Vec<answer::Diagnostic> = loaded
        .iter()
        .flat_map(|(_, l)| l.map.diagnostics(validate::warnings(&l.answer, inv)).0)
        .collect();
    warnings.sort_by_key(|d| (d.line, d.column));
    warnings.dedup();
    for w in &warnings {
        eprintln!("tandem: warning: {w}");
    }
    if all.is_empty() {
        return Ok(loaded);
    }
    all.sort_by_key(|d| (d.line, d.column));
    all.dedup();
    Err(InputError::Answer(answer::Diagnostics(all)).into())
}

/// What the nodes of one cluster file must agree on (DRBD peers), each node resolved with
/// its overrides, whichever node this validation is for. A node that does not resolve is
/// left to the per-node checks.
fn cross_node_diagnostics(path: &Path) -> Vec<answer::Diagnostic> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return vec![];
    };
    let Ok(doc) = answer::Document::parse(&path.display().to_string(), &text) else {
        return vec![];
    };
    let mut nodes = Vec::new();
    for n in doc.node_names() {
        let hint = NodeHint {
            name: Some(n.clone()),
            macs: vec![],
        };
        match doc.resolve(&hint) {
            Ok(l) => nodes.push((n, l)),
            Err(_) => return vec![],
        }
    }
    let answers: Vec<(String, answer::Answer)> = nodes
        .iter()
        .map(|(n, l)| (n.clone(), l.answer.clone()))
        .collect();
    validate::drbd_across_nodes(&answers)
        .into_iter()
        .flat_map(|(j, issue)| {
            let (name, l) = &nodes[j];
            l.map
                .diagnostics(vec![issue])
                .0
                .into_iter()
                .map(move |mut d| {
                    d.message = format!("node {name}: {}", d.message);
                    d
                })
        })
        .collect()
}

/// Reads `--hardware`: a file that is not a readable, well-formed and possible inventory
/// is bad input (exit 2), named with every problem.
pub fn read_inventory(path: &Path) -> Result<Inventory> {
    let bytes = std::fs::read(path).map_err(|e| {
        InputError::Other(format!(
            "{}: cannot read the hardware inventory: {e}",
            path.display()
        ))
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        InputError::Other(format!(
            "{}: invalid hardware inventory: not UTF-8 text (byte {})",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
    })?;
    let inv = Inventory::from_json(&text).map_err(|e| {
        InputError::Other(format!(
            "{}:{}:{}: invalid hardware inventory: {e}",
            path.display(),
            e.line(),
            e.column()
        ))
    })?;
    let problems = inv.problems();
    if !problems.is_empty() {
        return Err(InputError::Other(
            problems
                .iter()
                .map(|p| format!("{}: invalid hardware inventory: {p}", path.display()))
                .collect::<Vec<_>>()
                .join("\n"),
        )
        .into());
    }
    Ok(inv)
}

/// Loads an answer for one node, or for every node of a cluster file when none is named
/// and the inventory cannot tell.
pub fn load_answers(
    path: &Path,
    node: Option<String>,
    inv: Option<&Inventory>,
) -> Result<Vec<(Option<String>, Loaded)>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError::Other(format!("{}: cannot read: {e}", path.display())))?;
    let file = path.display().to_string();
    let doc = answer::Document::parse(&file, &text).map_err(InputError::from)?;
    let macs = inv
        .map(|i| i.physical_nics().map(|n| n.hw_mac().clone()).collect())
        .unwrap_or_default();
    let single = NodeHint {
        name: node.clone(),
        macs,
    };
    let names = doc.node_names();
    let has_hostname = text_has_hostname(&doc, &single);
    let hints: Vec<NodeHint> =
        if node.is_some() || inv.is_some() || names.is_empty() || has_hostname {
            vec![single]
        } else {
            names
                .iter()
                .map(|n| NodeHint {
                    name: Some(n.clone()),
                    macs: vec![],
                })
                .collect()
        };
    let mut out = Vec::new();
    for h in hints {
        let loaded = doc.resolve(&h).map_err(InputError::from)?;
        let name = loaded.node.and_then(|i| {
            loaded
                .answer
                .cluster
                .as_ref()
                .map(|c| c.nodes[i].name.clone())
        });
        out.push((name, loaded));
    }
    Ok(out)
}

fn text_has_hostname(doc: &answer::Document, hint: &NodeHint) -> bool {
    // A file that names its own host resolves without a hint.
    doc.resolve(&NodeHint {
        name: None,
        macs: hint.macs.clone(),
    })
    .map(|l| l.node.is_none() || !l.answer.system.hostname.is_empty())
    .unwrap_or(false)
}
