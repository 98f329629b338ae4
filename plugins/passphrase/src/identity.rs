//! The `AGE-PLUGIN-PASSPHRASE-1...` identity: where the key file is and where its
//! passphrase comes from. It holds no secret.
//!
//! Payload (the Bech32 data, HRP `AGE-PLUGIN-PASSPHRASE-`), version 1:
//!
//! ```text
//! 0x01                                  version
//! u16be len, len bytes                  absolute path of the key file (Unix path bytes)
//! then, zero or more times, in the order they are tried:
//!   'f' u16be len, len bytes            passphrase file (absolute path)
//!   'c' u16be len, len bytes            systemd credential name ($CREDENTIALS_DIRECTORY/<name>)
//!   'p'                                 ask the age client (request-secret)
//! ```

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use age_core::primitives::bech32_encode;
use bech32::Hrp;

pub const PLUGIN_NAME: &str = "passphrase";
const IDENTITY_HRP: &str = "AGE-PLUGIN-PASSPHRASE-";
const VERSION: u8 = 1;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A file holding the passphrase (one trailing newline is ignored).
    File(PathBuf),
    /// A systemd credential: `$CREDENTIALS_DIRECTORY/<name>` (`LoadCredential=`).
    Credential(String),
    /// Ask the age client, which asks the user (`request-secret`).
    Prompt,
}

impl Source {
    pub fn describe(&self) -> String {
        match self {
            Source::File(p) => format!("passphrase file {}", p.display()),
            Source::Credential(name) => format!("systemd credential {name}"),
            Source::Prompt => "prompt".to_owned(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PassphraseIdentity {
    pub key_file: PathBuf,
    pub sources: Vec<Source>,
}

/// A systemd credential name: a single path component.
pub fn valid_credential_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/') && !name.contains('\0')
}

fn put(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), String> {
    let len = u16::try_from(bytes.len()).map_err(|_| "path or name too long".to_owned())?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

impl PassphraseIdentity {
    pub fn to_bytes(&self) -> Result<Vec<u8>, String> {
        let mut out = vec![VERSION];
        put(&mut out, self.key_file.as_os_str().as_bytes())?;
        for source in &self.sources {
            match source {
                Source::File(p) => {
                    out.push(b'f');
                    put(&mut out, p.as_os_str().as_bytes())?;
                }
                Source::Credential(name) => {
                    out.push(b'c');
                    put(&mut out, name.as_bytes())?;
                }
                Source::Prompt => out.push(b'p'),
            }
        }
        Ok(out)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        fn take<'a>(rest: &mut &'a [u8]) -> Result<&'a [u8], String> {
            if rest.len() < 2 {
                return Err("truncated".into());
            }
            let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
            if rest.len() < 2 + len {
                return Err("truncated".into());
            }
            let (field, tail) = rest[2..].split_at(len);
            *rest = tail;
            Ok(field)
        }
        let inner = || -> Result<Self, String> {
            let mut rest = bytes;
            match rest.first() {
                Some(&VERSION) => rest = &rest[1..],
                Some(v) => return Err(format!("unsupported version {v}")),
                None => return Err("empty".into()),
            }
            let key_file = PathBuf::from(OsString::from_vec(take(&mut rest)?.to_vec()));
            if !key_file.is_absolute() {
                return Err("key file path is not absolute".into());
            }
            let mut sources = Vec::new();
            while let Some((&tag, tail)) = rest.split_first() {
                rest = tail;
                sources.push(match tag {
                    b'f' => {
                        let p = PathBuf::from(OsString::from_vec(take(&mut rest)?.to_vec()));
                        if !p.is_absolute() {
                            return Err("passphrase file path is not absolute".into());
                        }
                        Source::File(p)
                    }
                    b'c' => {
                        let name = std::str::from_utf8(take(&mut rest)?)
                            .map_err(|_| "credential name is not UTF-8".to_owned())?;
                        if !valid_credential_name(name) {
                            return Err(format!("invalid credential name '{name}'"));
                        }
                        Source::Credential(name.to_owned())
                    }
                    b'p' => Source::Prompt,
                    t => return Err(format!("unknown passphrase source tag 0x{t:02x}")),
                });
            }
            Ok(PassphraseIdentity { key_file, sources })
        };
        inner().map_err(|e| format!("invalid AGE-PLUGIN-PASSPHRASE identity: {e}"))
    }

    /// The identity string, `AGE-PLUGIN-PASSPHRASE-1...` (upper case).
    pub fn encode(&self) -> Result<String, String> {
        let hrp = Hrp::parse(IDENTITY_HRP).expect("valid HRP");
        Ok(bech32_encode(hrp, &self.to_bytes()?).to_uppercase())
    }

    pub fn describe_sources(&self) -> String {
        if self.sources.is_empty() {
            return "none".to_owned();
        }
        self.sources
            .iter()
            .map(Source::describe)
            .collect::<Vec<_>>()
            .join(", then ")
    }
}

/// `path` made absolute against the current directory (without resolving symlinks): the
/// age client runs the plugin in a temporary directory, so identities hold absolute paths.
pub fn absolute(path: &Path) -> std::io::Result<PathBuf> {
    std::path::absolute(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let id = PassphraseIdentity {
            key_file: "/etc/keytap/passphrase-1.age".into(),
            sources: vec![
                Source::File("/run/pass".into()),
                Source::Credential("keytap-pass".into()),
                Source::Prompt,
            ],
        };
        let bytes = id.to_bytes().unwrap();
        assert_eq!(PassphraseIdentity::from_bytes(&bytes).unwrap(), id);
        let s = id.encode().unwrap();
        assert!(s.starts_with("AGE-PLUGIN-PASSPHRASE-1"), "{s}");
        assert_eq!(s, s.to_uppercase());
    }

    #[test]
    fn rejects_bad_payloads() {
        assert!(PassphraseIdentity::from_bytes(&[]).is_err());
        assert!(PassphraseIdentity::from_bytes(&[2, 0, 1, b'/']).is_err());
        assert!(PassphraseIdentity::from_bytes(&[1, 0, 5, b'/']).is_err());
        assert!(
            PassphraseIdentity::from_bytes(&[1, 0, 1, b'x']).is_err(),
            "relative"
        );
        assert!(PassphraseIdentity::from_bytes(&[1, 0, 1, b'/', b'z']).is_err());
        assert!(PassphraseIdentity::from_bytes(&[1, 0, 1, b'/', b'c', 0, 2, b'.', b'.']).is_err());
    }
}
