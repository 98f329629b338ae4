//! Input decoding: bytes to characters, with go-yaml's encoding detection and its
//! character checks (`readerc.go`).

/// Decodes the input (UTF-8, optionally with a BOM, or UTF-16 with a BOM) and rejects the
/// characters YAML forbids, with go-yaml's messages.
pub(crate) fn decode_input(input: &[u8]) -> Result<Vec<char>, String> {
    let chars: Vec<char> = if input.starts_with(&[0xFF, 0xFE]) || input.starts_with(&[0xFE, 0xFF]) {
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
        let mut out = Vec::with_capacity(body.len() / 2);
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
            Ok(s) => s.chars().collect(),
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
    for &c in &chars {
        let v = c as u32;
        let ok = v == 0x09
            || v == 0x0A
            || v == 0x0D
            || (0x20..=0x7E).contains(&v)
            || v == 0x85
            || (0xA0..=0xD7FF).contains(&v)
            || (0xE000..=0xFFFD).contains(&v)
            || (0x10000..=0x10FFFF).contains(&v);
        if !ok {
            return Err("yaml: control characters are not allowed".into());
        }
    }
    Ok(chars)
}
