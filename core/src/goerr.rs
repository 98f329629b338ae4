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
