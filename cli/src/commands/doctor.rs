//! `doctor`: what keytap can see, and for a file, who can open it. Never prints a secret.

use std::path::{Path, PathBuf};

use keytap_core::keys::identities::AgeIdentities;
use keytap_core::metadata::MasterKey;

use crate::args::CommonArgs;
use crate::context;
use crate::error::CliError;

fn recipient_kind(r: &str) -> String {
    if r.starts_with("age1pq1") {
        "age post-quantum (ML-KEM-768 + X25519)".into()
    } else if r.starts_with("age1tagpq1") {
        "age tag, post-quantum (ML-KEM-768 + P-256; opened by the token's plugin)".into()
    } else if r.starts_with("age1tag1") {
        "age tag (P-256; opened by the token's plugin, not post-quantum)".into()
    } else if r.starts_with("age1") && r.matches('1').count() > 1 {
        let name = &r[4..r[4..].find('1').map(|i| i + 4).unwrap_or(r.len())];
        format!("age plugin '{name}' (needs age-plugin-{name} to decrypt)")
    } else if r.starts_with("age1") {
        "age X25519".into()
    } else if r.starts_with("ssh-ed25519") {
        "SSH ed25519".into()
    } else if r.starts_with("ssh-rsa") {
        "SSH RSA".into()
    } else {
        "unknown".into()
    }
}

/// `age-plugin-*` binaries in search order; the first of each name wins, as for any command.
fn plugins_on_path() -> Vec<(String, PathBuf)> {
    let mut found: Vec<(String, PathBuf)> = Vec::new();
    let path = std::env::var_os("KEYTAP_PLUGIN_PATH")
        .or_else(|| std::env::var_os("PATH"))
        .unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names {
            let full = dir.join(&name);
            let executable = std::fs::metadata(&full).is_ok_and(|m| {
                use std::os::unix::fs::PermissionsExt;
                m.is_file() && m.permissions().mode() & 0o111 != 0
            });
            if let Some(plugin) = name.strip_prefix("age-plugin-").filter(|_| executable) {
                if !found.iter().any(|(n, _)| n == plugin) {
                    found.push((plugin.to_string(), dir.join(&name)));
                }
            }
        }
    }
    found
}

/// Runs `doctor [FILE]`.
pub fn run(file: Option<&Path>) -> Result<i32, CliError> {
    let ids = AgeIdentities::load(None);
    println!("Identities:");
    if ids.identities.is_empty() {
        println!("  none found");
    }
    let mut by_source: Vec<(String, usize)> = Vec::new();
    for id in &ids.identities {
        match by_source.iter_mut().find(|(s, _)| *s == id.source) {
            Some((_, n)) => *n += 1,
            None => by_source.push((id.source.clone(), 1)),
        }
    }
    for (source, n) in &by_source {
        println!(
            "  {source}: {n} identit{}",
            if *n == 1 { "y" } else { "ies" }
        );
    }
    for e in &ids.load_errors {
        println!("  problem: {e}");
    }
    if !ids.unused_locations.is_empty() {
        println!(
            "  looked in, nothing there: {}",
            ids.unused_locations.join(", ")
        );
    }
    for var in ["SOPS_AGE_KEY_FILE"] {
        if let Some(p) = std::env::var_os(var) {
            check_permissions(Path::new(&p), var);
        }
    }
    if let Some(p) = keytap_core::keys::sources::default_keys_file().filter(|p| p.exists()) {
        check_permissions(&p, "keys.txt");
    }
    println!("age plugins on PATH:");
    let plugins = plugins_on_path();
    if plugins.is_empty() {
        println!("  none");
    }
    for (name, path) in &plugins {
        println!("  {name} ({})", path.display());
    }
    // Hardware plugins can say what they see (public information only).
    for (name, args) in [("tpm", &["--status"][..]), ("yubikey", &["--list"][..])] {
        if let Some((_, path)) = plugins.iter().find(|(n, _)| n == name) {
            println!("age-plugin-{name} {}:", args.join(" "));
            match run_with_timeout(path, args, std::time::Duration::from_secs(10)) {
                Some(out) if !out.trim().is_empty() => {
                    for l in out.lines() {
                        println!("  {l}");
                    }
                }
                Some(_) => println!("  (nothing found)"),
                None => println!("  (no answer within 10 s)"),
            }
        }
    }
    if let Some(file) = file {
        let common = CommonArgs::default();
        let f = context::formats(&common, file, Default::default())?;
        let data = context::read_input(file)?;
        let enc = context::parse_encrypted(&*f.input_store, file, data.into())?;
        println!("{}:", file.display());
        if enc.metadata.key_groups.len() > 1 {
            let t = if enc.metadata.shamir_threshold == 0 {
                enc.metadata.key_groups.len()
            } else {
                enc.metadata.shamir_threshold
            };
            println!(
                "  {} key groups, {} needed",
                enc.metadata.key_groups.len(),
                t
            );
        }
        // Every entry in one pass, so each plugin runs once (one PIN prompt, one touch),
        // however many entries a file repeats.
        let age_entries: Vec<&str> = enc
            .metadata
            .key_groups
            .iter()
            .flatten()
            .filter_map(|key| match key {
                MasterKey::Age { enc, .. } => Some(enc.as_str()),
                _ => None,
            })
            .collect();
        let mut opened = ids.unwrap_many(&age_entries).into_iter().map(|r| r.is_ok());
        for (gi, group) in enc.metadata.key_groups.iter().enumerate() {
            for key in group {
                match key {
                    MasterKey::Age { recipient, .. } => {
                        let verdict = match opened.next() == Some(true) {
                            true => "you can open it",
                            false => "none of your identities opens it",
                        };
                        println!(
                            "  group {gi}: {} [{}]: {verdict}",
                            short(recipient),
                            keytap_core::plugin::defuse(&recipient_kind(recipient))
                        );
                    }
                    other => println!(
                        "  group {gi}: {} {} [not supported by keytap]",
                        other.kind(),
                        keytap_core::plugin::defuse(&other.describe())
                    ),
                }
            }
        }
    }
    Ok(0)
}

/// A recipient shortened for display (by characters: a file may hold any text there), with
/// control characters defused.
fn short(r: &str) -> String {
    let chars: Vec<char> = r.chars().collect();
    let shown = if chars.len() > 40 {
        let head: String = chars[..20].iter().collect();
        let tail: String = chars[chars.len() - 8..].iter().collect();
        format!("{head}…{tail}")
    } else {
        r.to_string()
    };
    keytap_core::plugin::defuse(&shown)
}

fn check_permissions(path: &Path, label: &str) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(path) {
        let mode = m.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            println!(
                "  warning: {label} {} is readable by others (mode {:o}); run: chmod 600 {}",
                path.display(),
                mode,
                path.display()
            );
        }
    }
}

/// Runs a plugin's informational command, giving up after `timeout`.
fn run_with_timeout(path: &Path, args: &[&str], timeout: std::time::Duration) -> Option<String> {
    use std::io::Read;
    let mut child = std::process::Command::new(path)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    let start = std::time::Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() < timeout => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let mut out = String::new();
    child.stdout.take()?.read_to_string(&mut out).ok()?;
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    out.push_str(&err);
    Some(out)
}
