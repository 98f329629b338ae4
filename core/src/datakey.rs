//! The data key: generated per file, wrapped to every master key (split with Shamir across
//! key groups when there are several), and recovered from whichever keys the user holds.

use rand::RngCore;
use zeroize::Zeroizing;

use crate::cipher::DataKey;
use crate::keys::age::AgeRecipient;
use crate::keys::pgp;
use crate::keysource::KeySources;
use crate::metadata::{MasterKey, Metadata};
use crate::wordwrap;

/// The length of a sops data key (AES-256).
pub const DATA_KEY_BYTES: usize = 32;

/// Generates a fresh random data key.
pub fn generate() -> DataKey {
    let mut key = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(key.as_mut());
    key
}

/// Why the data key could not be wrapped.
#[derive(Debug, thiserror::Error)]
pub enum WrapError {
    /// A group has no keys.
    #[error("empty key group provided")]
    EmptyGroup,
    /// No key groups at all.
    #[error("no key groups provided")]
    NoGroups,
    /// Neither the local nor any remote key service is available.
    #[error("no key services provided, cannot update master keys")]
    NoServices,
    /// The Shamir threshold does not fit the groups.
    #[error("could not split data key into parts for Shamir: {0}")]
    Shamir(String),
    /// Master keys failed to wrap: one message per key and service tried (sops prints
    /// them as a Go slice, space-separated).
    #[error("{}", .0.join(" "))]
    Keys(Vec<String>),
}

/// Wraps `key` to every master key of `metadata` through `sources`. With more than one
/// group the key is split with Shamir (threshold defaulting to the number of groups, as
/// sops does) and group `i` wraps share `i`. When `only_missing` is set, keys that already
/// have an `enc` keep it (sops's `EncryptIfNeeded`, used by `updatekeys`).
pub fn wrap(
    metadata: &mut Metadata,
    key: &DataKey,
    only_missing: bool,
    sources: &KeySources,
) -> Result<(), WrapError> {
    if metadata.key_groups.is_empty() {
        return Err(WrapError::NoGroups);
    }
    if sources.is_empty() {
        return Err(WrapError::NoServices);
    }
    let parts: Vec<Zeroizing<Vec<u8>>> = if metadata.key_groups.len() == 1 {
        vec![Zeroizing::new(key.to_vec())]
    } else {
        if metadata.shamir_threshold == 0 {
            metadata.shamir_threshold = metadata.key_groups.len();
        }
        crate::shamir::split(
            key.as_ref(),
            metadata.key_groups.len(),
            metadata.shamir_threshold,
        )
        .map_err(|e| WrapError::Shamir(e.to_string()))?
        .into_iter()
        .map(Zeroizing::new)
        .collect()
    };
    let mut errors = Vec::new();
    for (group, part) in metadata.key_groups.iter_mut().zip(parts.iter()) {
        if group.is_empty() {
            return Err(WrapError::EmptyGroup);
        }
        for key in group.iter_mut() {
            if only_missing && !key.enc().is_empty() {
                continue;
            }
            if let Err(e) = wrap_key(key, part, sources) {
                errors.extend(e);
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(WrapError::Keys(errors))
    }
}

/// Wraps one master key: here first (age recipients only), then with each remote service
/// until one succeeds. On failure, one message per service tried.
fn wrap_key(key: &mut MasterKey, part: &[u8], sources: &KeySources) -> Result<(), Vec<String>> {
    let failed = |key: &MasterKey, e: &str| {
        format!(
            "failed to encrypt new data key with master key {:?}: {e}",
            key.describe()
        )
    };
    let mut errors = Vec::new();
    if sources.local.is_some() {
        match key {
            MasterKey::Age { recipient, enc } => {
                match AgeRecipient::parse(recipient).and_then(|r| r.wrap(recipient, part)) {
                    Ok(wrapped) => {
                        *enc = wrapped;
                        return Ok(());
                    }
                    Err(e) => errors.push(failed(key, &e.to_string())),
                }
            }
            MasterKey::Other { .. } if pgp::fingerprint(key).is_some() => {
                let fingerprint = pgp::fingerprint(key).unwrap_or_default().to_string();
                match pgp::wrap(&fingerprint, part) {
                    Ok(wrapped) => {
                        key.set_enc(wrapped);
                        return Ok(());
                    }
                    Err(e) => errors.push(failed(key, &e)),
                }
            }
            MasterKey::Other { kind, .. } => {
                let e = format!(
                    "keytap cannot encrypt the data key to {kind} keys itself; only age and PGP keys are supported (a sops key service can: --keyservice)"
                );
                errors.push(failed(key, &e));
            }
        }
    }
    for service in &sources.remote {
        match service.encrypt(key, part) {
            Ok(wrapped) => {
                key.set_enc(wrapped);
                return Ok(());
            }
            Err(e) => errors.push(failed(key, &e)),
        }
    }
    Err(errors)
}

/// A master key that failed to unwrap, and why: one error per key service tried.
#[derive(Debug)]
pub struct KeyAttempt {
    /// The key's recipient or identifier.
    pub key: String,
    /// Why each service failed, in the order they were tried.
    pub errors: Vec<String>,
}

/// Why the data key could not be recovered: each group's attempts, for the sops-style report.
#[derive(Debug)]
pub struct RecoverError {
    /// Per group: the attempts made, in order.
    pub groups: Vec<Vec<KeyAttempt>>,
    /// Whether each group yielded its share.
    pub group_ok: Vec<bool>,
    /// Groups needed.
    pub threshold: usize,
    /// The threshold the file records (0 when unset), which sops's brief error quotes.
    pub recorded_threshold: usize,
    /// A non-key failure (e.g. Shamir shares that do not combine).
    pub other: Option<String>,
}

impl RecoverError {
    /// sops's one-line form of the error (`getDataKeyError.Error()`), where a command
    /// does not print the report.
    pub fn brief(&self) -> String {
        match &self.other {
            Some(other) => other.clone(),
            None => format!(
                "Error getting data key: {} successful groups required, got {}",
                self.recorded_threshold,
                self.group_ok.iter().filter(|ok| **ok).count()
            ),
        }
    }
}

impl std::fmt::Display for RecoverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(other) = &self.other {
            return write!(f, "{other}");
        }
        // Built exactly like sops's getDataKeyError report, so it reads the same.
        let groups: Vec<String> = self
            .groups
            .iter()
            .enumerate()
            .map(|(i, attempts)| {
                if self.group_ok[i] {
                    return format!("Group {i}: SUCCESS");
                }
                let keys: Vec<String> = attempts
                    .iter()
                    .map(|a| {
                        let bullets: Vec<String> = a.errors.iter().map(|e| bullet(e)).collect();
                        format!("{}: FAILED\n{}", a.key, indent(&bullets.join("\n\n")))
                    })
                    .collect();
                format!("Group {i}: FAILED\n{}", indent(&keys.join("\n\n")))
            })
            .collect();
        let ok = self.group_ok.iter().filter(|o| **o).count();
        let trailer = if self.groups.len() > 1 {
            format!(
                "Recovery failed because the file was encrypted with a Shamir threshold of {}, but only {} part(s) were successfully recovered, one for each successful key group. In order for SOPS to recover the file, at least {} groups have to be successful. In order for a group to be successful, decryption has to succeed with any of the keys in that key group.",
                self.threshold, ok, self.threshold
            )
        } else {
            "Recovery failed because no master key was able to decrypt the file. In order for SOPS to recover the file, at least one key has to be successful, but none were.".to_string()
        };
        write!(
            f,
            "Failed to get the data key required to decrypt the SOPS file.\n\n{}\n\n{}",
            groups.join("\n\n"),
            wordwrap::wrap(&trailer, 75)
        )
    }
}

/// One error of a key, as sops lists it: wrapped at 60 columns, each line behind `  | `,
/// the first one's opening space made a `-`.
fn bullet(error: &str) -> String {
    let mut body = String::new();
    for line in wordwrap::wrap(error, 60).split('\n') {
        body.push_str(&format!("  | {line}\n"));
    }
    body.replace_range(0..1, "-");
    body.trim_end_matches('\n').to_string()
}

/// Prefixes every line (empty ones too) with two spaces, as sops's report does.
fn indent(text: &str) -> String {
    text.split('\n')
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl std::error::Error for RecoverError {}

/// Recovers the data key through `sources`: the first key of each group that unwraps gives
/// that group's part; with several groups, `threshold` parts are combined.
pub fn recover(metadata: &Metadata, sources: &KeySources) -> Result<DataKey, RecoverError> {
    recover_many(&[metadata], sources)
        .pop()
        .expect("one result per file")
}

/// Why one master key did not unwrap: the error of each service tried.
type KeyOutcome = Result<Zeroizing<Vec<u8>>, Vec<String>>;

/// Recovers the data keys of many files at once. Locally, every age key of every file goes
/// through [`crate::keys::identities::AgeIdentities::unwrap_many_grouped`] together, so each
/// plugin runs one session (one PIN prompt) for all of them; the keys of groups still
/// locked go to the remote key services, key by key, each service in order until one
/// answers (sops's order). Keys whose type the decryption order puts before `age` go to
/// the remote services first, so a group they open never asks a token.
pub fn recover_many(
    files: &[&Metadata],
    sources: &KeySources,
) -> Vec<Result<DataKey, RecoverError>> {
    // Every key of every file, with the group it belongs to (numbered across files), each
    // group's keys in decryption order.
    let mut keys: Vec<(&MasterKey, usize)> = Vec::new();
    let mut group_id = 0;
    for m in files {
        for group in &m.key_groups {
            for key in in_decryption_order(group, sources) {
                keys.push((key, group_id));
            }
            group_id += 1;
        }
    }
    let mut outcomes: Vec<KeyOutcome> = keys.iter().map(|_| Err(Vec::new())).collect();
    let mut open_groups = std::collections::HashSet::new();
    let age_rank = sources.rank("age");
    let before_age = |key: &MasterKey| sources.rank(key.kind()) < age_rank;
    if let Some(identities) = &sources.local {
        for (i, (key, _)) in keys.iter().enumerate() {
            if let MasterKey::Other { kind, .. } = key {
                if *kind != pgp::KIND {
                    outcomes[i] = Err(vec![format!("keytap cannot decrypt with {kind} keys")]);
                }
            }
        }
        try_pgp(&keys, &mut outcomes, &mut open_groups, |k| before_age(k));
        try_remote(&keys, &mut outcomes, &mut open_groups, sources, |k| {
            before_age(k)
        });
        let ages: Vec<usize> = (0..keys.len())
            .filter(|i| matches!(keys[*i].0, MasterKey::Age { .. }))
            .filter(|i| !open_groups.contains(&keys[*i].1))
            .collect();
        let encs: Vec<&str> = ages.iter().map(|i| keys[*i].0.enc()).collect();
        let group_of: Vec<usize> = ages.iter().map(|i| keys[*i].1).collect();
        for (i, result) in ages
            .iter()
            .zip(identities.unwrap_many_grouped(&encs, &group_of))
        {
            outcomes[*i] = result.map_err(|e| vec![e.to_string()]);
            if outcomes[*i].is_ok() {
                open_groups.insert(keys[*i].1);
            }
        }
        try_pgp(&keys, &mut outcomes, &mut open_groups, |_| true);
    }
    try_remote(&keys, &mut outcomes, &mut open_groups, sources, |_| true);
    let mut outcomes = outcomes.into_iter();
    files
        .iter()
        .map(|m| {
            let per_group: Vec<Vec<(&MasterKey, KeyOutcome)>> = m
                .key_groups
                .iter()
                .map(|g| {
                    in_decryption_order(g, sources)
                        .map(|k| (k, outcomes.next().expect("one per key")))
                        .collect()
                })
                .collect();
            combine_groups(m, per_group)
        })
        .collect()
}

/// A group's keys in decryption order (a stable sort: file order within a type).
fn in_decryption_order<'a>(
    group: &'a [MasterKey],
    sources: &KeySources,
) -> impl Iterator<Item = &'a MasterKey> {
    let mut ordered: Vec<&MasterKey> = group.iter().collect();
    ordered.sort_by_key(|k| sources.rank(k.kind()));
    ordered.into_iter()
}

/// Decrypts with GnuPG each PGP key `wanted` selects whose group is still locked (this
/// machine's key source, tried before the remote services as in sops). Tried at most once
/// per key: a failure is its first error.
fn try_pgp(
    keys: &[(&MasterKey, usize)],
    outcomes: &mut [KeyOutcome],
    open_groups: &mut std::collections::HashSet<usize>,
    wanted: impl Fn(&MasterKey) -> bool,
) {
    for (i, (key, group)) in keys.iter().enumerate() {
        let untried = matches!(&outcomes[i], Err(errors) if errors.is_empty());
        if key.kind() != pgp::KIND || open_groups.contains(group) || !untried || !wanted(key) {
            continue;
        }
        match pgp::unwrap(key.enc()) {
            Ok(part) => {
                outcomes[i] = Ok(part);
                open_groups.insert(*group);
            }
            Err(e) => push_error(&mut outcomes[i], e),
        }
    }
}

/// Asks the remote services, in order, for each key `wanted` selects whose group is still
/// locked and which has not opened yet; the first answer opens the group.
fn try_remote(
    keys: &[(&MasterKey, usize)],
    outcomes: &mut [KeyOutcome],
    open_groups: &mut std::collections::HashSet<usize>,
    sources: &KeySources,
    wanted: impl Fn(&MasterKey) -> bool,
) {
    for (i, (key, group)) in keys.iter().enumerate() {
        if open_groups.contains(group) || outcomes[i].is_ok() || !wanted(key) {
            continue;
        }
        for service in &sources.remote {
            match service.decrypt(key) {
                // sops counts an empty answer as a failure.
                Ok(part) if !part.is_empty() => {
                    outcomes[i] = Ok(part);
                    open_groups.insert(*group);
                    break;
                }
                Ok(_) => push_error(&mut outcomes[i], "the key service returned no key".into()),
                Err(e) => push_error(&mut outcomes[i], e),
            }
        }
    }
}

fn push_error(outcome: &mut KeyOutcome, error: String) {
    if let Err(errors) = outcome {
        errors.push(error);
    }
}

fn combine_groups(
    metadata: &Metadata,
    per_group: Vec<Vec<(&MasterKey, KeyOutcome)>>,
) -> Result<DataKey, RecoverError> {
    let several = metadata.key_groups.len() > 1;
    let threshold = if several {
        if metadata.shamir_threshold == 0 {
            metadata.key_groups.len()
        } else {
            metadata.shamir_threshold
        }
    } else {
        1
    };
    let mut groups = Vec::new();
    let mut group_ok = Vec::new();
    let mut parts: Vec<Zeroizing<Vec<u8>>> = Vec::new();
    for ordered in per_group {
        // In decryption order, as sops reports them; the first key that opens ends the group.
        let mut attempts = Vec::new();
        let mut part = None;
        for (key, outcome) in ordered {
            match outcome {
                Ok(p) => {
                    part = Some(p);
                    break;
                }
                Err(errors) => attempts.push(KeyAttempt {
                    key: key.describe(),
                    errors,
                }),
            }
        }
        group_ok.push(part.is_some());
        groups.push(attempts);
        if let Some(p) = part {
            parts.push(p);
        }
    }
    let fail = |other: Option<String>, groups, group_ok| RecoverError {
        groups,
        group_ok,
        threshold,
        recorded_threshold: metadata.shamir_threshold,
        other,
    };
    let key: Zeroizing<Vec<u8>> = if several {
        if parts.len() < threshold {
            return Err(fail(None, groups, group_ok));
        }
        let shares: Vec<Vec<u8>> = parts.iter().map(|p| p.to_vec()).collect();
        let combined = crate::shamir::combine(&shares).map_err(|e| {
            fail(
                Some(format!("could not get data key from shamir parts: {e}")),
                Vec::new(),
                Vec::new(),
            )
        })?;
        Zeroizing::new(combined)
    } else {
        match parts.pop() {
            Some(p) => p,
            None => return Err(fail(None, groups, group_ok)),
        }
    };
    let arr: [u8; DATA_KEY_BYTES] = key.as_slice().try_into().map_err(|_| {
        fail(
            Some(format!(
                "recovered data key has {} bytes, expected {DATA_KEY_BYTES}",
                key.len()
            )),
            Vec::new(),
            Vec::new(),
        )
    })?;
    Ok(Zeroizing::new(arr))
}
