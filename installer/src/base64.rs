//! Standard base64 with padding (RFC 4648): OpenSSH public keys are decoded with it and
//! generated DRBD secrets are encoded with it. The `base64` crate does the work (ureq
//! already brings it); this module fixes the one dialect both uses need.

use ::base64::alphabet;
use ::base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use ::base64::engine::DecodePaddingMode;
use ::base64::Engine;

/// Padded, canonical padding required; unused bits in the last symbol are ignored, as
/// the hand-written decoder this replaced ignored them, so the key check accepts and
/// refuses exactly the lines it did.
const ENGINE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
        .with_decode_allow_trailing_bits(true),
);

pub fn encode(data: &[u8]) -> String {
    ENGINE.encode(data)
}

/// None unless `s` is padded base64 of at least one byte.
pub fn decode(s: &str) -> Option<Vec<u8>> {
    if s.is_empty() {
        return None;
    }
    ENGINE.decode(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for (raw, enc) in [
            (&b""[..], ""),
            (b"h", "aA=="),
            (b"hi", "aGk="),
            (b"hey", "aGV5"),
            (b"\xff\xfe\x00\x01", "//4AAQ=="),
        ] {
            assert_eq!(encode(raw), enc);
            if !raw.is_empty() {
                assert_eq!(decode(enc).unwrap(), raw);
            }
        }
        assert!(decode("aGk").is_none());
        assert!(decode("a=Gk").is_none());
        assert!(decode("aG!=").is_none());
        assert!(decode("a===").is_none());
        assert!(decode("").is_none());
        assert!(decode("aGk=\n").is_none());
        assert!(decode("aG k=").is_none());
        // Bits past the last whole byte do not matter (the hand-written decoder of
        // before ignored them too).
        assert_eq!(decode("aGl=").unwrap(), b"hi");
        assert_eq!(decode("aB==").unwrap(), b"h");
    }
}
