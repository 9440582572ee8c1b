//! The installer's one HTTP client (ureq): answers from a PXE server, and the base image
//! and packages when the medium is served over HTTP (`tandem.media=`). Every request is
//! retried on connection failures and 5xx until its patience runs out (the network may
//! still be coming up, a server may be restarting); 4xx is final (a missing file will not
//! appear by waiting).

use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// One attempt's outcome: done, or a transient failure worth another try.
enum Attempt<T> {
    Done(T),
    Retry(String),
}

/// The SHA-256 of a server certificate (DER), the form `openssl x509 -fingerprint -sha256`
/// prints. Pinning it trusts that one certificate, self-signed or not, whatever its names.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl std::str::FromStr for Fingerprint {
    type Err = String;
    /// 64 hex digits, with or without colons, with or without a `sha256:` or
    /// `sha256 Fingerprint=` prefix (so openssl's output can be pasted).
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let t = s.trim();
        let t = t
            .strip_prefix("sha256 Fingerprint=")
            .or_else(|| t.strip_prefix("SHA256 Fingerprint="))
            .or_else(|| t.strip_prefix("sha256:"))
            .unwrap_or(t);
        let hex: String = t.chars().filter(|c| *c != ':').collect();
        let bad = || {
            format!("a SHA-256 fingerprint is 64 hex digits (colons allowed), not {s:?}")
        };
        if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(Fingerprint(out))
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// How an HTTPS server is trusted: the usual CA roots, or one pinned certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Trust {
    #[default]
    Roots,
    Pinned(Fingerprint),
}

fn agent(whole_request: Option<Duration>) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(whole_request)
        .timeout_connect(Some(Duration::from_secs(15)))
        // A stalled transfer is a transient failure, not a hang.
        .timeout_per_read(Some(Duration::from_secs(60)))
        .http_status_as_error(false)
        .build()
        .into()
}

/// Runs `once` until it is done, fails for good, or `patience` is spent. Errors name what
/// was fetched and from where.
fn retrying<T>(
    what: &str,
    url: &str,
    patience: Duration,
    mut once: impl FnMut() -> Result<Attempt<T>>,
) -> Result<T> {
    let start = Instant::now();
    let mut delay = Duration::from_millis(500);
    loop {
        let err = match once().with_context(|| format!("fetching {what} from {url}"))? {
            Attempt::Done(t) => return Ok(t),
            Attempt::Retry(e) => e,
        };
        if start.elapsed() + delay > patience {
            bail!(
                "fetching {what} from {url}: {err} (gave up after {} s)",
                start.elapsed().as_secs()
            );
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

/// 200 goes on, 5xx is retried, anything else is final.
fn check_status(
    resp: ureq::http::Response<ureq::Body>,
) -> Result<Attempt<ureq::http::Response<ureq::Body>>> {
    match resp.status().as_u16() {
        200 => Ok(Attempt::Done(resp)),
        s @ 500..=599 => Ok(Attempt::Retry(format!("HTTP {s}"))),
        s => bail!("HTTP {s}"),
    }
}

/// GETs a small text (an answer, a Packages index, a dpkg status), at most `limit` bytes.
/// `token` is sent as a bearer token.
pub fn get_text(
    what: &str,
    url: &str,
    token: Option<&str>,
    limit: u64,
    patience: Duration,
) -> Result<String> {
    let agent = agent(Some(Duration::from_secs(60)));
    retrying(what, url, patience, || {
        let mut req = agent.get(url);
        if let Some(t) = token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        let mut resp = match req.call() {
            Ok(r) => match check_status(r)? {
                Attempt::Done(r) => r,
                Attempt::Retry(e) => return Ok(Attempt::Retry(e)),
            },
            Err(e) => return Ok(Attempt::Retry(e.to_string())),
        };
        match resp.body_mut().with_config().limit(limit).read_to_string() {
            Ok(s) => Ok(Attempt::Done(s)),
            Err(e @ ureq::Error::BodyExceedsLimit(_)) => Err(e.into()),
            Err(e) => Ok(Attempt::Retry(e.to_string())),
        }
    })
}

/// The size a HEAD request reports: checks that a big file is there without fetching it.
pub fn content_length(what: &str, url: &str, patience: Duration) -> Result<u64> {
    let agent = agent(Some(Duration::from_secs(60)));
    retrying(what, url, patience, || {
        let resp = match agent.head(url).call() {
            Ok(r) => match check_status(r)? {
                Attempt::Done(r) => r,
                Attempt::Retry(e) => return Ok(Attempt::Retry(e)),
            },
            Err(e) => return Ok(Attempt::Retry(e.to_string())),
        };
        let len = resp
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .context("the server sends no Content-Length")?;
        Ok(Attempt::Done(len))
    })
}

/// GETs a file of known size into `dest` (created or truncated), streaming: the live
/// system has little RAM, so `dest` must be on a disk. A broken transfer starts over; a
/// complete one of the wrong size is final.
pub fn download(what: &str, url: &str, dest: &Path, size: u64, patience: Duration) -> Result<()> {
    let agent = agent(None);
    retrying(what, url, patience, || {
        let mut resp = match agent.get(url).call() {
            Ok(r) => match check_status(r)? {
                Attempt::Done(r) => r,
                Attempt::Retry(e) => return Ok(Attempt::Retry(e)),
            },
            Err(e) => return Ok(Attempt::Retry(e.to_string())),
        };
        let mut file =
            std::fs::File::create(dest).with_context(|| format!("creating {}", dest.display()))?;
        // One byte more than expected is enough to know the size is wrong.
        let mut body = resp
            .body_mut()
            .with_config()
            .limit(size.saturating_add(1))
            .reader();
        let got = match std::io::copy(&mut body, &mut file) {
            Ok(n) => n,
            Err(e) => {
                let too_big = e
                    .get_ref()
                    .and_then(|i| i.downcast_ref::<ureq::Error>())
                    .is_some_and(|u| matches!(u, ureq::Error::BodyExceedsLimit(_)));
                if too_big {
                    bail!("size mismatch: expected {size} bytes, the server sends more");
                }
                return Ok(Attempt::Retry(e.to_string()));
            }
        };
        file.flush()?;
        if got != size {
            bail!("size mismatch: expected {size} bytes, got {got}");
        }
        Ok(Attempt::Done(()))
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    /// A one-purpose HTTP server on 127.0.0.1: answers each request with the next canned
    /// (status, body) and records the request heads. A body shorter than `claimed` length
    /// simulates a broken transfer.
    pub fn serve(replies: Vec<(u16, Vec<u8>, Option<usize>)>) -> (String, Arc<Mutex<Vec<String>>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        std::thread::spawn(move || {
            for (status, body, claimed) in replies {
                let (mut s, _) = l.accept().unwrap();
                let mut head = String::new();
                let mut r = BufReader::new(s.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                let is_head = head.starts_with("HEAD ");
                seen2.lock().unwrap().push(head);
                let _ = write!(
                    s,
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    claimed.unwrap_or(body.len())
                );
                if !is_head {
                    let _ = s.write_all(&body);
                }
            }
        });
        (format!("http://{addr}"), seen)
    }

    /// A static file server for `dir` on 127.0.0.1 (GET and HEAD; 404 when missing), for
    /// as long as the test process runs.
    pub fn serve_dir(dir: std::path::PathBuf) -> String {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut first = String::new();
                let _ = r.read_line(&mut first);
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                }
                let mut w = first.split_whitespace();
                let (method, path) = (w.next().unwrap_or(""), w.next().unwrap_or("/"));
                let file = dir.join(path.trim_start_matches('/'));
                let (status, body) = match std::fs::read(&file) {
                    Ok(b) if file.is_file() => (200, b),
                    _ => (404, b"not found".to_vec()),
                };
                let _ = write!(
                    s,
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                if method != "HEAD" {
                    let _ = s.write_all(&body);
                }
            }
        });
        format!("http://{addr}")
    }

    #[test]
    fn fingerprints_parse_as_openssl_prints_them_and_print_back() {
        let colons = "AB:".repeat(31) + "CD";
        let f: Fingerprint = format!("sha256 Fingerprint={colons}").parse().unwrap();
        assert_eq!(f.to_string(), colons);
        let plain: Fingerprint = colons.replace(':', "").to_lowercase().parse().unwrap();
        assert_eq!(plain, f);
        assert!("AB:CD".parse::<Fingerprint>().unwrap_err().contains("64 hex digits"));
        assert!(("G".repeat(64)).parse::<Fingerprint>().is_err());
    }

    fn reply(status: u16, body: &str) -> (u16, Vec<u8>, Option<usize>) {
        (status, body.as_bytes().to_vec(), None)
    }

    #[test]
    fn text_with_token_after_a_server_error() {
        let (base, seen) = serve(vec![reply(503, "busy"), reply(200, "[system]\n")]);
        let text = get_text(
            "the answer",
            &format!("{base}/answers/x.toml"),
            Some("tok123"),
            1 << 20,
            Duration::from_secs(20),
        )
        .unwrap();
        assert_eq!(text, "[system]\n");
        let heads = seen.lock().unwrap();
        assert_eq!(heads.len(), 2);
        assert!(heads[1].contains("GET /answers/x.toml"));
        assert!(heads[1]
            .to_ascii_lowercase()
            .contains("authorization: bearer tok123"));
    }

    #[test]
    fn head_reports_the_size_and_404_is_final() {
        let (base, seen) = serve(vec![reply(200, "0123456789"), reply(404, "no")]);
        let url = format!("{base}/base.squashfs");
        assert_eq!(
            content_length("the base image", &url, Duration::from_secs(20)).unwrap(),
            10
        );
        assert!(seen.lock().unwrap()[0].starts_with("HEAD /base.squashfs "));
        let e = content_length("the base image", &url, Duration::from_secs(20)).unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            format!("fetching the base image from {url}: HTTP 404")
        );
    }

    #[test]
    fn download_starts_over_after_a_broken_transfer_and_checks_the_size() {
        let dir = std::env::temp_dir().join(format!("tandem-http-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dest = dir.join("x.deb");
        let data = b"0123456789".to_vec();
        let (base, seen) = serve(vec![
            // claims 10 bytes, sends 4, closes: a broken transfer
            (200, data[..4].to_vec(), Some(10)),
            (200, data.clone(), None),
            (200, b"0123".to_vec(), None),
        ]);
        let url = format!("{base}/pool/x.deb");
        download("x", &url, &dest, 10, Duration::from_secs(20)).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), data);
        assert_eq!(seen.lock().unwrap().len(), 2);
        let e = download("x", &url, &dest, 10, Duration::from_secs(20)).unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            format!("fetching x from {url}: size mismatch: expected 10 bytes, got 4")
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
