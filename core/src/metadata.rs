//! The `sops:` metadata block: read from any sops 3.x file, written as sops 3.11 writes it.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::tree::{Branch, Item, Value};
use crate::walk::CryptRule;

/// The version keytap writes into `sops.version`: files stay readable by sops 3.11+.
pub const SOPS_VERSION: &str = "3.11.0";

/// A broken or missing metadata block.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// The file has no top-level `sops` key.
    #[error("sops metadata not found")]
    NotFound,
    /// A field is present but unusable.
    #[error("invalid sops metadata: {0}")]
    Invalid(String),
}

/// One wrapped copy of the data key (or of a Shamir share).
#[derive(Clone, Debug, PartialEq)]
pub enum MasterKey {
    /// An age recipient and the armored age file holding the key.
    Age {
        /// `age1...`, `age1pq1...`, `age1<plugin>1...`, or an ssh public key.
        recipient: String,
        /// The armored age file.
        enc: String,
    },
    /// Any other key type (pgp, kms, gcp_kms, hckms, azure_kv, hc_vault): kept verbatim so
    /// teammates using them keep access; keytap cannot unwrap it.
    Other {
        /// The metadata list it came from, e.g. `pgp`.
        kind: String,
        /// Its fields, in file order.
        fields: Branch,
    },
}

impl MasterKey {
    /// The wrapped data key (`enc`), empty when there is none yet.
    pub fn enc(&self) -> &str {
        match self {
            MasterKey::Age { enc, .. } => enc,
            MasterKey::Other { fields, .. } => match crate::tree::get(fields, "enc") {
                Some(Value::Str(s)) => s,
                _ => "",
            },
        }
    }

    /// Stores a newly wrapped data key.
    pub fn set_enc(&mut self, wrapped: String) {
        match self {
            MasterKey::Age { enc, .. } => *enc = wrapped,
            MasterKey::Other { fields, .. } => {
                for item in fields.iter_mut() {
                    if let Item::Entry(k, v) = item {
                        if k == "enc" {
                            *v = Value::Str(wrapped);
                            return;
                        }
                    }
                }
                fields.push(Item::Entry("enc".into(), Value::Str(wrapped)));
            }
        }
    }

    /// The key as sops names it (its `ToString`), in messages, `updatekeys`'s diff and
    /// `rotate --rm-*`: the age recipient, PGP fingerprint, KMS ARN (`+role` when it has
    /// one), GCP resource ID, HuaweiCloud key ID, Azure `URL/keys/NAME/VERSION`, or Vault
    /// `ADDRESS/v1/ENGINE/keys/NAME`.
    pub fn describe(&self) -> String {
        match self {
            MasterKey::Age { recipient, .. } => recipient.clone(),
            MasterKey::Other { kind, fields } => other_key_name(kind, fields),
        }
    }

    /// The metadata list the key belongs to: `age`, `pgp`, `kms`, `gcp_kms`, `hckms`,
    /// `azure_kv` or `hc_vault`.
    pub fn kind(&self) -> &str {
        match self {
            MasterKey::Age { .. } => "age",
            MasterKey::Other { kind, .. } => kind,
        }
    }
}

/// sops's `ToString` of a key keytap keeps but cannot use, from its metadata fields.
fn other_key_name(kind: &str, fields: &Branch) -> String {
    let field = |name: &str| match crate::tree::get(fields, name) {
        Some(Value::Str(s)) => s.as_str(),
        _ => "",
    };
    match kind {
        "pgp" => field("fp").to_string(),
        "kms" if field("role").is_empty() => field("arn").to_string(),
        "kms" => format!("{}+{}", field("arn"), field("role")),
        "gcp_kms" => field("resource_id").to_string(),
        "hckms" => field("key_id").to_string(),
        "azure_kv" => format!(
            "{}/keys/{}/{}",
            field("vault_url"),
            field("name"),
            field("version")
        ),
        "hc_vault" => format!(
            "{}/v1/{}/keys/{}",
            field("vault_address"),
            field("engine_path"),
            field("key_name")
        ),
        _ => kind.to_string(),
    }
}

/// A key group: any one of its keys unwraps the group's share.
pub type KeyGroup = Vec<MasterKey>;

/// The metadata of an encrypted file.
#[derive(Clone, Debug, PartialEq)]
pub struct Metadata {
    /// Key groups; one group unless Shamir splitting is used.
    pub key_groups: Vec<KeyGroup>,
    /// Groups needed to recover the key (0 = unset; means all groups when several).
    pub shamir_threshold: usize,
    /// `lastmodified`, RFC 3339 seconds UTC (the MAC's AAD).
    pub last_modified: String,
    /// The encrypted MAC envelope.
    pub mac: String,
    /// Which values are encrypted.
    /// `None` only for new binary files, which sops writes without any rule field; files
    /// read back always have one (sops's default `unencrypted_suffix` when none is stored).
    pub crypt_rule: Option<CryptRule>,
    /// Whether the MAC covers only encrypted values.
    pub mac_only_encrypted: bool,
    /// The sops version that wrote the file.
    pub version: String,
}

/// Key-list kinds sops knows, in the order its metadata struct writes them around `age`
/// (`hckms`, HuaweiCloud KMS, came with sops 3.12; the 3.11 binary users install has it).
const KEY_LISTS_BEFORE_AGE: [&str; 5] = ["kms", "gcp_kms", "hckms", "azure_kv", "hc_vault"];

/// A string field. Like go-yaml decoding into a Go string, any scalar gives its text
/// (`version: 3.11` is the string "3.11").
fn as_str(v: &Value, field: &str) -> Result<String, MetadataError> {
    match v {
        Value::Str(s) => Ok(s.clone()),
        Value::Time(s) => Ok(s.clone()),
        Value::Int(i) => Ok(i.to_string()),
        Value::Float(f) => Ok(crate::cipher::format_float_plain(*f)),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Ok(String::new()),
        _ => Err(MetadataError::Invalid(format!("{field} must be a string"))),
    }
}

fn list_items<'a>(v: &'a Value, field: &str) -> Result<Vec<&'a Branch>, MetadataError> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::List(items) => items
            .iter()
            .filter(|i| !matches!(i, Value::Comment(_)))
            .map(|i| match i {
                Value::Map(b) => Ok(b),
                _ => Err(MetadataError::Invalid(format!(
                    "entries of {field} must be maps"
                ))),
            })
            .collect(),
        _ => Err(MetadataError::Invalid(format!("{field} must be a list"))),
    }
}

fn parse_keys(branch: &Branch, group: &mut KeyGroup) -> Result<(), MetadataError> {
    // sops reads kms, gcp_kms, azure_kv, hc_vault, pgp, then age; keep that order.
    for kind in KEY_LISTS_BEFORE_AGE.iter().chain(["pgp"].iter()) {
        if let Some(v) = crate::tree::get(branch, kind) {
            for fields in list_items(v, kind)? {
                group.push(MasterKey::Other {
                    kind: kind.to_string(),
                    fields: fields.clone(),
                });
            }
        }
    }
    if let Some(v) = crate::tree::get(branch, "age") {
        for fields in list_items(v, "age")? {
            let recipient = crate::tree::get(fields, "recipient")
                .map(|v| as_str(v, "age recipient"))
                .transpose()?;
            let enc = crate::tree::get(fields, "enc")
                .map(|v| as_str(v, "age enc"))
                .transpose()?;
            group.push(MasterKey::Age {
                recipient: recipient.unwrap_or_default(),
                enc: enc.unwrap_or_default(),
            });
        }
    }
    Ok(())
}

fn parse_int(v: &Value, field: &str) -> Result<usize, MetadataError> {
    match v {
        Value::Int(i) if *i >= 0 => Ok(*i as usize),
        Value::Null => Ok(0),
        // dotenv and INI carry every metadata value as a string.
        Value::Str(s) => s
            .trim()
            .parse()
            .map_err(|_| MetadataError::Invalid(format!("{field} must be a number"))),
        Value::Float(f) if f.fract() == 0.0 && *f >= 0.0 => Ok(*f as usize),
        _ => Err(MetadataError::Invalid(format!("{field} must be a number"))),
    }
}

fn parse_bool(v: &Value, field: &str) -> Result<bool, MetadataError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Null => Ok(false),
        Value::Str(s) => match s.as_str() {
            "true" | "True" | "TRUE" | "1" | "t" | "T" => Ok(true),
            "false" | "False" | "FALSE" | "0" | "f" | "F" | "" => Ok(false),
            _ => Err(MetadataError::Invalid(format!("{field} must be a boolean"))),
        },
        _ => Err(MetadataError::Invalid(format!("{field} must be a boolean"))),
    }
}

impl Metadata {
    /// Reads the metadata subtree of a file (any sops 3.x layout, any key order).
    pub fn from_branch(branch: &Branch) -> Result<Metadata, MetadataError> {
        let get = |k: &str| crate::tree::get(branch, k);
        let last_modified = get("lastmodified")
            .map(|v| as_str(v, "lastmodified"))
            .transpose()?
            .unwrap_or_default();
        OffsetDateTime::parse(&last_modified, &Rfc3339).map_err(|_| {
            MetadataError::Invalid(format!(
                "lastmodified {last_modified:?} is not an RFC 3339 time"
            ))
        })?;
        let mac = get("mac")
            .map(|v| as_str(v, "mac"))
            .transpose()?
            .unwrap_or_default();
        let version = get("version")
            .map(|v| as_str(v, "version"))
            .transpose()?
            .unwrap_or_default();
        let shamir_threshold = get("shamir_threshold")
            .map(|v| parse_int(v, "shamir_threshold"))
            .transpose()?
            .unwrap_or(0);
        let mac_only_encrypted = get("mac_only_encrypted")
            .map(|v| parse_bool(v, "mac_only_encrypted"))
            .transpose()?
            .unwrap_or(false);

        let mut rules = Vec::new();
        for name in CryptRule::FIELD_NAMES {
            if let Some(v) = get(name) {
                let s = as_str(v, name)?;
                if !s.is_empty() {
                    rules.push(CryptRule::from_field(name, s).expect("known field"));
                }
            }
        }
        if rules.len() > 1 {
            return Err(MetadataError::Invalid(
                "Cannot use more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex, or unencrypted_comment_regex in the same file".into(),
            ));
        }
        let crypt_rule = Some(rules.pop().unwrap_or_default());

        // Keys at the top level form one group and win over key_groups, as in sops.
        let mut top = KeyGroup::new();
        parse_keys(branch, &mut top)?;
        let key_groups = if !top.is_empty() {
            vec![top]
        } else if let Some(v) = get("key_groups") {
            let mut groups = Vec::new();
            for g in list_items(v, "key_groups")? {
                let mut group = KeyGroup::new();
                parse_keys(g, &mut group)?;
                groups.push(group);
            }
            groups
        } else {
            Vec::new()
        };
        if key_groups.is_empty() {
            return Err(MetadataError::Invalid("No keys found in file".into()));
        }
        Ok(Metadata {
            key_groups,
            shamir_threshold,
            last_modified,
            mac,
            crypt_rule,
            mac_only_encrypted,
            version,
        })
    }

    /// Writes the metadata in sops 3.11's field order. `empty_list` is how an empty key list
    /// that sops writes anyway (`hc_vault`/`age` inside `key_groups`) appears: `[]` in YAML,
    /// `null` in JSON and the flattened formats (Go's nil slice).
    pub fn to_branch(&self, empty_list: Value) -> Branch {
        let mut b = Branch::new();
        if self.shamir_threshold > 0 {
            b.push(Item::Entry(
                "shamir_threshold".into(),
                Value::Int(self.shamir_threshold as i64),
            ));
        }
        if self.key_groups.len() > 1 {
            let groups = self
                .key_groups
                .iter()
                .map(|g| {
                    let mut gb = Branch::new();
                    // keygroup struct order: pgp, kms, gcp_kms, hckms, azure_kv, hc_vault
                    // (always), age (always).
                    for kind in ["pgp", "kms", "gcp_kms", "hckms", "azure_kv"] {
                        push_other_list(&mut gb, g, kind, None);
                    }
                    push_other_list(&mut gb, g, "hc_vault", Some(&empty_list));
                    push_age_list(&mut gb, g, Some(&empty_list));
                    Value::Map(gb)
                })
                .collect();
            b.push(Item::Entry("key_groups".into(), Value::List(groups)));
        }
        let single = if self.key_groups.len() == 1 {
            Some(&self.key_groups[0])
        } else {
            None
        };
        if let Some(g) = single {
            for kind in KEY_LISTS_BEFORE_AGE {
                push_other_list(&mut b, g, kind, None);
            }
            push_age_list(&mut b, g, None);
        }
        b.push(Item::Entry(
            "lastmodified".into(),
            Value::Str(self.last_modified.clone()),
        ));
        b.push(Item::Entry("mac".into(), Value::Str(self.mac.clone())));
        if let Some(g) = single {
            push_other_list(&mut b, g, "pgp", None);
        }
        if let Some(rule) = &self.crypt_rule {
            b.push(Item::Entry(
                rule.field_name().into(),
                Value::Str(rule.value().into()),
            ));
        }
        if self.mac_only_encrypted {
            b.push(Item::Entry("mac_only_encrypted".into(), Value::Bool(true)));
        }
        b.push(Item::Entry(
            "version".into(),
            Value::Str(self.version.clone()),
        ));
        b
    }

    /// All age recipients, group by group.
    pub fn age_recipients(&self) -> Vec<&str> {
        self.key_groups
            .iter()
            .flatten()
            .filter_map(|k| match k {
                MasterKey::Age { recipient, .. } => Some(recipient.as_str()),
                _ => None,
            })
            .collect()
    }
}

fn push_other_list(b: &mut Branch, group: &KeyGroup, kind: &str, empty: Option<&Value>) {
    let items: Vec<Value> = group
        .iter()
        .filter_map(|k| match k {
            MasterKey::Other { kind: k, fields } if k == kind => Some(Value::Map(fields.clone())),
            _ => None,
        })
        .collect();
    if !items.is_empty() {
        b.push(Item::Entry(kind.into(), Value::List(items)));
    } else if let Some(empty) = empty {
        b.push(Item::Entry(kind.into(), empty.clone()));
    }
}

fn push_age_list(b: &mut Branch, group: &KeyGroup, empty: Option<&Value>) {
    let items: Vec<Value> = group
        .iter()
        .filter_map(|k| match k {
            MasterKey::Age { recipient, enc } => Some(Value::Map(vec![
                Item::Entry("recipient".into(), Value::Str(recipient.clone())),
                Item::Entry("enc".into(), Value::Str(enc.clone())),
            ])),
            _ => None,
        })
        .collect();
    if !items.is_empty() {
        b.push(Item::Entry("age".into(), Value::List(items)));
    } else if let Some(empty) = empty {
        b.push(Item::Entry("age".into(), empty.clone()));
    }
}

/// Now, as sops writes `lastmodified`: RFC 3339, whole seconds, UTC `Z`.
pub fn now_rfc3339() -> String {
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("zero is valid");
    now.format(&Rfc3339).expect("formattable")
}

/// Whether semver-ish version `a` is older than `b` (missing parts count as 0; text that
/// does not parse counts as older, so it gets replaced).
pub fn version_older(a: &str, b: &str) -> bool {
    fn parts(v: &str) -> Option<Vec<u64>> {
        let core = v.trim().trim_start_matches('v').split(['-', '+']).next()?;
        core.split('.').map(|p| p.parse().ok()).collect()
    }
    match (parts(a), parts(b)) {
        (Some(mut x), Some(mut y)) => {
            x.resize(3, 0);
            y.resize(3, 0);
            x < y
        }
        (None, _) => true,
        _ => false,
    }
}

/// sops's check of `sops.version` when it loads a file to decrypt it (its
/// `DetectKMSEncryptionContextBug`, which compares the version with 3.3.0): versions
/// starting `1.` pass, a leading `v` is dropped, and anything else must be semantic
/// versioning as github.com/blang/semver parses it. The error texts are that library's.
pub fn check_version(version: &str) -> Result<(), String> {
    if version.starts_with("1.") {
        return Ok(());
    }
    parse_semver(version.strip_prefix('v').unwrap_or(version))
}

/// blang/semver's `Parse`, reduced to its verdict (hand-written: sops users meet its
/// exact messages).
fn parse_semver(s: &str) -> Result<(), String> {
    const NUMBERS: &str = "0123456789";
    const ALPHANUM: &str = "-ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let only = |s: &str, set: &str| s.chars().all(|c| set.contains(c));
    let leading_zero = |s: &str| s.len() > 1 && s.starts_with('0');
    let go_q = |s: &str| crate::goerr::quote(s.as_bytes());
    let number = |s: &str| {
        s.parse::<u64>().map(|_| ()).map_err(|e| {
            let why = if s.is_empty() || matches!(e.kind(), std::num::IntErrorKind::InvalidDigit) {
                "invalid syntax"
            } else {
                "value out of range"
            };
            format!("strconv.ParseUint: parsing {}: {why}", go_q(s))
        })
    };
    if s.is_empty() {
        return Err("Version string empty".into());
    }
    let parts: Vec<&str> = s.splitn(3, '.').collect();
    if parts.len() != 3 {
        return Err("No Major.Minor.Patch elements found".into());
    }
    // Major, minor and patch are checked alike; `name` and `cap` word the message.
    let version_number = |part: &str, name: &str, cap: &str| {
        if !only(part, NUMBERS) {
            return Err(format!(
                "Invalid character(s) found in {name} number {}",
                go_q(part)
            ));
        }
        if leading_zero(part) {
            return Err(format!(
                "{cap} number must not contain leading zeroes {}",
                go_q(part)
            ));
        }
        number(part)
    };
    version_number(parts[0], "major", "Major")?;
    version_number(parts[1], "minor", "Minor")?;
    let mut patch = parts[2];
    let mut build: Vec<&str> = Vec::new();
    let mut pre: Vec<&str> = Vec::new();
    if let Some(i) = patch.find('+') {
        build = patch[i + 1..].split('.').collect();
        patch = &patch[..i];
    }
    if let Some(i) = patch.find('-') {
        pre = patch[i + 1..].split('.').collect();
        patch = &patch[..i];
    }
    version_number(patch, "patch", "Patch")?;
    for p in pre {
        if p.is_empty() {
            return Err("Prerelease is empty".into());
        }
        if only(p, NUMBERS) {
            if leading_zero(p) {
                return Err(format!(
                    "Numeric PreRelease version must not contain leading zeroes {}",
                    go_q(p)
                ));
            }
            number(p)?;
        } else if !only(p, ALPHANUM) {
            return Err(format!(
                "Invalid character(s) found in prerelease {}",
                go_q(p)
            ));
        }
    }
    for b in build {
        if b.is_empty() {
            return Err("Build meta data is empty".into());
        }
        if !only(b, ALPHANUM) {
            return Err(format!(
                "Invalid character(s) found in build meta data {}",
                go_q(b)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod version_tests {
    use super::check_version;

    #[test]
    fn versions_are_checked_as_sops_checks_them() {
        for ok in [
            "3.11.0",
            "3.99.0",
            "4.0.0",
            "v3.11.0",
            "v4.0.0-alpha",
            "3.11.0-rc1",
            "3.11.0+meta",
            "0.0.1",
            "1.0",
            "1.banana",
        ] {
            assert_eq!(check_version(ok), Ok(()), "{ok}");
        }
        let cases = [
            ("", "Version string empty"),
            ("banana", "No Major.Minor.Patch elements found"),
            ("3.11", "No Major.Minor.Patch elements found"),
            (
                "03.11.0",
                "Major number must not contain leading zeroes \"03\"",
            ),
            (
                "3.11.0.1",
                "Invalid character(s) found in patch number \"0.1\"",
            ),
            ("3..0", "strconv.ParseUint: parsing \"\": invalid syntax"),
            (
                "99999999999999999999.0.0",
                "strconv.ParseUint: parsing \"99999999999999999999\": value out of range",
            ),
        ];
        for (v, msg) in cases {
            assert_eq!(check_version(v), Err(msg.to_string()), "{v}");
        }
    }
}
