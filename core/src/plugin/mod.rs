//! age plugins as key sources: `age1<name>1...` recipients and `AGE-PLUGIN-<NAME>-1...`
//! identities run `age-plugin-<name>` over the age plugin protocol (C2SP age-plugin.md),
//! with one `identity-v1` session unwrapping the keys of many files.

pub mod connection;
pub mod identity;
pub mod recipient;

/// A plugin failed; every variant names the plugin binary.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PluginError {
    /// The binary is not in the search path.
    #[error(
        "{binary} not found in {search_var}: install {} (or set KEYTAP_PLUGIN_PATH)",
        install_hint(binary)
    )]
    NotFound {
        /// `age-plugin-<name>`.
        binary: String,
        /// `PATH` or `KEYTAP_PLUGIN_PATH`.
        search_var: &'static str,
    },
    /// Starting or talking to the plugin failed.
    #[error("{binary}: {message}")]
    Io {
        /// `age-plugin-<name>`.
        binary: String,
        /// What failed.
        message: String,
    },
    /// The plugin stopped reading its input (crashed or exited early).
    #[error("{binary} stopped unexpectedly")]
    Crashed {
        /// `age-plugin-<name>`.
        binary: String,
    },
    /// The plugin exited before finishing the protocol.
    #[error("{binary} exited before finishing{}", code.map(|c| format!(" (exit code {c})")).unwrap_or_default())]
    Exited {
        /// `age-plugin-<name>`.
        binary: String,
        /// Its exit code, if it exited normally.
        code: Option<i32>,
    },
    /// The plugin wrote something that is not the protocol.
    #[error("{binary} {message}")]
    Protocol {
        /// `age-plugin-<name>`.
        binary: String,
        /// What was wrong.
        message: String,
    },
    /// The plugin was silent for too long and was killed.
    #[error("{binary} did not answer within {seconds} s (KEYTAP_PLUGIN_TIMEOUT) and was stopped")]
    Timeout {
        /// `age-plugin-<name>`.
        binary: String,
        /// The timeout.
        seconds: u64,
    },
    /// The plugin reported an error.
    #[error("{binary}: {message}")]
    Reported {
        /// `age-plugin-<name>`.
        binary: String,
        /// Its message.
        message: String,
    },
}

/// Where a known plugin comes from, for the "not found" message.
fn install_hint(binary: &str) -> String {
    match binary {
        "age-plugin-yubikey" | "age-plugin-tpm" | "age-plugin-passphrase" => format!(
            "keytap's {binary} (cargo install --path plugins/{}) or the upstream package of that name",
            binary.trim_start_matches("age-plugin-")
        ),
        "age-plugin-se" => "age-plugin-se (the Secure Enclave plugin)".into(),
        "age-plugin-fido2-hmac" => "age-plugin-fido2-hmac".into(),
        _ => format!("the package that provides {binary}"),
    }
}

/// The plugin name of a recipient `age1<name>1...` or identity `AGE-PLUGIN-<NAME>-1...`.
pub fn plugin_name(s: &str) -> Option<String> {
    if let Some(rest) = s.strip_prefix("AGE-PLUGIN-") {
        let end = rest.rfind("-1")?;
        return Some(rest[..end].to_ascii_lowercase());
    }
    let rest = s.strip_prefix("age1")?;
    let end = rest.rfind('1')?;
    if end == 0 {
        return None;
    }
    Some(rest[..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::plugin_name;

    #[test]
    fn names() {
        assert_eq!(plugin_name("age1yubikey1qabc").as_deref(), Some("yubikey"));
        assert_eq!(
            plugin_name("AGE-PLUGIN-YUBIKEY-1QABC").as_deref(),
            Some("yubikey")
        );
        assert_eq!(
            plugin_name("AGE-PLUGIN-MY-TOKEN-1QABC").as_deref(),
            Some("my-token")
        );
        assert_eq!(plugin_name("age1qqq"), None);
    }
}
