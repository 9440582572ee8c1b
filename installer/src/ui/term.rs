//! Asks the wizard's questions on the terminal with dialoguer. No decisions here: every
//! reply goes to the wizard, which moves on or says why it asks again.

use super::wizard::{Kind, Outcome, Prompt, Reply, Step, Wizard};
use dialoguer::console::{style, Term};
use dialoguer::theme::SimpleTheme;
use dialoguer::{Input, MultiSelect, Password, Select};
use zeroize::Zeroizing;

/// The user quit (Ctrl-C) before the erase confirmation: nothing was written.
#[derive(Debug, thiserror::Error)]
#[error("aborted, nothing written")]
pub struct Aborted;

/// What typed alone on a text question goes back one question.
pub const BACK: &str = "<";

/// Runs the wizard to its end. Ctrl-C in a prompt gives `Aborted`.
pub fn run(w: &mut Wizard<'_>) -> anyhow::Result<Outcome> {
    let term = Term::stderr();
    let mut reason = w.take_notice();
    loop {
        if let Some(o) = w.outcome() {
            return Ok(o);
        }
        let p = w.prompt();
        let _ = term.clear_screen();
        show(&term, &p, reason.take())?;
        match ask(&term, &p)? {
            Ok(reply) => {
                if let Err(r) = w.reply(reply) {
                    reason = Some(r.0);
                }
            }
            Err(r) => reason = Some(r),
        }
    }
}

fn show(term: &Term, p: &Prompt, reason: Option<String>) -> std::io::Result<()> {
    let n = Step::ORDER.iter().position(|s| *s == p.step).unwrap_or(0) + 1;
    term.write_line(&format!(
        "{}",
        style(format!(
            "Tandem installer  [{n}/{}]  {}",
            Step::ORDER.len() - 1,
            p.title
        ))
        .bold()
    ))?;
    term.write_line("")?;
    for l in &p.body {
        term.write_line(l)?;
    }
    if let Some(r) = reason {
        term.write_line("")?;
        for (i, l) in r.lines().enumerate() {
            let head = if i == 0 { "! " } else { "  " };
            term.write_line(&format!("{}", style(format!("{head}{l}")).red()))?;
        }
    }
    term.write_line("")
}

/// Maps dialoguer's Ctrl-C (an interrupted read) to `Aborted`.
fn io(e: dialoguer::Error) -> anyhow::Error {
    let dialoguer::Error::IO(e) = e;
    if e.kind() == std::io::ErrorKind::Interrupted {
        let _ = Term::stderr().show_cursor();
        Aborted.into()
    } else {
        anyhow::Error::new(e).context("terminal")
    }
}

/// The reply, or a reason to ask again that the terminal layer found (an unreadable file).
fn ask(term: &Term, p: &Prompt) -> anyhow::Result<Result<Reply, String>> {
    let theme = SimpleTheme;
    let nav = "(Esc goes back)";
    Ok(Ok(match &p.kind {
        Kind::Select { items, default } => Select::with_theme(&theme)
            .with_prompt(format!("{} {nav}", p.title))
            .items(items)
            .default(*default)
            .interact_on_opt(term)
            .map_err(io)?
            .map_or(Reply::Back, Reply::Choice),
        Kind::MultiSelect { items, checked } => MultiSelect::with_theme(&theme)
            .with_prompt(format!("{} {nav}", p.title))
            .items(items)
            .defaults(checked)
            .interact_on_opt(term)
            .map_err(io)?
            .map_or(Reply::Back, Reply::Choices),
        Kind::Input { default } => {
            let mut i = Input::<String>::with_theme(&theme)
                .with_prompt(format!("{} (\"{BACK}\" goes back)", p.title))
                .allow_empty(true);
            if let Some(d) = default {
                i = i.default(d.clone());
            }
            let t = i.interact_text_on(term).map_err(io)?;
            if t.trim() == BACK {
                Reply::Back
            } else if p.step == Step::SshKeys && t.trim().starts_with('/') {
                // A path to a file of keys (a USB stick's authorized_keys): its contents
                // are the reply.
                match std::fs::read_to_string(t.trim()) {
                    Ok(keys) => Reply::Text(keys),
                    Err(e) => return Ok(Err(format!("cannot read {}: {e}", t.trim()))),
                }
            } else {
                Reply::Text(t)
            }
        }
        Kind::Password => {
            let first = Zeroizing::new(
                Password::with_theme(&theme)
                    .with_prompt(p.title.clone())
                    .allow_empty_password(true)
                    .interact_on(term)
                    .map_err(io)?,
            );
            if first.as_str() == BACK {
                return Ok(Ok(Reply::Back));
            }
            let second = Zeroizing::new(
                Password::with_theme(&theme)
                    .with_prompt("Repeat it")
                    .allow_empty_password(true)
                    .interact_on(term)
                    .map_err(io)?,
            );
            Reply::Password(first, second)
        }
    }))
}
