//! `filestatus`: is this a sops file?

use keytap_core::stores::Format;

use crate::context;
use crate::error::CliError;

fn fail(message: String) -> CliError {
    CliError::new(
        1,
        format!("cannot check file status: cannot load encrypted file: {message}"),
    )
}

/// Prints `{"encrypted":true}` or `{"encrypted":false}` as sops does: false when the file
/// has no metadata, or metadata without a version or MAC; an error when it does not parse.
pub fn run(input_type: Option<&str>, file: &std::path::Path) -> Result<i32, CliError> {
    let format = input_type
        .and_then(Format::from_name)
        .unwrap_or_else(|| Format::from_path(file));
    // sops loads the config for its store options first: a broken one is an error here too.
    let options = crate::rules::store_options()?;
    let data = keytap_core::safefs::read_file_bounded(file).map_err(|e| {
        fail(format!(
            "Error reading file: open {}: {}",
            file.display(),
            context::io_reason(&e)
        ))
    })?;
    let store = format.store(&options);
    let encrypted = match store.load_encrypted(&data) {
        Ok((_, None)) => false,
        Ok((_, Some(meta))) => match keytap_core::metadata::Metadata::from_branch(&meta) {
            Ok(m) => !m.version.is_empty() && !m.mac.is_empty(),
            Err(e) => return Err(fail(e.to_string())),
        },
        Err(e) => return Err(fail(e.to_string())),
    };
    crate::output::write_stdout(format!("{{\"encrypted\":{encrypted}}}\n").as_bytes())?;
    Ok(0)
}
