//! Release/InRelease files: the signed root of a repository's integrity chain.
//! Only the signed content (as printed by gpgv) is ever parsed here.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};

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

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];

/// Parses the RFC 2822 dates of Release files (`Sat, 21 Nov 2026 09:15:44 UTC`) into
/// Unix seconds. Only UTC/GMT/+0000 zones occur in Debian archives.
fn parse_date(s: &str) -> Result<i64> {
    let err = || anyhow::anyhow!("unsupported date {s:?}");
    let rest = s.split_once(',').map_or(s, |(_, r)| r).trim();
    let parts: Vec<&str> = rest.split_whitespace().collect();
    let [day, month, year, time, zone] = parts[..] else {
        return Err(err());
    };
    if !["UTC", "GMT", "+0000", "Z"].contains(&zone) {
        return Err(err());
    }
    let day: u32 = day.parse().map_err(|_| err())?;
    let month = MONTHS.iter().position(|m| *m == month).ok_or_else(err)? as u32 + 1;
    let year: i64 = year.parse().map_err(|_| err())?;
    let hms: Vec<i64> = time
        .split(':')
        .map(|x| x.parse().map_err(|_| err()))
        .collect::<Result<_>>()?;
    let [h, m, sec] = hms[..] else {
        return Err(err());
    };
    Ok(tandem::calendar::days_from_civil(year, month, day) * 86400 + h * 3600 + m * 60 + sec)
}

/// A Release file's Date: RFC 2822 with the zone written "UTC", as the archive does.
pub(crate) fn format_date(t: i64) -> String {
    format_date_in(t, "UTC")
}

/// RFC 2822 with the given zone text ("UTC" for Release files, "+0000" for changelogs).
pub(crate) fn format_date_in(t: i64, zone: &str) -> String {
    let (days, secs) = tandem::calendar::split(t);
    let (y, m, d) = tandem::calendar::civil_from_days(days);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} {zone}",
        DAYS[days.rem_euclid(7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
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
