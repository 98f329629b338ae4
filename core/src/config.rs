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
use saphyr_parser::{Event, Parser, ScalarStyle, Tag};

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

// ---------------------------------------------------------------------------------------
// Lookup
// ---------------------------------------------------------------------------------------

/// Result of [`lookup_config`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigLookup {
    /// The config found, spelled as sops spells it: `start_dir` joined with `..` components
    /// and lexically cleaned (from `.`: `.sops.yaml`, `../.sops.yaml`, ...).
    pub path: Option<PathBuf>,
    /// sops's warning about an ignored `.sops.yml` (the nearest one below the config, or
    /// anywhere on the way if none was found). sops logs it at warning level.
    pub warning: Option<String>,
}

/// Looks for `.sops.yaml` in `start_dir` and its parents, exactly like sops's
/// `LookupConfigFile`: [`MAX_LOOKUP_DEPTH`] candidates `start_dir/.sops.yaml`,
/// `start_dir/../.sops.yaml`, ..., built lexically (like Go's `path.Join`) and tested with
/// `stat` (so a directory named `.sops.yaml` counts, and fails later when read).
///
/// sops always starts at `.` (the current directory). Pass `Path::new(".")` to get the
/// same relative spelling and the same resolution of `..` through symlinks (done by the
/// kernel, relative to the real working directory). Unlike sops's function, `start_dir` is
/// the directory itself (sops takes `path.Dir` of its argument, and `path.Dir(".") == "."`).
pub fn lookup_config(start_dir: &Path) -> ConfigLookup {
    let mut dir = clean_path(start_dir);
    let mut alternate: Option<PathBuf> = None;
    for _ in 0..MAX_LOOKUP_DEPTH {
        let candidate = clean_path(&dir.join(CONFIG_FILE_NAME));
        if std::fs::metadata(&candidate).is_ok() {
            let warning = alternate.map(|alt| {
                format!(
                    "ignoring {:?} when searching for config file; the config file must be called {:?}; using {:?} instead",
                    alt.to_string_lossy(),
                    CONFIG_FILE_NAME,
                    candidate.to_string_lossy()
                )
            });
            return ConfigLookup {
                path: Some(candidate),
                warning,
            };
        }
        if alternate.is_none() {
            let alt = clean_path(&dir.join(ALTERNATE_CONFIG_FILE_NAME));
            if std::fs::metadata(&alt).is_ok() {
                alternate = Some(alt);
            }
        }
        let parent = clean_path(&dir.join(".."));
        if parent == dir {
            // At the root: sops stats the same file for the remaining levels.
            break;
        }
        dir = parent;
    }
    ConfigLookup {
        path: None,
        warning: alternate.map(|alt| {
            format!(
                "ignoring {:?} when searching for config file; the config file must be called {:?}",
                alt.to_string_lossy(),
                CONFIG_FILE_NAME
            )
        }),
    }
}

/// [`lookup_config`] without the warning: the path of the `.sops.yaml` sops would use.
pub fn find_config(start_dir: &Path) -> Option<PathBuf> {
    lookup_config(start_dir).path
}

/// The outcome of [`choose_config`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigChoice {
    /// The config file to load, if any.
    pub path: Option<PathBuf>,
    /// `true` when the path came from `--config` or `SOPS_CONFIG`: it must then be
    /// readable (a missing file is an error). A looked-up path always exists.
    pub explicit: bool,
    /// The `.sops.yml` warning of the lookup (see [`ConfigLookup::warning`]).
    pub warning: Option<String>,
}

/// Which config file sops uses: `--config` if given and non-empty, else `SOPS_CONFIG`
/// (pass `std::env::var_os(CONFIG_ENV_VAR)`; empty counts as unset), else
/// [`lookup_config`] from `.` (the current directory). `path: None` means "no config":
/// sops then needs keys on the command line.
pub fn choose_config(flag: Option<&Path>, env: Option<&std::ffi::OsStr>) -> ConfigChoice {
    if let Some(p) = flag.filter(|p| !p.as_os_str().is_empty()) {
        return ConfigChoice {
            path: Some(p.to_path_buf()),
            explicit: true,
            warning: None,
        };
    }
    if let Some(p) = env.filter(|p| !p.is_empty()) {
        return ConfigChoice {
            path: Some(PathBuf::from(p)),
            explicit: true,
            warning: None,
        };
    }
    let found = lookup_config(Path::new("."));
    ConfigChoice {
        path: found.path,
        explicit: false,
        warning: found.warning,
    }
}

/// Lexical path cleaning with Go's `path.Clean` rules: drops `.` components, resolves
/// `..` against a preceding normal component (at the root `..` is dropped; leading `..` of
/// a relative path is kept), and an empty result becomes `.`.
pub fn clean_path(p: &Path) -> PathBuf {
    let mut parts: Vec<Component<'_>> = Vec::new();
    let mut rooted = false;
    let mut prefix: Option<Component<'_>> = None;
    for c in p.components() {
        match c {
            Component::Prefix(_) => prefix = Some(c),
            Component::RootDir => rooted = true,
            Component::CurDir => {}
            Component::ParentDir => match parts.last() {
                Some(Component::Normal(_)) => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(c),
            },
            Component::Normal(_) => parts.push(c),
        }
    }
    let mut out = PathBuf::new();
    if let Some(pre) = prefix {
        out.push(pre.as_os_str());
    }
    if rooted {
        out.push(Component::RootDir.as_os_str());
    }
    for c in &parts {
        out.push(c.as_os_str());
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// The working directory as Go's `os.Getwd` reports it: `$PWD` when it is absolute and
/// names the same directory as `.` (so a symlinked working directory keeps its symlink
/// spelling, as in sops), else the kernel's `getcwd`.
pub fn go_getwd() -> io::Result<PathBuf> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let Some(pwd) = std::env::var_os("PWD") {
            let pwd = PathBuf::from(pwd);
            if pwd.is_absolute() {
                if let (Ok(a), Ok(b)) = (std::fs::metadata(&pwd), std::fs::metadata(".")) {
                    if a.dev() == b.dev() && a.ino() == b.ino() {
                        return Ok(pwd);
                    }
                }
            }
        }
    }
    std::env::current_dir()
}

/// Go's `filepath.Abs`: a cleaned absolute path, joined lexically onto [`go_getwd`]
/// (symlinks are not resolved). sops applies this to the file argument (or
/// `--filename-override`) before matching creation rules.
pub fn absolute_path(p: &Path) -> io::Result<PathBuf> {
    if p.is_absolute() {
        return Ok(clean_path(p));
    }
    Ok(clean_path(&go_getwd()?.join(p)))
}

/// The directory creation rules are relative to: `filepath.Abs(filepath.Dir(config_path))`.
pub fn config_dir(config_path: &Path) -> io::Result<PathBuf> {
    let parent = match config_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    absolute_path(parent)
}

// ---------------------------------------------------------------------------------------
// Regex with Go RE2 semantics
// ---------------------------------------------------------------------------------------

/// Compiles a Go (RE2) regular expression with the `regex` crate so that it matches like
/// Go's `regexp`. Use it for `path_regex` and for the `*_regex` encryption rules.
///
/// Differences bridged: Go's Perl classes `\d`, `\w`, `\s` (and negations) and the word
/// boundaries `\b`/`\B` are ASCII-only, the `regex` crate's are Unicode-aware, so they are
/// rewritten to ASCII forms; inside a bracket expression Go takes `[`, `&` and `~`
/// literally, while the `regex` crate would read nested classes or set operations, so
/// they are escaped (POSIX classes like `[:alpha:]` are kept); octal escapes (`\123`) are
/// enabled as in Go. Everything else is the same syntax.
pub fn go_regex(pattern: &str) -> Result<Regex, regex::Error> {
    regex::RegexBuilder::new(&translate_go_regex(pattern))
        .octal(true)
        .build()
}

fn translate_go_regex(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    let mut class_start = false; // just after '[' or '[^': a ']' there is literal
    while let Some(c) = chars.next() {
        let at_class_start = std::mem::replace(&mut class_start, false);
        match c {
            '\\' => {
                let Some(n) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let rep = match (n, in_class) {
                    ('d', false) => "[0-9]",
                    ('d', true) => "0-9",
                    ('D', _) => "[^0-9]",
                    ('w', false) => "[0-9A-Za-z_]",
                    ('w', true) => "0-9A-Za-z_",
                    ('W', _) => "[^0-9A-Za-z_]",
                    ('s', false) => "[\\t\\n\\x0C\\r ]",
                    ('s', true) => "\\t\\n\\x0C\\r ",
                    ('S', _) => "[^\\t\\n\\x0C\\r ]",
                    ('b', false) => "(?-u:\\b)",
                    ('B', false) => "(?-u:\\B)",
                    _ => {
                        out.push('\\');
                        out.push(n);
                        continue;
                    }
                };
                out.push_str(rep);
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    out.push('^');
                }
                class_start = true;
            }
            '[' => {
                if chars.peek() == Some(&':') {
                    // A POSIX class such as [:alpha:]: copy it through its closing ":]".
                    let rest: String = chars.clone().collect();
                    if let Some(end) = rest.find(":]") {
                        out.push('[');
                        out.push_str(&rest[..end + 2]);
                        for _ in 0..rest[..end + 2].chars().count() {
                            chars.next();
                        }
                        continue;
                    }
                }
                out.push_str("\\[");
            }
            ']' if in_class && !at_class_start => {
                in_class = false;
                out.push(']');
            }
            '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// One-line text of a `regex` error (the crate's syntax errors span several lines).
fn regex_error_text(e: &regex::Error) -> String {
    let text = e.to_string();
    match text.lines().rev().find(|l| l.starts_with("error: ")) {
        Some(l) => l["error: ".len()..].to_string(),
        None => text.lines().collect::<Vec<_>>().join(" "),
    }
}

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

/// Which values get encrypted: the engine's rule type (`crate::walk::CryptRule`),
/// re-exported here because a creation rule may set one. Its `Default` is
/// `UnencryptedSuffix("_unencrypted")`; see [`CryptRule::resolve`] for how the command line
/// and the config combine.
pub use crate::walk::CryptRule;

/// sops's `DefaultUnencryptedSuffix`.
pub const DEFAULT_UNENCRYPTED_SUFFIX: &str = "_unencrypted";

/// The six kinds of [`CryptRule`], in the order sops counts them.
const CRYPT_RULE_FIELDS: [&str; 6] = [
    "unencrypted_suffix",
    "encrypted_suffix",
    "unencrypted_regex",
    "encrypted_regex",
    "unencrypted_comment_regex",
    "encrypted_comment_regex",
];

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
    }

    /// Number of keys in the group.
    pub fn len(&self) -> usize {
        self.age.len()
            + self.pgp.len()
            + self.kms.len()
            + self.gcp_kms.len()
            + self.azure_keyvault.len()
            + self.hc_vault.len()
    }

    fn append(&mut self, other: KeyGroupSpec) {
        self.age.extend(other.age);
        self.pgp.extend(other.pgp);
        self.kms.extend(other.kms);
        self.gcp_kms.extend(other.gcp_kms);
        self.azure_keyvault.extend(other.azure_keyvault);
        self.hc_vault.extend(other.hc_vault);
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

/// Everything that can go wrong reading a config or selecting a rule. Every message is one
/// line naming the config file. All exit with code 1 in sops ([`ConfigError::exit_code`]).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read (missing `--config` target, a directory, permissions).
    #[error("could not read config file {}: {source}", .path.display())]
    Read {
        /// Config path.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// Not valid YAML.
    #[error("error loading config file {}: yaml: line {line}: {message}", .path.display())]
    Syntax {
        /// Config path.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What the parser complained about.
        message: String,
    },
    /// Valid YAML of the wrong shape: sops's `yaml: unmarshal errors` (all of them, joined
    /// with `; `), e.g. `line 3: cannot unmarshal !!str `abc` into int`.
    #[error("error loading config file {}: yaml: unmarshal errors: {}", .path.display(), .errors.join("; "))]
    Types {
        /// Config path.
        path: PathBuf,
        /// One entry per problem, `line N: ...`.
        errors: Vec<String>,
    },
    /// No creation rule matches the file.
    #[error("error loading config file {}: no matching creation rules found", .path.display())]
    NoMatchingRule {
        /// Config path.
        path: PathBuf,
    },
    /// A `path_regex` tried before the match does not compile.
    #[error("error loading config file {}: can not compile regexp {regex:?}: {message}", .path.display())]
    BadPathRegex {
        /// Config path.
        path: PathBuf,
        /// The regex as written.
        regex: String,
        /// The compiler's complaint.
        message: String,
    },
    /// The selected rule is invalid (two encryption rules, a key field of the wrong type,
    /// an unparsable Azure URL); the message is sops's.
    #[error("error loading config file {}: {message}", .path.display())]
    InvalidRule {
        /// Config path.
        path: PathBuf,
        /// sops's message.
        message: String,
    },
    /// No destination rule matches (`publish`).
    #[error("error loading config file {}: no matching destination found in config", .path.display())]
    NoMatchingDestination {
        /// Config path.
        path: PathBuf,
    },
    /// The matching destination rule names several destinations.
    #[error("error loading config file {}: more than one destinations were found in a single destination rule, you can only use one per rule", .path.display())]
    MultipleDestinations {
        /// Config path.
        path: PathBuf,
    },
}

impl ConfigError {
    /// Exit code sops uses: always 1 (`codes.ErrorGeneric`).
    pub fn exit_code(&self) -> i32 {
        EXIT_CODE_CONFIG_ERROR
    }
}

/// Reads and parses a config file (see the module docs for the YAML rules).
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8_lossy(&bytes);
    parse(&text, path)
}

/// Parses config text; `path` is only used for [`Config::path`] and error messages.
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let root = read_first_document(text).map_err(|(line, message)| ConfigError::Syntax {
        path: path.to_path_buf(),
        line,
        message,
    })?;
    let mut d = Decoder::default();
    let raw = d.config_file(root.as_ref());
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
                let re = go_regex(&rule.path_regex).map_err(|e| ConfigError::BadPathRegex {
                    path: self.path.clone(),
                    regex: rule.path_regex.clone(),
                    message: regex_error_text(&e),
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

fn resolve_rule(raw: RawCreationRule) -> CreationRule {
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

// ---------------------------------------------------------------------------------------
// YAML: node tree from saphyr events (first document only)
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum NodeKind {
    Scalar {
        value: String,
        style: ScalarStyle,
        tag: Option<String>,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone)]
struct Node {
    kind: NodeKind,
    line: usize,
}

fn short_tag(tag: &Tag) -> String {
    if tag.handle == "tag:yaml.org,2002:" {
        format!("!!{}", tag.suffix)
    } else if tag.handle == "!" || tag.handle.is_empty() {
        format!("!{}", tag.suffix.trim_start_matches('!'))
    } else {
        format!("{}{}", tag.handle, tag.suffix)
    }
}

type ParseError = (usize, String);

fn read_first_document(text: &str) -> Result<Option<Node>, ParseError> {
    let mut parser = Parser::new_from_str(text);
    let mut anchors: BTreeMap<usize, Node> = BTreeMap::new();
    loop {
        let event = match parser.next_event() {
            None => return Ok(None),
            Some(Ok((e, _))) => e,
            Some(Err(e)) => return Err((e.marker().line(), e.info().to_string())),
        };
        match event {
            Event::StreamEnd => return Ok(None),
            // Only the first document counts; later ones are never parsed (as in sops).
            Event::DocumentStart(_) => return read_node(&mut parser, &mut anchors).map(Some),
            _ => {}
        }
    }
}

fn next<'a>(
    parser: &mut Parser<'a, saphyr_parser::StrInput<'a>>,
) -> Result<(Event<'a>, usize), ParseError> {
    match parser.next_event() {
        None => Err((0, "unexpected end of input".to_string())),
        Some(Ok((e, span))) => Ok((e, span.start.line())),
        Some(Err(e)) => Err((e.marker().line(), e.info().to_string())),
    }
}

fn read_node<'a>(
    parser: &mut Parser<'a, saphyr_parser::StrInput<'a>>,
    anchors: &mut BTreeMap<usize, Node>,
) -> Result<Node, ParseError> {
    let (event, line) = next(parser)?;
    read_node_from(event, line, parser, anchors)
}

fn read_node_from<'a>(
    event: Event<'a>,
    line: usize,
    parser: &mut Parser<'a, saphyr_parser::StrInput<'a>>,
    anchors: &mut BTreeMap<usize, Node>,
) -> Result<Node, ParseError> {
    let (node, anchor) = match event {
        Event::Scalar(value, style, anchor, tag) => (
            Node {
                kind: NodeKind::Scalar {
                    value: value.into_owned(),
                    style,
                    tag: tag.map(|t| short_tag(&t)),
                },
                line,
            },
            anchor,
        ),
        Event::Alias(id) => {
            let node = anchors
                .get(&id)
                .cloned()
                .ok_or((line, "unknown anchor".to_string()))?;
            return Ok(node);
        }
        Event::SequenceStart(anchor, _tag) => {
            let mut items = Vec::new();
            loop {
                let (e, l) = next(parser)?;
                if matches!(e, Event::SequenceEnd) {
                    break;
                }
                items.push(read_node_from(e, l, parser, anchors)?);
            }
            (
                Node {
                    kind: NodeKind::Seq(items),
                    line,
                },
                anchor,
            )
        }
        Event::MappingStart(anchor, _tag) => {
            let mut pairs = Vec::new();
            loop {
                let (e, l) = next(parser)?;
                if matches!(e, Event::MappingEnd) {
                    break;
                }
                let key = read_node_from(e, l, parser, anchors)?;
                let value = read_node(parser, anchors)?;
                pairs.push((key, value));
            }
            (
                Node {
                    kind: NodeKind::Map(pairs),
                    line,
                },
                anchor,
            )
        }
        other => return Err((line, format!("unexpected YAML event {other:?}"))),
    };
    if anchor != 0 {
        anchors.insert(anchor, node.clone());
    }
    Ok(node)
}

// ---------------------------------------------------------------------------------------
// YAML: go-yaml v3 scalar resolution and decoding into the config structure
// ---------------------------------------------------------------------------------------

/// A resolved scalar (go-yaml v3 `resolve`).
#[derive(Debug, Clone, PartialEq)]
enum Resolved {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(String),
    /// Looks like a timestamp; decoded as a string into `interface{}`.
    Timestamp(String),
    /// `<<`.
    Merge,
}

impl Resolved {
    fn tag(&self) -> &'static str {
        match self {
            Resolved::Null => "!!null",
            Resolved::Bool(_) => "!!bool",
            Resolved::Int(_) | Resolved::Uint(_) => "!!int",
            Resolved::Float(_) => "!!float",
            Resolved::Str(_) => "!!str",
            Resolved::Timestamp(_) => "!!timestamp",
            Resolved::Merge => "!!merge",
        }
    }
}

fn go_parse_int(s: &str) -> Option<i128> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return None;
    }
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = u128::from_str_radix(digits, radix).ok()?;
    if v > u64::MAX as u128 {
        return None;
    }
    Some(if neg { -(v as i128) } else { v as i128 })
}

fn looks_like_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    static TS: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)?$",
        )
        .expect("static regex")
    });
    TS.is_match(s)
}

fn resolve_plain(value: &str) -> Resolved {
    match value {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        "<<" => return Resolved::Merge,
        _ => {}
    }
    let first = value.as_bytes()[0];
    if first.is_ascii_digit() || first == b'+' || first == b'-' {
        if looks_like_timestamp(value) {
            return Resolved::Timestamp(value.to_string());
        }
        let plain = value.replace('_', "");
        if let Some(v) = go_parse_int(&plain) {
            return if v >= i64::MIN as i128 && v <= i64::MAX as i128 {
                Resolved::Int(v as i64)
            } else if v >= 0 {
                Resolved::Uint(v as u64)
            } else {
                Resolved::Str(value.to_string())
            };
        }
        static FLOAT: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
                .expect("static regex")
        });
        if FLOAT.is_match(&plain) {
            if let Ok(f) = plain.parse::<f64>() {
                return Resolved::Float(f);
            }
        }
    } else if first == b'.' {
        if let Ok(f) = value.parse::<f64>() {
            return Resolved::Float(f);
        }
    }
    Resolved::Str(value.to_string())
}

/// A value decoded into Go's `interface{}`; only what `parseKeyField` distinguishes.
#[derive(Debug, Clone, PartialEq, Default)]
enum Dyn {
    #[default]
    Nil,
    Str(String),
    List(Vec<Dyn>),
    /// Anything else, by its Go type name (`int`, `bool`, `map[string]interface {}`, ...).
    Other(&'static str),
}

impl Dyn {
    fn go_type(&self) -> &'static str {
        match self {
            Dyn::Nil => "<nil>",
            Dyn::Str(_) => "string",
            Dyn::List(_) => "[]interface {}",
            Dyn::Other(t) => t,
        }
    }
}

#[derive(Debug, Default)]
struct RawConfigFile {
    creation_rules: Option<Vec<RawCreationRule>>,
    destination_rules: Vec<RawDestinationRule>,
    stores: StoresConfig,
}

#[derive(Debug, Default, Clone)]
struct RawCreationRule {
    path_regex: String,
    kms: Dyn,
    aws_profile: String,
    age: Dyn,
    pgp: Dyn,
    gcp_kms: Dyn,
    azure_keyvault: Dyn,
    hc_vault_transit_uri: Dyn,
    key_groups: Vec<RawKeyGroup>,
    shamir_threshold: i64,
    /// In [`CRYPT_RULE_FIELDS`] order.
    crypt: [String; 6],
    mac_only_encrypted: bool,
}

#[derive(Debug, Default, Clone)]
struct RawKeyGroup {
    merge: Vec<RawKeyGroup>,
    kms: Vec<KmsKeySpec>,
    gcp_kms: Vec<String>,
    azure_keyvault: Vec<AzureKeySpec>,
    hc_vault: Vec<String>,
    age: Vec<String>,
    pgp: Vec<String>,
}

#[derive(Debug, Default)]
struct RawDestinationRule {
    path_regex: String,
    s3_bucket: String,
    s3_prefix: String,
    gcs_bucket: String,
    gcs_prefix: String,
    vault_path: String,
    vault_address: String,
    vault_kv_mount_name: String,
    vault_kv_version: i64,
    recreation_rule: RawCreationRule,
    omit_extensions: bool,
}

/// Decodes nodes like go-yaml v3's decoder, collecting its type errors.
#[derive(Default)]
struct Decoder {
    errors: Vec<String>,
}

impl Decoder {
    /// Resolves a scalar node: quoted and block scalars are strings, `!!str` too; plain
    /// scalars go through YAML 1.2 core resolution plus go-yaml's extras.
    fn resolve(&mut self, node: &Node) -> Option<(Resolved, String)> {
        let NodeKind::Scalar { value, style, tag } = &node.kind else {
            return None;
        };
        let plain = matches!(style, ScalarStyle::Plain);
        let resolved = match tag.as_deref() {
            Some("!!str") | Some("!!binary") => Resolved::Str(value.clone()),
            Some(t @ ("!!int" | "!!float" | "!!bool" | "!!null" | "!!timestamp")) => {
                let r = resolve_plain(value);
                let r = match (t, r) {
                    ("!!float", Resolved::Int(i)) => Resolved::Float(i as f64),
                    ("!!timestamp", Resolved::Str(s)) => Resolved::Timestamp(s),
                    (_, r) => r,
                };
                if r.tag() != t {
                    self.errors.push(format!(
                        "line {}: cannot decode {} `{}` as a {}",
                        node.line,
                        r.tag(),
                        value,
                        t
                    ));
                    return None;
                }
                r
            }
            Some(_) => Resolved::Str(value.clone()),
            None if plain => resolve_plain(value),
            None => Resolved::Str(value.clone()),
        };
        let shown_tag = match tag.as_deref() {
            Some(t) => t.to_string(),
            None => resolved.tag().to_string(),
        };
        Some((resolved, shown_tag))
    }

    fn type_error(&mut self, node: &Node, tag: &str, target: &str) {
        let value = match &node.kind {
            NodeKind::Scalar { value, .. } => {
                if value.len() > 10 {
                    let mut end = 7;
                    while !value.is_char_boundary(end) {
                        end -= 1;
                    }
                    format!(" `{}...`", &value[..end])
                } else {
                    format!(" `{value}`")
                }
            }
            _ => String::new(),
        };
        self.errors.push(format!(
            "line {}: cannot unmarshal {tag}{value} into {target}",
            node.line
        ));
    }

    fn kind_tag(node: &Node) -> &'static str {
        match node.kind {
            NodeKind::Seq(_) => "!!seq",
            NodeKind::Map(_) => "!!map",
            NodeKind::Scalar { .. } => "!!str",
        }
    }

    /// Decodes into a Go `string`; `None` leaves the target unchanged (null or error).
    fn string(&mut self, node: &Node) -> Option<String> {
        match &node.kind {
            NodeKind::Scalar { value, .. } => {
                let (resolved, _) = self.resolve(node)?;
                match resolved {
                    Resolved::Null => None,
                    _ => Some(value.clone()),
                }
            }
            _ => {
                self.type_error(node, Self::kind_tag(node), "string");
                None
            }
        }
    }

    /// Decodes into a Go `int`.
    fn int(&mut self, node: &Node) -> Option<i64> {
        if !matches!(node.kind, NodeKind::Scalar { .. }) {
            self.type_error(node, Self::kind_tag(node), "int");
            return None;
        }
        let (resolved, tag) = self.resolve(node)?;
        match resolved {
            Resolved::Null => None,
            Resolved::Int(i) => Some(i),
            Resolved::Uint(u) if u <= i64::MAX as u64 => Some(u as i64),
            Resolved::Float(f) if f <= i64::MAX as f64 => Some(f as i64),
            _ => {
                self.type_error(node, &tag, "int");
                None
            }
        }
    }

    /// Decodes into a Go `bool` (with go-yaml v3's YAML 1.1 compatibility words).
    fn bool(&mut self, node: &Node) -> Option<bool> {
        if !matches!(node.kind, NodeKind::Scalar { .. }) {
            self.type_error(node, Self::kind_tag(node), "bool");
            return None;
        }
        let (resolved, tag) = self.resolve(node)?;
        match resolved {
            Resolved::Null => None,
            Resolved::Bool(b) => Some(b),
            Resolved::Str(s) => match s.as_str() {
                "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
                "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
                _ => {
                    self.type_error(node, &tag, "bool");
                    None
                }
            },
            _ => {
                self.type_error(node, &tag, "bool");
                None
            }
        }
    }

    /// Decodes into Go's `interface{}`.
    fn dynamic(&mut self, node: &Node) -> Dyn {
        match &node.kind {
            NodeKind::Scalar { .. } => match self.resolve(node) {
                None => Dyn::Nil,
                Some((r, _)) => match r {
                    Resolved::Null => Dyn::Nil,
                    Resolved::Str(s) | Resolved::Timestamp(s) => Dyn::Str(s),
                    Resolved::Bool(_) => Dyn::Other("bool"),
                    Resolved::Int(_) => Dyn::Other("int"),
                    Resolved::Uint(_) => Dyn::Other("uint64"),
                    Resolved::Float(_) => Dyn::Other("float64"),
                    Resolved::Merge => Dyn::Str("<<".to_string()),
                },
            },
            NodeKind::Seq(items) => Dyn::List(items.iter().map(|i| self.dynamic(i)).collect()),
            NodeKind::Map(_) => Dyn::Other("map[string]interface {}"),
        }
    }

    /// Decodes a sequence into a Go slice. `None` for null (slice stays nil) or a type
    /// error. Elements that decode to nothing (null into a struct or string) are dropped,
    /// as go-yaml does.
    fn seq<T>(
        &mut self,
        node: &Node,
        type_name: &str,
        mut item: impl FnMut(&mut Self, &Node) -> Option<T>,
    ) -> Option<Vec<T>> {
        match &node.kind {
            NodeKind::Seq(items) => Some(items.iter().filter_map(|n| item(self, n)).collect()),
            NodeKind::Scalar { .. } => {
                let (resolved, tag) = self.resolve(node)?;
                if resolved != Resolved::Null {
                    self.type_error(node, &tag, type_name);
                }
                None
            }
            NodeKind::Map(_) => {
                self.type_error(node, "!!map", type_name);
                None
            }
        }
    }

    /// The key/value pairs of a mapping after `<<` merges (own keys win; among merged maps
    /// the earlier wins), with go-yaml's duplicate-key errors. `None` for null or a type
    /// error (for `type_name`).
    fn mapping<'n>(&mut self, node: &'n Node, type_name: &str) -> Option<Vec<(String, &'n Node)>> {
        let pairs = match &node.kind {
            NodeKind::Map(pairs) => pairs,
            NodeKind::Scalar { .. } => {
                let (resolved, tag) = self.resolve(node)?;
                if resolved != Resolved::Null {
                    self.type_error(node, &tag, type_name);
                }
                return None;
            }
            NodeKind::Seq(_) => {
                self.type_error(node, "!!seq", type_name);
                return None;
            }
        };
        // Duplicate keys: same kind and same text.
        for (i, (ki, _)) in pairs.iter().enumerate() {
            for (kj, _) in &pairs[i + 1..] {
                if let (NodeKind::Scalar { value: a, .. }, NodeKind::Scalar { value: b, .. }) =
                    (&ki.kind, &kj.kind)
                {
                    if a == b {
                        self.errors.push(format!(
                            "line {}: mapping key {:?} already defined at line {}",
                            kj.line, b, ki.line
                        ));
                    }
                }
            }
        }
        let mut own: Vec<(String, &'n Node)> = Vec::new();
        let mut merged: Vec<(String, &'n Node)> = Vec::new();
        for (k, v) in pairs {
            let is_merge = matches!(&k.kind, NodeKind::Scalar { value, style: ScalarStyle::Plain, tag: None } if value == "<<");
            if is_merge {
                let sources: Vec<&Node> = match &v.kind {
                    NodeKind::Map(_) => vec![v],
                    NodeKind::Seq(items) => items.iter().collect(),
                    _ => {
                        self.errors.push(format!(
                            "line {}: map merge requires map or sequence of maps as the value",
                            v.line
                        ));
                        continue;
                    }
                };
                for src in sources {
                    if !matches!(src.kind, NodeKind::Map(_)) {
                        self.errors.push(format!(
                            "line {}: map merge requires map or sequence of maps as the value",
                            src.line
                        ));
                        continue;
                    }
                    if let Some(sub) = self.mapping(src, type_name) {
                        for (name, value) in sub {
                            if !merged.iter().any(|(n, _)| *n == name) {
                                merged.push((name, value));
                            }
                        }
                    }
                }
                continue;
            }
            match &k.kind {
                NodeKind::Scalar { value, .. } => own.push((value.clone(), v)),
                _ => self.type_error(k, Self::kind_tag(k), "string"),
            }
        }
        for (name, value) in merged {
            if !own.iter().any(|(n, _)| *n == name) {
                own.push((name, value));
            }
        }
        Some(own)
    }

    fn config_file(&mut self, root: Option<&Node>) -> RawConfigFile {
        let mut out = RawConfigFile::default();
        let Some(root) = root else { return out };
        let Some(fields) = self.mapping(root, "config.configFile") else {
            return out;
        };
        for (name, value) in fields {
            match name.as_str() {
                "creation_rules" => {
                    if let Some(rules) =
                        self.seq(value, "[]config.creationRule", |d, n| d.creation_rule(n))
                    {
                        out.creation_rules = Some(rules);
                    }
                }
                "destination_rules" => {
                    if let Some(rules) = self.seq(value, "[]config.destinationRule", |d, n| {
                        d.destination_rule(n)
                    }) {
                        out.destination_rules = rules;
                    }
                }
                "stores" => self.stores(value, &mut out.stores),
                _ => {}
            }
        }
        out
    }

    fn stores(&mut self, node: &Node, out: &mut StoresConfig) {
        let Some(fields) = self.mapping(node, "config.StoresConfig") else {
            return;
        };
        for (name, value) in fields {
            let (type_name, target) = match name.as_str() {
                "yaml" => ("config.YAMLStoreConfig", Some(&mut out.yaml_indent)),
                "json" => ("config.JSONStoreConfig", Some(&mut out.json_indent)),
                "json_binary" => (
                    "config.JSONBinaryStoreConfig",
                    Some(&mut out.json_binary_indent),
                ),
                "dotenv" => ("config.DotenvStoreConfig", None),
                "ini" => ("config.INIStoreConfig", None),
                _ => continue,
            };
            let Some(sub) = self.mapping(value, type_name) else {
                continue;
            };
            if let Some(target) = target {
                for (k, v) in sub {
                    if k == "indent" {
                        if let Some(i) = self.int(v) {
                            *target = i;
                        }
                    }
                }
            }
        }
    }

    fn creation_rule(&mut self, node: &Node) -> Option<RawCreationRule> {
        let fields = self.mapping(node, "config.creationRule")?;
        let mut r = RawCreationRule::default();
        for (name, value) in fields {
            match name.as_str() {
                "path_regex" => set(&mut r.path_regex, self.string(value)),
                "kms" => r.kms = self.dynamic(value),
                "aws_profile" => set(&mut r.aws_profile, self.string(value)),
                "age" => r.age = self.dynamic(value),
                "pgp" => r.pgp = self.dynamic(value),
                "gcp_kms" => r.gcp_kms = self.dynamic(value),
                "azure_keyvault" => r.azure_keyvault = self.dynamic(value),
                "hc_vault_transit_uri" => r.hc_vault_transit_uri = self.dynamic(value),
                "key_groups" => {
                    if let Some(g) = self.seq(value, "[]config.keyGroup", |d, n| d.key_group(n)) {
                        r.key_groups = g;
                    }
                }
                "shamir_threshold" => set(&mut r.shamir_threshold, self.int(value)),
                "mac_only_encrypted" => set(&mut r.mac_only_encrypted, self.bool(value)),
                other => {
                    if let Some(i) = CRYPT_RULE_FIELDS.iter().position(|f| *f == other) {
                        set(&mut r.crypt[i], self.string(value));
                    }
                }
            }
        }
        Some(r)
    }

    fn string_list(&mut self, node: &Node) -> Option<Vec<String>> {
        self.seq(node, "[]string", |d, n| d.string(n))
    }

    fn key_group(&mut self, node: &Node) -> Option<RawKeyGroup> {
        let fields = self.mapping(node, "config.keyGroup")?;
        let mut g = RawKeyGroup::default();
        for (name, value) in fields {
            match name.as_str() {
                "merge" => set(
                    &mut g.merge,
                    self.seq(value, "[]config.keyGroup", |d, n| d.key_group(n)),
                ),
                "kms" => set(
                    &mut g.kms,
                    self.seq(value, "[]config.kmsKey", |d, n| d.kms_key(n)),
                ),
                "gcp_kms" => set(
                    &mut g.gcp_kms,
                    self.seq(value, "[]config.gcpKmsKey", |d, n| {
                        let f = d.mapping(n, "config.gcpKmsKey")?;
                        let mut id = String::new();
                        for (k, v) in f {
                            if k == "resource_id" {
                                set(&mut id, d.string(v));
                            }
                        }
                        Some(id)
                    }),
                ),
                "azure_keyvault" => set(
                    &mut g.azure_keyvault,
                    self.seq(value, "[]config.azureKVKey", |d, n| {
                        let f = d.mapping(n, "config.azureKVKey")?;
                        let mut k = AzureKeySpec::default();
                        for (name, v) in f {
                            match name.as_str() {
                                "vaultUrl" => set(&mut k.vault_url, d.string(v)),
                                "key" => set(&mut k.key, d.string(v)),
                                "version" => set(&mut k.version, d.string(v)),
                                _ => {}
                            }
                        }
                        Some(k)
                    }),
                ),
                "hc_vault" => set(&mut g.hc_vault, self.string_list(value)),
                "age" => set(&mut g.age, self.string_list(value)),
                "pgp" => set(&mut g.pgp, self.string_list(value)),
                _ => {}
            }
        }
        Some(g)
    }

    fn kms_key(&mut self, node: &Node) -> Option<KmsKeySpec> {
        let fields = self.mapping(node, "config.kmsKey")?;
        let mut k = KmsKeySpec::default();
        for (name, value) in fields {
            match name.as_str() {
                "arn" => set(&mut k.arn, self.string(value)),
                "role" => set(&mut k.role, self.string(value)),
                "aws_profile" => set(&mut k.aws_profile, self.string(value)),
                "context" => {
                    if let Some(pairs) = self.mapping(value, "map[string]*string") {
                        let mut map = BTreeMap::new();
                        for (ck, cv) in pairs {
                            let v = match &cv.kind {
                                NodeKind::Scalar { .. } => self.string(cv),
                                _ => {
                                    self.type_error(cv, Self::kind_tag(cv), "string");
                                    continue;
                                }
                            };
                            map.insert(ck, v);
                        }
                        k.context = Some(map);
                    } else {
                        k.context = None;
                    }
                }
                _ => {}
            }
        }
        Some(k)
    }

    fn destination_rule(&mut self, node: &Node) -> Option<RawDestinationRule> {
        let fields = self.mapping(node, "config.destinationRule")?;
        let mut r = RawDestinationRule::default();
        for (name, value) in fields {
            match name.as_str() {
                "path_regex" => set(&mut r.path_regex, self.string(value)),
                "s3_bucket" => set(&mut r.s3_bucket, self.string(value)),
                "s3_prefix" => set(&mut r.s3_prefix, self.string(value)),
                "gcs_bucket" => set(&mut r.gcs_bucket, self.string(value)),
                "gcs_prefix" => set(&mut r.gcs_prefix, self.string(value)),
                "vault_path" => set(&mut r.vault_path, self.string(value)),
                "vault_address" => set(&mut r.vault_address, self.string(value)),
                "vault_kv_mount_name" => set(&mut r.vault_kv_mount_name, self.string(value)),
                "vault_kv_version" => set(&mut r.vault_kv_version, self.int(value)),
                "recreation_rule" => set(&mut r.recreation_rule, self.creation_rule(value)),
                "omit_extensions" => set(&mut r.omit_extensions, self.bool(value)),
                _ => {}
            }
        }
        Some(r)
    }
}

fn set<T>(target: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *target = v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_scalar_resolution_follows_go_yaml_v3() {
        let cases: &[(&str, Resolved)] = &[
            ("", Resolved::Null),
            ("~", Resolved::Null),
            ("null", Resolved::Null),
            ("NULL", Resolved::Null),
            ("true", Resolved::Bool(true)),
            ("False", Resolved::Bool(false)),
            ("yes", Resolved::Str("yes".into())),
            ("on", Resolved::Str("on".into())),
            ("2", Resolved::Int(2)),
            ("+2", Resolved::Int(2)),
            ("-2", Resolved::Int(-2)),
            ("0x1F", Resolved::Int(31)),
            ("0o17", Resolved::Int(15)),
            ("017", Resolved::Int(15)),
            ("0b101", Resolved::Int(5)),
            ("1_000", Resolved::Int(1000)),
            ("18446744073709551615", Resolved::Uint(u64::MAX)),
            ("08", Resolved::Float(8.0)),
            ("2.5", Resolved::Float(2.5)),
            ("1e3", Resolved::Float(1000.0)),
            (".5", Resolved::Float(0.5)),
            ("99999999999999999999", Resolved::Float(1e20)),
            (".inf", Resolved::Float(f64::INFINITY)),
            ("2001-12-14", Resolved::Timestamp("2001-12-14".into())),
            (
                "2001-12-14T21:59:43.10-05:00",
                Resolved::Timestamp("2001-12-14T21:59:43.10-05:00".into()),
            ),
            ("1.2.3", Resolved::Str("1.2.3".into())),
            ("age1abc", Resolved::Str("age1abc".into())),
            ("-", Resolved::Str("-".into())),
            ("<<", Resolved::Merge),
        ];
        for (input, expected) in cases {
            assert_eq!(&resolve_plain(input), expected, "{input:?}");
        }
        assert!(matches!(resolve_plain(".nan"), Resolved::Float(f) if f.is_nan()));
    }

    #[test]
    fn clean_path_is_go_path_clean() {
        let cases = [
            (".", "."),
            ("./.sops.yaml", ".sops.yaml"),
            ("../..", "../.."),
            ("./../x/..", ".."),
            ("/a/b/../c", "/a/c"),
            ("/..", "/"),
            ("/../..", "/"),
            ("a//b/./c/", "a/b/c"),
            ("a/..", "."),
            ("a/../..", ".."),
        ];
        for (input, expected) in cases {
            assert_eq!(
                clean_path(Path::new(input)),
                PathBuf::from(expected),
                "{input}"
            );
        }
    }

    #[test]
    fn go_regex_uses_ascii_perl_classes() {
        let re = go_regex(r"^\d+$").unwrap();
        assert!(re.is_match("123"));
        assert!(!re.is_match("١٢٣")); // Arabic-Indic digits are \d only in Unicode mode
        assert!(go_regex(r"^[\d_]+$").unwrap().is_match("1_2"));
        assert!(!go_regex(r"^[\d_]+$").unwrap().is_match("1_٢"));
        assert!(go_regex(r"^\w+$").unwrap().is_match("abc_1"));
        assert!(!go_regex(r"^\w+$").unwrap().is_match("é"));
        assert!(go_regex(r"^\W$").unwrap().is_match("é"));
        assert!(go_regex(r"a\sb").unwrap().is_match("a b"));
        assert!(!go_regex(r"a\sb").unwrap().is_match("a\u{a0}b"));
        assert!(go_regex(r"\bfoo\b").unwrap().is_match("x foo y"));
        assert!(go_regex(r"\\d").unwrap().is_match(r"\d"));
        assert!(go_regex(r"[]a]").unwrap().is_match("]"));
        assert!(go_regex(r"[^]a]").unwrap().is_match("b"));
        assert!(go_regex(r"[[:alpha:]\d]+").unwrap().is_match("a1"));
        assert!(go_regex(r"\.ya?ml$").unwrap().is_match("x.yml"));
        assert!(go_regex("(").is_err());
        // Go reads '[' and '&' literally inside a class (no nesting or set operations).
        let re = go_regex(r"^[[a]]$").unwrap();
        assert!(re.is_match("[]") && re.is_match("a]") && !re.is_match("a"));
        assert!(go_regex(r"^[a&&b]+$").unwrap().is_match("a&b"));
        assert!(go_regex(r"^[~~x]$").unwrap().is_match("~"));
        // Octal escapes.
        assert!(go_regex(r"^\101$").unwrap().is_match("A"));
        assert_eq!(translate_go_regex(r"[\d\s]\D"), r"[0-9\t\n\x0C\r ][^0-9]");
    }

    fn rules(text: &str) -> Vec<CreationRule> {
        parse(text, Path::new("t.yaml"))
            .unwrap()
            .creation_rules
            .unwrap()
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let r = rules(
            "x: &k age1one\nbase: &b\n  age: age1base\n  mac_only_encrypted: true\n  path_regex: base\ncreation_rules:\n  - <<: *b\n    path_regex: own\n  - age: *k\n  - <<: [{age: first}, {age: second, shamir_threshold: 3}]\n",
        );
        assert_eq!(r[0].path_regex, "own");
        assert!(r[0].mac_only_encrypted);
        assert_eq!(r[0].key_groups[0].age, vec!["age1base"]);
        assert_eq!(r[1].key_groups[0].age, vec!["age1one"]);
        assert_eq!(r[2].key_groups[0].age, vec!["first"]);
        assert_eq!(r[2].shamir_threshold, 3);
    }

    #[test]
    fn null_items_are_dropped_like_go_yaml() {
        let r = rules("creation_rules:\n  - ~\n  - key_groups:\n    - ~\n    - age: [~, a]\n");
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].key_groups.len(), 1);
        assert_eq!(r[0].key_groups[0].age, vec!["a"]);
        // In the direct (interface{}) form a null item is an error when selected.
        let r = rules("creation_rules:\n  - age: [~, a]\n");
        assert_eq!(
            r[0].error(),
            Some("invalid age key configuration: invalid age key configuration: expected string in list, got <nil>")
        );
    }

    #[test]
    fn explicit_tags() {
        let r = rules("creation_rules:\n  - path_regex: !!str 12\n    shamir_threshold: !!int 3\n");
        assert_eq!(r[0].path_regex, "12");
        assert_eq!(r[0].shamir_threshold, 3);
        let e = parse(
            "creation_rules:\n  - shamir_threshold: !!int abc\n",
            Path::new("t"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("cannot decode !!str `abc` as a !!int"), "{e}");
        let e = parse(
            "creation_rules:\n  - shamir_threshold: !!str 3\n",
            Path::new("t"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("line 2: cannot unmarshal !!str `3` into int"),
            "{e}"
        );
    }

    #[test]
    fn only_the_first_document_is_read() {
        let c = parse(
            "creation_rules:\n  - age: a\n---\n[broken\n",
            Path::new("t"),
        )
        .unwrap();
        assert_eq!(c.creation_rules.unwrap()[0].key_groups[0].age, vec!["a"]);
    }

    #[test]
    fn crypt_rule_resolution() {
        use CryptRule::*;
        let regex = EncryptedRegex("^a".into());
        assert_eq!(
            CryptRule::resolve(&[], None, false),
            Ok(Some(CryptRule::default()))
        );
        assert_eq!(
            CryptRule::resolve(&[], Some(&regex), false),
            Ok(Some(regex.clone()))
        );
        // Same field on the command line replaces the rule's value.
        assert_eq!(
            CryptRule::resolve(&[EncryptedRegex("^b".into())], Some(&regex), false),
            Ok(Some(EncryptedRegex("^b".into())))
        );
        // A different field conflicts (sops exits 8).
        let err =
            CryptRule::resolve(&[UnencryptedSuffix("_u".into())], Some(&regex), false).unwrap_err();
        assert_eq!(err.exit_code(), 8);
        assert!(err
            .to_string()
            .starts_with("Error: cannot use more than one of"));
        assert_eq!(
            CryptRule::resolve(
                &[UnencryptedSuffix("_u".into()), EncryptedSuffix("_e".into())],
                None,
                false
            ),
            Err(CryptRuleConflict)
        );
        // Empty values are unset.
        assert_eq!(
            CryptRule::resolve(&[UnencryptedSuffix(String::new())], Some(&regex), false),
            Ok(Some(regex.clone()))
        );
        // Binary store: everything dropped, no default.
        assert_eq!(
            CryptRule::resolve(&[UnencryptedSuffix("_u".into())], Some(&regex), true),
            Ok(None)
        );
        assert_eq!(CryptRule::default().field_name(), "unencrypted_suffix");
        assert_eq!(CryptRule::default().value(), "_unencrypted");
        assert_eq!(DEFAULT_UNENCRYPTED_SUFFIX, "_unencrypted");
    }

    #[test]
    fn key_string_helpers() {
        assert_eq!(split_age_recipients(""), Vec::<String>::new());
        assert_eq!(split_age_recipients(" a , b,"), vec!["a", "b", ""]);
        assert_eq!(split_pgp_fingerprints("AB CD,EF"), vec!["ABCD", "EF"]);
        let kms = split_kms_arns(
            "arn:aws:kms:us-east-1:1:key/k+arn:aws:iam::1:role/r, arn:aws:kms:x",
            None,
            "prof",
        );
        assert_eq!(kms[0].arn, "arn:aws:kms:us-east-1:1:key/k");
        assert_eq!(kms[0].role, "arn:aws:iam::1:role/r");
        assert_eq!(kms[0].aws_profile, "prof");
        assert_eq!(kms[1].arn, "arn:aws:kms:x");
        assert_eq!(kms[1].role, "");
        let az = split_azure_keyvault("https://v.vault.azure.net/keys/k/123, https://v/keys/k2")
            .unwrap();
        assert_eq!(
            az[0],
            AzureKeySpec {
                vault_url: "https://v.vault.azure.net".into(),
                key: "k".into(),
                version: "123".into()
            }
        );
        assert_eq!(az[1].version, "");
        assert_eq!(
            split_azure_keyvault("http://x").unwrap_err(),
            "could not parse \"http://x\" into a valid Azure Key Vault MasterKey []"
        );
        assert_eq!(split_hc_vault_uris("a,,b"), vec!["a", "b"]);
    }
}
