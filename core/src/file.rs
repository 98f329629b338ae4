//! A sops file as a whole: parse and emit it, open it with the user's identities, and seal
//! it again after changes.

use crate::cipher::{DataKey, ValueCipher};
use crate::datakey;
use crate::error::Error;
use crate::keysource::KeySources;
use crate::metadata::{self, Metadata};
use crate::stores::{Format, Store};
use crate::tree::{Branch, Value};
use crate::walk;

/// An encrypted file: documents with encrypted leaves, and the metadata.
#[derive(Clone, Debug)]
pub struct EncryptedFile {
    /// Documents (encrypted values in place, `sops` key removed).
    pub docs: Vec<Branch>,
    /// The `sops` metadata.
    pub metadata: Metadata,
}

/// Go's `time.Time.Format(time.RFC3339)` of a parsed RFC 3339 time: fractional seconds
/// dropped and a zero offset written `Z` (sops uses this string as the MAC's AAD).
pub fn normalize_rfc3339(s: &str) -> String {
    let Ok(t) = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
    else {
        return s.to_string();
    };
    let t = t.replace_nanosecond(0).expect("zero is valid");
    let base = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let off = t.offset();
    if off.is_utc() {
        format!("{base}Z")
    } else {
        let (h, m, _) = off.as_hms();
        let sign = if off.is_negative() { '-' } else { '+' };
        format!(
            "{base}{sign}{:02}:{:02}",
            h.unsigned_abs(),
            m.unsigned_abs()
        )
    }
}

impl EncryptedFile {
    /// Parses an encrypted file with the store of its format.
    pub fn parse(store: &dyn Store, input: Vec<u8>) -> Result<EncryptedFile, Error> {
        let (docs, meta) = store.load_encrypted_owned(input).map_err(Error::Parse)?;
        Self::with_metadata(docs, meta)
    }

    /// [`EncryptedFile::parse`] of input the caller keeps (a mapped file).
    pub fn parse_borrowed(store: &dyn Store, input: &[u8]) -> Result<EncryptedFile, Error> {
        let (docs, meta) = store.load_encrypted(input).map_err(Error::Parse)?;
        Self::with_metadata(docs, meta)
    }

    fn with_metadata(docs: Vec<Branch>, meta: Option<Branch>) -> Result<EncryptedFile, Error> {
        let meta = meta.ok_or(Error::MetadataNotFound)?;
        let metadata = Metadata::from_branch(&meta).map_err(Error::Metadata)?;
        Ok(EncryptedFile { docs, metadata })
    }

    /// Emits the file in `format` with its store.
    pub fn emit(&self, store: &dyn Store, format: Format) -> Result<Vec<u8>, Error> {
        // Go writes a nil key list as `[]` in YAML and `null` in JSON (and the flattened
        // formats, which go through JSON).
        let empty_list = if format == Format::Yaml {
            Value::List(Vec::new())
        } else {
            Value::Null
        };
        store
            .emit_encrypted(&self.docs, &self.metadata.to_branch(empty_list))
            .map_err(Error::Emit)
    }

    /// Recovers the data key through `sources` and decrypts every value, checking the MAC
    /// unless `ignore_mac`.
    pub fn open(self, sources: &KeySources, ignore_mac: bool) -> Result<OpenFile, Error> {
        let key = datakey::recover(&self.metadata, sources).map_err(Error::Recover)?;
        self.open_with_key(key, ignore_mac)
    }

    /// Decrypts with an already recovered data key.
    pub fn open_with_key(self, key: DataKey, ignore_mac: bool) -> Result<OpenFile, Error> {
        self.open_with_key_as(key, ignore_mac, true)
    }

    /// Like [`EncryptedFile::open`], for a file that will not be sealed again (`decrypt`,
    /// `exec-*`, the installer): values' IVs are not remembered, which is faster.
    pub fn open_read_only(self, sources: &KeySources, ignore_mac: bool) -> Result<OpenFile, Error> {
        let key = datakey::recover(&self.metadata, sources).map_err(Error::Recover)?;
        self.open_with_key_as(key, ignore_mac, false)
    }

    /// [`EncryptedFile::open_read_only`] with an already recovered data key.
    pub fn open_with_key_read_only(
        self,
        key: DataKey,
        ignore_mac: bool,
    ) -> Result<OpenFile, Error> {
        self.open_with_key_as(key, ignore_mac, false)
    }

    fn open_with_key_as(
        self,
        key: DataKey,
        ignore_mac: bool,
        will_seal: bool,
    ) -> Result<OpenFile, Error> {
        let EncryptedFile { docs, metadata } = self;
        let cipher = if will_seal {
            ValueCipher::new(&key)
        } else {
            ValueCipher::read_only(&key)
        };
        // Open from here on, so that whatever is decrypted is wiped on every error too.
        let cut = crate::split::split_single(&docs);
        let mut open = OpenFile {
            docs,
            metadata,
            key,
            cipher,
            cut,
        };
        let computed = walk::decrypt_tree_cut(
            &mut open.docs,
            cut,
            &mut open.cipher,
            &open.metadata.crypt_rule.clone().unwrap_or_default(),
            open.metadata.mac_only_encrypted,
            ignore_mac,
        )
        .map_err(Error::DecryptTree)?;
        if !ignore_mac && open.metadata.mac.is_empty() {
            return Err(Error::MacMismatch {
                stored: String::new(),
                computed,
            });
        }
        if !ignore_mac {
            let aad = normalize_rfc3339(&open.metadata.last_modified);
            let stored = match open.cipher.decrypt(&open.metadata.mac, &aad) {
                Ok(Value::Str(s)) => s,
                Ok(_) => return Err(Error::DecryptMac("the MAC is not a string".into())),
                Err(e) => return Err(Error::DecryptMac(e.to_string())),
            };
            if stored != computed {
                return Err(Error::MacMismatch { stored, computed });
            }
        }
        Ok(open)
    }
}

/// A decrypted file that remembers its data key and IVs, ready to be changed and sealed.
pub struct OpenFile {
    /// The plaintext documents.
    pub docs: Vec<Branch>,
    /// The metadata (its `mac` and `lastmodified` are refreshed by [`OpenFile::seal`]).
    pub metadata: Metadata,
    key: DataKey,
    cipher: ValueCipher,
    /// Where decrypting cut the single document between two threads, if it did: wiping
    /// and freeing it takes two threads too.
    cut: Option<usize>,
}

impl Drop for OpenFile {
    /// The plaintext is wiped before its memory is freed.
    fn drop(&mut self) {
        crate::tree::wipe_and_free(std::mem::take(&mut self.docs), self.cut);
    }
}

impl OpenFile {
    /// Replaces the documents, wiping the plaintext of those they replace.
    pub fn replace_docs(&mut self, docs: Vec<Branch>) {
        crate::tree::wipe(&mut self.docs);
        self.docs = docs;
        self.cut = None;
    }

    /// A new file: generates a data key and wraps it through `sources` to every master key
    /// in `metadata` (which carries the key groups, rule, threshold and
    /// `mac_only_encrypted`).
    pub fn create(
        docs: Vec<Branch>,
        mut metadata: Metadata,
        sources: &KeySources,
    ) -> Result<OpenFile, Error> {
        let key = datakey::generate();
        datakey::wrap(&mut metadata, &key, false, sources).map_err(Error::Wrap)?;
        let cipher = ValueCipher::new(&key);
        Ok(OpenFile {
            // Sealing usually takes the documents (`into_sealed`): no walk to count them
            // for a parallel free that would find nothing.
            cut: None,
            docs,
            metadata,
            key,
            cipher,
        })
    }

    /// The data key.
    pub fn data_key(&self) -> &DataKey {
        &self.key
    }

    /// Learns the IVs of `other`, another version of this file opened with the same data
    /// key (nothing otherwise), so values taken from it keep their exact ciphertext.
    pub fn absorb_ivs(&mut self, other: &OpenFile) {
        self.cipher.absorb_ivs(&other.cipher);
    }

    /// Generates a new data key and re-wraps it to every master key (`rotate`). Every value
    /// gets a fresh IV on the next seal.
    pub fn rotate(&mut self, sources: &KeySources) -> Result<(), Error> {
        let key = datakey::generate();
        datakey::wrap(&mut self.metadata, &key, false, sources).map_err(Error::Wrap)?;
        self.cipher = ValueCipher::new(&key);
        self.key = key;
        Ok(())
    }

    /// Wraps the current data key to master keys that have no `enc` yet (`updatekeys`).
    /// With several key groups, the key is split again so every group gets a fresh share.
    pub fn wrap_new_keys(&mut self, sources: &KeySources) -> Result<(), Error> {
        let resplit = self.metadata.key_groups.len() > 1;
        datakey::wrap(&mut self.metadata, &self.key, !resplit, sources).map_err(Error::Wrap)
    }

    /// Raises `version` to keytap's sops version when the file's is older (what sops's
    /// `edit` does; `set`, `unset` and `rotate` keep it).
    pub fn bump_version(&mut self) {
        if metadata::version_older(&self.metadata.version, metadata::SOPS_VERSION) {
            self.metadata.version = metadata::SOPS_VERSION.to_string();
        }
    }

    /// Encrypts the documents, sets `lastmodified` to now and stores the new MAC. Values
    /// unchanged since they were decrypted keep their exact ciphertext. The file stays open
    /// (an editor loop seals again after a failed save); [`OpenFile::into_sealed`] is the
    /// same without copying the documents.
    pub fn seal(&self) -> Result<EncryptedFile, Error> {
        self.seal_docs(self.docs.clone())
    }

    /// [`OpenFile::seal`] for the last use of an open file.
    pub fn into_sealed(mut self) -> Result<EncryptedFile, Error> {
        let docs = std::mem::take(&mut self.docs);
        self.seal_docs(docs)
    }

    fn seal_docs(&self, mut docs: Vec<Branch>) -> Result<EncryptedFile, Error> {
        let mut metadata = self.metadata.clone();
        let mac = walk::encrypt_tree(
            &mut docs,
            &self.cipher,
            &metadata.crypt_rule.clone().unwrap_or_default(),
            metadata.mac_only_encrypted,
        )
        .map_err(|e| {
            // Partly encrypted: what is left is plaintext.
            crate::tree::wipe(&mut docs);
            Error::EncryptTree(e)
        })?;
        metadata.last_modified = metadata::now_rfc3339();
        metadata.mac = self
            .cipher
            .encrypt(&Value::Str(mac), &metadata.last_modified)
            .map_err(|e| Error::EncryptMac(e.to_string()))?;
        Ok(EncryptedFile { docs, metadata })
    }
}

/// sops's `HasSopsTopLevelKey` for the output format: a top-level `sops` key, or for
/// dotenv a key starting with `sops_` (its flattened metadata; a plain `sops` key is
/// data there).
pub fn has_sops_top_level_key(doc: &Branch, format: Format) -> bool {
    doc.iter().any(|item| match item {
        crate::tree::Item::Entry(k, _) if format == Format::Dotenv => k.starts_with("sops_"),
        crate::tree::Item::Entry(k, _) => k == "sops",
        crate::tree::Item::Comment(_) => false,
    })
}
