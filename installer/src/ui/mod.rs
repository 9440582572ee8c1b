//! The interactive front end. `wizard` is the pure logic (steps, defaults, choices, parsing);
//! `term` is the thin layer that asks the questions on a terminal.

pub mod term;
pub mod wizard;

use crate::answer::{Answer, Issue};
use crate::hardware::Inventory;
use anyhow::Result;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use wizard::{Services, Wizard};

/// The validator, on the machine the wizard runs for.
pub(crate) fn validate_answer(answer: &Answer, node: Option<usize>, inv: &Inventory) -> Vec<Issue> {
    crate::validate::validate(answer, node, Some(inv))
}

/// The plan's summary, the text `tandem plan` prints.
pub(crate) fn summarize_answer(
    answer: &Answer,
    node: Option<usize>,
    inv: &Inventory,
) -> std::result::Result<String, Vec<Issue>> {
    crate::session::plan_for(answer, node, inv).map(|p| p.to_string())
}

/// Before the wizard shows the live machine's disks: a short read of each
/// ([`Budget::QUICK`], reads only), so the disk table can show speeds and point out a
/// disk much slower than its peers. An inventory from a file keeps what it was captured
/// with.
pub fn measure_speed(inv: &mut Inventory) {
    use crate::hardware::speed::{measure_disks, Budget};
    let budget = Budget::QUICK;
    eprintln!(
        "Measuring each disk's read speed (reads only, at most {} MiB or {} s per disk)...",
        budget.bytes >> 20,
        budget.time.as_secs()
    );
    measure_disks(&mut inv.disks, budget, |d, r| match r {
        Ok(r) => eprintln!("  {:<9} {:.0} MB/s", d.name, r.mbps()),
        Err(e) => eprintln!("  {:<9} not measured: {e:#}", d.name),
    });
}

/// The services the binary runs the wizard with.
pub fn services() -> Services<'static> {
    Services {
        validate: &validate_answer,
        summarize: &summarize_answer,
    }
}

/// Runs the wizard on `inv` and saves the answer where the user agrees to; returns the
/// saved file and whether the erase confirmation was typed (None: not saved).
pub fn ask(inv: &Inventory, save_answer: Option<PathBuf>) -> Result<Option<(PathBuf, bool)>> {
    // A Ctrl-C outside a prompt's raw mode (the password prompts, between prompts) ends
    // the process here; inside a prompt dialoguer reports it and `term` turns it into
    // `Aborted`. Either way nothing has been written: the only write is the final save.
    // The password prompt turns echo off; the terminal's settings from before are put
    // back so the shell after us is usable.
    let tty_before = nix::sys::termios::tcgetattr(std::io::stdin()).ok();
    ctrlc::set_handler(move || {
        if let Some(t) = &tty_before {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                t,
            );
        }
        let _ = dialoguer::console::Term::stderr().show_cursor();
        // After the wizard (`tandem install` goes on to write the disks) "nothing written"
        // would be a lie: an interrupt is then only an interrupt.
        if ASKING.load(Ordering::SeqCst) {
            eprintln!("\n{}", crate::error::Aborted);
        } else {
            eprintln!("\ntandem: interrupted");
        }
        std::process::exit(130);
    })?;
    ASKING.store(true, Ordering::SeqCst);
    let asked = ask_and_save(inv, save_answer);
    ASKING.store(false, Ordering::SeqCst);
    asked
}

/// True while the wizard is asking (nothing written yet).
static ASKING: AtomicBool = AtomicBool::new(false);

fn ask_and_save(inv: &Inventory, save_answer: Option<PathBuf>) -> Result<Option<(PathBuf, bool)>> {
    let mut w = Wizard::new(inv, services(), save_answer);
    let mut saved = None;
    loop {
        let outcome = term::run(&mut w)?;
        let Some(path) = outcome.save_to else {
            eprintln!("The answer was not saved.");
            break;
        };
        match w.answer_file().and_then(|text| {
            crate::answer::write_private(&path, &text)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))
        }) {
            Ok(()) => {
                eprintln!("Saved the answer file to {}.", path.display());
                saved = Some((path, w.confirmed()));
                break;
            }
            Err(e) => w.save_failed(e),
        }
    }
    Ok(saved)
}

/// `tandem wizard`: asks, confirms, and saves the answer. Nothing on the machine is
/// touched (`tandem install` is what installs).
pub fn run_wizard(inv: &Inventory, source: &str, save_answer: Option<PathBuf>) -> Result<()> {
    ask(inv, save_answer)?;
    eprintln!("Dry run on {source}: no disk was erased, nothing was installed.");
    Ok(())
}
