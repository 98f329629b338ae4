//! `install-secrets`: the boot-time installer behind the NixOS module, a drop-in for
//! sops-nix's `sops-install-secrets` reading the same manifest.
//!
//! One run: validate the manifest, mount the secrets filesystem, load identities, parse
//! every sops file once, recover all data keys together (one session per plugin, so one PIN
//! prompt however many files), decrypt each file once, render templates, write generation
//! N+1 in full, request restarts/reloads, switch the symlink atomically, link outside
//! paths, prune. Any failure before the switch leaves the live generation untouched.

pub mod changes;
pub mod check;
pub mod generation;
pub mod keys;
pub mod manifest;
pub mod mount;
pub mod sources;
pub mod sshkey;
pub mod sshpgp;
pub mod sshring;
pub mod template;
pub mod trusted_path;
pub mod users;
pub mod write;

use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

pub use check::CheckMode;
use manifest::Manifest;
use template::RENDERED_SUBDIR;

/// Why the installation failed: one message naming what failed (secret, file, path).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct InstallError {
    /// The message.
    pub message: String,
}

impl InstallError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        InstallError {
            message: message.into(),
        }
    }

    /// Maps an I/O error from `action` on `path` to `<action> <path>: <reason>`, the
    /// wording of sops-nix's Go errors.
    pub(crate) fn io_on<'a>(
        action: &'a str,
        path: &'a std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> InstallError + 'a {
        move |e| {
            InstallError::new(format!(
                "{action} {}: {}",
                path.display(),
                crate::goerr::io_reason(&e)
            ))
        }
    }
}

/// Command-line options.
pub struct Options {
    /// The manifest file.
    pub manifest: PathBuf,
    /// Validate only (`manifest`, `sopsfile`) or install (`off`).
    pub check_mode: CheckMode,
    /// Never look users or groups up: everything is `root:root` (for `neededForUsers`
    /// secrets, installed before users exist).
    pub ignore_passwd: bool,
    /// Whether the manifest's own identities unwrap data keys (sops's local key service;
    /// `--enable-local-keyservice=false` turns it off).
    pub local_keys: bool,
    /// Key services tried after the local identities (`--keyservice`, `SOPS_KEYSERVICE`):
    /// a user's login unit can go through the key service that holds the PIN.
    pub key_services: Vec<Box<dyn crate::keysource::KeyService>>,
}

/// The named points of a run, in order, at which a test can have the process killed
/// (`KEYTAP_INSTALL_TEST_KILL_AT=<step>`; `secret:<n>` / `template:<n>` after the n-th
/// file, from 1). Used to prove a kill anywhere leaves the symlink on a complete generation.
pub const STEPS: &[&str] = &[
    "validated",
    "mounted",
    "keys",
    "decrypted",
    "prepared",
    "secret:1",
    "secrets",
    "template:1",
    "templates",
    "changes",
    "switched",
    "linked",
    "pruned",
];

/// Test hook: SIGKILLs this process when `KEYTAP_INSTALL_TEST_KILL_AT` names `step`.
fn checkpoint(step: &str) {
    if let Some(at) = std::env::var_os("KEYTAP_INSTALL_TEST_KILL_AT") {
        if at == step {
            let me = rustix::process::getpid();
            let _ = rustix::process::kill_process(me, rustix::process::Signal::KILL);
        }
    }
}

/// Writes a generation's secrets or rendered templates (`kind`) below `base`, each followed
/// by its `<kind>:<n>` checkpoint and all by `<kind>s`; `failure` begins the error message.
fn write_all<'a>(
    kind: &str,
    failure: &str,
    base: &Path,
    files: impl Iterator<Item = (&'a str, &'a check::FileAttrs, &'a [u8])>,
    keys_gid: u32,
    user_mode: bool,
) -> Result<(), InstallError> {
    // sops-install-secrets creates a secret with its mode through the umask and leaves it
    // so ("0660" is 0640 under the usual 022); a template gets its exact mode.
    let umask = if kind == "secret" { process_umask() } else { 0 };
    for (n, (name, attrs, data)) in files.enumerate() {
        let attrs = check::FileAttrs {
            mode: attrs.mode & !umask,
            ..*attrs
        };
        write::write_generated(base, name, data, &attrs, keys_gid, user_mode)
            .map_err(|e| InstallError::new(format!("{failure}: {kind} {name}: {}", e.message)))?;
        checkpoint(&format!("{kind}:{}", n + 1));
    }
    checkpoint(&format!("{kind}s"));
    Ok(())
}

/// The process's umask (read by setting it and putting it back: this run is the only
/// thread creating files at this point).
fn process_umask() -> u32 {
    let old = rustix::process::umask(rustix::fs::Mode::empty());
    rustix::process::umask(old);
    old.bits()
}

/// Locks out other installer runs for the same mount point until the returned handle is
/// dropped. The lock is a file beside the mount point (`/run/secrets.d.lock`), which
/// exists before the mount and is the same inode for every run (the mount point itself
/// changes under a mount). It is the installer's own 0600 file, so no other user can
/// open it, let alone hold the lock and stall every activation.
fn lock_installs(mount_point: &Path) -> Result<std::fs::File, InstallError> {
    // Without a trailing slash, which would put the lock inside the mount point.
    let mount_point: PathBuf = mount_point.components().collect();
    let mut name = mount_point.into_os_string();
    name.push(".lock");
    let lock_path = PathBuf::from(name);
    let fail = |e: std::io::Error| {
        InstallError::new(format!(
            "cannot lock {} against concurrent runs: {}",
            lock_path.display(),
            crate::goerr::io_reason(&e)
        ))
    };
    if let Some(parent) = lock_path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&lock_path)
        .map_err(fail)?;
    let meta = file.metadata().map_err(fail)?;
    if !meta.is_file() || meta.uid() != rustix::process::geteuid().as_raw() {
        return Err(fail(std::io::Error::other(
            "it is not this user's regular file",
        )));
    }
    use rustix::fs::{flock, FlockOperation};
    if flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
        eprintln!("keytap install-secrets: waiting for another run to finish");
        flock(&file, FlockOperation::LockExclusive).map_err(|e| fail(e.into()))?;
    }
    Ok(file)
}

/// Runs the installer (or a check) with `opts`.
pub fn run(mut opts: Options) -> Result<(), InstallError> {
    let mut m = Manifest::read(&opts.manifest)?;
    if m.user_mode {
        match std::env::var("XDG_RUNTIME_DIR") {
            Ok(dir) => m.replace_runtime_dir(&dir),
            Err(_) if opts.check_mode != CheckMode::Off => m.replace_runtime_dir(""),
            Err(_) => {
                return Err(InstallError::new(
                    "cannot figure out runtime directory: $XDG_RUNTIME_DIR is not set",
                ))
            }
        }
    }
    let dry = std::env::var("NIXOS_ACTION").as_deref() == Ok("dry-activate");
    let plan = check::validate(&m, opts.check_mode, opts.ignore_passwd, dry)
        .map_err(|e| InstallError::new(format!("manifest is not valid: {}", e.message)))?;
    if opts.check_mode != CheckMode::Off {
        return Ok(());
    }
    checkpoint("validated");
    let remote = std::mem::take(&mut opts.key_services);
    install(&m, plan, &opts, remote, dry)
}

fn install(
    m: &Manifest,
    plan: check::Plan,
    opts: &Options,
    remote: Vec<Box<dyn crate::keysource::KeyService>>,
    dry: bool,
) -> Result<(), InstallError> {
    let ignore_passwd = opts.ignore_passwd;
    let keys_gid = if ignore_passwd || m.user_mode {
        0
    } else {
        users::keys_gid()?
    };
    let mount_point = Path::new(&m.secrets_mount_point);
    let symlink_path = Path::new(&m.symlink_path);
    if m.secrets_mount_point.is_empty() || m.symlink_path.is_empty() {
        return Err(InstallError::new(
            "manifest is not valid: secretsMountPoint and symlinkPath must be set",
        ));
    }

    // One run at a time from here to the pruning: two runs would pick the same generation
    // number and mix their manifests in it.
    let _lock = lock_installs(mount_point)?;
    mount::mount_secret_fs(mount_point, keys_gid, m.use_tmpfs, m.user_mode).map_err(|e| {
        InstallError::new(format!(
            "failed to mount filesystem for secrets: {}",
            e.message
        ))
    })?;
    checkpoint("mounted");

    // PGP keys are GnuPG's (crate::keys::pgp): the manifest's home for them, as sops-nix
    // sets it. The process is this run's alone.
    if !m.gnupg_home.is_empty() {
        std::env::set_var("GNUPGHOME", &m.gnupg_home);
    }
    // Or SSH RSA keys as PGP keys, in a home of the run's own (`validate` made sure the
    // manifest does not also name a home).
    let mut ssh_keyring = if m.ssh_key_paths.is_empty() {
        None
    } else {
        Some(sshring::SshKeyring::create(m)?)
    };
    let local = if opts.local_keys {
        Some(keys::load(m)?)
    } else {
        None
    };
    let sources = crate::keysource::KeySources {
        local,
        remote,
        ..Default::default()
    };
    checkpoint("keys");

    let file_index: Vec<usize> = m
        .secrets
        .iter()
        .map(|s| {
            plan.sources
                .file_of(s)
                .expect("every secret's file is registered")
        })
        .collect();
    if let Some(keyring) = &mut ssh_keyring {
        keyring.import_for(
            plan.sources
                .files
                .iter()
                .filter_map(|f| f.encrypted.as_ref().map(|e| &e.metadata)),
        );
    }
    let mut plain = plan.sources.decrypt(&m.secrets, &sources)?;
    drop(ssh_keyring);
    let mut values: Vec<Zeroizing<Vec<u8>>> = Vec::with_capacity(m.secrets.len());
    for (s, i) in m.secrets.iter().zip(&file_index) {
        values.push(plain[*i].value(s)?);
    }
    drop(plain);
    checkpoint("decrypted");

    let substitutions: Vec<(&str, &[u8])> = plan
        .placeholders
        .iter()
        .map(|(p, i)| (p.as_str(), values[*i].as_slice()))
        .collect();
    let rendered: Vec<Zeroizing<Vec<u8>>> = plan
        .templates
        .iter()
        .map(|(_, text)| template::render(text, &substitutions))
        .collect();

    let dir =
        generation::prepare(mount_point, symlink_path, keys_gid, m.user_mode).map_err(|e| {
            InstallError::new(format!(
                "failed to prepare new secrets directory: {}",
                e.message
            ))
        })?;
    checkpoint("prepared");

    let secrets = m
        .secrets
        .iter()
        .zip(&plan.secrets)
        .zip(&values)
        .map(|((s, attrs), value)| (s.name.as_str(), attrs, value.as_slice()));
    write_all(
        "secret",
        "cannot write secrets",
        &dir,
        secrets,
        keys_gid,
        m.user_mode,
    )?;
    let templates = m
        .templates
        .iter()
        .zip(&plan.templates)
        .zip(&rendered)
        .map(|((t, (attrs, _)), text)| (t.name.as_str(), attrs, text.as_slice()));
    let rendered_dir = dir.join(RENDERED_SUBDIR);
    write_all(
        "template",
        "cannot render templates",
        &rendered_dir,
        templates,
        keys_gid,
        m.user_mode,
    )?;

    if !m.user_mode {
        let secret_entries: Vec<changes::Entry<'_>> = m
            .secrets
            .iter()
            .map(|s| changes::Entry::new(&s.name, &s.restart_units, &s.reload_units))
            .collect();
        let template_entries: Vec<changes::Entry<'_>> = m
            .templates
            .iter()
            .map(|t| changes::Entry::new(&t.name, &t.restart_units, &t.reload_units))
            .collect();
        changes::handle(
            dry,
            m.logging.secret_changes,
            symlink_path,
            &dir,
            &secret_entries,
            &template_entries,
        )
        .map_err(|e| {
            InstallError::new(format!("cannot request units to restart: {}", e.message))
        })?;
    }
    checkpoint("changes");
    if dry {
        return Ok(());
    }

    generation::switch(&dir, symlink_path)
        .map_err(|e| InstallError::new(format!("cannot update secrets symlink: {}", e.message)))?;
    checkpoint("switched");

    let mut links: Vec<generation::Link<'_>> = Vec::new();
    for (s, a) in m.secrets.iter().zip(&plan.secrets) {
        links.push(generation::Link {
            target: symlink_path.join(&s.name),
            path: &s.path,
            uid: a.uid,
            gid: a.gid,
            kind: "secret",
        });
    }
    for (t, (a, _)) in m.templates.iter().zip(&plan.templates) {
        links.push(generation::Link {
            target: symlink_path.join(RENDERED_SUBDIR).join(&t.name),
            path: &t.path,
            uid: a.uid,
            gid: a.gid,
            kind: "template",
        });
    }
    generation::link_paths(&links, m.user_mode).map_err(|e| {
        InstallError::new(format!(
            "failed to prepare symlinks to secret store: {}",
            e.message
        ))
    })?;
    checkpoint("linked");

    generation::prune(mount_point, &dir, m.keep_generations as u64).map_err(|e| {
        InstallError::new(format!(
            "cannot prune old secrets generations: {}",
            e.message
        ))
    })?;
    checkpoint("pruned");
    Ok(())
}
