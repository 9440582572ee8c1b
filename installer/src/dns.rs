//! Just enough DNS to read one TXT record from one server over UDP (RFC 1035): the answer
//! discovery asks the DHCP lease's DNS server for `_tandem-answer.<domain>`. The live
//! system runs no resolver, and a query for one record needs none.

use anyhow::{bail, Context, Result};
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

const TYPE_TXT: u16 = 16;
const CLASS_IN: u16 = 1;
/// Plenty for a TXT record holding a URL and a fingerprint; longer answers come truncated.
const MAX_UDP: usize = 1232;

/// The TXT records of `name` (each record's strings joined, as RFC 7208 reads them), or
/// an empty list when the name or the record does not exist. Asks up to three times,
/// `wait` each: UDP may lose a packet.
pub fn query_txt(server: SocketAddr, name: &str, wait: Duration) -> Result<Vec<String>> {
    let bind: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse()?
    } else {
        "[::]:0".parse()?
    };
    let sock = UdpSocket::bind(bind).context("opening a UDP socket for DNS")?;
    sock.connect(server)
        .with_context(|| format!("DNS server {server}"))?;
    sock.set_read_timeout(Some(wait))?;
    let mut last = None;
    for attempt in 0..3u16 {
        let id = query_id(attempt);
        sock.send(&query(id, name)?)
            .with_context(|| format!("asking {server} for TXT {name}"))?;
        let mut buf = [0u8; MAX_UDP];
        loop {
            match sock.recv(&mut buf) {
                Ok(n) => match answer(id, &buf[..n]) {
                    Ok(Some(txt)) => return Ok(txt),
                    // Not a reply to this query (a late one to an earlier attempt).
                    Ok(None) => continue,
                    Err(e) => return Err(e.context(format!("TXT {name} from {server}"))),
                },
                Err(e) => {
                    last = Some(e);
                    break;
                }
            }
        }
    }
    bail!(
        "no answer from DNS server {server} for TXT {name}: {}",
        last.map(|e| e.to_string()).unwrap_or_default()
    )
}

/// Varies per process and attempt so a stray reply is not taken for ours.
fn query_id(attempt: u16) -> u16 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (t as u16) ^ (std::process::id() as u16) ^ attempt.wrapping_mul(0x9e37)
}

/// A standard recursive query for one TXT record.
pub fn query(id: u16, name: &str) -> Result<Vec<u8>> {
    let mut m = Vec::with_capacity(64);
    m.extend_from_slice(&id.to_be_bytes());
    // RD set; one question.
    m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    let name = name.trim_end_matches('.');
    if name.len() > 253 {
        bail!("DNS name too long: {name}");
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            bail!("not a DNS name: {name:?}");
        }
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.push(0);
    m.extend_from_slice(&TYPE_TXT.to_be_bytes());
    m.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(m)
}

/// Reads a reply: None when it is not for query `id`, the TXT strings when it is
/// (empty for NXDOMAIN or no such record), an error for a failing or malformed one.
pub fn answer(id: u16, m: &[u8]) -> Result<Option<Vec<String>>> {
    let u16_at = |i: usize| -> Result<u16> {
        match m.get(i..i + 2) {
            Some(b) => Ok(u16::from_be_bytes([b[0], b[1]])),
            None => bail!("DNS reply cut short"),
        }
    };
    if m.len() < 12 || u16_at(0)? != id || m[2] & 0x80 == 0 {
        return Ok(None);
    }
    match m[3] & 0x0f {
        0 => {}
        3 => return Ok(Some(Vec::new())),
        rcode => bail!("DNS error (RCODE {rcode})"),
    }
    if m[2] & 0x02 != 0 {
        bail!("DNS reply truncated (TXT record too long for UDP)");
    }
    let (qd, an) = (u16_at(4)?, u16_at(6)?);
    let mut i = 12;
    for _ in 0..qd {
        i = skip_name(m, i)? + 4;
    }
    let mut out = Vec::new();
    for _ in 0..an {
        i = skip_name(m, i)?;
        let (rtype, class, len) = (u16_at(i)?, u16_at(i + 2)?, u16_at(i + 8)? as usize);
        i += 10;
        let data = m.get(i..i + len).context("DNS reply cut short")?;
        i += len;
        if rtype != TYPE_TXT || class != CLASS_IN {
            // e.g. the CNAME a resolver puts before the record it led to
            continue;
        }
        let mut text = Vec::new();
        let mut j = 0;
        while j < data.len() {
            let n = data[j] as usize;
            text.extend_from_slice(data.get(j + 1..j + 1 + n).context("TXT string cut short")?);
            j += 1 + n;
        }
        out.push(String::from_utf8(text).context("TXT record is not UTF-8")?);
    }
    Ok(Some(out))
}

/// The index just past a (possibly compressed) name starting at `i`.
fn skip_name(m: &[u8], mut i: usize) -> Result<usize> {
    loop {
        let len = *m.get(i).context("DNS reply cut short")?;
        match len {
            0 => return Ok(i + 1),
            l if l & 0xc0 == 0xc0 => return Ok(i + 2),
            l if l & 0xc0 == 0 => i += 1 + l as usize,
            _ => bail!("bad DNS name label"),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A DNS server on 127.0.0.1 that answers every TXT query for `name` with `records`
    /// (each a list of character-strings, sent behind a CNAME-shaped decoy record and with
    /// a compressed owner name) and anything else with NXDOMAIN. It ignores the first
    /// `drop` queries, as a lossy network would.
    pub fn serve(name: &str, records: Vec<Vec<String>>, drop: usize) -> SocketAddr {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = sock.local_addr().unwrap();
        let name = name.to_string();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            let mut seen = 0;
            while let Ok((n, from)) = sock.recv_from(&mut buf) {
                seen += 1;
                if seen <= drop {
                    continue;
                }
                let q = &buf[..n];
                let qend = skip_name(q, 12).unwrap() + 4;
                let asked = query(0, &name).unwrap();
                let hit = q[12..qend] == asked[12..];
                let mut r = q[..2].to_vec();
                r.extend_from_slice(&[0x81, if hit { 0x80 } else { 0x83 }]);
                let an = if hit { records.len() as u16 + 1 } else { 0 };
                r.extend_from_slice(&[0, 1]);
                r.extend_from_slice(&an.to_be_bytes());
                r.extend_from_slice(&[0, 0, 0, 0]);
                r.extend_from_slice(&q[12..qend]);
                if hit {
                    // A type-5 record first, which the reader must step over.
                    r.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 2, 0xc0, 12]);
                    for rec in &records {
                        let mut data = Vec::new();
                        for s in rec {
                            data.push(s.len() as u8);
                            data.extend_from_slice(s.as_bytes());
                        }
                        r.extend_from_slice(&[0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 60]);
                        r.extend_from_slice(&(data.len() as u16).to_be_bytes());
                        r.extend_from_slice(&data);
                    }
                }
                let _ = sock.send_to(&r, from);
            }
        });
        addr
    }

    #[test]
    fn query_wire_format() {
        let q = query(0xbeef, "_tandem-answer.lab.example.").unwrap();
        let mut want = vec![0xbe, 0xef, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in ["_tandem-answer", "lab", "example"] {
            want.push(l.len() as u8);
            want.extend_from_slice(l.as_bytes());
        }
        want.extend_from_slice(&[0, 0, 16, 0, 1]);
        assert_eq!(q, want);
        assert!(query(1, "a..b").is_err());
        assert!(query(1, &format!("{}.x", "a".repeat(64))).is_err());
    }

    #[test]
    fn replies_for_another_id_are_not_ours_and_errors_say_so() {
        let q = query(7, "x.example").unwrap();
        let mut r = q.clone();
        r[2] = 0x81;
        r[3] = 0x80;
        assert_eq!(answer(8, &r).unwrap(), None);
        assert_eq!(answer(7, &r).unwrap(), Some(vec![]));
        r[3] = 0x82;
        assert_eq!(
            answer(7, &r).unwrap_err().to_string(),
            "DNS error (RCODE 2)"
        );
        // Claims an answer that is not there.
        r[3] = 0x80;
        r[7] = 1;
        assert!(answer(7, &r).is_err());
    }

    #[test]
    fn txt_from_a_server_on_localhost_after_a_lost_packet() {
        let long = "x".repeat(200);
        let server = serve(
            "_tandem-answer.lab.example",
            vec![
                vec!["url=https://a/".into(), long.clone()],
                vec!["two".into()],
            ],
            1,
        );
        let got = query_txt(
            server,
            "_tandem-answer.lab.example",
            Duration::from_millis(300),
        )
        .unwrap();
        assert_eq!(
            got,
            vec![format!("url=https://a/{long}"), "two".to_string()]
        );
        let none = query_txt(server, "_tandem-answer.other", Duration::from_millis(300));
        assert_eq!(none.unwrap(), Vec::<String>::new());
    }
}
