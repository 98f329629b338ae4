//! Checks an age file (a sops `enc` blob) before the `age` crate reads it, where the crate
//! is more lenient than the age specification (C2SP age.md, pinned by the CCTV vectors):
//! whitespace around an armored file is allowed, and every recipient stanza must end with
//! a body line shorter than 64 columns (possibly empty), which the crate does not require.

use std::io::Read;

use age::armor::ArmoredReader;

const ARMOR_BEGIN: &[u8] = b"-----BEGIN AGE ENCRYPTED FILE-----";

fn trim_ascii_whitespace(mut data: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = data {
        if first.is_ascii_whitespace() {
            data = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = data {
        if last.is_ascii_whitespace() {
            data = rest;
        } else {
            break;
        }
    }
    data
}

/// The bytes to hand to the `age` crate: an armored file without the whitespace around
/// it, after checking the stanza framing of the header. Errors are one line.
pub fn checked(data: &[u8]) -> Result<&[u8], String> {
    let trimmed = trim_ascii_whitespace(data);
    if trimmed.starts_with(ARMOR_BEGIN) {
        let mut binary = Vec::new();
        ArmoredReader::new(trimmed)
            .read_to_end(&mut binary)
            .map_err(|e| format!("invalid armor: {e}"))?;
        check_header(&binary)?;
        Ok(trimmed)
    } else {
        check_header(data)?;
        Ok(data)
    }
}

/// Stanza framing of a binary age header (anything else is left to the `age` crate).
fn check_header(binary: &[u8]) -> Result<(), String> {
    let mut lines = binary.split(|&b| b == b'\n');
    if lines.next() != Some(&b"age-encryption.org/v1"[..]) {
        return Ok(());
    }
    let mut line = lines.next();
    loop {
        let Some(l) = line else { return Ok(()) };
        if l.starts_with(b"---") || !l.starts_with(b"-> ") {
            return Ok(());
        }
        // Body: full 64-column lines, then exactly one shorter line.
        loop {
            let Some(body) = lines.next() else {
                return Err("invalid header: a stanza has no final body line".into());
            };
            if body.starts_with(b"-> ") || body.starts_with(b"---") {
                return Err("invalid header: a stanza must end with a short body line".into());
            }
            if body.len() > 64 {
                return Err("invalid header: a stanza body line is longer than 64 columns".into());
            }
            if body.len() < 64 {
                break;
            }
        }
        line = lines.next();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing() {
        let ok = b"age-encryption.org/v1\n-> X25519 abc\nshort\n-> empty\n\n--- mac\npayload";
        assert!(checked(ok).is_ok());
        let no_body = b"age-encryption.org/v1\n-> X25519 abc\nshort\n-> empty\n--- mac\npayload";
        assert!(checked(no_body).is_err());
        let full = format!("age-encryption.org/v1\n-> s\n{}\n--- mac\n", "A".repeat(64));
        assert!(checked(full.as_bytes()).is_err());
    }
}
