//! The protocol seen from the client: send stanzas, receive stanzas, note progress. A
//! running plugin ([`super::connection::Connection`]) is one; tests and fuzzing drive the
//! same session logic with scripted plugin output.

use age_core::format::Stanza;

use super::PluginError;

/// One side of an age plugin protocol exchange, from the client's end.
pub trait Session {
    /// `age-plugin-<name>`, for messages.
    fn binary(&self) -> &str;
    /// Sends one stanza to the plugin.
    fn send(&mut self, command: &str, args: &[&str], body: &[u8]) -> Result<(), PluginError>;
    /// Receives the plugin's next stanza.
    fn receive(&mut self) -> Result<Stanza, PluginError>;
    /// The user answered one of the plugin's questions (restarts the timeout).
    fn progress(&mut self);
}

/// A plugin whose whole output is given up front (what a fuzzer or a test plays): every
/// stanza the client sends is accepted and dropped.
pub struct ScriptedPlugin<'a> {
    reader: super::wire::StanzaReader<&'a [u8]>,
}

impl<'a> ScriptedPlugin<'a> {
    /// A plugin that will write `output`.
    pub fn new(output: &'a [u8]) -> Self {
        ScriptedPlugin {
            reader: super::wire::StanzaReader::new(output),
        }
    }
}

impl Session for ScriptedPlugin<'_> {
    fn binary(&self) -> &str {
        "age-plugin-scripted"
    }

    fn send(&mut self, _: &str, _: &[&str], _: &[u8]) -> Result<(), PluginError> {
        Ok(())
    }

    fn receive(&mut self) -> Result<Stanza, PluginError> {
        use super::wire::WireError;
        self.reader.read_stanza().map_err(|e| match e {
            WireError::End => PluginError::Exited {
                binary: self.binary().into(),
                code: Some(0),
            },
            WireError::Malformed(message) | WireError::TooLarge(message) => PluginError::Protocol {
                binary: self.binary().into(),
                message,
            },
        })
    }

    fn progress(&mut self) {}
}
