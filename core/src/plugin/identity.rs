//! `identity-v1`: unwrap the file keys of many age files in one plugin session, so a PIN is
//! asked once however many files (the protocol numbers the files).

use age::secrecy::ExposeSecret;
use age_core::format::{FileKey, Stanza, FILE_KEY_BYTES};
use base64::Engine;

use super::connection::{find_plugin, timeout_from_env, Connection};
use super::session::Session;
use super::PluginError;

/// What one session produced.
#[derive(Default)]
pub struct SessionOutcome {
    /// Per file: the file key, if the plugin returned one.
    pub file_keys: Vec<Option<FileKey>>,
    /// Errors the plugin reported about identities (index into the identities, message).
    pub identity_errors: Vec<(Option<usize>, String)>,
    /// Errors about specific files' stanzas, or internal errors (`None` file).
    pub file_errors: Vec<(Option<usize>, String)>,
    /// Prompts the client could not answer (no terminal, no askpass, no pinentry).
    pub unanswered: Vec<String>,
}

fn b64(s: &str) -> Option<String> {
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(s)
        .ok()
        .map(|b| super::printable(&b))
}

/// Runs one `identity-v1` session of `age-plugin-<plugin>` with `identities` over the
/// stanzas of every file, answering prompts through `ui`.
pub fn unwrap_files(
    plugin: &str,
    identities: &[String],
    files: &[Vec<Stanza>],
    ui: &impl age::Callbacks,
) -> Result<SessionOutcome, PluginError> {
    let path = find_plugin(plugin)?;
    let mut conn = Connection::open(&path, "identity-v1", timeout_from_env()?)?;
    run(&mut conn, identities, files, ui)
}

/// Answers a `request-public` or `request-secret`: with what the user gave (which restarts
/// the timeout: the user may have taken a while), or with `fail` when nothing was given,
/// noting `asked()` among the unanswered requests.
fn send_answer(
    conn: &mut impl Session,
    answer: Option<&[u8]>,
    counts: (&mut Vec<String>, &mut usize),
    asked: impl FnOnce() -> String,
) -> Result<(), PluginError> {
    let (unanswered, answered) = counts;
    match answer {
        Some(v) => {
            super::count_answer(answered, conn.binary())?;
            conn.progress();
            conn.send("ok", &[], v)
        }
        None => {
            let binary = conn.binary().to_string();
            super::keep(unanswered, asked(), &binary, "unanswered questions")?;
            conn.send("fail", &[], &[])
        }
    }
}

/// The client's side of an `identity-v1` session over `conn`.
pub fn run(
    conn: &mut impl Session,
    identities: &[String],
    files: &[Vec<Stanza>],
    ui: &impl age::Callbacks,
) -> Result<SessionOutcome, PluginError> {
    let binary = conn.binary().to_string();
    for id in identities {
        conn.send("add-identity", &[id], &[])?;
    }
    for (i, stanzas) in files.iter().enumerate() {
        let index = i.to_string();
        for s in stanzas {
            let mut args: Vec<&str> = vec![&index, &s.tag];
            args.extend(s.args.iter().map(String::as_str));
            conn.send("recipient-stanza", &args, &s.body)?;
        }
    }
    conn.send("done", &[], &[])?;

    let mut out = SessionOutcome {
        file_keys: (0..files.len()).map(|_| None).collect(),
        ..Default::default()
    };
    let mut messages = super::Messages::default();
    let mut answered = 0;
    loop {
        let s = conn.receive()?;
        let body_text = || super::printable(&s.body);
        let asked_for = || format!("{binary} asked for {:?}", body_text());
        match s.tag.as_str() {
            "done" => break,
            "msg" => {
                messages.show(ui, &s.body);
                conn.send("ok", &[], &[])?;
            }
            "confirm" => {
                let yes = s
                    .args
                    .first()
                    .and_then(|a| b64(a))
                    .unwrap_or_else(|| "yes".into());
                let no = s.args.get(1).and_then(|a| b64(a));
                let answer = ui.confirm(&body_text(), &yes, no.as_deref());
                if answer.is_some() {
                    super::count_answer(&mut answered, &binary)?;
                    conn.progress();
                }
                match answer {
                    Some(true) => conn.send("ok", &["yes"], &[])?,
                    Some(false) => conn.send("ok", &["no"], &[])?,
                    None => {
                        let asked = format!("{binary} asked to confirm: {}", body_text());
                        super::keep(&mut out.unanswered, asked, &binary, "unanswered questions")?;
                        conn.send("fail", &[], &[])?
                    }
                }
            }
            "request-public" | "request-secret" => {
                let (public, secret);
                let answer = if s.tag == "request-public" {
                    public = ui.request_public_string(&body_text());
                    public.as_ref().map(|v| v.as_bytes())
                } else {
                    secret = ui.request_passphrase(&body_text());
                    secret.as_ref().map(|v| v.expose_secret().as_bytes())
                };
                let counts = (&mut out.unanswered, &mut answered);
                send_answer(conn, answer, counts, asked_for)?;
            }
            "file-key" => {
                let index = s
                    .args
                    .first()
                    .and_then(|a| a.parse::<usize>().ok())
                    .filter(|i| *i < files.len());
                match (index, <[u8; FILE_KEY_BYTES]>::try_from(s.body.as_slice())) {
                    (Some(i), Ok(key)) => {
                        if out.file_keys[i].is_none() {
                            out.file_keys[i] = Some(FileKey::new(Box::new(key)));
                            conn.progress();
                        }
                        conn.send("ok", &[], &[])?;
                    }
                    _ => {
                        return Err(PluginError::Protocol {
                            binary,
                            message: "sent a malformed file-key".into(),
                        })
                    }
                }
            }
            "error" => {
                let message = body_text();
                let index = s.args.get(1).and_then(|a| a.parse().ok());
                let (list, entry, count) = match s.args.first().map(String::as_str) {
                    Some("identity") => {
                        (&mut out.identity_errors, (index, message), identities.len())
                    }
                    Some("stanza") => (&mut out.file_errors, (index, message), files.len()),
                    _ => (&mut out.file_errors, (None, message), 0),
                };
                // An error about an existing file or identity not heard of yet is progress.
                let new =
                    entry.0.is_some_and(|i| i < count) && !list.iter().any(|(i, _)| *i == entry.0);
                if new {
                    conn.progress();
                }
                super::keep(list, entry, &binary, "error stanzas")?;
                conn.send("ok", &[], &[])?;
            }
            _ => conn.send("unsupported", &[], &[])?,
        }
    }
    messages.finish(ui, &binary);
    Ok(out)
}
