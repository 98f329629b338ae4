//! `encrypt`: plaintext in, sops file out.

use std::path::Path;

use keytap_core::error::exit_code;
use keytap_core::file::{has_sops_top_level_key, OpenFile};
use keytap_core::safefs::replace::Contents;

use crate::args::{CommonArgs, KeyArgs};
use crate::context;
use crate::error::CliError;
use crate::rules;

/// sops's message, as its go-wordwrap wraps it at 75 columns (byte for byte).
const ALREADY_ENCRYPTED: &str =
    "The file you have provided contains a top-level entry called 'sops', or for
flat file formats top-level entries starting with 'sops_'. This is
generally due to the file already being encrypted. SOPS uses a top-level
entry called 'sops' to store the metadata required to decrypt the file. For
this reason, SOPS can not encrypt files that already contain such an entry.

If this is an unencrypted file, rename the 'sops' entry.

If this is an encrypted file and you want to edit it, use the editor mode,
for example: `sops my_file.yaml`";

/// Runs `encrypt`.
pub fn run(common: &CommonArgs, keys: &KeyArgs, file: &Path) -> Result<i32, CliError> {
    context::check_target(common, file, true)?;
    let rules_path = common.filename_override.as_deref().unwrap_or(file);
    let f = context::formats(common, file, rules::store_options()?)?;
    // The keys and rules first, as sops's getEncryptConfig runs before the file is read.
    let settings = rules::resolve(
        keys,
        rules_path,
        f.input == keytap_core::stores::Format::Binary,
    )?;
    // A copy of the plaintext is wiped after parsing; a mapped file is the page cache's.
    let (data, lock) = if common.in_place {
        let (data, lock) = context::read_for_change(file)?;
        (context::InputBytes::Read(data), lock)
    } else {
        (context::read_or_map_input(file)?, None)
    };
    let parsed = f.input_store.load_plain(&data);
    match data {
        context::InputBytes::Read(mut bytes) => zeroize::Zeroize::zeroize(&mut bytes),
        context::InputBytes::Mapped(mapped) => drop(mapped),
    }
    let docs = parsed.map_err(|e| {
        if context::is_unwalkable(&e) {
            return CliError::new(
                exit_code::ERROR_ENCRYPTING_TREE,
                format!(
                    "Error encrypting tree: Error walking tree: {}",
                    context::unwalkable_reason(&e)
                ),
            )
            .in_file(file);
        }
        CliError::new(
            exit_code::COULD_NOT_READ_INPUT_FILE,
            format!("Error unmarshalling file: {e}"),
        )
        .in_file(file)
    })?;
    if docs.is_empty() {
        return Err(CliError::new(
            exit_code::NEED_AT_LEAST_ONE_DOCUMENT,
            "File cannot be completely empty, it must contain at least one document",
        ));
    }
    if has_sops_top_level_key(&docs[0], f.output) {
        return Err(CliError::new(
            exit_code::FILE_ALREADY_ENCRYPTED,
            ALREADY_ENCRYPTED,
        ));
    }
    let open = OpenFile::create(docs, settings.metadata, &context::wrapping_sources())
        .map_err(CliError::from)?;
    let sealed = open.into_sealed()?;
    let out = sealed.emit(&*f.output_store, f.output)?;
    crate::output::write_result(common, file, &out, Contents::Encrypted, lock.is_some())?;
    Ok(0)
}
