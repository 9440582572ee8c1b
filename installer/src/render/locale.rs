//! Locale, keyboard, console font and time zone files (the seed's Cyrillic console).

use super::{RenderedFile, HEADER};
use crate::answer::Answer;
use std::fmt::Write as _;

/// The locale always generated beside the answer's, so tools that want English find it.
pub const FALLBACK_LOCALE: &str = "en_US.UTF-8";

/// Locales to generate, as /etc/locale.gen lines ("ru_RU.UTF-8 UTF-8").
pub fn locale_gen_lines(answer: &Answer) -> Vec<String> {
    let mut v: Vec<&str> = vec![FALLBACK_LOCALE];
    if answer.system.locale != FALLBACK_LOCALE {
        v.push(&answer.system.locale);
    }
    v.iter()
        .map(|l| {
            let charset = l.split_once('.').map(|(_, c)| c).unwrap_or("UTF-8");
            format!("{l} {charset}")
        })
        .collect()
}

/// XKB layouts, e.g. ["us", "ru"].
pub fn layouts(answer: &Answer) -> Vec<String> {
    answer
        .system
        .keyboard
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Alt+Shift switches layouts when there are several (Debian's usual choice for us,ru).
pub const LAYOUT_TOGGLE: &str = "grp:alt_shift_toggle";

fn xkb_options(answer: &Answer) -> String {
    if layouts(answer).len() > 1 {
        format!("{LAYOUT_TOGGLE},grp_led:scroll")
    } else {
        String::new()
    }
}

/// console-setup's CODESET: Cyrillic glyphs when the locale or a layout needs them.
fn codeset(answer: &Answer) -> &'static str {
    let cyr = ["ru", "uk", "be", "bg", "sr", "mk", "kk", "ky", "tg", "mn"];
    let lang = answer.system.locale.split('_').next().unwrap_or("");
    let cyr_layout = ["ru", "ua", "by", "bg", "rs", "mk", "kz", "kg", "tj", "mn"];
    if cyr.contains(&lang)
        || layouts(answer)
            .iter()
            .any(|l| cyr_layout.contains(&l.as_str()))
    {
        "CyrSlav"
    } else {
        "Lat15"
    }
}

pub fn files(answer: &Answer) -> Vec<RenderedFile> {
    let sys = &answer.system;
    let mut gen = format!("{HEADER}\n");
    for l in locale_gen_lines(answer) {
        let _ = writeln!(gen, "{l}");
    }
    let lay = layouts(answer);
    let keyboard = format!(
        "{HEADER}\nXKBMODEL=\"pc105\"\nXKBLAYOUT=\"{}\"\nXKBVARIANT=\"{}\"\nXKBOPTIONS=\"{}\"\n\nBACKSPACE=\"guess\"\n",
        lay.join(","),
        vec![""; lay.len()].join(","),
        xkb_options(answer)
    );
    let console = format!(
        "{HEADER}\nACTIVE_CONSOLES=\"/dev/tty[1-6]\"\nCHARMAP=\"UTF-8\"\nCODESET=\"{}\"\nFONTFACE=\"Fixed\"\nFONTSIZE=\"8x16\"\nVIDEOMODE=\n",
        codeset(answer)
    );
    vec![
        RenderedFile::new("/etc/default/locale", format!("LANG={}\n", sys.locale)),
        RenderedFile::new("/etc/locale.gen", gen),
        RenderedFile::new("/etc/default/keyboard", keyboard),
        RenderedFile::new("/etc/default/console-setup", console),
        RenderedFile::new("/etc/timezone", format!("{}\n", sys.timezone)),
    ]
}
