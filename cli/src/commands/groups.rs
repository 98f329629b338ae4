//! `groups add|delete`: change the key groups; the same data key is split again.

use keytap_core::error::exit_code;
use keytap_core::metadata::{KeyGroup, MasterKey};

use crate::args::{CommonArgs, GroupsAction, GroupsAddArgs, GroupsDeleteArgs, Lazy};
use crate::error::CliError;
use crate::open::{open_file, OpenMode, Opened};
use keytap_core::safefs::replace::Contents;

/// Refuses a new group with keys of a type keytap cannot wrap a data key to.
fn refuse_foreign_keys(add: &GroupsAddArgs) -> Result<(), CliError> {
    let lists = [
        ("AWS KMS keys", &add.kms),
        ("GCP KMS keys", &add.gcp_kms),
        ("Azure Key Vault keys", &add.azure_kv),
        ("Vault transit keys", &add.hc_vault_transit),
        ("HuaweiCloud KMS keys", &add.hckms),
    ];
    crate::config_rules::refuse_foreign(
        lists
            .into_iter()
            .flat_map(|(kind, keys)| keys.iter().map(move |k| (kind, Some(k.as_str())))),
    )
}

/// Runs `groups add` or `groups delete`.
pub fn run(action: GroupsAction) -> Result<i32, CliError> {
    // sops's checks of the arguments, before the file is read.
    let mut deleted = None;
    match &action {
        GroupsAction::Add(Lazy(add)) => refuse_foreign_keys(add)?,
        GroupsAction::Delete(Lazy(GroupsDeleteArgs { index, extra, .. })) => {
            let (Some(index), true) = (index, extra.is_empty()) else {
                return Err(CliError::new(
                    exit_code::GENERIC,
                    "error: exactly one positional argument (index) required",
                ));
            };
            // Go's strconv.ParseUint(index, 10, 32), in its words.
            let parsed = match index.starts_with('+') {
                true => Err("invalid syntax"),
                false => index.parse::<u32>().map_err(|e| match e.kind() {
                    std::num::IntErrorKind::PosOverflow => "value out of range",
                    _ => "invalid syntax",
                }),
            };
            deleted = Some(parsed.map(|i| i as usize).map_err(|why| {
                CliError::new(
                    exit_code::GENERIC,
                    format!(
                        "failed to parse [index] argument: strconv.ParseUint: parsing {}: {why}",
                        keytap_core::goerr::quote(index.as_bytes())
                    ),
                )
            })?);
        }
    }
    let (file, in_place, threshold) = match &action {
        GroupsAction::Add(Lazy(GroupsAddArgs {
            file,
            in_place,
            shamir_threshold,
            ..
        })) => (
            file.clone().unwrap_or_default(),
            *in_place,
            *shamir_threshold,
        ),
        GroupsAction::Delete(Lazy(GroupsDeleteArgs {
            file,
            in_place,
            shamir_threshold,
            ..
        })) => (
            file.clone().unwrap_or_default(),
            *in_place,
            *shamir_threshold,
        ),
    };
    let common = CommonArgs {
        in_place,
        ..CommonArgs::default()
    };
    // sops's `groups` loads without the version check.
    let mode = OpenMode {
        lock: in_place,
        check_version: false,
        path_as_given: true,
        brief_key_error: true,
        ..OpenMode::CHANGE
    };
    let Opened {
        mut open,
        formats: f,
        lock,
    } = open_file(&common, &file, false, mode)?;
    match &action {
        GroupsAction::Add(Lazy(GroupsAddArgs { age, pgp, .. })) => {
            let mut group = KeyGroup::new();
            for fingerprints in pgp {
                group.extend(keytap_core::keys::pgp::master_keys(fingerprints));
            }
            for r in age
                .iter()
                .flat_map(|a| a.split(','))
                .map(str::trim)
                .filter(|r| !r.is_empty())
            {
                keytap_core::keys::age::AgeRecipient::parse(r)
                    .map_err(|e| CliError::new(exit_code::GENERIC, e.to_string()))?;
                group.push(MasterKey::Age {
                    recipient: r.to_string(),
                    enc: String::new(),
                });
            }
            if group.is_empty() {
                return Err(CliError::new(
                    exit_code::GENERIC,
                    "groups add needs at least one --age recipient",
                ));
            }
            let before = open.metadata.key_groups.len();
            open.metadata.key_groups.push(group);
            if open.metadata.shamir_threshold == 0 && before == 1 {
                open.metadata.shamir_threshold = open.metadata.key_groups.len();
            }
        }
        GroupsAction::Delete(_) => {
            let i = deleted.unwrap_or_default();

            if i >= open.metadata.key_groups.len() {
                return Err(CliError::new(
                    exit_code::GENERIC,
                    format!(
                        "group index {i} out of range: the file has {} key groups",
                        open.metadata.key_groups.len()
                    ),
                ));
            }
            open.metadata.key_groups.remove(i);
        }
    }
    if let Some(t) = threshold {
        open.metadata.shamir_threshold = t;
    }
    let (groups, shamir) = (
        open.metadata.key_groups.len(),
        open.metadata.shamir_threshold,
    );
    // sops's check after a delete, one group left included (the threshold stays as it
    // is, as sops writes it).
    if shamir > groups {
        let message = match action {
            GroupsAction::Delete(_) => format!(
                "removing this key group will make the Shamir threshold impossible to satisfy: Shamir threshold is {shamir}, but we only have {groups} key groups"
            ),
            GroupsAction::Add(_) => format!(
                "the Shamir threshold {shamir} is more than the {groups} key groups could satisfy"
            ),
        };
        return Err(CliError::new(exit_code::GENERIC, message));
    }
    for group in open.metadata.key_groups.iter_mut() {
        for key in group.iter_mut() {
            if let MasterKey::Age { enc, .. } = key {
                enc.clear();
            }
        }
    }
    open.wrap_new_keys(&crate::context::wrapping_sources())
        .map_err(CliError::from)?;
    let sealed = open.into_sealed()?;
    let out = sealed.emit(&*f.output_store, f.output)?;
    crate::output::write_result(&common, &file, &out, Contents::Encrypted, lock.is_some())?;
    Ok(0)
}
