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
        // Copied, then checked: the input may be a mapped file that changes meanwhile.
        let body = input.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(input);
        match String::from_utf8(body.to_vec()) {
            Ok(s) => s,
            Err(e) => return Err(utf8_error(e.as_bytes(), &e.utf8_error())),
        }
    };
    check_characters(text)
}

/// [`decode_input`] of input the caller gives up: UTF-8 without a BOM (nearly every
/// file) becomes the text without a copy of the whole file.
pub(crate) fn decode_owned(input: Vec<u8>) -> Result<String, String> {
    if input.starts_with(&[0xFF, 0xFE])
        || input.starts_with(&[0xFE, 0xFF])
        || input.starts_with(&[0xEF, 0xBB, 0xBF])
    {
        return decode_input(&input);
    }
    let text = String::from_utf8(input).map_err(|e| utf8_error(e.as_bytes(), &e.utf8_error()))?;
    check_characters(text)
}

/// go-yaml's message for `bytes`, which are not UTF-8 from where `e` says (its reader
/// decodes the sequence there and names the first check it fails, in its order).
fn utf8_error(bytes: &[u8], e: &std::str::Utf8Error) -> String {
    // go-yaml checks each character as it decodes it: a forbidden one before the bad
    // sequence is what it meets first.
    let before = std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default();
    if has_forbidden_characters(before) {
        return CONTROL_CHARACTERS.into();
    }
    let seq = &bytes[e.valid_up_to()..];
    let lead = seq[0];
    let (width, mut value) = match lead {
        _ if lead & 0xE0 == 0xC0 => (2, u32::from(lead & 0x1F)),
        _ if lead & 0xF0 == 0xE0 => (3, u32::from(lead & 0x0F)),
        _ if lead & 0xF8 == 0xF0 => (4, u32::from(lead & 0x07)),
        _ => return "yaml: invalid leading UTF-8 octet".into(),
    };
    if seq.len() < width {
        return "yaml: incomplete UTF-8 octet sequence".into();
    }
    for &octet in &seq[1..width] {
        if octet & 0xC0 != 0x80 {
            return "yaml: invalid trailing UTF-8 octet".into();
        }
        value = (value << 6) | u32::from(octet & 0x3F);
    }
    let shortest = match width {
        2 => value >= 0x80,
        3 => value >= 0x800,
        _ => value >= 0x10000,
    };
    if !shortest {
        return "yaml: invalid length of a UTF-8 sequence".into();
    }
    "yaml: invalid Unicode character".into() // a surrogate, or above U+10FFFF
}

/// Rejects the characters YAML forbids.
fn check_characters(text: String) -> Result<String, String> {
    if has_forbidden_characters(&text) {
        return Err(CONTROL_CHARACTERS.into());
    }
    Ok(text)
}

const CONTROL_CHARACTERS: &str = "yaml: control characters are not allowed";

/// Whether `text` has a character YAML forbids.
fn has_forbidden_characters(text: &str) -> bool {
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
    let bytes_bad = text
        .as_bytes()
        .iter()
        .fold(false, |bad, &b| bad | forbidden_ascii(b));
    bytes_bad || (!text.is_ascii() && !text.chars().all(allowed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_utf8_gets_go_yaml_message() {
        for (input, message) in [
            (&b"a: \xff\n"[..], "invalid leading UTF-8 octet"),
            (b"a: \x80\n", "invalid leading UTF-8 octet"),
            (b"a: \xc3:\n", "invalid trailing UTF-8 octet"),
            (b"a: \xe2\x82", "incomplete UTF-8 octet sequence"),
            (b"a: \xe2\x82x\n", "invalid trailing UTF-8 octet"),
            (b"a: \xc0\x80\n", "invalid length of a UTF-8 sequence"),
            (b"a: \xe0\x80\x80\n", "invalid length of a UTF-8 sequence"),
            (b"a: \xed\xa0\x80\n", "invalid Unicode character"),
            (b"a: \xf4\x90\x80\x80\n", "invalid Unicode character"),
            (b"a: \xf7\xbf\xbf\xbf\n", "invalid Unicode character"),
            (b"a: \xf8\x80\n", "invalid leading UTF-8 octet"),
            (b"a: \x01\xff\n", "control characters are not allowed"),
            (b"a: \xff\x01\n", "invalid leading UTF-8 octet"),
        ] {
            let want = format!("yaml: {message}");
            assert_eq!(decode_input(input).unwrap_err(), want, "{input:?}");
            assert_eq!(decode_owned(input.to_vec()).unwrap_err(), want, "{input:?}");
        }
    }

    #[test]
    fn owned_decoding_agrees_with_borrowed() {
        let inputs: [&[u8]; 10] = [
            b"a: 1\n",
            b"\xEF\xBB\xBFa: 1\n",
            b"\xFF\xFEa\x00:\x00 \x001\x00",
            b"\xFE\xFF\x00a\x00:",
            b"\xFF\xFEa",
            b"a: \xff\n",
            b"a: \xe2\x82",
            b"a: \x01\n",
            b"a: \xc2\x85 \xef\xbf\xbe\n",
            b"",
        ];
        for input in inputs {
            assert_eq!(
                decode_owned(input.to_vec()),
                decode_input(input),
                "{input:?}"
            );
        }
    }
}
