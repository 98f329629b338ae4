//! Errors of the engine, each with the exit code the real sops uses for the same failure.

use crate::datakey::{RecoverError, WrapError};
use crate::metadata::MetadataError;
use crate::stores::StoreError;
use crate::walk::WalkError;

/// sops's exit codes (`cmd/sops/codes`), so scripts keep working with `sops=keytap`.
pub mod exit_code {
    #![allow(missing_docs)]
    pub const GENERIC: i32 = 1;
    pub const COULD_NOT_READ_INPUT_FILE: i32 = 2;
    pub const COULD_NOT_WRITE_OUTPUT_FILE: i32 = 3;
    pub const ERROR_DUMPING_TREE: i32 = 4;
    pub const ERROR_READING_CONFIG: i32 = 5;
    pub const INVALID_SET_FORMAT: i32 = 7;
    pub const CONFLICTING_PARAMETERS: i32 = 8;
    pub const ERROR_ENCRYPTING_MAC: i32 = 21;
    pub const ERROR_ENCRYPTING_TREE: i32 = 23;
    pub const ERROR_DECRYPTING_MAC: i32 = 24;
    pub const ERROR_DECRYPTING_TREE: i32 = 25;
    pub const CANNOT_CHANGE_KEYS_FROM_NON_EXISTENT_FILE: i32 = 49;
    pub const MAC_MISMATCH: i32 = 51;
    pub const MAC_NOT_FOUND: i32 = 52;
    pub const CONFIG_FILE_NOT_FOUND: i32 = 61;
    pub const KEYBOARD_INTERRUPT: i32 = 85;
    pub const INVALID_TREE_PATH_FORMAT: i32 = 91;
    pub const NEED_AT_LEAST_ONE_DOCUMENT: i32 = 92;
    pub const NO_FILE_SPECIFIED: i32 = 100;
    pub const DUPLICATE_DECRYPTION_KEY_TYPE: i32 = 112;
    pub const COULD_NOT_RETRIEVE_KEY: i32 = 128;
    pub const FILE_HAS_NOT_BEEN_MODIFIED: i32 = 200;
    pub const NO_EDITOR_FOUND: i32 = 201;
    pub const FILE_ALREADY_ENCRYPTED: i32 = 203;
}

/// An engine failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be parsed in its format.
    #[error("{0}")]
    Parse(#[source] StoreError),
    /// The file could not be emitted in the output format.
    #[error("Could not marshal tree: {0}")]
    Emit(#[source] StoreError),
    /// The file has no `sops` metadata.
    #[error("sops metadata not found")]
    MetadataNotFound,
    /// The metadata is present but broken.
    #[error("{0}")]
    Metadata(#[source] MetadataError),
    /// No identity could recover the data key.
    #[error("{0}")]
    Recover(#[source] RecoverError),
    /// The data key could not be wrapped to a master key.
    /// (sops collects these in a Go slice, hence the brackets.)
    #[error("Could not generate data key: [{0}]")]
    Wrap(#[source] WrapError),
    /// A value failed to decrypt (tampered, moved, or wrong key).
    #[error("Error decrypting tree: {0}")]
    DecryptTree(#[source] WalkError),
    /// A value failed to encrypt.
    #[error("Error encrypting tree: {0}")]
    EncryptTree(#[source] WalkError),
    /// The stored MAC could not be decrypted.
    #[error("Cannot decrypt MAC: {0}")]
    DecryptMac(String),
    /// The MAC does not match the content.
    #[error("MAC mismatch. File has {}, computed {computed}", if stored.is_empty() { "no MAC" } else { stored.as_str() })]
    MacMismatch {
        /// MAC stored in the file.
        stored: String,
        /// MAC of the decrypted content.
        computed: String,
    },
    /// The MAC could not be encrypted.
    #[error("Could not encrypt MAC: {0}")]
    EncryptMac(String),
}

impl Error {
    /// The exit code sops uses for this failure.
    pub fn exit_code(&self) -> i32 {
        use exit_code::*;
        match self {
            // sops exits 1 when an encrypted file does not parse (2 is for plaintext input).
            Error::Parse(_) => GENERIC,
            Error::Emit(_) => ERROR_DUMPING_TREE,
            Error::MetadataNotFound | Error::Metadata(_) => GENERIC,
            Error::Recover(_) => COULD_NOT_RETRIEVE_KEY,
            Error::Wrap(_) => GENERIC,
            // A tampered comment is refused in the MAC's stead.
            Error::DecryptTree(crate::walk::WalkError::TamperedComment { .. }) => MAC_MISMATCH,
            Error::DecryptTree(_) => ERROR_DECRYPTING_TREE,
            Error::EncryptTree(_) => ERROR_ENCRYPTING_TREE,
            Error::DecryptMac(_) | Error::MacMismatch { .. } => MAC_MISMATCH,
            Error::EncryptMac(_) => ERROR_ENCRYPTING_MAC,
        }
    }
}
