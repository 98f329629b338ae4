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
    /// How often the session counted progress (each would restart a real timeout).
    pub progressed: usize,
}

impl<'a> ScriptedPlugin<'a> {
    /// A plugin that will write `output`.
    pub fn new(output: &'a [u8]) -> Self {
        ScriptedPlugin {
            reader: super::wire::StanzaReader::new(output),
            progressed: 0,
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

    fn progress(&mut self) {
        self.progressed += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzz_targets::NoAnswers;

    fn file() -> Vec<Stanza> {
        vec![Stanza {
            tag: "x25519".into(),
            args: vec!["AAAA".into()],
            body: vec![0; 32],
        }]
    }

    fn repeated(stanza: &str, times: usize) -> Vec<u8> {
        let mut out = stanza.repeat(times).into_bytes();
        out.extend_from_slice(b"-> done\n\n");
        out
    }

    /// A user who answers every question.
    #[derive(Clone)]
    struct AlwaysAnswers;

    impl age::Callbacks for AlwaysAnswers {
        fn display_message(&self, _: &str) {}
        fn confirm(&self, _: &str, _: &str, _: Option<&str>) -> Option<bool> {
            Some(true)
        }
        fn request_public_string(&self, _: &str) -> Option<String> {
            Some("x".into())
        }
        fn request_passphrase(&self, _: &str) -> Option<age::secrecy::SecretString> {
            Some("1234".to_string().into())
        }
    }

    /// Answered questions are progress: a plugin asking forever is stopped all the same.
    #[test]
    fn a_plugin_asking_forever_is_stopped() {
        let ids = ["AGE-PLUGIN-SCRIPTED-1QQQQQQ".to_string()];
        for question in ["request-secret", "request-public", "confirm"] {
            let ask = |n| repeated(&format!("-> {question}\nUElO\n"), n);
            let (few, many) = (ask(MAX), ask(MAX + 1));
            let out = super::super::identity::run(
                &mut ScriptedPlugin::new(&few),
                &ids,
                &[file()],
                &AlwaysAnswers,
            );
            assert!(out.is_ok(), "{question}");
            let out = super::super::identity::run(
                &mut ScriptedPlugin::new(&many),
                &ids,
                &[file()],
                &AlwaysAnswers,
            );
            assert!(
                error_of(out).contains("asked more than 256 questions"),
                "{question}"
            );
        }
        let key = age_core::format::FileKey::new(Box::new([7; 16]));
        let out = super::super::recipient::run(
            &mut ScriptedPlugin::new(&repeated("-> request-secret\nUElO\n", MAX + 1)),
            "age1x1qqqq",
            &key,
            &AlwaysAnswers,
        );
        assert!(error_of(out).contains("asked more than 256 questions"));
    }

    const MAX: usize = super::super::MAX_ANSWERED_QUESTIONS;

    fn error_of<T>(result: Result<T, PluginError>) -> String {
        match result {
            Ok(_) => panic!("the session succeeded"),
            Err(e) => e.to_string(),
        }
    }

    fn identity_session(
        output: &[u8],
    ) -> (
        Result<super::super::identity::SessionOutcome, PluginError>,
        usize,
    ) {
        let mut plugin = ScriptedPlugin::new(output);
        let ids = ["AGE-PLUGIN-SCRIPTED-1QQQQQQ".to_string()];
        let out = super::super::identity::run(&mut plugin, &ids, &[file()], &NoAnswers);
        (out, plugin.progressed)
    }

    /// What a plugin can repeat forever is neither progress (each would restart the
    /// timeout) nor kept without bound.
    #[test]
    fn floods_are_not_progress_and_stay_bounded() {
        // The same file's error a thousand times: progress once (and `done`).
        let (out, progressed) = identity_session(&repeated("-> error stanza 0\nYmFk\n", 1000));
        assert_eq!(out.unwrap().file_errors.len(), 1000);
        assert_eq!(progressed, 1);
        let (out, _) = identity_session(&repeated("-> error stanza 0\nYmFk\n", 2000));
        assert!(error_of(out).contains("more than 1024 error stanzas"));
        // Errors naming files that do not exist are not progress either.
        let many: String = (0..1000)
            .map(|i| format!("-> error stanza {i}\nYmFk\n"))
            .collect();
        let (out, progressed) = identity_session(&repeated(&many, 1));
        assert_eq!(out.unwrap().file_errors.len(), 1000);
        assert_eq!(progressed, 1);
        // Questions answered `fail` at once (no terminal): never progress.
        let (out, progressed) = identity_session(&repeated("-> request-secret\nUElO\n", 1000));
        assert_eq!(out.unwrap().unanswered.len(), 1000);
        assert_eq!(progressed, 0);
        let (out, _) = identity_session(&repeated("-> request-secret\nUElO\n", 2000));
        assert!(error_of(out).contains("more than 1024 unanswered"));
        // Recipient stanzas and labels, in a recipient session.
        let key = age_core::format::FileKey::new(Box::new([7; 16]));
        let distinct_labels: String = (0..2000).map(|i| format!("-> labels l{i}\n\n")).collect();
        for (output, what) in [
            (
                repeated("-> recipient-stanza 0 x25519 AAAA\nAAAA\n", 2000),
                "recipient stanzas",
            ),
            (repeated(&distinct_labels, 1), "labels"),
            (
                repeated("-> error recipient 0\nYmFk\n", 2000),
                "error stanzas",
            ),
        ] {
            let mut plugin = ScriptedPlugin::new(&output);
            let out = super::super::recipient::run(&mut plugin, "age1x1qqqq", &key, &NoAnswers);
            let message = error_of(out);
            assert!(
                message.contains(&format!("more than 1024 {what}")),
                "{message}"
            );
        }
    }
}
