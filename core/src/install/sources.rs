//! The sops files the secrets come from: each read and parsed once, checked against the
//! secrets that use it (format, key paths) before anything is decrypted, then all of their
//! data keys recovered together (one session per plugin, so one PIN prompt for the whole
//! boot) and each file decrypted once.

use std::collections::HashMap;

use zeroize::Zeroizing;

use super::manifest::Secret;
use super::InstallError;
use crate::file::EncryptedFile;
use crate::stores::{Format, StoreOptions};
use crate::tree::{Branch, Item, Value};

/// One sops file and what is known about it.
pub struct SourceFile {
    /// Its path, as the manifest spells it.
    pub path: String,
    /// Its format (the same for every secret using it).
    pub format: Format,
    /// The first secret that uses it (for messages).
    pub first_secret: String,
    /// The parsed file (absent in `--check-mode=manifest`, where files are not read).
    pub encrypted: Option<EncryptedFile>,
}

/// Every sops file of a manifest, in the order secrets first use them.
#[derive(Default)]
pub struct Sources {
    /// The files.
    pub files: Vec<SourceFile>,
    index: HashMap<String, usize>,
}

/// The format named by a secret. As in sops-nix, whose manifest decoder leaves a name it
/// does not know unset and then takes an unset format for YAML, anything but `json`,
/// `binary`, `dotenv` and `ini` (exactly so spelled) is YAML.
pub fn secret_format(s: &Secret) -> Format {
    match s.format.as_str() {
        "json" => Format::Json,
        "binary" => Format::Binary,
        "dotenv" => Format::Dotenv,
        "ini" => Format::Ini,
        _ => Format::Yaml,
    }
}

/// Whether a secret of this format is a key inside the file (else it is the whole file).
pub fn has_keys(format: Format) -> bool {
    matches!(format, Format::Yaml | Format::Json)
}

impl Sources {
    /// Index of the file a secret comes from.
    pub fn file_of(&self, s: &Secret) -> Option<usize> {
        self.index.get(&s.sops_file).copied()
    }

    /// Registers every secret's file, reading and parsing each once when `parse`, and
    /// checks formats agree and key paths exist (in the encrypted tree: keys are plaintext).
    pub fn load(secrets: &[Secret], parse: bool) -> Result<Sources, InstallError> {
        let mut sources = Sources::default();
        for s in secrets {
            let format = secret_format(s);
            let i = match sources.index.get(&s.sops_file) {
                Some(i) => *i,
                None => {
                    let encrypted = if parse {
                        Some(parse_file(&s.sops_file, format)?)
                    } else {
                        None
                    };
                    sources.files.push(SourceFile {
                        path: s.sops_file.clone(),
                        format,
                        first_secret: s.name.clone(),
                        encrypted,
                    });
                    sources
                        .index
                        .insert(s.sops_file.clone(), sources.files.len() - 1);
                    sources.files.len() - 1
                }
            };
            let file = &sources.files[i];
            if file.format != format {
                return Err(InstallError::new(format!(
                    "secret {} defined the format of {} as {}, but it was specified as {} in {} before",
                    s.name,
                    s.sops_file,
                    format.name(),
                    file.format.name(),
                    file.first_secret
                )));
            }
            if let Some(enc) = &file.encrypted {
                if has_keys(format) && !s.key.is_empty() {
                    lookup(&enc.docs, &s.key).map_err(|e| {
                        InstallError::new(format!(
                            "secret {} in {} is not valid: {e}",
                            s.name, s.sops_file
                        ))
                    })?;
                }
            }
        }
        Ok(sources)
    }

    /// Recovers every file's data key in one go and decrypts each file once.
    pub fn decrypt(
        self,
        secrets: &[Secret],
        sources: &crate::keysource::KeySources,
    ) -> Result<Vec<Plain>, InstallError> {
        let metas: Vec<&crate::metadata::Metadata> = self
            .files
            .iter()
            .map(|f| {
                &f.encrypted
                    .as_ref()
                    .expect("files parsed before decrypting")
                    .metadata
            })
            .collect();
        let keys = crate::datakey::recover_many(&metas, sources);
        let mut out = Vec::with_capacity(self.files.len());
        for (file, key) in self.files.into_iter().zip(keys) {
            let users: Vec<&str> = secrets
                .iter()
                .filter(|s| s.sops_file == file.path)
                .map(|s| s.name.as_str())
                .collect();
            let fail = |e: String| {
                InstallError::new(format!(
                    "failed to decrypt '{}' (needed by secret{} {}): {e}",
                    file.path,
                    if users.len() == 1 { "" } else { "s" },
                    users
                        .iter()
                        .map(|u| format!("'{u}'"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            };
            let key = key.map_err(|e| fail(e.to_string()))?;
            let enc = file.encrypted.expect("parsed");
            let mut open = enc
                .open_with_key_read_only(key, false)
                .map_err(|e| fail(e.to_string()))?;
            out.push(Plain {
                path: file.path,
                format: file.format,
                docs: std::mem::take(&mut open.docs),
                whole: None,
            });
        }
        Ok(out)
    }
}

fn parse_file(path: &str, format: Format) -> Result<EncryptedFile, InstallError> {
    let data = crate::safefs::read_file_bounded(std::path::Path::new(path)).map_err(|e| {
        InstallError::new(format!(
            "failed reading {path}: open {path}: {}",
            crate::goerr::io_reason(&e)
        ))
    })?;
    let store = format.store(&StoreOptions::default());
    EncryptedFile::parse(store.as_ref(), data)
        .map_err(|e| InstallError::new(format!("cannot parse {} of '{path}': {e}", format.name())))
}

/// A decrypted sops file.
pub struct Plain {
    /// Its path.
    pub path: String,
    /// Its format.
    pub format: Format,
    /// The plaintext documents.
    pub docs: Vec<Branch>,
    whole: Option<Zeroizing<Vec<u8>>>,
}

impl Drop for Plain {
    /// The plaintext is wiped before its memory is freed.
    fn drop(&mut self) {
        crate::tree::wipe(&mut self.docs);
    }
}

impl Plain {
    /// The whole file as `sops decrypt` prints it (cached).
    pub fn whole(&mut self) -> Result<&[u8], String> {
        if self.whole.is_none() {
            let store = self.format.store(&StoreOptions::default());
            let bytes = store.emit_plain(&self.docs).map_err(|e| e.to_string())?;
            self.whole = Some(Zeroizing::new(bytes));
        }
        Ok(self.whole.as_deref().expect("just set"))
    }

    /// The value of one secret: a string at its key path, or the whole file.
    pub fn value(&mut self, s: &Secret) -> Result<Zeroizing<Vec<u8>>, InstallError> {
        let invalid = |e: String| {
            InstallError::new(format!(
                "secret {} in {} is not valid: {e}",
                s.name, s.sops_file
            ))
        };
        if !has_keys(self.format) || s.key.is_empty() {
            return self
                .whole()
                .map(|b| Zeroizing::new(b.to_vec()))
                .map_err(invalid);
        }
        match lookup(&self.docs, &s.key).map_err(invalid)? {
            Value::Str(v) => Ok(Zeroizing::new(v.as_bytes().to_vec())),
            Value::Bytes(b) => Ok(Zeroizing::new(b.clone())),
            // sops-nix names the keys above the value, not the value's own.
            _ => Err(invalid(format!(
                "the value of key '{}' is not a string",
                s.key.rsplit_once('/').map_or("", |(above, _)| above)
            ))),
        }
    }
}

/// Follows a `a/b/c` key path through the first document's nested mappings.
pub fn lookup<'a>(docs: &'a [Branch], key: &str) -> Result<&'a Value, String> {
    let parts: Vec<&str> = key.split('/').collect();
    let Some(mut branch) = docs.first() else {
        return Err(format!("the key '{}' cannot be found", parts[0]));
    };
    for (i, part) in parts.iter().enumerate() {
        let so_far = parts[..=i].join("/");
        let value = branch
            .iter()
            .find_map(|item| match item {
                Item::Entry(k, v) if k == part => Some(v),
                _ => None,
            })
            .ok_or_else(|| format!("the key '{so_far}' cannot be found"))?;
        if i + 1 == parts.len() {
            return Ok(value);
        }
        match value {
            Value::Map(b) => branch = b,
            _ => return Err(format!("key '{so_far}' does not refer to a dictionary")),
        }
    }
    unreachable!("split yields at least one part")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Vec<Branch> {
        vec![vec![
            Item::Comment(" c".into()),
            Item::Entry(
                "a".into(),
                Value::Map(vec![Item::Entry("b".into(), Value::Str("x".into()))]),
            ),
            Item::Entry("n".into(), Value::Int(3)),
        ]]
    }

    #[test]
    fn nested_keys_resolve_like_sops_nix() {
        let d = doc();
        assert_eq!(lookup(&d, "a/b").unwrap(), &Value::Str("x".into()));
        assert_eq!(
            lookup(&d, "a/c").unwrap_err(),
            "the key 'a/c' cannot be found"
        );
        assert_eq!(
            lookup(&d, "z/c").unwrap_err(),
            "the key 'z' cannot be found"
        );
        assert_eq!(
            lookup(&d, "n/c").unwrap_err(),
            "key 'n' does not refer to a dictionary"
        );
        assert!(lookup(&[], "a").is_err());
    }
}
