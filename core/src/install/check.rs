//! Validating a manifest before anything is touched, and the build-time check modes:
//! `manifest` (the manifest alone: modes, formats, placeholders, template sources) and
//! `sopsfile` (also every sops file parses in its format and has the keys asked for, all
//! without decrypting).

use super::manifest::{parse_mode, Manifest};
use super::sources::Sources;
use super::users;
use super::write::check_name;
use super::InstallError;

/// A secret's or template's mode; set-id and sticky bits are dropped with a warning.
fn checked_mode(kind: &str, name: &str, mode: &str) -> Result<u32, InstallError> {
    let (bits, dropped) = parse_mode(mode)?;
    if dropped {
        eprintln!(
            "keytap install-secrets: warning: {kind} {name}: mode {mode} is installed as {bits:o}; setuid, setgid and sticky bits are never set on secrets"
        );
    }
    Ok(bits)
}

/// How far `install-secrets` goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckMode {
    /// Validate the manifest only.
    Manifest,
    /// Validate the manifest and the sops files, without decrypting.
    SopsFile,
    /// Install.
    Off,
}

impl CheckMode {
    /// Parses `manifest`, `sopsfile` or `off`.
    pub fn parse(s: &str) -> Option<CheckMode> {
        match s {
            "manifest" => Some(CheckMode::Manifest),
            "sopsfile" => Some(CheckMode::SopsFile),
            "off" => Some(CheckMode::Off),
            _ => None,
        }
    }
}

/// Owner, group and mode of one file to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileAttrs {
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

/// A validated manifest: what every file gets, the template texts, the sops files.
pub struct Plan {
    /// Per secret, in manifest order.
    pub secrets: Vec<FileAttrs>,
    /// Per template, in manifest order: attributes and text.
    pub templates: Vec<(FileAttrs, Vec<u8>)>,
    /// (placeholder, index of its secret), when there are templates.
    pub placeholders: Vec<(String, usize)>,
    /// The sops files (parsed unless `--check-mode=manifest`).
    pub sources: Sources,
}

fn id(kind: &str, n: i64) -> Result<u32, InstallError> {
    u32::try_from(n).map_err(|_| InstallError::new(format!("invalid {kind} {n}")))
}

fn resolve(
    owner: Option<&str>,
    uid: i64,
    group: Option<&str>,
    gid: i64,
    mode: CheckMode,
    ignore_passwd: bool,
    dry: bool,
) -> Result<(u32, u32), InstallError> {
    if ignore_passwd || dry || mode != CheckMode::Off {
        return Ok((0, 0));
    }
    let u = match owner {
        Some(name) => users::uid_of(name)?,
        None => id("uid", uid)?,
    };
    let g = match group {
        Some(name) => users::gid_of(name)?,
        None => id("gid", gid)?,
    };
    Ok((u, g))
}

/// Checks the manifest the way sops-nix does and resolves owners (only when installing,
/// and not with `--ignore-passwd` or in a dry activation, where everything is root's).
pub fn validate(
    m: &Manifest,
    mode: CheckMode,
    ignore_passwd: bool,
    dry: bool,
) -> Result<Plan, InstallError> {
    if !m.gnupg_home.is_empty() {
        let both = |other: &str| {
            InstallError::new(format!(
                "gnupgHome and {other} were specified in the manifest. Both options are mutually exclusive."
            ))
        };
        if !m.ssh_key_paths.is_empty() {
            return Err(both("sshKeyPaths"));
        }
        if !m.age_key_file.is_empty() {
            return Err(both("ageKeyFile"));
        }
    }
    if m.keep_generations < 0 {
        return Err(InstallError::new(format!(
            "keepGenerations must not be negative, got {}",
            m.keep_generations
        )));
    }
    // Secrets and templates name their owner and group the same way.
    let owner_ids = |owner: &Option<String>, uid, group: &Option<String>, gid| {
        resolve(
            owner.as_deref(),
            uid,
            group.as_deref(),
            gid,
            mode,
            ignore_passwd,
            dry,
        )
    };
    let mut secrets = Vec::with_capacity(m.secrets.len());
    let mut placeholders = Vec::new();
    for (i, s) in m.secrets.iter().enumerate() {
        check_name("secret", &s.name)?;
        let file_mode = checked_mode("secret", &s.name, &s.mode)?;
        let (uid, gid) = owner_ids(&s.owner, s.uid, &s.group, s.gid)?;
        if !m.templates.is_empty() {
            let p = m.placeholder_by_secret_name.get(&s.name).ok_or_else(|| {
                InstallError::new(format!("placeholder for {} not found in manifest", s.name))
            })?;
            placeholders.push((p.clone(), i));
        }
        secrets.push(FileAttrs {
            mode: file_mode,
            uid,
            gid,
        });
    }
    let sources = Sources::load(&m.secrets, mode != CheckMode::Manifest)?;
    let mut templates = Vec::with_capacity(m.templates.len());
    for t in &m.templates {
        check_name("template", &t.name)?;
        let file_mode = checked_mode("template", &t.name, &t.mode)?;
        let (uid, gid) = owner_ids(&t.owner, t.uid, &t.group, t.gid)?;
        let text = super::template::text_of(t)?;
        templates.push((
            FileAttrs {
                mode: file_mode,
                uid,
                gid,
            },
            text,
        ));
    }
    Ok(Plan {
        secrets,
        templates,
        placeholders,
        sources,
    })
}
