//! Release/InRelease files: the signed root of a repository's integrity chain.
//! Only the signed content (as printed by gpgv) is ever parsed here.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use jiff::fmt::rfc2822::DateTimeParser;
use jiff::Timestamp;

use crate::package::deb822;

#[derive(Debug, Clone)]
pub(crate) struct Release {
    pub(crate) date: Option<i64>,
    pub(crate) valid_until: Option<i64>,
    pub(crate) acquire_by_hash: bool,
    /// path relative to dists/<suite>/ → (sha256, size)
    pub(crate) sha256: BTreeMap<String, (String, u64)>,
}

impl Release {
    pub(crate) fn parse(text: &str) -> Result<Release> {
        let stanzas = deb822::parse(text).context("parsing Release")?;
        let Some(s) = stanzas.first() else {
            bail!("empty Release file")
        };
        let mut sha256 = BTreeMap::new();
        let list = s.get("SHA256").context("Release has no SHA256 section")?;
        for line in list.lines().filter(|l| !l.trim().is_empty()) {
            let parts: Vec<&str> = line.split_whitespace().collect();
            let [hash, size, path] = parts[..] else {
                bail!("bad SHA256 line {line:?}")
            };
            if hash.len() != 64 || !hash.bytes().all(|c| c.is_ascii_hexdigit()) {
                bail!("bad SHA256 hash in line {line:?}");
            }
            let size = size
                .parse()
                .with_context(|| format!("bad size in SHA256 line {line:?}"))?;
            sha256.insert(path.to_string(), (hash.to_ascii_lowercase(), size));
        }
        Ok(Release {
            date: s
                .get("Date")
                .map(parse_date)
                .transpose()
                .context("Release Date")?,
            valid_until: s
                .get("Valid-Until")
                .map(parse_date)
                .transpose()
                .context("Release Valid-Until")?,
            acquire_by_hash: s
                .get("Acquire-By-Hash")
                .is_some_and(|v| v.eq_ignore_ascii_case("yes")),
            sha256,
        })
    }
}

/// Parses the RFC 2822 dates of Release files (`Sat, 21 Nov 2026 09:15:44 UTC`) into
/// Unix seconds. Only UTC zones occur in Debian archives and only they are taken; the
/// weekday is not checked against the date.
fn parse_date(s: &str) -> Result<i64> {
    let zone = s.split_whitespace().last().unwrap_or_default();
    if !["UTC", "GMT", "+0000", "Z"].contains(&zone) {
        bail!("unsupported date {s:?}");
    }
    let t = DateTimeParser::new()
        .relaxed_weekday(true)
        .parse_timestamp(s)
        .with_context(|| format!("unsupported date {s:?}"))?;
    Ok(t.as_second())
}

/// A Unix time as a jiff timestamp; one beyond jiff's years -9999..=9999 (no archive or
/// build date) is held at the nearer end.
pub(crate) fn utc(t: i64) -> Timestamp {
    Timestamp::from_second(t).unwrap_or(if t < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// A Release file's Date: RFC 2822 with the zone written "UTC", as the archive does.
pub(crate) fn format_date(t: i64) -> String {
    format_date_in(t, "UTC")
}

/// RFC 2822 with the given zone text ("UTC" for Release files, "+0000" for changelogs).
pub(crate) fn format_date_in(t: i64, zone: &str) -> String {
    format!("{} {zone}", utc(t).strftime("%a, %d %b %Y %H:%M:%S"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(parse_date("Thu, 01 Jan 1970 00:00:00 UTC").unwrap(), 0);
        let t = parse_date("Sat, 21 Nov 2026 09:15:44 UTC").unwrap();
        assert_eq!(t, 1795252544);
        assert_eq!(format_date(t), "Sat, 21 Nov 2026 09:15:44 UTC");
        assert_eq!(format_date(951782400), "Tue, 29 Feb 2000 00:00:00 UTC");
        assert!(parse_date("Sat, 21 Nov 2026 09:15:44 +0200").is_err());
    }

    /// Where a date library could read Release dates differently from the hand-written
    /// parser it replaced.
    #[test]
    fn release_date_corners() {
        // Every UTC spelling; the weekday is not checked; no weekday at all.
        for s in [
            "Sat, 21 Nov 2026 09:15:44 UTC",
            "Sat, 21 Nov 2026 09:15:44 GMT",
            "Sat, 21 Nov 2026 09:15:44 +0000",
            "Sat, 21 Nov 2026 09:15:44 Z",
            "Mon, 21 Nov 2026 09:15:44 UTC",
            "21 Nov 2026 09:15:44 UTC",
        ] {
            assert_eq!(parse_date(s).unwrap(), 1795252544, "{s}");
        }
        // Leap days, the day before the epoch, the far side of 2038 and of 2100.
        for (s, t) in [
            ("Tue, 29 Feb 2000 00:00:00 UTC", 951782400),
            ("Wed, 31 Dec 1969 23:59:59 UTC", -1),
            ("Tue, 19 Jan 2038 03:14:08 UTC", 1 << 31),
            ("Mon, 01 Mar 2100 00:00:00 UTC", 4107542400),
        ] {
            assert_eq!(parse_date(s).unwrap(), t, "{s}");
            assert_eq!(format_date(t), s);
        }
        assert_eq!(
            format_date_in(0, "+0000"),
            "Thu, 01 Jan 1970 00:00:00 +0000"
        );
        // Other zones and what is no date are refused.
        for s in [
            "Sat, 21 Nov 2026 09:15:44 -0000",
            "Sat, 21 Nov 2026 09:15:44 EST",
            "Sat, 21 Nov 2026 09:15:44",
            "Sat, 21 Nov 2026 UTC",
            "Sat, 21 Nop 2026 09:15:44 UTC",
            "",
        ] {
            assert!(parse_date(s).is_err(), "{s}");
        }
    }

    #[test]
    fn release_sha256_section() {
        let r = Release::parse(
            "Origin: Debian\nDate: Sat, 21 Nov 2026 09:15:44 UTC\nAcquire-By-Hash: yes\nSHA256:\n 2efd6103f013081f8118f4c9f228739bc97bff2e4e1de496f80458c7e72a24ac 56634892 main/binary-amd64/Packages\n",
        )
        .unwrap();
        assert!(r.acquire_by_hash);
        assert_eq!(r.sha256["main/binary-amd64/Packages"].1, 56634892);
        assert!(Release::parse("Origin: x\n").is_err());
    }
}
