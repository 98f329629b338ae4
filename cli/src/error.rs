//! The CLI's error: a one-line (or sops-shaped) message and the exit code sops would use.

use keytap_core::error::Error as CoreError;

/// A failure to report to the user.
#[derive(Debug)]
pub struct CliError {
    /// Exit code (sops-compatible).
    pub code: i32,
    /// What to print on stderr.
    pub message: String,
}

impl CliError {
    /// An error with an explicit code.
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        CliError {
            code,
            message: message.into(),
        }
    }

    /// An output file, directory or stream could not be written (sops's exit code for it).
    pub fn write_failed(message: impl Into<String>) -> Self {
        CliError::new(
            keytap_core::error::exit_code::COULD_NOT_WRITE_OUTPUT_FILE,
            message,
        )
    }

    /// Prefixes the message with the file it concerns.
    pub fn in_file(mut self, path: impl AsRef<std::path::Path>) -> Self {
        let path = path.as_ref().display().to_string();
        if !path.is_empty() && !self.message.contains(&path) {
            self.message = format!("{path}: {}", self.message);
        }
        self
    }
}

impl From<CoreError> for CliError {
    fn from(e: CoreError) -> Self {
        CliError {
            code: e.exit_code(),
            message: e.to_string(),
        }
    }
}
