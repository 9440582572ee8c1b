//! Asks the wizard's questions on the terminal with dialoguer. No decisions here: every
//! reply goes to the wizard, which moves on or says why it asks again.

use super::wizard::{Kind, Outcome, Prompt, Reply, Step, Wizard};
use dialoguer::console::{style, Term};
use dialoguer::theme::SimpleTheme;
use dialoguer::{Input, MultiSelect, Password, Select};
use zeroize::Zeroizing;

use crate::error::Aborted;

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
    let width = usize::from(term.size().1);
    let head = format!(
        "Tandem installer  [{n}/{}]  {}",
        Step::ORDER.len() - 1,
        p.title
    );
    term.write_line(&format!("{}", style(fit(&head, width, 0)).bold()))?;
    term.write_line("")?;
    for l in &p.body {
        term.write_line(&fit(l, width, 0))?;
    }
    if let Some(r) = reason {
        term.write_line("")?;
        for (i, l) in r.lines().enumerate() {
            let head = if i == 0 { "! " } else { "  " };
            let l = fit(&format!("{head}{l}"), width, 0);
            term.write_line(&format!("{}", style(l).red()))?;
        }
    }
    term.write_line("")
}

/// Breaks a line that is wider than the terminal at spaces, continuation lines indented.
/// A line the terminal wraps by itself confuses dialoguer, which counts the lines it has
/// drawn by their newlines to redraw a list in place: on an 80-column serial console every
/// key press would leave a copy of the list behind. `prefix` is how much the prompt puts
/// before an item ("> [x] ").
pub fn fit(line: &str, width: usize, prefix: usize) -> String {
    const INDENT: usize = 4;
    let limit = width.saturating_sub(prefix + 1).max(20);
    let mut out = String::new();
    let mut rest = line.trim_end();
    let mut first = true;
    loop {
        let room = if first { limit } else { limit - INDENT };
        if !first {
            out.push('\n');
            out.push_str(&" ".repeat(INDENT));
        }
        let chars: Vec<(usize, char)> = rest.char_indices().collect();
        if chars.len() <= room {
            out.push_str(rest);
            return out;
        }
        // The last space that leaves the piece within the room; none: cut hard.
        let cut = chars[..=room]
            .iter()
            .rev()
            .find(|(_, c)| *c == ' ')
            .map(|(i, _)| *i)
            .filter(|i| !rest[..*i].trim().is_empty())
            .unwrap_or(chars[room].0);
        out.push_str(rest[..cut].trim_end());
        rest = rest[cut..].trim_start();
        first = false;
        if rest.is_empty() {
            return out;
        }
    }
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
    let width = usize::from(term.size().1);
    // SimpleTheme draws "> " before a list item and "> [x] " before a multi-choice item.
    let fit_all = |items: &[String], prefix| -> Vec<String> {
        items.iter().map(|i| fit(i, width, prefix)).collect()
    };
    let nav = "(Esc goes back)";
    Ok(Ok(match &p.kind {
        Kind::Select { items, default } => Select::with_theme(&theme)
            .with_prompt(format!("{} {nav}", p.title))
            .items(fit_all(items, 2))
            .default(*default)
            .interact_on_opt(term)
            .map_err(io)?
            .map_or(Reply::Back, Reply::Choice),
        Kind::MultiSelect { items, checked } => MultiSelect::with_theme(&theme)
            .with_prompt(format!("{} {nav}", p.title))
            .items(fit_all(items, 6))
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

#[cfg(test)]
mod tests {
    use super::fit;

    #[test]
    fn fit_breaks_wide_lines_at_spaces_and_indents() {
        let row =
            "vda         20.0 GiB  QEMU HARDDISK         tandem-disk0      virtio         -  empty";
        let f = fit(row, 80, 6);
        let lines: Vec<&str> = f.lines().collect();
        assert_eq!(lines.len(), 2, "{f:?}");
        assert!(lines.iter().all(|l| l.chars().count() + 6 < 80), "{f:?}");
        assert!(
            lines[0].starts_with("vda") && lines[0].ends_with("virtio"),
            "{f:?}"
        );
        assert_eq!(lines[1], "    -  empty");
        // Narrow lines stay as they are; a wide terminal needs no break.
        assert_eq!(fit("raid1   usable 8 GiB", 80, 2), "raid1   usable 8 GiB");
        assert_eq!(fit(row, 200, 6), row);
        // A word longer than the line is cut, never lost.
        let long = "x".repeat(100);
        assert_eq!(fit(&long, 80, 0).replace(['\n', ' '], ""), long);
    }
}
