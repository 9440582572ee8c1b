//! The udev database, read directly: `/run/udev/data/b<major>:<minor>` for block devices,
//! `n<ifindex>` for network interfaces. The installer is a static binary without libudev;
//! the database is plain text and stable across udev versions (`E:KEY=VALUE` properties,
//! `S:` symlinks relative to /dev).

use std::collections::BTreeMap;
use std::path::Path;

/// One device's record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    pub props: BTreeMap<String, String>,
    /// Symlinks under /dev, without the "/dev/" prefix ("disk/by-id/ata-…").
    pub links: Vec<String>,
}

impl Record {
    pub fn parse(text: &str) -> Record {
        let mut r = Record::default();
        for line in text.lines() {
            if let Some(kv) = line.strip_prefix("E:") {
                if let Some((k, v)) = kv.split_once('=') {
                    r.props.insert(k.to_string(), v.to_string());
                }
            } else if let Some(link) = line.strip_prefix("S:") {
                r.links.push(link.to_string());
            }
        }
        r
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.props
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A property in udev's `_ENC` form (`\x20` escapes) decoded and trimmed, e.g.
    /// ID_MODEL_ENC "QEMU\x20HARDDISK\x20\x20\x20" → "QEMU HARDDISK".
    pub fn get_decoded(&self, key: &str) -> Option<String> {
        let v = decode_hex_escapes(self.get(key)?);
        let v = v.trim();
        (!v.is_empty()).then(|| v.to_string())
    }

    /// Names of the links under `dir` ("disk/by-id"), in database order.
    pub fn links_in(&self, dir: &str) -> Vec<String> {
        let prefix = format!("{dir}/");
        self.links
            .iter()
            .filter_map(|l| l.strip_prefix(&prefix))
            .map(str::to_string)
            .collect()
    }
}

/// Decodes udev's `\xNN` escapes; anything malformed is kept as written.
fn decode_hex_escapes(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') {
            if let Some(v) = s
                .get(i + 2..i + 4)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The record of a block device by its "major:minor", if udev has one.
pub fn block(sysroot: &Path, devnum: &str) -> Option<Record> {
    read(&sysroot.join(format!("run/udev/data/b{devnum}")))
}

/// The record of a network interface by its ifindex, if udev has one.
pub fn net(sysroot: &Path, ifindex: u32) -> Option<Record> {
    read(&sysroot.join(format!("run/udev/data/n{ifindex}")))
}

fn read(path: &Path) -> Option<Record> {
    std::fs::read_to_string(path)
        .ok()
        .map(|t| Record::parse(&t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_properties_and_links() {
        let r = Record::parse(
            "S:disk/by-id/ata-QEMU_HARDDISK_SATA0001\nS:disk/by-path/pci-0000:00:1f.2-ata-1\n\
             I:123\nE:ID_BUS=ata\nE:ID_MODEL_ENC=QEMU\\x20HARDDISK\\x20\\x20\nE:ID_EMPTY=\nV:1\n",
        );
        assert_eq!(r.get("ID_BUS"), Some("ata"));
        assert_eq!(r.get("ID_EMPTY"), None);
        assert_eq!(
            r.get_decoded("ID_MODEL_ENC").as_deref(),
            Some("QEMU HARDDISK")
        );
        assert_eq!(r.links_in("disk/by-id"), vec!["ata-QEMU_HARDDISK_SATA0001"]);
        assert_eq!(r.links_in("disk/by-path"), vec!["pci-0000:00:1f.2-ata-1"]);
    }

    #[test]
    fn keeps_malformed_escapes() {
        assert_eq!(decode_hex_escapes("a\\xZZb\\x4"), "a\\xZZb\\x4");
        assert_eq!(decode_hex_escapes("\\x41\\x2fB"), "A/B");
    }
}
