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

/// A header longer than this is refused: real ones are a few hundred bytes (a sops `enc`
/// has one recipient), and a hostile file should not make every reader parse megabytes.
const MAX_HEADER_BYTES: usize = 64 * 1024;

/// The bytes to hand to the `age` crate: the binary age file (an armored one decoded),
/// after checking the stanza framing and size of the header. Given whole, as a slice, the
/// crate parses the header once; through its armor reader it re-parses the header from
/// the start for every chunk, quadratic in the header's size. Errors are one line.
pub fn checked(data: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, String> {
    let trimmed = trim_ascii_whitespace(data);
    if trimmed.starts_with(ARMOR_BEGIN) {
        let mut binary = Vec::new();
        ArmoredReader::new(trimmed)
            .read_to_end(&mut binary)
            .map_err(|e| format!("invalid armor: {e}"))?;
        check_header(&binary)?;
        Ok(binary.into())
    } else {
        check_header(data)?;
        Ok(data.into())
    }
}

/// Stanza framing and size of a binary age header (anything else is left to the `age`
/// crate).
fn check_header(binary: &[u8]) -> Result<(), String> {
    let header_end = binary
        .windows(4)
        .position(|w| w == b"\n---")
        .unwrap_or(binary.len());
    if header_end > MAX_HEADER_BYTES {
        return Err(format!(
            "invalid header: longer than {} KiB",
            MAX_HEADER_BYTES / 1024
        ));
    }
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

    /// A hostile `enc` with one huge stanza: refused before the crate parses it, armored
    /// or not; one just under the limit is handed over decoded, to be parsed once.
    #[test]
    fn header_size() {
        let header = |body_lines: usize| {
            let body = format!("{}\n", "A".repeat(64)).repeat(body_lines);
            format!("age-encryption.org/v1\n-> X25519 abc\n{body}short\n--- mac\npayload")
        };
        let huge = header(1100);
        assert_eq!(
            checked(huge.as_bytes()).unwrap_err(),
            "invalid header: longer than 64 KiB"
        );
        let mut armored = Vec::new();
        let mut w =
            age::armor::ArmoredWriter::wrap_output(&mut armored, age::armor::Format::AsciiArmor)
                .unwrap();
        std::io::Write::write_all(&mut w, huge.as_bytes()).unwrap();
        w.finish().unwrap();
        assert!(checked(&armored)
            .unwrap_err()
            .contains("longer than 64 KiB"));
        let large = header(900);
        assert_eq!(&*checked(large.as_bytes()).unwrap(), large.as_bytes());
    }
}
