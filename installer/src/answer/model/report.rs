//! `[report]`: where the installer sends its result.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Webhook {
    /// The webhook that gets one JSON report when the install ends, ok or failed
    /// (`http://` or `https://`). docs/report.md has the body.
    pub url: String,
    /// SHA-256 of the server's certificate (openssl's `AB:CD:…` form); only with https.
    /// When set, exactly that certificate is accepted and the system roots are not asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Also send a short event when each phase starts and ends (best effort).
    #[serde(default)]
    pub progress: bool,
}

impl Webhook {
    /// How the webhook's certificate is checked. Only meaningful after validation, which
    /// refuses a fingerprint that does not parse; an unparsable one here falls back to
    /// nothing less strict than a pin that matches no certificate.
    pub fn trust(&self) -> crate::http::Trust {
        match &self.fingerprint {
            None => crate::http::Trust::Roots,
            Some(f) => {
                crate::http::Trust::Pinned(f.parse().unwrap_or(crate::http::Fingerprint([0; 32])))
            }
        }
    }
}
