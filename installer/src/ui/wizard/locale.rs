//! Keyboard layout, locale and time zone. Their spelling is the validator's business; the
//! wizard offers the answer file's defaults.

use super::draft::{with_model_defaults, Draft};
use super::{Kind, Reply};
use crate::answer::System;

type Shown = (String, Vec<String>, Kind);

fn defaults() -> System {
    with_model_defaults("domain = \"\"")
}

pub fn keyboard(d: &Draft) -> String {
    d.keyboard.clone().unwrap_or_else(|| defaults().keyboard)
}
pub fn locale(d: &Draft) -> String {
    d.locale.clone().unwrap_or_else(|| defaults().locale)
}
pub fn timezone(d: &Draft) -> String {
    d.timezone.clone().unwrap_or_else(|| defaults().timezone)
}

fn input(title: &str, body: &[&str], default: String) -> Shown {
    (
        title.into(),
        body.iter().map(|s| s.to_string()).collect(),
        Kind::Input {
            default: Some(default),
        },
    )
}

pub fn keyboard_prompt(d: &Draft) -> Shown {
    input(
        "Console keyboard layout",
        &["XKB layouts, comma-separated: \"us\", \"de\", \"us,ru\" (the first is the default)."],
        keyboard(d),
    )
}

pub fn locale_prompt(d: &Draft) -> Shown {
    input(
        "Default locale",
        &[
            "For example en_US.UTF-8, de_DE.UTF-8, ru_RU.UTF-8.",
            "en_US.UTF-8 is always generated too.",
        ],
        locale(d),
    )
}

pub fn timezone_prompt(d: &Draft) -> Shown {
    input(
        "Time zone",
        &["An IANA zone: UTC, Europe/Berlin, America/New_York, Asia/Tokyo."],
        timezone(d),
    )
}

fn one_word(reply: Reply, what: &str) -> Result<String, String> {
    let t = reply.text()?;
    if t.is_empty() || t.contains(char::is_whitespace) {
        return Err(format!(
            "{what} is one word without spaces, e.g. the default shown"
        ));
    }
    Ok(t)
}

pub fn keyboard_apply(d: &mut Draft, reply: Reply) -> Result<(), String> {
    d.keyboard = Some(one_word(reply, "a keyboard layout list")?);
    Ok(())
}
pub fn locale_apply(d: &mut Draft, reply: Reply) -> Result<(), String> {
    d.locale = Some(one_word(reply, "a locale")?);
    Ok(())
}
pub fn timezone_apply(d: &mut Draft, reply: Reply) -> Result<(), String> {
    d.timezone = Some(one_word(reply, "a time zone")?);
    Ok(())
}
