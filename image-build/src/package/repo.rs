//! Writes the medium's apt repository: `pool/main/...` with the verified .debs,
//! `dists/<suite>/main/binary-<arch>/Packages{,.gz}`, an unsigned `Release` with SHA256
//! sums, and `tandem-manifest.json` naming the package sets. Output is deterministic for
//! the same inputs (sorted stanzas, fixed Date, gzip without timestamp).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::package::cache::sha256_bytes;
use crate::package::release::format_date;
use crate::package::resolve::Pkg;

pub(crate) struct Entry<'a> {
    pub(crate) pkg: &'a Pkg,
    /// The verified .deb in the host cache.
    pub(crate) deb: PathBuf,
    pub(crate) size: u64,
    pub(crate) sha256: String,
}

pub(crate) struct RepoMeta<'a> {
    pub(crate) suite: &'a str,
    pub(crate) origin: &'a str,
    pub(crate) arch: &'a str,
    pub(crate) date: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct Manifest {
    pub(crate) profile: String,
    pub(crate) suite: String,
    pub(crate) component: String,
    pub(crate) architecture: String,
    pub(crate) sets: BTreeMap<String, ManifestSet>,
    pub(crate) packages: Vec<ManifestPackage>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct ManifestSet {
    pub(crate) description: String,
    pub(crate) extends: Vec<String>,
    /// Names the profile lists for this set (and the sets it extends).
    pub(crate) requested: Vec<String>,
    /// Essential and priority packages every closure starts from.
    pub(crate) priority: Vec<String>,
    /// Full dependency closure of priority + requested, sorted.
    pub(crate) closure: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct ManifestPackage {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) architecture: String,
    pub(crate) filename: String,
    pub(crate) size: u64,
    pub(crate) sha256: String,
}

/// `pool/<component>/<prefix>/<source>/<file>` → `pool/main/<prefix>/<source>/<file>`:
/// everything lands in one component on the medium.
pub(crate) fn pool_path(pkg: &Pkg) -> String {
    let filename = pkg.stanza.get("Filename").unwrap_or_default();
    let mut parts = filename.split('/');
    if let (Some("pool"), Some(_component), Some(prefix), Some(source), Some(file)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        if parts.next().is_none() {
            return format!("pool/main/{prefix}/{source}/{file}");
        }
    }
    let source = pkg
        .stanza
        .get("Source")
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or(&pkg.name);
    let prefix = if source.starts_with("lib") && source.len() > 3 {
        &source[..4]
    } else {
        &source[..1]
    };
    let file = filename
        .rsplit('/')
        .next()
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| {
            let ver = pkg
                .version
                .split_once(':')
                .map_or(pkg.version.as_str(), |(_, v)| v);
            format!("{}_{}_{}.deb", pkg.name, ver, pkg.arch)
        });
    format!("pool/main/{prefix}/{source}/{file}")
}

/// Writes the repository into `dir` (which must not exist yet).
pub(crate) fn write(
    dir: &Path,
    entries: &[Entry],
    meta: &RepoMeta,
    manifest: &Manifest,
) -> Result<()> {
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by(|a, b| {
        a.pkg
            .name
            .cmp(&b.pkg.name)
            .then_with(|| crate::package::version::compare(&a.pkg.version, &b.pkg.version))
    });
    let mut packages = String::new();
    for e in &sorted {
        let pool = pool_path(e.pkg);
        let dest = dir.join(&pool);
        std::fs::create_dir_all(dest.parent().context("pool path")?)?;
        // Hard links keep a rebuild cheap when the cache is on the same filesystem.
        if std::fs::hard_link(&e.deb, &dest).is_err() {
            std::fs::copy(&e.deb, &dest)
                .with_context(|| format!("copying {} to {}", e.deb.display(), dest.display()))?;
        }
        let mut stanza = e.pkg.stanza.clone();
        // Weaker hashes are not checked anywhere; drop them rather than carry unverified data.
        for f in ["MD5sum", "SHA1", "SHA512"] {
            stanza.remove(f);
        }
        stanza.set("Filename", pool);
        stanza.set("Size", e.size.to_string());
        stanza.set("SHA256", e.sha256.clone());
        packages.push_str(&stanza.render());
        packages.push('\n');
    }
    let head = format!(
        "Origin: {origin}\nLabel: {origin}\nSuite: {suite}\nCodename: {suite}\nDate: {date}\nArchitectures: {arch}\nComponents: main\nDescription: {origin} offline repository (unsigned; verified at build time)\n",
        origin = meta.origin,
        suite = meta.suite,
        date = format_date(meta.date),
        arch = meta.arch,
    );
    write_index(dir, meta.suite, meta.arch, &packages, &head)?;
    let json = serde_json::to_string_pretty(manifest)? + "\n";
    std::fs::write(dir.join("tandem-manifest.json"), json)?;
    Ok(())
}

/// Packages, Packages.gz and a Release with their SHA256 sums. Each file is replaced, not
/// written through: the medium's repository is a tree of hard links to the fetched one.
fn write_index(
    dir: &Path,
    suite: &str,
    arch: &str,
    packages: &str,
    release_head: &str,
) -> Result<()> {
    let rel_dir = format!("main/binary-{arch}");
    let index_dir = dir.join("dists").join(suite).join(&rel_dir);
    std::fs::create_dir_all(&index_dir)?;
    replace(&index_dir.join("Packages"), packages.as_bytes())?;
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    gz.write_all(packages.as_bytes())?;
    let gz = gz.finish()?;
    replace(&index_dir.join("Packages.gz"), &gz)?;
    let mut release = format!("{release_head}SHA256:\n");
    for (name, data) in [("Packages", packages.as_bytes()), ("Packages.gz", &gz[..])] {
        release.push_str(&format!(
            " {} {:>16} {rel_dir}/{name}\n",
            sha256_bytes(data),
            data.len()
        ));
    }
    replace(
        &dir.join("dists").join(suite).join("Release"),
        release.as_bytes(),
    )
}

fn replace(path: &Path, data: &[u8]) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => {}
    }
    std::fs::write(path, data).with_context(|| format!("writing {}", path.display()))
}

/// Adds (or replaces) one package's stanza in a written repository, with its manifest
/// entry; an empty `dir` becomes a repository of that one package.
pub(crate) fn add_stanza(
    dir: &Path,
    suite: &str,
    arch: &str,
    stanza: &str,
    date: i64,
) -> Result<()> {
    let field = |s: &str, f: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(&format!("{f}: ")))
            .unwrap_or_default()
            .to_string()
    };
    let name = field(stanza, "Package");
    let index = dir.join(format!("dists/{suite}/main/binary-{arch}/Packages"));
    let old = std::fs::read_to_string(&index).unwrap_or_default();
    let mut stanzas: Vec<String> = old
        .split("\n\n")
        .map(|s| s.trim_matches('\n').to_string())
        .filter(|s| !s.is_empty() && field(s, "Package") != name)
        .collect();
    stanzas.push(stanza.trim_matches('\n').to_string());
    stanzas.sort_by_key(|s| field(s, "Package"));
    let packages: String = stanzas.iter().map(|s| format!("{s}\n\n")).collect();
    let release = dir.join(format!("dists/{suite}/Release"));
    let head = match std::fs::read_to_string(&release) {
        Ok(r) => r.split("SHA256:").next().unwrap_or_default().to_string(),
        Err(_) => format!(
            "Origin: Tandem\nLabel: Tandem\nSuite: {suite}\nCodename: {suite}\nDate: {}\nArchitectures: {arch}\nComponents: main\nDescription: Tandem offline repository (unsigned; verified at build time)\n",
            format_date(date)
        ),
    };
    write_index(dir, suite, arch, &packages, &head)?;
    let manifest_path = dir.join("tandem-manifest.json");
    let mut m: serde_json::Value = match std::fs::read_to_string(&manifest_path) {
        Ok(t) => serde_json::from_str(&t).context("reading tandem-manifest.json")?,
        Err(_) => serde_json::json!({
            "profile": "none", "suite": suite, "component": "main",
            "architecture": arch, "sets": {}, "packages": []
        }),
    };
    let entry = serde_json::to_value(ManifestPackage {
        name: name.clone(),
        version: field(stanza, "Version"),
        architecture: field(stanza, "Architecture"),
        filename: field(stanza, "Filename"),
        size: field(stanza, "Size").parse().unwrap_or(0),
        sha256: field(stanza, "SHA256"),
    })?;
    if let Some(list) = m["packages"].as_array_mut() {
        list.retain(|p| p["name"] != name.as_str());
        list.push(entry);
        list.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    }
    replace(
        &manifest_path,
        (serde_json::to_string_pretty(&m)? + "\n").as_bytes(),
    )
}
