//! `age-plugin-testkit`: a deliberately misbehaving age plugin, for testing age clients
//! (keytap, `age`, `rage`) against plugins that prompt, fail, crash, hang, talk garbage or
//! return wrong keys.
//!
//! # Keys
//!
//! - Recipient: `age1testkit1...`, the Bech32 encoding (HRP `age1testkit`) of a 32-byte
//!   X25519 public key.
//! - Identity: `AGE-PLUGIN-TESTKIT-1...`, the Bech32 encoding (HRP `AGE-PLUGIN-TESTKIT-`) of
//!   the 32-byte X25519 secret key, optionally followed by the UTF-8 name of a mode that
//!   this identity always uses (`--generate --mode absent`), overriding `TESTKIT_MODE`.
//!
//! # Stanza (`testkit`)
//!
//! ```text
//! -> testkit <base64(ephemeral public key)>
//! <base64(ChaCha20-Poly1305(key, nonce = 0, file key))>
//! ```
//! where `shared = X25519(ephemeral secret, recipient)`, `key = HKDF-SHA256(salt =
//! ephemeral public key || recipient public key, info = "keytap.invalid/testkit/v1", ikm =
//! shared)`. This mirrors age's native X25519 recipient with a different label, so a
//! `testkit` stanza can only be opened by this plugin.
//!
//! # Behaviour (`TESTKIT_MODE`)
//!
//! - `ok` (default): wraps and unwraps honestly.
//! - `prompt-pin`: asks `request-secret` "Enter PIN for testkit" once per identity-v1
//!   session (when the session holds a `testkit` stanza); the answer must equal
//!   `TESTKIT_PIN` (default `123456`).
//! - `fail`: answers `error identity` (or `error recipient` when wrapping).
//! - `crash`: exits with status 101 in the middle of the session.
//! - `hang`: never answers (it exits once its client is gone, i.e. at EOF on stdin, so a
//!   killed client leaves no stray process).
//! - `garbage`: writes bytes that are not protocol stanzas to stdout.
//! - `wrong-key`: returns a random 16-byte file key for every file with a `testkit` stanza.
//! - `absent`: like a hardware token that is not plugged in: `msg` "testkit token not
//!   found", then `error identity`.
//!
//! `crash`, `hang` and `garbage` happen in every session once the client has sent its
//! first phase; `fail`, `absent`, `prompt-pin` and `wrong-key` only act on sessions that
//! hold at least one `testkit` stanza (like a real token plugin, which ignores files that
//! are not for it). When wrapping, only `fail`, `crash`, `hang` and `garbage` apply.
//!
//! If `TESTKIT_LOG` names a file, one line is appended for every session
//! (`session identity-v1` / `session recipient-v1`), for every identity-v1 unwrap request
//! (`unwrap files=<n> stanzas=<m>`) and for every PIN prompt (`prompt`), so tests can count
//! sessions and prompts.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::io::{self, Read, Write};

use age_core::format::{FileKey, Stanza, FILE_KEY_BYTES};
use age_core::primitives::{aead_decrypt, aead_encrypt, hkdf};
use age_core::secrecy::ExposeSecret;
use age_plugin::{identity, print_new_identity, recipient, run_state_machine, Callbacks};
use base64::{prelude::BASE64_STANDARD_NO_PAD, Engine};
use keytap_plugin_kit::{self as kit, FileKeys, Plugin, Unwrap, Wrap};
use rand::{rngs::OsRng, RngCore};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

const PLUGIN_NAME: &str = "testkit";
const STANZA_TAG: &str = "testkit";
const HKDF_INFO: &[u8] = b"keytap.invalid/testkit/v1";
const DEFAULT_PIN: &str = "123456";
const PIN_PROMPT: &str = "Enter PIN for testkit";
const ABSENT_MESSAGE: &str = "testkit token not found";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Ok,
    PromptPin,
    Fail,
    Crash,
    Hang,
    Garbage,
    WrongKey,
    Absent,
    EndlessLine,
    HugeMessage,
    MessageFlood,
    EscapeMessage,
}

impl Mode {
    const NAMES: &'static str = "ok, prompt-pin, fail, crash, hang, garbage, wrong-key, absent, endless-line, huge-msg, msg-flood, escape-msg";

    fn parse(s: &str) -> Option<Mode> {
        Some(match s {
            "" | "ok" => Mode::Ok,
            "prompt-pin" => Mode::PromptPin,
            "fail" => Mode::Fail,
            "crash" => Mode::Crash,
            "hang" => Mode::Hang,
            "garbage" => Mode::Garbage,
            "wrong-key" => Mode::WrongKey,
            "absent" => Mode::Absent,
            "endless-line" => Mode::EndlessLine,
            "huge-msg" => Mode::HugeMessage,
            "msg-flood" => Mode::MessageFlood,
            "escape-msg" => Mode::EscapeMessage,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Mode::Ok => "ok",
            Mode::PromptPin => "prompt-pin",
            Mode::Fail => "fail",
            Mode::Crash => "crash",
            Mode::Hang => "hang",
            Mode::Garbage => "garbage",
            Mode::WrongKey => "wrong-key",
            Mode::Absent => "absent",
            Mode::EndlessLine => "endless-line",
            Mode::HugeMessage => "huge-msg",
            Mode::MessageFlood => "msg-flood",
            Mode::EscapeMessage => "escape-msg",
        }
    }

    /// The session-wide mode from `TESTKIT_MODE`.
    fn from_env() -> Result<Mode, String> {
        let value = std::env::var("TESTKIT_MODE").unwrap_or_default();
        Mode::parse(&value).ok_or_else(|| {
            format!(
                "unknown TESTKIT_MODE '{value}' (expected one of {})",
                Mode::NAMES
            )
        })
    }
}

/// Appends one line to `$TESTKIT_LOG`, if set. One `write` per line, in append mode, so
/// concurrent sessions do not interleave within a line.
fn log_line(line: &str) {
    if let Some(path) = std::env::var_os("TESTKIT_LOG") {
        kit::append_line(path, line);
    }
}

/// The misbehaviours that take over the whole session, whatever the client sent.
fn session_misbehaviour(mode: Mode) {
    match mode {
        Mode::Crash => {
            eprintln!("age-plugin-testkit: crashing on purpose (TESTKIT_MODE=crash)");
            std::process::exit(101);
        }
        Mode::Hang => {
            eprintln!("age-plugin-testkit: hanging on purpose (TESTKIT_MODE=hang)");
            // Never answer. Hygiene only: once the client is gone (our stdin reaches EOF,
            // as when the client is killed), exit instead of lingering forever.
            let mut buf = [0u8; 256];
            loop {
                match io::stdin().lock().read(&mut buf) {
                    Ok(0) | Err(_) => std::process::exit(1),
                    Ok(_) => {}
                }
            }
        }
        Mode::EndlessLine => {
            // A stanza header that never ends: the client must stop reading, not buffer it.
            let mut out = io::stdout().lock();
            let _ = out.write_all(b"-> msg ");
            let chunk = [b'a'; 65536];
            while out.write_all(&chunk).is_ok() {}
            std::process::exit(0);
        }
        Mode::Garbage => {
            let mut out = io::stdout().lock();
            let _ = out.write_all(b"garbage from age-plugin-testkit \x00\xff\xfe not a stanza\n");
            let _ = out.write_all(b"-> \n!!!!\n");
            let _ = out.flush();
            drop(out);
            // Wait for the client to give up on us (it closes our stdin).
            let mut sink = Vec::new();
            let _ = io::stdin().lock().read_to_end(&mut sink);
            std::process::exit(0);
        }
        _ => {}
    }
}

fn derive_key(shared: &[u8; 32], epk: &[u8; 32], pk: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(epk);
    salt[32..].copy_from_slice(pk);
    Zeroizing::new(hkdf(&salt, HKDF_INFO, shared))
}

fn wrap(file_key: &FileKey, pk: &PublicKey) -> Stanza {
    let esk = StaticSecret::random_from_rng(OsRng);
    let epk = PublicKey::from(&esk);
    let shared = Zeroizing::new(esk.diffie_hellman(pk).to_bytes());
    let key = derive_key(&shared, epk.as_bytes(), pk.as_bytes());
    Stanza {
        tag: STANZA_TAG.to_owned(),
        args: vec![b64_encode(epk.as_bytes())],
        body: aead_encrypt(&key, file_key.expose_secret()),
    }
}

/// `Some(Ok)` when the stanza opens with `sk`, `Some(Err)` when it is malformed, `None`
/// when it is well-formed but for another key.
fn unwrap(stanza: &Stanza, sk: &StaticSecret) -> Option<Result<FileKey, String>> {
    let epk: [u8; 32] = match &stanza.args[..] {
        [arg] => match b64_decode(arg).and_then(|v| <[u8; 32]>::try_from(v).ok()) {
            Some(epk) => epk,
            None => return Some(Err("testkit stanza: invalid ephemeral share".into())),
        },
        _ => return Some(Err("testkit stanza: expected one argument".into())),
    };
    if stanza.body.len() != FILE_KEY_BYTES + 16 {
        return Some(Err("testkit stanza: invalid body length".into()));
    }
    let pk = PublicKey::from(sk);
    let shared = Zeroizing::new(sk.diffie_hellman(&PublicKey::from(epk)).to_bytes());
    if shared.iter().all(|b| *b == 0) {
        return Some(Err("testkit stanza: low-order ephemeral share".into()));
    }
    let key = derive_key(&shared, &epk, pk.as_bytes());
    let plain = Zeroizing::new(aead_decrypt(&key, FILE_KEY_BYTES, &stanza.body).ok()?);
    Some(Ok(FileKey::init_with_mut(|k| k.copy_from_slice(&plain))))
}

fn b64_encode(data: &[u8]) -> String {
    BASE64_STANDARD_NO_PAD.encode(data)
}

fn b64_decode(s: &str) -> Option<Vec<u8>> {
    BASE64_STANDARD_NO_PAD.decode(s).ok()
}

/// The plugin, for [`kit::Handler`].
struct Testkit;

impl Plugin for Testkit {
    /// The secret, and the mode embedded in the identity.
    type Identity = (StaticSecret, Option<Mode>);

    fn identity(name: &str, bytes: &[u8]) -> Result<(StaticSecret, Option<Mode>), String> {
        if name != PLUGIN_NAME {
            return Err(format!("not a testkit identity (plugin {name})"));
        }
        parse_identity(bytes)
    }
}

impl Wrap for Testkit {
    type Recipient = PublicKey;

    fn started() {
        log_line("session recipient-v1");
    }

    fn recipient(name: &str, bytes: &[u8]) -> Result<PublicKey, String> {
        match (name, <[u8; 32]>::try_from(bytes)) {
            (PLUGIN_NAME, Ok(pk)) => Ok(PublicKey::from(pk)),
            _ => Err(format!(
                "not a testkit recipient (plugin {name}, {} bytes)",
                bytes.len()
            )),
        }
    }

    fn wrap(
        file_keys: &[FileKey],
        recipients: &[(usize, PublicKey)],
        identities: &[(usize, (StaticSecret, Option<Mode>))],
    ) -> Result<Vec<Vec<Stanza>>, Vec<recipient::Error>> {
        let mode =
            Mode::from_env().map_err(|message| vec![recipient::Error::Internal { message }])?;
        session_misbehaviour(mode);
        if mode == Mode::Fail {
            let errors = (0..recipients.len().max(1))
                .map(|index| recipient::Error::Recipient {
                    index,
                    message: "testkit: refusing to wrap (TESTKIT_MODE=fail)".into(),
                })
                .collect();
            return Err(errors);
        }
        let identities = identities.iter().map(|(_, (sk, _))| PublicKey::from(sk));
        let keys: Vec<PublicKey> = recipients
            .iter()
            .map(|(_, pk)| *pk)
            .chain(identities)
            .collect();
        Ok(file_keys
            .iter()
            .map(|fk| keys.iter().map(|pk| wrap(fk, pk)).collect())
            .collect())
    }
}

/// Identity bytes: 32-byte X25519 secret, then an optional mode name.
fn parse_identity(bytes: &[u8]) -> Result<(StaticSecret, Option<Mode>), String> {
    if bytes.len() < 32 {
        return Err(format!(
            "invalid testkit identity: {} bytes, expected at least 32",
            bytes.len()
        ));
    }
    let mut sk = Zeroizing::new([0u8; 32]);
    sk.copy_from_slice(&bytes[..32]);
    let mode = if bytes.len() > 32 {
        let name = std::str::from_utf8(&bytes[32..])
            .map_err(|_| "invalid testkit identity: mode is not UTF-8".to_string())?;
        Some(
            Mode::parse(name)
                .ok_or_else(|| format!("invalid testkit identity: unknown mode '{name}'"))?,
        )
    } else {
        None
    };
    Ok((StaticSecret::from(*sk), mode))
}

impl Unwrap for Testkit {
    fn started() {
        log_line("session identity-v1");
    }

    fn unwrap(
        identities: &[(usize, (StaticSecret, Option<Mode>))],
        files: Vec<Vec<Stanza>>,
        mut callbacks: impl Callbacks<identity::Error>,
    ) -> io::Result<FileKeys> {
        let ours = |s: &Stanza| s.tag == STANZA_TAG;
        let stanza_count: usize = files
            .iter()
            .map(|f| f.iter().filter(|s| ours(s)).count())
            .sum();
        log_line(&format!(
            "unwrap files={} stanzas={}",
            files.len(),
            stanza_count
        ));

        let env_mode = match Mode::from_env() {
            Ok(mode) => mode,
            Err(message) => {
                let _ = callbacks.error(identity::Error::Internal { message })?;
                return Ok(HashMap::new());
            }
        };
        let mode_of = |m: &Option<Mode>| m.unwrap_or(env_mode);

        // Session-wide misbehaviours first.
        for m in std::iter::once(env_mode).chain(identities.iter().map(|(_, (_, m))| mode_of(m))) {
            if matches!(
                m,
                Mode::Crash | Mode::Hang | Mode::Garbage | Mode::EndlessLine
            ) {
                session_misbehaviour(m);
            }
            match m {
                // A megabyte of message, then normal work.
                Mode::HugeMessage => {
                    let _ = callbacks.message(&"m".repeat(1 << 20))?;
                }
                // Terminal escape sequences (clear screen, set the window title).
                Mode::EscapeMessage => {
                    let _ = callbacks.message("\x1b[2J\x1b]0;pwned\x07touch your token")?;
                }
                // Messages forever: each is answered, none is progress.
                Mode::MessageFlood => loop {
                    let _ = callbacks.message("still here")?;
                },
                _ => {}
            }
        }

        let mut result = HashMap::new();
        if stanza_count == 0 {
            return Ok(result);
        }

        // One PIN prompt per session, however many identities and files need it.
        let pin = if identities
            .iter()
            .any(|(_, (_, m))| mode_of(m) == Mode::PromptPin)
        {
            log_line("prompt");
            let expected = std::env::var("TESTKIT_PIN").unwrap_or_else(|_| DEFAULT_PIN.to_owned());
            match kit::request_secret(&mut callbacks, PIN_PROMPT)? {
                Ok(pin) if pin.expose_secret() == expected => Ok(()),
                Ok(_) => Err("testkit: wrong PIN".to_owned()),
                Err(kit::NoPrompt(e)) => Err(format!(
                    "testkit: a PIN is required but the client could not ask for it ({})",
                    match e {
                        age_core::plugin::Error::Fail => "the client answered fail",
                        age_core::plugin::Error::Unsupported =>
                            "the client does not support request-secret",
                    }
                )),
            }
        } else {
            Ok(())
        };

        let mut usable = Vec::new();
        for (index, (sk, mode)) in identities {
            let index = *index;
            let refuse = |message: String| identity::Error::Identity { index, message };
            match mode_of(mode) {
                Mode::Ok | Mode::HugeMessage | Mode::EscapeMessage => usable.push(sk),
                Mode::PromptPin => match &pin {
                    Ok(()) => usable.push(sk),
                    Err(message) => callbacks.error(refuse(message.clone())).map(drop)?,
                },
                Mode::Fail => callbacks
                    .error(refuse(
                        "testkit: refusing to unwrap (TESTKIT_MODE=fail)".into(),
                    ))
                    .map(drop)?,
                Mode::Absent => {
                    let _ = callbacks.message(ABSENT_MESSAGE)?;
                    callbacks
                        .error(refuse(format!("{ABSENT_MESSAGE} (is it plugged in?)")))
                        .map(drop)?;
                }
                Mode::WrongKey => {
                    for (file_index, file) in files.iter().enumerate() {
                        if file.iter().any(ours) {
                            result.entry(file_index).or_insert_with(|| {
                                Ok(FileKey::init_with_mut(|k| OsRng.fill_bytes(k)))
                            });
                        }
                    }
                }
                Mode::Crash
                | Mode::Hang
                | Mode::Garbage
                | Mode::EndlessLine
                | Mode::MessageFlood => unreachable!("handled above"),
            }
        }

        for (file_index, file) in files.iter().enumerate() {
            if result.contains_key(&file_index) {
                continue;
            }
            let mut errors = Vec::new();
            'stanzas: for (stanza_index, stanza) in file.iter().enumerate().filter(|(_, s)| ours(s))
            {
                for sk in &usable {
                    match unwrap(stanza, sk) {
                        Some(Ok(fk)) => {
                            result.insert(file_index, Ok(fk));
                            errors.clear();
                            break 'stanzas;
                        }
                        Some(Err(message)) => {
                            errors.push(identity::Error::Stanza {
                                file_index,
                                stanza_index,
                                message,
                            });
                            continue 'stanzas;
                        }
                        None => {}
                    }
                }
            }
            if !errors.is_empty() {
                result.insert(file_index, Err(errors));
            }
        }
        Ok(result)
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: age-plugin-testkit --generate [--mode MODE]\n       age-plugin-testkit --age-plugin=recipient-v1|identity-v1\n\
         modes: {}\nenvironment: TESTKIT_MODE, TESTKIT_PIN (default {DEFAULT_PIN}), TESTKIT_LOG",
        Mode::NAMES
    );
    std::process::exit(2);
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut state_machine = None;
    let mut generate = false;
    let mut mode = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            a if a.starts_with("--age-plugin=") => {
                state_machine = Some(a["--age-plugin=".len()..].to_owned())
            }
            "--age-plugin" => state_machine = Some(it.next().cloned().unwrap_or_else(|| usage())),
            "--generate" => generate = true,
            "--mode" => {
                let m = it.next().unwrap_or_else(|| usage());
                mode = Some(Mode::parse(m).unwrap_or_else(|| {
                    eprintln!(
                        "age-plugin-testkit: unknown mode '{m}' (expected one of {})",
                        Mode::NAMES
                    );
                    std::process::exit(2)
                }));
            }
            "-h" | "--help" => usage(),
            other => {
                eprintln!("age-plugin-testkit: unexpected argument '{other}'");
                usage()
            }
        }
    }

    if let Some(sm) = state_machine {
        return run_state_machine(&sm, kit::Handler::<Testkit>::default());
    }
    if !generate {
        usage();
    }
    let sk = StaticSecret::random_from_rng(OsRng);
    let pk = PublicKey::from(&sk);
    let mut identity = Zeroizing::new(sk.to_bytes().to_vec());
    if let Some(m) = mode {
        identity.extend_from_slice(m.name().as_bytes());
    }
    print_new_identity(PLUGIN_NAME, &identity, pk.as_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip() {
        for n in 0..40 {
            let data: Vec<u8> = (0..n as u8).map(|i| i.wrapping_mul(37)).collect();
            let enc = b64_encode(&data);
            assert!(!enc.contains('='));
            assert_eq!(b64_decode(&enc).unwrap(), data, "{enc}");
        }
        assert_eq!(b64_encode(b"foob"), "Zm9vYg");
        assert!(
            b64_decode("Zm9vYh").is_none(),
            "non-canonical trailing bits"
        );
    }

    #[test]
    fn wrap_unwrap() {
        let sk = StaticSecret::random_from_rng(OsRng);
        let other = StaticSecret::random_from_rng(OsRng);
        let fk = FileKey::init_with_mut(|k| k.copy_from_slice(&[7; 16]));
        let stanza = wrap(&fk, &PublicKey::from(&sk));
        assert_eq!(stanza.tag, "testkit");
        assert_eq!(stanza.args[0].len(), 43);
        let back = unwrap(&stanza, &sk).unwrap().unwrap();
        assert_eq!(back.expose_secret(), &[7; 16]);
        assert!(unwrap(&stanza, &other).is_none());
    }
}
