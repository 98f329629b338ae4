//! `rotate`: a new data key, optionally adding or removing age recipients.

use keytap_core::error::exit_code;
use keytap_core::metadata::MasterKey;

use crate::args::CommonArgs;
use crate::error::CliError;
use crate::open::{open_file, open_files, OpenMode, Opened};
use keytap_core::safefs::replace::Contents;
use std::path::PathBuf;

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

/// Runs `rotate FILE` (with `-i`, any number of files: their data keys are unwrapped in
/// one plugin session, then each file gets a new one).
pub fn run(
    common: &CommonArgs,
    add_age: Option<&str>,
    rm_age: Option<&str>,
    ignore_mac: bool,
    files: &[PathBuf],
) -> Result<i32, CliError> {
    if files.len() > 1 && !common.in_place {
        return Err(CliError::new(
            exit_code::CONFLICTING_PARAMETERS,
            "Error: rotate takes one file unless -i (--in-place) is given",
        ));
    }
    let add = recipients(add_age)?;
    let rm = recipients(rm_age)?;
    let mode = OpenMode {
        lock: common.in_place,
        ..OpenMode::CHANGE
    };
    let opened = if files.len() == 1 {
        vec![open_file(common, &files[0], ignore_mac, mode)?]
    } else {
        open_files(common, files, ignore_mac, mode)?
    };
    let sources = crate::context::wrapping_sources();
    for (file, o) in files.iter().zip(opened) {
        let Opened {
            mut open,
            formats: f,
            lock,
        } = o;
        if let Some(first) = open.metadata.key_groups.first_mut() {
            for r in &add {
                first.push(MasterKey::Age {
                    recipient: r.clone(),
                    enc: String::new(),
                });
            }
        }
        for group in open.metadata.key_groups.iter_mut() {
            group.retain(
                |k| !matches!(k, MasterKey::Age { recipient, .. } if rm.contains(recipient)),
            );
        }
        open.rotate(&sources)
            .map_err(|e| CliError::from(e).in_file(file))?;
        let sealed = open.into_sealed()?;
        let out = sealed.emit(&*f.output_store, f.output)?;
        crate::output::write_result(common, file, &out, Contents::Encrypted, lock.is_some())?;
    }
    Ok(0)
}
