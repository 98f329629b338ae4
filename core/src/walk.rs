//! Encrypting and decrypting a whole tree, and the MAC over it.
//!
//! Hand-written to follow sops's `walkBranch`/`walkSlice`/`shouldBeEncrypted` exactly: which
//! leaves are encrypted depends on the key path and on the comments directly above an item,
//! the AAD is the chain of mapping keys joined by `:` plus a trailing `:`, and the MAC is
//! SHA-512 over the plaintext of the leaves in walk order.

use crate::cipher::{CipherError, ValueCipher};
use crate::split::split_single;
use crate::tree::{Branch, Item, Value};

mod mac;
use mac::MacHasher;

/// The rule deciding which values are encrypted (at most one per file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CryptRule {
    /// Keys whose path has a component ending in this suffix stay plaintext (sops's default,
    /// `_unencrypted`).
    UnencryptedSuffix(String),
    /// Only keys whose path has a component ending in this suffix are encrypted.
    EncryptedSuffix(String),
    /// Keys whose path has a component matching this regex stay plaintext.
    UnencryptedRegex(String),
    /// Only keys whose path has a component matching this regex are encrypted.
    EncryptedRegex(String),
    /// Items below a comment matching this regex stay plaintext.
    UnencryptedCommentRegex(String),
    /// Only items below a comment matching this regex are encrypted.
    EncryptedCommentRegex(String),
}

impl Default for CryptRule {
    fn default() -> Self {
        CryptRule::UnencryptedSuffix("_unencrypted".into())
    }
}

impl CryptRule {
    /// The metadata field names of the six kinds of rule, in the order sops counts them.
    pub const FIELD_NAMES: [&'static str; 6] = [
        "unencrypted_suffix",
        "encrypted_suffix",
        "unencrypted_regex",
        "encrypted_regex",
        "unencrypted_comment_regex",
        "encrypted_comment_regex",
    ];

    /// The metadata field name of this rule (`unencrypted_suffix`, ...).
    pub fn field_name(&self) -> &'static str {
        match self {
            CryptRule::UnencryptedSuffix(_) => "unencrypted_suffix",
            CryptRule::EncryptedSuffix(_) => "encrypted_suffix",
            CryptRule::UnencryptedRegex(_) => "unencrypted_regex",
            CryptRule::EncryptedRegex(_) => "encrypted_regex",
            CryptRule::UnencryptedCommentRegex(_) => "unencrypted_comment_regex",
            CryptRule::EncryptedCommentRegex(_) => "encrypted_comment_regex",
        }
    }

    /// The rule's suffix or regex text.
    pub fn value(&self) -> &str {
        match self {
            CryptRule::UnencryptedSuffix(s)
            | CryptRule::EncryptedSuffix(s)
            | CryptRule::UnencryptedRegex(s)
            | CryptRule::EncryptedRegex(s)
            | CryptRule::UnencryptedCommentRegex(s)
            | CryptRule::EncryptedCommentRegex(s) => s,
        }
    }

    /// Builds a rule from its metadata field name.
    pub fn from_field(name: &str, value: String) -> Option<CryptRule> {
        Some(match name {
            "unencrypted_suffix" => CryptRule::UnencryptedSuffix(value),
            "encrypted_suffix" => CryptRule::EncryptedSuffix(value),
            "unencrypted_regex" => CryptRule::UnencryptedRegex(value),
            "encrypted_regex" => CryptRule::EncryptedRegex(value),
            "unencrypted_comment_regex" => CryptRule::UnencryptedCommentRegex(value),
            "encrypted_comment_regex" => CryptRule::EncryptedCommentRegex(value),
            _ => return None,
        })
    }
}

/// Why a tree could not be encrypted or decrypted.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    /// The rule's regex does not compile.
    #[error("invalid {field} {regex:?}: {message}")]
    BadRegex {
        /// Metadata field name.
        field: &'static str,
        /// The regex text.
        regex: String,
        /// Why it failed.
        message: String,
    },
    /// A value failed to decrypt; `path` names it (no plaintext).
    #[error("Error walking tree: Could not decrypt value at {path}: {source}")]
    Decrypt {
        /// The value's key path, e.g. `["a"]["b"][0]`.
        path: String,
        /// The cipher's reason.
        source: CipherError,
    },
    /// A value failed to encrypt.
    #[error("Error walking tree: Could not encrypt value at {path}: {source}")]
    Encrypt {
        /// The value's key path.
        path: String,
        /// The cipher's reason.
        source: CipherError,
    },
    /// An encrypted comment does not decrypt: changed, or moved from elsewhere. Comments are
    /// not covered by the MAC, so this is the only check they get.
    #[error("Error walking tree: the encrypted comment at {path} does not decrypt: it was changed or moved here (comments are not covered by the MAC; --ignore-mac reads the file anyway, showing the comment as it is)")]
    TamperedComment {
        /// Where the comment is.
        path: String,
    },
    /// An encrypted comment would be mistaken for an unencrypted one on decryption.
    #[error("encrypted comment matches unencrypted_comment_regex; make sure the regex cannot match an encrypted comment")]
    CommentRegexMatchesCiphertext,
}

struct Matcher {
    rule: CryptRule,
    regex: Option<regex::Regex>,
    mac_only_encrypted: bool,
}

/// The rule's regex as Go compiles it (Go's syntax first: the `regex` crate takes `a**`),
/// or Go's complaint; `None` for a rule without one.
fn rule_regex(rule: &CryptRule) -> Option<Result<regex::Regex, WalkError>> {
    let (CryptRule::UnencryptedRegex(r)
    | CryptRule::EncryptedRegex(r)
    | CryptRule::UnencryptedCommentRegex(r)
    | CryptRule::EncryptedCommentRegex(r)) = rule
    else {
        return None;
    };
    let bad = |message| WalkError::BadRegex {
        field: rule.field_name(),
        regex: r.clone(),
        message,
    };
    if let Some(message) = crate::go_regex::go_syntax_error(r) {
        return Some(Err(bad(message)));
    }
    Some(crate::go_regex::go_regex(r).map_err(|e| {
        bad(format!(
            "error parsing regexp: {}: `{r}`",
            crate::go_regex::regex_error_text(&e)
        ))
    }))
}

/// Refuses the rule of a new file whose `encrypted_regex` or `encrypted_comment_regex`
/// Go cannot compile: sops takes such a regex as matching nothing and writes every value
/// in plaintext. An `unencrypted_*` regex that does not compile encrypts everything, as
/// in sops.
pub fn check_new_file_rule(rule: &CryptRule) -> Result<(), WalkError> {
    match (rule, rule_regex(rule)) {
        (CryptRule::EncryptedRegex(_) | CryptRule::EncryptedCommentRegex(_), Some(Err(e))) => {
            Err(e)
        }
        _ => Ok(()),
    }
}

impl Matcher {
    /// As sops's `regexp.Match` in each walk: a regex Go cannot compile matches nothing
    /// (so files sops wrote with one read and change as in sops; new files are checked by
    /// [`check_new_file_rule`]).
    fn new(rule: &CryptRule, mac_only_encrypted: bool) -> Self {
        Matcher {
            rule: rule.clone(),
            regex: rule_regex(rule).and_then(Result::ok),
            mac_only_encrypted,
        }
    }

    /// sops's `shouldBeEncrypted`.
    fn should_encrypt(&self, path: &KeyPath, comments: &[Vec<String>], is_comment: bool) -> bool {
        let re = self.regex.as_ref();
        match &self.rule {
            CryptRule::UnencryptedSuffix(s) => {
                s.is_empty() || !path.keys().any(|p| p.ends_with(s.as_str()))
            }
            CryptRule::EncryptedSuffix(s) => {
                s.is_empty() || path.keys().any(|p| p.ends_with(s.as_str()))
            }
            CryptRule::UnencryptedRegex(_) => {
                !path.keys().any(|p| re.is_some_and(|r| r.is_match(p)))
            }
            CryptRule::EncryptedRegex(_) => path.keys().any(|p| re.is_some_and(|r| r.is_match(p))),
            CryptRule::UnencryptedCommentRegex(_) => !comments
                .iter()
                .flatten()
                .any(|c| re.is_some_and(|r| r.is_match(c))),
            CryptRule::EncryptedCommentRegex(_) => {
                let last_level = comments.len().saturating_sub(1);
                let last_index = comments.last().map_or(0, |l| l.len()).saturating_sub(1);
                comments.iter().enumerate().any(|(i, level)| {
                    level.iter().enumerate().any(|(j, c)| {
                        // A comment does not make itself encrypted.
                        !(is_comment && i == last_level && j == last_index)
                            && re.is_some_and(|r| r.is_match(c))
                    })
                })
            }
        }
    }
}

/// The mapping keys above a leaf, kept joined the way sops's AAD joins them (`a:b:`), so
/// a leaf's AAD is a borrow rather than a join and a copy of every key above it.
struct KeyPath {
    /// Each key followed by `:`.
    joined: String,
    /// Where each key's `:` ends in `joined` (keys may contain `:` themselves).
    ends: Vec<usize>,
}

impl KeyPath {
    fn new() -> Self {
        KeyPath {
            joined: String::new(),
            ends: Vec::new(),
        }
    }

    fn push(&mut self, key: &str) {
        self.joined.push_str(key);
        self.joined.push(':');
        self.ends.push(self.joined.len());
    }

    fn pop(&mut self) {
        self.ends.pop();
        self.joined.truncate(self.ends.last().copied().unwrap_or(0));
    }

    /// The keys, outermost first.
    fn keys(&self) -> impl Iterator<Item = &str> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(&self.ends)
            .map(|(start, &end)| &self.joined[start..end - 1])
    }

    /// sops's AAD: the keys joined by `:` with a trailing `:` (`:` alone at the top level).
    fn aad(&self) -> &str {
        if self.joined.is_empty() {
            ":"
        } else {
            &self.joined
        }
    }

    /// The AADs of the mappings enclosing this path, innermost first: `a:b:` gives `a:`,
    /// then `:`.
    fn enclosing_aads(&self) -> impl Iterator<Item = &str> {
        (0..self.ends.len()).rev().map(|i| match i {
            0 => ":",
            _ => &self.joined[..self.ends[i - 1]],
        })
    }

    /// Human-readable location of a value for error messages: `["a"]["b"]`.
    fn display(&self) -> String {
        if self.ends.is_empty() {
            return "the top level".into();
        }
        self.keys().map(|p| format!("[{p:?}]")).collect()
    }
}

/// A leaf visited by the walk: a value, or a comment line (in a map or a list).
enum Leaf<'a> {
    Value(&'a mut Value),
    MapComment(&'a mut String),
}

struct Walker<'m, F> {
    matcher: &'m Matcher,
    path: KeyPath,
    comments: Vec<Vec<String>>,
    on_leaf: F,
}

impl<F> Walker<'_, F>
where
    F: FnMut(Leaf<'_>, &KeyPath, bool) -> Result<(), WalkError>,
{
    fn branch(&mut self, branch: &mut [Item]) -> Result<(), WalkError> {
        self.comments.push(Vec::new());
        for item in branch.iter_mut() {
            match item {
                Item::Comment(c) => {
                    self.comments.last_mut().expect("pushed").push(c.clone());
                    let encrypt = self
                        .matcher
                        .should_encrypt(&self.path, &self.comments, true);
                    (self.on_leaf)(Leaf::MapComment(c), &self.path, encrypt)?;
                }
                Item::Entry(key, value) => {
                    self.path.push(key);
                    self.value(value)?;
                    self.path.pop();
                    self.comments.last_mut().expect("pushed").clear();
                }
            }
        }
        self.comments.pop();
        Ok(())
    }

    fn list(&mut self, list: &mut [Value]) -> Result<(), WalkError> {
        self.comments.push(Vec::new());
        for v in list.iter_mut() {
            let is_comment = if let Value::Comment(c) = v {
                self.comments.last_mut().expect("pushed").push(c.clone());
                true
            } else {
                false
            };
            self.value(v)?;
            if !is_comment {
                self.comments.last_mut().expect("pushed").clear();
            }
        }
        self.comments.pop();
        Ok(())
    }

    fn value(&mut self, value: &mut Value) -> Result<(), WalkError> {
        match value {
            Value::Map(b) => self.branch(b),
            Value::List(l) => self.list(l),
            Value::Null => Ok(()),
            _ => {
                let is_comment = matches!(value, Value::Comment(_));
                let encrypt = self
                    .matcher
                    .should_encrypt(&self.path, &self.comments, is_comment);
                (self.on_leaf)(Leaf::Value(value), &self.path, encrypt)
            }
        }
    }
}

/// Walks each document with a fresh path, calling `on_leaf` on every leaf.
fn walk_docs<F>(docs: &mut [Branch], matcher: &Matcher, on_leaf: F) -> Result<(), WalkError>
where
    F: FnMut(Leaf<'_>, &KeyPath, bool) -> Result<(), WalkError>,
{
    walk_branches(docs.iter_mut().map(Vec::as_mut_slice), matcher, on_leaf)
}

/// Walks each branch as a document of its own (a fresh path), calling `on_leaf` on every
/// leaf.
fn walk_branches<'d, F>(
    branches: impl Iterator<Item = &'d mut [Item]>,
    matcher: &Matcher,
    mut on_leaf: F,
) -> Result<(), WalkError>
where
    F: FnMut(Leaf<'_>, &KeyPath, bool) -> Result<(), WalkError>,
{
    for branch in branches {
        let mut walker = Walker {
            matcher,
            path: KeyPath::new(),
            comments: Vec::new(),
            on_leaf: &mut on_leaf,
        };
        walker.branch(branch)?;
    }
    Ok(())
}

/// Encrypts every leaf the rule selects, in place, and returns the MAC (128 uppercase hex).
///
/// A large document (with no IVs to reuse) is encrypted by two threads, as
/// [`decrypt_tree`] decrypts one.
pub fn encrypt_tree(
    docs: &mut [Branch],
    cipher: &ValueCipher,
    rule: &CryptRule,
    mac_only_encrypted: bool,
) -> Result<String, WalkError> {
    let matcher = Matcher::new(rule, mac_only_encrypted);
    let split = split_single(docs).and_then(|cut| Some((cut, cipher.sealing_twin()?)));
    split_walk(
        docs,
        split,
        mac_only_encrypted,
        |parts, hasher, _| encrypt_part(parts, cipher, &matcher, hasher),
        |parts, twin, hasher, _| encrypt_part(parts, twin, &matcher, hasher),
    )
}

/// Encrypts the leaves of `parts` (see [`encrypt_tree`]), hashing them into `hasher`.
fn encrypt_part(
    parts: Parts<'_, '_>,
    cipher: &ValueCipher,
    matcher: &Matcher,
    hasher: &mut MacHasher,
) -> Result<(), WalkError> {
    let unencrypted_comment_re = match matcher.rule {
        CryptRule::UnencryptedCommentRegex(_) => matcher.regex.as_ref(),
        _ => None,
    };
    let readable_as_plain = |enc: &str| unencrypted_comment_re.is_some_and(|r| r.is_match(enc));
    walk_branches(parts, matcher, |leaf, path, encrypt| {
        let err = |source| WalkError::Encrypt {
            path: path.display(),
            source,
        };
        match leaf {
            Leaf::Value(v) => {
                if !matcher.mac_only_encrypted || encrypt {
                    hasher.leaf(v);
                }
                if encrypt {
                    let enc = cipher.encrypt(v, path.aad()).map_err(err)?;
                    if matches!(v, Value::Comment(_)) && readable_as_plain(&enc) {
                        return Err(WalkError::CommentRegexMatchesCiphertext);
                    }
                    // sops's walkSlice stores what Encrypt returns as a plain string
                    // item: an encrypted list comment is written `- ENC[...,type:comment]`
                    // (and `#` alone becomes `- ""`).
                    crate::tree::wipe_leaf(&mut std::mem::replace(v, Value::Str(enc)));
                }
            }
            Leaf::MapComment(c) => {
                if encrypt {
                    let comment = Value::Comment(std::mem::take(c));
                    let enc = cipher.encrypt(&comment, path.aad());
                    if let Value::Comment(plain) = comment {
                        *c = plain;
                    }
                    let enc = enc.map_err(err)?;
                    if readable_as_plain(&enc) {
                        return Err(WalkError::CommentRegexMatchesCiphertext);
                    }
                    crate::tree::wipe_text(c);
                    *c = enc;
                }
            }
        }
        Ok(())
    })
}

/// Decrypts every leaf the rule selects, in place, and returns the MAC computed over the
/// plaintext (128 uppercase hex) for the caller to compare with the stored one.
///
/// Comments: a plain one is kept as it is, with a warning (old sops wrote them so); an
/// encrypted one that does not decrypt is an error unless `keep_bad_comments` (sops keeps
/// it silently, so a tampered comment would pass unseen; `--ignore-mac` asks for that).
///
/// A large document read only (a cipher that does not remember IVs) is decrypted by two
/// threads, each taking part of its top-level items (see [`crate::split`]); the result,
/// the warnings and the error reported are those of decrypting it in order.
pub fn decrypt_tree(
    docs: &mut [Branch],
    cipher: &mut ValueCipher,
    rule: &CryptRule,
    mac_only_encrypted: bool,
    keep_bad_comments: bool,
) -> Result<String, WalkError> {
    let cut = split_single(docs);
    decrypt_tree_cut(
        docs,
        cut,
        cipher,
        rule,
        mac_only_encrypted,
        keep_bad_comments,
    )
}

/// [`decrypt_tree`] with the document cut between two threads at `cut` (`split`'s
/// `split_single`, which the caller keeps).
pub(crate) fn decrypt_tree_cut(
    docs: &mut [Branch],
    cut: Option<usize>,
    cipher: &mut ValueCipher,
    rule: &CryptRule,
    mac_only_encrypted: bool,
    keep_bad_comments: bool,
) -> Result<String, WalkError> {
    let matcher = Matcher::new(rule, mac_only_encrypted);
    let split = cut.and_then(|cut| Some((cut, cipher.reading_twin()?)));
    let (matcher, keep) = (&matcher, keep_bad_comments);
    split_walk(
        docs,
        split,
        mac_only_encrypted,
        |parts, hasher, warnings| decrypt_part(parts, cipher, matcher, hasher, keep, warnings),
        |parts, twin, hasher, warnings| decrypt_part(parts, twin, matcher, hasher, keep, warnings),
    )
}

/// The branches a part of a walk takes as its documents.
type Parts<'p, 'd> = &'p mut dyn Iterator<Item = &'d mut [Item]>;

/// Walks `docs` with `here`, or, given a `split` (where to cut the single document and a
/// cipher for another thread), the items before the cut with `here` and the rest with
/// `there` on another thread at the same time. Either way the MAC, the warnings (shown
/// here) and the error are those of one walk in order.
fn split_walk(
    docs: &mut [Branch],
    split: Option<(usize, ValueCipher)>,
    mac_only_encrypted: bool,
    here: impl FnOnce(Parts<'_, '_>, &mut MacHasher, &mut Vec<String>) -> Result<(), WalkError>,
    there: impl FnOnce(
            Parts<'_, '_>,
            &mut ValueCipher,
            &mut MacHasher,
            &mut Vec<String>,
        ) -> Result<(), WalkError>
        + Send,
) -> Result<String, WalkError> {
    let mut hasher = MacHasher::new(mac_only_encrypted);
    let mut warnings = Vec::new();
    let walked = match (docs, split) {
        ([doc], Some((cut, mut twin))) => {
            let (first, rest) = doc.split_at_mut(cut);
            let (done, (later_done, later_hasher, later_warnings)) = crate::stack::join_deep(
                || here(&mut std::iter::once(first), &mut hasher, &mut warnings),
                || {
                    let mut hasher = MacHasher::deferred();
                    let mut warnings = Vec::new();
                    let rest = &mut std::iter::once(rest);
                    let done = there(rest, &mut twin, &mut hasher, &mut warnings);
                    (done, hasher, warnings)
                },
            );
            done.and_then(|()| {
                warnings.extend(later_warnings);
                hasher.append(later_hasher);
                later_done
            })
        }
        (docs, _) => here(
            &mut docs.iter_mut().map(Vec::as_mut_slice),
            &mut hasher,
            &mut warnings,
        ),
    };
    for warning in warnings {
        eprintln!("keytap: warning: {warning}");
    }
    walked?;
    Ok(hasher.finish())
}

/// Decrypts the leaves of `parts` (see [`decrypt_tree`]), hashing them into `hasher` and adding the warnings to show to `warnings`.
fn decrypt_part(
    parts: Parts<'_, '_>,
    cipher: &mut ValueCipher,
    matcher: &Matcher,
    hasher: &mut MacHasher,
    keep_bad_comments: bool,
    warnings: &mut Vec<String>,
) -> Result<(), WalkError> {
    walk_branches(parts, matcher, |leaf, path, encrypt| {
        match leaf {
            Leaf::Value(v) => {
                if encrypt {
                    match v {
                        // sops's walkSlice keeps what Decrypt returns, and Decrypt("") is
                        // the string "": an empty comment in a list (`#` alone above an
                        // item) decrypts to an empty string item. (That adds nothing an
                        // attacker could not add as `- ""` directly: an empty value is
                        // never encrypted and adds no bytes to the MAC.)
                        Value::Comment(c) if c.is_empty() => *v = Value::Str(String::new()),
                        Value::Comment(c) => {
                            decrypt_comment(cipher, c, path, keep_bad_comments, warnings)?
                        }
                        Value::Str(s) => {
                            *v = cipher.decrypt_replacing(s, path.aad()).map_err(|source| {
                                WalkError::Decrypt {
                                    path: path.display(),
                                    source,
                                }
                            })?;
                        }
                        // sops only decrypts strings; anything else cannot be ciphertext.
                        _ => {
                            return Err(WalkError::Decrypt {
                                path: path.display(),
                                source: CipherError::NotEncrypted,
                            })
                        }
                    }
                }
                if !matcher.mac_only_encrypted || encrypt {
                    hasher.leaf(v);
                }
            }
            Leaf::MapComment(c) => {
                if encrypt {
                    decrypt_comment(cipher, c, path, keep_bad_comments, warnings)?;
                }
            }
        }
        Ok(())
    })
}

/// Decrypts one comment in place (see [`decrypt_tree`]).
fn decrypt_comment(
    cipher: &mut ValueCipher,
    comment: &mut String,
    path: &KeyPath,
    keep_bad: bool,
    warnings: &mut Vec<String>,
) -> Result<(), WalkError> {
    if comment.is_empty() {
        // sops never encrypts an empty value, and decrypts one to itself, silently.
        return Ok(());
    }
    let decrypted = cipher.decrypt(comment, path.aad());
    // Only a well-formed envelope that fails to authenticate is taken for tampering; text
    // that merely starts like one (`#ENC[hello]`) is a plain comment, as sops reads it.
    let malformed = matches!(
        decrypted,
        Err(CipherError::NotEncrypted | CipherError::Base64(_) | CipherError::IvLength(_))
    );
    match decrypted {
        Ok(Value::Comment(plain)) => {
            *comment = plain;
            Ok(())
        }
        _ if malformed || !comment.starts_with("ENC[") => {
            warnings.push(format!(
                "the comment at {} is not encrypted (written by an old sops, or added by hand)",
                path.display()
            ));
            Ok(())
        }
        _ if keep_bad => {
            warnings.push(format!(
                "the encrypted comment at {} does not decrypt; shown as it is",
                path.display()
            ));
            Ok(())
        }
        // sops (and keytap, writing what sops writes) encrypts a comment that follows a
        // flow collection (`k: [a, b]` then `# note`) as the mapping's, but writes it where
        // it reads back as the collection's: it then authenticates only under an enclosing
        // path. sops shows such a comment encrypted, with a warning; so does keytap. A
        // comment that authenticates nowhere on its path was changed.
        _ if path
            .enclosing_aads()
            .any(|aad| cipher.decrypt(comment, aad).is_ok()) =>
        {
            warnings.push(format!(
                "the encrypted comment at {} was encrypted as its enclosing mapping's (sops writes a comment after a flow collection so); shown encrypted, as sops shows it",
                path.display()
            ));
            Ok(())
        }
        _ => Err(WalkError::TamperedComment {
            path: path.display(),
        }),
    }
}

/// Computes the MAC of a plaintext tree without changing it (used by `set`/`edit` checks).
pub fn plaintext_mac(
    docs: &[Branch],
    rule: &CryptRule,
    mac_only_encrypted: bool,
) -> Result<String, WalkError> {
    let matcher = Matcher::new(rule, mac_only_encrypted);
    let mut hasher = MacHasher::new(mac_only_encrypted);
    let mut docs = docs.to_vec();
    walk_docs(&mut docs, &matcher, |leaf, _, encrypt| {
        if let Leaf::Value(v) = leaf {
            if !matcher.mac_only_encrypted || encrypt {
                hasher.leaf(v);
            }
        }
        Ok(())
    })?;
    Ok(hasher.finish())
}

#[cfg(test)]
mod tests;
