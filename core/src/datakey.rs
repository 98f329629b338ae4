//! The data key: generated per file, wrapped to every master key (split with Shamir across
//! key groups when there are several), and recovered from whichever keys the user holds.

use rand::RngCore;
use zeroize::Zeroizing;

use crate::cipher::DataKey;
use crate::keys::age::{AgeIdentities, AgeRecipient};
use crate::metadata::{KeyGroup, MasterKey, Metadata};
use crate::wordwrap;

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
    /// The Shamir threshold does not fit the groups.
    #[error("could not split data key into parts for Shamir: {0}")]
    Shamir(String),
    /// A master key failed to wrap.
    #[error("{0}")]
    Key(String),
}

/// Wraps `key` to every master key of `metadata`. With more than one group the key is split
/// with Shamir (threshold defaulting to the number of groups, as sops does) and group `i`
/// wraps share `i`. When `only_missing` is set, keys that already have an `enc` keep it
/// (sops's `EncryptIfNeeded`, used by `updatekeys`).
pub fn wrap(metadata: &mut Metadata, key: &DataKey, only_missing: bool) -> Result<(), WrapError> {
    if metadata.key_groups.is_empty() {
        return Err(WrapError::NoGroups);
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
    for (group, part) in metadata.key_groups.iter_mut().zip(parts.iter()) {
        if group.is_empty() {
            return Err(WrapError::EmptyGroup);
        }
        wrap_group(group, part, only_missing)?;
    }
    Ok(())
}

fn wrap_group(group: &mut KeyGroup, part: &[u8], only_missing: bool) -> Result<(), WrapError> {
    for key in group.iter_mut() {
        let description = key.describe();
        match key {
            MasterKey::Age { recipient, enc } => {
                if only_missing && !enc.is_empty() {
                    continue;
                }
                let parsed =
                    AgeRecipient::parse(recipient).map_err(|e| WrapError::Key(e.to_string()))?;
                *enc = parsed
                    .wrap(recipient, part)
                    .map_err(|e| WrapError::Key(e.to_string()))?;
            }
            MasterKey::Other { kind, fields } => {
                let has_enc = matches!(crate::tree::get(fields, "enc"), Some(crate::tree::Value::Str(s)) if !s.is_empty());
                if only_missing && has_enc {
                    continue;
                }
                return Err(WrapError::Key(format!(
                    "keytap cannot encrypt the data key to {} keys ({}); only age recipients are supported",
                    kind, description
                )));
            }
        }
    }
    Ok(())
}

/// The outcome of trying one master key.
#[derive(Debug)]
pub struct KeyAttempt {
    /// The key's recipient or identifier.
    pub key: String,
    /// `None` on success, else why it failed.
    pub error: Option<String>,
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
    /// A non-key failure (e.g. Shamir shares that do not combine).
    pub other: Option<String>,
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
                        let err = a.error.as_deref().unwrap_or("");
                        let mut body = String::new();
                        for line in wordwrap::wrap(err, 60).split('\n') {
                            body.push_str(&format!("  | {line}\n"));
                        }
                        body.replace_range(0..1, "-");
                        let body = indent(body.trim_end_matches('\n'));
                        format!("{}: FAILED\n{}", a.key, body)
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

/// Prefixes every line (empty ones too) with two spaces, as sops's report does.
fn indent(text: &str) -> String {
    text.split('\n')
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl std::error::Error for RecoverError {}

/// Recovers the data key with the identities available: the first key of each group that
/// unwraps gives that group's part; with several groups, `threshold` parts are combined.
pub fn recover(metadata: &Metadata, identities: &AgeIdentities) -> Result<DataKey, RecoverError> {
    recover_many(&[metadata], identities)
        .pop()
        .expect("one result per file")
}

/// Recovers the data keys of many files at once: every wrapped key of every file goes
/// through [`AgeIdentities::unwrap_many`] together, so each plugin runs one session (one
/// PIN prompt) for all of them.
pub fn recover_many(
    files: &[&Metadata],
    identities: &AgeIdentities,
) -> Vec<Result<DataKey, RecoverError>> {
    let mut encs: Vec<&str> = Vec::new();
    let mut group_of: Vec<usize> = Vec::new();
    let mut group_id = 0;
    for m in files {
        for group in &m.key_groups {
            for key in group {
                if let MasterKey::Age { enc, .. } = key {
                    encs.push(enc);
                    group_of.push(group_id);
                }
            }
            group_id += 1;
        }
    }
    let mut unwrapped = identities.unwrap_many_grouped(&encs, &group_of).into_iter();
    files
        .iter()
        .map(|m| {
            let results: Vec<Vec<Result<Zeroizing<Vec<u8>>, String>>> = m
                .key_groups
                .iter()
                .map(|g| {
                    g.iter()
                        .filter(|k| matches!(k, MasterKey::Age { .. }))
                        .map(|_| {
                            unwrapped
                                .next()
                                .expect("one result per blob")
                                .map_err(|e| e.to_string())
                        })
                        .collect()
                })
                .collect();
            combine_groups(m, results)
        })
        .collect()
}

fn combine_groups(
    metadata: &Metadata,
    mut age_results: Vec<Vec<Result<Zeroizing<Vec<u8>>, String>>>,
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
    for (group, results) in metadata.key_groups.iter().zip(age_results.iter_mut()) {
        // Report in sops's decryption order: age keys first, then the others.
        let mut attempts = Vec::new();
        let mut part = None;
        let ages = group.iter().filter(|k| matches!(k, MasterKey::Age { .. }));
        for (key, result) in ages.zip(results.drain(..)) {
            match result {
                Ok(p) => {
                    part = Some(p);
                    break;
                }
                Err(e) => attempts.push(KeyAttempt {
                    key: key.describe(),
                    error: Some(e),
                }),
            }
        }
        if part.is_none() {
            for key in group.iter().filter(|k| !matches!(k, MasterKey::Age { .. })) {
                let MasterKey::Other { kind, .. } = key else {
                    continue;
                };
                attempts.push(KeyAttempt {
                    key: key.describe(),
                    error: Some(format!("keytap cannot decrypt with {kind} keys")),
                });
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
    let arr: [u8; 32] = key.as_slice().try_into().map_err(|_| {
        fail(
            Some(format!(
                "recovered data key has {} bytes, expected 32",
                key.len()
            )),
            Vec::new(),
            Vec::new(),
        )
    })?;
    Ok(Zeroizing::new(arr))
}
