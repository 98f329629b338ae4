//! Where data keys are unwrapped and wrapped: sops's "key services". The local one is the
//! user's own identities (and wrapping here); remote ones speak sops's key-service protocol
//! (`keytap-keyservice` implements the client). As in sops, every master key is tried with
//! the local service first, then with each remote service in order, until one succeeds.

use zeroize::Zeroizing;

use crate::keys::identities::AgeIdentities;
use crate::metadata::MasterKey;

/// A remote key service (sops's `KeyServiceClient`).
pub trait KeyService: Send + Sync {
    /// The service's address, as the user gave it (for messages).
    fn name(&self) -> &str;
    /// Unwraps the data key (or Shamir share) `key` holds: its `enc` is sent with the key's
    /// description (an age recipient, a PGP fingerprint, a KMS ARN, ...). The error is one
    /// line, as the service or the transport worded it.
    fn decrypt(&self, key: &MasterKey) -> Result<Zeroizing<Vec<u8>>, String>;
    /// Wraps `plaintext` to `key` (whose `enc` is ignored); returns the new `enc`.
    fn encrypt(&self, key: &MasterKey, plaintext: &[u8]) -> Result<String, String>;
}

/// The key services of one command.
#[derive(Default)]
pub struct KeySources {
    /// The local key service: unwrapping with these identities, wrapping here. `None` when
    /// it is disabled (`--enable-local-keyservice=false`). Commands that only wrap can give
    /// an empty set: wrapping needs no identity.
    pub local: Option<AgeIdentities>,
    /// Remote key services, tried in order after the local one.
    pub remote: Vec<Box<dyn KeyService>>,
    /// Key types in the order a key group tries its keys (`--decryption-order`); empty for
    /// sops's default, [`DEFAULT_DECRYPTION_ORDER`]. Types not listed come last.
    pub decryption_order: Vec<String>,
}

/// sops's default decryption order.
pub const DEFAULT_DECRYPTION_ORDER: [&str; 2] = ["age", "pgp"];

impl KeySources {
    /// The local key service alone, with `identities`.
    pub fn local(identities: AgeIdentities) -> KeySources {
        KeySources {
            local: Some(identities),
            ..KeySources::default()
        }
    }

    /// Where keys of `kind` (`age`, `pgp`, `kms`, ...) come in the decryption order: lower
    /// is tried first, and every unlisted type shares the last place (sops's
    /// `sortKeyGroupIndices`).
    pub fn rank(&self, kind: &str) -> usize {
        let order: Vec<&str> = if self.decryption_order.is_empty() {
            DEFAULT_DECRYPTION_ORDER.to_vec()
        } else {
            self.decryption_order.iter().map(String::as_str).collect()
        };
        order.iter().position(|k| *k == kind).unwrap_or(order.len())
    }

    /// Whether there is any service at all.
    pub fn is_empty(&self) -> bool {
        self.local.is_none() && self.remote.is_empty()
    }
}
