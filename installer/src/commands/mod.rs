//! What each `tandem` command does, given its parsed arguments: `cli` only dispatches here
//! (and to `node` and `drbdctl` for the installed node's commands).

pub mod detect;
pub mod esp_sync;
pub mod install;

use crate::error::InputError;
use crate::session::{self, Prepared};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// `tandem validate`: every node of the file (or the one named), against the inventory
/// when given.
pub fn validate(answer: &Path, hardware: Option<&Path>, node: Option<String>) -> Result<()> {
    let inv = hardware.map(session::read_inventory).transpose()?;
    for (name, _loaded) in session::validate_answers(answer, node, inv.as_ref())? {
        match name {
            Some(n) => println!("{}: node {n}: valid", answer.display()),
            None => println!("{}: valid", answer.display()),
        }
    }
    Ok(())
}

/// `tandem schema`.
pub fn schema() -> Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(&crate::answer::schema())?
    );
    Ok(())
}

/// `tandem plan`.
pub fn plan(answer: &Path, hardware: &Path, node: Option<String>, json: bool) -> Result<()> {
    let inv = session::read_inventory(hardware)?;
    let loaded = session::load_one(answer, node, &inv)?;
    let plan = session::plan_loaded(&loaded, &inv)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
    } else {
        print!("{plan}");
    }
    Ok(())
}

/// `tandem render`: the files of one node, under `out`.
pub fn render(answer: &Path, hardware: &Path, node: Option<String>, out: &Path) -> Result<()> {
    let inv = session::read_inventory(hardware)?;
    let prepared = Prepared::preview(answer, node, &inv, |res| {
        eprintln!(
            "tandem render: warning: drbd resource {res} has secret = \"generate\"; \
             this preview uses a random secret. Peers must share one secret: \
             `tandem prepare` writes one into the answer file."
        )
    })?;
    crate::exec::tree::write_tree(out, &prepared.files)?;
    println!("{}: {} files written", out.display(), prepared.files.len());
    Ok(())
}

/// `tandem prepare`.
pub fn prepare(answers: &[PathBuf], output: Option<&Path>) -> Result<()> {
    if output.is_some() && answers.len() != 1 {
        return Err(InputError::Other(
            "--output goes with a single --answer; several files are prepared in place".into(),
        )
        .into());
    }
    for line in crate::prepare::prepare_files(answers, output)? {
        println!("{line}");
    }
    Ok(())
}

/// `tandem wizard`: on an inventory from a file, or this machine as detected now.
pub fn wizard(hardware: Option<&Path>, save_answer: Option<PathBuf>) -> Result<()> {
    let (inv, source) = match hardware {
        Some(h) => (
            session::read_inventory(h)?,
            format!("the inventory {}", h.display()),
        ),
        None => {
            let mut inv = crate::hardware::detect(Path::new("/"))
                .context("detecting this machine's hardware")?;
            crate::ui::measure_speed(&mut inv);
            (inv, "this machine".to_string())
        }
    };
    crate::ui::run_wizard(&inv, &source, save_answer)
}
