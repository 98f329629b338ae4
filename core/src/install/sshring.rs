//! The manifest's `sshKeyPaths` (sops-nix's `sops.gnupg.sshKeyPaths`): SSH RSA keys
//! converted to OpenPGP keys ([`super::sshpgp`]) in a GnuPG home of this run's own, made
//! under the secrets mount point (a ramfs) as sops-nix makes it, and removed, its agent
//! stopped, when the run is done with it. sops-nix hands the keys to sops's Go OpenPGP
//! library; keytap decrypts PGP keys through GnuPG, so the keys are imported there, and
//! only when a file has a PGP key at all: GnuPG and its agent cost a boot nothing
//! otherwise. The home reaches GnuPG through [`crate::keys::pgp::set_home`], not this
//! process's environment.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use zeroize::Zeroizing;

use super::manifest::Manifest;
use super::InstallError;
use crate::goerr::io_reason;
use crate::metadata::Metadata;

/// A throwaway GnuPG home for the converted SSH keys, GnuPG's while it lives.
pub struct SshKeyring {
    home: tempfile::TempDir,
    /// The converted keys (transferable secret keys, as `gpg --import` reads them).
    secrets: Vec<Zeroizing<Vec<u8>>>,
    /// Whether GnuPG may have run in the home (a file has a PGP key), so that its agent
    /// must be stopped.
    gnupg_used: bool,
}

impl SshKeyring {
    /// Converts each of the manifest's SSH keys, with sops-nix's messages: a key that
    /// cannot be read or converted is reported and skipped, an imported one logged (on
    /// stdout) when `logging.keyImport` is set.
    pub fn create(m: &Manifest) -> Result<SshKeyring, InstallError> {
        let mount_point = Path::new(&m.secrets_mount_point);
        remove_stale_homes(mount_point);
        let home = tempfile::Builder::new()
            .prefix("gpg")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(mount_point)
            .map_err(|e| {
                InstallError::new(format!(
                    "error setting up gpg keyring: cannot create gpg home in '{}': {}",
                    m.secrets_mount_point,
                    io_reason(&e)
                ))
            })?;
        let mut secrets = Vec::new();
        for (path, data) in super::sshkey::readable_key_files(&m.ssh_key_paths) {
            match super::sshpgp::ssh_private_key_to_pgp(&data) {
                Ok(key) => {
                    if m.logging.key_import {
                        println!(
                            "{}: Imported {path} as GPG key with fingerprint {}",
                            super::keys::program_base_name(),
                            key.fingerprint_hex()
                        );
                    }
                    secrets.push(key.secret);
                }
                Err(e) => eprintln!("{e}"),
            }
        }
        crate::keys::pgp::set_home(Some(home.path().to_path_buf()));
        Ok(SshKeyring {
            home,
            secrets,
            gnupg_used: false,
        })
    }

    /// Imports the keys into GnuPG if any of these files has a PGP key (the only ones
    /// GnuPG is asked about). A failed import is reported; decryption then says which
    /// files no key opened.
    pub fn import_for<'a>(&mut self, files: impl IntoIterator<Item = &'a Metadata>) {
        if self.gnupg_used {
            return;
        }
        let has_pgp = files.into_iter().any(|meta| {
            meta.key_groups
                .iter()
                .flatten()
                .any(|key| key.kind() == crate::keys::pgp::KIND)
        });
        if !has_pgp {
            return;
        }
        // Decryption runs GnuPG in the home now, keys or not: its agent is to be stopped.
        self.gnupg_used = true;
        if self.secrets.is_empty() {
            return;
        }
        let mut all = Zeroizing::new(Vec::with_capacity(
            self.secrets.iter().map(|s| s.len()).sum(),
        ));
        for secret in &self.secrets {
            all.extend_from_slice(secret);
        }
        if let Err(e) = crate::keys::pgp::import_keys(&all) {
            eprintln!(
                "Cannot import ssh keys into GnuPG home '{}': {e}",
                self.home.path().display()
            );
        }
    }
}

/// Removes the homes of runs that were killed before removing theirs (the mount point
/// lives until reboot, and each holds unprotected secret keys). Called under the
/// installer's lock, so no other run's home is live.
fn remove_stale_homes(mount_point: &Path) {
    let Ok(entries) = std::fs::read_dir(mount_point) else {
        return;
    };
    for entry in entries.flatten() {
        let is_home = entry.file_name().to_string_lossy().starts_with("gpg")
            && entry.file_type().is_ok_and(|t| t.is_dir());
        if is_home {
            crate::keys::pgp::stop_agent(&entry.path());
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

impl Drop for SshKeyring {
    fn drop(&mut self) {
        crate::keys::pgp::set_home(None);
        if self.gnupg_used {
            crate::keys::pgp::stop_agent(self.home.path());
        }
        // The TempDir removes the home (secret keys and agent sockets) as it drops.
    }
}
