//! age plugins as key sources: `age1<name>1...` recipients and `AGE-PLUGIN-<NAME>-1...`
//! identities run `age-plugin-<name>` over the age plugin protocol (C2SP age-plugin.md),
//! with one `identity-v1` session unwrapping the keys of many files.

pub mod connection;
pub mod identity;
pub mod recipient;
pub mod session;
pub mod wire;

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
    /// The plugin made no progress for too long and was killed.
    #[error(
        "{binary} made no progress within {seconds} s (KEYTAP_PLUGIN_TIMEOUT) and was stopped"
    )]
    Timeout {
        /// `age-plugin-<name>`.
        binary: String,
        /// The timeout.
        seconds: f64,
    },
    /// `KEYTAP_PLUGIN_TIMEOUT` is not a positive number of seconds.
    #[error("KEYTAP_PLUGIN_TIMEOUT={value:?} is not a positive number of seconds")]
    BadTimeout {
        /// The value as set.
        value: String,
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

/// Most of a plugin's message shown to the user.
const MAX_SHOWN: usize = 4096;

/// `text` made safe to print on a terminal: control characters (so terminal escape
/// sequences) become `?`; newlines and tabs stay. For anything a file, a config or a
/// plugin chose: recipients, key names, messages.
pub fn defuse(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '?'
            } else {
                c
            }
        })
        .collect()
}

/// Text a plugin sent, made safe to show on a terminal or pass to a prompt program:
/// control characters (and so terminal escape sequences) become `?`, newlines and tabs
/// stay, and anything past 4 KiB is cut.
pub fn printable(bytes: &[u8]) -> String {
    let mut out = defuse(&String::from_utf8_lossy(
        &bytes[..bytes.len().min(MAX_SHOWN)],
    ));
    if bytes.len() > MAX_SHOWN {
        out.push_str("...");
    }
    out
}

/// How many `msg` stanzas of one session are shown; the rest are counted and dropped.
pub const MAX_MESSAGES_SHOWN: usize = 64;

/// At most this many stanzas of one kind (errors, recipient stanzas, labels, unanswered
/// questions) are kept from one session; more is a protocol error: memory stays bounded
/// whatever a plugin sends.
pub(crate) const MAX_REPEATED_STANZAS: usize = 1024;

/// Keeps `item` in `list`, or fails once the list holds [`MAX_REPEATED_STANZAS`].
pub(crate) fn keep<T>(
    list: &mut Vec<T>,
    item: T,
    binary: &str,
    what: &str,
) -> Result<(), PluginError> {
    if list.len() >= MAX_REPEATED_STANZAS {
        return Err(PluginError::Protocol {
            binary: binary.to_string(),
            message: format!("sent more than {MAX_REPEATED_STANZAS} {what}"),
        });
    }
    list.push(item);
    Ok(())
}

/// Questions of one session the user (or the key service's memory) answered. Each is
/// progress, which restarts the timeout, so a plugin asking again and again would never
/// be stopped; no real plugin asks more than once per identity.
pub(crate) const MAX_ANSWERED_QUESTIONS: usize = 256;

/// Counts one answered question of a session, failing past [`MAX_ANSWERED_QUESTIONS`].
pub(crate) fn count_answer(answered: &mut usize, binary: &str) -> Result<(), PluginError> {
    *answered += 1;
    if *answered > MAX_ANSWERED_QUESTIONS {
        return Err(PluginError::Protocol {
            binary: binary.to_string(),
            message: format!("asked more than {MAX_ANSWERED_QUESTIONS} questions"),
        });
    }
    Ok(())
}

/// The `msg` stanzas of one session: shown (made printable) up to
/// [`MAX_MESSAGES_SHOWN`], then counted, so a plugin cannot flood the terminal.
#[derive(Default)]
pub(crate) struct Messages {
    shown: usize,
    dropped: usize,
}

impl Messages {
    pub(crate) fn show(&mut self, ui: &impl age::Callbacks, body: &[u8]) {
        if self.shown < MAX_MESSAGES_SHOWN {
            self.shown += 1;
            ui.display_message(&printable(body));
        } else {
            self.dropped += 1;
        }
    }

    /// Says how many were dropped, if any.
    pub(crate) fn finish(&self, ui: &impl age::Callbacks, binary: &str) {
        if self.dropped > 0 {
            ui.display_message(&format!(
                "keytap: {binary} sent {} more messages, not shown",
                self.dropped
            ));
        }
    }
}

#[cfg(test)]
mod printable_tests {
    #[test]
    fn escape_sequences_are_defused() {
        assert_eq!(
            super::printable(b"\x1b[2J\x1b]0;pwned\x07ok\n"),
            "?[2J?]0;pwned?ok\n"
        );
        assert_eq!(super::printable("\u{9b}31m".as_bytes()), "?31m");
    }
}
