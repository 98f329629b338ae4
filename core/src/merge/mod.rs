//! Three-way merges of sops files (`keytap merge`, a git merge driver): the decrypted
//! trees key by key, lists element by element, and the recipients as sets in which a
//! removal (a revocation) always wins. The caller opens the three versions, picks the data
//! key with [`choose_data_key`] and seals the result, so values nobody changed keep their
//! exact ciphertext.

pub mod exposure;

use std::collections::{HashMap, HashSet};

use crate::metadata::{KeyGroup, MasterKey, Metadata};
use crate::tree::{Branch, Item, Value};
use crate::treepath::Step;

/// What could not be merged: the key paths (`["a"]["b"][0]`) changed differently on both
/// sides, or changed on one side and deleted on the other, and the metadata fields both
/// sides changed differently (`sops.key_groups`, ...).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Conflicts(pub Vec<String>);

impl Conflicts {
    fn add(&mut self, path: &[Step]) {
        self.0.push(printable_path(path));
    }

    /// Whether nothing conflicted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A path as `["key"][0]`, with control characters escaped: key names are plaintext an
/// attacker's branch chooses, and they are printed to the user's terminal.
fn printable_path(path: &[Step]) -> String {
    crate::treepath::display(path)
        .chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// Merges the documents of the three versions. Where a conflict cannot be resolved, the
/// result keeps our value (or theirs, when we deleted what they changed: no secret is lost)
/// and the path is listed.
pub fn merge_documents(
    base: Option<&[Branch]>,
    ours: &[Branch],
    theirs: &[Branch],
    conflicts: &mut Conflicts,
) -> Vec<Branch> {
    let base_len = base.map(<[Branch]>::len);
    if ours.len() == theirs.len() && base_len.is_none_or(|n| n == ours.len()) {
        return (0..ours.len())
            .map(|i| {
                let b = base.map(|b| &b[i]);
                merge_branch(b, &ours[i], &theirs[i], &mut Vec::new(), conflicts)
            })
            .collect();
    }
    // Documents added or removed: whole-file three-way.
    if base.is_some_and(|b| b == ours) {
        theirs.to_vec()
    } else if base.is_some_and(|b| b == theirs) || ours == theirs {
        ours.to_vec()
    } else {
        conflicts.0.push("(the number of documents)".into());
        ours.to_vec()
    }
}

/// One entry of a mapping with the comment lines just above it (a comment belongs to the
/// key it introduces, so it moves and goes with it).
#[derive(Clone, Debug, PartialEq)]
struct Slot {
    comments: Vec<String>,
    key: String,
    /// How many entries before this one have the same key. sops checks duplicate keys only
    /// in a YAML file's first document, so later documents can repeat a key; each
    /// occurrence is merged with the same occurrence on the other sides.
    nth: usize,
    value: Value,
}

impl Slot {
    fn id(&self) -> (&str, usize) {
        (self.key.as_str(), self.nth)
    }
}

/// A mapping as slots, plus the comment lines after its last key.
fn slots(branch: &Branch) -> (Vec<Slot>, Vec<String>) {
    let mut out = Vec::new();
    let mut pending = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for item in branch {
        match item {
            Item::Comment(c) => pending.push(c.clone()),
            Item::Entry(k, v) => {
                let count = seen.entry(k.as_str()).or_default();
                out.push(Slot {
                    comments: std::mem::take(&mut pending),
                    key: k.clone(),
                    nth: *count,
                    value: v.clone(),
                });
                *count += 1;
            }
        }
    }
    (out, pending)
}

/// The slots of a mapping by key and occurrence (maps in secrets files can be large: no
/// quadratic lookups).
fn index(slots: &[Slot]) -> HashMap<(&str, usize), &Slot> {
    slots.iter().map(|s| (s.id(), s)).collect()
}

/// The three-way merge of one mapping.
fn merge_branch(
    base: Option<&Branch>,
    ours: &Branch,
    theirs: &Branch,
    path: &mut Vec<Step>,
    conflicts: &mut Conflicts,
) -> Branch {
    let (b, b_tail) = base.map(slots).unwrap_or_default();
    let (o, o_tail) = slots(ours);
    let (t, t_tail) = slots(theirs);
    let (b_at, o_at, t_at) = (index(&b), index(&o), index(&t));
    // Our keys in our order...
    let mut merged: Vec<Slot> = Vec::new();
    for slot in &o {
        path.push(Step::Key(slot.key.clone()));
        let id = slot.id();
        if let Some(s) = merge_slot(
            b_at.get(&id).copied(),
            Some(slot),
            t_at.get(&id).copied(),
            path,
            conflicts,
        ) {
            merged.push(s);
        }
        path.pop();
    }
    // ...and the keys only theirs has, each after the key it follows in their file (keys
    // they added in a row stay in a row after the same one of ours).
    let kept: HashSet<(&str, usize)> = merged.iter().map(Slot::id).collect();
    let mut after: HashMap<Option<(String, usize)>, Vec<Slot>> = HashMap::new();
    let mut anchor: Option<(String, usize)> = None;
    for slot in &t {
        let id = slot.id();
        if o_at.contains_key(&id) {
            if kept.contains(&id) {
                anchor = Some((slot.key.clone(), slot.nth));
            }
            continue;
        }
        path.push(Step::Key(slot.key.clone()));
        let added = merge_slot(b_at.get(&id).copied(), None, Some(slot), path, conflicts);
        path.pop();
        if let Some(s) = added {
            after.entry(anchor.clone()).or_default().push(s);
        }
    }
    let mut ordered: Vec<Slot> = after.remove(&None).unwrap_or_default();
    for s in merged {
        let follow = after.remove(&Some((s.key.clone(), s.nth)));
        ordered.push(s);
        ordered.extend(follow.into_iter().flatten());
    }
    let merged = ordered;
    let tail = merge_comments(&b_tail, &o_tail, &t_tail);
    let mut out = Branch::new();
    for s in merged {
        out.extend(s.comments.into_iter().map(Item::Comment));
        out.push(Item::Entry(s.key, s.value));
    }
    out.extend(tail.into_iter().map(Item::Comment));
    out
}

/// One key: present or not in each version. `None` in the result deletes it.
fn merge_slot(
    base: Option<&Slot>,
    ours: Option<&Slot>,
    theirs: Option<&Slot>,
    path: &mut Vec<Step>,
    conflicts: &mut Conflicts,
) -> Option<Slot> {
    let value = merge_value(
        base.map(|s| &s.value),
        ours.map(|s| &s.value),
        theirs.map(|s| &s.value),
        path,
        conflicts,
    )?;
    let none = Vec::new();
    let comments = merge_comments(
        base.map_or(&none, |s| &s.comments),
        ours.map_or(&none, |s| &s.comments),
        theirs.map_or(&none, |s| &s.comments),
    );
    let side = ours.or(theirs).expect("a kept key exists on a side");
    Some(Slot {
        comments,
        key: side.key.clone(),
        nth: side.nth,
        value,
    })
}

/// Comment lines: one side's change wins; both changed: ours, then the lines only theirs
/// has (comments are notes, never worth a conflict).
fn merge_comments(base: &[String], ours: &[String], theirs: &[String]) -> Vec<String> {
    if ours == theirs || theirs == base {
        return ours.to_vec();
    }
    if ours == base {
        return theirs.to_vec();
    }
    let mut out = ours.to_vec();
    out.extend(theirs.iter().filter(|l| !ours.contains(l)).cloned());
    out
}

/// The three-way merge of a value that may be absent (`None`) in any version.
fn merge_value(
    base: Option<&Value>,
    ours: Option<&Value>,
    theirs: Option<&Value>,
    path: &mut Vec<Step>,
    conflicts: &mut Conflicts,
) -> Option<Value> {
    if ours == theirs || theirs == base {
        return ours.cloned();
    }
    if ours == base {
        return theirs.cloned();
    }
    match (base, ours, theirs) {
        (None | Some(Value::Map(_)), Some(Value::Map(o)), Some(Value::Map(t))) => {
            let b = match base {
                Some(Value::Map(b)) => Some(b),
                _ => None,
            };
            Some(Value::Map(merge_branch(b, o, t, path, conflicts)))
        }
        (None | Some(Value::List(_)), Some(Value::List(o)), Some(Value::List(t))) => {
            let b: &[Value] = match base {
                Some(Value::List(b)) => b,
                _ => &[],
            };
            Some(Value::List(merge_list(b, o, t, path, conflicts)))
        }
        _ => {
            conflicts.add(path);
            ours.or(theirs).cloned()
        }
    }
}

/// A list: element by element when no side changed its length, else diff3 over the
/// elements (insertions and removals on either side merge; overlapping changes conflict).
fn merge_list(
    base: &[Value],
    ours: &[Value],
    theirs: &[Value],
    path: &mut Vec<Step>,
    conflicts: &mut Conflicts,
) -> Vec<Value> {
    if base.len() == ours.len() && base.len() == theirs.len() {
        return (0..base.len())
            .map(|i| {
                path.push(Step::Index(i as i64));
                let v = merge_value(
                    Some(&base[i]),
                    Some(&ours[i]),
                    Some(&theirs[i]),
                    path,
                    conflicts,
                );
                path.pop();
                v.unwrap_or(Value::Null)
            })
            .collect();
    }
    // The alignment costs base × side cells: past a bound (lists far longer than secrets
    // files hold), a list both sides changed is a conflict rather than gigabytes of table.
    let cells = |side: &[Value]| (base.len() + 1).saturating_mul(side.len() + 1);
    if cells(ours).max(cells(theirs)) > MAX_ALIGNMENT_CELLS {
        conflicts.add(path);
        return ours.to_vec();
    }
    let mut out = Vec::new();
    let mut clashed = false;
    for chunk in diff3(base, ours, theirs) {
        match chunk {
            Chunk::Stable(v) => out.push(v.clone()),
            Chunk::Changed {
                base: b,
                ours: o,
                theirs: t,
            } => {
                if o == b {
                    out.extend_from_slice(t);
                } else if t == b || o == t {
                    out.extend_from_slice(o);
                } else {
                    clashed = true;
                    out.extend_from_slice(o);
                }
            }
        }
    }
    if clashed {
        conflicts.add(path);
    }
    out
}

/// The largest LCS table [`merge_list`] builds (4 bytes a cell: 64 MiB).
const MAX_ALIGNMENT_CELLS: usize = 16 << 20;

/// A piece of a diff3 walk: an element all three versions share, or the differing runs
/// between two shared elements.
enum Chunk<'a> {
    Stable(&'a Value),
    Changed {
        base: &'a [Value],
        ours: &'a [Value],
        theirs: &'a [Value],
    },
}

/// For each base element, the index of its partner in `side` (a longest common
/// subsequence; lists in secrets files are short, so the quadratic table is fine).
fn lcs_matches(base: &[Value], side: &[Value]) -> Vec<Option<usize>> {
    let (n, m) = (base.len(), side.len());
    let mut table = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            table[i][j] = if base[i] == side[j] {
                table[i + 1][j + 1] + 1
            } else {
                table[i + 1][j].max(table[i][j + 1])
            };
        }
    }
    let mut matches = vec![None; n];
    let (mut i, mut j) = (0, 0);
    while i < n && j < m {
        if base[i] == side[j] {
            matches[i] = Some(j);
            i += 1;
            j += 1;
        } else if table[i + 1][j] >= table[i][j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    matches
}

/// The classic diff3 walk: stable where a base element is matched on both sides.
fn diff3<'a>(base: &'a [Value], ours: &'a [Value], theirs: &'a [Value]) -> Vec<Chunk<'a>> {
    let to_ours = lcs_matches(base, ours);
    let to_theirs = lcs_matches(base, theirs);
    let mut chunks = Vec::new();
    let (mut b0, mut o0, mut t0) = (0, 0, 0);
    for (i, (mo, mt)) in to_ours.iter().zip(&to_theirs).enumerate() {
        let (Some(o), Some(t)) = (*mo, *mt) else {
            continue;
        };
        if o < o0 || t < t0 {
            continue;
        }
        if (b0, o0, t0) != (i, o, t) {
            chunks.push(Chunk::Changed {
                base: &base[b0..i],
                ours: &ours[o0..o],
                theirs: &theirs[t0..t],
            });
        }
        chunks.push(Chunk::Stable(&base[i]));
        (b0, o0, t0) = (i + 1, o + 1, t + 1);
    }
    if b0 < base.len() || o0 < ours.len() || t0 < theirs.len() {
        chunks.push(Chunk::Changed {
            base: &base[b0..],
            ours: &ours[o0..],
            theirs: &theirs[t0..],
        });
    }
    chunks
}

/// What identifies a master key across versions: its recipient (age), or its fields other
/// than the wrapped key and its date (pgp fingerprint, KMS ARN, ...).
pub fn key_identity(key: &MasterKey) -> String {
    match key {
        // Bech32 is case-insensitive: an upper-case copy is the same recipient.
        MasterKey::Age { recipient, .. } if recipient.starts_with(['a', 'A']) => {
            format!("age:{}", recipient.to_ascii_lowercase())
        }
        MasterKey::Age { recipient, .. } => format!("age:{recipient}"),
        MasterKey::Other { kind, fields } => {
            let mut id = format!("{kind}:");
            for item in fields {
                if let Item::Entry(k, v) = item {
                    if k != "enc" && k != "created_at" {
                        id.push_str(&format!("{k}={v:?};"));
                    }
                }
            }
            id
        }
    }
}

fn identities(groups: &[KeyGroup]) -> Vec<Vec<String>> {
    groups
        .iter()
        .map(|g| g.iter().map(key_identity).collect())
        .collect()
}

/// The conflict [`merge_key_groups`] reports when both sides added or removed groups: no
/// merged set of recipients can be trusted to keep both sides' revocations, so the caller
/// must not write a result.
pub const KEY_GROUPS_CONFLICT: &str = "sops key groups (both sides added or removed groups)";

/// Merges the key groups as sets of recipients, group by group: a key added on either
/// side is in the result, a key removed on either side is not (a removal is a revocation:
/// it must win). The keys keep their `enc` as found on our side, else theirs (the caller
/// decides which are still valid). Groups added or removed on both sides conflict.
pub fn merge_key_groups(
    base: Option<&[KeyGroup]>,
    ours: &[KeyGroup],
    theirs: &[KeyGroup],
    conflicts: &mut Conflicts,
) -> Vec<KeyGroup> {
    let base_len = base.map(<[KeyGroup]>::len);
    if ours.len() != theirs.len() || base_len.is_some_and(|n| n != ours.len()) {
        let b = base.map(identities);
        if b.as_ref() == Some(&identities(ours)) {
            return theirs.to_vec();
        }
        if b.as_ref() == Some(&identities(theirs)) || identities(ours) == identities(theirs) {
            return ours.to_vec();
        }
        conflicts.0.push(KEY_GROUPS_CONFLICT.into());
        return ours.to_vec();
    }
    (0..ours.len())
        .map(|g| {
            // Each side's identities once, hashed: a hostile file may list many keys.
            let set = |group: &[MasterKey]| -> HashSet<String> {
                group.iter().map(key_identity).collect()
            };
            let b_ids = base.map(|b| set(&b[g])).unwrap_or_default();
            let (o_ids, t_ids) = (set(&ours[g]), set(&theirs[g]));
            let in_base = |id: &str| b_ids.contains(id);
            let in_ours = |id: &str| o_ids.contains(id);
            let in_theirs = |id: &str| t_ids.contains(id);
            let keep = |id: &str| {
                (in_ours(id) && in_theirs(id)) || (!in_base(id) && (in_ours(id) || in_theirs(id)))
            };
            let mut group: KeyGroup = ours[g]
                .iter()
                .filter(|k| keep(&key_identity(k)))
                .cloned()
                .collect();
            for k in &theirs[g] {
                let id = key_identity(k);
                if !in_ours(&id) && keep(&id) {
                    group.push(k.clone());
                }
            }
            group
        })
        .collect()
}

/// Which data key the merged file gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataKeyChoice {
    /// Ours (the base's too, when neither side rotated; or the side that rotated).
    Ours,
    /// Theirs: only they rotated.
    Theirs,
    /// A fresh key, as `rotate` would make: both sides rotated to different keys, or the
    /// result revokes a key that a side still had (which may hold the old data key).
    Fresh,
}

/// Picks the data key: the base's if neither side changed it, else the side that rotated
/// it, else a fresh one. `None` for `base` means the file is new on both sides. Their key is
/// kept only when `result_is_theirs` (the merged documents are exactly theirs): anyone can
/// write a valid sops file whose data key they keep (recipients are public), so our values
/// are never sealed under a key only their branch vouches for. (The caller then checks
/// [`revoked_key_could_unwrap`].)
pub fn choose_data_key(
    base: Option<&[u8]>,
    ours: &[u8],
    theirs: &[u8],
    result_is_theirs: bool,
) -> DataKeyChoice {
    let ours_rotated = base != Some(ours);
    let theirs_rotated = base != Some(theirs);
    match (ours_rotated, theirs_rotated) {
        (false, true) if result_is_theirs => DataKeyChoice::Theirs,
        (false, true) => DataKeyChoice::Fresh,
        (false, false) | (true, false) => DataKeyChoice::Ours,
        (true, true) if ours == theirs => DataKeyChoice::Ours,
        (true, true) => DataKeyChoice::Fresh,
    }
}

/// Whether a key the merge drops was a recipient of a version whose data key is `key`:
/// that holder could still unwrap `key`, so the result needs a fresh one (as `rotate`
/// after removing a recipient). `versions` are (key groups, data key) of base, ours and
/// theirs.
pub fn revoked_key_could_unwrap(
    merged: &[KeyGroup],
    versions: &[(&[KeyGroup], &[u8])],
    key: &[u8],
) -> bool {
    let kept: HashSet<String> = merged.iter().flatten().map(key_identity).collect();
    versions
        .iter()
        .filter(|(_, k)| *k == key)
        .any(|(groups, _)| {
            groups
                .iter()
                .flatten()
                .any(|m| !kept.contains(&key_identity(m)))
        })
}

/// Forgets every wrapped data key (before wrapping a fresh one).
pub fn clear_wrapped_keys(groups: &mut [KeyGroup]) {
    for key in groups.iter_mut().flatten() {
        key.set_enc(String::new());
    }
}

/// Gives the merged keys the wrapped data keys of `donors`, versions opened with the data
/// key the result keeps (the chosen side first). With one group a wrapped key is the data
/// key itself and can come from any donor; with several, each holds one Shamir share of a
/// particular split, so the groups are reused only when they are exactly the first donor's
/// (else every `enc` is cleared and the key split again).
pub fn reuse_wrapped_keys(merged: &mut [KeyGroup], donors: &[&[KeyGroup]]) {
    if merged.len() > 1 {
        let same = donors
            .first()
            .is_some_and(|d| identities(d) == identities(merged));
        if same {
            merged.clone_from_slice(donors[0]);
        } else {
            clear_wrapped_keys(merged);
        }
        return;
    }
    for key in merged.iter_mut().flatten() {
        let id = key_identity(key);
        let enc = donors
            .iter()
            .flat_map(|d| d.iter().flatten())
            .find(|k| key_identity(k) == id && !k.enc().is_empty())
            .map(|k| k.enc().to_string())
            .unwrap_or_default();
        key.set_enc(enc);
    }
}

/// A metadata field both sides may have changed: one side's change wins, the same change
/// is fine, different changes conflict (ours is kept).
pub fn merge_field<T: PartialEq + Clone>(
    name: &str,
    base: Option<&T>,
    ours: &T,
    theirs: &T,
    conflicts: &mut Conflicts,
) -> T {
    if ours == theirs || base == Some(theirs) {
        ours.clone()
    } else if base == Some(ours) {
        theirs.clone()
    } else {
        conflicts.0.push(format!("sops.{name}"));
        ours.clone()
    }
}

/// The merged metadata (its `mac` and `lastmodified` are redone when the file is sealed;
/// `enc` values are the caller's to fix up): the key groups as sets, the encryption
/// rule, threshold and MAC mode three-way, the newer of the two versions.
pub fn merge_metadata(
    base: Option<&Metadata>,
    ours: &Metadata,
    theirs: &Metadata,
    conflicts: &mut Conflicts,
) -> Metadata {
    let mut out = ours.clone();
    out.key_groups = merge_key_groups(
        base.map(|b| b.key_groups.as_slice()),
        &ours.key_groups,
        &theirs.key_groups,
        conflicts,
    );
    out.shamir_threshold = merge_field(
        "shamir_threshold",
        base.map(|b| &b.shamir_threshold),
        &ours.shamir_threshold,
        &theirs.shamir_threshold,
        conflicts,
    );
    // Which values are encrypted and MACed: a change from their side would apply to our
    // values too (a narrower encrypted_regex would write our secrets in the clear), so it
    // is never taken silently: ours is kept and the change reported as a conflict.
    if theirs.crypt_rule != ours.crypt_rule
        && base.is_none_or(|b| b.crypt_rule != theirs.crypt_rule)
    {
        conflicts.0.push(
            "sops.encryption rule (encrypted_regex, unencrypted_suffix, ...): theirs changed it"
                .into(),
        );
    }
    if theirs.mac_only_encrypted != ours.mac_only_encrypted
        && base.is_none_or(|b| b.mac_only_encrypted != theirs.mac_only_encrypted)
    {
        conflicts
            .0
            .push("sops.mac_only_encrypted: theirs changed it".into());
    }
    if crate::metadata::version_older(&ours.version, &theirs.version) {
        out.version = theirs.version.clone();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::Str(v.into())
    }

    fn map(entries: &[(&str, Value)]) -> Branch {
        entries
            .iter()
            .map(|(k, v)| Item::Entry(k.to_string(), v.clone()))
            .collect()
    }

    fn merge(b: &Branch, o: &Branch, t: &Branch) -> (Branch, Vec<String>) {
        let mut c = Conflicts::default();
        let out = merge_documents(
            Some(std::slice::from_ref(b)),
            std::slice::from_ref(o),
            std::slice::from_ref(t),
            &mut c,
        );
        (out.into_iter().next().unwrap(), c.0)
    }

    #[test]
    fn different_keys_merge_and_keep_order() {
        let b = map(&[("a", s("1")), ("b", s("2"))]);
        let o = map(&[("a", s("10")), ("b", s("2")), ("c", s("3"))]);
        let t = map(&[("x", s("0")), ("a", s("1")), ("b", s("20"))]);
        let (m, c) = merge(&b, &o, &t);
        assert!(c.is_empty(), "{c:?}");
        assert_eq!(
            m,
            map(&[("x", s("0")), ("a", s("10")), ("b", s("20")), ("c", s("3"))])
        );
    }

    #[test]
    fn deletions_apply_and_change_versus_delete_conflicts() {
        let b = map(&[("a", s("1")), ("b", s("2"))]);
        let o = map(&[("b", s("2"))]);
        let t = map(&[("a", s("1")), ("b", s("2"))]);
        assert_eq!(merge(&b, &o, &t), (map(&[("b", s("2"))]), vec![]));
        let t = map(&[("a", s("changed")), ("b", s("2"))]);
        let (m, c) = merge(&b, &o, &t);
        assert_eq!(c, vec!["[\"a\"]"]);
        assert_eq!(m, t, "the changed value is kept, not lost");
    }

    #[test]
    fn a_repeated_key_merges_occurrence_by_occurrence() {
        // sops accepts a repeated key after a YAML file's first document.
        let b = map(&[("k", s("1")), ("k", s("2"))]);
        let o = Branch::new();
        assert_eq!(
            merge(&b, &o, &b),
            (o.clone(), vec![]),
            "deleting both is clean"
        );
        let o = map(&[("k", s("1")), ("k", s("20"))]);
        let t = map(&[("k", s("10")), ("k", s("2")), ("k", s("3"))]);
        let (m, c) = merge(&b, &o, &t);
        assert!(c.is_empty(), "{c:?}");
        assert_eq!(m, map(&[("k", s("10")), ("k", s("20")), ("k", s("3"))]));
        let t = map(&[("k", s("1")), ("k", s("30"))]);
        assert_eq!(merge(&b, &o, &t).1, vec!["[\"k\"]"]);
    }

    #[test]
    fn nested_maps_merge_and_same_key_changes_conflict_by_path() {
        let b = map(&[("db", Value::Map(map(&[("user", s("u")), ("pass", s("p"))])))]);
        let o = map(&[(
            "db",
            Value::Map(map(&[("user", s("u2")), ("pass", s("p1"))])),
        )]);
        let t = map(&[(
            "db",
            Value::Map(map(&[("user", s("u")), ("pass", s("p2"))])),
        )]);
        let (m, c) = merge(&b, &o, &t);
        assert_eq!(c, vec!["[\"db\"][\"pass\"]"]);
        assert_eq!(m, o);
    }

    #[test]
    fn lists_merge_element_wise_and_by_diff3() {
        let l = |xs: &[&str]| Value::List(xs.iter().map(|x| s(x)).collect());
        let b = map(&[("l", l(&["a", "b", "c"]))]);
        let o = map(&[("l", l(&["A", "b", "c"]))]);
        let t = map(&[("l", l(&["a", "b", "C"]))]);
        assert_eq!(
            merge(&b, &o, &t),
            (map(&[("l", l(&["A", "b", "C"]))]), vec![])
        );
        // An insertion on one side, a removal on the other.
        let o = map(&[("l", l(&["a", "x", "b", "c"]))]);
        let t = map(&[("l", l(&["a", "b"]))]);
        assert_eq!(
            merge(&b, &o, &t),
            (map(&[("l", l(&["a", "x", "b"]))]), vec![])
        );
        // Both insert different elements at the same place.
        let t = map(&[("l", l(&["a", "y", "b", "c"]))]);
        assert_eq!(merge(&b, &o, &t).1, vec!["[\"l\"]"]);
    }

    #[test]
    fn huge_lists_changed_on_both_sides_conflict_instead_of_exhausting_memory() {
        let l = |n: usize, extra: &[&str]| {
            let mut v: Vec<Value> = (0..n).map(|i| Value::Int(i as i64)).collect();
            v.extend(extra.iter().map(|e| s(e)));
            Value::List(v)
        };
        let b = map(&[("l", l(100_000, &[]))]);
        let o = map(&[("l", l(100_000, &["o"]))]);
        let t = map(&[("l", l(100_000, &["t", "t2"]))]);
        let (m, c) = merge(&b, &o, &t);
        assert_eq!(c, vec!["[\"l\"]"]);
        assert_eq!(m, o);
    }

    #[test]
    fn comments_travel_with_their_key() {
        let b = vec![Item::Entry("a".into(), s("1"))];
        let o = vec![
            Item::Comment(" about a".into()),
            Item::Entry("a".into(), s("1")),
        ];
        let t = vec![Item::Entry("a".into(), s("2"))];
        let (m, c) = merge(&b, &o, &t);
        assert!(c.is_empty());
        assert_eq!(
            m,
            vec![
                Item::Comment(" about a".into()),
                Item::Entry("a".into(), s("2"))
            ]
        );
    }

    #[test]
    fn control_characters_in_conflicting_keys_are_escaped() {
        let b = map(&[("\x1b[2J", s("1"))]);
        let o = map(&[("\x1b[2J", s("2"))]);
        let t = map(&[("\x1b[2J", s("3"))]);
        assert_eq!(merge(&b, &o, &t).1, vec!["[\"\\u{1b}[2J\"]"]);
    }

    fn age(r: &str) -> MasterKey {
        MasterKey::Age {
            recipient: r.into(),
            enc: format!("enc-{r}"),
        }
    }

    #[test]
    fn recipients_added_on_either_side_stay_and_removals_win() {
        let b = vec![vec![age("a"), age("b"), age("c")]];
        let o = vec![vec![age("a"), age("b"), age("c"), age("d")]];
        let t = vec![vec![age("a"), age("c"), age("e")]];
        let mut c = Conflicts::default();
        let m = merge_key_groups(Some(&b), &o, &t, &mut c);
        assert!(c.is_empty());
        let ids: Vec<String> = m[0].iter().map(key_identity).collect();
        assert_eq!(ids, ["age:a", "age:c", "age:d", "age:e"]);
    }

    #[test]
    fn the_data_key_follows_rotation_and_revocation() {
        let (k, r1, r2) = ([1u8; 32], [2u8; 32], [3u8; 32]);
        /// (base, ours, theirs, result is exactly theirs) -> the key the result is sealed with.
        type Case<'a> = (Option<&'a [u8]>, &'a [u8], &'a [u8], bool, DataKeyChoice);
        let cases: [Case; 6] = [
            (Some(&k), &k, &k, false, DataKeyChoice::Ours),
            (Some(&k), &r1, &k, false, DataKeyChoice::Ours),
            (Some(&k), &k, &r1, true, DataKeyChoice::Theirs),
            // Their key never seals our changes.
            (Some(&k), &k, &r1, false, DataKeyChoice::Fresh),
            (Some(&k), &r1, &r2, false, DataKeyChoice::Fresh),
            (None, &r1, &r2, false, DataKeyChoice::Fresh),
        ];
        for (n, (base, ours, theirs, exactly_theirs, want)) in cases.into_iter().enumerate() {
            assert_eq!(
                choose_data_key(base, ours, theirs, exactly_theirs),
                want,
                "case {n}"
            );
        }
        // Theirs removed b without rotating; ours still had b on the same key: fresh.
        let with_b = vec![vec![age("a"), age("b")]];
        let without_b = vec![vec![age("a")]];
        let versions: [(&[KeyGroup], &[u8]); 3] = [(&with_b, &k), (&with_b, &k), (&without_b, &k)];
        assert!(revoked_key_could_unwrap(&without_b, &versions, &k));
        // Ours removed b and rotated: b never held r1, which the result can keep.
        let versions: [(&[KeyGroup], &[u8]); 3] = [(&with_b, &k), (&without_b, &r1), (&with_b, &k)];
        assert!(!revoked_key_could_unwrap(&without_b, &versions, &r1));
        assert!(revoked_key_could_unwrap(&without_b, &versions, &k));
    }
}
