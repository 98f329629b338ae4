//! What a card keeps across power cycles and reconnections: PIN, PUK and their retry
//! counters, the management key, the private keys of the slots with their policies, and the
//! data objects. Stored as JSON in a file, rewritten atomically after every change.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The factory PIN of a YubiKey.
pub const DEFAULT_PIN: &[u8] = b"123456";
/// The factory PUK.
pub const DEFAULT_PUK: &[u8] = b"12345678";
/// The factory 3DES management key.
pub const DEFAULT_MGM_KEY: [u8; 24] = [
    1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8,
];
/// Management key algorithm ids (PIV / Yubico).
pub const ALG_3DES: u8 = 0x03;
/// AES-128 management key.
pub const ALG_AES128: u8 = 0x08;
/// AES-192 management key.
pub const ALG_AES192: u8 = 0x0a;
/// AES-256 management key.
pub const ALG_AES256: u8 = 0x0c;
/// Key algorithm id of ECC P-256.
pub const ALG_ECCP256: u8 = 0x11;

/// A private key in a slot.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SlotKey {
    /// Algorithm id (0x11 for P-256).
    pub algorithm: u8,
    /// The P-256 scalar, hex.
    pub secret: String,
    /// 1 never, 2 once, 3 always.
    pub pin_policy: u8,
    /// 1 never, 2 always, 3 cached.
    pub touch_policy: u8,
    /// 1 generated on the card, 2 imported.
    pub origin: u8,
}

impl SlotKey {
    /// The P-256 private key; `None` if the state file holds no valid scalar.
    pub fn secret_key(&self) -> Option<p256::SecretKey> {
        let bytes = hex::decode(&self.secret).ok()?;
        p256::SecretKey::from_slice(&bytes).ok()
    }
}

/// The persistent state of a card.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CardState {
    /// The serial number (GET SERIAL).
    pub serial: u32,
    /// The firmware version (GET VERSION).
    pub version: [u8; 3],
    /// PIN, hex of its ASCII bytes (no padding).
    pub pin: String,
    /// PUK, hex.
    pub puk: String,
    /// PIN tries before blocking, when reset.
    pub pin_retries_max: u8,
    /// PIN tries left.
    pub pin_retries: u8,
    /// PUK tries before blocking, when reset.
    pub puk_retries_max: u8,
    /// PUK tries left.
    pub puk_retries: u8,
    /// The management key algorithm (0x03 3DES, 0x08/0x0a/0x0c AES).
    pub mgm_algorithm: u8,
    /// The management key, hex.
    pub mgm_key: String,
    /// Private keys by slot (hex slot id: "82", "9a", ...).
    pub keys: BTreeMap<String, SlotKey>,
    /// Data objects by object id (hex: "5fc10d", ...), values hex.
    pub objects: BTreeMap<String, String>,
}

impl CardState {
    /// A card as it leaves the factory.
    pub fn factory(serial: u32) -> Self {
        CardState {
            serial,
            version: [5, 4, 3],
            pin: hex::encode(DEFAULT_PIN),
            puk: hex::encode(DEFAULT_PUK),
            pin_retries_max: 3,
            pin_retries: 3,
            puk_retries_max: 3,
            puk_retries: 3,
            mgm_algorithm: ALG_3DES,
            mgm_key: hex::encode(DEFAULT_MGM_KEY),
            keys: BTreeMap::new(),
            objects: BTreeMap::new(),
        }
    }

    /// Reads the state file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Reads the state file, or creates a factory card with `serial` if it does not exist.
    pub fn load_or_create(path: &Path, serial: u32) -> Result<Self, String> {
        if path.exists() {
            Self::load(path)
        } else {
            let state = Self::factory(serial);
            state.save(path)?;
            Ok(state)
        }
    }

    /// Writes the state file atomically (temporary file, fsync, rename).
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let text = serde_json::to_string_pretty(self).expect("serializable");
        write_atomic(path, text.as_bytes())
    }

    /// The PIN's bytes.
    pub fn pin_bytes(&self) -> Vec<u8> {
        hex::decode(&self.pin).unwrap_or_default()
    }

    /// The PUK's bytes.
    pub fn puk_bytes(&self) -> Vec<u8> {
        hex::decode(&self.puk).unwrap_or_default()
    }

    /// The management key's bytes.
    pub fn mgm_key_bytes(&self) -> Vec<u8> {
        hex::decode(&self.mgm_key).unwrap_or_default()
    }

    /// The key in `slot`, if any.
    pub fn key(&self, slot: u8) -> Option<&SlotKey> {
        self.keys.get(&format!("{slot:02x}"))
    }

    /// A data object.
    pub fn object(&self, id: u32) -> Option<Vec<u8>> {
        self.objects
            .get(&format!("{id:06x}"))
            .and_then(|v| hex::decode(v).ok())
    }

    /// Sets (or, with an empty value, deletes) a data object.
    pub fn set_object(&mut self, id: u32, value: &[u8]) {
        let key = format!("{id:06x}");
        if value.is_empty() {
            self.objects.remove(&key);
        } else {
            self.objects.insert(key, hex::encode(value));
        }
    }
}

/// Writes `data` to `path` atomically.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), String> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    f.write_all(data)
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    f.sync_all()
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}
