//! Error texts spelled the way Go prints them, so messages read like sops's.

/// An io::Error as Go's `os` package words it: lower case, without Rust's "(os error N)".
pub fn io_reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        NotFound => "no such file or directory".into(),
        PermissionDenied => "permission denied".into(),
        AlreadyExists => "file exists".into(),
        IsADirectory => "is a directory".into(),
        NotADirectory => "not a directory".into(),
        StorageFull => "no space left on device".into(),
        ReadOnlyFilesystem => "read-only file system".into(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            }
        }
    }
}

/// Go's `strconv.Quote` (what `%q` prints) of raw bytes: invalid UTF-8 bytes as `\xNN`,
/// control characters escaped, everything else as is. Paths in sops's messages are quoted
/// this way, and a file name need not be UTF-8.
pub fn quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\u{7}' => out.push_str("\\a"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{b}' => out.push_str("\\v"),
                c if (c as u32) < 0x20 || c == '\u{7f}' => {
                    out.push_str(&format!("\\x{:02x}", c as u32))
                }
                c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn quote_spells_bytes_as_go_does() {
        assert_eq!(super::quote(b"/tmp/\xfd.yaml"), r#""/tmp/\xfd.yaml""#);
        assert_eq!(
            super::quote("a\"b\\c\n\u{1}é".as_bytes()),
            r#""a\"b\\c\n\x01é""#
        );
    }
}
