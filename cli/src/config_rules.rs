//! Bridge from `.sops.yaml` (keytap-core's config module) to what commands need.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use keytap_core::config::{self, Config};
use keytap_core::error::exit_code;
use keytap_core::metadata::{KeyGroup, MasterKey};
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

static CONFIG_FLAG: OnceLock<Option<PathBuf>> = OnceLock::new();

/// Records `--config`/`SOPS_CONFIG` once for the whole run.
pub fn set_config_flag(flag: Option<PathBuf>) {
    let _ = CONFIG_FLAG.set(flag);
}

fn config_error(e: config::ConfigError) -> CliError {
    CliError::new(e.exit_code(), e.to_string())
}

/// The config sops would use (flag, env, or found upward from the cwd), read once per run:
/// a command asks for it more than once (store options, then its rules), and sops warns
/// about a `.sops.yml` once.
pub fn load_config() -> Result<Option<Config>, CliError> {
    static LOADED: OnceLock<Result<Option<Config>, (i32, String)>> = OnceLock::new();
    LOADED
        .get_or_init(read_config)
        .clone()
        .map_err(|(code, message)| CliError::new(code, message))
}

/// The config file sops would use with `--config` `flag`, chosen once per run: the lookup
/// stats two names in up to 100 directories, and `stack_choice` asks before the command.
pub fn chosen_config(flag: Option<&Path>) -> &'static config::ConfigChoice {
    static CHOSEN: OnceLock<config::ConfigChoice> = OnceLock::new();
    CHOSEN.get_or_init(|| config::choose_config(flag, None))
}

fn read_config() -> Result<Option<Config>, (i32, String)> {
    let flag = CONFIG_FLAG.get().and_then(|f| f.as_deref());
    let choice = chosen_config(flag);
    if let Some(w) = &choice.warning {
        eprintln!("{w}");
    }
    match &choice.path {
        Some(path) => match crate::stack_choice::checked_bytes(path) {
            Some(bytes) => config::parse_bytes(bytes, path),
            None => config::load(path),
        }
        .map(Some)
        .map_err(|e| (e.exit_code(), e.to_string())),
        None => Ok(None),
    }
}

/// Refuses the first key given of a type keytap cannot wrap a data key to: `keys` pairs a
/// type's name with a key (or list) given for it, if any.
pub fn refuse_foreign<'a>(
    keys: impl IntoIterator<Item = (&'static str, Option<&'a str>)>,
) -> Result<(), CliError> {
    match keys
        .into_iter()
        .find_map(|(kind, key)| key.filter(|k| !k.trim().is_empty()).map(|k| (kind, k)))
    {
        Some((kind, key)) => Err(unsupported(kind, key)),
        None => Ok(()),
    }
}

/// The error for a key keytap cannot wrap a data key to.
pub fn unsupported(kind: &str, what: &str) -> CliError {
    CliError::new(
        exit_code::GENERIC,
        format!("keytap cannot encrypt to {kind} {what}: only age recipients (X25519, SSH, plugins) and PGP keys are supported"),
    )
}

/// The creation rule for `file`, or `None` when there is no config (or no rules in it).
/// A config whose rules do not match `file` is an error, even with `--age`, as in sops.
pub fn creation_rule(file: &Path) -> Result<Option<Rule>, CliError> {
    let Some(cfg) = load_config()? else {
        return Ok(None);
    };
    let dir = cfg
        .dir()
        .map_err(|e| CliError::new(exit_code::GENERIC, format!("{}: {e}", cfg.path.display())))?;
    let abs = config::absolute_path(file)
        .map_err(|e| CliError::new(exit_code::GENERIC, format!("{}: {e}", file.display())))?;
    let Some(rule) = cfg.rule_for(&abs, &dir).map_err(config_error)? else {
        return Ok(None);
    };
    let mut key_groups = Vec::new();
    for spec in &rule.key_groups {
        if !spec.kms.is_empty()
            || !spec.gcp_kms.is_empty()
            || !spec.azure_keyvault.is_empty()
            || !spec.hc_vault.is_empty()
            || !spec.hckms.is_empty()
        {
            return Err(unsupported("cloud KMS keys", "in .sops.yaml"));
        }
        let mut group = KeyGroup::new();
        for fingerprint in &spec.pgp {
            group.extend(keytap_core::keys::pgp::master_keys(fingerprint));
        }
        for r in &spec.age {
            keytap_core::keys::age::AgeRecipient::parse(r)
                .map_err(|e| CliError::new(exit_code::GENERIC, e.to_string()))?;
            group.push(MasterKey::Age {
                recipient: r.trim().to_string(),
                enc: String::new(),
            });
        }
        key_groups.push(group);
    }
    if rule.shamir_threshold < 0 {
        return Err(CliError::new(
            exit_code::GENERIC,
            format!(
                "{}: shamir_threshold must not be negative",
                cfg.path.display()
            ),
        ));
    }
    Ok(Some(Rule {
        key_groups,
        crypt_rule: rule.crypt_rule.clone(),
        shamir_threshold: rule.shamir_threshold as usize,
        mac_only_encrypted: rule.mac_only_encrypted,
    }))
}

/// `stores:` options from the config (defaults when there is none).
pub fn store_options() -> Result<StoreOptions, CliError> {
    let Some(cfg) = load_config()? else {
        return Ok(StoreOptions::default());
    };
    Ok(StoreOptions {
        yaml_indent: Some(cfg.stores.yaml_indent),
        json_indent: Some(cfg.stores.json_indent),
        json_binary_indent: Some(cfg.stores.json_binary_indent),
    })
}
