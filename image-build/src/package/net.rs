//! Getting bytes from a repository: plain HTTP(S) through ureq, or file:// URLs.
//! Integrity never depends on the transport: every byte is checked against the signed
//! InRelease chain by the caller.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Why a transfer failed; `Unreachable` is the fail-fast case (DNS, refused, timeout).
#[derive(Debug, thiserror::Error)]
pub(crate) enum NetError {
    #[error("cannot reach {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error("{url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: {message}")]
    Io { url: String, message: String },
    #[error("--offline: {url} is not in the cache or does not match its index")]
    Offline { url: String },
    #[error("{url}: larger than the expected {limit} bytes")]
    TooLarge { url: String, limit: u64 },
}

pub(crate) struct Net {
    agent: ureq::Agent,
    /// `--offline`: every network request is refused (file:// still works).
    pub(crate) offline: bool,
    /// Network requests made (file:// reads are not counted); tests assert on it.
    pub(crate) requests: AtomicUsize,
}

impl Net {
    pub(crate) fn new(connect_timeout: Duration, offline: bool) -> Net {
        let agent = ureq::Agent::config_builder()
            .timeout_connect(Some(connect_timeout))
            // A stalled mirror must not hang the build forever.
            .timeout_per_read(Some(Duration::from_secs(60)))
            .user_agent(concat!("tandem-image/", env!("CARGO_PKG_VERSION")))
            // Hashes are over the bytes as stored; no server should be invited to compress.
            .accept_encoding("")
            .max_redirects(5)
            .build()
            .into();
        Net {
            agent,
            offline,
            requests: AtomicUsize::new(0),
        }
    }

    /// Streams `url` into `out`, returning the number of bytes written. `limit` stops a
    /// transfer that is already larger than expected (a tampered or wrong file).
    pub(crate) fn get(
        &self,
        url: &str,
        out: &mut dyn Write,
        limit: Option<u64>,
    ) -> Result<u64, NetError> {
        let io = |e: std::io::Error| NetError::Io {
            url: url.to_string(),
            message: e.to_string(),
        };
        let mut reader: Box<dyn Read> = if let Some(path) = url.strip_prefix("file://") {
            Box::new(std::fs::File::open(path).map_err(io)?)
        } else if self.offline {
            return Err(NetError::Offline {
                url: url.to_string(),
            });
        } else {
            self.requests.fetch_add(1, Ordering::Relaxed);
            match self.agent.get(url).call() {
                Ok(resp) => Box::new(resp.into_body().into_reader()),
                Err(ureq::Error::StatusCode(status)) => {
                    return Err(NetError::Status {
                        url: url.to_string(),
                        status,
                    })
                }
                // Name resolution, refused connections, timeouts and I/O before a response:
                // the mirror is not there.
                Err(
                    e @ (ureq::Error::HostNotFound
                    | ureq::Error::ConnectionFailed
                    | ureq::Error::Timeout(_)
                    | ureq::Error::Io(_)),
                ) => {
                    return Err(NetError::Unreachable {
                        url: url.to_string(),
                        message: e.to_string(),
                    })
                }
                Err(e) => {
                    return Err(NetError::Io {
                        url: url.to_string(),
                        message: e.to_string(),
                    })
                }
            }
        };
        let mut total = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = reader.read(&mut buf).map_err(io)?;
            if n == 0 {
                return Ok(total);
            }
            total += n as u64;
            if let Some(limit) = limit.filter(|&l| total > l) {
                return Err(NetError::TooLarge {
                    url: url.to_string(),
                    limit,
                });
            }
            out.write_all(&buf[..n]).map_err(io)?;
        }
    }

    pub(crate) fn get_bytes(&self, url: &str, limit: Option<u64>) -> Result<Vec<u8>, NetError> {
        let mut v = Vec::new();
        self.get(url, &mut v, limit)?;
        Ok(v)
    }

    pub(crate) fn request_count(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }
}
