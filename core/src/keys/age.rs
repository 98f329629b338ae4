//! The age key source's recipients: parse them as sops does and wrap a data key to them
//! (unwrapping is [`super::identities`], where identities come from [`super::sources`]).
//!
//! Recipients are recognised as sops does: `age1` with a second `1` is a plugin recipient
//! (`age1<name>1...`), plain `age1...` is X25519, `ssh-...` an SSH public key.

use std::io::Write;
use std::str::FromStr;

use age::armor::{ArmoredWriter, Format as ArmorFormat};

/// Why a recipient could not be used or an identity could not be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum AgeError {
    /// The recipient string is not one sops understands.
    #[error("failed to parse input, unknown recipient type: {0:?}")]
    UnknownRecipient(String),
    /// The recipient is malformed.
    #[error("failed to parse {kind} recipient {recipient:?}: {message}")]
    BadRecipient {
        /// X25519, SSH or plugin.
        kind: &'static str,
        /// The recipient as given.
        recipient: String,
        /// Why.
        message: String,
    },
    /// The plugin binary for a plugin recipient or identity is not on PATH.
    #[error("{binary} not found in PATH: install it to use {what}")]
    PluginNotFound {
        /// `age-plugin-<name>`.
        binary: String,
        /// The recipient or identity that needs it.
        what: String,
    },
    /// Encryption to a recipient failed.
    #[error("failed to encrypt the data key to {recipient}: {message}")]
    Wrap {
        /// The recipient.
        recipient: String,
        /// Why.
        message: String,
    },
    /// An identity source could not be read or parsed.
    #[error("{source_name}: {message}")]
    Load {
        /// Where the identity came from (env var or path).
        source_name: String,
        /// Why (never the key material).
        message: String,
    },
    /// No identity could unwrap the data key.
    #[error("{0}")]
    Unwrap(String),
}

fn plugin_binary(name: &str) -> String {
    format!("age-plugin-{name}")
}

fn is_plugin_recipient(recipient: &str) -> bool {
    recipient.starts_with("age1") && recipient.matches('1').count() > 1
}

/// A parsed recipient, ready to wrap data keys.
pub enum AgeRecipient {
    /// `age1...`
    X25519(age::x25519::Recipient),
    /// `ssh-ed25519 ...` / `ssh-rsa ...`
    Ssh(age::ssh::Recipient),
    /// `age1<name>1...`, wrapped by running `age-plugin-<name>`.
    Plugin(age::plugin::Recipient),
    /// `age1pq1...`: ML-KEM-768 + X25519 hybrid (age 1.3), native.
    PostQuantum(Box<super::pq::PqRecipient>),
    /// `age1tag1...` / `age1tagpq1...`: hardware "tag" recipients (age 1.3), encrypted
    /// natively; decrypted by the token's plugin.
    Tag(Box<super::tag::TagRecipient>),
}

impl AgeRecipient {
    /// Parses a recipient as sops does (surrounding whitespace ignored).
    pub fn parse(recipient: &str) -> Result<AgeRecipient, AgeError> {
        let r = recipient.trim();
        let bad = |kind, message: String| AgeError::BadRecipient {
            kind,
            recipient: r.to_string(),
            message,
        };
        // age 1.3's native types have a second `1` too: check them before plugins.
        if r.starts_with("age1pq1") {
            super::pq::PqRecipient::from_str(r)
                .map(|p| AgeRecipient::PostQuantum(Box::new(p)))
                .map_err(|e| bad("post-quantum", e.to_string()))
        } else if r.starts_with("age1tag1") || r.starts_with("age1tagpq1") {
            super::tag::TagRecipient::from_str(r)
                .map(|t| AgeRecipient::Tag(Box::new(t)))
                .map_err(|e| bad("tag", e.to_string()))
        } else if is_plugin_recipient(r) {
            age::plugin::Recipient::from_str(r)
                .map(AgeRecipient::Plugin)
                .map_err(|e| bad("plugin", e.to_string()))
        } else if r.starts_with("age1") {
            age::x25519::Recipient::from_str(r)
                .map(AgeRecipient::X25519)
                .map_err(|e| bad("X25519", e.to_string()))
        } else if r.starts_with("ssh-") {
            age::ssh::Recipient::from_str(r)
                .map(AgeRecipient::Ssh)
                .map_err(|e| bad("SSH", format!("{e:?}")))
        } else {
            Err(AgeError::UnknownRecipient(r.to_string()))
        }
    }

    /// Wraps `data_key` to this recipient as an armored age file (what sops stores in `enc`).
    pub fn wrap(&self, recipient_text: &str, data_key: &[u8]) -> Result<String, AgeError> {
        let wrap_err = |message: String| AgeError::Wrap {
            recipient: recipient_text.to_string(),
            message,
        };
        let plugin;
        let recipient: &dyn age::Recipient = match self {
            AgeRecipient::X25519(r) => r,
            AgeRecipient::Ssh(r) => r,
            AgeRecipient::PostQuantum(r) => r.as_ref(),
            AgeRecipient::Tag(r) => r.as_ref(),
            AgeRecipient::Plugin(r) => {
                plugin = crate::plugin::recipient::PluginRecipient::new(r.plugin(), recipient_text);
                plugin
                    .check_installed()
                    .map_err(|_| AgeError::PluginNotFound {
                        binary: plugin_binary(r.plugin()),
                        what: format!("recipient {recipient_text}"),
                    })?;
                &plugin
            }
        };
        let encryptor = age::Encryptor::with_recipients(std::iter::once(recipient))
            .map_err(|e| wrap_err(e.to_string()))?;
        let mut out = Vec::new();
        let armor = ArmoredWriter::wrap_output(&mut out, ArmorFormat::AsciiArmor)
            .map_err(|e| wrap_err(e.to_string()))?;
        let mut w = encryptor
            .wrap_output(armor)
            .map_err(|e| wrap_err(e.to_string()))?;
        w.write_all(data_key).map_err(|e| wrap_err(e.to_string()))?;
        w.finish()
            .and_then(|a| a.finish())
            .map_err(|e| wrap_err(e.to_string()))?;
        String::from_utf8(out).map_err(|e| wrap_err(e.to_string()))
    }
}
