//! `[system]`: identity, locale and root's credentials.

use super::names::{debian_name_problem, domain_problem, hostname_problem};
use crate::answer::{Issue, System};
use crate::hardware::Inventory;
use std::collections::HashSet;

const MAKE_HASH: &str =
    "make one with `mkpasswd -m yescrypt` (package whois) or `openssl passwd -6`";

pub(super) fn check(s: &System, out: &mut Vec<Issue>) {
    if s.hostname.is_empty() {
        out.push(Issue::new(
            "system.hostname",
            "is not set; give the host name here, or list this node in cluster.nodes",
        ));
    } else if let Some(p) = hostname_problem(&s.hostname) {
        out.push(Issue::new("system.hostname", p));
    }
    match domain_problem(&s.domain) {
        Some(p) => out.push(Issue::new("system.domain", p)),
        None => {
            let fqdn = format!("{}.{}", s.hostname, s.domain);
            if fqdn.len() > 253 {
                out.push(Issue::new(
                    "system.domain",
                    format!(
                        "the FQDN hostname.domain is {} characters long; at most 253",
                        fqdn.len()
                    ),
                ));
            }
        }
    }
    if let Some(p) = timezone_problem(&s.timezone) {
        out.push(Issue::new("system.timezone", p));
    }
    if let Some(p) = locale_problem(&s.locale) {
        out.push(Issue::new("system.locale", p));
    }
    if let Some(p) = keyboard_problem(&s.keyboard) {
        out.push(Issue::new("system.keyboard", p));
    }
    if let Some(h) = &s.root_password_hash {
        if let Some(p) = password_hash_problem(h) {
            out.push(Issue::new("system.root-password-hash", p));
        }
    }
    if s.root_password_hash.is_none() && s.root_ssh_keys.is_empty() {
        out.push(Issue::new(
            "system",
            "sets neither root-password-hash nor root-ssh-keys, so nobody could log in; \
             give at least one",
        ));
    }
    let mut seen = HashSet::new();
    for (i, k) in s.root_ssh_keys.iter().enumerate() {
        let path = format!("system.root-ssh-keys[{i}]");
        if let Some(p) = ssh_key_problem(k) {
            out.push(Issue::new(path, p));
        } else if !seen.insert(k.split_whitespace().nth(1).unwrap_or_default().to_string()) {
            out.push(Issue::new(path, "repeats a key listed before"));
        }
    }
    if let Some(e) = &s.editor {
        if let Some(p) = debian_name_problem(e) {
            out.push(Issue::new("system.editor", p));
        }
    }
    let mut seen = HashSet::new();
    for (i, p) in s.packages.iter().enumerate() {
        let path = format!("system.packages[{i}]");
        if let Some(prob) = debian_name_problem(p) {
            out.push(Issue::new(path, prob));
        } else if !seen.insert(p.as_str()) {
            out.push(Issue::new(path, format!("package {p} is listed twice")));
        }
    }
}

/// A DKMS package builds its kernel modules on the node, where no key the firmware trusts
/// signs them: under Secure Boot the kernel is locked down and refuses to load them, so
/// the package installs fine and its driver is silently missing after the first boot.
pub(super) fn warnings(s: &System, inv: Option<&Inventory>, out: &mut Vec<Issue>) {
    if !inv.is_some_and(|i| i.machine.secure_boot) {
        return;
    }
    for (i, p) in s.packages.iter().enumerate() {
        if p.ends_with("-dkms") {
            out.push(Issue::new(
                format!("system.packages[{i}]"),
                format!(
                    "{p} builds its kernel modules on the node, signed by no key the firmware \
                     trusts, and this machine boots with Secure Boot: lockdown will refuse to \
                     load them unless you enrol your own Machine Owner Key that signs them \
                     (mokutil --import), or turn Secure Boot off"
                ),
            ));
        }
    }
}

const CRYPT_ALPHABET: &str = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn crypt_chars(s: &str) -> bool {
    s.chars().all(|c| CRYPT_ALPHABET.contains(c))
}

/// Whether `h` is a crypt(3) hash the installed system's libxcrypt accepts and we allow.
/// The message never repeats the value: it may be a password pasted by mistake.
pub fn password_hash_problem(h: &str) -> Option<String> {
    let parts: Vec<&str> = h.split('$').collect();
    if !h.starts_with('$') || parts.len() < 4 {
        return Some(format!(
            "is not a crypt(3) hash (a plain-text password never belongs in an answer file); \
             expected yescrypt \"$y$...\", SHA-512 \"$6$...\" or SHA-256 \"$5$...\"; {MAKE_HASH}"
        ));
    }
    let bad = |what: &str| Some(format!("is a malformed {what}; {MAKE_HASH}"));
    match parts[1] {
        "6" | "5" => {
            let (what, len) = if parts[1] == "6" {
                ("SHA-512 hash ($6$salt$ + 86 characters)", 86)
            } else {
                ("SHA-256 hash ($5$salt$ + 43 characters)", 43)
            };
            // "$6$rounds=N$salt$hash" or "$6$salt$hash".
            let rest = &parts[2..];
            let rest = match rest.first() {
                Some(r) if r.starts_with("rounds=") => {
                    if r["rounds=".len()..].parse::<u32>().is_err() {
                        return bad(what);
                    }
                    &rest[1..]
                }
                _ => rest,
            };
            match rest {
                [salt, hash]
                    if !salt.is_empty()
                        && salt.len() <= 16
                        && crypt_chars(salt)
                        && hash.len() == len
                        && crypt_chars(hash) =>
                {
                    None
                }
                _ => bad(what),
            }
        }
        "y" => match &parts[2..] {
            [params, salt, hash]
                if !params.is_empty()
                    && crypt_chars(params)
                    && !salt.is_empty()
                    && crypt_chars(salt)
                    && hash.len() == 43
                    && crypt_chars(hash) =>
            {
                None
            }
            _ => bad("yescrypt hash ($y$params$salt$ + 43 characters)"),
        },
        "1" => Some(format!(
            "is an MD5 crypt hash ($1$), which is too weak to accept; use yescrypt ($y$) or \
             SHA-512 ($6$); {MAKE_HASH}"
        )),
        _ => Some(format!(
            "uses an unsupported crypt(3) method; expected yescrypt \"$y$\", SHA-512 \"$6$\" or \
             SHA-256 \"$5$\"; {MAKE_HASH}"
        )),
    }
}

const KEY_TYPES: [&str; 7] = [
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// An OpenSSH public key line: `type base64 [comment]`, the base64 blob starting with the
/// same type string.
pub fn ssh_key_problem(k: &str) -> Option<String> {
    let mut f = k.split_whitespace();
    let (Some(kind), body) = (f.next(), f.next()) else {
        return Some(
            "is empty; expected an OpenSSH public key \"ssh-ed25519 AAAA... comment\"".into(),
        );
    };
    if !KEY_TYPES.contains(&kind) {
        let shown: String = kind.chars().take(40).collect();
        return Some(format!(
            "key type {shown:?} is not one of {}; expected an OpenSSH public key line \
             (the contents of id_ed25519.pub, not the private key)",
            KEY_TYPES.join(", ")
        ));
    }
    let Some(body) = body else {
        return Some(format!("has the type {kind} but no key data after it"));
    };
    let Some(blob) = crate::base64::decode(body) else {
        return Some(format!(
            "the {kind} key data is not valid base64; copy the whole line of the .pub file"
        ));
    };
    let embedded = blob
        .get(..4)
        .map(|l| u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize)
        .and_then(|n| blob.get(4..4 + n));
    match embedded {
        Some(t) if t == kind.as_bytes() => None,
        Some(t) => Some(format!(
            "says {kind} but its key data holds a {:?} key; the line is damaged or mixed up",
            String::from_utf8_lossy(t)
        )),
        None => Some(format!(
            "the {kind} key data is truncated; copy the whole line of the .pub file"
        )),
    }
}

/// IANA zone names as /usr/share/zoneinfo has them: "UTC" or Area/Location. A pattern
/// check only (validation is pure; the installed system has the full database).
pub fn timezone_problem(tz: &str) -> Option<String> {
    const AREAS: [&str; 11] = [
        "Africa",
        "America",
        "Antarctica",
        "Arctic",
        "Asia",
        "Atlantic",
        "Australia",
        "Europe",
        "Indian",
        "Pacific",
        "Etc",
    ];
    if tz == "UTC" {
        return None;
    }
    let parts: Vec<&str> = tz.split('/').collect();
    let part_ok = |p: &str| {
        p.starts_with(|c: char| c.is_ascii_alphabetic())
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
    };
    let ok = parts.len() >= 2
        && parts.len() <= 3
        && AREAS.contains(&parts[0])
        && parts[1..].iter().all(|p| part_ok(p));
    (!ok).then(|| {
        format!(
            "{tz:?} is not an IANA time zone name; expected \"UTC\" or Area/Location with \
             Area one of {} (e.g. \"Europe/Moscow\")",
            AREAS.join(", ")
        )
    })
}

/// `ll_CC.UTF-8` (optionally `@modifier`) or `C.UTF-8`: the installer generates UTF-8
/// locales only.
pub fn locale_problem(l: &str) -> Option<String> {
    if l == "C.UTF-8" {
        return None;
    }
    let (base, modifier) = match l.split_once('@') {
        Some((b, m)) => (b, Some(m)),
        None => (l, None),
    };
    let ok = base
        .strip_suffix(".UTF-8")
        .and_then(|lc| lc.split_once('_'))
        .is_some_and(|(lang, country)| {
            (2..=3).contains(&lang.len())
                && lang.chars().all(|c| c.is_ascii_lowercase())
                && country.len() == 2
                && country.chars().all(|c| c.is_ascii_uppercase())
        })
        && modifier.is_none_or(|m| !m.is_empty() && m.chars().all(|c| c.is_ascii_lowercase()));
    (!ok).then(|| {
        format!(
            "{l:?} is not a UTF-8 locale name; expected language_COUNTRY.UTF-8 like \
             \"en_US.UTF-8\" or \"ru_RU.UTF-8\""
        )
    })
}

pub fn keyboard_problem(k: &str) -> Option<String> {
    let ok = !k.is_empty()
        && k.split(',')
            .all(|l| l.len() >= 2 && l.chars().all(|c| c.is_ascii_lowercase()));
    (!ok).then(|| {
        format!(
            "{k:?} is not a list of XKB layouts; expected lower-case layout names separated \
             by commas, like \"us\" or \"us,ru\""
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA512: &str = "$6$Vn0wqkz2Xo6fB5cP$VorkVA4xtWVAec2yE36N.epbFc5iEKIjGU9M6inO0hFbVuAtm.U99MS02qj5r/7A4yrwRto4yqfPvk.qR4DVU0";
    const ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHZqB50G928tJUsr4fitqaZ8J+QCa7Qodrb+afWAd6gO admin@minobr";

    #[test]
    fn dkms_packages_warn_under_secure_boot_only() {
        let a = crate::validate::testutil::answer(|s| {
            s.replace(
                "[system]\n",
                "[system]\npackages = [\"htop\", \"zfs-dkms\", \"dkms\"]\n",
            )
        });
        let sys = &a.system;
        let mut inv = Inventory::default();
        let warned = |inv: Option<&Inventory>| {
            let mut out = Vec::new();
            warnings(sys, inv, &mut out);
            out
        };
        assert!(warned(Some(&inv)).is_empty());
        assert!(warned(None).is_empty());
        inv.machine.secure_boot = true;
        let w = warned(Some(&inv));
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(w[0].path, "system.packages[1]");
        assert!(w[0].message.contains("Machine Owner Key"), "{w:?}");
    }

    #[test]
    fn hashes() {
        assert_eq!(password_hash_problem(SHA512), None);
        assert_eq!(
            password_hash_problem(
                "$y$j9T$3x8G5U0u3y0kdeXWgBD7d1$2Wr8gXW3P1Zs6b1hV2mCJv7/UVtUwzzXnA2wBrZtWf5"
            ),
            None
        );
        assert_eq!(
            password_hash_problem(
                "$5$rounds=5000$saltsalt$kAYH0U9y8DhIhAuN9I8fB3ZebqLH3cN2jM1n/sHHUK5"
            ),
            None
        );
        let short = &SHA512[..SHA512.len() - 1];
        assert!(password_hash_problem(short)
            .unwrap()
            .contains("malformed SHA-512"));
        let plain = password_hash_problem("hunter2hunter2").unwrap();
        assert!(!plain.contains("hunter2"), "{plain}");
        assert!(plain.contains("openssl passwd -6"));
        assert!(password_hash_problem("$1$abc$def").unwrap().contains("MD5"));
        assert!(password_hash_problem("$2b$10$abc")
            .unwrap()
            .contains("unsupported"));
    }

    #[test]
    fn ssh_keys() {
        assert_eq!(ssh_key_problem(ED25519), None);
        assert!(ssh_key_problem("ssh-dss AAAA")
            .unwrap()
            .contains("not one of"));
        let mislabelled = ED25519.replace("ssh-ed25519 ", "ssh-rsa ");
        assert!(ssh_key_problem(&mislabelled)
            .unwrap()
            .contains("\"ssh-ed25519\" key"));
        assert!(ssh_key_problem("ssh-ed25519 AAAA!!")
            .unwrap()
            .contains("base64"));
        assert!(ssh_key_problem("ssh-ed25519 AAAAC3Nz")
            .unwrap()
            .contains("truncated"));
        assert!(ssh_key_problem("ssh-ed25519")
            .unwrap()
            .contains("no key data"));
    }

    #[test]
    fn locale_zone_keyboard() {
        assert!(timezone_problem("Europe/Moscow").is_none());
        assert!(timezone_problem("America/Argentina/Buenos_Aires").is_none());
        assert!(timezone_problem("UTC").is_none());
        assert!(timezone_problem("Moscow").is_some());
        assert!(timezone_problem("Mars/Olympus").is_some());
        assert!(locale_problem("ru_RU.UTF-8").is_none());
        assert!(locale_problem("C.UTF-8").is_none());
        assert!(locale_problem("ru_RU").is_some());
        assert!(locale_problem("en_us.UTF-8").is_some());
        assert!(keyboard_problem("us,ru").is_none());
        assert!(keyboard_problem("us ru").is_some());
        assert!(keyboard_problem("").is_some());
    }
}
