//! The install report sent to `[report] url`: the TANDEM-RESULT data
//! ([`install::Report`]) plus what identifies the machine, and the short progress events.
//! A webhook that does not answer is logged and never fails the install.

use super::install;
use crate::answer::Webhook;
use crate::hardware::Inventory;
use crate::plan::Plan;
use anyhow::Result;
use serde::Serialize;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// Bumped when a key changes meaning or disappears; new keys do not bump it.
pub const SCHEMA_VERSION: u32 = 1;
/// Where the kernel shows the firmware's DMI table.
pub const DMI_DIR: &str = "/sys/class/dmi/id";
/// How long the final report may keep failing (connection refused, 5xx) before the
/// install gives up on it: a few attempts, not a stuck install.
pub const REPORT_PATIENCE: Duration = Duration::from_secs(30);
/// Progress events are worth less than install time.
pub const EVENT_PATIENCE: Duration = Duration::from_secs(3);
/// How much of a failure's text (already redacted like the log) the report carries.
pub const ERROR_TAIL_BYTES: usize = 4000;

/// What identifies the machine, gathered once.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Machine {
    pub macs: Vec<String>,
    pub dmi_serial: Option<String>,
    pub dmi_uuid: Option<String>,
    pub disks: Vec<DiskFacts>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct DiskFacts {
    pub dev: String,
    pub by_id: String,
    pub serial: Option<String>,
    pub size_bytes: u64,
}

impl Machine {
    /// The planned disks and physical NICs of `inv`, DMI serial and UUID from `dmi_dir`.
    pub fn gather(plan: &Plan, inv: &Inventory, dmi_dir: &Path) -> Self {
        let dmi = |f: &str| {
            std::fs::read_to_string(dmi_dir.join(f))
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        };
        Machine {
            macs: inv
                .physical_nics()
                .map(|n| n.hw_mac().to_string())
                .collect(),
            dmi_serial: dmi("product_serial"),
            dmi_uuid: dmi("product_uuid"),
            disks: plan
                .storage
                .disks
                .iter()
                .map(|d| DiskFacts {
                    dev: d.dev.to_string(),
                    by_id: d.stable_path.clone(),
                    serial: inv.disk(&d.name).and_then(|x| x.serial.clone()),
                    size_bytes: d.size_bytes,
                })
                .collect(),
        }
    }
}

/// The JSON body of the final report: `r` as TANDEM-RESULT prints it, plus the keys
/// docs/report.md lists. `r.error` is already redacted; only its tail is kept.
pub fn body(node: Option<&str>, r: &install::Report, m: &Machine) -> Value {
    let mut v = serde_json::to_value(r).unwrap_or_else(|_| json!({}));
    if let Some(o) = v.as_object_mut() {
        if let Some(Value::String(e)) = o.get_mut("error") {
            *e = tail(e, ERROR_TAIL_BYTES).to_string();
        }
        o.insert("event".into(), json!("install"));
        o.insert("schema".into(), json!(SCHEMA_VERSION));
        o.insert("tandem-version".into(), json!(env!("CARGO_PKG_VERSION")));
        o.insert("node".into(), json!(node));
        o.insert("machine".into(), json!(m));
    }
    v
}

/// A progress event: `{"event": "phase-start", "phase": …}` and the like.
pub fn event(kind: &str, fields: Value) -> Value {
    let mut v = json!({ "event": kind, "schema": SCHEMA_VERSION });
    if let (Some(o), Value::Object(f)) = (v.as_object_mut(), fields) {
        o.extend(f);
    }
    v
}

/// A `phase-start` or `phase-end` event. The node tells apart the events of machines
/// installing at once (one webhook serves a fleet); `seconds` only on `phase-end`.
pub fn phase_event(kind: &str, node: Option<&str>, phase: &str, seconds: Option<f64>) -> Value {
    let mut fields = json!({ "phase": phase });
    if let Some(node) = node {
        fields["node"] = json!(node);
    }
    if let Some(s) = seconds {
        fields["seconds"] = json!(s);
    }
    event(kind, fields)
}

/// POSTs `v` to the webhook, trying for `patience`.
pub fn send(hook: &Webhook, v: &Value, patience: Duration) -> Result<()> {
    let body = serde_json::to_vec(v)?;
    crate::http::post_json(
        "the install report",
        &hook.url,
        &hook.trust(),
        &body,
        patience,
    )
}

/// The last `max` bytes of `s`, cut at a character boundary.
fn tail(s: &str, max: usize) -> &str {
    let mut start = s.len().saturating_sub(max);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_end_on_a_char_boundary() {
        assert_eq!(tail("abcdef", 3), "def");
        assert_eq!(tail("ab", 3), "ab");
        assert_eq!(tail("aйb", 2), "b");
    }

    #[test]
    fn events_carry_kind_schema_and_fields() {
        let e = event("phase-start", json!({"phase": "wipe"}));
        assert_eq!(e["event"], "phase-start");
        assert_eq!(e["phase"], "wipe");
        assert_eq!(e["schema"], SCHEMA_VERSION);
    }
}

/// docs/report.md's examples have exactly the keys the code sends.
#[cfg(test)]
mod doc_tests {
    use super::*;
    use crate::exec::install::{DiskSpeed, PhaseTime, Report};
    use std::collections::BTreeSet;

    fn doc_blocks() -> Vec<Value> {
        let text = include_str!("../../../docs/report.md");
        text.split("```json\n")
            .skip(1)
            .map(|b| serde_json::from_str(b.split("```").next().unwrap()).unwrap())
            .collect()
    }

    /// Key paths, arrays seen through their first element.
    fn keys(v: &Value, path: &str, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(o) => {
                for (k, x) in o {
                    let p = format!("{path}.{k}");
                    keys(x, &p, out);
                    out.insert(p);
                }
            }
            Value::Array(a) => {
                if let Some(x) = a.first() {
                    keys(x, &format!("{path}[]"), out);
                }
            }
            _ => {}
        }
    }

    fn key_set(v: &Value) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        keys(v, "", &mut out);
        out
    }

    #[test]
    fn the_documented_report_and_events_have_the_keys_the_code_sends() {
        let r = Report {
            result: "failed",
            hostname: "h.example".into(),
            phases: vec![PhaseTime {
                phase: "wipe".into(),
                seconds: 1.0,
            }],
            total_seconds: 2.0,
            disks: vec!["/dev/sda".into()],
            arrays: vec!["/dev/md/data".into()],
            addresses: vec!["vmbr0 192.0.2.1/24".into()],
            disk_speeds: vec![DiskSpeed {
                disk: "sda".into(),
                read_mbps: 1.0,
                write_mbps: 1.0,
                slow: vec!["x".into()],
            }],
            failed_phase: Some("raid".into()),
            error: Some("x".into()),
        };
        let m = Machine {
            macs: vec!["52:54:00:00:00:01".into()],
            dmi_serial: Some("S".into()),
            dmi_uuid: Some("U".into()),
            disks: vec![DiskFacts {
                dev: "/dev/sda".into(),
                by_id: "/dev/disk/by-id/x".into(),
                serial: Some("s".into()),
                size_bytes: 1,
            }],
        };
        let docs = doc_blocks();
        // The fourth, the first-boot event, is node::first_boot's to check.
        assert_eq!(
            docs.len(),
            4,
            "report.md should show the report and three events"
        );
        assert_eq!(key_set(&docs[0]), key_set(&body(Some("n"), &r, &m)));
        assert_eq!(docs[0]["schema"], SCHEMA_VERSION);
        let start = phase_event("phase-start", Some("n"), "wipe", None);
        let end = phase_event("phase-end", Some("n"), "wipe", Some(1.0));
        assert_eq!(key_set(&docs[1]), key_set(&start));
        assert_eq!(key_set(&docs[2]), key_set(&end));
    }
}
