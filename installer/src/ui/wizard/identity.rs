//! Host name and DNS domain. Their rules (RFC 1123) are the validator's: its reasons
//! re-ask these questions through `Services::validate`.

use super::draft::Draft;
use super::{Kind, Reply};

type Shown = (String, Vec<String>, Kind);

pub fn hostname_prompt(d: &Draft) -> Shown {
    (
        "Host name".into(),
        vec!["The short name of this node, e.g. pve1 (letters, digits and '-').".into()],
        Kind::Input {
            default: d.hostname.clone(),
        },
    )
}

pub fn hostname_apply(d: &mut Draft, reply: Reply) -> Result<(), String> {
    let t = reply.text()?;
    if t.is_empty() {
        return Err("a host name is needed, e.g. pve1".into());
    }
    if let Some((host, domain)) = t.split_once('.') {
        return Err(format!(
            "give the short name ({host:?}); the domain ({domain:?}) is the next question"
        ));
    }
    d.hostname = Some(t);
    Ok(())
}

pub fn domain_prompt(d: &Draft) -> Shown {
    (
        "DNS domain".into(),
        vec!["The node's full name is <host name>.<domain>, e.g. example.org.".into()],
        Kind::Input {
            default: d.domain.clone(),
        },
    )
}

pub fn domain_apply(d: &mut Draft, reply: Reply) -> Result<(), String> {
    let t = reply.text()?;
    if t.is_empty() {
        return Err("a domain is needed, e.g. example.org (or home.arpa for a lab)".into());
    }
    d.domain = Some(t);
    Ok(())
}
