//! `keytap keyservice`: run the key service (see `keytap_keyservice::server`), or with
//! `--lock` tell a running one to forget its cached PINs and passphrases.

use std::time::Duration;

use keytap_core::error::exit_code;
use keytap_keyservice::cache::CachePolicy;
use keytap_keyservice::server::{Options, ServeConfig};

use crate::error::CliError;

/// The command line of `keytap keyservice`.
pub struct Flags {
    /// `unix` or `tcp`.
    pub network: String,
    /// Socket path or `host:port`.
    pub address: String,
    /// Confirm every request.
    pub prompt: bool,
    /// Seconds unused before a secret is forgotten.
    pub cache_ttl: u64,
    /// Seconds at most a secret is kept.
    pub cache_max_ttl: u64,
    /// TCP beyond loopback.
    pub allow_remote: bool,
    /// Lock the running service instead.
    pub lock: bool,
    /// Log every request.
    pub verbose: bool,
}

/// The program that shows plugin messages ("touch your YubiKey") as desktop notifications:
/// `KEYTAP_NOTIFY`, else `notify-send` when it is installed.
fn notifier() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("KEYTAP_NOTIFY") {
        return (!p.is_empty()).then(|| p.into());
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("notify-send"))
        .find(|p| p.is_file())
}

/// Runs `keytap keyservice`.
pub fn run(flags: Flags) -> Result<i32, CliError> {
    let uri = match flags.network.as_str() {
        "unix" => format!("unix://{}", flags.address),
        net => format!("{net}://{}", flags.address),
    };
    if flags.lock {
        let forgotten = keytap_keyservice::server::lock(&uri).map_err(|e| {
            CliError::new(exit_code::GENERIC, format!("keytap keyservice --lock: {e}"))
        })?;
        eprintln!("keytap keyservice: forgot {forgotten} cached secret(s)");
        return Ok(0);
    }
    let config = ServeConfig {
        network: flags.network,
        address: flags.address,
        policy: CachePolicy {
            idle: Duration::from_secs(flags.cache_ttl),
            max: Duration::from_secs(flags.cache_max_ttl.max(flags.cache_ttl)),
        },
        notifier: notifier(),
        options: Options {
            prompt: flags.prompt,
            verbose: flags.verbose,
            allow_remote: flags.allow_remote,
        },
    };
    keytap_keyservice::server::run(config).map_err(|e| CliError::new(exit_code::GENERIC, e))?;
    Ok(0)
}
