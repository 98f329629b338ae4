//! The key file: an ordinary armored age file, encrypted to an scrypt passphrase, whose
//! plaintext is what `age-keygen` writes (`# created`, `# public key`, then the
//! `AGE-SECRET-KEY-1...` line). `age -d KEYFILE` recovers it without this plugin.
//!
//! Nothing decrypted is written to disk: plaintexts live in zeroizing buffers only.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use age::secrecy::{ExposeSecret, SecretString};
use age::x25519;
use age::DecryptError;
use zeroize::Zeroizing;

/// Key files are small; anything bigger is not ours.
const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// A key file that exists, is private to its owner and parses as a passphrase-encrypted
/// age file. Checked before any passphrase is asked for.
pub struct KeyFile {
    path: PathBuf,
    bytes: Vec<u8>,
}

fn mode_error(what: &str, path: &Path, mode: u32) -> String {
    format!(
        "{what} {} is accessible by group or others (mode {:04o}); refusing to use it: run chmod 600 {}",
        path.display(),
        mode & 0o7777,
        path.display()
    )
}

fn io_error(what: &str, path: &Path, e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => format!("{what} {} does not exist", path.display()),
        io::ErrorKind::PermissionDenied => {
            format!(
                "{what} {} is not readable: permission denied",
                path.display()
            )
        }
        _ => format!("cannot read {what} {}: {e}", path.display()),
    }
}

/// Checks that `path` is a regular file that only its owner can access.
fn check_private_file(what: &str, path: &Path) -> Result<fs::Metadata, String> {
    let meta = fs::metadata(path).map_err(|e| io_error(what, path, &e))?;
    if !meta.is_file() {
        return Err(format!("{what} {} is not a regular file", path.display()));
    }
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(mode_error(what, path, mode));
    }
    Ok(meta)
}

impl KeyFile {
    pub fn open(path: &Path) -> Result<KeyFile, String> {
        let meta = check_private_file("key file", path)?;
        let corrupt = |why: &str| format!("key file {} is corrupted: {why}", path.display());
        if meta.len() > MAX_KEY_FILE_BYTES {
            return Err(corrupt("too large"));
        }
        let mut bytes = Vec::new();
        File::open(path)
            .and_then(|f| f.take(MAX_KEY_FILE_BYTES + 1).read_to_end(&mut bytes))
            .map_err(|e| io_error("key file", path, &e))?;
        let key_file = KeyFile {
            path: path.to_owned(),
            bytes,
        };
        let decryptor = key_file.decryptor()?;
        if !decryptor.is_scrypt() {
            return Err(corrupt("not an age file encrypted with a passphrase"));
        }
        Ok(key_file)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn decryptor(&self) -> Result<age::Decryptor<ArmoredReader<io::BufReader<&[u8]>>>, String> {
        age::Decryptor::new(ArmoredReader::new(&self.bytes[..])).map_err(|e| {
            let why = match e {
                DecryptError::UnknownFormat => "unknown age format".to_owned(),
                DecryptError::InvalidHeader => "not an age file (invalid header)".to_owned(),
                e => e.to_string().trim().to_owned(),
            };
            format!("key file {} is corrupted: {why}", self.path.display())
        })
    }

    /// Decrypts the key file and returns its plaintext.
    fn decrypt(&self, passphrase: &SecretString) -> Result<Zeroizing<Vec<u8>>, String> {
        let path = self.path.display();
        let decryptor = self.decryptor()?;
        let identity = age::scrypt::Identity::new(passphrase.clone());
        let mut reader = decryptor
            .decrypt(std::iter::once(&identity as &dyn age::Identity))
            .map_err(|e| match e {
                DecryptError::DecryptionFailed | DecryptError::NoMatchingKeys => {
                    format!("wrong passphrase for key file {path}")
                }
                DecryptError::ExcessiveWork { required, target } => format!(
                    "key file {path} needs scrypt work factor 2^{required}, too much for this machine (about 2^{target} takes a second)"
                ),
                DecryptError::InvalidMac => format!("key file {path} is corrupted: header MAC mismatch"),
                e => format!("key file {path} is corrupted: {}", e.to_string().trim()),
            })?;
        let mut plain = Zeroizing::new(Vec::new());
        reader
            .read_to_end(&mut plain)
            .map_err(|e| format!("key file {path} is corrupted: {e}"))?;
        Ok(plain)
    }

    /// Decrypts the key file and parses the X25519 identity in it.
    pub fn unlock(&self, passphrase: &SecretString) -> Result<x25519::Identity, String> {
        let plain = self.decrypt(passphrase)?;
        parse_plaintext(&plain)
            .map_err(|why| format!("key file {} is corrupted: {why}", self.path.display()))
    }
}

fn parse_plaintext(plain: &[u8]) -> Result<x25519::Identity, &'static str> {
    let text = std::str::from_utf8(plain).map_err(|_| "its content is not text")?;
    let mut keys = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("AGE-SECRET-KEY-1"));
    let line = keys.next().ok_or("it holds no AGE-SECRET-KEY-1 line")?;
    if keys.next().is_some() {
        return Err("it holds more than one key");
    }
    x25519::Identity::from_str(line).map_err(|_| "its AGE-SECRET-KEY-1 line is invalid")
}

fn plaintext_for(identity: &x25519::Identity) -> Zeroizing<String> {
    let created = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc())
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    Zeroizing::new(format!(
        "# created: {created}\n# public key: {}\n{}\n",
        identity.to_public(),
        identity.to_string().expose_secret()
    ))
}

/// Encrypts `plaintext` to `passphrase` (scrypt, armored).
fn seal(
    plaintext: &[u8],
    passphrase: &SecretString,
    work_factor: Option<u8>,
) -> Result<Vec<u8>, String> {
    let mut recipient = age::scrypt::Recipient::new(passphrase.clone());
    if let Some(log_n) = work_factor {
        recipient.set_work_factor(log_n);
    }
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
            .map_err(|e| format!("cannot encrypt the key file: {e}"))?;
    let fail = |e: io::Error| format!("cannot encrypt the key file: {e}");
    let armor = ArmoredWriter::wrap_output(Vec::new(), Format::AsciiArmor).map_err(fail)?;
    let mut writer = encryptor.wrap_output(armor).map_err(fail)?;
    writer.write_all(plaintext).map_err(fail)?;
    writer
        .finish()
        .and_then(|armor| armor.finish())
        .map_err(fail)
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Creates a new key file at `path` (mode 0600, never overwriting) holding a fresh X25519
/// key encrypted to `passphrase`. Returns the key's recipient.
pub fn create(
    path: &Path,
    passphrase: &SecretString,
    work_factor: Option<u8>,
) -> Result<x25519::Recipient, String> {
    let identity = x25519::Identity::generate();
    let sealed = seal(plaintext_for(&identity).as_bytes(), passphrase, work_factor)?;
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => {
                format!(
                    "{} already exists; refusing to overwrite it",
                    path.display()
                )
            }
            _ => format!("cannot create key file {}: {e}", path.display()),
        })?;
    if let Err(e) = file.write_all(&sealed).and_then(|()| file.sync_all()) {
        drop(file);
        let _ = fs::remove_file(path);
        return Err(format!("cannot write key file {}: {e}", path.display()));
    }
    sync_dir(parent_dir(path));
    Ok(identity.to_public())
}

/// Re-encrypts the key file at `path` to `new`, atomically: a temporary file in the same
/// directory (mode 0600) is written, flushed to disk and renamed over the key file.
pub fn rekey(
    path: &Path,
    old: &SecretString,
    new: &SecretString,
    work_factor: Option<u8>,
) -> Result<x25519::Recipient, String> {
    let key_file = KeyFile::open(path)?;
    let plain = key_file.decrypt(old)?;
    let identity = parse_plaintext(&plain)
        .map_err(|why| format!("key file {} is corrupted: {why}", path.display()))?;
    let sealed = seal(&plain, new, work_factor)?;
    let dir = parent_dir(path);
    let fail = |e: io::Error| format!("cannot rewrite key file {}: {e}", path.display());
    let mut tmp = tempfile::Builder::new()
        .prefix(".age-plugin-passphrase-")
        .suffix(".tmp")
        .permissions(fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(fail)?;
    tmp.write_all(&sealed).map_err(fail)?;
    tmp.as_file().sync_all().map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    sync_dir(dir);
    Ok(identity.to_public())
}

/// Reads a passphrase from a file: it must be private to its owner when it is a regular
/// file; one trailing newline (`\n` or `\r\n`) is dropped; it must not be empty.
pub fn read_passphrase_file(path: &Path, what: &str) -> Result<SecretString, PassphraseFileError> {
    let meta = fs::metadata(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => PassphraseFileError::Missing,
        _ => PassphraseFileError::Unusable(io_error(what, path, &e)),
    })?;
    if meta.is_file() && meta.permissions().mode() & 0o077 != 0 {
        return Err(PassphraseFileError::Unusable(mode_error(
            what,
            path,
            meta.permissions().mode(),
        )));
    }
    read_secret_file(path, what)
}

/// Reads a secret file without permission checks (systemd credentials, whose directory
/// is private to the service).
pub fn read_secret_file(path: &Path, what: &str) -> Result<SecretString, PassphraseFileError> {
    let mut bytes = Zeroizing::new(Vec::new());
    File::open(path)
        .and_then(|f| f.take(64 * 1024).read_to_end(&mut bytes))
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => PassphraseFileError::Missing,
            _ => PassphraseFileError::Unusable(io_error(what, path, &e)),
        })?;
    let mut end = bytes.len();
    if bytes[..end].ends_with(b"\n") {
        end -= 1;
        if bytes[..end].ends_with(b"\r") {
            end -= 1;
        }
    }
    let text = std::str::from_utf8(&bytes[..end]).map_err(|_| {
        PassphraseFileError::Unusable(format!("{what} {} is not UTF-8 text", path.display()))
    })?;
    if text.is_empty() {
        return Err(PassphraseFileError::Unusable(format!(
            "{what} {} is empty",
            path.display()
        )));
    }
    Ok(SecretString::from(text.to_owned()))
}

pub enum PassphraseFileError {
    Missing,
    Unusable(String),
}

/// `$XDG_CONFIG_HOME/keytap` (or `~/.config/keytap`), created with mode 0700.
pub fn default_dir() -> Result<PathBuf, String> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            Some(home) => PathBuf::from(home).join(".config"),
            None => return Err("neither XDG_CONFIG_HOME nor HOME is set; use -o KEYFILE".into()),
        },
    };
    let dir = base.join("keytap");
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// The first `passphrase-<N>.age` (N = 1, 2, ...) that does not exist in `dir`.
pub fn next_default_path(dir: &Path) -> PathBuf {
    (1..)
        .map(|n| dir.join(format!("passphrase-{n}.age")))
        .find(|p| fs::symlink_metadata(p).is_err())
        .expect("an unused name")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_round_trip() {
        let id = x25519::Identity::generate();
        let plain = plaintext_for(&id);
        let back = parse_plaintext(plain.as_bytes()).unwrap();
        assert_eq!(back.to_public().to_string(), id.to_public().to_string());
        assert!(parse_plaintext(b"# nothing here\n").is_err());
    }
}
