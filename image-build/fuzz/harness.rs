//! What the `indexes` fuzz target runs, shared with `image-build/tests/fuzz_replay.rs`
//! (stable, in `make check`). The crate root that includes this file also declares the
//! parsers as `deb822`, `relation` and `version` (their own source files, by path).
//!
//! One input feeds all three parsers of the package indexes a profile fetches: a panic is
//! a finding, and so is a parse that does not survive being written back and read again,
//! or a version order that is not an order.

use crate::{deb822, relation, version};
use std::cmp::Ordering;

pub fn indexes(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(stanzas) = deb822::parse(text) {
        // The image's repository writes stanzas back (render) for its own Packages file.
        for s in &stanzas {
            let again = deb822::parse(&s.render())
                .unwrap_or_else(|e| panic!("a rendered stanza does not parse: {e}"));
            assert_eq!(again, vec![s.clone()], "a stanza changed on the way back");
        }
    }
    if let Ok(groups) = relation::parse(text) {
        let shown: Vec<String> = groups.iter().map(|g| relation::display_group(g)).collect();
        let again = relation::parse(&shown.join(", "))
            .unwrap_or_else(|e| panic!("a displayed relation does not parse: {e}"));
        assert_eq!(again, groups, "a relation changed on the way back");
    }
    let (a, b) = text.split_once('\n').unwrap_or((text, ""));
    assert_eq!(
        version::compare(a, a),
        Ordering::Equal,
        "{a:?} is not equal to itself"
    );
    assert_eq!(
        version::compare(a, b),
        version::compare(b, a).reverse(),
        "{a:?} and {b:?} compare both ways alike"
    );
}
