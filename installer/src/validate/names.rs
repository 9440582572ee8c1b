//! Name rules shared by several sections. Each returns None when the name is fine, else
//! what is wrong with it and what is allowed (without the key path).

/// An RFC 1123 host name label: 1–63 letters, digits and '-', not starting or ending
/// with '-', not all digits (an all-digit label reads as an address).
pub fn hostname_problem(s: &str) -> Option<String> {
    if s.is_empty() {
        return Some("is empty; a host name is 1 to 63 letters, digits and '-'".into());
    }
    if s.len() > 63 {
        return Some(format!(
            "{s:?} is {} characters long; a host name label is at most 63",
            s.len()
        ));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        return Some(format!(
            "{s:?} contains {c:?}; a host name has only letters, digits and '-' \
             (the domain goes in system.domain)"
        ));
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Some(format!(
            "{s:?} starts or ends with '-'; RFC 1123 forbids that"
        ));
    }
    if s.chars().all(|c| c.is_ascii_digit()) {
        return Some(format!(
            "{s:?} is all digits; a host name needs at least one letter"
        ));
    }
    None
}

/// A DNS domain: dot-separated labels of letters, digits and '-', at most 253 characters.
pub fn domain_problem(s: &str) -> Option<String> {
    if s.is_empty() {
        return Some("is empty; expected a DNS domain like \"example.org\"".into());
    }
    if s.len() > 253 {
        return Some(format!(
            "is {} characters long; a domain name is at most 253",
            s.len()
        ));
    }
    for label in s.split('.') {
        if label.is_empty() {
            return Some(format!(
                "{s:?} has an empty label; expected labels separated by single dots, \
                 like \"example.org\""
            ));
        }
        if label.len() > 63 {
            return Some(format!(
                "{s:?} has a label of {} characters; each label is at most 63",
                label.len()
            ));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Some(format!(
                "{s:?} contains {c:?}; domain labels have only letters, digits and '-'"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Some(format!(
                "{s:?} has label {label:?} starting or ending with '-'; RFC 1123 forbids that"
            ));
        }
    }
    None
}

/// A Linux interface name: 1–15 bytes (IFNAMSIZ - 1) of letters, digits, '_' and '-'.
/// '.' is allowed only when `dot_ok` (VLAN interfaces `<parent>.<id>`), since ifupdown2
/// reads any dotted name as a VLAN.
pub fn interface_name_problem(s: &str, dot_ok: bool) -> Option<String> {
    if s.is_empty() {
        return Some("is empty; an interface name is 1 to 15 characters".into());
    }
    if s.len() > 15 {
        return Some(format!(
            "{s:?} is {} characters long; Linux interface names are at most 15",
            s.len()
        ));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-' || (dot_ok && *c == '.')))
    {
        let allowed = if c == '.' {
            "'.' is reserved for VLAN interfaces (<parent>.<id>)"
        } else {
            "allowed are letters, digits, '_' and '-'"
        };
        return Some(format!("{s:?} contains {c:?}; {allowed}"));
    }
    None
}

/// An LVM volume group or logical volume name (lvm(8) "VALID NAMES").
pub fn lvm_name_problem(s: &str) -> Option<String> {
    const ALLOWED: &str =
        "allowed are letters, digits and '+', '_', '.', '-', not starting with '-'";
    if s.is_empty() {
        return Some(format!("is empty; {ALLOWED}"));
    }
    if s.len() > 127 {
        return Some(format!(
            "{s:?} is {} characters long; LVM names are at most 127",
            s.len()
        ));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '_' | '.' | '-')))
    {
        return Some(format!("{s:?} contains {c:?}; {ALLOWED}"));
    }
    if s.starts_with('-') || s == "." || s == ".." {
        return Some(format!("{s:?} is not a valid LVM name; {ALLOWED}"));
    }
    for reserved in ["snapshot", "pvmove"] {
        if s.starts_with(reserved) {
            return Some(format!(
                "{s:?} starts with {reserved:?}, which LVM reserves for its own volumes"
            ));
        }
    }
    for reserved in [
        "_cdata", "_cmeta", "_corig", "_mimage", "_mlog", "_rimage", "_rmeta", "_tdata", "_tmeta",
        "_vorigin", "_vdata",
    ] {
        if s.contains(reserved) {
            return Some(format!(
                "{s:?} contains {reserved:?}, which LVM reserves for its own sub-volumes"
            ));
        }
    }
    None
}

/// A Debian package or alternative name: lower-case letters, digits, '+', '-', '.',
/// at least two characters, starting with a letter or digit (Debian Policy 5.6.1).
pub fn debian_name_problem(s: &str) -> Option<String> {
    let ok = s.len() >= 2
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '-' | '.'));
    (!ok).then(|| {
        format!(
            "{s:?} is not a Debian package name; names are at least two characters of \
             lower-case letters, digits, '+', '-' and '.', starting with a letter or digit"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames() {
        assert!(hostname_problem("lxeon").is_none());
        assert!(hostname_problem("pve-01").is_none());
        assert!(hostname_problem("1234").is_some());
        assert!(hostname_problem("-a").is_some());
        assert!(hostname_problem("a.b").is_some());
        assert!(hostname_problem(&"a".repeat(64)).is_some());
        assert!(hostname_problem("").is_some());
    }

    #[test]
    fn domains() {
        assert!(domain_problem("minobr.local").is_none());
        assert!(domain_problem("local").is_none());
        assert!(domain_problem("a..b").is_some());
        assert!(domain_problem("a_b.org").is_some());
        assert!(domain_problem("-a.org").is_some());
    }

    #[test]
    fn interfaces() {
        assert!(interface_name_problem("vmbr374", false).is_none());
        assert!(interface_name_problem("bond0.370", true).is_none());
        assert!(interface_name_problem("bond0.370", false).is_some());
        assert!(interface_name_problem("vmbr-production1", false).is_some());
        assert!(interface_name_problem("a b", false).is_some());
        assert!(interface_name_problem("", false).is_some());
    }

    #[test]
    fn lvm_names() {
        assert!(lvm_name_problem("root").is_none());
        assert!(lvm_name_problem("vm-100-disk.0").is_none());
        assert!(lvm_name_problem("-x").is_some());
        assert!(lvm_name_problem("snapshot1").is_some());
        assert!(lvm_name_problem("a_tmeta").is_some());
        assert!(lvm_name_problem("a/b").is_some());
    }

    #[test]
    fn debian_names() {
        assert!(debian_name_problem("vim.basic").is_none());
        assert!(debian_name_problem("libstdc++6").is_none());
        assert!(debian_name_problem("Vim").is_some());
        assert!(debian_name_problem("a").is_some());
        assert!(debian_name_problem("-x").is_some());
    }
}
