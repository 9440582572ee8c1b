//! The answer file: its schema, how it is read, and how its errors are placed.

mod model;
mod size;
mod source;

pub use model::*;
pub use size::{Size, GIB, KIB, MIB, TIB};
pub use source::{load, Diagnostic, Diagnostics, Document, Issue, Loaded, NodeHint, SourceMap};

/// The answer file's JSON Schema, for editors and for the reference's drift test.
pub fn schema() -> serde_json::Value {
    let mut s = serde_json::to_value(schemars::schema_for!(Answer)).expect("schema serialises");
    standard_limits(&mut s);
    s
}

/// What schemars leaves out, so an editor refuses what the loader refuses: the maxima of
/// unsigned integers (it gives u8 and u16 theirs, not u32 or usize), and IP addresses as
/// the standard `ipv4`/`ipv6` formats (its `ip` is no JSON Schema format, and editors
/// ignore it).
fn standard_limits(v: &mut serde_json::Value) {
    use serde_json::{json, Value};
    match v {
        Value::Object(m) => {
            let max = match m.get("format").and_then(Value::as_str) {
                Some("uint32") => Some(u64::from(u32::MAX)),
                Some("uint") => Some(usize::MAX as u64),
                _ => None,
            };
            if let Some(max) = max {
                m.entry("maximum").or_insert(json!(max));
            }
            if m.get("format").and_then(Value::as_str) == Some("ip") {
                m.remove("format");
                m.insert(
                    "anyOf".into(),
                    json!([{ "format": "ipv4" }, { "format": "ipv6" }]),
                );
            }
            m.values_mut().for_each(standard_limits);
        }
        Value::Array(a) => a.iter_mut().for_each(standard_limits),
        _ => {}
    }
}

/// Writes an answer file (it may hold a password hash or a DRBD secret) with mode 0600,
/// through a temporary file in the same directory and a rename: a crash leaves the old file
/// or the new one, never half of one, and the text is never readable by others.
pub fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other(format!("{} is not a file path", path.display())))?;
    let tmp = dir.join(format!(".{}.tandem-tmp", name.to_string_lossy()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        // An existing temp file keeps its mode through open(); force it.
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
