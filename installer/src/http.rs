//! The installer's one HTTP client (ureq): answers from a PXE server, and the base image
//! and packages when the medium is served over HTTP (`tandem.media=`). Every request is
//! retried on connection failures and 5xx until its patience runs out (the network may
//! still be coming up, a server may be restarting); 4xx is final (a missing file will not
//! appear by waiting).
//!
//! Every request names its [`Trust`]: the usual CA roots, or one pinned certificate
//! (`Trust::Pinned`), which is all a PXE server with a self-signed certificate can offer.
//! A pinned request accepts that certificate and nothing else, and never falls back.

use anyhow::{bail, Context, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, TcpConnector,
    Transport, TransportAdapter,
};

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
        let bad = || format!("a SHA-256 fingerprint is 64 hex digits (colons allowed), not {s:?}");
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

impl Trust {
    /// A pin only means something over TLS: with `http://` it would silently protect
    /// nothing.
    pub fn check_url(&self, url: &str) -> Result<()> {
        if let Trust::Pinned(_) = self {
            if !url.starts_with("https://") {
                bail!("a pinned certificate fingerprint needs an https:// URL, not {url}");
            }
        }
        Ok(())
    }
}

/// An agent for one request function's calls, and the pin check when there is one.
struct Client {
    agent: ureq::Agent,
    pin: Option<Arc<PinVerifier>>,
}

impl Client {
    fn new(url: &str, trust: &Trust, whole_request: Option<Duration>) -> Result<Client> {
        trust.check_url(url)?;
        let config = ureq::Agent::config_builder()
            .timeout_global(whole_request)
            .timeout_connect(Some(Duration::from_secs(15)))
            // A stalled transfer is a transient failure, not a hang.
            .timeout_per_read(Some(Duration::from_secs(60)))
            .http_status_as_error(false)
            // A redirect could lead a pinned request off to plain HTTP or to a server
            // nobody pinned; the provisioning server has no reason to send one.
            .max_redirects(if matches!(trust, Trust::Pinned(_)) {
                0
            } else {
                10
            })
            .build();
        Ok(match trust {
            Trust::Roots => Client {
                agent: config.into(),
                pin: None,
            },
            Trust::Pinned(fp) => {
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let pin = Arc::new(PinVerifier {
                    pin: *fp,
                    seen: Mutex::new(None),
                    provider: provider.clone(),
                });
                let tls = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .context("TLS protocol versions")?
                    .dangerous()
                    .with_custom_certificate_verifier(pin.clone())
                    .with_no_client_auth();
                let connector = ().chain(TcpConnector::default()).chain(PinnedTls {
                    config: Arc::new(tls),
                });
                Client {
                    agent: ureq::Agent::with_parts(config, connector, DefaultResolver::default()),
                    pin: Some(pin),
                }
            }
        })
    }

    /// Sorts a call's outcome: 2xx goes on, connection failures and 5xx are retried, a
    /// certificate that is not the pinned one and any other status are final.
    fn sort(
        &self,
        call: std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Attempt<ureq::http::Response<ureq::Body>>> {
        let resp = match call {
            Ok(r) => r,
            Err(e) => {
                if let Some(pin) = &self.pin {
                    if let Some(seen) = pin.seen.lock().unwrap().take() {
                        bail!(
                            "the server's certificate has SHA-256 {seen}, the pin is {}",
                            pin.pin
                        );
                    }
                }
                return Ok(Attempt::Retry(e.to_string()));
            }
        };
        match resp.status().as_u16() {
            200..=299 => Ok(Attempt::Done(resp)),
            s @ 500..=599 => Ok(Attempt::Retry(format!("HTTP {s}"))),
            s => bail!("HTTP {s}"),
        }
    }
}

/// Accepts exactly the certificate whose DER hashes to the pin: no CA, no names, no
/// dates (a self-signed certificate made for a PXE server is the point). The handshake
/// signature is still checked, so only the holder of that certificate's key gets through.
#[derive(Debug)]
struct PinVerifier {
    pin: Fingerprint,
    /// The certificate a refused server presented, for the error message.
    seen: Mutex<Option<Fingerprint>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl Fingerprint {
    pub fn of_der(der: &[u8]) -> Fingerprint {
        let d = ring::digest::digest(&ring::digest::SHA256, der);
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        Fingerprint(out)
    }
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let seen = Fingerprint::of_der(end_entity.as_ref());
        if seen == self.pin {
            return Ok(ServerCertVerified::assertion());
        }
        *self.seen.lock().unwrap() = Some(seen);
        Err(rustls::Error::General(format!(
            "certificate SHA-256 {seen} is not the pinned one"
        )))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// ureq's TLS step with our rustls configuration; ureq's own connector builds its
/// configuration from `TlsConfig`, which has no place for a verifier.
#[derive(Debug)]
struct PinnedTls {
    config: Arc<rustls::ClientConfig>,
}

impl<In: Transport> Connector<In> for PinnedTls {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> std::result::Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let host = details.uri.host().unwrap_or_default();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| ureq::Error::Tls("not a host name or address"))?;
        let mut conn = rustls::ClientConnection::new(self.config.clone(), name)?;
        let inner: Box<dyn Transport> = Box::new(transport);
        let mut sock = TransportAdapter::new(inner, details.current_time.clone());
        sock.set_timeout(details.timeout);
        conn.complete_io(&mut sock)?;
        Ok(Some(Either::B(TlsTransport {
            buffers: LazyBuffers::new(
                details.config.input_buffer_size(),
                details.config.output_buffer_size(),
            ),
            stream: rustls::StreamOwned { conn, sock },
        })))
    }
}

struct TlsTransport {
    buffers: LazyBuffers,
    stream: rustls::StreamOwned<rustls::ClientConnection, TransportAdapter>,
}

impl std::fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsTransport")
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(
        &mut self,
        amount: usize,
        timeout: NextTimeout,
    ) -> std::result::Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> std::result::Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

/// Runs `once` until it is done, fails for good, or `patience` is spent. Errors say what
/// was being done (`doing`: "fetching the answer from URL").
fn retrying<T>(
    doing: &str,
    patience: Duration,
    mut once: impl FnMut() -> Result<Attempt<T>>,
) -> Result<T> {
    let start = Instant::now();
    let mut delay = Duration::from_millis(500);
    loop {
        let err = match once().context(doing.to_string())? {
            Attempt::Done(t) => return Ok(t),
            Attempt::Retry(e) => e,
        };
        if start.elapsed() + delay > patience {
            bail!(
                "{doing}: {err} (gave up after {} s)",
                start.elapsed().as_secs()
            );
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

/// GETs a small text (an answer, a Packages index, a dpkg status), at most `limit` bytes.
/// `token` is sent as a bearer token.
pub fn get_text(
    what: &str,
    url: &str,
    trust: &Trust,
    token: Option<&str>,
    limit: u64,
    patience: Duration,
) -> Result<String> {
    let doing = format!("fetching {what} from {url}");
    let client = Client::new(url, trust, Some(Duration::from_secs(60))).context(doing.clone())?;
    retrying(&doing, patience, || {
        let mut req = client.agent.get(url);
        if let Some(t) = token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        let mut resp = match client.sort(req.call())? {
            Attempt::Done(r) => r,
            Attempt::Retry(e) => return Ok(Attempt::Retry(e)),
        };
        match resp.body_mut().with_config().limit(limit).read_to_string() {
            Ok(s) => Ok(Attempt::Done(s)),
            Err(e @ ureq::Error::BodyExceedsLimit(_)) => Err(e.into()),
            Err(e) => Ok(Attempt::Retry(e.to_string())),
        }
    })
}

/// POSTs a JSON document (`body`, already serialised) and wants a 2xx back; what the
/// server answers is not read.
pub fn post_json(
    what: &str,
    url: &str,
    trust: &Trust,
    body: &[u8],
    patience: Duration,
) -> Result<()> {
    let doing = format!("sending {what} to {url}");
    let client = Client::new(url, trust, Some(Duration::from_secs(60))).context(doing.clone())?;
    retrying(&doing, patience, || {
        let req = client
            .agent
            .post(url)
            .header("Content-Type", "application/json");
        match client.sort(req.send(body))? {
            Attempt::Done(_) => Ok(Attempt::Done(())),
            Attempt::Retry(e) => Ok(Attempt::Retry(e)),
        }
    })
}

/// The size a HEAD request reports: checks that a big file is there without fetching it.
pub fn content_length(what: &str, url: &str, trust: &Trust, patience: Duration) -> Result<u64> {
    let doing = format!("fetching {what} from {url}");
    let client = Client::new(url, trust, Some(Duration::from_secs(60))).context(doing.clone())?;
    retrying(&doing, patience, || {
        let resp = match client.sort(client.agent.head(url).call())? {
            Attempt::Done(r) => r,
            Attempt::Retry(e) => return Ok(Attempt::Retry(e)),
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
pub fn download(
    what: &str,
    url: &str,
    trust: &Trust,
    dest: &Path,
    size: u64,
    patience: Duration,
) -> Result<()> {
    let doing = format!("fetching {what} from {url}");
    let client = Client::new(url, trust, None).context(doing.clone())?;
    retrying(&doing, patience, || {
        let mut resp = match client.sort(client.agent.get(url).call())? {
            Attempt::Done(r) => r,
            Attempt::Retry(e) => return Ok(Attempt::Retry(e)),
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

    /// One canned reply: status, body, and the Content-Length to claim (a body shorter
    /// than the claim simulates a broken transfer).
    pub type Reply = (u16, Vec<u8>, Option<usize>);

    /// Reads one request (head, and the body when it has a Content-Length), records it as
    /// head + body, and answers with `reply`. Err when the connection broke before a whole
    /// request came (e.g. the client refused the certificate).
    fn answer(
        mut s: impl std::io::Read + Write,
        (status, body, claimed): &Reply,
        seen: &Mutex<Vec<String>>,
    ) -> std::io::Result<()> {
        let mut r = BufReader::new(&mut s);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let length = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let mut sent = vec![0u8; length];
        r.read_exact(&mut sent)?;
        drop(r);
        let is_head = head.starts_with("HEAD ");
        seen.lock()
            .unwrap()
            .push(head + "\r\n" + &String::from_utf8_lossy(&sent));
        // A 3xx reply's body is its Location.
        if (300..400).contains(status) {
            write!(
                s,
                "HTTP/1.1 {status} X\r\nLocation: {}\r\nContent-Length: 0\r\n\r\n",
                String::from_utf8_lossy(body)
            )?;
            return s.flush();
        }
        write!(
            s,
            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            claimed.unwrap_or(body.len())
        )?;
        if !is_head {
            s.write_all(body)?;
        }
        s.flush()
    }

    /// A one-purpose HTTP server on 127.0.0.1: answers each request with the next canned
    /// reply and records the requests (head, blank line, body).
    pub fn serve(replies: Vec<Reply>) -> (String, Arc<Mutex<Vec<String>>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        std::thread::spawn(move || {
            for reply in replies {
                let (s, _) = l.accept().unwrap();
                let _ = answer(s, &reply, &seen2);
            }
        });
        (format!("http://{addr}"), seen)
    }

    /// A self-signed certificate made by openssl (names nothing useful: pinning must not
    /// care), as DER, its PKCS#8 key as DER, and the fingerprint openssl prints for it.
    pub fn self_signed() -> (Vec<u8>, Vec<u8>, Fingerprint) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tandem-cert-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let ssl = |args: &[&str]| {
            let out = std::process::Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .output()
                .expect("openssl");
            assert!(out.status.success(), "openssl {args:?}: {out:?}");
            String::from_utf8(out.stdout).unwrap()
        };
        ssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-subj",
            "/CN=not-this-host",
        ]);
        ssl(&[
            "x509", "-in", "cert.pem", "-outform", "DER", "-out", "cert.der",
        ]);
        ssl(&[
            "pkcs8", "-topk8", "-nocrypt", "-in", "key.pem", "-outform", "DER", "-out", "key.der",
        ]);
        let fp = ssl(&[
            "x509",
            "-in",
            "cert.pem",
            "-noout",
            "-fingerprint",
            "-sha256",
        ]);
        let cert = std::fs::read(dir.join("cert.der")).unwrap();
        let key = std::fs::read(dir.join("key.der")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        (cert, key, fp.parse().unwrap())
    }

    /// `serve` over TLS with a fresh self-signed certificate; also gives its fingerprint.
    /// A connection that breaks before a whole request (a refused certificate) uses up
    /// no reply.
    pub fn serve_tls(replies: Vec<Reply>) -> (String, Arc<Mutex<Vec<String>>>, Fingerprint) {
        let (cert, key, fp) = self_signed();
        let (url, seen) = serve_tls_as(cert, key, replies);
        (url, seen, fp)
    }

    /// Presents `cert` and signs the handshake with `key`, whether or not they belong
    /// together (an impostor that copied a certificate but not its key).
    #[derive(Debug)]
    struct Presents(Arc<rustls::sign::CertifiedKey>);

    impl rustls::server::ResolvesServerCert for Presents {
        fn resolve(
            &self,
            _: rustls::server::ClientHello<'_>,
        ) -> Option<Arc<rustls::sign::CertifiedKey>> {
            Some(self.0.clone())
        }
    }

    fn serve_tls_as(
        cert: Vec<u8>,
        key: Vec<u8>,
        replies: Vec<Reply>,
    ) -> (String, Arc<Mutex<Vec<String>>>) {
        use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let signer = provider
            .key_provider
            .load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)))
            .unwrap();
        let certified = rustls::sign::CertifiedKey::new(vec![CertificateDer::from(cert)], signer);
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Presents(Arc::new(certified))));
        let config = Arc::new(config);
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        std::thread::spawn(move || {
            let mut replies = replies.into_iter().peekable();
            while let Some(reply) = replies.peek() {
                let (tcp, _) = l.accept().unwrap();
                let conn = rustls::ServerConnection::new(config.clone()).unwrap();
                if answer(rustls::StreamOwned::new(conn, tcp), reply, &seen2).is_ok() {
                    replies.next();
                }
            }
        });
        (format!("https://{addr}"), seen)
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
        assert!("AB:CD"
            .parse::<Fingerprint>()
            .unwrap_err()
            .contains("64 hex digits"));
        assert!(("G".repeat(64)).parse::<Fingerprint>().is_err());
    }

    fn reply(status: u16, body: &str) -> Reply {
        (status, body.as_bytes().to_vec(), None)
    }

    #[test]
    fn text_with_token_after_a_server_error() {
        let (base, seen) = serve(vec![reply(503, "busy"), reply(200, "[system]\n")]);
        let text = get_text(
            "the answer",
            &format!("{base}/answers/x.toml"),
            &Trust::Roots,
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
            content_length(
                "the base image",
                &url,
                &Trust::Roots,
                Duration::from_secs(20)
            )
            .unwrap(),
            10
        );
        assert!(seen.lock().unwrap()[0].starts_with("HEAD /base.squashfs "));
        let e = content_length(
            "the base image",
            &url,
            &Trust::Roots,
            Duration::from_secs(20),
        )
        .unwrap_err();
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
        download("x", &url, &Trust::Roots, &dest, 10, Duration::from_secs(20)).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), data);
        assert_eq!(seen.lock().unwrap().len(), 2);
        let e = download("x", &url, &Trust::Roots, &dest, 10, Duration::from_secs(20)).unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            format!("fetching x from {url}: size mismatch: expected 10 bytes, got 4")
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn pinned_https_accepts_the_pinned_self_signed_certificate_only() {
        let (base, seen, fp) = serve_tls(vec![reply(200, "[system]\n"), reply(204, "")]);
        let url = format!("{base}/answers/x.toml");
        let pin = Trust::Pinned(fp);
        let text = get_text(
            "the answer",
            &url,
            &pin,
            None,
            1 << 20,
            Duration::from_secs(20),
        );
        assert_eq!(text.unwrap(), "[system]\n");

        // A different pin: refused at once (no retries, no fallback), naming both.
        let mut other = fp;
        other.0[31] ^= 1;
        let started = Instant::now();
        let e = post_json(
            "the report",
            &format!("{base}/report"),
            &Trust::Pinned(other),
            b"{}",
            Duration::from_secs(30),
        )
        .unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            format!(
                "sending the report to {base}/report: the server's certificate has SHA-256 \
                 {fp}, the pin is {other}"
            )
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );

        // The CA roots don't know it either: without the pin it is not trusted.
        let e = get_text(
            "the answer",
            &url,
            &Trust::Roots,
            None,
            99,
            Duration::from_secs(1),
        );
        assert!(format!("{:#}", e.unwrap_err()).contains("gave up"));

        // The right pin still works, for a POST too.
        post_json(
            "the report",
            &format!("{base}/report"),
            &pin,
            b"{\"a\":1}",
            Duration::from_secs(20),
        )
        .unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(seen[1].starts_with("POST /report "));
        assert!(seen[1].ends_with("\r\n\r\n{\"a\":1}"));
    }

    #[test]
    fn a_pin_with_plain_http_is_an_error() {
        let pin = Trust::Pinned("AB".repeat(32).parse().unwrap());
        let e = get_text(
            "the answer",
            "http://127.0.0.1:9/a.toml",
            &pin,
            None,
            9,
            Duration::ZERO,
        );
        assert_eq!(
            format!("{:#}", e.unwrap_err()),
            "fetching the answer from http://127.0.0.1:9/a.toml: a pinned certificate \
             fingerprint needs an https:// URL, not http://127.0.0.1:9/a.toml"
        );
    }

    #[test]
    fn fingerprint_of_der_is_what_openssl_prints() {
        let (cert, _, fp) = self_signed();
        assert_eq!(Fingerprint::of_der(&cert), fp);
    }

    #[test]
    fn post_json_retries_server_errors_and_a_4xx_is_final() {
        let (base, seen) = serve(vec![reply(502, ""), reply(201, ""), reply(400, "bad")]);
        let url = format!("{base}/report");
        let body = br#"{"result":"ok"}"#;
        post_json(
            "the report",
            &url,
            &Trust::Roots,
            body,
            Duration::from_secs(20),
        )
        .unwrap();
        {
            let seen = seen.lock().unwrap();
            assert_eq!(seen.len(), 2);
            let req = seen[1].to_ascii_lowercase();
            assert!(req.starts_with("post /report "), "{req}");
            assert!(req.contains("content-type: application/json"), "{req}");
            assert!(seen[1].ends_with(r#"{"result":"ok"}"#));
        }
        let e = post_json(
            "the report",
            &url,
            &Trust::Roots,
            body,
            Duration::from_secs(20),
        );
        assert_eq!(
            format!("{:#}", e.unwrap_err()),
            format!("sending the report to {url}: HTTP 400")
        );
    }

    #[test]
    fn the_pinned_certificate_without_its_key_is_refused() {
        let (cert, _, fp) = self_signed();
        let (_, other_key, _) = self_signed();
        let (base, seen) = serve_tls_as(cert, other_key, vec![reply(200, "[system]\n")]);
        let e = get_text(
            "the answer",
            &format!("{base}/a.toml"),
            &Trust::Pinned(fp),
            None,
            99,
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("gave up"), "{e:#}");
        assert!(seen.lock().unwrap().is_empty());
    }

    #[test]
    fn a_pinned_request_follows_no_redirect() {
        let (plain, plain_seen) = serve(vec![reply(200, "[system]\n")]);
        let to = format!("{plain}/a.toml");
        let (base, _, fp) = serve_tls(vec![reply(302, &to), reply(302, &to)]);
        let url = format!("{base}/a.toml");
        let e = get_text(
            "the answer",
            &url,
            &Trust::Pinned(fp),
            None,
            99,
            Duration::from_secs(5),
        );
        assert_eq!(
            format!("{:#}", e.unwrap_err()),
            format!("fetching the answer from {url}: HTTP 302")
        );
        assert!(plain_seen.lock().unwrap().is_empty());
        // Unpinned requests still follow redirects (a plain one here).
        let (hop, _) = serve(vec![reply(302, &to)]);
        let text = get_text(
            "the answer",
            &hop,
            &Trust::Roots,
            None,
            99,
            Duration::from_secs(5),
        );
        assert_eq!(text.unwrap(), "[system]\n");
        assert_eq!(plain_seen.lock().unwrap().len(), 1);
    }
}
