//! `tandem_<version>_amd64.deb`: the node's `tandem` as a Debian package, and the medium's
//! repository with it.
//!
//! The package holds the static binary, the files that make a node a Tandem node whatever
//! its answer (tandem-drbd.service, the ESP-sync apt hook as a conffile), documentation,
//! and man pages and completions generated from tandem's clap definition, so they cannot
//! drift from the parser. It is assembled here (no debhelper: the build host need not be
//! a Debian development machine) and archived by `dpkg-deb`; every time in it is
//! SOURCE_DATE_EPOCH, so the same inputs give the same bytes.

use crate::package::cache::sha256_bytes;
use anyhow::{bail, Context, Result};
use md5::Digest as _;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use tandem::exec::runner::{Cmd, Runner};

const NAME: &str = "tandem";
const ARCH: &str = "amd64";
// No list or site exists yet: a reserved domain (RFC 2606) rather than an invented one.
const MAINTAINER: &str = "Tandem developers <tandem@tandem.invalid>";
/// What the node-side commands run whatever the answer: esp-sync (mount), the maintainer
/// scripts (deb-systemd-helper), and the tools `tandem` expects next to md and LVM.
const DEPENDS: &str = "init-system-helpers (>= 1.54~), mdadm, lvm2, gdisk, dosfstools";
/// Each for one feature: DRBD resources, UEFI boot entries, reading the man pages.
const RECOMMENDS: &str = "drbd-utils, efibootmgr, man-db";

const UNIT: &str = include_str!("../../../installer/debian/tandem-drbd.service");
const APT_HOOK: &str = include_str!("../../../installer/debian/tandem.apt-hook");
const POSTINST: &str = include_str!("../../../installer/debian/postinst");
const POSTRM: &str = include_str!("../../../installer/debian/postrm");
const COPYRIGHT: &str = include_str!("../../../installer/debian/copyright");
const OVERRIDES: &str = include_str!("../../../installer/debian/lintian-overrides");
const OPERATIONS: &str = include_str!("../../../docs/operations.md");
const ANSWER_FILE: &str = include_str!("../../../docs/answer-file.md");

const UNIT_PATH: &str = "usr/lib/systemd/system/tandem-drbd.service";
const APT_HOOK_PATH: &str = "etc/apt/apt.conf.d/99tandem-esp-sync";

/// One file of the package, its path relative to the root.
#[derive(Debug, Clone)]
struct PkgFile {
    path: String,
    mode: u32,
    data: Vec<u8>,
}

impl PkgFile {
    fn new(path: impl Into<String>, mode: u32, data: impl Into<Vec<u8>>) -> Self {
        PkgFile {
            path: path.into(),
            mode,
            data: data.into(),
        }
    }
}

/// gzip as Debian wants it for man pages and docs: best compression, no name, no time.
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    // Writing into a Vec cannot fail.
    let _ = gz.write_all(data);
    gz.finish().unwrap_or_default()
}

/// One man page per command and visible subcommand, nested ones too: `tandem(8)`,
/// `tandem-install(8)`, `tandem-disk-replace(8)`, … (git's convention). The synopsis of a
/// subcommand's page reads `tandem install`.
fn man_pages(cmd: clap::Command, section: &str) -> Result<Vec<(String, Vec<u8>)>> {
    // `tandem help` repeats --help; a page for it would only point back here.
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let top = cmd.get_name().to_string();
    let version = cmd.get_version().unwrap_or_default().to_string();
    let mut out = Vec::new();
    man_page_tree(&cmd, &top, &top, None, section, &version, &mut out)?;
    Ok(out)
}

fn man_page_tree(
    cmd: &clap::Command,
    name: &str,
    bin: &str,
    parent: Option<&str>,
    section: &str,
    version: &str,
    out: &mut Vec<(String, Vec<u8>)>,
) -> Result<()> {
    let subs: Vec<&clap::Command> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        .collect();
    let mut page = Vec::new();
    let this = cmd
        .clone()
        .name(name.to_string())
        .bin_name(bin.to_string())
        .version(version.to_string());
    clap_mangen::Man::new(this)
        .section(section)
        .render(&mut page)?;
    let mut see_also: Vec<String> = parent
        .map(|p| format!("\\fB{}\\fR({section})", p.replace('-', "\\-")))
        .into_iter()
        .collect();
    see_also.extend(subs.iter().map(|s| {
        format!(
            "\\fB{}\\-{}\\fR({section})",
            name.replace('-', "\\-"),
            s.get_name()
        )
    }));
    if !see_also.is_empty() {
        writeln!(page, ".SH \"SEE ALSO\"\n{}", see_also.join(",\n"))?;
    }
    out.push((name.to_string(), page));
    for s in subs {
        man_page_tree(
            s,
            &format!("{name}-{}", s.get_name()),
            &format!("{bin} {}", s.get_name()),
            Some(name),
            section,
            version,
            out,
        )?;
    }
    Ok(())
}

/// bash, zsh and fish completions, at the paths Debian's shells read them from.
fn completions(cmd: clap::Command) -> Vec<PkgFile> {
    use clap_complete::Shell;
    let bin = cmd.get_name().to_string();
    [
        (
            Shell::Bash,
            format!("usr/share/bash-completion/completions/{bin}"),
        ),
        (
            Shell::Zsh,
            format!("usr/share/zsh/vendor-completions/_{bin}"),
        ),
        (
            Shell::Fish,
            format!("usr/share/fish/vendor_completions.d/{bin}.fish"),
        ),
    ]
    .into_iter()
    .map(|(shell, path)| {
        let mut c = cmd.clone();
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut c, bin.clone(), &mut buf);
        PkgFile::new(path, 0o644, buf)
    })
    .collect()
}

/// A native package's changelog: one entry, for this build.
fn changelog(version: &str, epoch: i64) -> String {
    format!(
        "{NAME} ({version}) unstable; urgency=medium\n\n  * Built from git revision {rev} by \
         tandem-image.\n\n -- {MAINTAINER}  {date}\n",
        rev = tandem::REVISION,
        date = rfc2822(epoch),
    )
}

fn rfc2822(t: i64) -> String {
    crate::package::release::format_date_in(t, "+0000")
}

/// Every file of the package but the control area.
fn files(binary: Vec<u8>, version: &str, epoch: i64) -> Result<Vec<PkgFile>> {
    let doc = "usr/share/doc/tandem";
    let mut v = vec![
        PkgFile::new("usr/sbin/tandem", 0o755, binary),
        PkgFile::new(UNIT_PATH, 0o644, UNIT),
        PkgFile::new(APT_HOOK_PATH, 0o644, APT_HOOK),
        PkgFile::new(format!("{doc}/copyright"), 0o644, COPYRIGHT),
        PkgFile::new(
            format!("{doc}/changelog.gz"),
            0o644,
            gzip(changelog(version, epoch).as_bytes()),
        ),
        PkgFile::new(
            format!("{doc}/operations.md.gz"),
            0o644,
            gzip(OPERATIONS.as_bytes()),
        ),
        PkgFile::new(
            format!("{doc}/answer-file.md.gz"),
            0o644,
            gzip(ANSWER_FILE.as_bytes()),
        ),
        PkgFile::new("usr/share/lintian/overrides/tandem", 0o644, OVERRIDES),
    ];
    for (name, page) in man_pages(tandem::args::command(), "8")? {
        v.push(PkgFile::new(
            format!("usr/share/man/man8/{name}.8.gz"),
            0o644,
            gzip(&page),
        ));
    }
    v.extend(completions(tandem::args::command()));
    Ok(v)
}

/// Debian's Installed-Size: KiB, each file rounded up (as dpkg-gencontrol counts).
fn installed_kib(files: &[PkgFile]) -> u64 {
    files
        .iter()
        .map(|f| (f.data.len() as u64).div_ceil(1024))
        .sum()
}

fn control(version: &str, files: &[PkgFile]) -> String {
    format!(
        "Package: {NAME}\nVersion: {version}\nArchitecture: {ARCH}\nMaintainer: {MAINTAINER}\n\
         Installed-Size: {kib}\nDepends: {DEPENDS}\nRecommends: {RECOMMENDS}\nSection: admin\n\
         Priority: optional\n\
         Description: turns bare metal into a Proxmox VE HA cluster node\n \
         Tandem installs a node from one answer file: mdadm RAID (RAID1 boot, RAID6 or\n \
         RAID10 data), GRUB on every disk, bonds, VLANs and bridges, and DRBD. This\n \
         package is the installer's command on the installed node: it keeps every\n \
         disk's EFI system partition in step after GRUB updates (an apt hook), brings\n \
         the node's DRBD resources up at boot (tandem-drbd.service), and reads and\n \
         checks answer files.\n",
        kib = installed_kib(files),
    )
}

fn md5sums(files: &[PkgFile]) -> String {
    let mut v: Vec<&PkgFile> = files
        .iter()
        .filter(|f| !f.path.starts_with("etc/"))
        .collect();
    v.sort_by(|a, b| a.path.cmp(&b.path));
    v.iter()
        .map(|f| format!("{:x}  {}\n", md5::Md5::digest(&f.data), f.path))
        .collect()
}

/// The conffiles: everything under /etc (Debian policy 10.7.2).
fn conffiles(files: &[PkgFile]) -> String {
    files
        .iter()
        .filter(|f| f.path.starts_with("etc/"))
        .map(|f| format!("/{}\n", f.path))
        .collect()
}

/// Sets the mtime of `p` (file or directory) to `epoch`.
fn set_time(p: &Path, epoch: i64) -> Result<()> {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch.max(0) as u64);
    std::fs::File::open(p)
        .and_then(|f| f.set_modified(t))
        .with_context(|| format!("setting the time of {}", p.display()))
}

fn write_tree(root: &Path, files: &[PkgFile], control_files: &[PkgFile], epoch: i64) -> Result<()> {
    for f in files.iter().chain(control_files) {
        let p = root.join(&f.path);
        std::fs::create_dir_all(p.parent().context("package path")?)?;
        std::fs::write(&p, &f.data).with_context(|| format!("writing {}", p.display()))?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(f.mode))?;
    }
    // Directories last: writing a file touches its directory.
    let mut dirs = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            if e.file_type()?.is_dir() {
                stack.push(e.path());
            } else {
                set_time(&e.path(), epoch)?;
            }
        }
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755))?;
        dirs.push(d);
    }
    for d in dirs.iter().rev() {
        set_time(d, epoch)?;
    }
    Ok(())
}

/// The .deb's file name.
fn file_name(version: &str) -> String {
    let v = version.split_once(':').map_or(version, |(_, v)| v);
    format!("{NAME}_{v}_{ARCH}.deb")
}

/// Builds the package from `binary` into `out_dir`; `work` is scratch space.
pub(crate) fn build(
    runner: &mut Runner,
    binary: &Path,
    version: &str,
    epoch: i64,
    work: &Path,
    out_dir: &Path,
) -> Result<PathBuf> {
    check_version(version)?;
    let bin = std::fs::read(binary).with_context(|| format!("reading {}", binary.display()))?;
    let files = files(bin, version, epoch)?;
    let control_files = vec![
        PkgFile::new("DEBIAN/control", 0o644, control(version, &files)),
        PkgFile::new("DEBIAN/md5sums", 0o644, md5sums(&files)),
        PkgFile::new("DEBIAN/conffiles", 0o644, conffiles(&files)),
        PkgFile::new("DEBIAN/postinst", 0o755, POSTINST),
        PkgFile::new("DEBIAN/postrm", 0o755, POSTRM),
    ];
    let root = work.join("tandem-deb");
    crate::media::base::fresh_dir(&root)?;
    write_tree(&root, &files, &control_files, epoch)?;
    std::fs::create_dir_all(out_dir)?;
    let deb = out_dir.join(file_name(version));
    runner
        .run(
            &Cmd::new("dpkg-deb")
                .args(["--root-owner-group", "-Zxz", "--build"])
                .arg(root.display().to_string())
                .arg(deb.display().to_string())
                .env("SOURCE_DATE_EPOCH", epoch.to_string()),
        )
        .context("archiving the tandem package")?;
    Ok(deb)
}

/// A Debian version: [epoch:]upstream[-revision], upstream starting with a digit.
fn check_version(v: &str) -> Result<()> {
    let upstream = v.split_once(':').map_or(v, |(_, u)| u);
    let ok = upstream.starts_with(|c: char| c.is_ascii_digit())
        && upstream
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".+-~".contains(c))
        && !v.ends_with('-');
    if !ok {
        bail!("{v:?} is not a Debian version (digits first, then letters, digits and . + - ~)");
    }
    Ok(())
}

/// The version the package gets unless told otherwise: the crate's.
pub(crate) fn default_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[derive(clap::Args, Debug)]
pub(crate) struct PackageArgs {
    /// The statically linked tandem binary.
    #[arg(long, default_value = "target/x86_64-unknown-linux-gnu/release/tandem")]
    pub(crate) tandem_bin: PathBuf,
    /// Directory for the .deb.
    #[arg(long, default_value = "build/package")]
    pub(crate) out: PathBuf,
    /// Debian version (default: the crate's). A test builds a newer one with e.g. 0.1.0+1.
    #[arg(long = "package-version")]
    pub(crate) version: Option<String>,
    /// Timestamp of every file (default: $SOURCE_DATE_EPOCH, else now).
    #[arg(long)]
    pub(crate) source_date_epoch: Option<i64>,
}

pub(crate) fn run(a: &PackageArgs) -> Result<()> {
    let epoch = crate::pipeline::epoch_now(a.source_date_epoch)?;
    let version = a.version.as_deref().unwrap_or(default_version());
    let mut runner = Runner::unlogged();
    let work = a.out.join("work");
    let deb = build(&mut runner, &a.tandem_bin, version, epoch, &work, &a.out)?;
    std::fs::remove_dir_all(&work).ok();
    println!(
        "{}: {} bytes",
        deb.display(),
        std::fs::metadata(&deb)?.len()
    );
    Ok(())
}

#[derive(clap::Args, Debug)]
pub(crate) struct ManArgs {
    /// Directory for the pages (man8/ and man1/ below it, uncompressed).
    #[arg(long)]
    pub(crate) out: PathBuf,
}

pub(crate) fn write_man(a: &ManArgs, image_cmd: clap::Command) -> Result<()> {
    let mut n = 0;
    for (cmd, section) in [(tandem::args::command(), "8"), (image_cmd, "1")] {
        let dir = a.out.join(format!("man{section}"));
        std::fs::create_dir_all(&dir)?;
        for (name, page) in man_pages(cmd, section)? {
            std::fs::write(dir.join(format!("{name}.{section}")), page)?;
            n += 1;
        }
    }
    println!("{n} man pages in {}", a.out.display());
    Ok(())
}

/// The Packages stanza of a built .deb.
fn stanza(deb: &Path, pool_path: &str, runner: &mut Runner) -> Result<String> {
    let out = runner.run(
        &Cmd::new("dpkg-deb")
            .args(["--field"])
            .arg(deb.display().to_string()),
    )?;
    let data = std::fs::read(deb)?;
    let mut s = out.stdout.trim_end().to_string();
    s.push_str(&format!(
        "\nFilename: {pool_path}\nSize: {}\nSHA256: {}\n",
        data.len(),
        sha256_bytes(&data)
    ));
    Ok(s)
}

/// The medium's repository: the fetched one (hard links) with this package added, or this
/// package alone when the build has no local repository.
pub(crate) fn medium_repo(
    runner: &mut Runner,
    fetched: Option<&Path>,
    deb: &Path,
    dest: &Path,
    suite: &str,
    epoch: i64,
) -> Result<()> {
    crate::media::base::fresh_dir(dest)?;
    match fetched {
        Some(src) => {
            runner
                .run(
                    &Cmd::new("cp")
                        .arg("-al")
                        .arg(src.display().to_string())
                        .arg(dest.display().to_string()),
                )
                .context("linking the fetched repository")?;
        }
        None => std::fs::create_dir_all(dest)?,
    }
    let pool = format!(
        "pool/main/t/{NAME}/{}",
        deb.file_name().unwrap_or_default().to_string_lossy()
    );
    let target = dest.join(&pool);
    std::fs::create_dir_all(target.parent().context("pool path")?)?;
    std::fs::copy(deb, &target).with_context(|| format!("copying {}", deb.display()))?;
    let stanza = stanza(deb, &pool, runner)?;
    crate::package::repo::add_stanza(dest, suite, ARCH, &stanza, epoch)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visible_subcommands() -> Vec<String> {
        let mut c = tandem::args::command();
        c.build();
        c.get_subcommands()
            .filter(|s| !s.is_hide_set() && s.get_name() != "help")
            .map(|s| s.get_name().to_string())
            .collect()
    }

    /// Every subcommand has its man page and appears in every completion: a new subcommand
    /// without them fails here.
    #[test]
    fn every_subcommand_has_a_man_page_and_completions() {
        let files = files(b"\x7fELF".to_vec(), "0.1.0", 1_767_225_600).unwrap();
        let subs = visible_subcommands();
        assert!(subs.len() >= 10, "{subs:?}");
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert!(paths.contains(&"usr/share/man/man8/tandem.8.gz"));
        for s in &subs {
            let page = format!("usr/share/man/man8/tandem-{s}.8.gz");
            assert!(paths.contains(&page.as_str()), "no man page for {s}");
        }
        for shell in [
            "usr/share/bash-completion/completions/tandem",
            "usr/share/zsh/vendor-completions/_tandem",
            "usr/share/fish/vendor_completions.d/tandem.fish",
        ] {
            let f = files.iter().find(|f| f.path == shell).unwrap();
            let text = String::from_utf8_lossy(&f.data);
            for s in &subs {
                assert!(text.contains(s.as_str()), "{shell} lacks {s}");
            }
        }
    }

    #[test]
    fn a_subcommand_page_names_the_two_word_command() {
        let pages = man_pages(tandem::args::command(), "8").unwrap();
        let (_, page) = pages.iter().find(|(n, _)| n == "tandem-install").unwrap();
        let text = String::from_utf8_lossy(page);
        assert!(text.contains(".TH tandem-install 8"), "{text}");
        assert!(text.contains("tandem install"), "{text}");
        let (_, top) = &pages[0];
        assert!(String::from_utf8_lossy(top).contains("\\fBtandem\\-install\\fR(8)"));
        // A nested subcommand gets its own page, which points back at its parent.
        let (_, nested) = pages
            .iter()
            .find(|(n, _)| n == "tandem-disk-replace")
            .unwrap();
        let text = String::from_utf8_lossy(nested);
        assert!(text.contains("tandem disk replace"), "{text}");
        assert!(text.contains("\\fBtandem\\-disk\\fR(8)"), "{text}");
    }

    #[test]
    fn control_and_conffiles() {
        let files = files(vec![0; 5000], "1.2.3", 0).unwrap();
        let c = control("1.2.3", &files);
        assert!(c.contains("Package: tandem\nVersion: 1.2.3\nArchitecture: amd64\n"));
        assert!(c.lines().all(|l| l.len() <= 80), "{c}");
        assert_eq!(conffiles(&files), format!("/{APT_HOOK_PATH}\n"));
        let sums = md5sums(&files);
        assert!(sums.contains("  usr/sbin/tandem\n"));
        assert!(!sums.contains("etc/"));
    }

    /// docs/image-build.md's table names every file the package holds, and its relations.
    #[test]
    fn the_documented_contents_are_the_package() {
        let doc = include_str!("../../../docs/image-build.md");
        let section = doc
            .split("### The tandem package")
            .nth(1)
            .and_then(|s| s.split("\n### ").next())
            .unwrap();
        for f in files(vec![], "0.1.0", 0).unwrap() {
            let p = format!("/{}", f.path);
            let named = section.contains(&format!("`{p}`"))
                || p.strip_prefix("/usr/share/doc/tandem/")
                    .is_some_and(|n| section.contains(&format!("`{n}`")))
                || (p.starts_with("/usr/share/man/man8/tandem-")
                    && section.contains("`tandem-<command>.8.gz`"));
            assert!(named, "docs/image-build.md does not name {p}");
        }
        assert!(section.contains(&format!("`Depends: {DEPENDS}`")));
        assert!(section.contains(&format!("`Recommends: {RECOMMENDS}`")));
    }

    /// The packaged unit and hook name the paths the node-side commands use.
    #[test]
    fn unit_and_hook_agree_with_the_commands() {
        assert!(UNIT.contains(&format!(
            "\nConditionPathExists={}\n",
            tandem::contract::drbd::CONFIG
        )));
        assert!(UNIT.contains("\nExecStart=/usr/sbin/tandem drbd-start\n"));
        assert!(UNIT.contains("\nExecStop=/usr/sbin/tandem drbd-stop\n"));
        assert!(APT_HOOK.contains(&format!("[ -s {} ]", tandem::contract::ESP_LIST)));
        assert!(APT_HOOK.contains("/usr/sbin/tandem esp-sync"));
    }

    #[test]
    fn versions() {
        for ok in ["0.1.0", "1:0.1.0+e2e.2", "0.1.0~rc1-1"] {
            check_version(ok).unwrap();
        }
        for bad in ["", "v1", "1.0 ", "1.0/2", "1.0-"] {
            assert!(check_version(bad).is_err(), "{bad:?}");
        }
        assert_eq!(file_name("1:0.2"), "tandem_0.2_amd64.deb");
    }

    #[test]
    fn changelog_date_is_rfc2822() {
        assert_eq!(rfc2822(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc2822(1_767_225_600), "Thu, 01 Jan 2026 00:00:00 +0000");
    }
}
