//! How keys and plugins ask the user things: the terminal, or `KEYTAP_ASKPASS`.

use std::io::{BufRead, Write};
use std::process::{Command, Stdio};

use age::secrecy::SecretString;

/// Answers age's prompts (passphrases, PINs, confirmations, messages).
///
/// `KEYTAP_ASKPASS`, when set, is a program run with the prompt as its only argument that
/// prints the answer on stdout (like `SSH_ASKPASS`; `systemd-ask-password` fits at boot).
/// Otherwise the controlling terminal is used; with neither, requests get no answer and
/// the caller reports what was asked instead of hanging.
#[derive(Clone, Debug, Default)]
pub struct Prompter;

impl Prompter {
    fn askpass(description: &str) -> Option<Option<String>> {
        let program = std::env::var_os("KEYTAP_ASKPASS").filter(|p| !p.is_empty())?;
        let out = Command::new(program)
            .arg(description)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output();
        Some(match out {
            Ok(out) if out.status.success() => {
                let mut s = String::from_utf8(out.stdout).ok()?;
                while s.ends_with('\n') || s.ends_with('\r') {
                    s.pop();
                }
                Some(s)
            }
            _ => None,
        })
    }

    fn tty_line(description: &str) -> Option<String> {
        let tty = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .ok()?;
        let mut w = tty.try_clone().ok()?;
        write!(w, "{description} ").ok()?;
        w.flush().ok()?;
        let mut line = String::new();
        std::io::BufReader::new(tty).read_line(&mut line).ok()?;
        Some(line.trim_end_matches(['\n', '\r']).to_string())
    }
}

impl age::Callbacks for Prompter {
    fn display_message(&self, message: &str) {
        eprintln!("{message}");
    }

    fn confirm(&self, message: &str, yes_string: &str, no_string: Option<&str>) -> Option<bool> {
        let no = no_string.unwrap_or("no");
        let question = format!("{message} [{yes_string}/{no}]");
        let answer = match Self::askpass(&question) {
            Some(a) => a?,
            None => Self::tty_line(&question)?,
        };
        Some(
            answer.trim().eq_ignore_ascii_case(yes_string)
                || answer.trim().eq_ignore_ascii_case("y"),
        )
    }

    fn request_public_string(&self, description: &str) -> Option<String> {
        match Self::askpass(description) {
            Some(a) => a,
            None => Self::tty_line(description),
        }
    }

    fn request_passphrase(&self, description: &str) -> Option<SecretString> {
        let answer = match Self::askpass(description) {
            Some(a) => a?,
            None => rpassword::prompt_password(format!("{description} ")).ok()?,
        };
        Some(SecretString::from(answer))
    }
}
