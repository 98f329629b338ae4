//! How keys and plugins ask the user things: the terminal, or `KEYTAP_ASKPASS`.

use std::io::{BufRead, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;

use age::secrecy::SecretString;

/// What stands between the prompts and the user in a long-running process: the key
/// service's cache of PINs and passphrases, and its notifications.
pub trait PromptHook: Send + Sync {
    /// The secret already given for this prompt, if it is still cached.
    fn cached_secret(&self, prompt: &str) -> Option<SecretString>;
    /// A secret the user just gave for this prompt.
    fn remember_secret(&self, prompt: &str, secret: &SecretString);
    /// A message for the user (e.g. "touch your YubiKey"), beyond the terminal.
    fn notify(&self, message: &str);
    /// A plugin session starts: what it asks is for these identities of this plugin.
    fn begin_session(&self, _plugin: &str, _identities: &[String]) {}
    /// The plugin session ended: what is asked next (an SSH key's passphrase) is no
    /// plugin's.
    fn end_session(&self) {}
}

/// Answers age's prompts (passphrases, PINs, confirmations, messages).
///
/// `KEYTAP_ASKPASS`, when set, is a program run with the prompt as its only argument that
/// prints the answer on stdout (like `SSH_ASKPASS`; `systemd-ask-password` fits at boot).
/// Otherwise the controlling terminal is used; with neither, requests get no answer and
/// the caller reports what was asked instead of hanging. A [`PromptHook`] can answer
/// secrets before anyone is asked, and hears every message.
#[derive(Clone, Default)]
pub struct Prompter {
    hook: Option<Arc<dyn PromptHook>>,
}

impl std::fmt::Debug for Prompter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prompter")
            .field("hook", &self.hook.is_some())
            .finish()
    }
}

/// A plugin session as the [`PromptHook`] sees it: ended when dropped, so a secret asked
/// for afterwards is never taken for the plugin's (and answered to it from a cache).
pub struct PluginSession<'a> {
    prompter: &'a Prompter,
}

impl Drop for PluginSession<'_> {
    fn drop(&mut self) {
        if let Some(hook) = &self.prompter.hook {
            hook.end_session();
        }
    }
}

impl Prompter {
    /// A prompter that consults `hook` first.
    pub fn with_hook(hook: Arc<dyn PromptHook>) -> Prompter {
        Prompter { hook: Some(hook) }
    }

    /// Tells the hook a plugin session starts (see [`PromptHook::begin_session`]); it
    /// ends when the returned guard is dropped, on every path.
    #[must_use = "the session ends when the guard is dropped"]
    pub fn begin_session(&self, plugin: &str, identities: &[String]) -> PluginSession<'_> {
        if let Some(hook) = &self.hook {
            hook.begin_session(plugin, identities);
        }
        PluginSession { prompter: self }
    }

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
        match &self.hook {
            Some(hook) => hook.notify(message),
            // A unit without a terminal (the home-manager login unit) sets KEYTAP_NOTIFY so
            // "touch your YubiKey" reaches the desktop.
            None => {
                if let Some(program) = std::env::var_os("KEYTAP_NOTIFY").filter(|p| !p.is_empty()) {
                    notify_desktop(std::path::Path::new(&program), message);
                }
            }
        }
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
        if let Some(hook) = &self.hook {
            if let Some(secret) = hook.cached_secret(description) {
                return Some(secret);
            }
            let answer = self.ask_secret(description)?;
            hook.remember_secret(description, &answer);
            return Some(answer);
        }
        self.ask_secret(description)
    }
}

impl Prompter {
    /// Asks for a secret: KEYTAP_ASKPASS, then an explicit PINENTRY_PROGRAM, then the
    /// terminal, then any pinentry on PATH; with none of them the request gets no answer
    /// (never a hang).
    fn ask_secret(&self, description: &str) -> Option<SecretString> {
        if let Some(answer) = Self::askpass(description) {
            return answer.map(SecretString::from);
        }
        if let Some(program) = std::env::var_os("PINENTRY_PROGRAM").filter(|p| !p.is_empty()) {
            return pinentry(std::path::Path::new(&program), description).map(SecretString::from);
        }
        if std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .is_ok()
        {
            return rpassword::prompt_password(format!("{description} "))
                .ok()
                .map(SecretString::from);
        }
        let on_path = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .map(|d| d.join("pinentry"))
            .find(|p| p.is_file())?;
        pinentry(&on_path, description).map(SecretString::from)
    }
}

/// Asks a secret through a pinentry program (Assuan: SETDESC, GETPIN, read `D <data>`).
/// Shows `message` with a notify-send-like `program` (`program keytap MESSAGE`), without
/// waiting for it: a notification must never hold up the plugin session.
pub fn notify_desktop(program: &std::path::Path, message: &str) {
    let _ = std::process::Command::new(program)
        .arg("keytap")
        .arg(message)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(|mut c| std::thread::spawn(move || c.wait()));
}

fn pinentry(program: &std::path::Path, description: &str) -> Option<String> {
    use std::io::Read;
    let mut child = Command::new(program)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take()?;
    let stdout = child.stdout.take()?;
    let mut reader = std::io::BufReader::new(stdout);
    let mut line = String::new();
    let expect_ok = |reader: &mut std::io::BufReader<std::process::ChildStdout>,
                     line: &mut String|
     -> Option<()> {
        line.clear();
        reader.read_line(line).ok()?;
        line.starts_with("OK").then_some(())
    };
    expect_ok(&mut reader, &mut line)?;
    let escaped: String = description
        .chars()
        .map(|c| match c {
            '%' => "%25".to_string(),
            '\n' => "%0A".to_string(),
            '\r' => "%0D".to_string(),
            c => c.to_string(),
        })
        .collect();
    for cmd in [
        format!("SETDESC {escaped}\n"),
        "SETPROMPT PIN:\n".to_string(),
    ] {
        stdin.write_all(cmd.as_bytes()).ok()?;
        stdin.flush().ok()?;
        expect_ok(&mut reader, &mut line)?;
    }
    stdin.write_all(b"GETPIN\n").ok()?;
    stdin.flush().ok()?;
    let mut secret = None;
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            break;
        }
        if let Some(data) = line.strip_prefix("D ") {
            secret = Some(percent_decode(data.trim_end_matches(['\n', '\r'])));
        } else if line.starts_with("OK") || line.starts_with("ERR") {
            break;
        }
    }
    let _ = stdin.write_all(b"BYE\n");
    drop(stdin);
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    let _ = child.wait();
    secret
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
