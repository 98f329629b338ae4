//! Inputs read whole, up to a bound: a path to `/dev/zero`, a file that keeps growing or
//! a crafted stdin would otherwise be read until memory runs out.

use std::io::{self, Read};
use std::path::Path;

/// The most bytes keytap reads from one input (a sops file, stdin, a secret's file):
/// 256 MiB, far beyond any real secrets file (a million values are 60 MB). sops has no
/// bound. Reading an endless pipe to it peaks at twice as much (the buffer doubles).
pub const MAX_INPUT_BYTES: u64 = 256 << 20;

fn too_large() -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!(
            "larger than {} MiB, the most keytap reads",
            MAX_INPUT_BYTES >> 20
        ),
    )
}

/// Reads `reader` to its end, failing beyond [`MAX_INPUT_BYTES`].
pub fn read_bounded(reader: impl Read) -> io::Result<Vec<u8>> {
    let mut data = Vec::new();
    reader.take(MAX_INPUT_BYTES + 1).read_to_end(&mut data)?;
    if data.len() as u64 > MAX_INPUT_BYTES {
        return Err(too_large());
    }
    Ok(data)
}

/// `std::fs::read` within [`MAX_INPUT_BYTES`]: a larger regular file is refused before a
/// byte is read, anything else (a device, a pipe) at the bound.
pub fn read_file_bounded(path: &Path) -> io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    if file.metadata()?.len() > MAX_INPUT_BYTES {
        return Err(too_large());
    }
    read_bounded(file)
}

/// [`read_file_bounded`] as text (`std::fs::read_to_string`'s error for bytes that are
/// not UTF-8).
pub fn read_text_file_bounded(path: &Path) -> io::Result<String> {
    text(read_file_bounded(path)?)
}

/// [`read_bounded`] as text.
pub fn read_text_bounded(reader: impl Read) -> io::Result<String> {
    text(read_bounded(reader)?)
}

fn text(bytes: Vec<u8>) -> io::Result<String> {
    String::from_utf8(bytes).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endless_inputs_stop_at_the_bound() {
        let err = read_bounded(io::repeat(0)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
        let err = read_file_bounded(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
        assert_eq!(read_bounded(&b"abc"[..]).unwrap(), b"abc");
    }

    #[test]
    fn a_large_regular_file_is_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sparse");
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(MAX_INPUT_BYTES + 1).unwrap();
        assert!(read_file_bounded(&path)
            .unwrap_err()
            .to_string()
            .contains("the most keytap reads"));
    }
}
