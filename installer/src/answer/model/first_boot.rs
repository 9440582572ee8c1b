//! `[first-boot]`: scripts the installed node runs once, on its first boot.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct FirstBoot {
    /// The hooks, run in file order within their stage.
    #[serde(default)]
    pub hook: Vec<Hook>,
}

/// One script run once on the installed node. Exactly one of `script`, `file`, `url`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Hook {
    /// Lower-case letters, digits and `-`; unique. Names the stored script, its done-stamp
    /// and its log lines.
    pub name: String,
    /// When it runs: before any network is configured, or once the network is online.
    #[serde(default)]
    pub after: HookStage,
    /// The script itself (must start with `#!`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    /// A script on the install medium, relative to its `tandem/` directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// A script fetched over http(s) at install time; needs `sha256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// SHA-256 of the script (64 hex digits): required with `url`, checked when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum HookStage {
    /// Before network-pre.target: no network yet.
    BeforeNetwork,
    /// After network-online.target.
    #[default]
    NetworkOnline,
}

/// Where a hook's script comes from, once validation has made sure there is exactly one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookSource {
    Inline(String),
    Medium(String),
    Url(String),
}

impl Hook {
    pub fn source(&self) -> Option<HookSource> {
        match (&self.script, &self.file, &self.url) {
            (Some(s), None, None) => Some(HookSource::Inline(s.clone())),
            (None, Some(f), None) => Some(HookSource::Medium(f.clone())),
            (None, None, Some(u)) => Some(HookSource::Url(u.clone())),
            _ => None,
        }
    }
}
