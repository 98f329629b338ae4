//! The glue between keytap's age plugins and the [`age_plugin`] crate, written once for
//! `age-plugin-passphrase`, `age-plugin-tpm`, `age-plugin-yubikey` and the test plugin
//! `age-plugin-testkit`:
//!
//! - [`Plugin`], [`Wrap`] and [`Unwrap`]: what a plugin says about its recipient-v1 and
//!   identity-v1 state machines (how it reads identities and recipients, how it wraps and
//!   unwraps); [`Handler`] makes the `age-plugin` state machines of them, and [`run`] runs
//!   them.
//! - [`Unlock`] and [`Plan`]: the identity-v1 loop of plugins whose identities cost
//!   something to use (a passphrase, a PIN, a device): for each identity, counted once,
//!   that has a stanza in a file still locked, unlock it once for the whole session, try it
//!   on those stanzas, and report why identities could not be used.
//! - [`request_secret`]: a `request-secret` whose refusal says why, in words.
//! - [`append_line`]: the plugins' debug logs.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fmt;
use std::io::{self, Write};
use std::marker::PhantomData;
use std::process::ExitCode;

use age_core::format::{FileKey, Stanza};
use age_core::secrecy::SecretString;
use age_plugin::identity::{self, IdentityPluginV1};
use age_plugin::recipient::{self, RecipientPluginV1};
use age_plugin::{Callbacks, PluginHandler};

/// What identity-v1 answers for a batch of files: by file index, its file key, or the
/// errors of its stanzas. Files this plugin has nothing to say about are absent.
pub type FileKeys = HashMap<usize, Result<FileKey, Vec<identity::Error>>>;

/// A plugin: how it reads its identities (`AGE-PLUGIN-<NAME>-1...`), the same for both
/// state machines.
pub trait Plugin {
    /// An identity, as read by [`Plugin::identity`].
    type Identity;

    /// Reads the identity `bytes` that came with plugin name `name`; the error is the
    /// identity's (`error identity`).
    fn identity(name: &str, bytes: &[u8]) -> Result<Self::Identity, String>;
}

/// A plugin's recipient-v1 state machine: how it reads the recipients it is asked to
/// encrypt to, and how it wraps file keys to them and to identities.
pub trait Wrap: Plugin {
    /// A recipient (`age1<name>1...`), as read by [`Wrap::recipient`].
    type Recipient;

    /// Why this plugin cannot encrypt to its identities, if it cannot: every identity given
    /// to recipient-v1 then fails with this, whatever it is.
    const NO_IDENTITIES: Option<&'static str> = None;

    /// Called when a client starts a recipient-v1 session.
    fn started() {}

    /// Reads the recipient `bytes` that came with plugin name `name`; the error is the
    /// recipient's (`error recipient`).
    fn recipient(name: &str, bytes: &[u8]) -> Result<Self::Recipient, String>;

    /// Wraps every file key to all the recipients, then all the identities (each with the
    /// client's index): one list of stanzas per file key.
    fn wrap(
        file_keys: &[FileKey],
        recipients: &[(usize, Self::Recipient)],
        identities: &[(usize, Self::Identity)],
    ) -> Result<Vec<Vec<Stanza>>, Vec<recipient::Error>>;
}

/// A plugin's identity-v1 state machine: how it opens a batch of files with its identities.
pub trait Unwrap: Plugin {
    /// Called when a client starts an identity-v1 session.
    fn started() {}

    /// Opens what it can of `files` (each the stanzas of one file) with `identities` (each
    /// with the client's index).
    fn unwrap(
        identities: &[(usize, Self::Identity)],
        files: Vec<Vec<Stanza>>,
        callbacks: impl Callbacks<identity::Error>,
    ) -> io::Result<FileKeys>;
}

/// The `age-plugin` handler of a plugin `P`: its state machines are [`RecipientV1`] and
/// [`IdentityV1`].
pub struct Handler<P>(PhantomData<fn() -> P>);

impl<P> Default for Handler<P> {
    fn default() -> Self {
        Handler(PhantomData)
    }
}

impl<P: Wrap + Unwrap> PluginHandler for Handler<P> {
    type RecipientV1 = RecipientV1<P>;
    type IdentityV1 = IdentityV1<P>;

    fn recipient_v1(self) -> io::Result<RecipientV1<P>> {
        <P as Wrap>::started();
        Ok(RecipientV1 {
            recipients: Vec::new(),
            identities: Vec::new(),
        })
    }

    fn identity_v1(self) -> io::Result<IdentityV1<P>> {
        <P as Unwrap>::started();
        Ok(IdentityV1 {
            identities: Vec::new(),
        })
    }
}

/// Runs the state machine named by `--age-plugin=STATE_MACHINE` with plugin `P`; if it
/// fails, says so on standard error as `binary: error` and exits with a failure.
pub fn run<P: Wrap + Unwrap>(binary: &str, state_machine: &str) -> ExitCode {
    match age_plugin::run_state_machine(state_machine, Handler::<P>::default()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{binary}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Keeps what the plugin read, with the client's `index`, or says why it could not.
fn keep<T, E>(
    list: &mut Vec<(usize, T)>,
    index: usize,
    parsed: Result<T, String>,
    error: impl FnOnce(usize, String) -> E,
) -> Result<(), E> {
    list.push((index, parsed.map_err(|message| error(index, message))?));
    Ok(())
}

/// The recipient-v1 state machine of a plugin `P`: collects what [`Wrap::recipient`] and
/// [`Plugin::identity`] read, then calls [`Wrap::wrap`].
pub struct RecipientV1<P: Wrap> {
    recipients: Vec<(usize, P::Recipient)>,
    identities: Vec<(usize, P::Identity)>,
}

impl<P: Wrap> RecipientPluginV1 for RecipientV1<P> {
    fn add_recipient(
        &mut self,
        index: usize,
        name: &str,
        bytes: &[u8],
    ) -> Result<(), recipient::Error> {
        let parsed = P::recipient(name, bytes);
        keep(&mut self.recipients, index, parsed, |index, message| {
            recipient::Error::Recipient { index, message }
        })
    }

    fn add_identity(
        &mut self,
        index: usize,
        name: &str,
        bytes: &[u8],
    ) -> Result<(), recipient::Error> {
        let parsed = match P::NO_IDENTITIES {
            Some(why) => Err(why.to_string()),
            None => P::identity(name, bytes),
        };
        keep(&mut self.identities, index, parsed, |index, message| {
            recipient::Error::Identity { index, message }
        })
    }

    fn labels(&mut self) -> HashSet<String> {
        HashSet::new()
    }

    fn wrap_file_keys(
        &mut self,
        file_keys: Vec<FileKey>,
        _callbacks: impl Callbacks<recipient::Error>,
    ) -> io::Result<Result<Vec<Vec<Stanza>>, Vec<recipient::Error>>> {
        Ok(P::wrap(&file_keys, &self.recipients, &self.identities))
    }
}

/// The identity-v1 state machine of a plugin `P`: collects what [`Plugin::identity`]
/// reads, then calls [`Unwrap::unwrap`].
pub struct IdentityV1<P: Unwrap> {
    identities: Vec<(usize, P::Identity)>,
}

impl<P: Unwrap> IdentityPluginV1 for IdentityV1<P> {
    fn add_identity(
        &mut self,
        index: usize,
        name: &str,
        bytes: &[u8],
    ) -> Result<(), identity::Error> {
        let parsed = P::identity(name, bytes);
        keep(&mut self.identities, index, parsed, |index, message| {
            identity::Error::Identity { index, message }
        })
    }

    fn unwrap_file_keys(
        &mut self,
        files: Vec<Vec<Stanza>>,
        callbacks: impl Callbacks<identity::Error>,
    ) -> io::Result<FileKeys> {
        P::unwrap(&self.identities, files, callbacks)
    }
}

/// The message for an identity given to a plugin under another plugin's name:
/// `not an <what> identity (plugin name <name>)`, or `Ok` if `name` is `expected`.
pub fn check_identity_name(name: &str, expected: &str, what: &str) -> Result<(), String> {
    if name == expected {
        Ok(())
    } else {
        Err(format!("not an {what} identity (plugin name {name})"))
    }
}

/// When [`Plan::run`] reports the errors of identities that could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report {
    /// Each as it happens, so the client can say at once that it skips the identity.
    AtOnce,
    /// At the end of the session, and only if a file with a stanza for this plugin is
    /// still locked (some clients stop at the first error).
    IfLocked,
}

/// What trying an unlocked identity on one stanza gave.
pub enum Tried {
    /// The stanza opened: its file is done.
    Opened(FileKey),
    /// It did not open (another key with the same tag, a damaged body): on to the next
    /// stanza.
    No,
    /// The stanza is broken: an error of its file, reported if nothing else opens it.
    Bad(String),
    /// The identity cannot go on (its device failed): an error of the identity, which is
    /// tried no further in this session.
    Stop(String),
}

/// Where a stanza being tried is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct At {
    /// The client's index of the identity.
    pub identity: usize,
    /// The file's index.
    pub file: usize,
    /// The stanza's index in its file.
    pub stanza: usize,
}

/// How a plugin opens its stanzas with an identity that must be unlocked first (see
/// [`Plan`]).
pub trait Unlock {
    /// An identity.
    type Identity;
    /// A stanza of this plugin, parsed.
    type Stanza;
    /// An unlocked identity (a key, a device session with its PIN given).
    type Key;
    /// When the errors of identities are reported.
    const REPORT: Report;

    /// Parses a stanza: `Ok(None)` if it is not one of this plugin's, an error if it is
    /// but is malformed (its file then fails with that error).
    fn parse(stanza: &Stanza) -> Result<Option<Self::Stanza>, String>;

    /// What makes two identities the same (the same identity given twice is used once).
    fn same(identity: &Self::Identity) -> Vec<u8>;

    /// Whether `stanza` is addressed to `identity` (without unlocking it).
    fn matches(identity: &Self::Identity, stanza: &Self::Stanza) -> bool;

    /// Unlocks `identity` (asking for its passphrase or PIN through `callbacks`); the
    /// error is the identity's.
    fn unlock<C: Callbacks<identity::Error>>(
        &mut self,
        identity: &Self::Identity,
        callbacks: &mut C,
    ) -> io::Result<Result<Self::Key, String>>;

    /// Tries the unlocked `key` of `identity` on a stanza addressed to it.
    fn open<C: Callbacks<identity::Error>>(
        &mut self,
        key: &mut Self::Key,
        identity: &Self::Identity,
        at: At,
        stanza: &Self::Stanza,
        callbacks: &mut C,
    ) -> io::Result<Tried>;

    /// Locks the identity again once it has been tried on every file.
    fn lock(&mut self, key: Self::Key) {
        drop(key);
    }

    /// Called with every error of an identity before it is reported (for a debug log).
    fn reporting(&mut self, index: usize, message: &str) {
        let _ = (index, message);
    }
}

/// One identity-v1 batch, planned: the stanzas of this plugin in every file, and the
/// identities (each counted once) that have a stanza addressed to them.
pub struct Plan<'a, U: Unlock> {
    /// (client index, identity, how many stanzas are addressed to it)
    identities: Vec<(usize, &'a U::Identity, usize)>,
    /// By file: (stanza index, stanza) of this plugin's stanzas.
    files: Vec<Vec<(usize, U::Stanza)>>,
    result: FileKeys,
}

impl<'a, U: Unlock> Plan<'a, U> {
    /// Parses the stanzas of `files` and matches them with `identities`.
    pub fn new(identities: &'a [(usize, U::Identity)], files: &[Vec<Stanza>]) -> Self {
        let mut result = FileKeys::new();
        let mut parsed = Vec::with_capacity(files.len());
        for (file_index, stanzas) in files.iter().enumerate() {
            let mut ours = Vec::new();
            let mut errors = Vec::new();
            for (stanza_index, stanza) in stanzas.iter().enumerate() {
                match U::parse(stanza) {
                    Ok(Some(s)) => ours.push((stanza_index, s)),
                    Ok(None) => {}
                    Err(message) => errors.push(identity::Error::Stanza {
                        file_index,
                        stanza_index,
                        message,
                    }),
                }
            }
            if !errors.is_empty() {
                result.insert(file_index, Err(errors));
                ours.clear();
            }
            parsed.push(ours);
        }
        let mut seen = HashSet::new();
        let identities = identities
            .iter()
            .filter(|(_, id)| seen.insert(U::same(id)))
            .map(|(index, id)| {
                let n = parsed
                    .iter()
                    .flatten()
                    .filter(|(_, s)| U::matches(id, s))
                    .count();
                (*index, id, n)
            })
            .filter(|(_, _, n)| *n > 0)
            .collect();
        Plan {
            identities,
            files: parsed,
            result,
        }
    }

    /// Whether no identity has anything to open (nothing will be unlocked).
    pub fn is_idle(&self) -> bool {
        self.identities.is_empty()
    }

    /// Tries the identities with the most stanzas addressed to them first (else, in the
    /// client's order).
    pub fn most_stanzas_first(mut self) -> Self {
        self.identities.sort_by_key(|(_, _, n)| Reverse(*n));
        self
    }

    /// For each identity with a stanza in a file still locked: unlocks it (once), tries it
    /// on those stanzas, in order, until each file opens, then locks it again. Errors of
    /// identities are reported as [`Unlock::REPORT`] says; those of stanzas go with their
    /// file, if nothing opened it.
    pub fn run<C: Callbacks<identity::Error>>(
        self,
        unlocker: &mut U,
        mut callbacks: C,
    ) -> io::Result<FileKeys> {
        let Plan {
            identities,
            files,
            mut result,
        } = self;
        let mut failed: Vec<(usize, String)> = Vec::new();
        let mut bad: HashMap<usize, Vec<identity::Error>> = HashMap::new();
        for (index, id, _) in identities {
            let pending: Vec<usize> = (0..files.len())
                .filter(|f| {
                    !result.contains_key(f) && files[*f].iter().any(|(_, s)| U::matches(id, s))
                })
                .collect();
            if pending.is_empty() {
                continue;
            }
            let mut key = match unlocker.unlock(id, &mut callbacks)? {
                Ok(key) => key,
                Err(message) => {
                    failed.push((index, message));
                    report::<U, C>(unlocker, &mut callbacks, &mut failed)?;
                    continue;
                }
            };
            let mut stop = None;
            'files: for file in pending {
                for (stanza_index, stanza) in &files[file] {
                    if !U::matches(id, stanza) {
                        continue;
                    }
                    let at = At {
                        identity: index,
                        file,
                        stanza: *stanza_index,
                    };
                    match unlocker.open(&mut key, id, at, stanza, &mut callbacks)? {
                        Tried::Opened(file_key) => {
                            result.insert(file, Ok(file_key));
                            continue 'files;
                        }
                        Tried::No => {}
                        Tried::Bad(message) => {
                            bad.entry(file).or_default().push(identity::Error::Stanza {
                                file_index: file,
                                stanza_index: *stanza_index,
                                message,
                            })
                        }
                        Tried::Stop(message) => {
                            stop = Some(message);
                            break 'files;
                        }
                    }
                }
            }
            unlocker.lock(key);
            if let Some(message) = stop {
                failed.push((index, message));
                report::<U, C>(unlocker, &mut callbacks, &mut failed)?;
            }
        }
        for (file, errors) in bad {
            result.entry(file).or_insert(Err(errors));
        }
        let locked = files
            .iter()
            .enumerate()
            .any(|(f, s)| !s.is_empty() && !matches!(result.get(&f), Some(Ok(_))));
        if U::REPORT == Report::IfLocked && locked {
            for (index, message) in failed {
                unlocker.reporting(index, &message);
                let _ = callbacks.error(identity::Error::Identity { index, message })?;
            }
        }
        Ok(result)
    }
}

/// Sends the errors in `failed` now if the plugin reports them at once (a client that
/// answers `fail` to an error has nothing more to say to us).
fn report<U: Unlock, C: Callbacks<identity::Error>>(
    unlocker: &mut U,
    callbacks: &mut C,
    failed: &mut Vec<(usize, String)>,
) -> io::Result<()> {
    if U::REPORT == Report::AtOnce {
        for (index, message) in failed.drain(..) {
            unlocker.reporting(index, &message);
            let _ = callbacks.error(identity::Error::Identity { index, message })?;
        }
    }
    Ok(())
}

/// Why a client could not ask the user for a secret, displayed as `it has no way to ask`
/// or `it does not support request-secret`.
#[derive(Debug)]
pub struct NoPrompt(pub age_core::plugin::Error);

impl fmt::Display for NoPrompt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            age_core::plugin::Error::Fail => "it has no way to ask",
            age_core::plugin::Error::Unsupported => "it does not support request-secret",
        })
    }
}

/// Asks the user for a secret (a passphrase, a PIN) through the client's `request-secret`.
pub fn request_secret<E>(
    callbacks: &mut impl Callbacks<E>,
    prompt: &str,
) -> io::Result<Result<SecretString, NoPrompt>> {
    Ok(callbacks.request_secret(prompt)?.map_err(NoPrompt))
}

/// Appends `line` and a newline to the log file `path` (created if need be), in one write
/// so that concurrent sessions do not interleave within a line. A log that cannot be
/// written is skipped: logs are for debugging, never in the way. The log is private
/// (0600, whatever the umask) and only ever a regular file of the user's: a symlink
/// another user planted at the path (`/tmp/tpm.log`) is not followed.
pub fn append_line(path: impl AsRef<OsStr>, line: &str) {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
    let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(path.as_ref())
    else {
        return;
    };
    let ours = f.metadata().is_ok_and(|m| {
        m.file_type().is_file() && m.uid() == rustix::process::geteuid().as_raw() && m.nlink() == 1
    });
    if !ours {
        return;
    }
    if f.metadata()
        .is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
    {
        let _ = f.set_permissions(std::fs::Permissions::from_mode(0o600));
    }
    let _ = f.write_all(format!("{line}\n").as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_is_private_and_never_written_through_a_link() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("plugin.log");
        append_line(&log, "one");
        append_line(&log, "two");
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "one\ntwo\n");
        let mode = std::fs::metadata(&log).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "mine\n").unwrap();
        let planted = dir.path().join("planted.log");
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        append_line(&planted, "line");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "mine\n");
    }
    use age_core::secrecy::ExposeSecret;

    /// A client that records what the plugin sends it.
    #[derive(Default)]
    struct Client {
        said: Vec<String>,
    }

    fn describe(error: &identity::Error) -> String {
        match error {
            identity::Error::Identity { index, message } => format!("identity {index}: {message}"),
            identity::Error::Internal { message } => format!("internal: {message}"),
            identity::Error::Stanza {
                file_index,
                stanza_index,
                message,
            } => format!("stanza {file_index}/{stanza_index}: {message}"),
        }
    }

    impl Callbacks<identity::Error> for &mut Client {
        fn message(&mut self, message: &str) -> age_core::plugin::Result<()> {
            self.said.push(format!("msg: {message}"));
            Ok(Ok(()))
        }
        fn confirm(&mut self, _: &str, _: &str, _: Option<&str>) -> age_core::plugin::Result<bool> {
            Ok(Err(age_core::plugin::Error::Unsupported))
        }
        fn request_public(&mut self, _: &str) -> age_core::plugin::Result<String> {
            Ok(Err(age_core::plugin::Error::Unsupported))
        }
        fn request_secret(&mut self, prompt: &str) -> age_core::plugin::Result<SecretString> {
            self.said.push(format!("prompt: {prompt}"));
            Ok(Err(age_core::plugin::Error::Fail))
        }
        fn error(&mut self, error: identity::Error) -> age_core::plugin::Result<()> {
            self.said.push(describe(&error));
            Ok(Ok(()))
        }
    }

    /// Identities are a key byte (0 never unlocks); stanzas `t <key>`, opened by that key,
    /// or `t bad` (broken); `x` stanzas are not ours.
    struct Keys<const REPORT_AT_ONCE: bool> {
        unlocked: Vec<u8>,
    }

    impl<const AT_ONCE: bool> Unlock for Keys<AT_ONCE> {
        type Identity = u8;
        type Stanza = String;
        type Key = u8;
        const REPORT: Report = if AT_ONCE {
            Report::AtOnce
        } else {
            Report::IfLocked
        };

        fn parse(stanza: &Stanza) -> Result<Option<String>, String> {
            match (stanza.tag.as_str(), &stanza.args[..]) {
                ("t", [arg]) => Ok(Some(arg.clone())),
                ("t", _) => Err("malformed".into()),
                _ => Ok(None),
            }
        }

        fn same(id: &u8) -> Vec<u8> {
            vec![*id]
        }

        fn matches(id: &u8, stanza: &String) -> bool {
            stanza == "bad" || *stanza == id.to_string()
        }

        fn unlock<C: Callbacks<identity::Error>>(
            &mut self,
            id: &u8,
            callbacks: &mut C,
        ) -> io::Result<Result<u8, String>> {
            self.unlocked.push(*id);
            if *id == 0 {
                return Ok(Err(format!("no key 0 ({})", {
                    request_secret(callbacks, "key 0?")?.unwrap_err()
                })));
            }
            Ok(Ok(*id))
        }

        fn open<C: Callbacks<identity::Error>>(
            &mut self,
            key: &mut u8,
            _: &u8,
            _: At,
            stanza: &String,
            _: &mut C,
        ) -> io::Result<Tried> {
            Ok(match stanza.as_str() {
                "bad" => Tried::Bad("broken".into()),
                _ => Tried::Opened(FileKey::init_with_mut(|k| k.fill(*key))),
            })
        }
    }

    fn stanza(tag: &str, args: &[&str]) -> Stanza {
        Stanza {
            tag: tag.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            body: vec![],
        }
    }

    fn opened(result: &FileKeys) -> Vec<(usize, u8)> {
        let mut v: Vec<_> = result
            .iter()
            .filter_map(|(f, r)| r.as_ref().ok().map(|k| (*f, k.expose_secret()[0])))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn each_identity_is_unlocked_once_and_only_for_a_locked_file() {
        let files = vec![
            vec![stanza("x", &[]), stanza("t", &["1"])],
            vec![stanza("t", &["2"]), stanza("t", &["1"])],
            vec![stanza("x", &[])],
        ];
        let ids = [(0, 1), (1, 1), (2, 2), (3, 3)];
        let mut keys = Keys::<true> { unlocked: vec![] };
        let mut client = Client::default();
        let plan = Plan::new(&ids, &files);
        assert!(!plan.is_idle());
        let result = plan.run(&mut keys, &mut client).unwrap();
        // Key 1 opens both files; 1 again, 2 (nothing left) and 3 (no stanza) are not used.
        assert_eq!(opened(&result), [(0, 1), (1, 1)]);
        assert_eq!(keys.unlocked, [1]);
        assert!(client.said.is_empty(), "{:?}", client.said);
    }

    #[test]
    fn most_stanzas_first() {
        let files = vec![
            vec![stanza("t", &["1"]), stanza("t", &["2"])],
            vec![stanza("t", &["2"])],
        ];
        let ids = [(0, 1), (1, 2)];
        let mut keys = Keys::<true> { unlocked: vec![] };
        let plan = Plan::new(&ids, &files).most_stanzas_first();
        let result = plan.run(&mut keys, &mut Client::default()).unwrap();
        assert_eq!(keys.unlocked, [2]);
        assert_eq!(opened(&result), [(0, 2), (1, 2)]);
    }

    #[test]
    fn errors_at_once_or_only_if_a_file_stays_locked() {
        let files = vec![vec![stanza("t", &["0"]), stanza("t", &["1"])]];
        let ids = [(0, 0), (1, 1)];
        // At once: the client hears why identity 0 was skipped, even though 1 opened the file.
        let mut client = Client::default();
        let result = Plan::new(&ids, &files)
            .run(&mut Keys::<true> { unlocked: vec![] }, &mut client)
            .unwrap();
        assert_eq!(opened(&result), [(0, 1)]);
        assert_eq!(
            client.said,
            [
                "prompt: key 0?",
                "identity 0: no key 0 (it has no way to ask)"
            ]
        );
        // If locked: nothing to say once every file is open...
        let mut client = Client::default();
        Plan::new(&ids, &files)
            .run(&mut Keys::<false> { unlocked: vec![] }, &mut client)
            .unwrap();
        assert_eq!(client.said, ["prompt: key 0?"]);
        // ...and the reason when a file stays locked.
        let mut client = Client::default();
        Plan::new(&ids[..1], &files)
            .run(&mut Keys::<false> { unlocked: vec![] }, &mut client)
            .unwrap();
        assert_eq!(
            client.said,
            [
                "prompt: key 0?",
                "identity 0: no key 0 (it has no way to ask)"
            ]
        );
    }

    #[test]
    fn broken_and_malformed_stanzas_fail_their_file() {
        let files = vec![
            vec![stanza("t", &["bad"]), stanza("t", &["1"])],
            vec![stanza("t", &["bad"])],
            vec![stanza("t", &[]), stanza("t", &["1"])],
        ];
        let ids = [(0, 1)];
        let result = Plan::new(&ids, &files)
            .run(
                &mut Keys::<true> { unlocked: vec![] },
                &mut Client::default(),
            )
            .unwrap();
        // File 0 opens after its broken stanza; file 1 fails with it; file 2 is malformed.
        assert_eq!(opened(&result), [(0, 1)]);
        let errors = |f: usize| match &result[&f] {
            Err(e) => e.iter().map(describe).collect::<Vec<_>>(),
            Ok(_) => panic!("file {f} opened"),
        };
        assert_eq!(errors(1), ["stanza 1/0: broken"]);
        assert_eq!(errors(2), ["stanza 2/0: malformed"]);
    }

    #[test]
    fn nothing_for_us_is_idle() {
        let files = vec![vec![stanza("x", &[])]];
        assert!(Plan::<Keys<true>>::new(&[(0, 1)], &files).is_idle());
    }
}
