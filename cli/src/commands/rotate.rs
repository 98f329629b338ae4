//! `rotate`: a new data key, optionally adding age recipients or removing master keys of
//! any type (a PGP or KMS key a team moves away from).

use keytap_core::error::exit_code;
use keytap_core::keys::pgp;
use keytap_core::metadata::MasterKey;

use crate::args::{CommonArgs, KeyChangeArgs};
use crate::error::CliError;
use crate::open::{open_file, OpenMode, Opened};
use keytap_core::safefs::replace::Contents;
use std::path::PathBuf;

fn recipients(list: Option<&str>) -> Result<Vec<String>, CliError> {
    let mut out = Vec::new();
    for r in list
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        keytap_core::keys::age::AgeRecipient::parse(r)
            .map_err(|e| CliError::new(exit_code::GENERIC, e.to_string()))?;
        out.push(r.to_string());
    }
    Ok(out)
}

/// sops's exit 49: `--add-*`/`--rm-*` on a file that does not exist.
pub fn refuse_key_changes_on_missing_files(
    changes: &KeyChangeArgs,
    files: &[PathBuf],
    form: Form,
) -> Result<(), CliError> {
    if !changes_keys(changes) {
        return Ok(());
    }
    let Some(missing) = files.iter().find(|f| !f.exists()) else {
        return Ok(());
    };
    let instead = match form {
        Form::Command => "the `edit` subcommand",
        Form::Legacy => "`--kms` and `--pgp`",
    };
    Err(CliError::new(
        exit_code::CANNOT_CHANGE_KEYS_FROM_NON_EXISTENT_FILE,
        format!(
            "Error: cannot add or remove keys on non-existent file {}, use {instead} instead.",
            keytap_core::goerr::quote(
                crate::context::absolute(missing)
                    .as_os_str()
                    .as_encoded_bytes()
            )
        ),
    ))
}

/// Which command line asked: sops words the missing-file error differently for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `rotate FILE`.
    Command,
    /// `-r FILE`.
    Legacy,
}

/// The keys to remove, as (metadata list, sops's name of the key) pairs. Each list is
/// read as sops reads it: spaces are dropped from fingerprints, ARNs and resource IDs,
/// the others are trimmed.
fn removals(changes: &KeyChangeArgs) -> Result<Vec<(&'static str, String)>, CliError> {
    let mut out: Vec<(&'static str, String)> = recipients(changes.rm_age.as_deref())?
        .into_iter()
        .map(|r| ("age", r))
        .collect();
    let lists = [
        ("pgp", &changes.rm_pgp, true),
        ("kms", &changes.rm_kms, true),
        ("gcp_kms", &changes.rm_gcp_kms, true),
        ("azure_kv", &changes.rm_azure_kv, false),
        ("hc_vault", &changes.rm_hc_vault_transit, false),
        ("hckms", &changes.rm_hckms, false),
    ];
    for (kind, list, drop_spaces) in lists {
        for name in list.as_deref().unwrap_or("").split(',') {
            let name = if drop_spaces {
                name.replace(' ', "")
            } else {
                name.trim().to_string()
            };
            if !name.is_empty() {
                out.push((kind, name));
            }
        }
    }
    Ok(out)
}

/// Refuses `--add-kms` and the other key types keytap cannot wrap a data key to.
fn refuse_foreign_additions(changes: &KeyChangeArgs) -> Result<(), CliError> {
    crate::config_rules::refuse_foreign([
        ("AWS KMS keys", changes.add_kms.as_deref()),
        ("GCP KMS keys", changes.add_gcp_kms.as_deref()),
        ("Azure Key Vault keys", changes.add_azure_kv.as_deref()),
        (
            "Vault transit keys",
            changes.add_hc_vault_transit.as_deref(),
        ),
        ("HuaweiCloud KMS keys", changes.add_hckms.as_deref()),
    ])
}

fn changes_keys(changes: &KeyChangeArgs) -> bool {
    [
        &changes.add_age,
        &changes.rm_age,
        &changes.rm_pgp,
        &changes.rm_kms,
        &changes.rm_gcp_kms,
        &changes.rm_azure_kv,
        &changes.rm_hc_vault_transit,
        &changes.rm_hckms,
        &changes.add_pgp,
        &changes.add_kms,
        &changes.add_gcp_kms,
        &changes.add_azure_kv,
        &changes.add_hc_vault_transit,
        &changes.add_hckms,
    ]
    .iter()
    .any(|l| l.as_deref().is_some_and(|l| !l.is_empty()))
}

/// Runs `rotate FILE`: like sops, the first file only (the rest are warned about).
pub fn run(
    common: &CommonArgs,
    changes: &KeyChangeArgs,
    ignore_mac: bool,
    files: &[PathBuf],
    form: Form,
) -> Result<i32, CliError> {
    let files = super::first_positional(files);
    refuse_key_changes_on_missing_files(changes, files, form)?;
    refuse_foreign_additions(changes)?;
    let add = recipients(changes.add_age.as_deref())?;
    let rm = removals(changes)?;
    let mode = OpenMode {
        lock: common.in_place,
        missing_is_no_file: form == Form::Legacy,
        ..OpenMode::CHANGE
    };
    let file = &files[0];
    let Opened {
        mut open,
        formats: f,
        lock,
    } = open_file(common, file, ignore_mac, mode)?;
    let sources = crate::context::wrapping_sources();
    if let Some(first) = open.metadata.key_groups.first_mut() {
        for r in &add {
            first.push(MasterKey::Age {
                recipient: r.clone(),
                enc: String::new(),
            });
        }
        first.extend(pgp::master_keys(changes.add_pgp.as_deref().unwrap_or("")));
    }
    for group in open.metadata.key_groups.iter_mut() {
        group.retain(|k| {
            !rm.iter()
                .any(|(kind, name)| k.kind() == *kind && k.describe() == *name)
        });
    }
    open.rotate(&sources)
        .map_err(|e| CliError::from(e).in_file(file))?;
    let sealed = open.into_sealed()?;
    let out = sealed.emit(&*f.output_store, f.output)?;
    crate::output::write_result(common, file, &out, Contents::Encrypted, lock.is_some())?;
    Ok(0)
}
