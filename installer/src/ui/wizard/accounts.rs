//! The root password, typed twice and hashed at once (SHA-512 crypt, a 16-character salt
//! from the kernel's random source); the plain text is wiped when the reply is dropped.
//! And root's SSH public keys.

use super::draft::Draft;
use super::{Kind, Reply};
use sha_crypt::{CustomizedPasswordHasher, Params, ShaCrypt};
use std::io::Read;

type Shown = (String, Vec<String>, Kind);

pub const MIN_PASSWORD: usize = 8;

/// Salt bytes: 12 bytes are 16 characters of crypt's base64.
pub type Salt = [u8; 12];

pub fn random_salt() -> std::io::Result<Salt> {
    let mut s = [0u8; 12];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut s)?;
    Ok(s)
}

/// `$6$<salt>$<hash>` as glibc's crypt(3), `openssl passwd -6` and chpasswd write it.
pub fn sha512_crypt(password: &[u8], salt: &Salt) -> String {
    let h = ShaCrypt::SHA512
        .hash_password_customized(password, salt, None, None, Params::RECOMMENDED)
        .expect("SHA-512 crypt with the recommended rounds and a 12-byte salt cannot fail");
    // The default round count is implied when absent; glibc writes no rounds= field for it.
    h.as_str()
        .replacen(&format!("$rounds={}$", Params::RECOMMENDED_ROUNDS), "$", 1)
}

pub fn password_prompt(d: &Draft) -> Shown {
    let mut body = vec![
        format!("At least {MIN_PASSWORD} characters, typed twice. It is hashed at once (SHA-512 crypt);"),
        "the plain text is neither shown nor kept. \"<\" goes back.".into(),
    ];
    if d.password_hash.is_some() {
        body.push("A password was set before; type it again or a new one.".into());
    }
    ("Root password".into(), body, Kind::Password)
}

pub fn password_apply(d: &mut Draft, reply: Reply) -> Result<(), String> {
    let Reply::Password(first, second) = reply else {
        return Err("expected the password, twice".into());
    };
    if *first != *second {
        return Err("the two entries differ; type the same password twice".into());
    }
    if first.chars().count() < MIN_PASSWORD {
        return Err(format!(
            "too short: a root password has at least {MIN_PASSWORD} characters"
        ));
    }
    let salt = random_salt().map_err(|e| format!("cannot read /dev/urandom for a salt: {e}"))?;
    d.password_hash = Some(sha512_crypt(first.as_bytes(), &salt));
    Ok(())
}

/// Public keys, one per line or separated by ';'. Blank lines and # comments are skipped
/// (so an authorized_keys file can be given as it is). Each key is held to the
/// validator's rule.
pub fn parse_keys(text: &str) -> Result<Vec<String>, String> {
    let mut keys = Vec::new();
    for line in text
        .split(['\n', ';'])
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && *l != "none")
    {
        if let Some(why) = crate::validate::ssh_key_problem(line) {
            return Err(format!("{:?}: {why}", short(line)));
        }
        keys.push(line.to_string());
    }
    Ok(keys)
}

fn short(s: &str) -> String {
    if s.chars().count() > 40 {
        s.chars().take(37).chain("...".chars()).collect()
    } else {
        s.to_string()
    }
}

pub fn keys_prompt(d: &Draft) -> Shown {
    let default = if d.ssh_keys.is_empty() {
        "none".to_string()
    } else {
        d.ssh_keys.join("; ")
    };
    (
        "SSH public keys for root".into(),
        vec![
            "Paste keys separated by ';', or give the path of a file of keys".into(),
            "(e.g. /media/usb/authorized_keys). \"none\" for none.".into(),
        ],
        Kind::Input {
            default: Some(default),
        },
    )
}

pub fn keys_apply(d: &mut Draft, reply: Reply) -> Result<(), String> {
    d.ssh_keys = parse_keys(&reply.text()?)?;
    Ok(())
}
