//! Input decoding: bytes to characters, with go-yaml's encoding detection and its
//! character checks (`readerc.go`).

/// Decodes the input (UTF-8, optionally with a BOM, or UTF-16 with a BOM) into UTF-8
/// text and rejects the characters YAML forbids, with go-yaml's messages.
pub(crate) fn decode_input(input: &[u8]) -> Result<String, String> {
    let text = if input.starts_with(&[0xFF, 0xFE]) || input.starts_with(&[0xFE, 0xFF]) {
        let le = input[0] == 0xFF;
        let body = &input[2..];
        if body.len() % 2 != 0 {
            return Err("yaml: incomplete UTF-16 character".into());
        }
        let units = body.chunks(2).map(|c| {
            if le {
                u16::from_le_bytes([c[0], c[1]])
            } else {
                u16::from_be_bytes([c[0], c[1]])
            }
        });
        let mut out = String::with_capacity(body.len() / 2);
        for r in char::decode_utf16(units) {
            match r {
                Ok(c) => out.push(c),
                Err(_) => return Err("yaml: invalid UTF-16 surrogate pair".into()),
            }
        }
        out
    } else {
        let body = input.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(input);
        match std::str::from_utf8(body) {
            Ok(s) => {
                // Room for the scanner's end padding, so that it is not copied again.
                let mut text = String::with_capacity(s.len() + super::scanner::END_PADDING);
                text.push_str(s);
                text
            }
            Err(e) => {
                let msg = if e.error_len().is_none() {
                    "yaml: incomplete UTF-8 octet sequence"
                } else {
                    "yaml: invalid leading UTF-8 octet"
                };
                return Err(msg.into());
            }
        }
    };
    // Bytes first (almost every file is ASCII), characters only where there is more. The
    // byte check folds without stopping early so that it compiles to vector code.
    let forbidden_ascii = |b: u8| (b < 0x20 && b != 0x09 && b != 0x0A && b != 0x0D) || b == 0x7F;
    let allowed = |c: char| {
        let v = c as u32;
        c.is_ascii()
            || v == 0x85
            || (0xA0..=0xD7FF).contains(&v)
            || (0xE000..=0xFFFD).contains(&v)
            || (0x10000..=0x10FFFF).contains(&v)
    };
    let bytes_ok = !text
        .as_bytes()
        .iter()
        .fold(false, |bad, &b| bad | forbidden_ascii(b));
    if !bytes_ok || (!text.is_ascii() && !text.chars().all(allowed)) {
        return Err("yaml: control characters are not allowed".into());
    }
    Ok(text)
}
