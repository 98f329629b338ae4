//! `keygen`: make an age identity, output like `age-keygen`.

use std::io::{BufRead, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::str::FromStr;

use age::secrecy::ExposeSecret;
use keytap_core::error::exit_code;

use crate::error::CliError;

/// Runs `keygen [-o FILE]` or `keygen -y [FILE]`.
pub fn run(
    output: Option<&Path>,
    to_recipient: bool,
    pq: bool,
    input: Option<&Path>,
) -> Result<i32, CliError> {
    if to_recipient {
        let data = match input {
            Some(p) if p.as_os_str() != "-" => keytap_core::safefs::read_text_file_bounded(p)
                .map_err(|e| {
                    CliError::new(
                        exit_code::COULD_NOT_READ_INPUT_FILE,
                        format!("failed to read {}: {e}", p.display()),
                    )
                })?,
            _ => {
                let mut s = String::new();
                for line in std::io::stdin().lock().lines() {
                    let line = line.map_err(|e| {
                        CliError::new(exit_code::COULD_NOT_READ_INPUT_FILE, e.to_string())
                    })?;
                    s.push_str(&line);
                    s.push('\n');
                }
                s
            }
        };
        let data = zeroize::Zeroizing::new(data);
        let mut printed = false;
        for line in data
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let public = if line.starts_with("AGE-SECRET-KEY-PQ-1") {
                keytap_core::keys::pq::PqIdentity::from_str(line)
                    .map(|id| id.to_public().to_string())
                    .ok()
            } else {
                age::x25519::Identity::from_str(line)
                    .map(|id| id.to_public().to_string())
                    .ok()
            };
            let public = public.ok_or_else(|| {
                CliError::new(
                    exit_code::GENERIC,
                    "identity file contains a line that is not an age identity",
                )
            })?;
            crate::output::write_stdout(format!("{public}\n").as_bytes())?;

            printed = true;
        }
        if !printed {
            return Err(CliError::new(
                exit_code::GENERIC,
                "no identities found in input",
            ));
        }
        return Ok(0);
    }
    let (secret, public) = if pq {
        let id = keytap_core::keys::pq::PqIdentity::generate();
        (id.to_secret_string(), id.to_public().to_string())
    } else {
        let id = age::x25519::Identity::generate();
        (
            zeroize::Zeroizing::new(id.to_string().expose_secret().to_string()),
            id.to_public().to_string(),
        )
    };
    let created = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("zero")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("formattable");
    let text = zeroize::Zeroizing::new(format!(
        "# created: {created}\n# public key: {public}\n{}\n",
        secret.as_str()
    ));
    match output {
        Some(path) if path.as_os_str() != "-" => {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| {
                    CliError::write_failed(format!(
                        "failed to create {}: {e} (keytap never overwrites an identity file)",
                        path.display()
                    ))
                })?;
            f.write_all(text.as_bytes()).map_err(|e| {
                CliError::write_failed(format!("failed to write {}: {e}", path.display()))
            })?;
            eprintln!("Public key: {public}");
        }
        _ => crate::output::write_stdout(text.as_bytes())?,
    }
    Ok(0)
}
