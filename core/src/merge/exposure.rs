//! What a merge must not do silently: show a value to someone who could not read it
//! before. Each check names what the caller turns into a conflict, leaving OURS as it was
//! (git then marks the file conflicted and the user decides).
//!
//! A side's file is only as trustworthy as its branch: anyone can write a valid sops file
//! (recipients are public), list any recipients beside a data key of their choosing, and
//! copy another file's values, MAC and wrapped keys into it. So the merge cannot tell who
//! can really read their values, and must not spread them further than the base did.

use std::collections::HashSet;

use crate::metadata::Metadata;
use crate::tree::{Branch, Item, Value};
use crate::treepath::Step;

use super::{key_identity, printable_path};

/// Their values are under a data key the base did not have (they rotated, or both sides
/// added the file) and differ from the base's: values whose readers only their branch
/// vouches for, which may be another file's secrets dressed as this one. (A rotation
/// alone, values unchanged, is merged.)
pub fn their_values_under_a_new_key(
    base: Option<(&[u8], &[Branch])>,
    theirs: (&[u8], &[Branch]),
) -> bool {
    match base {
        None => true,
        Some((base_key, base_docs)) => base_key != theirs.0 && base_docs != theirs.1,
    }
}

/// The recipients the merge would add to ours when ours revoked someone: whoever was
/// removed may be the one their branch adds under another key. (Without a revocation, an
/// added recipient is only reported: a teammate adding a member is what merges are for.)
pub fn added_after_a_revocation(
    base: Option<&Metadata>,
    ours: &Metadata,
    merged: &Metadata,
) -> Vec<String> {
    let ids = |m: &Metadata| -> HashSet<String> {
        m.key_groups.iter().flatten().map(key_identity).collect()
    };
    let Some(base) = base else {
        return Vec::new();
    };
    let (before, kept) = (ids(base), ids(ours));
    if before.is_subset(&kept) {
        return Vec::new();
    }
    merged
        .key_groups
        .iter()
        .flatten()
        .filter(|k| !kept.contains(&key_identity(k)))
        .map(|k| k.describe())
        .collect()
}

/// Whether their side proved it could read the base: it rotated the data key and its
/// values are the base's (an outsider cannot re-encrypt values it cannot read). Only then
/// may a recipient it adds get a data key the merge wraps; otherwise such a recipient
/// keeps exactly the wrapped key their file gave it (see [`wrapped_for_their_additions`]).
pub fn they_read_the_base(base: Option<(&[u8], &[Branch])>, theirs: (&[u8], &[Branch])) -> bool {
    base.is_some_and(|(key, docs)| key != theirs.0 && docs == theirs.1)
}

/// The recipients only their side lists (not ours) whose wrapped key in the merged file
/// is not the one their file gave them: the merge wrapped a data key for them. sops's MAC
/// covers the values only, so anyone can add themselves to a copy of the file with an
/// empty `enc`; the merge must not fill it in.
pub fn wrapped_for_their_additions(
    ours: &Metadata,
    theirs: &Metadata,
    merged: &Metadata,
) -> Vec<String> {
    let ours_ids: HashSet<String> = ours.key_groups.iter().flatten().map(key_identity).collect();
    let given: std::collections::HashMap<String, &str> = theirs
        .key_groups
        .iter()
        .flatten()
        .map(|k| (key_identity(k), k.enc()))
        .collect();
    merged
        .key_groups
        .iter()
        .flatten()
        .filter(|k| {
            let id = key_identity(k);
            !ours_ids.contains(&id) && given.get(&id) != Some(&k.enc())
        })
        .map(|k| k.describe())
        .collect()
}

/// The paths of values encrypted in ours (as sealed) that the merged file would write in
/// plaintext: comment rules (`encrypted_comment_regex`, `unencrypted_comment_regex`) let a
/// comment their branch moves or deletes decide that.
pub fn made_plaintext(ours: &[Branch], merged: &[Branch]) -> Vec<String> {
    let mut encrypted = HashSet::new();
    let mut path = Vec::new();
    for (i, doc) in ours.iter().enumerate() {
        path.push(Step::Index(i as i64));
        leaves(doc, &mut path, &mut |p, v| {
            if is_encrypted(v) {
                encrypted.insert(p.to_vec());
            }
        });
        path.pop();
    }
    let mut exposed = Vec::new();
    for (i, doc) in merged.iter().enumerate() {
        path.push(Step::Index(i as i64));
        leaves(doc, &mut path, &mut |p, v| {
            if !is_encrypted(v) && !matches!(v, Value::Null) && encrypted.contains(p) {
                exposed.push(printable_path(&p[1..]));
            }
        });
        path.pop();
    }
    exposed
}

fn is_encrypted(v: &Value) -> bool {
    matches!(v, Value::Str(s) if s.starts_with("ENC[AES256_GCM,"))
}

/// Calls `f` with each leaf value and its path (a document index first).
fn leaves(branch: &Branch, path: &mut Vec<Step>, f: &mut impl FnMut(&[Step], &Value)) {
    for item in branch {
        if let Item::Entry(key, value) = item {
            path.push(Step::Key(key.clone()));
            leaf_values(value, path, f);
            path.pop();
        }
    }
}

fn leaf_values(value: &Value, path: &mut Vec<Step>, f: &mut impl FnMut(&[Step], &Value)) {
    match value {
        Value::Map(branch) => leaves(branch, path, f),
        Value::List(items) => {
            let values = items.iter().filter(|v| !matches!(v, Value::Comment(_)));
            for (i, v) in values.enumerate() {
                path.push(Step::Index(i as i64));
                leaf_values(v, path, f);
                path.pop();
            }
        }
        Value::Comment(_) => {}
        leaf => f(path, leaf),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, value: Value) -> Item {
        Item::Entry(key.into(), value)
    }

    #[test]
    fn a_rotation_alone_merges_but_new_values_under_a_new_key_do_not() {
        let docs = vec![vec![entry("a", Value::Int(1))]];
        let changed = vec![vec![entry("a", Value::Int(2))]];
        let (old, new) = ([1u8; 32], [2u8; 32]);
        assert!(!their_values_under_a_new_key(
            Some((&old, &docs)),
            (&new, &docs)
        ));
        assert!(their_values_under_a_new_key(
            Some((&old, &docs)),
            (&new, &changed)
        ));
        assert!(!their_values_under_a_new_key(
            Some((&old, &docs)),
            (&old, &changed)
        ));
        assert!(their_values_under_a_new_key(None, (&new, &docs)));
    }

    #[test]
    fn finds_values_that_would_lose_their_encryption() {
        let enc = || Value::Str("ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]".into());
        let ours = vec![vec![
            entry("db", enc()),
            entry(
                "list",
                Value::List(vec![Value::Comment(" c".into()), enc()]),
            ),
            entry("plain", Value::Str("p".into())),
        ]];
        let merged = vec![vec![
            entry("db", Value::Str("secret".into())),
            entry("list", Value::List(vec![Value::Str("secret".into())])),
            entry("plain", Value::Str("p".into())),
            entry("new", Value::Str("n".into())),
        ]];
        assert_eq!(
            made_plaintext(&ours, &merged),
            [r#"["db"]"#, r#"["list"][0]"#]
        );
        assert!(made_plaintext(&ours, &ours).is_empty());
    }
}
