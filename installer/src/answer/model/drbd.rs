//! `[drbd]`: replicated block devices shared with a peer.

use super::*;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Drbd {
    pub resources: Vec<DrbdResource>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DrbdResource {
    /// Resource name, e.g. "r0".
    pub name: String,
    /// The DRBD device, /dev/drbdN.
    pub device: String,
    /// The backing device: "volume:<name>" for a volume of `storage.volumes`, or a path.
    pub backing: String,
    /// TCP port on every node.
    #[serde(default = "default_drbd_port")]
    pub port: u16,
    #[serde(default)]
    pub protocol: DrbdProtocol,
    /// Both nodes primary at once (allow-two-primaries, become-primary-on both), for live
    /// migration. Needs protocol C.
    #[serde(default)]
    pub dual_primary: bool,
    /// Seconds to wait for the peer at boot (0 waits forever).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wfc_timeout: Option<u32>,
    /// Seconds to wait for the peer at boot when the cluster was degraded before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degr_wfc_timeout: Option<u32>,
    /// Split-brain recovery policies.
    #[serde(default)]
    pub after_sb: AfterSb,
    /// Resync rate: "auto" (from the replication link's speed) or a rate like "110M"
    /// (bytes per second).
    #[serde(default)]
    pub sync_rate: SyncRate,
    /// Shared secret for cram-hmac-alg: "generate" (replaced once per cluster by
    /// `tandem prepare`) or the secret itself (at least 16 characters).
    #[serde(default)]
    #[schemars(with = "String", default = "default_secret")]
    pub secret: DrbdSecret,
    /// HMAC algorithm for peer authentication.
    #[serde(default = "default_hmac")]
    pub hmac_alg: String,
    /// Fencing policy: `resource-and-stonith` (with handlers) for dual-primary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fencing: Option<DrbdFencing>,
    /// Create an LVM volume group on the DRBD device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lvm: Option<DrbdLvm>,
}

fn default_drbd_port() -> u16 {
    7788
}
fn default_secret() -> String {
    DrbdSecret::GENERATE.into()
}

/// A DRBD shared secret as the answer gives it. `Debug` never shows the value, so an answer
/// printed or logged whole cannot leak it.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum DrbdSecret {
    /// `"generate"`: `tandem prepare` puts one random secret into every node's file.
    #[default]
    Generate,
    Given(String),
}

impl DrbdSecret {
    /// What the answer file says for [`DrbdSecret::Generate`].
    pub const GENERATE: &'static str = "generate";

    /// The secret itself, once there is one.
    pub fn given(&self) -> Option<&str> {
        match self {
            DrbdSecret::Generate => None,
            DrbdSecret::Given(s) => Some(s),
        }
    }
}

impl From<String> for DrbdSecret {
    fn from(s: String) -> Self {
        if s == Self::GENERATE {
            DrbdSecret::Generate
        } else {
            DrbdSecret::Given(s)
        }
    }
}

impl fmt::Debug for DrbdSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DrbdSecret::Generate => f.write_str("Generate"),
            DrbdSecret::Given(_) => f.write_str("Given(<redacted>)"),
        }
    }
}

impl Serialize for DrbdSecret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.given().unwrap_or(Self::GENERATE))
    }
}

impl<'de> Deserialize<'de> for DrbdSecret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(DrbdSecret::from)
    }
}
fn default_hmac() -> String {
    "sha1".into()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum DrbdProtocol {
    A,
    B,
    #[default]
    C,
}

impl fmt::Display for DrbdProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(enum_name(self).as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct AfterSb {
    #[serde(default = "default_sb0")]
    pub zero_primaries: AfterSb0,
    #[serde(default = "default_sb1")]
    pub one_primary: AfterSb1,
    #[serde(default = "default_sb2")]
    pub two_primaries: AfterSb2,
}

impl Default for AfterSb {
    fn default() -> Self {
        AfterSb {
            zero_primaries: default_sb0(),
            one_primary: default_sb1(),
            two_primaries: default_sb2(),
        }
    }
}

fn default_sb0() -> AfterSb0 {
    AfterSb0::DiscardZeroChanges
}
fn default_sb1() -> AfterSb1 {
    AfterSb1::DiscardSecondary
}
fn default_sb2() -> AfterSb2 {
    AfterSb2::Disconnect
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AfterSb0 {
    Disconnect,
    DiscardYoungerPrimary,
    DiscardOlderPrimary,
    DiscardZeroChanges,
    DiscardLeastChanges,
    DiscardNodeName,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AfterSb1 {
    Disconnect,
    Consensus,
    ViolentlyAs0p,
    DiscardSecondary,
    CallPriLostAfterSb,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AfterSb2 {
    Disconnect,
    ViolentlyAs0p,
    CallPriLostAfterSb,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum SyncRate {
    #[default]
    Auto,
    /// Bytes per second.
    Fixed(Size),
}

impl Serialize for SyncRate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Auto => s.serialize_str("auto"),
            Self::Fixed(r) => s.serialize_str(&r.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for SyncRate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s == "auto" {
            return Ok(Self::Auto);
        }
        s.parse::<Size>()
            .map(Self::Fixed)
            .map_err(|e| serde::de::Error::custom(format!("{e}; sync-rate may also be \"auto\"")))
    }
}

impl JsonSchema for SyncRate {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SyncRate".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "\"auto\" or bytes per second like \"110M\".",
            "type": "string"
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DrbdFencing {
    DontCare,
    ResourceOnly,
    ResourceAndStonith,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DrbdLvm {
    /// Volume group created on the DRBD device (pvcreate + vgcreate).
    pub vg: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_shows_in_debug_and_generate_is_its_own_case() {
        let r: DrbdSecret = serde_json::from_str("\"Zq8v0J2kLx7Wm4Rt9bNc\"").unwrap();
        assert_eq!(r.given(), Some("Zq8v0J2kLx7Wm4Rt9bNc"));
        assert!(!format!("{r:?}").contains("Zq8v"));
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            "\"Zq8v0J2kLx7Wm4Rt9bNc\""
        );
        let g: DrbdSecret = serde_json::from_str("\"generate\"").unwrap();
        assert_eq!(g, DrbdSecret::Generate);
        assert_eq!(serde_json::to_string(&g).unwrap(), "\"generate\"");
    }
}
