//! `keytap merge BASE OURS THEIRS [PATH]`: a git merge driver for sops files
//! (`merge.sops.driver = keytap merge %O %A %B %P`). The three versions' data keys are
//! unwrapped together (one plugin session, one PIN), the decrypted trees and the recipients
//! are merged by `keytap_core::merge`, and the result is sealed and written over OURS: a
//! sops file the real sops opens, with values nobody changed keeping their ciphertext.
//! Conflicts exit 1 (git then marks the file conflicted) and are listed by key path; OURS
//! is still a valid encrypted file, never plaintext.

use std::path::Path;

use keytap_core::error::exit_code;
use keytap_core::file::{EncryptedFile, OpenFile};
use keytap_core::merge::{self, Conflicts, DataKeyChoice};
use keytap_core::metadata::{KeyGroup, Metadata};
use keytap_core::plugin::defuse;
use keytap_core::safefs::replace::Contents;
use keytap_core::stores::Format;

use crate::context;
use crate::error::CliError;
use crate::output::{write_file, Destination};

/// One of the three versions, named for messages.
struct Version {
    /// "base", "ours" or "theirs".
    side: &'static str,
    encrypted: EncryptedFile,
}

/// Runs the merge; returns 0 when merged cleanly, 1 after conflicts.
pub fn run(
    input_type: Option<&str>,
    base: &Path,
    ours: &Path,
    theirs: &Path,
    path: Option<&Path>,
) -> Result<i32, CliError> {
    let ours_file = ours;
    // git hands over temporary files: the file's own path names it in messages and gives
    // its format.
    let named = path.unwrap_or(ours);
    let format = match input_type {
        Some(t) => Format::from_name(t).ok_or_else(|| {
            CliError::new(
                exit_code::GENERIC,
                format!("unknown format {t:?}: use yaml, json, dotenv, ini or binary"),
            )
        })?,
        None => Format::from_path(named),
    };
    let store = format.store(&crate::rules::store_options()?);
    let (ours_data, lock) = context::read_for_change(ours)?;
    let base_data = context::read_input(base)?;
    let theirs_data = context::read_input(theirs)?;
    let parse = |side: &'static str, data: Vec<u8>| -> Result<Version, CliError> {
        let encrypted = context::parse_encrypted(&*store, named, data.into())
            .map_err(|e| with_side(e, side, named))?;
        Ok(Version { side, encrypted })
    };
    // Git gives an empty base when both sides added the file.
    let base = if base_data.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Some(parse("base", base_data)?)
    };
    let ours = parse("ours", ours_data)?;
    let theirs = parse("theirs", theirs_data)?;

    let ours_sealed = ours.encrypted.docs.clone();
    let (base, ours, theirs) = open_all(base, ours, theirs, named)?;
    // Names and recipients come from the files and the repository: defused for the terminal.
    let shown = defuse(&named.display().to_string());
    // Leave OURS as it is: git marks the file conflicted, nothing is re-wrapped.
    let left_as_it_was = |why: &str| {
        eprintln!("keytap merge: {shown}: {why}; OURS is left as it was");
        Ok(1)
    };
    if merge::exposure::their_values_under_a_new_key(
        base.as_ref()
            .map(|b| (b.data_key().as_slice(), b.docs.as_slice())),
        (theirs.data_key().as_slice(), theirs.docs.as_slice()),
    ) {
        return left_as_it_was(
            "their side changed values under a data key the base did not have, so only their branch vouches for who can read them: take their changes by hand with `keytap edit`",
        );
    }
    let they_read_the_base = merge::exposure::they_read_the_base(
        base.as_ref()
            .map(|b| (b.data_key().as_slice(), b.docs.as_slice())),
        (theirs.data_key().as_slice(), theirs.docs.as_slice()),
    );
    let theirs_metadata = theirs.metadata.clone();
    let mut conflicts = Conflicts::default();
    let docs = merge::merge_documents(
        base.as_ref().map(|b| b.docs.as_slice()),
        &ours.docs,
        &theirs.docs,
        &mut conflicts,
    );
    let metadata = merge::merge_metadata(
        base.as_ref().map(|b| &b.metadata),
        &ours.metadata,
        &theirs.metadata,
        &mut conflicts,
    );
    if conflicts.0.iter().any(|c| c == merge::KEY_GROUPS_CONFLICT) {
        return left_as_it_was(
            "both sides changed the key groups (settle them with `keytap groups` or `updatekeys`)",
        );
    }
    let added = merge::exposure::added_after_a_revocation(
        base.as_ref().map(|b| &b.metadata),
        &ours.metadata,
        &metadata,
    );
    if !added.is_empty() {
        return left_as_it_was(&format!(
            "our side removed a recipient and theirs adds {} (perhaps the removed one under another key): add it yourself if it belongs",
            defuse(&added.join(", "))
        ));
    }
    // (identity, as shown) of every key before and after.
    let keys_of = |m: &Metadata| -> Vec<(String, String)> {
        m.key_groups
            .iter()
            .flatten()
            .map(|k| (merge::key_identity(k), k.describe()))
            .collect()
    };
    let recipients_before = keys_of(&ours.metadata);
    let ours_metadata = ours.metadata.clone();
    let recipients_after = keys_of(&metadata);
    let merged = seal(docs, metadata, base, ours, theirs)?;
    if !they_read_the_base {
        let wrapped = merge::exposure::wrapped_for_their_additions(
            &ours_metadata,
            &theirs_metadata,
            &merged.metadata,
        );
        if !wrapped.is_empty() {
            return left_as_it_was(&format!(
                "their side adds {} without a data key this merge keeps wrapped for it, and nothing shows their side can read the file: add it yourself if it belongs",
                defuse(&wrapped.join(", "))
            ));
        }
    }
    let exposed = merge::exposure::made_plaintext(&ours_sealed, &merged.docs);
    if !exposed.is_empty() {
        return left_as_it_was(&format!(
            "the merged comments would leave encrypted values in plaintext: {}",
            exposed.join(", ")
        ));
    }
    let out = merged.emit(&*store, format)?;
    write_file(
        ours_file,
        &out,
        Contents::Encrypted,
        Destination::InPlace,
        lock.is_some(),
    )
    .map_err(|e| e.in_file(named))?;
    drop(lock);
    // Who can open the file changed: say so, since a merge is easy to take on trust.
    for (verb, list, other) in [
        ("added", &recipients_after, &recipients_before),
        ("removed", &recipients_before, &recipients_after),
    ] {
        for (_, r) in list
            .iter()
            .filter(|(id, _)| !other.iter().any(|(o, _)| o == id))
        {
            eprintln!(
                "keytap merge: {shown}: recipient {verb} by the merge: {}",
                defuse(r)
            );
        }
    }
    if conflicts.is_empty() {
        return Ok(0);
    }
    for c in &conflicts.0 {
        eprintln!("keytap merge: {shown}: conflict at {c}");
    }
    eprintln!(
        "keytap merge: {shown}: {} conflict(s); our value was kept where both sides changed it: fix with `keytap edit`",
        conflicts.0.len()
    );
    Ok(1)
}

/// Says which version an error is about: `(in FILE, base version)`.
fn with_side(e: CliError, side: &str, named: &Path) -> CliError {
    let shown = format!("(in {})", named.display());
    let message = if e.message.contains(&shown) {
        e.message
            .replace(&shown, &format!("(in {}, {side} version)", named.display()))
    } else {
        format!("{} (in {}, {side} version)", e.message, named.display())
    };
    CliError::new(e.code, message)
}

/// Unwraps the data keys of all versions together (one session per plugin) and opens each,
/// checking its MAC.
fn open_all(
    base: Option<Version>,
    ours: Version,
    theirs: Version,
    named: &Path,
) -> Result<(Option<OpenFile>, OpenFile, OpenFile), CliError> {
    // SOPS_AGE_KEY_CMD learns our first recipient.
    let first = ours
        .encrypted
        .metadata
        .age_recipients()
        .first()
        .map(|s| s.to_string());
    let versions: Vec<Version> = base.into_iter().chain([ours, theirs]).collect();
    let metas: Vec<&Metadata> = versions.iter().map(|v| &v.encrypted.metadata).collect();
    let sources = context::key_sources(first.as_deref());
    let keys = keytap_core::datakey::recover_many(&metas, &sources);
    let mut opened = versions
        .into_iter()
        .zip(keys)
        .map(|(v, key)| {
            let side = v.side;
            let key = key.map_err(|e| {
                with_side(
                    CliError::from(keytap_core::error::Error::Recover(e)),
                    side,
                    named,
                )
            })?;
            v.encrypted
                .open_with_key(key, false)
                .map_err(|e| with_side(CliError::from(e), side, named))
        })
        .collect::<Result<Vec<OpenFile>, CliError>>()?;
    let theirs = opened.pop().expect("theirs is opened");
    let ours = opened.pop().expect("ours is opened");
    let base = opened.pop();
    Ok((base, ours, theirs))
}

/// Builds the merged file on the chosen data key and seals it.
fn seal(
    docs: Vec<keytap_core::tree::Branch>,
    mut metadata: Metadata,
    base: Option<OpenFile>,
    ours: OpenFile,
    theirs: OpenFile,
) -> Result<EncryptedFile, CliError> {
    let key_of = |f: &OpenFile| f.data_key().to_vec();
    let mut choice = merge::choose_data_key(
        base.as_ref().map(|b| b.data_key().as_slice()),
        ours.data_key().as_slice(),
        theirs.data_key().as_slice(),
        docs == theirs.docs,
    );
    let chosen_key = match choice {
        DataKeyChoice::Ours => Some(key_of(&ours)),
        DataKeyChoice::Theirs => Some(key_of(&theirs)),
        DataKeyChoice::Fresh => None,
    };
    if let Some(k) = &chosen_key {
        // A key the result revokes must not keep a data key it could unwrap.
        let versions: Vec<(&[KeyGroup], &[u8])> = base
            .iter()
            .chain([&ours, &theirs])
            .map(|f| (f.metadata.key_groups.as_slice(), f.data_key().as_slice()))
            .collect();
        if merge::revoked_key_could_unwrap(&metadata.key_groups, &versions, k) {
            choice = DataKeyChoice::Fresh;
        }
    }
    let wrapping = context::wrapping_sources();
    let file = match choice {
        DataKeyChoice::Fresh => {
            merge::clear_wrapped_keys(&mut metadata.key_groups);
            OpenFile::create(docs, metadata, &wrapping)?
        }
        DataKeyChoice::Ours | DataKeyChoice::Theirs => {
            let (mut chosen, other) = if choice == DataKeyChoice::Ours {
                (ours, theirs)
            } else {
                (theirs, ours)
            };
            let same_key: Vec<&OpenFile> = base
                .iter()
                .chain([&other])
                .filter(|f| f.data_key() == chosen.data_key())
                .collect();
            let donors: Vec<&[KeyGroup]> = std::iter::once(chosen.metadata.key_groups.as_slice())
                .chain(same_key.iter().map(|f| f.metadata.key_groups.as_slice()))
                .collect();
            merge::reuse_wrapped_keys(&mut metadata.key_groups, &donors);
            // Shares of a split with another threshold cannot be reused: split again.
            if metadata.key_groups.len() > 1
                && metadata.shamir_threshold != chosen.metadata.shamir_threshold
            {
                merge::clear_wrapped_keys(&mut metadata.key_groups);
            }
            for f in &same_key {
                chosen.absorb_ivs(f);
            }
            chosen.replace_docs(docs);
            chosen.metadata = metadata;
            if chosen
                .metadata
                .key_groups
                .iter()
                .flatten()
                .any(|k| k.enc().is_empty())
            {
                chosen.wrap_new_keys(&wrapping)?;
            }
            chosen
        }
    };
    Ok(file.into_sealed()?)
}
