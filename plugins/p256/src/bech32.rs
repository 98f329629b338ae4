//! Bech32 as age uses it: BIP 173 without the length limit on the data part (C2SP `age.md`,
//! "Conventions"), with age's case rules: recipients are all lowercase, identities all
//! uppercase, and the checksum is always over the lowercase string.

use ::bech32::primitives::decode::{
    CharError, CheckedHrpstring, CheckedHrpstringError, UncheckedHrpstringError,
};
use ::bech32::{Checksum, Hrp};

/// BIP 173's checksum without its 90-character limit (age's recipients run to 2,000).
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Bech32Long {}

impl Checksum for Bech32Long {
    type MidstateRepr = u32;
    const CODE_LENGTH: usize = usize::MAX;
    const CHECKSUM_LENGTH: usize = ::bech32::Bech32::CHECKSUM_LENGTH;
    const GENERATOR_SH: [u32; 5] = ::bech32::Bech32::GENERATOR_SH;
    const TARGET_RESIDUE: u32 = ::bech32::Bech32::TARGET_RESIDUE;
}

/// The case an encoding must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// Recipients (`age1...`).
    Lower,
    /// Identities (`AGE-SECRET-KEY-...`).
    Upper,
}

/// Why a string is not the Bech32 encoding of the expected type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Bech32Error {
    /// The checksum does not match: a typo or a truncated copy.
    #[error("invalid Bech32 checksum")]
    Checksum,
    /// Upper and lower case letters are mixed.
    #[error("mixed-case Bech32 string")]
    MixedCase,
    /// All in the wrong case (age requires lowercase recipients, uppercase identities).
    #[error("must be all {0}")]
    WrongCase(&'static str),
    /// The human-readable prefix is not the expected one.
    #[error("wrong type {got:?}, expected {expected:?}")]
    Hrp {
        /// The prefix the type requires.
        expected: String,
        /// The prefix found.
        got: String,
    },
    /// More than 4 padding bits, or non-zero padding bits.
    #[error("invalid Bech32 padding")]
    Padding,
    /// Not Bech32 at all (no separator, invalid characters, too short...).
    #[error("invalid Bech32 encoding: {0}")]
    Encoding(String),
}

fn hrp(hrp: &str) -> Hrp {
    Hrp::parse(hrp).expect("a valid human-readable part")
}

/// Encodes `data` with the human-readable part `hrp` in the given case.
pub fn encode(hrp_str: &str, data: &[u8], case: Case) -> String {
    let hrp = hrp(hrp_str);
    match case {
        Case::Lower => ::bech32::encode_lower::<Bech32Long>(hrp, data),
        Case::Upper => ::bech32::encode_upper::<Bech32Long>(hrp, data),
    }
    .expect("no length limit")
}

/// Decodes `s`, requiring the human-readable part `expected_hrp` (compared without regard
/// to case), the given case, a valid checksum and canonical padding.
pub fn decode(s: &str, expected_hrp: &str, case: Case) -> Result<Vec<u8>, Bech32Error> {
    let checked = CheckedHrpstring::new::<Bech32Long>(s).map_err(|e| match e {
        CheckedHrpstringError::Checksum(_) => Bech32Error::Checksum,
        CheckedHrpstringError::Parse(UncheckedHrpstringError::Char(CharError::MixedCase)) => {
            Bech32Error::MixedCase
        }
        e => Bech32Error::Encoding(e.to_string()),
    })?;
    let got = checked.hrp().to_lowercase();
    if got != expected_hrp.to_lowercase() {
        let got = match case {
            Case::Lower => got,
            Case::Upper => got.to_uppercase(),
        };
        return Err(Bech32Error::Hrp {
            expected: expected_hrp.to_string(),
            got,
        });
    }
    match case {
        Case::Lower if s.bytes().any(|b| b.is_ascii_uppercase()) => {
            return Err(Bech32Error::WrongCase("lowercase"))
        }
        Case::Upper if s.bytes().any(|b| b.is_ascii_lowercase()) => {
            return Err(Bech32Error::WrongCase("uppercase"))
        }
        _ => {}
    }
    checked
        .validate_segwit_padding()
        .map_err(|_| Bech32Error::Padding)?;
    Ok(checked.byte_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_long() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1216).collect();
        let s = encode("age1pq", &data, Case::Lower);
        assert!(s.starts_with("age1pq1"));
        assert_eq!(decode(&s, "age1pq", Case::Lower).unwrap(), data);
        let s = encode("AGE-SECRET-KEY-PQ-", &data[..32], Case::Upper);
        assert!(s.starts_with("AGE-SECRET-KEY-PQ-1"));
        assert_eq!(
            decode(&s, "AGE-SECRET-KEY-PQ-", Case::Upper).unwrap(),
            &data[..32]
        );
    }

    #[test]
    fn errors() {
        let s = encode("age1tag", &[7; 33], Case::Lower);
        assert_eq!(
            decode(&s, "age1tagpq", Case::Lower),
            Err(Bech32Error::Hrp {
                expected: "age1tagpq".into(),
                got: "age1tag".into()
            })
        );
        assert_eq!(
            decode(&s.to_uppercase(), "age1tag", Case::Lower),
            Err(Bech32Error::WrongCase("lowercase"))
        );
        let mut mixed = s.clone();
        mixed.replace_range(10..11, &s[10..11].to_uppercase());
        assert_eq!(
            decode(&mixed, "age1tag", Case::Lower),
            Err(Bech32Error::MixedCase)
        );
        // Change one data character: the checksum catches it.
        let mut typo = s.clone().into_bytes();
        typo[12] = if typo[12] == b'q' { b'p' } else { b'q' };
        let typo = String::from_utf8(typo).unwrap();
        assert_eq!(
            decode(&typo, "age1tag", Case::Lower),
            Err(Bech32Error::Checksum)
        );
        // Truncated.
        assert_eq!(
            decode(&s[..s.len() - 1], "age1tag", Case::Lower),
            Err(Bech32Error::Checksum)
        );
        assert!(matches!(
            decode("nonsense", "age1tag", Case::Lower),
            Err(Bech32Error::Encoding(_))
        ));
    }
}
