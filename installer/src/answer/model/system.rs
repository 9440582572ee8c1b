//! `[system]`: identity, locale and accounts.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct System {
    /// Short host name (RFC 1123 label). In a cluster file it defaults to the node's name.
    #[serde(default)]
    pub hostname: String,
    /// DNS domain; the FQDN is `hostname.domain`.
    pub domain: String,
    /// IANA time zone, e.g. "Europe/Moscow".
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Default locale, e.g. "ru_RU.UTF-8". `en_US.UTF-8` is always generated too.
    #[serde(default = "default_locale")]
    pub locale: String,
    /// Console keyboard layouts, comma-separated as in XKBLAYOUT: "us" or "us,ru".
    #[serde(default = "default_keyboard")]
    pub keyboard: String,
    /// Root password as a crypt(3) hash: yescrypt `$y$`, SHA-512 `$6$` or SHA-256 `$5$`.
    /// The plain password never appears in an answer file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_password_hash: Option<String>,
    /// OpenSSH public keys written to /root/.ssh/authorized_keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub root_ssh_keys: Vec<String>,
    /// Default editor, set with update-alternatives (e.g. "vim.basic", "nano").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub editor: Option<String>,
    /// Extra packages installed from the medium's package cache.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<String>,
}

fn default_timezone() -> String {
    "UTC".into()
}
fn default_locale() -> String {
    "en_US.UTF-8".into()
}
fn default_keyboard() -> String {
    "us".into()
}
