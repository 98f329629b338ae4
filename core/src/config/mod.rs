//! `.sops.yaml`: finding, parsing and rule matching, as sops 3.11 does it
//! (`config/config.go` and `cmd/sops/main.go`).
//!
//! # Which file
//! * `--config PATH` (a global flag, given before the subcommand) wins, then the
//!   `SOPS_CONFIG` environment variable (the flag's env fallback), then [`lookup_config`]
//!   from the **current directory** (not the file's directory): `./.sops.yaml`,
//!   `../.sops.yaml`, ... for [`MAX_LOOKUP_DEPTH`] (100) levels. Only `.sops.yaml` is read;
//!   a `.sops.yml` met on the way is never used, only reported in a warning
//!   ([`ConfigLookup::warning`], which sops logs once at warning level).
//! * An explicit path that cannot be read, or any config that does not parse ([`load`]
//!   fails), is an error for every command, `decrypt` included (the `stores` section is read
//!   for every command). A config that is not found by the lookup is not an error: sops
//!   proceeds without one. Problems inside a rule ([`Config::rule_for`] fails) only affect
//!   commands that select a rule (encrypt, edit, set, rotate, updatekeys).
//!
//! # Which rule
//! The file path is made absolute (Go's `filepath.Abs`, see [`absolute_path`]; for
//! `--filename-override` the override is used), then if it starts with
//! `<absolute config dir>/` that prefix is removed, so rules see paths relative to the
//! directory holding the config; files outside it keep their absolute path. The first
//! creation rule whose `path_regex` (Go RE2 syntax, unanchored, see [`go_regex`]) matches,
//! or that has no `path_regex`, is used. Regexes are compiled lazily in order, so a broken
//! regex after the matching rule is never noticed (as in sops). See [`Config::rule_for`].
//!
//! * `creation_rules` absent or `null`: the config counts as having no rules
//!   ([`Config::rule_for`] returns `Ok(None)`); sops then needs keys on the command line and
//!   otherwise fails with `config file not found, or has no creation rules, and no keys
//!   provided through command line options`.
//! * `creation_rules: []` (or only `null` entries): every lookup fails with
//!   `no matching creation rules found`, **even when keys are given on the command line**
//!   (sops loads the creation rule for every encrypt/edit/set/rotate before anything else).
//!   Plain `decrypt` does not look at creation rules.
//!
//! # Precedence of command-line flags (applied by the CLI, see `getEncryptConfig` and
//! `keyGroups` in sops's main.go)
//! * Keys: if any of `--age`, `--pgp`, `--kms`, `--gcp-kms`, `--azure-kv`,
//!   `--hc-vault-transit` is non-empty, the rule's keys are ignored completely and one key
//!   group is made from the flags only. Otherwise the rule's [`CreationRule::key_groups`].
//! * `--shamir-secret-sharing-threshold N` (N != 0) beats `shamir_threshold`.
//! * The six encryption rules are merged **field by field** (a flag replaces only the same
//!   field of the rule), then more than one set field is an error with exit code 8; see
//!   [`CryptRule::resolve`].
//! * `--mac-only-encrypted` or the rule's `mac_only_encrypted`: either one enables it.
//! * `--indent` beats `stores.*.indent`.
//!
//! # Errors and exit codes
//! All errors here exit with sops's generic code 1: `codes.go` defines
//! `ErrorReadingConfig = 5` and `ConfigFileNotFound = 61`, but sops 3.11 never uses them
//! (checked with the real binary). The one exception is the command-line/rule conflict of
//! [`CryptRule::resolve`], exit code 8 (`ErrorConflictingParameters`).
//!
//! Parsing follows go-yaml v3 as sops uses it (non-strict `yaml.Unmarshal`): unknown keys are
//! ignored; duplicate keys, wrong types (`shamir_threshold: abc`), a non-mapping top level
//! are errors; only the first YAML document is read; anchors, aliases and `<<` merges work;
//! quoted or plain scalars are accepted for string fields; YAML 1.1 `yes`/`no`/`on`/`off`
//! are accepted for booleans; ints may be written `0x10`, `0o7`, `0b1`, `1_000`, `2.0`.
//! Wrong types inside the key fields of a rule (`age: 123`) and a rule that sets more than
//! one encryption rule are only reported when that rule is selected, as in sops.

use std::collections::BTreeMap;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;

/// The only file name sops reads when searching for its config.
pub const CONFIG_FILE_NAME: &str = ".sops.yaml";
/// A name that sops does not read, but warns about when met during the lookup.
pub const ALTERNATE_CONFIG_FILE_NAME: &str = ".sops.yml";
/// How many directories [`lookup_config`] examines (the start directory and 99 parents).
pub const MAX_LOOKUP_DEPTH: usize = 100;
/// Environment variable that supplies `--config` when the flag is not given.
pub const CONFIG_ENV_VAR: &str = "SOPS_CONFIG";
/// Exit code of every [`ConfigError`] (sops's `codes.ErrorGeneric`).
pub const EXIT_CODE_CONFIG_ERROR: i32 = 1;
/// Exit code of a [`CryptRuleConflict`] (sops's `codes.ErrorConflictingParameters`).
pub const EXIT_CODE_CONFLICTING_PARAMETERS: i32 = 8;

mod decode;
mod nodes;
use decode::Decoder;
use nodes::read_first_document;
mod lookup;
mod rules;
use rules::resolve_rule;
#[cfg(test)]
mod tests;

pub use crate::go_regex::go_regex;
pub use lookup::*;
pub use rules::*;

// ---------------------------------------------------------------------------------------
// Public model
// ---------------------------------------------------------------------------------------

/// A parsed `.sops.yaml`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    /// The path it was read from (as given to [`load`]); used in error messages.
    pub path: PathBuf,
    /// `creation_rules`, in file order. `None` when the key is absent or `null`: sops then
    /// behaves as if there were no config file at all (see [`Config::rule_for`]).
    pub creation_rules: Option<Vec<CreationRule>>,
    /// `destination_rules` (used by `sops publish`), in file order.
    pub destination_rules: Vec<DestinationRule>,
    /// `stores`: per-format output settings.
    pub stores: StoresConfig,
}

/// `stores` section. Defaults as in sops's `NewStoresConfig`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoresConfig {
    /// `stores.yaml.indent`; 0 (the default) means the YAML store's default of 4.
    pub yaml_indent: i64,
    /// `stores.json.indent`; -1 (the default) means a tab.
    pub json_indent: i64,
    /// `stores.json_binary.indent`; -1 (the default) means a tab.
    pub json_binary_indent: i64,
}

impl Default for StoresConfig {
    fn default() -> Self {
        StoresConfig {
            yaml_indent: 0,
            json_indent: -1,
            json_binary_indent: -1,
        }
    }
}

/// One key group as the config describes it, before any key is parsed or contacted.
/// Within each list the order is sops's (merged groups first, then the group's own keys).
/// Key groups from `key_groups` are de-duplicated like sops (first occurrence kept, per
/// type); keys listed directly on a rule are not (sops does not either).
///
/// Strings are normalised as sops's constructors do: age recipients are trimmed, PGP
/// fingerprints, KMS ARNs and GCP resource IDs have spaces removed. Age recipients are not
/// validated here: an invalid or empty one (e.g. from `age: ['', key]`) must be rejected
/// by the age key source (`failed to parse input, unknown recipient type: ""`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyGroupSpec {
    /// age recipients (`age1...`, `ssh-ed25519 ...`, `ssh-rsa ...`, plugin recipients).
    pub age: Vec<String>,
    /// PGP fingerprints.
    pub pgp: Vec<String>,
    /// AWS KMS keys.
    pub kms: Vec<KmsKeySpec>,
    /// GCP KMS resource IDs.
    pub gcp_kms: Vec<String>,
    /// Azure Key Vault keys.
    pub azure_keyvault: Vec<AzureKeySpec>,
    /// HashiCorp Vault transit URIs (`https://vault:8200/v1/transit/keys/name`), unparsed.
    pub hc_vault: Vec<String>,
    /// HuaweiCloud KMS key IDs (`region:key-uuid`; sops 3.12, and the 3.11 binary has it).
    pub hckms: Vec<String>,
}

impl KeyGroupSpec {
    /// No key at all (sops fails such a group with `empty key group provided`).
    pub fn is_empty(&self) -> bool {
        self.age.is_empty()
            && self.pgp.is_empty()
            && self.kms.is_empty()
            && self.gcp_kms.is_empty()
            && self.azure_keyvault.is_empty()
            && self.hc_vault.is_empty()
            && self.hckms.is_empty()
    }

    /// Number of keys in the group.
    pub fn len(&self) -> usize {
        self.age.len()
            + self.pgp.len()
            + self.kms.len()
            + self.gcp_kms.len()
            + self.azure_keyvault.len()
            + self.hc_vault.len()
            + self.hckms.len()
    }

    fn append(&mut self, other: KeyGroupSpec) {
        self.age.extend(other.age);
        self.pgp.extend(other.pgp);
        self.kms.extend(other.kms);
        self.gcp_kms.extend(other.gcp_kms);
        self.azure_keyvault.extend(other.azure_keyvault);
        self.hc_vault.extend(other.hc_vault);
        self.hckms.extend(other.hckms);
    }

    fn dedup(&mut self) {
        fn dedup_vec<T: PartialEq + Clone>(v: &mut Vec<T>) {
            let mut out: Vec<T> = Vec::with_capacity(v.len());
            for item in v.drain(..) {
                if !out.contains(&item) {
                    out.push(item);
                }
            }
            *v = out;
        }
        dedup_vec(&mut self.age);
        dedup_vec(&mut self.pgp);
        dedup_vec(&mut self.kms);
        dedup_vec(&mut self.gcp_kms);
        dedup_vec(&mut self.azure_keyvault);
        dedup_vec(&mut self.hc_vault);
        dedup_vec(&mut self.hckms);
    }
}

/// An AWS KMS key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KmsKeySpec {
    /// The key ARN.
    pub arn: String,
    /// IAM role ARN to assume ("" for none).
    pub role: String,
    /// Encryption context (`context:` in a key group). `None` when not given. Keys listed
    /// directly on a rule get `None`: sops 3.11 passes a nil context when it loads the rule
    /// for encrypt/edit/set (the `--encryption-context` flag only applies to KMS keys given
    /// with `--kms`).
    pub context: Option<BTreeMap<String, Option<String>>>,
    /// AWS profile ("" for the default; a rule's `aws_profile` for directly listed keys).
    pub aws_profile: String,
}

/// An Azure Key Vault key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AzureKeySpec {
    /// `https://<vault>.vault.azure.net`.
    pub vault_url: String,
    /// Key name.
    pub key: String,
    /// Key version ("" = latest, which sops resolves by asking Azure).
    pub version: String,
}

/// A creation rule, with its keys resolved into key groups.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CreationRule {
    /// `path_regex` ("" = the rule matches every file).
    pub path_regex: String,
    /// One group when the rule lists keys directly (`age`, `pgp`, ...; possibly an empty
    /// group); one per entry of `key_groups` when that list is non-empty (the direct keys
    /// are then ignored, as in sops).
    pub key_groups: Vec<KeyGroupSpec>,
    /// `true` when the groups come from `key_groups` (metadata is then written as
    /// `key_groups:` only if there is more than one group, as for any file).
    pub from_key_groups: bool,
    /// `shamir_threshold`; 0 = not set (sops then uses the number of groups). Kept as
    /// written, even if negative or larger than the number of groups: `split` rejects those.
    pub shamir_threshold: i64,
    /// The rule's encryption rule, if it sets one (see [`CryptRule::resolve`]).
    pub crypt_rule: Option<CryptRule>,
    /// `mac_only_encrypted`.
    pub mac_only_encrypted: bool,
    /// `aws_profile` (applies to the directly listed `kms` keys).
    pub aws_profile: String,
    /// Deferred error: sops reports problems in a rule's key fields and a second encryption
    /// rule only when that rule is selected.
    error: Option<String>,
}

impl CreationRule {
    /// The error sops would report when this rule is selected (`None` if the rule is valid).
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
}

/// A destination rule (`sops publish`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DestinationRule {
    /// `path_regex`, matched against the path given to `publish` ("" matches every file).
    pub path_regex: String,
    /// `s3_bucket`.
    pub s3_bucket: String,
    /// `s3_prefix`.
    pub s3_prefix: String,
    /// `gcs_bucket`.
    pub gcs_bucket: String,
    /// `gcs_prefix`.
    pub gcs_prefix: String,
    /// `vault_path`.
    pub vault_path: String,
    /// `vault_address`.
    pub vault_address: String,
    /// `vault_kv_mount_name`.
    pub vault_kv_mount_name: String,
    /// `vault_kv_version`.
    pub vault_kv_version: i64,
    /// `recreation_rule`: the keys to re-encrypt with before publishing.
    pub recreation_rule: CreationRule,
    /// `omit_extensions`.
    pub omit_extensions: bool,
}

/// Everything that can go wrong reading a config or selecting a rule. Every message is
/// sops's, on one line, with the config file named after it. All exit with code 1 in sops
/// ([`ConfigError::exit_code`]).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read (missing `--config` target, a directory, permissions).
    #[error("could not read config file: {}", read_reason(.path, .source))]
    Read {
        /// Config path.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// Not valid YAML.
    #[error("error loading config: Could not unmarshal config file: {message} (in {})", .path.display())]
    Syntax {
        /// Config path.
        path: PathBuf,
        /// go-yaml's message (`yaml: line 3: did not find expected key`).
        message: String,
    },
    /// Valid YAML of the wrong shape: sops's `yaml: unmarshal errors` (all of them, joined
    /// with `; `), e.g. `line 3: cannot unmarshal !!str `abc` into int`.
    #[error("error loading config: Could not unmarshal config file: yaml: unmarshal errors: {} (in {})", .errors.join("; "), .path.display())]
    Types {
        /// Config path.
        path: PathBuf,
        /// One entry per problem, `line N: ...`.
        errors: Vec<String>,
    },
    /// Aliases that would expand far beyond the file (an alias bomb): go-yaml's guard.
    #[error("error loading config: Could not unmarshal config file: yaml: document contains excessive aliasing (in {})", .path.display())]
    ExcessiveAliasing {
        /// Config path.
        path: PathBuf,
    },
    /// No creation rule matches the file.
    #[error("error loading config: no matching creation rules found (in {})", .path.display())]
    NoMatchingRule {
        /// Config path.
        path: PathBuf,
    },
    /// A `path_regex` tried before the match does not compile: sops's words, which quote
    /// the regex and not the file.
    #[error("can not compile regexp: {message}")]
    BadPathRegex {
        /// Config path.
        path: PathBuf,
        /// The regex as written.
        regex: String,
        /// Go's complaint (`error parsing regexp: missing closing ): `(a``).
        message: String,
    },
    /// The selected rule is invalid (two encryption rules, a key field of the wrong type,
    /// an unparsable Azure URL); the message is sops's.
    #[error("error loading config: {message} (in {})", .path.display())]
    InvalidRule {
        /// Config path.
        path: PathBuf,
        /// sops's message.
        message: String,
    },
    /// No destination rule matches (`publish`).
    #[error("error loading config: no matching destination found in config (in {})", .path.display())]
    NoMatchingDestination {
        /// Config path.
        path: PathBuf,
    },
    /// The matching destination rule names several destinations.
    #[error("error loading config: more than one destinations were found in a single destination rule, you can only use one per rule (in {})", .path.display())]
    MultipleDestinations {
        /// Config path.
        path: PathBuf,
    },
}

/// How Go's `os.ReadFile` says it could not read `path`.
fn read_reason(path: &Path, e: &io::Error) -> String {
    let reason = crate::goerr::io_reason(e);
    if e.kind() == io::ErrorKind::IsADirectory {
        format!("read {}: {reason}", path.display())
    } else {
        format!("open {}: {reason}", path.display())
    }
}

impl ConfigError {
    /// Exit code sops uses: always 1 (`codes.ErrorGeneric`).
    pub fn exit_code(&self) -> i32 {
        EXIT_CODE_CONFIG_ERROR
    }
}

/// Reads and parses a config file (see the module docs for the YAML rules).
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let bytes = crate::safefs::read_file_bounded(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_bytes(bytes, path)
}

/// [`parse`] of the file's bytes, decoded as go-yaml decodes them (its errors for bytes
/// that are not UTF-8, or characters YAML forbids, as sops reports them).
pub fn parse_bytes(bytes: Vec<u8>, path: &Path) -> Result<Config, ConfigError> {
    let text = crate::stores::yaml::decode_owned(bytes).map_err(|message| ConfigError::Syntax {
        path: path.to_path_buf(),
        message,
    })?;
    parse(&text, path)
}

/// Parses config text; `path` is only used for [`Config::path`] and error messages.
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let root = read_first_document(text).map_err(|message| ConfigError::Syntax {
        path: path.to_path_buf(),
        message,
    })?;
    let mut d = Decoder::default();
    let raw = d.config_file(root.as_ref());
    if d.excessive_aliasing {
        return Err(ConfigError::ExcessiveAliasing {
            path: path.to_path_buf(),
        });
    }
    if !d.errors.is_empty() {
        return Err(ConfigError::Types {
            path: path.to_path_buf(),
            errors: d.errors,
        });
    }
    Ok(Config {
        path: path.to_path_buf(),
        creation_rules: raw
            .creation_rules
            .map(|rules| rules.into_iter().map(resolve_rule).collect()),
        destination_rules: raw
            .destination_rules
            .into_iter()
            .map(|r| DestinationRule {
                path_regex: r.path_regex,
                s3_bucket: r.s3_bucket,
                s3_prefix: r.s3_prefix,
                gcs_bucket: r.gcs_bucket,
                gcs_prefix: r.gcs_prefix,
                vault_path: r.vault_path,
                vault_address: r.vault_address,
                vault_kv_mount_name: r.vault_kv_mount_name,
                vault_kv_version: r.vault_kv_version,
                recreation_rule: resolve_rule(r.recreation_rule),
                omit_extensions: r.omit_extensions,
            })
            .collect(),
        stores: raw.stores,
    })
}
