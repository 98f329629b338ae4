//! `filestatus`: is this a sops file?

use keytap_core::stores::{Format, StoreOptions};

use crate::context;
use crate::error::CliError;

/// Prints `{"encrypted":true}` or `{"encrypted":false}` as sops does.
pub fn run(input_type: Option<&str>, file: &str) -> Result<i32, CliError> {
    let format = match input_type {
        Some(t) => {
            Format::from_name(t).ok_or_else(|| CliError::new(1, format!("unknown format {t:?}")))?
        }
        None => Format::from_path(file),
    };
    let data = context::read_input(file)?;
    let store = format.store(&StoreOptions::default());
    let encrypted = matches!(
        store.load_encrypted(&data),
        Ok((_, Some(meta))) if keytap_core::metadata::Metadata::from_branch(&meta).is_ok()
    );
    crate::output::write_stdout(format!("{{\"encrypted\":{encrypted}}}\n").as_bytes())?;
    Ok(0)
}
