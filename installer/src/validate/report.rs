//! `[report]`: the webhook told how the install ended.

use crate::answer::{Issue, Webhook};

pub(super) fn check(r: &Webhook, out: &mut Vec<Issue>) {
    let https = r.url.starts_with("https://");
    let url_ok = ["http://", "https://"].iter().any(|s| {
        r.url
            .strip_prefix(s)
            .is_some_and(|rest| !rest.is_empty() && !rest.contains(char::is_whitespace))
    });
    if !url_ok {
        out.push(Issue::new(
            "report.url",
            format!(
                "{:?} is not a webhook URL; expected http:// or https:// like \
                 \"https://deploy.example/report\"",
                r.url
            ),
        ));
    }
    if let Some(f) = &r.fingerprint {
        if let Err(e) = f.parse::<crate::http::Fingerprint>() {
            out.push(Issue::new("report.fingerprint", e));
        } else if url_ok && !https {
            // A pin on plain http would look like protection and be none.
            out.push(Issue::new(
                "report.fingerprint",
                "a certificate pin needs an https:// url",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issues(url: &str, fp: Option<&str>) -> Vec<String> {
        let mut out = Vec::new();
        let w = Webhook {
            url: url.into(),
            fingerprint: fp.map(String::from),
            progress: false,
        };
        check(&w, &mut out);
        out.into_iter()
            .map(|i| format!("{}: {}", i.path, i.message))
            .collect()
    }

    #[test]
    fn urls_and_pins() {
        let fp = ["AB"; 32].join(":");
        assert!(issues("https://d.example/r", Some(&fp)).is_empty());
        assert!(issues("http://10.77.0.1/report", None).is_empty());
        let bad = issues("ftp://x", None);
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert!(bad[0].starts_with("report.url:"), "{bad:?}");
        let plain = issues("http://x/r", Some(&fp));
        assert_eq!(plain.len(), 1, "{plain:?}");
        assert!(plain[0].contains("https"), "{plain:?}");
        let short = issues("https://x/r", Some("AB:CD"));
        assert_eq!(short.len(), 1, "{short:?}");
        assert!(short[0].starts_with("report.fingerprint:"), "{short:?}");
    }
}
