//! Byte sizes as admins write them: "512K", "32G", "1.5T", or a plain integer of bytes.
//! Units are binary (K = KiB), as in mdadm, lvcreate and fdisk.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Size(pub u64);

pub const KIB: u64 = 1024;
pub const MIB: u64 = 1024 * KIB;
pub const GIB: u64 = 1024 * MIB;
pub const TIB: u64 = 1024 * GIB;
/// The largest size an answer may give: 1 EiB.
pub const MAX_BYTES: u64 = 1024 * 1024 * TIB;

impl Size {
    pub fn bytes(self) -> u64 {
        self.0
    }
}

impl FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let allowed = "a number with an optional unit K, M, G, T (binary, e.g. \"512K\", \"32G\")";
        if t.is_empty() {
            return Err(format!("empty size; expected {allowed}"));
        }
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let mult = match unit.trim().to_ascii_uppercase().as_str() {
            "" | "B" => 1,
            "K" | "KB" | "KIB" => KIB,
            "M" | "MB" | "MIB" => MIB,
            "G" | "GB" | "GIB" => GIB,
            "T" | "TB" | "TIB" => TIB,
            _ => return Err(format!("unknown unit in size {s:?}; expected {allowed}")),
        };
        let n: f64 = num
            .parse()
            .map_err(|_| format!("invalid size {s:?}; expected {allowed}"))?;
        if !n.is_finite() || n < 0.0 {
            return Err(format!("invalid size {s:?}; expected {allowed}"));
        }
        let bytes = n * mult as f64;
        // Bounded far below u64::MAX so that the planner's alignment and sums cannot wrap
        // (u64::MAX rounded up to a MiB is 0); no disk comes near it.
        if bytes > MAX_BYTES as f64 {
            return Err(format!(
                "size {s:?} is larger than any disk; at most 1048576T (1 EiB)"
            ));
        }
        Ok(Size(bytes.round() as u64))
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        for (unit, m) in [("T", TIB), ("G", GIB), ("M", MIB), ("K", KIB)] {
            if b >= m && b.is_multiple_of(m) {
                return write!(f, "{}{}", b / m, unit);
            }
        }
        write!(f, "{b}")
    }
}

impl Size {
    /// Human-readable with one decimal, for plans and summaries ("3.6 TiB").
    pub fn human(self) -> String {
        let b = self.0 as f64;
        for (unit, m) in [("TiB", TIB), ("GiB", GIB), ("MiB", MIB), ("KiB", KIB)] {
            if self.0 >= m {
                return format!("{:.1} {unit}", b / m as f64);
            }
        }
        format!("{} B", self.0)
    }
}

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Str(String),
        }
        match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "expected a size: a string like \"32G\" or an integer of bytes",
            )
        })? {
            Raw::Int(n) if n > MAX_BYTES => Err(serde::de::Error::custom(format!(
                "size {n} is larger than any disk; at most 1048576T (1 EiB)"
            ))),
            Raw::Int(n) => Ok(Size(n)),
            Raw::Str(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl JsonSchema for Size {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Size".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A size in bytes, or a string with a binary unit K, M, G or T (\"512K\", \"32G\").",
            "anyOf": [
                { "type": "integer", "minimum": 0, "maximum": 1152921504606846976u64 },
                { "type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?\\s*([KMGT](i?B)?|B)?$" }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!("512K".parse::<Size>().unwrap().0, 512 * KIB);
        assert_eq!("32G".parse::<Size>().unwrap().0, 32 * GIB);
        assert_eq!("1.5T".parse::<Size>().unwrap().0, 3 * TIB / 2);
        assert_eq!("100".parse::<Size>().unwrap().0, 100);
        assert_eq!("8 GiB".parse::<Size>().unwrap().0, 8 * GIB);
        assert!("12X".parse::<Size>().is_err());
        assert!("-1G".parse::<Size>().is_err());
        assert!("".parse::<Size>().is_err());
    }

    /// u64::MAX bytes once validated, and the planner's MiB alignment wrapped it to 0.
    #[test]
    fn sizes_beyond_any_disk_are_refused_in_both_forms() {
        assert_eq!("1048576T".parse::<Size>().unwrap().0, MAX_BYTES);
        for s in ["1048577T", "16777216T", "18446744073709551615", "1e30"] {
            assert!(s.parse::<Size>().is_err(), "{s}");
        }
        let int: Result<Size, _> = serde_json::from_str("18446744073709551615");
        assert!(int
            .unwrap_err()
            .to_string()
            .contains("larger than any disk"));
        let ok: Size = serde_json::from_str("1152921504606846976").unwrap();
        assert_eq!(ok.0, MAX_BYTES);
    }

    #[test]
    fn displays_round_units() {
        assert_eq!(Size(512 * KIB).to_string(), "512K");
        assert_eq!(Size(32 * GIB).to_string(), "32G");
        assert_eq!(Size(1000).to_string(), "1000");
        assert_eq!(Size(3 * TIB / 2).human(), "1.5 TiB");
    }
}
