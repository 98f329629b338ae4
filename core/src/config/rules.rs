//! Choosing and resolving a creation rule: path matching, the encryption rule from flags
//! and config, key groups and key lists.

use super::decode::{Dyn, RawCreationRule, RawKeyGroup};
use super::*;
use crate::go_regex::{go_syntax_error, regex_error_text};

/// Which values get encrypted: the engine's rule type (`crate::walk::CryptRule`),
/// re-exported here because a creation rule may set one. Its `Default` is
/// `UnencryptedSuffix("_unencrypted")`; see [`CryptRule::resolve`] for how the command line
/// and the config combine.
pub use crate::walk::CryptRule;

/// sops's `DefaultUnencryptedSuffix`.
pub const DEFAULT_UNENCRYPTED_SUFFIX: &str = "_unencrypted";

/// The six kinds of [`CryptRule`], in the order sops counts them.
pub(super) const CRYPT_RULE_FIELDS: [&str; 6] = CryptRule::FIELD_NAMES;

fn crypt_rule_index(rule: &CryptRule) -> usize {
    CRYPT_RULE_FIELDS
        .iter()
        .position(|f| *f == rule.field_name())
        .expect("known field")
}

impl CryptRule {
    /// Combines the command-line flags with the selected creation rule the way sops's
    /// `getEncryptConfig` does.
    ///
    /// * `flags`: the rules given on the command line (`--unencrypted-suffix`, ...), in any
    ///   order; flags with an empty value are ignored (sops treats them as unset).
    /// * `from_rule`: the creation rule's [`CreationRule::crypt_rule`] (`None` without
    ///   config or rule).
    /// * `single_value_store`: the input store is the binary store; then everything is
    ///   dropped and `Ok(None)` returned (sops warns about each dropped setting — that is up
    ///   to the caller — and writes no rule field into the metadata).
    ///
    /// The merge is per field: a flag replaces the rule's value only for the same field.
    /// Two different fields set in total (e.g. `encrypted_regex` in the rule and
    /// `--unencrypted-suffix` on the command line) is a [`CryptRuleConflict`] (exit 8).
    /// Nothing set gives the default `UnencryptedSuffix("_unencrypted")`.
    pub fn resolve(
        flags: &[CryptRule],
        from_rule: Option<&CryptRule>,
        single_value_store: bool,
    ) -> Result<Option<CryptRule>, CryptRuleConflict> {
        let mut fields: [Option<&CryptRule>; 6] = [None; 6];
        if let Some(r) = from_rule.filter(|r| !r.value().is_empty()) {
            fields[crypt_rule_index(r)] = Some(r);
        }
        for f in flags.iter().filter(|r| !r.value().is_empty()) {
            fields[crypt_rule_index(f)] = Some(f);
        }
        if single_value_store {
            return Ok(None);
        }
        let set: Vec<&CryptRule> = fields.iter().flatten().copied().collect();
        match set.len() {
            0 => Ok(Some(CryptRule::default())),
            1 => Ok(Some(set[0].clone())),
            _ => Err(CryptRuleConflict),
        }
    }
}

/// More than one encryption rule after merging flags and config (sops exits with 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Error: cannot use more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex, or unencrypted_comment_regex in the same file")]
pub struct CryptRuleConflict;

impl CryptRuleConflict {
    /// sops's exit code for this error: 8 (`ErrorConflictingParameters`).
    pub fn exit_code(&self) -> i32 {
        EXIT_CODE_CONFLICTING_PARAMETERS
    }
}

impl Config {
    /// The directory rules are relative to ([`config_dir`] of [`Config::path`]).
    pub fn dir(&self) -> io::Result<PathBuf> {
        config_dir(&self.path)
    }

    /// Selects the creation rule for a file, as sops's `parseCreationRuleForFile`.
    ///
    /// * `file_path`: the absolute, cleaned path of the file (use [`absolute_path`] on the
    ///   argument, or on `--filename-override` when given).
    /// * `config_dir`: [`Config::dir`] (the absolute directory of the config file).
    ///
    /// If the path's text starts with `config_dir` plus a separator that prefix is removed
    /// (a config at `/` never strips, since sops compares with `//`). Rules are then tried
    /// in order: no `path_regex` matches everything, otherwise an unanchored
    /// [`go_regex`] search. Returns:
    /// * `Ok(None)` when the config has no `creation_rules` (absent or `null`): act as if
    ///   no config file existed;
    /// * `Ok(Some(rule))` for the first matching rule, if it is valid;
    /// * `Err` for a bad regex met before a match, no match, or an invalid selected rule.
    pub fn rule_for(
        &self,
        file_path: &Path,
        config_dir: &Path,
    ) -> Result<Option<&CreationRule>, ConfigError> {
        let Some(rules) = &self.creation_rules else {
            return Ok(None);
        };
        let full = file_path.to_string_lossy();
        let prefix = format!(
            "{}{}",
            config_dir.to_string_lossy(),
            std::path::MAIN_SEPARATOR
        );
        let relative = full.strip_prefix(prefix.as_str()).unwrap_or(&full);
        for rule in rules {
            let matched = if rule.path_regex.is_empty() {
                true
            } else {
                // Go refuses some patterns the `regex` crate takes (`a**`): ask Go's rules
                // first.
                let bad = |message| ConfigError::BadPathRegex {
                    path: self.path.clone(),
                    regex: rule.path_regex.clone(),
                    message,
                };
                if let Some(message) = go_syntax_error(&rule.path_regex) {
                    return Err(bad(message));
                }
                let re = go_regex(&rule.path_regex).map_err(|e| {
                    bad(format!(
                        "error parsing regexp: {}: `{}`",
                        regex_error_text(&e),
                        rule.path_regex
                    ))
                })?;
                re.is_match(relative)
            };
            if matched {
                if let Some(message) = &rule.error {
                    return Err(ConfigError::InvalidRule {
                        path: self.path.clone(),
                        message: message.clone(),
                    });
                }
                return Ok(Some(rule));
            }
        }
        Err(ConfigError::NoMatchingRule {
            path: self.path.clone(),
        })
    }

    /// Selects the destination rule for `sops publish` (`parseDestinationRuleForFile`):
    /// the first rule without `path_regex` or whose regex matches `file_path` as given
    /// (not made relative; a regex that does not compile just does not match). Errors: no
    /// match, several of `s3_bucket`/`gcs_bucket`/`vault_path`, an invalid recreation rule.
    pub fn destination_rule_for(&self, file_path: &str) -> Result<&DestinationRule, ConfigError> {
        let rule = self
            .destination_rules
            .iter()
            .find(|r| {
                r.path_regex.is_empty()
                    || go_regex(&r.path_regex).is_ok_and(|re| re.is_match(file_path))
            })
            .ok_or_else(|| ConfigError::NoMatchingDestination {
                path: self.path.clone(),
            })?;
        let count = [&rule.s3_bucket, &rule.gcs_bucket, &rule.vault_path]
            .iter()
            .filter(|s| !s.is_empty())
            .count();
        if count > 1 {
            return Err(ConfigError::MultipleDestinations {
                path: self.path.clone(),
            });
        }
        if let Some(message) = &rule.recreation_rule.error {
            return Err(ConfigError::InvalidRule {
                path: self.path.clone(),
                message: message.clone(),
            });
        }
        Ok(rule)
    }
}

// ---------------------------------------------------------------------------------------
// Key list helpers (sops's *FromString constructors), also for command-line flags
// ---------------------------------------------------------------------------------------

/// Splits a comma-separated recipient list as sops's `age.MasterKeysFromRecipients`:
/// `""` gives no keys, otherwise every comma-separated piece, trimmed (empty pieces are
/// kept and must be rejected by the age key source). Use for `--age`, `--add-age`,
/// `--rm-age` and config values.
pub fn split_age_recipients(s: &str) -> Vec<String> {
    if s.is_empty() {
        return Vec::new();
    }
    s.split(',').map(|r| r.trim().to_string()).collect()
}

/// Splits a comma-separated fingerprint list as `pgp.MasterKeysFromFingerprintString`:
/// `""` gives none; each piece has its spaces removed.
pub fn split_pgp_fingerprints(s: &str) -> Vec<String> {
    if s.is_empty() {
        return Vec::new();
    }
    s.split(',').map(|f| f.replace(' ', "")).collect()
}

/// Splits a comma-separated resource-ID list as `gcpkms.MasterKeysFromResourceIDString`.
pub fn split_gcp_kms(s: &str) -> Vec<String> {
    split_pgp_fingerprints(s)
}

/// Splits a comma-separated ARN list as `kms.MasterKeysFromArnString`: spaces removed,
/// `arn+arn:aws:iam::...` splits off a role.
pub fn split_kms_arns(
    s: &str,
    context: Option<&BTreeMap<String, Option<String>>>,
    aws_profile: &str,
) -> Vec<KmsKeySpec> {
    if s.is_empty() {
        return Vec::new();
    }
    s.split(',')
        .map(|a| {
            let arn = a.replace(' ', "");
            let (arn, role) = match arn.find("+arn:aws:iam::") {
                Some(i) if i > 0 => (arn[..i].to_string(), arn[i + 1..].to_string()),
                _ => (arn.clone(), String::new()),
            };
            KmsKeySpec {
                arn,
                role,
                context: context.cloned(),
                aws_profile: aws_profile.to_string(),
            }
        })
        .collect()
}

/// Parses a comma-separated Azure Key Vault URL list as `azkv.MasterKeysFromURLs`
/// (`https://<vault>/keys/<name>[/<version>]`, each trimmed). The error is sops's message.
pub fn split_azure_keyvault(s: &str) -> Result<Vec<AzureKeySpec>, String> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let re = Regex::new("^(https://[^/]+)/keys/([^/]+)(/[^/]*)?$").expect("static regex");
    s.split(',')
        .map(|u| {
            let u = u.trim();
            let caps = re.captures(u).ok_or_else(|| {
                format!("could not parse {u:?} into a valid Azure Key Vault MasterKey []")
            })?;
            let version = caps
                .get(3)
                .map(|m| m.as_str())
                .filter(|v| v.len() > 1)
                .map(|v| v[1..].to_string())
                .unwrap_or_default();
            Ok(AzureKeySpec {
                vault_url: caps[1].to_string(),
                key: caps[2].to_string(),
                version,
            })
        })
        .collect()
}

/// Splits a comma-separated Vault transit URI list as `hcvault.NewMasterKeysFromURIs`
/// (empty pieces skipped; the URIs themselves are validated by the Vault key source).
pub fn split_hc_vault_uris(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|u| !u.is_empty())
        .map(str::to_string)
        .collect()
}

// ---------------------------------------------------------------------------------------
// Rule resolution (configFromRule / getKeyGroupsFromCreationRule / extractMasterKeys)
// ---------------------------------------------------------------------------------------

pub(super) fn resolve_rule(raw: RawCreationRule) -> CreationRule {
    let mut rule = CreationRule {
        path_regex: raw.path_regex.clone(),
        shamir_threshold: raw.shamir_threshold,
        mac_only_encrypted: raw.mac_only_encrypted,
        aws_profile: raw.aws_profile.clone(),
        ..CreationRule::default()
    };
    let set: Vec<CryptRule> = raw
        .crypt
        .iter()
        .enumerate()
        .filter(|(_, v)| !v.is_empty())
        .filter_map(|(i, v)| CryptRule::from_field(CRYPT_RULE_FIELDS[i], v.clone()))
        .collect();
    if set.len() > 1 {
        rule.error = Some("cannot use more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex, or unencrypted_comment_regex for the same rule".to_string());
    }
    rule.crypt_rule = set.into_iter().next();
    if rule.error.is_some() {
        return rule;
    }

    if !raw.key_groups.is_empty() {
        rule.from_key_groups = true;
        rule.key_groups = raw.key_groups.into_iter().map(group_from_raw).collect();
        return rule;
    }

    // Keys listed directly: one group, in sops's order age, pgp, kms, gcp_kms, azure, vault.
    let mut group = KeyGroupSpec::default();
    let fields: [(&Dyn, &str, &str); 6] = [
        (&raw.age, "age", "age"),
        (&raw.pgp, "pgp", "pgp"),
        (&raw.kms, "kms", "kms"),
        (&raw.gcp_kms, "gcpkms", "gcp_kms"),
        (&raw.azure_keyvault, "azure_keyvault", "azure_keyvault"),
        (&raw.hc_vault_transit_uri, "vault", "hc_vault_transit_uri"),
    ];
    for (i, (value, key_type, field)) in fields.into_iter().enumerate() {
        let joined = match parse_key_field(value, field) {
            Ok(keys) => keys.join(","),
            Err(e) => {
                rule.error = Some(format!("invalid {key_type} key configuration: {e}"));
                return rule;
            }
        };
        match i {
            0 => group.age = split_age_recipients(&joined),
            1 => group.pgp = split_pgp_fingerprints(&joined),
            2 => group.kms = split_kms_arns(&joined, None, &raw.aws_profile),
            3 => group.gcp_kms = split_gcp_kms(&joined),
            4 => match split_azure_keyvault(&joined) {
                Ok(keys) => group.azure_keyvault = keys,
                Err(e) => {
                    rule.error = Some(e);
                    return rule;
                }
            },
            _ => group.hc_vault = split_hc_vault_uris(&joined),
        }
    }
    group.hckms = raw.hckms.iter().map(|k| k.trim().to_string()).collect();
    rule.key_groups = vec![group];
    rule
}

fn group_from_raw(raw: RawKeyGroup) -> KeyGroupSpec {
    let mut group = KeyGroupSpec::default();
    for sub in raw.merge {
        group.append(group_from_raw(sub));
    }
    for a in &raw.age {
        group.age.extend(split_age_recipients(a));
    }
    group.pgp.extend(raw.pgp.iter().map(|f| f.replace(' ', "")));
    group.kms.extend(raw.kms);
    group
        .gcp_kms
        .extend(raw.gcp_kms.iter().map(|r| r.replace(' ', "")));
    group.azure_keyvault.extend(raw.azure_keyvault);
    group
        .hc_vault
        .extend(raw.hc_vault.into_iter().filter(|u| !u.is_empty()));
    group.hckms.extend(raw.hckms);
    group.dedup();
    group
}

/// sops's `parseKeyField`: a string is split on commas, trimmed, empty pieces dropped; a
/// list must hold strings (kept as they are); null is empty.
fn parse_key_field(value: &Dyn, field: &str) -> Result<Vec<String>, String> {
    match value {
        Dyn::Nil => Ok(Vec::new()),
        Dyn::Str(s) => Ok(s
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_string)
            .collect()),
        Dyn::List(items) => items
            .iter()
            .map(|item| match item {
                Dyn::Str(s) => Ok(s.clone()),
                other => Err(format!(
                    "invalid {field} key configuration: expected string in list, got {}",
                    other.go_type()
                )),
            })
            .collect(),
        other => Err(format!(
            "invalid {field} key configuration: expected string, []string, or nil, got {}",
            other.go_type()
        )),
    }
}
