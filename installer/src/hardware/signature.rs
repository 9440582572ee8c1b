//! What is on a device: from udev's blkid results where udev has them, and from the
//! device's own bytes where it has not (udev may not run in every live environment, and
//! it leaves out details such as an LVM PV's volume group). Probing only reads.

use super::udev::Record;
use super::Signature;
use std::io::{self, Read, Seek, SeekFrom};

/// The signatures udev's blkid builtin recorded for a device. A partition's record repeats
/// its disk's partition-table type, so `is_partition` leaves that out.
pub fn from_udev(r: &Record, is_partition: bool) -> Vec<Signature> {
    let mut v = Vec::new();
    if !is_partition {
        if let Some(t) = r.get("ID_PART_TABLE_TYPE") {
            v.push(Signature::PartitionTable {
                table: t.to_string(),
            });
        }
    }
    let Some(fstype) = r.get("ID_FS_TYPE") else {
        return v;
    };
    let label = r
        .get_decoded("ID_FS_LABEL_ENC")
        .or_else(|| r.get("ID_FS_LABEL").map(str::to_string));
    let uuid = r.get("ID_FS_UUID").map(str::to_string);
    v.push(match fstype {
        "linux_raid_member" => Signature::MdMember {
            array_uuid: uuid.map(|u| md_uuid(&u)),
            array_name: label,
        },
        "LVM2_member" => Signature::LvmPv { vg: None },
        "drbd" => Signature::Drbd,
        _ => match r.get("ID_FS_USAGE") {
            Some("filesystem") | Some("other") | None => Signature::Filesystem {
                fstype: fstype.to_string(),
                label,
                uuid,
            },
            Some(_) => Signature::Other {
                what: fstype.to_string(),
            },
        },
    });
    v
}

/// An md array UUID in mdadm's own notation (xxxxxxxx:xxxxxxxx:xxxxxxxx:xxxxxxxx), which
/// is what `mdadm --detail` and mdadm.conf show; blkid writes it as an RFC 4122 UUID.
pub fn md_uuid(u: &str) -> String {
    let hex: String = u.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    if hex.len() != 32 {
        return u.to_string();
    }
    let hex = hex.to_ascii_lowercase();
    format!(
        "{}:{}:{}:{}",
        &hex[0..8],
        &hex[8..16],
        &hex[16..24],
        &hex[24..32]
    )
}

/// Adds what probing found to what udev reported: a kind udev did not see is added; an
/// LVM PV gains the volume group name probing read.
pub fn merge(mut udev: Vec<Signature>, probed: Vec<Signature>) -> Vec<Signature> {
    for p in probed {
        let same = udev
            .iter_mut()
            .find(|u| std::mem::discriminant(*u) == std::mem::discriminant(&p));
        match (same, p) {
            (Some(Signature::LvmPv { vg }), Signature::LvmPv { vg: Some(name) })
                if vg.is_none() =>
            {
                *vg = Some(name)
            }
            (Some(_), _) => {}
            (None, p) => udev.push(p),
        }
    }
    udev
}

const MD_MAGIC: u32 = 0xa92b_4efc;
const DRBD_MAGICS: [u32; 3] = [0x8374_026b, 0x8374_026c, 0x8374_026d];

/// Reads the device's signatures from its bytes. `size` is the device size in bytes and
/// `sector` its logical sector size (a GPT header sits in the second logical sector).
pub fn probe<D: Read + Seek>(dev: &mut D, size: u64, sector: u32) -> io::Result<Vec<Signature>> {
    let head = read_at(dev, 0, 72 * 1024, size)?;
    let mut v = Vec::new();
    let sector = u64::from(sector.max(512)) as usize;

    if is_gpt(&head, sector) {
        v.push(Signature::PartitionTable {
            table: "gpt".into(),
        });
    }
    if let Some(s) = md_at(&head, 0).or_else(|| md_at(&head, 4096)) {
        v.push(s);
    } else if let Some(s) = md_at_end(dev, size)? {
        v.push(s);
    }
    if let Some(label_at) = (0..4).map(|i| i * 512).find(|&o| lvm_label(&head, o)) {
        v.push(Signature::LvmPv {
            vg: lvm_vg_name(dev, &head, label_at, size).unwrap_or(None),
        });
    }
    if size >= 4096 {
        let tail = read_at(dev, size - 4096, 4096, size)?;
        if tail.len() >= 64 && DRBD_MAGICS.contains(&be32(&tail, 60)) {
            v.push(Signature::Drbd);
        }
    }
    let fs = filesystem(&head);
    let has_fs = fs.is_some();
    v.extend(fs);
    // A FAT boot sector ends in 0x55AA too; only a sector that is not one is an MBR.
    if !has_fs
        && !v
            .iter()
            .any(|s| matches!(s, Signature::PartitionTable { .. }))
        && is_mbr(&head)
    {
        v.push(Signature::PartitionTable {
            table: "dos".into(),
        });
    }
    Ok(v)
}

fn read_at<D: Read + Seek>(dev: &mut D, off: u64, len: usize, size: u64) -> io::Result<Vec<u8>> {
    if off >= size {
        return Ok(Vec::new());
    }
    let len = len.min((size - off) as usize);
    dev.seek(SeekFrom::Start(off))?;
    let mut buf = vec![0u8; len];
    let mut got = 0;
    while got < len {
        match dev.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    buf.truncate(got);
    Ok(buf)
}

fn le16(b: &[u8], o: usize) -> u16 {
    b.get(o..o + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .unwrap_or(0)
}
fn le32(b: &[u8], o: usize) -> u32 {
    b.get(o..o + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .unwrap_or(0)
}
fn be32(b: &[u8], o: usize) -> u32 {
    b.get(o..o + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        .unwrap_or(0)
}
fn le64(b: &[u8], o: usize) -> u64 {
    b.get(o..o + 8)
        .map(|s| u64::from_le_bytes(s.try_into().unwrap_or([0; 8])))
        .unwrap_or(0)
}
fn has(b: &[u8], o: usize, magic: &[u8]) -> bool {
    b.get(o..o + magic.len()) == Some(magic)
}
fn text(b: &[u8], o: usize, len: usize) -> Option<String> {
    let raw = b.get(o..o + len)?;
    let end = raw.iter().position(|&c| c == 0).unwrap_or(raw.len());
    let s = String::from_utf8_lossy(&raw[..end]).trim().to_string();
    (!s.is_empty()).then_some(s)
}
fn uuid(b: &[u8], o: usize) -> Option<String> {
    let u = b.get(o..o + 16)?;
    if u.iter().all(|&c| c == 0) {
        return None;
    }
    let h: String = u.iter().map(|c| format!("{c:02x}")).collect();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

fn is_gpt(head: &[u8], sector: usize) -> bool {
    has(head, sector, b"EFI PART") || has(head, 512, b"EFI PART")
}

fn is_mbr(head: &[u8]) -> bool {
    if !has(head, 510, &[0x55, 0xaa]) {
        return false;
    }
    // Four partition entries whose status bytes are valid and at least one is used.
    let entries: Vec<&[u8]> = (0..4)
        .filter_map(|i| head.get(446 + i * 16..462 + i * 16))
        .collect();
    entries.len() == 4
        && entries.iter().all(|e| e[0] == 0 || e[0] == 0x80)
        && entries.iter().any(|e| e[4] != 0)
}

/// An md 1.x superblock (1.1 at 0, 1.2 at 4 KiB, 1.0 near the end): magic, then
/// major_version 1, set_uuid at +16, set_name at +32.
fn md_at(buf: &[u8], o: usize) -> Option<Signature> {
    if le32(buf, o) != MD_MAGIC || le32(buf, o + 4) != 1 {
        return None;
    }
    let hex: String = buf
        .get(o + 16..o + 32)?
        .iter()
        .map(|c| format!("{c:02x}"))
        .collect();
    Some(Signature::MdMember {
        array_uuid: Some(md_uuid(&hex)),
        array_name: text(buf, o + 32, 32),
    })
}

fn md_at_end<D: Read + Seek>(dev: &mut D, size: u64) -> io::Result<Option<Signature>> {
    // 1.0: 8 KiB from the end, rounded down to 4 KiB.
    if size >= 12 * 1024 {
        let o = (size - 8 * 1024) & !4095;
        let b = read_at(dev, o, 4096, size)?;
        if let Some(s) = md_at(&b, 0) {
            return Ok(Some(s));
        }
    }
    // 0.90: the last 64 KiB-aligned 64 KiB block; uuid words 5, 13, 14, 15.
    if size >= 128 * 1024 {
        let o = (size & !0xffff) - 0x10000;
        let b = read_at(dev, o, 4096, size)?;
        if le32(&b, 0) == MD_MAGIC && le32(&b, 4) == 0 {
            let words = [le32(&b, 20), le32(&b, 52), le32(&b, 56), le32(&b, 60)];
            return Ok(Some(Signature::MdMember {
                array_uuid: Some(
                    words
                        .iter()
                        .map(|w| format!("{w:08x}"))
                        .collect::<Vec<_>>()
                        .join(":"),
                ),
                array_name: None,
            }));
        }
    }
    Ok(None)
}

fn lvm_label(head: &[u8], o: usize) -> bool {
    has(head, o, b"LABELONE") && has(head, o + 24, b"LVM2 001")
}

/// The VG name from the PV's first metadata area: label → PV header (uuid, size, data
/// area list, metadata area list) → mda header → raw location of the text, which starts
/// with "<vgname> {". None for an orphan PV.
fn lvm_vg_name<D: Read + Seek>(
    dev: &mut D,
    head: &[u8],
    label_at: usize,
    size: u64,
) -> io::Result<Option<String>> {
    let pvh = label_at + le32(head, label_at + 20) as usize;
    let mut o = pvh + 32 + 8;
    // Data areas, then metadata areas; each list ends with a zero offset.
    while o + 16 <= head.len() && le64(head, o) != 0 {
        o += 16;
    }
    o += 16;
    let mda = le64(head, o);
    if mda == 0 {
        return Ok(None);
    }
    let h = read_at(dev, mda, 512, size)?;
    if !has(&h, 4, b" LVM2 x[5A%r0N*>") {
        return Ok(None);
    }
    let (start, loc, len) = (le64(&h, 24), le64(&h, 40), le64(&h, 48));
    if loc == 0 || len == 0 {
        return Ok(None);
    }
    let t = read_at(dev, start + loc, len.min(4096) as usize, size)?;
    let t = String::from_utf8_lossy(&t);
    Ok(t.split_whitespace()
        .next()
        .filter(|n| !n.is_empty() && t.contains('{'))
        .map(str::to_string))
}

fn filesystem(head: &[u8]) -> Option<Signature> {
    let fs = |fstype: &str, label: Option<String>, uuid: Option<String>| Signature::Filesystem {
        fstype: fstype.into(),
        label,
        uuid,
    };
    if le16(head, 1080) == 0xef53 {
        let compat = le32(head, 1024 + 92);
        let incompat = le32(head, 1024 + 96);
        // extents or 64bit → ext4; a journal → ext3.
        let t = if incompat & (0x40 | 0x80) != 0 {
            "ext4"
        } else if compat & 0x4 != 0 {
            "ext3"
        } else {
            "ext2"
        };
        return Some(fs(t, text(head, 1024 + 120, 16), uuid(head, 1024 + 104)));
    }
    if has(head, 0, b"XFSB") {
        return Some(fs("xfs", text(head, 108, 12), uuid(head, 32)));
    }
    if has(head, 4086, b"SWAPSPACE2") || has(head, 4086, b"SWAP-SPACE") {
        return Some(fs("swap", text(head, 1024 + 28, 16), uuid(head, 1024 + 12)));
    }
    if has(head, 0, b"LUKS\xba\xbe") {
        return Some(Signature::Other {
            what: "crypto_LUKS".into(),
        });
    }
    if has(head, 32769, b"CD001") {
        return Some(fs("iso9660", text(head, 32768 + 40, 32), None));
    }
    if has(head, 510, &[0x55, 0xaa]) {
        // FAT32 and FAT12/16 keep the volume id and label at different offsets; the id
        // reads as blkid writes it, "7A4D-0001".
        let fat = |id: usize, label: usize| {
            let v = le32(head, id);
            fs(
                "vfat",
                text(head, label, 11).filter(|l| l != "NO NAME"),
                Some(format!("{:04X}-{:04X}", v >> 16, v & 0xffff)),
            )
        };
        if has(head, 82, b"FAT32   ") {
            return Some(fat(67, 71));
        }
        if has(head, 54, b"FAT1") {
            return Some(fat(39, 43));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn probe_buf(b: Vec<u8>) -> Vec<Signature> {
        let n = b.len() as u64;
        probe(&mut Cursor::new(b), n, 512).unwrap()
    }

    #[test]
    fn blank_device_has_no_signature() {
        assert!(probe_buf(vec![0; 1 << 20]).is_empty());
    }

    #[test]
    fn md_1_2_superblock_at_4k() {
        let mut b = vec![0u8; 1 << 20];
        b[4096..4100].copy_from_slice(&MD_MAGIC.to_le_bytes());
        b[4100..4104].copy_from_slice(&1u32.to_le_bytes());
        b[4112..4128].copy_from_slice(&[
            0x3b, 0x1c, 0x6a, 0x2e, 0x5f, 0x0d, 0x9e, 0x41, 0x8a, 0x7b, 0x2c, 0x6d, 0x1e, 0x4f,
            0x5a, 0x3b,
        ]);
        b[4128..4137].copy_from_slice(b"oldhost:0");
        assert_eq!(
            probe_buf(b),
            vec![Signature::MdMember {
                array_uuid: Some("3b1c6a2e:5f0d9e41:8a7b2c6d:1e4f5a3b".into()),
                array_name: Some("oldhost:0".into())
            }]
        );
    }

    #[test]
    fn md_1_0_superblock_at_end() {
        let mut b = vec![0u8; 1 << 20];
        let o = ((1u64 << 20) - 8192) as usize & !4095;
        b[o..o + 4].copy_from_slice(&MD_MAGIC.to_le_bytes());
        b[o + 4..o + 8].copy_from_slice(&1u32.to_le_bytes());
        b[o + 16] = 0xab;
        let s = probe_buf(b);
        assert!(
            matches!(&s[..], [Signature::MdMember { array_uuid: Some(u), .. }] if u.starts_with("ab000000:")),
            "{s:?}"
        );
    }

    #[test]
    fn gpt_mbr_ext4_xfs_swap_drbd() {
        let mut b = vec![0u8; 1 << 20];
        b[512..520].copy_from_slice(b"EFI PART");
        b[510] = 0x55;
        b[511] = 0xaa;
        b[446 + 4] = 0xee;
        assert_eq!(
            probe_buf(b.clone()),
            vec![Signature::PartitionTable {
                table: "gpt".into()
            }]
        );
        b[512..520].fill(0);
        assert_eq!(
            probe_buf(b),
            vec![Signature::PartitionTable {
                table: "dos".into()
            }]
        );

        let mut e = vec![0u8; 1 << 20];
        e[1080..1082].copy_from_slice(&0xef53u16.to_le_bytes());
        e[1024 + 96] = 0x40;
        e[1024 + 120..1024 + 127].copy_from_slice(b"olddata");
        let s = probe_buf(e);
        assert!(
            matches!(&s[..], [Signature::Filesystem { fstype, label: Some(l), .. }] if fstype == "ext4" && l == "olddata"),
            "{s:?}"
        );

        let mut x = vec![0u8; 1 << 20];
        x[0..4].copy_from_slice(b"XFSB");
        assert!(
            matches!(&probe_buf(x)[..], [Signature::Filesystem { fstype, .. }] if fstype == "xfs")
        );

        let mut w = vec![0u8; 1 << 20];
        w[4086..4096].copy_from_slice(b"SWAPSPACE2");
        assert!(
            matches!(&probe_buf(w)[..], [Signature::Filesystem { fstype, .. }] if fstype == "swap")
        );

        let mut d = vec![0u8; 1 << 20];
        let o = (1 << 20) - 4096 + 60;
        d[o..o + 4].copy_from_slice(&0x8374_026du32.to_be_bytes());
        assert_eq!(probe_buf(d), vec![Signature::Drbd]);
    }

    #[test]
    fn lvm_pv_with_its_vg_name() {
        let mut b = vec![0u8; 1 << 20];
        // Label in sector 1, PV header right after the 32-byte label header.
        b[512..520].copy_from_slice(b"LABELONE");
        b[512 + 20..512 + 24].copy_from_slice(&32u32.to_le_bytes());
        b[512 + 24..512 + 32].copy_from_slice(b"LVM2 001");
        let pvh = 512 + 32;
        let mut o = pvh + 40;
        b[o..o + 8].copy_from_slice(&(1u64 << 20).to_le_bytes()); // data area
        o += 32; // data list terminator
        b[o..o + 8].copy_from_slice(&4096u64.to_le_bytes()); // metadata area at 4 KiB
        b[4096 + 4..4096 + 20].copy_from_slice(b" LVM2 x[5A%r0N*>");
        b[4096 + 24..4096 + 32].copy_from_slice(&4096u64.to_le_bytes());
        b[4096 + 40..4096 + 48].copy_from_slice(&512u64.to_le_bytes());
        b[4096 + 48..4096 + 56].copy_from_slice(&20u64.to_le_bytes());
        b[4608..4628].copy_from_slice(b"oldvg {\nid = \"x\"\n}\n\0");
        assert_eq!(
            probe_buf(b),
            vec![Signature::LvmPv {
                vg: Some("oldvg".into())
            }]
        );
    }

    #[test]
    fn udev_md_member_and_partition_records() {
        let r = Record::parse(
            "E:ID_FS_TYPE=linux_raid_member\nE:ID_FS_UUID=3b1c6a2e-5f0d-9e41-8a7b-2c6d1e4f5a3b\n\
             E:ID_FS_LABEL=oldhost:0\nE:ID_FS_LABEL_ENC=oldhost:0\nE:ID_FS_USAGE=raid\nE:ID_PART_TABLE_TYPE=gpt\n",
        );
        assert_eq!(
            from_udev(&r, true),
            vec![Signature::MdMember {
                array_uuid: Some("3b1c6a2e:5f0d9e41:8a7b2c6d:1e4f5a3b".into()),
                array_name: Some("oldhost:0".into())
            }]
        );
        assert_eq!(from_udev(&r, false).len(), 2);
    }

    #[test]
    fn merge_fills_vg_and_adds_unseen_kinds() {
        let m = merge(
            vec![Signature::LvmPv { vg: None }],
            vec![
                Signature::LvmPv {
                    vg: Some("vg0".into()),
                },
                Signature::Drbd,
            ],
        );
        assert_eq!(
            m,
            vec![
                Signature::LvmPv {
                    vg: Some("vg0".into())
                },
                Signature::Drbd
            ]
        );
    }
}
