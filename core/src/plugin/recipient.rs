//! `recipient-v1`: wrap a file key to a plugin recipient (`age1<name>1...`).

use std::collections::HashSet;

use age::secrecy::ExposeSecret;
use age_core::format::{FileKey, Stanza};

use super::connection::{find_plugin, timeout_from_env, Connection};
use super::session::Session;
use super::PluginError;
use crate::keys::prompt::Prompter;

/// A plugin recipient, usable wherever the `age` crate takes a recipient.
pub struct PluginRecipient {
    plugin: String,
    recipient: String,
}

impl PluginRecipient {
    /// A recipient of plugin `plugin` (its binary is looked up when wrapping).
    pub fn new(plugin: &str, recipient: &str) -> Self {
        PluginRecipient {
            plugin: plugin.to_string(),
            recipient: recipient.to_string(),
        }
    }

    /// Checks that the plugin binary exists, for an early clear error.
    pub fn check_installed(&self) -> Result<(), PluginError> {
        find_plugin(&self.plugin).map(|_| ())
    }

    fn session(&self, file_key: &FileKey) -> Result<(Vec<Stanza>, HashSet<String>), PluginError> {
        let path = find_plugin(&self.plugin)?;
        let mut conn = Connection::open(&path, "recipient-v1", timeout_from_env()?)?;
        run(&mut conn, &self.recipient, file_key, &Prompter::default())
    }
}

/// The client's side of a `recipient-v1` session over `conn`: wraps `file_key` to
/// `recipient`, answering prompts through `ui`.
pub fn run(
    conn: &mut impl Session,
    recipient: &str,
    file_key: &FileKey,
    ui: &impl age::Callbacks,
) -> Result<(Vec<Stanza>, HashSet<String>), PluginError> {
    let binary = conn.binary().to_string();
    conn.send("add-recipient", &[recipient], &[])?;
    conn.send("wrap-file-key", &[], file_key.expose_secret())?;
    conn.send("extension-labels", &[], &[])?;
    conn.send("done", &[], &[])?;
    let mut stanzas = Vec::new();
    let mut labels = HashSet::new();
    let mut errors = Vec::new();
    let mut messages = super::Messages::default();
    let mut answered = 0;
    loop {
        let s = conn.receive()?;
        let text = super::printable(&s.body);
        match s.tag.as_str() {
            "done" => break,
            "recipient-stanza" if s.args.len() >= 2 => {
                let stanza = Stanza {
                    tag: s.args[1].clone(),
                    args: s.args[2..].to_vec(),
                    body: s.body.clone(),
                };
                super::keep(&mut stanzas, stanza, &binary, "recipient stanzas")?;
                conn.progress();
                conn.send("ok", &[], &[])?;
            }
            "labels" => {
                if labels.len() + s.args.len() > super::MAX_REPEATED_STANZAS {
                    return Err(PluginError::Protocol {
                        binary,
                        message: format!("sent more than {} labels", super::MAX_REPEATED_STANZAS),
                    });
                }
                labels.extend(s.args.iter().cloned());
                conn.send("ok", &[], &[])?;
            }
            "msg" => {
                messages.show(ui, &s.body);
                conn.send("ok", &[], &[])?;
            }
            // An answer the user gave restarts the timeout; a `fail` at once does not.
            "request-public" => match ui.request_public_string(&text) {
                Some(v) => {
                    super::count_answer(&mut answered, &binary)?;
                    conn.progress();
                    conn.send("ok", &[], v.as_bytes())?
                }
                None => conn.send("fail", &[], &[])?,
            },
            "request-secret" => match ui.request_passphrase(&text) {
                Some(v) => {
                    super::count_answer(&mut answered, &binary)?;
                    conn.progress();
                    conn.send("ok", &[], v.expose_secret().as_bytes())?
                }
                None => conn.send("fail", &[], &[])?,
            },
            "confirm" => conn.send("fail", &[], &[])?,
            "error" => {
                if errors.is_empty() {
                    conn.progress();
                }
                super::keep(&mut errors, text, &binary, "error stanzas")?;
                conn.send("ok", &[], &[])?;
            }
            _ => conn.send("unsupported", &[], &[])?,
        }
    }
    messages.finish(ui, &binary);
    if !errors.is_empty() {
        return Err(PluginError::Reported {
            binary,
            message: errors.join("; "),
        });
    }
    if stanzas.is_empty() {
        return Err(PluginError::Protocol {
            binary,
            message: "returned no recipient stanza".into(),
        });
    }
    Ok((stanzas, labels))
}

impl age::Recipient for PluginRecipient {
    fn wrap_file_key(
        &self,
        file_key: &FileKey,
    ) -> Result<(Vec<Stanza>, HashSet<String>), age::EncryptError> {
        self.session(file_key)
            .map_err(|e| age::EncryptError::Io(std::io::Error::other(e.to_string())))
    }
}
