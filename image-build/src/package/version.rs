//! Debian version ordering (Debian Policy §5.6.12): `[epoch:]upstream[-revision]`,
//! compared part by part with dpkg's alternating non-digit / digit algorithm where
//! `~` sorts before everything, even the end of the string.

use std::cmp::Ordering;

/// Compares two Debian version strings the way `dpkg --compare-versions` does.
pub(crate) fn compare(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| compare_part(ua, ub))
        .then_with(|| compare_part(ra, rb))
}

fn split(v: &str) -> (u64, &str, &str) {
    let (epoch, rest) = match v.split_once(':') {
        Some((e, rest)) if !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit()) => {
            (e.parse().unwrap_or(u64::MAX), rest)
        }
        _ => (0, v),
    };
    // The revision is everything after the last hyphen; no hyphen means revision "".
    match rest.rsplit_once('-') {
        Some((upstream, revision)) => (epoch, upstream, revision),
        None => (epoch, rest, ""),
    }
}

/// Sort weight of a non-digit character: `~` first, then end of string, then letters,
/// then everything else by ASCII value.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_alphabetic() => c as i32,
        Some(c) => c as i32 + 256,
    }
}

fn compare_part(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        // Non-digit prefix, character by character.
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ca = a.get(i).copied().filter(|c| !c.is_ascii_digit());
            let cb = b.get(j).copied().filter(|c| !c.is_ascii_digit());
            let (oa, ob) = (order(ca), order(cb));
            if oa != ob {
                return oa.cmp(&ob);
            }
            if ca.is_some() {
                i += 1;
            }
            if cb.is_some() {
                j += 1;
            }
        }
        // Digit run, compared numerically without overflow: skip leading zeros, then
        // the longer run is larger, then lexical order decides.
        let start_a = i;
        while i < a.len() && a[i].is_ascii_digit() {
            i += 1;
        }
        let start_b = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let da = trim_zeros(&a[start_a..i]);
        let db = trim_zeros(&b[start_b..j]);
        let ord = da.len().cmp(&db.len()).then_with(|| da.cmp(db));
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let n = d.iter().take_while(|&&c| c == b'0').count();
    &d[n..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn dpkg_ordering_cases() {
        let cases = [
            ("1.0", "1.0", Equal),
            ("1.0", "1.1", Less),
            ("1.10", "1.9", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1.0~~", "1.0~", Less),
            ("1.0~", "1.0", Less),
            ("1.0", "1.0+b1", Less),
            ("1.0a", "1.0", Greater),
            ("1.0a", "1.0+", Less),
            ("1:0.1", "9.9", Greater),
            ("0:1.0", "1.0", Equal),
            ("1.0-1", "1.0-2", Less),
            ("1.0-10", "1.0-9", Greater),
            ("1.0-1", "1.0", Greater),
            ("2.36.1-8+deb11u1", "2.36.1-8", Greater),
            ("1:9.2p1-2", "1:9.2p1-2+deb12u3", Less),
            ("10.0.0", "010.0.0", Equal),
            ("1.2.3-1~bpo12+1", "1.2.3-1", Less),
            ("6.12.57-1", "6.12.48-1", Greater),
            ("1.0-a-1", "1.0-1", Greater),
            (
                "99999999999999999999999",
                "99999999999999999999998",
                Greater,
            ),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare(a, b), want, "{a} vs {b}");
            assert_eq!(compare(b, a), want.reverse(), "{b} vs {a}");
        }
    }
    /// The corners where a re-implementation (or a crate) could differ, checked pair by
    /// pair against dpkg itself when it is installed: tildes before and after the end,
    /// epochs, hyphens inside the upstream part, leading zeros, digit runs past 64 bits,
    /// letters against punctuation.
    #[test]
    fn agrees_with_dpkg_on_the_corners() {
        let versions = [
            "0",
            "0~",
            "0~~",
            "0~a",
            "0a",
            "0+",
            "0.",
            "1.0",
            "1.0~rc1",
            "1.0~rc1~",
            "1.0~~a",
            "1.0~+",
            "1.0+~",
            "1.0+b1",
            "1.0a",
            "1.0a~",
            "1.0.",
            "1.00",
            "010",
            "10",
            "1.0-0",
            "1.0-1",
            "1.0-1~bpo12+1",
            "1.0-1.1",
            "1.0-a-1",
            "1.0-1-1",
            "1:0",
            "1:0.1",
            "0:1.0",
            "2:0~",
            "10:1",
            "1.0-1+deb12u1",
            "1.0-1+b1",
            "99999999999999999999",
            "100000000000000000000",
        ];
        let dpkg = |a: &str, op: &str, b: &str| {
            std::process::Command::new("dpkg")
                .args(["--compare-versions", a, op, b])
                .status()
                .map(|s| s.success())
        };
        if dpkg("1", "lt", "2").is_err() {
            println!("skipped: dpkg is not installed");
            return;
        }
        for (i, a) in versions.iter().enumerate() {
            for b in &versions[i..] {
                let want = if dpkg(a, "lt", b).unwrap() {
                    Less
                } else if dpkg(a, "gt", b).unwrap() {
                    Greater
                } else {
                    Equal
                };
                assert_eq!(compare(a, b), want, "{a} vs {b} (dpkg says {want:?})");
            }
        }
    }
}
