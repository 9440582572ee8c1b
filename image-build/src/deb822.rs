//! Minimal deb822 reader for Release and Packages files: stanzas separated by blank
//! lines, `Field: value` lines, continuation lines start with a space or tab.
//! Field order and raw text are kept so stanzas can be written back unchanged.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stanza {
    /// (field name, value) in file order; multi-line values keep their newlines and
    /// the leading space of continuation lines.
    pub fields: Vec<(String, String)>,
}

impl Stanza {
    /// Field lookup; field names are case-insensitive in deb822.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn set(&mut self, name: &str, value: String) {
        match self
            .fields
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            Some((_, v)) => *v = value,
            None => self.fields.push((name.to_string(), value)),
        }
    }

    pub fn remove(&mut self, name: &str) {
        self.fields.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    }

    /// Renders the stanza (without the separating blank line).
    pub fn render(&self) -> String {
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
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

/// Parses every stanza of a deb822 document.
pub fn parse(text: &str) -> Result<Vec<Stanza>, ParseError> {
    let mut stanzas = Vec::new();
    let mut fields: Vec<(String, String)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
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
        fields.push((name.trim().to_string(), value.trim().to_string()));
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
    fn rejects_garbage() {
        let err = parse("Package: a\nno colon here\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(parse(" leading continuation\n").is_err());
    }
}
