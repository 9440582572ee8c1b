//! Loading an answer file: syntax, strict deserialisation, cluster-node selection, and the
//! map from key paths back to file positions that every error uses, so a validation error
//! found long after parsing still says file:line:column.

use super::model::{Answer, MacAddr};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use toml::de::{DeTable, DeValue};

/// One problem in an answer file, placed in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// Key path as written in the file, e.g. `network.bonds[0].mode`; empty for the
    /// whole document.
    pub path: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found, in file order. Displayed one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// A problem found by a check that knows the key path but not the file position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub path: String,
    pub message: String,
}

impl Issue {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Issue {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Key path → (line, column) of the key, for every key and array element in the file.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    file: String,
    positions: HashMap<String, (usize, usize)>,
    /// When a cluster node was selected, paths are first looked up under its override.
    override_prefix: Option<String>,
}

impl SourceMap {
    fn build(file: &str, text: &str, doc: &DeTable<'_>) -> Self {
        let lines = LineIndex::new(text);
        let mut positions = HashMap::new();
        walk_table(doc, "", &lines, &mut positions);
        SourceMap {
            file: file.to_string(),
            positions,
            override_prefix: None,
        }
    }

    pub fn file(&self) -> &str {
        &self.file
    }

    /// The position of `path`, or of its nearest ancestor present in the file (a missing
    /// key is reported where its table is).
    pub fn locate(&self, path: &str) -> (usize, usize) {
        self.place(path).0
    }

    /// The position, and the key path as written where it was found: under the selected
    /// node's override when the value came from there, None when nothing of the path is in
    /// the file (a default).
    fn place(&self, path: &str) -> ((usize, usize), Option<String>) {
        if let Some(prefix) = &self.override_prefix {
            let full = format!("{prefix}.{path}");
            if let Some(p) = self.lookup(&full, false) {
                return (p, Some(full));
            }
        }
        match self.lookup(path, true) {
            Some(p) => (p, Some(path.to_string())),
            None => ((1, 1), None),
        }
    }

    fn lookup(&self, path: &str, fall_back: bool) -> Option<(usize, usize)> {
        let mut p = path.to_string();
        loop {
            if let Some(pos) = self.positions.get(&p) {
                return Some(*pos);
            }
            if !fall_back {
                return None;
            }
            let cut = p.rfind(['.', '['])?;
            p.truncate(cut);
        }
    }

    fn diagnostic(&self, issue: Issue) -> Diagnostic {
        let ((line, column), written) = self.place(&issue.path);
        let (path, message) = match written {
            Some(w) => (w, issue.message),
            // Nothing to point at: say why the diagnostic sits at the top.
            None if !issue.path.is_empty() => (
                issue.path,
                format!("{} (not in the file: the default)", issue.message),
            ),
            None => (issue.path, issue.message),
        };
        Diagnostic {
            file: self.file.clone(),
            line,
            column,
            path,
            message,
        }
    }

    /// Places issues in the file and sorts them in file order.
    pub fn diagnostics(&self, issues: Vec<Issue>) -> Diagnostics {
        let mut d: Vec<Diagnostic> = issues.into_iter().map(|i| self.diagnostic(i)).collect();
        d.sort_by(|a, b| (a.line, a.column, &a.path).cmp(&(b.line, b.column, &b.path)));
        d.dedup();
        Diagnostics(d)
    }
}

struct LineIndex(Vec<usize>);

impl LineIndex {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex(starts)
    }
    fn position(&self, text_offset: usize) -> (usize, usize) {
        let line = self.0.partition_point(|&s| s <= text_offset);
        let col = text_offset - self.0[line - 1] + 1;
        (line, col)
    }
}

fn walk_table(
    t: &DeTable<'_>,
    prefix: &str,
    lines: &LineIndex,
    out: &mut HashMap<String, (usize, usize)>,
) {
    for (k, v) in t.iter() {
        let path = if prefix.is_empty() {
            k.get_ref().to_string()
        } else {
            format!("{prefix}.{}", k.get_ref())
        };
        out.insert(path.clone(), lines.position(k.span().start));
        walk_value(v.get_ref(), &path, lines, out);
    }
}

fn walk_value(
    v: &DeValue<'_>,
    path: &str,
    lines: &LineIndex,
    out: &mut HashMap<String, (usize, usize)>,
) {
    match v {
        DeValue::Table(t) => walk_table(t, path, lines, out),
        DeValue::Array(a) => {
            for (i, item) in a.iter().enumerate() {
                let p = format!("{path}[{i}]");
                out.insert(p.clone(), lines.position(item.span().start));
                walk_value(item.get_ref(), &p, lines, out);
            }
        }
        _ => {}
    }
}

/// A parsed answer file before a node is chosen.
#[derive(Debug, Clone)]
pub struct Document {
    table: toml::Table,
    map: SourceMap,
}

/// Which cluster node this machine is, when the file describes several.
#[derive(Debug, Clone, Default)]
pub struct NodeHint {
    /// From `--node` or `tandem.node=` on the kernel command line.
    pub name: Option<String>,
    /// Permanent MACs of this machine's NICs.
    pub macs: Vec<MacAddr>,
}

/// An answer ready for validation, with the map that places its errors.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub answer: Answer,
    pub map: SourceMap,
    /// Index into `cluster.nodes` of the node this answer is for, if it is a cluster member.
    pub node: Option<usize>,
}

impl Document {
    pub fn parse(file: &str, text: &str) -> Result<Self, Diagnostics> {
        let doc = DeTable::parse(text).map_err(|e| syntax_diag(file, text, &e))?;
        let map = SourceMap::build(file, text, doc.get_ref());
        let table: toml::Table = toml::from_str(text).map_err(|e| syntax_diag(file, text, &e))?;
        let mut issues = Vec::new();
        control_characters(&table, "", &mut issues);
        if !issues.is_empty() {
            return Err(map.diagnostics(issues));
        }
        Ok(Document { table, map })
    }

    /// Names of the nodes listed in `cluster.nodes`.
    pub fn node_names(&self) -> Vec<String> {
        self.cluster_nodes()
            .iter()
            .filter_map(|n| n.get("name").and_then(|v| v.as_str()).map(String::from))
            .collect()
    }

    fn cluster_nodes(&self) -> Vec<toml::Table> {
        self.table
            .get("cluster")
            .and_then(|c| c.get("nodes"))
            .and_then(|n| n.as_array())
            .map(|a| a.iter().filter_map(|v| v.as_table().cloned()).collect())
            .unwrap_or_default()
    }

    /// Chooses this machine's node (if the file is a cluster file), merges its override and
    /// deserialises strictly.
    pub fn resolve(&self, hint: &NodeHint) -> Result<Loaded, Diagnostics> {
        let mut table = self.table.clone();
        let mut map = self.map.clone();
        let hostname = table
            .get("system")
            .and_then(|s| s.get("hostname"))
            .and_then(|h| h.as_str())
            .filter(|h| !h.is_empty())
            .map(String::from);
        let nodes = self.cluster_nodes();
        let node = self.pick_node(&nodes, hostname.as_deref(), hint)?;
        if let Some(i) = node {
            let n = &nodes[i];
            if let Some(ov) = n.get("override").and_then(|o| o.as_table()) {
                // The node list and the cluster's name are what every node has in common,
                // and which node this is was decided from them: an override could remove
                // this very node from the list.
                if ov.contains_key("cluster") {
                    return Err(self.map.diagnostics(vec![Issue::new(
                        format!("cluster.nodes[{i}].override.cluster"),
                        "a node's override may not change [cluster]: the cluster and its \
                         node list are the same for every node; move node-specific values \
                         to system, storage, network or drbd in the override",
                    )]));
                }
                merge(&mut table, ov);
                map.override_prefix = Some(format!("cluster.nodes[{i}].override"));
            }
            let name = n.get("name").and_then(|v| v.as_str()).unwrap_or_default();
            if let Some(sys) = table.get_mut("system").and_then(|s| s.as_table_mut()) {
                // Only an absent or empty name is the node's: any other value (a number,
                // a table) is left for deserialisation to refuse where it stands.
                let empty = sys.get("hostname").is_none_or(|h| h.as_str() == Some(""));
                if empty {
                    sys.insert("hostname".into(), toml::Value::String(name.into()));
                }
            }
        }
        let de = toml::Value::Table(table);
        let answer: Answer = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = clean_path(&e.path().to_string());
            let message = e.inner().message().to_string();
            Diagnostics(vec![map.diagnostic(Issue::new(path, message))])
        })?;
        Ok(Loaded { answer, map, node })
    }

    fn pick_node(
        &self,
        nodes: &[toml::Table],
        hostname: Option<&str>,
        hint: &NodeHint,
    ) -> Result<Option<usize>, Diagnostics> {
        if nodes.is_empty() {
            // --node on a single-node file is a promise about which machine this is; a
            // file for another host must not install this one.
            return match (hint.name.as_deref(), hostname) {
                (Some(want), Some(h)) if want != h => {
                    Err(Diagnostics(vec![self.map.diagnostic(Issue::new(
                        "system.hostname",
                        format!(
                            "node {want:?} was asked for, but this file has no cluster.nodes \
                             and describes host {h:?}"
                        ),
                    ))]))
                }
                _ => Ok(None),
            };
        }
        let name_of = |t: &toml::Table| t.get("name").and_then(|v| v.as_str()).map(String::from);
        let by_name = |want: &str| {
            nodes
                .iter()
                .position(|n| name_of(n).as_deref() == Some(want))
        };
        let err = |msg: String| {
            Err(Diagnostics(vec![self
                .map
                .diagnostic(Issue::new("cluster.nodes", msg))]))
        };
        let names = self.node_names().join(", ");
        if let Some(want) = hint.name.as_deref() {
            return match by_name(want) {
                Some(i) => Ok(Some(i)),
                None => err(format!(
                    "node {want:?} is not in this cluster; nodes: {names}"
                )),
            };
        }
        if let Some(h) = hostname {
            // A per-node file names itself; validation reports a name the cluster lacks.
            return Ok(by_name(h));
        }
        let by_mac: Vec<usize> = nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| {
                n.get("macs")
                    .and_then(|m| m.as_array())
                    .is_some_and(|macs| {
                        macs.iter().any(|m| {
                            m.as_str()
                                .and_then(|s| s.parse::<MacAddr>().ok())
                                .is_some_and(|m| hint.macs.contains(&m))
                        })
                    })
            })
            .map(|(i, _)| i)
            .collect();
        match by_mac.as_slice() {
            [i] => Ok(Some(*i)),
            [] => err(format!(
                "this file describes nodes {names} and none of them lists a MAC of this \
                 machine; set system.hostname, pass --node (tandem.node= on the kernel \
                 command line) or add this machine's MACs to its node's `macs`"
            )),
            _ => err(format!(
                "this machine's MACs match more than one node ({}); each MAC may belong to \
                 one node only",
                by_mac
                    .iter()
                    .filter_map(|i| name_of(&nodes[*i]))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
}

/// Every string in the file, wherever it ends up (a host name, an fstab option, a key's
/// comment), becomes part of a line-based file or a command line: a newline would add a
/// line, an ESC would rewrite a terminal. Tabs and every other C0/C1 control are refused
/// with the rest, once, here.
fn control_characters(t: &toml::Table, prefix: &str, out: &mut Vec<Issue>) {
    fn is_hook_script(path: &str) -> bool {
        path.strip_prefix("first-boot.hook[")
            .and_then(|r| r.split_once("].script"))
            .is_some_and(|(i, rest)| rest.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
    }
    fn value(v: &toml::Value, path: &str, out: &mut Vec<Issue>) {
        match v {
            // A hook's script is a file of its own, stored as written: lines and tabs are
            // its substance (its own checks are in validate::first_boot).
            toml::Value::String(_) if is_hook_script(path) => {}
            toml::Value::String(s) => {
                if let Some(c) = s.chars().find(|c| c.is_control()) {
                    out.push(Issue::new(
                        path,
                        format!(
                            "contains the control character U+{:04X}; values become lines of \
                             generated files and may hold printable characters only",
                            c as u32
                        ),
                    ));
                }
            }
            toml::Value::Array(a) => {
                for (i, item) in a.iter().enumerate() {
                    value(item, &format!("{path}[{i}]"), out);
                }
            }
            toml::Value::Table(t) => control_characters(t, path, out),
            _ => {}
        }
    }
    for (k, v) in t {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        if k.chars().any(char::is_control) {
            out.push(Issue::new(
                prefix,
                "a key contains a control character; keys are plain names",
            ));
            continue;
        }
        value(v, &path, out);
    }
}

/// Tables merge key by key; anything else in `over` replaces what `base` had.
fn merge(base: &mut toml::Table, over: &toml::Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

/// serde_path_to_error prints "?" for segments it cannot name and "." for the root.
fn clean_path(p: &str) -> String {
    if p == "." {
        String::new()
    } else {
        p.trim_end_matches(".?").to_string()
    }
}

fn syntax_diag(file: &str, text: &str, e: &toml::de::Error) -> Diagnostics {
    let (line, column) = e
        .span()
        .map(|s| LineIndex::new(text).position(s.start))
        .unwrap_or((1, 1));
    Diagnostics(vec![Diagnostic {
        file: file.to_string(),
        line,
        column,
        path: String::new(),
        message: format!("TOML syntax: {}", e.message().trim()),
    }])
}

/// Parses and resolves in one step, for callers that have the hint already.
pub fn load(file: &str, text: &str, hint: &NodeHint) -> Result<Loaded, Diagnostics> {
    Document::parse(file, text)?.resolve(hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diagnostic_names_where_its_value_was_written() {
        let text = "[system]\nhostname = \"a\"\n\n[[cluster.nodes]]\nname = \"a\"\n\
                    [cluster.nodes.override.storage]\nchunk = \"3K\"\n";
        let doc = Document::parse("f.toml", text).unwrap();
        let mut map = doc.map.clone();
        map.override_prefix = Some("cluster.nodes[0].override".into());
        let d = map.diagnostic(Issue::new("storage.chunk", "bad"));
        assert_eq!(
            d.to_string(),
            "f.toml:7:1: cluster.nodes[0].override.storage.chunk: bad"
        );
        // From the file's own table: its ancestor's place, the path as asked.
        let d = map.diagnostic(Issue::new("system.domain", "missing"));
        assert_eq!(d.to_string(), "f.toml:1:2: system.domain: missing");
        // Nothing of it in the file: placed at the top, and said so.
        let d = map.diagnostic(Issue::new("install.finish", "bad"));
        assert_eq!(
            d.to_string(),
            "f.toml:1:1: install.finish: bad (not in the file: the default)"
        );
    }
}
