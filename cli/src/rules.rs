//! Settings for a new file: recipients, key groups and the encryption rule, from the
//! command line first and the matching `.sops.yaml` creation rule second (sops's precedence).

use keytap_core::error::exit_code;
use keytap_core::metadata::{KeyGroup, MasterKey, Metadata};
use keytap_core::stores::StoreOptions;
use keytap_core::walk::CryptRule;

use crate::args::KeyArgs;
use crate::error::CliError;

/// Everything needed to create the metadata of a new encrypted file.
pub struct NewFileSettings {
    /// Metadata with unwrapped master keys.
    pub metadata: Metadata,
}

fn age_group(recipients: &str) -> Result<KeyGroup, CliError> {
    let mut group = KeyGroup::new();
    for r in recipients.split(',') {
        let r = r.trim();
        if r.is_empty() {
            continue;
        }
        keytap_core::keys::age::AgeRecipient::parse(r)
            .map_err(|e| CliError::new(exit_code::GENERIC, e.to_string()))?;
        group.push(MasterKey::Age {
            recipient: r.to_string(),
            enc: String::new(),
        });
    }
    Ok(group)
}

/// The crypt rules given on the command line.
pub fn crypt_rules_from_flags(keys: &KeyArgs) -> Vec<CryptRule> {
    let flags = [
        (&keys.unencrypted_suffix, "unencrypted_suffix"),
        (&keys.encrypted_suffix, "encrypted_suffix"),
        (&keys.unencrypted_regex, "unencrypted_regex"),
        (&keys.encrypted_regex, "encrypted_regex"),
        (&keys.unencrypted_comment_regex, "unencrypted_comment_regex"),
        (&keys.encrypted_comment_regex, "encrypted_comment_regex"),
    ];
    flags
        .iter()
        .filter_map(|(value, field)| {
            value
                .as_ref()
                .filter(|v| !v.is_empty())
                .map(|v| CryptRule::from_field(field, v.clone()).expect("known field"))
        })
        .collect()
}

/// Resolves the settings for encrypting `file` (the path used for rule matching).
/// `binary` drops the crypt rule and `mac_only_encrypted`, as sops does for the binary store.
pub fn resolve(
    keys: &KeyArgs,
    file: &std::path::Path,
    binary: bool,
) -> Result<NewFileSettings, CliError> {
    crate::config_rules::refuse_foreign(keys.foreign.given())?;
    let rule = crate::config_rules::creation_rule(file)?;
    let age = keys.age.as_deref().filter(|a| !a.trim().is_empty());
    let pgp = keys.foreign.pgp.as_deref().filter(|p| !p.trim().is_empty());
    let key_groups = match (age, pgp) {
        (None, None) => match &rule {
            Some(r) => r.key_groups.clone(),
            None => {
                return Err(CliError::new(
                    exit_code::GENERIC,
                    "config file not found, or has no creation rules, and no keys provided through command line options",
                ))
            }
        },
        // One group of the keys given, PGP before age as sops puts them.
        (age, pgp) => {
            let mut group = keytap_core::keys::pgp::master_keys(pgp.unwrap_or(""));
            group.extend(age_group(age.unwrap_or(""))?);
            vec![group]
        }
    };
    // A rule without keys is one empty group, as in sops, which then refuses it when
    // wrapping the data key ("empty key group provided").
    let key_groups = if key_groups.is_empty() {
        vec![KeyGroup::new()]
    } else {
        key_groups
    };
    let flags = crypt_rules_from_flags(keys);
    let crypt_rule = CryptRule::resolve(
        &flags,
        rule.as_ref().and_then(|r| r.crypt_rule.as_ref()),
        binary,
    )
    .map_err(|e| CliError::new(e.exit_code(), e.to_string()))?;
    if let Some(rule) = &crypt_rule {
        keytap_core::walk::check_new_file_rule(rule).map_err(|e| {
            CliError::new(
                exit_code::ERROR_ENCRYPTING_TREE,
                format!("Error encrypting tree: {e}"),
            )
        })?;
    }
    let shamir_threshold = keys
        .shamir_threshold
        .filter(|t| *t != 0)
        .or_else(|| rule.as_ref().map(|r| r.shamir_threshold))
        .unwrap_or(0);
    let mac_only_encrypted =
        !binary && (keys.mac_only_encrypted || rule.as_ref().is_some_and(|r| r.mac_only_encrypted));

    Ok(NewFileSettings {
        metadata: Metadata {
            key_groups,
            shamir_threshold,
            last_modified: String::new(),
            mac: String::new(),
            crypt_rule,
            mac_only_encrypted,
            version: keytap_core::metadata::SOPS_VERSION.to_string(),
        },
    })
}

/// Output options from `.sops.yaml`'s `stores:` section (missing config = defaults).
pub fn store_options() -> Result<StoreOptions, CliError> {
    crate::config_rules::store_options()
}
