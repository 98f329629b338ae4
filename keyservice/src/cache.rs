//! The agent's memory: PINs and passphrases the user gave, answered again to the next
//! plugin run or passphrase-protected identity file that asks the same question, for a
//! while. Like gpg-agent: forgotten after [`CachePolicy::idle`] without use and
//! [`CachePolicy::max`] after they were given, on [`SecretCache::forget_all`] (`keytap
//! keyservice --lock`, SIGHUP, SIGUSR1), when a request answered from memory fails (a PIN
//! that is no longer right is not tried twice), and when the YubiKey it belongs to is
//! removed. Secrets are kept in locked pages (no swap) and zeroized when forgotten; the
//! server keeps core dumps and debuggers out (see [`crate::server::harden_process`]).

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use age::secrecy::{ExposeSecret, SecretString};
use keytap_core::keys::prompt::PromptHook;
use zeroize::Zeroizing;

/// How long secrets are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CachePolicy {
    /// Forgotten after this long unused. Zero: never kept at all.
    pub idle: Duration,
    /// Forgotten this long after they were given, used or not.
    pub max: Duration,
}

impl Default for CachePolicy {
    /// gpg-agent's defaults: 10 minutes idle, 2 hours at most.
    fn default() -> Self {
        CachePolicy {
            idle: Duration::from_secs(600),
            max: Duration::from_secs(7200),
        }
    }
}

/// A secret kept in memory: its pages locked against swapping where the system allows
/// (`mlock`; a failure only costs that guarantee), zeroized when dropped.
struct LockedSecret {
    // Declared first so it is zeroized before the pages are unlocked.
    text: Zeroizing<String>,
    _locked: Option<region::LockGuard>,
}

impl LockedSecret {
    fn new(secret: &str) -> Self {
        let text = Zeroizing::new(secret.to_string());
        let locked = (!text.is_empty())
            .then(|| region::lock(text.as_ptr(), text.len()).ok())
            .flatten();
        LockedSecret {
            text,
            _locked: locked,
        }
    }
}

struct Entry {
    secret: LockedSecret,
    given: Instant,
    used: Instant,
    /// The plugin session that asked, if any: its plugin and identities (to notice the
    /// token's removal).
    session: Option<(String, Vec<String>)>,
}

/// Plugins whose tokens can be pulled out; their cached PINs go with them.
const REMOVABLE: &[&str] = &["yubikey"];

/// The PINs and passphrases of one key service.
pub struct SecretCache {
    policy: CachePolicy,
    entries: Mutex<HashMap<String, Entry>>,
    /// Prompts answered from memory during the current request.
    hits: Mutex<Vec<String>>,
    /// The plugin session running now (set by [`PromptHook::begin_session`]).
    session: Mutex<Option<(String, Vec<String>)>>,
    /// Program shown the plugins' messages ("touch your YubiKey") as desktop notifications.
    notifier: Option<std::path::PathBuf>,
    verbose: bool,
}

impl SecretCache {
    /// An empty cache. `notifier` is run with a title and a message for each message a
    /// plugin shows (`notify-send` fits).
    pub fn new(
        policy: CachePolicy,
        notifier: Option<std::path::PathBuf>,
        verbose: bool,
    ) -> Arc<Self> {
        Arc::new(SecretCache {
            policy,
            entries: Mutex::new(HashMap::new()),
            hits: Mutex::new(Vec::new()),
            session: Mutex::new(None),
            notifier,
            verbose,
        })
    }

    fn log(&self, what: &str) {
        if self.verbose {
            eprintln!("keytap keyservice: {what}");
        }
    }

    /// Forgets (and zeroizes) every secret; returns how many there were.
    pub fn forget_all(&self) -> usize {
        let n = self.entries.lock().map(|mut e| {
            let n = e.len();
            e.clear();
            n
        });
        let n = n.unwrap_or(0);
        if n > 0 {
            self.log(&format!("forgot {n} cached secret(s)"));
        }
        n
    }

    /// How many secrets are kept now.
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets what has expired.
    pub fn sweep(&self) {
        let now = Instant::now();
        let policy = self.policy;
        if let Ok(mut entries) = self.entries.lock() {
            let before = entries.len();
            entries.retain(|_, e| {
                now.duration_since(e.used) < policy.idle && now.duration_since(e.given) < policy.max
            });
            let gone = before - entries.len();
            if gone > 0 {
                drop(entries);
                self.log(&format!("{gone} cached secret(s) expired"));
            }
        }
    }

    /// Starts a request: answers from memory are counted from here.
    pub fn begin_request(&self) {
        if let Ok(mut h) = self.hits.lock() {
            h.clear();
        }
        if let Ok(mut s) = self.session.lock() {
            *s = None;
        }
    }

    /// The request failed: whatever was answered from memory or typed in it may be wrong
    /// (a mistyped or changed PIN), so it is forgotten rather than tried again.
    pub fn request_failed(&self) {
        let hits: Vec<String> = self
            .hits
            .lock()
            .map(|mut h| std::mem::take(&mut *h))
            .unwrap_or_default();
        if hits.is_empty() {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            for prompt in &hits {
                entries.remove(prompt);
            }
        }
        self.log("a request failed; the secrets it used are forgotten");
    }

    /// The removable tokens some cached secret belongs to: (plugin, identities).
    fn token_sessions(&self) -> Vec<(String, Vec<String>)> {
        let Ok(entries) = self.entries.lock() else {
            return Vec::new();
        };
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for e in entries.values() {
            if let Some(s) = &e.session {
                if REMOVABLE.contains(&s.0.as_str()) && !out.contains(s) {
                    out.push(s.clone());
                }
            }
        }
        out
    }

    /// Forgets the PINs of removable tokens that are gone: for each plugin of such a
    /// token, `age-plugin-<name> --identity` lists the identities of the tokens present
    /// (both keytap's and str4d's YubiKey plugins do); a session none of whose identities
    /// is listed any more loses its secrets. Callers run this between requests (a plugin
    /// listing a card while another uses it could disturb that session).
    pub fn forget_removed_tokens(&self) {
        let sessions = self.token_sessions();
        if sessions.is_empty() {
            return;
        }
        let mut listed: HashMap<String, Option<String>> = HashMap::new();
        for (plugin, _) in &sessions {
            listed
                .entry(plugin.clone())
                .or_insert_with(|| list_identities(plugin));
        }
        let gone: Vec<(String, Vec<String>)> = sessions
            .into_iter()
            .filter(
                |(plugin, ids)| match listed.get(plugin).and_then(|l| l.as_ref()) {
                    Some(text) => !ids.iter().any(|id| text.contains(id.as_str())),
                    None => true,
                },
            )
            .collect();
        if gone.is_empty() {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|_, e| !matches!(&e.session, Some(s) if gone.contains(s)));
        }
        self.log("a token was removed; its PIN is forgotten");
    }
}

/// What `age-plugin-<plugin> --identity` prints (None if it cannot run or fails).
fn list_identities(plugin: &str) -> Option<String> {
    let path = keytap_core::plugin::connection::find_plugin(plugin).ok()?;
    let mut child = Command::new(path)
        .arg("--identity")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let stdout = child.stdout.take()?;
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut std::io::Read::take(stdout, 1 << 20), &mut text);
        text
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let text = reader.join().ok()?;
    status.filter(|s| s.success()).map(|_| text)
}

impl PromptHook for SecretCache {
    fn cached_secret(&self, prompt: &str) -> Option<SecretString> {
        self.sweep();
        // Only the plugin that was given the secret is answered with it: another plugin
        // showing the same prompt text is asked anew.
        let plugin = |s: &Option<(String, Vec<String>)>| s.as_ref().map(|(p, _)| p.clone());
        let current = self.session.lock().ok().and_then(|s| plugin(&s));
        let mut entries = self.entries.lock().ok()?;
        let entry = entries
            .get_mut(prompt)
            .filter(|e| plugin(&e.session) == current)?;
        entry.used = Instant::now();
        let secret = SecretString::from(entry.secret.text.to_string());
        drop(entries);
        if let Ok(mut h) = self.hits.lock() {
            h.push(prompt.to_string());
        }
        self.log("answered a prompt from memory");
        Some(secret)
    }

    fn remember_secret(&self, prompt: &str, secret: &SecretString) {
        if self.policy.idle.is_zero() {
            return;
        }
        let session = self.session.lock().ok().and_then(|s| s.clone());
        let now = Instant::now();
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(
                prompt.to_string(),
                Entry {
                    secret: LockedSecret::new(secret.expose_secret()),
                    given: now,
                    used: now,
                    session,
                },
            );
        }
        // A freshly typed secret is only kept if the request it was typed for succeeds:
        // a wrong PIN must not be answered again from memory.
        if let Ok(mut h) = self.hits.lock() {
            h.push(prompt.to_string());
        }
    }

    fn begin_session(&self, plugin: &str, identities: &[String]) {
        if let Ok(mut s) = self.session.lock() {
            *s = Some((plugin.to_string(), identities.to_vec()));
        }
    }

    fn end_session(&self) {
        if let Ok(mut s) = self.session.lock() {
            *s = None;
        }
    }

    fn notify(&self, message: &str) {
        if let Some(program) = &self.notifier {
            keytap_core::keys::prompt::notify_desktop(program, message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cache (see [`cache`]) that was just given `pin` for the prompt `PIN?`.
    fn cache_holding_pin(pin: &str, idle: u64, max: u64) -> Arc<SecretCache> {
        let c = cache(idle, max);
        c.remember_secret("PIN?", &SecretString::from(pin.to_string()));
        c
    }

    fn cache(idle: u64, max: u64) -> Arc<SecretCache> {
        SecretCache::new(
            CachePolicy {
                idle: Duration::from_millis(idle),
                max: Duration::from_millis(max),
            },
            None,
            false,
        )
    }

    #[test]
    fn a_secret_is_answered_until_idle_then_gone() {
        let c = cache_holding_pin("123456", 200, 10_000);
        assert_eq!(c.cached_secret("PIN?").unwrap().expose_secret(), "123456");
        std::thread::sleep(Duration::from_millis(250));
        assert!(c.cached_secret("PIN?").is_none());
    }

    #[test]
    fn zero_idle_means_never_cache() {
        let c = cache_holding_pin("1", 0, 10_000);
        assert!(c.cached_secret("PIN?").is_none());
    }

    #[test]
    fn the_max_lifetime_holds_even_when_used() {
        let c = cache_holding_pin("1", 10_000, 200);
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(50));
            assert!(c.cached_secret("PIN?").is_some());
        }
        std::thread::sleep(Duration::from_millis(100));
        assert!(c.cached_secret("PIN?").is_none());
    }

    #[test]
    fn a_secret_answers_only_the_plugin_it_was_given_to() {
        let c = cache(10_000, 10_000);
        c.begin_request();
        c.begin_session("yubikey", &["AGE-PLUGIN-YUBIKEY-1X".into()]);
        c.remember_secret("PIN?", &SecretString::from("123456".to_string()));
        c.begin_request();
        c.begin_session("evil", &["AGE-PLUGIN-EVIL-1X".into()]);
        assert!(c.cached_secret("PIN?").is_none(), "another plugin's prompt");
        c.begin_request();
        assert!(c.cached_secret("PIN?").is_none(), "no plugin");
        c.begin_session("yubikey", &["AGE-PLUGIN-YUBIKEY-1X".into()]);
        assert_eq!(c.cached_secret("PIN?").unwrap().expose_secret(), "123456");
    }

    #[test]
    fn a_secret_asked_after_a_plugin_session_is_no_plugins() {
        // An SSH key's passphrase is asked after the plugins ran: it must not be filed
        // under the last plugin and handed to it on its next run.
        let c = cache(10_000, 10_000);
        c.begin_request();
        c.begin_session("evil", &["AGE-PLUGIN-EVIL-1X".into()]);
        c.end_session();
        c.remember_secret(
            "Type passphrase for OpenSSH key",
            &SecretString::from("s".to_string()),
        );
        c.begin_request();
        c.begin_session("evil", &["AGE-PLUGIN-EVIL-1X".into()]);
        assert!(c.cached_secret("Type passphrase for OpenSSH key").is_none());
        c.end_session();
        assert!(c.cached_secret("Type passphrase for OpenSSH key").is_some());
    }

    #[test]
    fn lock_and_failed_requests_forget() {
        let c = cache(10_000, 10_000);
        c.remember_secret("a", &SecretString::from("1".to_string()));
        c.remember_secret("b", &SecretString::from("2".to_string()));
        c.begin_request();
        assert!(c.cached_secret("a").is_some());
        c.request_failed();
        assert!(
            c.cached_secret("a").is_none(),
            "the answer that failed is forgotten"
        );
        assert!(c.cached_secret("b").is_some(), "others stay");
        assert_eq!(c.forget_all(), 1);
        assert!(c.is_empty());
    }
}
