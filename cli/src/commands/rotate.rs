//! `rotate`: a new data key, optionally adding or removing age recipients.

use keytap_core::error::exit_code;
use keytap_core::metadata::MasterKey;

use crate::args::CommonArgs;
use crate::commands::decrypt::open_file;
use crate::error::CliError;

fn recipients(list: Option<&str>) -> Result<Vec<String>, CliError> {
    let mut out = Vec::new();
    for r in list
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        keytap_core::keys::age::AgeRecipient::parse(r)
            .map_err(|e| CliError::new(exit_code::GENERIC, e.to_string()))?;
        out.push(r.to_string());
    }
    Ok(out)
}

/// Runs `rotate`.
pub fn run(
    common: &CommonArgs,
    add_age: Option<&str>,
    rm_age: Option<&str>,
    ignore_mac: bool,
    file: &str,
) -> Result<i32, CliError> {
    let add = recipients(add_age)?;
    let rm = recipients(rm_age)?;
    let (mut open, f) = open_file(common, file, ignore_mac)?;
    if let Some(first) = open.metadata.key_groups.first_mut() {
        for r in add {
            first.push(MasterKey::Age {
                recipient: r,
                enc: String::new(),
            });
        }
    }
    for group in open.metadata.key_groups.iter_mut() {
        group.retain(|k| !matches!(k, MasterKey::Age { recipient, .. } if rm.contains(recipient)));
    }
    open.rotate().map_err(CliError::from)?;
    let sealed = open.seal()?;
    let out = sealed.emit(&*f.output_store, f.output)?;
    crate::output::write_result(common, file, &out, 0o644)?;
    Ok(0)
}
