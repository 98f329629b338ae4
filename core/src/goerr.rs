//! Error texts spelled the way Go prints them, so messages read like sops's.

/// An io::Error as Go's `os` package words it: lower case, without Rust's "(os error N)".
/// An OS error reads as Go's `syscall.Errno` text, the C library's message with a lower-case
/// first letter (so EPERM is "operation not permitted", not EACCES's "permission denied").
pub fn io_reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    if e.raw_os_error().is_some() {
        let s = e.to_string();
        let message = s.find(" (os error").map_or(s.as_str(), |i| &s[..i]);
        let mut chars = message.chars();
        return match chars.next() {
            Some(first) => first.to_lowercase().chain(chars).collect(),
            None => String::new(),
        };
    }
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

/// `message` as Go's standard logger writes it: after the date and time (UTC here; Go's
/// is local time), `2009/11/10 23:00:00 message`.
pub fn log_line(message: &str) -> String {
    let now = time::OffsetDateTime::now_utc();
    let format = time::macros::format_description!("[year]/[month]/[day] [hour]:[minute]:[second]");
    match now.format(format) {
        Ok(stamp) => format!("{stamp} {message}"),
        Err(_) => message.to_string(),
    }
}

/// How Go's `os/exec` words a command that failed: `exit status N`, or `signal: NAME`.
pub fn exit_reason(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    // Go's names of the signals a command dies of, from its Linux table.
    let name = match status.signal().unwrap_or(0) {
        1 => "hangup".to_string(),
        2 => "interrupt".to_string(),
        3 => "quit".to_string(),
        4 => "illegal instruction".to_string(),
        5 => "trace/breakpoint trap".to_string(),
        6 => "aborted".to_string(),
        7 => "bus error".to_string(),
        8 => "floating point exception".to_string(),
        9 => "killed".to_string(),
        10 => "user defined signal 1".to_string(),
        11 => "segmentation fault".to_string(),
        12 => "user defined signal 2".to_string(),
        13 => "broken pipe".to_string(),
        14 => "alarm clock".to_string(),
        15 => "terminated".to_string(),
        n => format!("signal {n}"),
    };
    format!("signal: {name}")
}

/// How Go's `os/exec` words a command that could not be started: a bare name is looked
/// up in `$PATH` first, a path is started as it is.
pub fn start_reason(program: &str, e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::NotFound && !program.contains('/') {
        format!("exec: \"{program}\": executable file not found in $PATH")
    } else {
        format!("fork/exec {program}: {}", io_reason(e))
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
                // Not printable for Go (`unicode.IsPrint`): controls, spaces other than
                // ASCII's, and the common format characters.
                c if c.is_control()
                    || (c.is_whitespace() && c != ' ')
                    || matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
                        | '\u{2060}'..='\u{2064}' | '\u{feff}') =>
                {
                    out.push_str(&format!("\\u{:04x}", c as u32))
                }
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
    fn os_errors_read_as_gos_errno_texts() {
        let os = |n| super::io_reason(&std::io::Error::from_raw_os_error(n));
        assert_eq!(os(libc::EPERM), "operation not permitted");
        assert_eq!(os(libc::EACCES), "permission denied");
        assert_eq!(os(libc::ENOENT), "no such file or directory");
        assert_eq!(os(libc::ENOTEMPTY), "directory not empty");
        assert_eq!(os(libc::EISDIR), "is a directory");
        assert_eq!(os(libc::ELOOP), "too many levels of symbolic links");
        // Not from the OS: worded by kind.
        let e = std::io::Error::new(std::io::ErrorKind::NotFound, "x");
        assert_eq!(super::io_reason(&e), "no such file or directory");
    }

    #[test]
    fn exit_statuses_read_as_gos() {
        use std::os::unix::process::ExitStatusExt;
        let status = std::process::ExitStatus::from_raw;
        assert_eq!(super::exit_reason(status(3 << 8)), "exit status 3");
        assert_eq!(super::exit_reason(status(9)), "signal: killed");
        assert_eq!(super::exit_reason(status(15)), "signal: terminated");
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert_eq!(
            super::start_reason("systemctl", &missing),
            "exec: \"systemctl\": executable file not found in $PATH"
        );
    }

    #[test]
    fn quote_spells_bytes_as_go_does() {
        // Checked against sops 3.11's %#v of a JSON string.
        assert_eq!(
            super::quote("a b\u{a0}c\u{ad}d\u{2028}e".as_bytes()),
            r#""a b\u00a0c\u00add\u2028e""#
        );
        assert_eq!(super::quote(b"/tmp/\xfd.yaml"), r#""/tmp/\xfd.yaml""#);
        assert_eq!(
            super::quote("a\"b\\c\n\u{1}é".as_bytes()),
            r#""a\"b\\c\n\x01é""#
        );
    }
}
