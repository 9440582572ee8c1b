//! Where the answer comes from, in a fixed order (docs/answer-discovery.md):
//! 1. `--answer` (a URL or a path);
//! 2. `tandem.answer=` on the kernel command line (a URL or a path);
//! 3. an answer embedded in the image;
//! 4. `answer.toml` on a partition labelled TANDEM;
//! 5. DHCP option 224 (a URL) in a systemd-networkd lease, NICs in ifindex order;
//! 6. the DNS TXT record `_tandem-answer.<domain>`, the domain and the DNS server taken
//!    from a lease (its domain name, then its search list);
//!
//! then the wizard. A URL from a lease may contain `{mac}`: the MAC of the NIC whose lease
//! gave it. An https URL may be pinned to one server certificate: by DHCP option 225, by
//! the TXT record's `fingerprint=`, or by `tandem.answer-fingerprint=` on the command line
//! (which pins any source that brings no pin of its own).
//!
//! The search only reads. A PXE-served answer may need a token (`tandem.answer-token=`);
//! it is sent as a bearer token and never printed.

use crate::http::{Fingerprint, Trust};
use anyhow::{bail, Context, Result};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The DHCP option (site-specific range, RFC 2132 / 3942) carrying the answer URL.
pub const DHCP_OPTION_URL: u8 = 224;
/// The DHCP option carrying the server certificate's SHA-256 for that URL.
pub const DHCP_OPTION_FINGERPRINT: u8 = 225;
/// The TXT record asked for under the lease's domain.
pub const TXT_LABEL: &str = "_tandem-answer";

/// Where the answer in hand was found; printed before anything else happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Flag(String),
    KernelCmdline(String),
    /// DHCP option 224 on that NIC; the URL as fetched (`{mac}` filled in).
    Dhcp {
        nic: String,
        url: String,
    },
    /// That TXT record; the URL as fetched.
    DnsTxt {
        name: String,
        url: String,
    },
    Embedded(PathBuf),
    Partition(PathBuf),
    /// Answered in the wizard on the console and saved there.
    Wizard(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(s) => write!(f, "--answer {s}"),
            Origin::KernelCmdline(s) => write!(f, "kernel command line tandem.answer={s}"),
            Origin::Dhcp { nic, url } => {
                write!(f, "DHCP option {DHCP_OPTION_URL} on {nic}: {url}")
            }
            Origin::DnsTxt { name, url } => write!(f, "DNS TXT record {name}: {url}"),
            Origin::Embedded(p) => write!(f, "answer embedded in the image ({})", p.display()),
            Origin::Partition(p) => write!(f, "partition labelled TANDEM ({})", p.display()),
            Origin::Wizard(p) => write!(f, "the wizard (saved to {})", p.display()),
        }
    }
}

impl Origin {
    /// Named by whoever set up the boot (not typed at this console): no confirmation
    /// prompt.
    pub fn is_unattended(&self) -> bool {
        matches!(
            self,
            Origin::KernelCmdline(_)
                | Origin::Dhcp { .. }
                | Origin::DnsTxt { .. }
                | Origin::Embedded(_)
        )
    }
}

#[derive(Debug, Clone)]
pub struct Found {
    pub origin: Origin,
    /// The name errors use for the file (a path or a URL).
    pub name: String,
    pub text: String,
}

/// The `tandem.*` parameters of a kernel command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CmdlineParams {
    pub answer: Option<String>,
    pub token: Option<String>,
    /// `tandem.answer-fingerprint=`, kept as given: a bad one is reported when used.
    pub fingerprint: Option<String>,
    pub node: Option<String>,
    /// `tandem.media=`: where base.squashfs and repo/ are served (PXE).
    pub media: Option<String>,
}

impl CmdlineParams {
    pub fn parse(cmdline: &str) -> Self {
        let mut p = CmdlineParams::default();
        for word in split_cmdline(cmdline) {
            if let Some((k, v)) = word.split_once('=') {
                match k {
                    "tandem.answer" => p.answer = Some(v.to_string()),
                    "tandem.answer-token" => p.token = Some(v.to_string()),
                    "tandem.answer-fingerprint" => p.fingerprint = Some(v.to_string()),
                    "tandem.node" => p.node = Some(v.to_string()),
                    "tandem.media" => p.media = Some(v.to_string()),
                    _ => {}
                }
            }
        }
        p
    }
}

/// Splits like the kernel does: whitespace separates words, double quotes group.
fn split_cmdline(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

/// Where to look; the defaults are the live system's paths, tests point them elsewhere.
#[derive(Debug, Clone)]
pub struct Places {
    pub flag: Option<String>,
    pub cmdline: CmdlineParams,
    /// The answer `tandem-image embed-answer` puts on the medium.
    pub embedded: PathBuf,
    /// /dev/disk/by-label/TANDEM.
    pub label_device: PathBuf,
    /// systemd-networkd's DHCP leases, one file per ifindex.
    pub lease_dir: PathBuf,
    /// /sys/class/net: a lease's NIC name and MAC by its ifindex.
    pub sys_net: PathBuf,
    /// Port of the lease's DNS server (53; tests use their own).
    pub dns_port: u16,
    /// How long to wait for a first DHCP lease while some NIC has a link: the installer
    /// starts with the network, not after it.
    pub lease_wait: Duration,
    /// How long to keep trying an HTTP answer (the network may still be coming up).
    pub http_patience: Duration,
}

impl Places {
    pub fn live_system() -> Self {
        let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
        Places {
            flag: None,
            cmdline: CmdlineParams::parse(&cmdline),
            embedded: PathBuf::from("/run/live/medium/tandem/answer.toml"),
            label_device: PathBuf::from("/dev/disk/by-label/TANDEM"),
            lease_dir: PathBuf::from("/run/systemd/netif/leases"),
            sys_net: PathBuf::from("/sys/class/net"),
            dns_port: 53,
            lease_wait: Duration::from_secs(30),
            http_patience: Duration::from_secs(120),
        }
    }
}

/// Finds the answer, or None when there is none anywhere (the caller starts the wizard).
/// An answer that is named but cannot be read is an error, never a fall-through: an
/// unattended install must not silently become an interactive one.
pub fn locate(p: &Places) -> Result<Option<Found>> {
    let cmdline_pin = match &p.cmdline.fingerprint {
        Some(f) => Some(
            f.parse::<Fingerprint>()
                .map_err(anyhow::Error::msg)
                .context("kernel command line tandem.answer-fingerprint=")?,
        ),
        None => None,
    };
    if let Some(f) = &p.flag {
        return read_named(f, p, cmdline_pin, Origin::Flag(f.clone())).map(Some);
    }
    if let Some(a) = &p.cmdline.answer {
        return read_named(a, p, cmdline_pin, Origin::KernelCmdline(a.clone())).map(Some);
    }
    // The medium before the network: an answer put on the stick or CD for this machine is
    // more specific than what a DHCP server on the segment says, and a stray DHCP server
    // must not override it.
    if p.embedded.is_file() {
        let text = std::fs::read_to_string(&p.embedded)
            .with_context(|| format!("reading {}", p.embedded.display()))?;
        return Ok(Some(Found {
            origin: Origin::Embedded(p.embedded.clone()),
            name: p.embedded.display().to_string(),
            text,
        }));
    }
    if p.label_device.exists() {
        if let Some(found) = read_labelled(&p.label_device)? {
            return Ok(Some(found));
        }
    }
    wait_for_a_lease(p);
    let leases = read_leases(&p.lease_dir, &p.sys_net)?;
    if let Some(d) = from_dhcp(&leases)? {
        return d.fetch(p, cmdline_pin).map(Some);
    }
    if let Some(d) = from_dns(&leases, p.dns_port)? {
        return d.fetch(p, cmdline_pin).map(Some);
    }
    Ok(None)
}

fn read_named(what: &str, p: &Places, pin: Option<Fingerprint>, origin: Origin) -> Result<Found> {
    let text = if what.starts_with("http://") || what.starts_with("https://") {
        fetch_http(
            what,
            &trust(pin),
            p.cmdline.token.as_deref(),
            p.http_patience,
        )?
    } else if pin.is_some() {
        bail!("tandem.answer-fingerprint= pins an https:// answer, and {what} is a path");
    } else {
        std::fs::read_to_string(what).with_context(|| format!("reading answer file {what}"))?
    };
    Ok(Found {
        origin,
        name: what.to_string(),
        text,
    })
}

/// Answers are small; anything bigger is not an answer file.
const MAX_ANSWER_BYTES: u64 = 1 << 20;

fn trust(pin: Option<Fingerprint>) -> Trust {
    pin.map(Trust::Pinned).unwrap_or_default()
}

/// GETs an answer (retries as [`crate::http`] does: a missing per-MAC answer is final).
fn fetch_http(url: &str, trust: &Trust, token: Option<&str>, patience: Duration) -> Result<String> {
    crate::http::get_text("the answer", url, trust, token, MAX_ANSWER_BYTES, patience)
}

/// What networkd kept of one NIC's DHCP lease.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lease {
    pub ifindex: u32,
    /// The NIC's name and MAC (lower case, colons), from sysfs; None when gone.
    pub nic: Option<String>,
    pub mac: Option<String>,
    /// Raw bytes of the site-specific options 224 and 225.
    pub url: Option<Vec<u8>>,
    pub fingerprint: Option<Vec<u8>>,
    pub dns: Vec<IpAddr>,
    /// The domain name first, then the search list.
    pub domains: Vec<String>,
}

impl Lease {
    /// Reads networkd's lease file (`KEY=value` lines; options as `OPTION_<n>=<hex>`).
    pub fn parse(ifindex: u32, text: &str) -> Result<Lease> {
        let mut l = Lease {
            ifindex,
            ..Default::default()
        };
        let url_key = format!("OPTION_{DHCP_OPTION_URL}");
        let fp_key = format!("OPTION_{DHCP_OPTION_FINGERPRINT}");
        let mut search = Vec::new();
        for line in text.lines() {
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            match k {
                "DNS" => {
                    // Addresses networkd could not have written are skipped, not fatal.
                    l.dns = v
                        .split_whitespace()
                        .filter_map(|a| a.parse().ok())
                        .collect()
                }
                "DOMAINNAME" => l.domains.insert(0, v.trim().to_string()),
                "DOMAIN_SEARCH_LIST" => {
                    search = v.split_whitespace().map(String::from).collect::<Vec<_>>()
                }
                k if k == url_key => l.url = Some(unhex(v).with_context(|| k.to_string())?),
                k if k == fp_key => l.fingerprint = Some(unhex(v).with_context(|| k.to_string())?),
                _ => {}
            }
        }
        for d in search {
            if !l.domains.contains(&d) {
                l.domains.push(d);
            }
        }
        Ok(l)
    }
}

fn unhex(s: &str) -> Result<Vec<u8>> {
    let s = s.trim();
    if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("not hex: {s:?}");
    }
    s.as_bytes()
        .chunks(2)
        .map(|c| match c {
            [_, _] => Ok(u8::from_str_radix(std::str::from_utf8(c)?, 16)?),
            _ => bail!("not hex (odd length): {s:?}"),
        })
        .collect()
}

/// Every lease in `dir`, in ifindex order; none when networkd has none (no network, or an
/// ISO boot without DHCP).
pub fn read_leases(dir: &Path, sys_net: &Path) -> Result<Vec<Lease>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut nics = std::collections::HashMap::new();
    for e in std::fs::read_dir(sys_net).into_iter().flatten().flatten() {
        let read = |f: &str| std::fs::read_to_string(e.path().join(f)).unwrap_or_default();
        if let Ok(i) = read("ifindex").trim().parse::<u32>() {
            let mac = read("address").trim().to_ascii_lowercase();
            nics.insert(i, (e.file_name().to_string_lossy().into_owned(), mac));
        }
    }
    let mut out = Vec::new();
    for e in entries.flatten() {
        let Some(ifindex) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let text = std::fs::read_to_string(e.path())
            .with_context(|| format!("reading {}", e.path().display()))?;
        let mut l = Lease::parse(ifindex, &text)
            .with_context(|| format!("reading the DHCP lease {}", e.path().display()))?;
        if let Some((nic, mac)) = nics.get(&ifindex) {
            l.nic = Some(nic.clone());
            l.mac = Some(mac.clone()).filter(|m| !m.is_empty());
        }
        out.push(l);
    }
    out.sort_by_key(|l| l.ifindex);
    Ok(out)
}

/// Waits up to `lease_wait` for networkd's first lease, as long as some Ethernet NIC has a
/// link (without one no lease will come, and the wizard should not wait).
fn wait_for_a_lease(p: &Places) {
    let start = std::time::Instant::now();
    let has_lease = || {
        std::fs::read_dir(&p.lease_dir)
            .map(|mut d| d.any(|e| e.is_ok()))
            .unwrap_or(false)
    };
    let has_link = || {
        std::fs::read_dir(&p.sys_net)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                let read = |f: &str| std::fs::read_to_string(e.path().join(f)).unwrap_or_default();
                // type 1: Ethernet (lo is 772)
                read("type").trim() == "1" && read("carrier").trim() == "1"
            })
    };
    while start.elapsed() < p.lease_wait && !has_lease() && has_link() {
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// An answer URL found on the network, not fetched yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    pub origin: Origin,
    pub url: String,
    pub pin: Option<Fingerprint>,
}

impl Discovered {
    fn fetch(self, p: &Places, cmdline_pin: Option<Fingerprint>) -> Result<Found> {
        let pin = match (self.pin, cmdline_pin) {
            (Some(a), Some(b)) if a != b => bail!(
                "{}: its fingerprint {a} and tandem.answer-fingerprint={b} disagree",
                self.origin
            ),
            (a, b) => a.or(b),
        };
        // No tandem.answer-token=: whoever answers DHCP or DNS on the segment chose this
        // URL, and the token was given for the URL on the command line.
        let text = fetch_http(&self.url, &trust(pin), None, p.http_patience)?;
        Ok(Found {
            origin: self.origin,
            name: self.url,
            text,
        })
    }
}

/// Fills `{mac}` with the NIC's MAC; a URL that needs it from a NIC without one is an
/// error (it would fetch another machine's answer, or none).
fn fill_mac(url: &str, lease: &Lease, source: &str) -> Result<String> {
    if !url.contains("{mac}") {
        return Ok(url.to_string());
    }
    match &lease.mac {
        Some(m) => Ok(url.replace("{mac}", m)),
        None => bail!(
            "{source}: the URL {url} wants {{mac}}, and NIC {} has none",
            lease.ifindex
        ),
    }
}

fn check_url(url: &str, source: &str) -> Result<()> {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        bail!("{source}: {url:?} is not an http:// or https:// URL");
    }
    Ok(())
}

fn nic_name(l: &Lease) -> String {
    l.nic
        .clone()
        .unwrap_or_else(|| format!("ifindex {}", l.ifindex))
}

/// The first lease (in ifindex order) with option 224.
fn from_dhcp(leases: &[Lease]) -> Result<Option<Discovered>> {
    let Some(l) = leases.iter().find(|l| l.url.is_some()) else {
        return Ok(None);
    };
    let nic = nic_name(l);
    let source = format!("DHCP option {DHCP_OPTION_URL} on {nic}");
    let text = |b: &[u8]| {
        String::from_utf8_lossy(b)
            .trim_end_matches('\0')
            .trim()
            .to_string()
    };
    let raw = text(l.url.as_deref().unwrap_or_default());
    check_url(&raw, &source)?;
    let url = fill_mac(&raw, l, &source)?;
    let pin =
        match &l.fingerprint {
            Some(b) => Some(text(b).parse::<Fingerprint>().map_err(|e| {
                anyhow::anyhow!("DHCP option {DHCP_OPTION_FINGERPRINT} on {nic}: {e}")
            })?),
            None => None,
        };
    Ok(Some(Discovered {
        origin: Origin::Dhcp {
            nic,
            url: url.clone(),
        },
        url,
        pin,
    }))
}

/// A `_tandem-answer` TXT record: space-separated `key=value` fields, `url=` required,
/// `fingerprint=` optional; any other key is an error (a typo must not drop a pin).
pub fn parse_txt(txt: &str) -> std::result::Result<(String, Option<Fingerprint>), String> {
    let (mut url, mut fp) = (None, None);
    for field in txt.split_whitespace() {
        match field.split_once('=') {
            Some(("url", v)) if url.is_none() => url = Some(v.to_string()),
            Some(("fingerprint", v)) if fp.is_none() => fp = Some(v.parse::<Fingerprint>()?),
            Some(("url" | "fingerprint", _)) => return Err(format!("{field:?} given twice")),
            _ => {
                return Err(format!(
                    "unknown field {field:?} (the record holds url=… and optionally fingerprint=…)"
                ))
            }
        }
    }
    Ok((url.ok_or("no url= in the record")?, fp))
}

/// `_tandem-answer.<domain>` for each lease's domains, asked of that lease's first DNS
/// server; the first record found wins. A server that does not answer is skipped (DNS is
/// only one of the places an answer may be), a bad record is an error.
fn from_dns(leases: &[Lease], port: u16) -> Result<Option<Discovered>> {
    for l in leases {
        let Some(server) = l.dns.first() else {
            continue;
        };
        let server = SocketAddr::new(*server, port);
        for domain in &l.domains {
            let name = format!("{TXT_LABEL}.{}", domain.trim_end_matches('.'));
            let records = match crate::dns::query_txt(server, &name, Duration::from_secs(2)) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("tandem: no answer discovery by DNS: {e:#}");
                    continue;
                }
            };
            let source = format!("DNS TXT record {name}");
            let record = match records.as_slice() {
                [] => continue,
                [one] => one,
                _ => bail!("{source}: {} records, expected one", records.len()),
            };
            let (raw, pin) = parse_txt(record).map_err(|e| anyhow::anyhow!("{source}: {e}"))?;
            check_url(&raw, &source)?;
            let url = fill_mac(&raw, l, &source)?;
            return Ok(Some(Discovered {
                origin: Origin::DnsTxt {
                    name,
                    url: url.clone(),
                },
                url,
                pin,
            }));
        }
    }
    Ok(None)
}

/// Mounts the TANDEM partition read-only just long enough to read answer.toml. Without
/// one there it names no answer: the Tandem ISO itself carries the label TANDEM (its
/// embedded answer is /tandem/answer.toml, found above), so a CD or USB boot always has
/// such a device.
fn read_labelled(dev: &Path) -> Result<Option<Found>> {
    let mnt = std::env::temp_dir().join(format!("tandem-answer.{}", std::process::id()));
    std::fs::create_dir_all(&mnt)?;
    let mut runner = crate::exec::runner::Runner::unlogged();
    let dev_s = dev.display().to_string();
    runner.run(&crate::exec::runner::Cmd::new("mount").args([
        "-o",
        "ro",
        &dev_s,
        &mnt.display().to_string(),
    ]))?;
    let path = mnt.join("answer.toml");
    let present = path.exists();
    let text = std::fs::read_to_string(&path);
    let _ = runner.run(&crate::exec::runner::Cmd::new("umount").arg(mnt.display().to_string()));
    let _ = std::fs::remove_dir(&mnt);
    if !present {
        return Ok(None);
    }
    let text = text.with_context(|| format!("reading answer.toml on {dev_s}"))?;
    Ok(Some(Found {
        origin: Origin::Partition(dev.to_path_buf()),
        name: format!("{dev_s}:answer.toml"),
        text,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmdline_parsing() {
        let p = CmdlineParams::parse(
            "BOOT_IMAGE=/live/vmlinuz boot=live tandem.answer=http://10.0.2.2:8080/answers/52:54:00:12:34:56.toml \
             tandem.answer-token=abc \"tandem.node=lx eon\" tandem.media=http://10.0.2.2:8080 quiet",
        );
        assert_eq!(
            p.answer.as_deref(),
            Some("http://10.0.2.2:8080/answers/52:54:00:12:34:56.toml")
        );
        assert_eq!(p.token.as_deref(), Some("abc"));
        assert_eq!(p.node.as_deref(), Some("lx eon"));
        assert_eq!(p.media.as_deref(), Some("http://10.0.2.2:8080"));
        assert_eq!(CmdlineParams::parse("quiet"), CmdlineParams::default());
    }

    #[test]
    fn http_404_is_final_and_names_the_url() {
        let (base, _) = crate::http::tests::serve(vec![(404, b"no".to_vec(), None)]);
        let url = format!("{base}/answers/52:54:00:00:00:09.toml");
        let e = fetch_http(&url, &Trust::Roots, None, Duration::from_secs(20)).unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            format!("fetching the answer from {url}: HTTP 404")
        );
    }

    #[test]
    fn order_is_flag_cmdline_embedded_then_none() {
        let dir = std::env::temp_dir().join(format!("tandem-locate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let emb = dir.join("embedded.toml");
        let flag = dir.join("flag.toml");
        let cmd = dir.join("cmdline.toml");
        std::fs::write(&emb, "embedded").unwrap();
        std::fs::write(&flag, "flag").unwrap();
        std::fs::write(&cmd, "cmdline").unwrap();
        let mut p = Places {
            flag: Some(flag.display().to_string()),
            cmdline: CmdlineParams {
                answer: Some(cmd.display().to_string()),
                ..Default::default()
            },
            embedded: emb.clone(),
            label_device: dir.join("no-such-label"),
            http_patience: Duration::from_secs(1),
            lease_dir: dir.join("no-leases"),
            sys_net: dir.join("no-sys"),
            dns_port: 53,
            lease_wait: Duration::ZERO,
        };
        assert_eq!(locate(&p).unwrap().unwrap().text, "flag");
        p.flag = None;
        let f = locate(&p).unwrap().unwrap();
        assert_eq!(f.text, "cmdline");
        assert!(matches!(f.origin, Origin::KernelCmdline(_)));
        p.cmdline.answer = None;
        assert_eq!(
            locate(&p).unwrap().unwrap().origin,
            Origin::Embedded(emb.clone())
        );
        std::fs::remove_file(&emb).unwrap();
        assert!(locate(&p).unwrap().is_none());
        // A named answer that can't be read is an error, not a fall-through to the wizard.
        p.flag = Some(dir.join("missing.toml").display().to_string());
        assert!(locate(&p).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn hex(s: &str) -> String {
        s.bytes().map(|b| format!("{b:02x}")).collect()
    }

    /// A temp dir with a lease dir and a sysfs with one NIC (ifindex 3), and Places
    /// pointing there (nothing else found).
    fn network_places(tag: &str, lease: &str) -> (PathBuf, Places) {
        let dir = std::env::temp_dir().join(format!("tandem-disc-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let nic = dir.join("sys/enp1s0");
        std::fs::create_dir_all(&nic).unwrap();
        std::fs::create_dir_all(dir.join("leases")).unwrap();
        for (f, v) in [
            ("ifindex", "3\n"),
            ("address", "52:54:00:AB:CD:EF\n"),
            ("type", "1\n"),
        ] {
            std::fs::write(nic.join(f), v).unwrap();
        }
        std::fs::write(dir.join("leases/3"), lease).unwrap();
        let p = Places {
            flag: None,
            cmdline: CmdlineParams::default(),
            embedded: dir.join("no-embedded.toml"),
            label_device: dir.join("no-such-label"),
            http_patience: Duration::from_secs(5),
            lease_dir: dir.join("leases"),
            sys_net: dir.join("sys"),
            dns_port: 53,
            lease_wait: Duration::ZERO,
        };
        (dir, p)
    }

    #[test]
    fn lease_files_read_as_networkd_writes_them() {
        let text = format!(
            "# This is private data. Do not parse.\nADDRESS=10.77.0.50\nDNS=10.77.0.1 10.77.0.2\n\
             DOMAINNAME=lab.example\nDOMAIN_SEARCH_LIST=lab.example other.example\n\
             OPTION_224={}\nOPTION_225={}\n",
            hex("https://x/{mac}.toml"),
            hex("AB:CD")
        );
        let l = Lease::parse(3, &text).unwrap();
        assert_eq!(l.url.as_deref(), Some(&b"https://x/{mac}.toml"[..]));
        assert_eq!(l.fingerprint.as_deref(), Some(&b"AB:CD"[..]));
        assert_eq!(l.dns.len(), 2);
        assert_eq!(l.domains, ["lab.example", "other.example"]);
        assert!(Lease::parse(3, "OPTION_224=abc\n").is_err());
    }

    #[test]
    fn txt_records_hold_a_url_and_maybe_a_pin() {
        let fp = "AB:".repeat(31) + "CD";
        let (url, pin) = parse_txt(&format!("url=https://a/{{mac}} fingerprint={fp}")).unwrap();
        assert_eq!(url, "https://a/{mac}");
        assert_eq!(pin.unwrap().to_string(), fp);
        assert_eq!(parse_txt("url=http://a/").unwrap().1, None);
        assert!(parse_txt("fingerprint=AB").is_err());
        assert!(parse_txt("url=http://a/ fingerprnt=AB")
            .unwrap_err()
            .contains("unknown field"));
        assert!(parse_txt("url=http://a/ url=http://b/")
            .unwrap_err()
            .contains("twice"));
        assert_eq!(parse_txt("").unwrap_err(), "no url= in the record");
    }

    #[test]
    fn dhcp_option_224_with_mac_fetched_over_pinned_https() {
        let (base, seen, fp) =
            crate::http::tests::serve_tls(vec![(200, b"[system]\n".to_vec(), None)]);
        let lease = format!(
            "DNS=127.0.0.1\nDOMAINNAME=lab.example\nOPTION_224={}\nOPTION_225={}\n",
            hex(&format!("{base}/answers/{{mac}}.toml")),
            hex(&fp.to_string())
        );
        let (dir, mut p) = network_places("dhcp", &lease);
        p.cmdline.token = Some("s3cret-token".into());
        let found = locate(&p).unwrap().unwrap();
        let url = format!("{base}/answers/52:54:00:ab:cd:ef.toml");
        assert_eq!(
            found.origin,
            Origin::Dhcp {
                nic: "enp1s0".into(),
                url: url.clone()
            }
        );
        assert_eq!(found.text, "[system]\n");
        assert!(found.origin.is_unattended());
        let request = seen.lock().unwrap()[0].clone();
        assert!(request.starts_with("GET /answers/52:54:00:ab:cd:ef.toml "));
        assert!(!request.contains("s3cret-token"), "{request}");

        // The command line still comes first.
        let mut p2 = p.clone();
        p2.cmdline.answer = Some(dir.join("leases/3").display().to_string());
        assert!(matches!(
            locate(&p2).unwrap().unwrap().origin,
            Origin::KernelCmdline(_)
        ));

        // A pin for a plain-HTTP URL is refused before anything is sent.
        let lease = format!(
            "OPTION_224={}\nOPTION_225={}\n",
            hex("http://127.0.0.1:9/a.toml"),
            hex(&fp.to_string())
        );
        std::fs::write(dir.join("leases/3"), lease).unwrap();
        let e = format!("{:#}", locate(&p).unwrap_err());
        assert!(e.contains("needs an https:// URL"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn dns_txt_under_the_lease_domain_after_the_embedded_answer() {
        let (base, seen, fp) =
            crate::http::tests::serve_tls(vec![(200, b"[network]\n".to_vec(), None)]);
        let server = crate::dns::tests::serve(
            "_tandem-answer.lab.example",
            vec![vec![format!("url={base}/a/{{mac}}.toml fingerprint={fp}")]],
            0,
        );
        // The domain name is tried first (no record there), then the search list.
        let lease = "DNS=127.0.0.1\nDOMAINNAME=nothing.example\nDOMAIN_SEARCH_LIST=lab.example\n";
        let (dir, mut p) = network_places("dns", lease);
        p.dns_port = server.port();
        // An answer on the medium comes before anything the network says.
        std::fs::write(&p.embedded, "embedded").unwrap();
        assert!(matches!(
            locate(&p).unwrap().unwrap().origin,
            Origin::Embedded(_)
        ));
        std::fs::remove_file(&p.embedded).unwrap();
        let found = locate(&p).unwrap().unwrap();
        assert_eq!(
            found.origin,
            Origin::DnsTxt {
                name: "_tandem-answer.lab.example".into(),
                url: format!("{base}/a/52:54:00:ab:cd:ef.toml"),
            }
        );
        assert_eq!(found.text, "[network]\n");
        assert_eq!(seen.lock().unwrap().len(), 1);

        // A command-line pin that disagrees with the record's is an error.
        let mut other = fp;
        other.0[0] ^= 1;
        p.cmdline.fingerprint = Some(other.to_string());
        let e = format!("{:#}", locate(&p).unwrap_err());
        assert!(e.contains("disagree"), "{e}");

        // No record anywhere: no answer (the wizard).
        p.cmdline.fingerprint = None;
        std::fs::write(
            dir.join("leases/3"),
            "DNS=127.0.0.1\nDOMAINNAME=x.example\n",
        )
        .unwrap();
        assert!(locate(&p).unwrap().is_none());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
