//! Minimal deb822 reader for Release and Packages files: stanzas separated by blank
//! lines, `Field: value` lines, continuation lines start with a space or tab.
//! Field order and raw text are kept so stanzas can be written back unchanged.

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stanza {
    /// (field name, value) in file order; multi-line values keep their newlines and
    /// the leading space of continuation lines.
    pub(crate) fields: Vec<(String, String)>,
}

impl Stanza {
    /// Field lookup; field names are case-insensitive in deb822.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn set(&mut self, name: &str, value: String) {
        match self
            .fields
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            Some((_, v)) => *v = value,
            None => self.fields.push((name.to_string(), value)),
        }
    }

    pub(crate) fn remove(&mut self, name: &str) {
        self.fields.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    }

    /// Renders the stanza (without the separating blank line).
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        for (k, v) in &self.fields {
            out.push_str(k);
            out.push(':');
            if !v.is_empty() && !v.starts_with('\n') {
                out.push(' ');
            }
            out.push_str(v);
            out.push('\n');
        }
        out
    }
}

#[derive(Debug, thiserror::Error)]
#[error("line {line}: {message}")]
pub(crate) struct ParseError {
    pub(crate) line: usize,
    pub(crate) message: String,
}

/// deb822(5)'s field names: printable ASCII without ':' and space, not starting with the
/// comment character or '-'. A looser name (one after vertical tabs, say, read as "#...")
/// would be written back as a comment and lost.
fn field_name_ok(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(['#', '-'])
        && name
            .bytes()
            .all(|b| (b'!'..=b'~').contains(&b) && b != b':')
}

/// Parses every stanza of a deb822 document.
pub(crate) fn parse(text: &str) -> Result<Vec<Stanza>, ParseError> {
    let mut stanzas = Vec::new();
    let mut fields: Vec<(String, String)> = Vec::new();
    // Lines end at '\n' only: `str::lines` also drops a '\r' before it, so a value ending
    // in '\r' at the end of the text read differently once written back (fuzzing found it).
    let text = text.strip_suffix('\n').unwrap_or(text);
    for (n, line) in text.split('\n').enumerate() {
        if line.trim().is_empty() {
            if !fields.is_empty() {
                stanzas.push(Stanza {
                    fields: std::mem::take(&mut fields),
                });
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            let Some((_, value)) = fields.last_mut() else {
                return Err(ParseError {
                    line: n + 1,
                    message: "continuation line before any field".into(),
                });
            };
            value.push('\n');
            value.push_str(line);
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(ParseError {
                line: n + 1,
                message: format!("expected `Field: value`, found {line:?}"),
            });
        };
        let name = name.trim_end_matches([' ', '\t']);
        if !field_name_ok(name) {
            return Err(ParseError {
                line: n + 1,
                message: format!(
                    "{name:?} is not a field name (printable ASCII but ':', not starting \
                     with '#' or '-')"
                ),
            });
        }
        fields.push((name.to_string(), value.trim().to_string()));
    }
    if !fields.is_empty() {
        stanzas.push(Stanza { fields });
    }
    Ok(stanzas)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stanzas_fields_and_continuations() {
        let text = "Package: a\nVersion: 1\nDescription: short\n long line\n .\n\n\nPackage: b\nDepends: a (>= 1)\n";
        let s = parse(text).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].get("package"), Some("a"));
        assert_eq!(s[0].get("Description"), Some("short\n long line\n ."));
        assert_eq!(s[1].get("Depends"), Some("a (>= 1)"));
        assert_eq!(
            s[0].render(),
            "Package: a\nVersion: 1\nDescription: short\n long line\n .\n"
        );
    }

    #[test]
    fn field_names_follow_deb822() {
        assert!(parse("Package: a\nX-Extra_1.2: b\n").is_ok());
        for bad in [
            "\u{b}#x: y\n",
            "-x: y\n",
            "a b: c\n",
            ": c\n",
            "\u{b}x: y\n",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.message.contains("not a field name"), "{bad:?}: {e}");
        }
        // A name may be followed by blanks before its colon; they are not part of it.
        assert_eq!(parse("Package : a\n").unwrap()[0].get("Package"), Some("a"));
    }

    #[test]
    fn a_carriage_return_survives_the_way_back() {
        let s = parse("A:\n b\r").unwrap();
        assert_eq!(s[0].get("A"), Some("\n b\r"));
        assert_eq!(parse(&s[0].render()).unwrap(), s);
    }

    #[test]
    fn rejects_garbage() {
        let err = parse("Package: a\nno colon here\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(parse(" leading continuation\n").is_err());
    }
}
