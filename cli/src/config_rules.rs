//! Bridge from `.sops.yaml` (keytap-core's config module) to what commands need.

use keytap_core::metadata::KeyGroup;
use keytap_core::stores::StoreOptions;
use keytap_core::walk::CryptRule;

use crate::error::CliError;

/// The parts of a matching creation rule that shape a new file.
pub struct Rule {
    /// Key groups with unwrapped master keys.
    pub key_groups: Vec<KeyGroup>,
    /// The rule's crypt rule, if it sets one.
    pub crypt_rule: Option<CryptRule>,
    /// Shamir threshold (0 = default).
    pub shamir_threshold: usize,
    /// `mac_only_encrypted`.
    pub mac_only_encrypted: bool,
}

/// The creation rule for `file`, or `None` when there is no config file.
pub fn creation_rule(_file: &str, _config_flag: Option<&str>) -> Result<Option<Rule>, CliError> {
    Ok(None)
}

/// `stores:` options from the config (defaults when there is none).
pub fn store_options(_config_flag: Option<&str>) -> Result<StoreOptions, CliError> {
    Ok(StoreOptions::default())
}
