//! `keytap install-secrets [--check-mode=MODE] [--ignore-passwd] MANIFEST`: the NixOS
//! module's installer (a drop-in for sops-nix's sops-install-secrets). All the work is in
//! `keytap_core::install`. Beyond sops-nix it honors the key-service flags and
//! `SOPS_KEYSERVICE`, so a user's login unit can use the key service holding the PIN.

use std::path::Path;

use keytap_core::install::{self, CheckMode, Options};

use crate::error::CliError;

/// The installer's name in its messages, as sops-install-secrets names itself by its
/// `argv[0]`: the path it was run as through the `sops-install-secrets` drop-in (which
/// passes it on), else `keytap install-secrets`.
pub fn program_name() -> String {
    match std::env::args_os().next() {
        Some(argv0) if Path::new(&argv0).file_name().is_some_and(|n| n != "keytap") => {
            argv0.to_string_lossy().into_owned()
        }
        _ => "keytap install-secrets".to_string(),
    }
}

/// Runs the installer; failures exit 1 with one message naming what failed.
pub fn run(
    check_mode: &str,
    ignore_passwd: bool,
    manifests: &[std::path::PathBuf],
) -> Result<i32, CliError> {
    // Go's flags end at the first argument, so anything after the manifest is a second
    // argument: sops-install-secrets prints its usage line and exits 0, installing nothing.
    let [manifest] = manifests else {
        eprintln!("Usage of {}:", program_name());
        return Ok(0);
    };
    // sops-install-secrets's words, whose message prints the option it has not set yet
    // (always empty) where the value was meant; printed here, as errors lose a trailing
    // space.
    let Some(check_mode) = CheckMode::parse(check_mode) else {
        eprintln!(
            "{}: invalid value provided for -check-mode flag: ",
            program_name()
        );
        return Ok(1);
    };
    let opts = Options {
        manifest: manifest.clone(),
        check_mode,
        ignore_passwd,
        local_keys: crate::context::local_enabled(),
        key_services: crate::context::remote_services(),
    };
    install::run(opts)
        .map_err(|e| CliError::new(1, format!("{}: {}", program_name(), e.message)))?;
    Ok(0)
}
