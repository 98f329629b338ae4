//! `keytap install-secrets [--check-mode=MODE] [--ignore-passwd] MANIFEST`: the NixOS
//! module's installer (a drop-in for sops-nix's sops-install-secrets). All the work is in
//! `keytap_core::install`. Beyond sops-nix it honors the key-service flags and
//! `SOPS_KEYSERVICE`, so a user's login unit can use the key service holding the PIN.

use keytap_core::install::{self, CheckMode, Options};

use crate::error::CliError;

/// Runs the installer; failures exit 1 with one message naming what failed.
pub fn run(
    check_mode: &str,
    ignore_passwd: bool,
    manifest: &std::path::Path,
) -> Result<i32, CliError> {
    let check_mode = CheckMode::parse(check_mode).ok_or_else(|| {
        CliError::new(
            1,
            format!("invalid value provided for --check-mode flag: {check_mode}"),
        )
    })?;
    let opts = Options {
        manifest: manifest.into(),
        check_mode,
        ignore_passwd,
        local_keys: crate::context::local_enabled(),
        key_services: crate::context::remote_services(),
    };
    install::run(opts)
        .map_err(|e| CliError::new(1, format!("keytap install-secrets: {}", e.message)))?;
    Ok(0)
}
