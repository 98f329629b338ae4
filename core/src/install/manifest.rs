//! The installer manifest: the JSON file the NixOS module writes (sops-nix's format, same
//! field names and meanings), read leniently the way Go's `encoding/json` reads it: unknown
//! fields are ignored and `null` leaves a field at its zero value.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Deserializer};

use super::InstallError;

/// Reads `T` from JSON where `null` means `T::default()` (Go's zero value).
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// What to log (`sops.log`).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Logging {
    /// Say which SSH keys were imported as age keys.
    #[serde(default, rename = "keyImport", deserialize_with = "nullable")]
    pub key_import: bool,
    /// Print `adding/modifying/removing secret: ...` lines.
    #[serde(default, rename = "secretChanges", deserialize_with = "nullable")]
    pub secret_changes: bool,
}

/// One secret (`sops.secrets.<name>`).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Secret {
    /// File name under the generation directory (may contain `/`).
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    /// Key path in the sops file (`a/b/c`); `""` means the whole file.
    #[serde(default, deserialize_with = "nullable")]
    pub key: String,
    /// Where the secret is visible (a symlink is made when it is not `<symlinkPath>/<name>`).
    #[serde(default, deserialize_with = "nullable")]
    pub path: String,
    /// Owner by name (wins over `uid`).
    #[serde(default)]
    pub owner: Option<String>,
    /// Owner by number, used when `owner` is null.
    #[serde(default, deserialize_with = "nullable")]
    pub uid: i64,
    /// Group by name (wins over `gid`).
    #[serde(default)]
    pub group: Option<String>,
    /// Group by number, used when `group` is null.
    #[serde(default, deserialize_with = "nullable")]
    pub gid: i64,
    /// The sops file.
    #[serde(default, rename = "sopsFile", deserialize_with = "nullable")]
    pub sops_file: String,
    /// `yaml` (also when empty), `json`, `binary`, `dotenv` or `ini`.
    #[serde(default, deserialize_with = "nullable")]
    pub format: String,
    /// Octal permissions, e.g. `0400`.
    #[serde(default, deserialize_with = "nullable")]
    pub mode: String,
    /// Units to restart when the secret changes.
    #[serde(default, rename = "restartUnits", deserialize_with = "nullable")]
    pub restart_units: Vec<String>,
    /// Units to reload when the secret changes.
    #[serde(default, rename = "reloadUnits", deserialize_with = "nullable")]
    pub reload_units: Vec<String>,
}

/// One template (`sops.templates.<name>`).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Template {
    /// File name under `<generation>/rendered/`.
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    /// The template text; when empty, `file` is read instead.
    #[serde(default, deserialize_with = "nullable")]
    pub content: String,
    /// Where the rendered file is visible.
    #[serde(default, deserialize_with = "nullable")]
    pub path: String,
    /// Octal permissions.
    #[serde(default, deserialize_with = "nullable")]
    pub mode: String,
    /// Owner by name.
    #[serde(default)]
    pub owner: Option<String>,
    /// Owner by number.
    #[serde(default, deserialize_with = "nullable")]
    pub uid: i64,
    /// Group by name.
    #[serde(default)]
    pub group: Option<String>,
    /// Group by number.
    #[serde(default, deserialize_with = "nullable")]
    pub gid: i64,
    /// A file holding the template text.
    #[serde(default, deserialize_with = "nullable")]
    pub file: String,
    /// Units to restart when the rendered file changes.
    #[serde(default, rename = "restartUnits", deserialize_with = "nullable")]
    pub restart_units: Vec<String>,
    /// Units to reload when the rendered file changes.
    #[serde(default, rename = "reloadUnits", deserialize_with = "nullable")]
    pub reload_units: Vec<String>,
}

/// The whole manifest.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Manifest {
    /// The secrets, in order.
    #[serde(default, deserialize_with = "nullable")]
    pub secrets: Vec<Secret>,
    /// The templates, in order.
    #[serde(default, deserialize_with = "nullable")]
    pub templates: Vec<Template>,
    /// Secret name -> the placeholder string templates contain.
    #[serde(
        default,
        rename = "placeholderBySecretName",
        deserialize_with = "nullable"
    )]
    pub placeholder_by_secret_name: BTreeMap<String, String>,
    /// Where the ramfs holding the generations is mounted (`/run/secrets.d`).
    #[serde(default, rename = "secretsMountPoint", deserialize_with = "nullable")]
    pub secrets_mount_point: String,
    /// The symlink pointing at the live generation (`/run/secrets`).
    #[serde(default, rename = "symlinkPath", deserialize_with = "nullable")]
    pub symlink_path: String,
    /// Generations to keep; 0 keeps all.
    #[serde(default, rename = "keepGenerations", deserialize_with = "nullable")]
    pub keep_generations: i64,
    /// SSH RSA keys converted to OpenPGP keys in a throwaway GnuPG home
    /// ([`super::sshring`]).
    #[serde(default, rename = "sshKeyPaths", deserialize_with = "nullable")]
    pub ssh_key_paths: Vec<String>,
    /// The GnuPG home PGP keys are decrypted with (`GNUPGHOME` for the run).
    #[serde(default, rename = "gnupgHome", deserialize_with = "nullable")]
    pub gnupg_home: String,
    /// An age identity file (X25519 and plugin identities).
    #[serde(default, rename = "ageKeyFile", deserialize_with = "nullable")]
    pub age_key_file: String,
    /// SSH private keys used as age identities (ed25519 ones converted like ssh-to-age).
    #[serde(default, rename = "ageSshKeyPaths", deserialize_with = "nullable")]
    pub age_ssh_key_paths: Vec<String>,
    /// Mount a tmpfs instead of a ramfs.
    #[serde(default, rename = "useTmpfs", deserialize_with = "nullable")]
    pub use_tmpfs: bool,
    /// Home-manager style: no mount, no chown, `%r` is `$XDG_RUNTIME_DIR`.
    #[serde(default, rename = "userMode", deserialize_with = "nullable")]
    pub user_mode: bool,
    /// What to log.
    #[serde(default, deserialize_with = "nullable")]
    pub logging: Logging,
}

/// The formats a secret can have.
pub const FORMATS: [&str; 5] = ["yaml", "json", "binary", "dotenv", "ini"];

impl Manifest {
    /// Parses manifest JSON.
    pub fn parse(data: &[u8]) -> Result<Manifest, InstallError> {
        serde_json::from_slice(data)
            .map_err(|e| InstallError::new(format!("failed to parse manifest: {e}")))
    }

    /// Reads and parses the manifest at `path`.
    pub fn read(path: &Path) -> Result<Manifest, InstallError> {
        let data = crate::safefs::read_file_bounded(path).map_err(|e| {
            InstallError::new(format!(
                "failed to open manifest: open {}: {}",
                path.display(),
                crate::goerr::io_reason(&e)
            ))
        })?;
        Manifest::parse(&data)
    }

    /// User mode: replaces `%r` with `rundir` (and `%%` with `%`) in every path, as
    /// sops-nix's home-manager module expects.
    pub fn replace_runtime_dir(&mut self, rundir: &str) {
        self.secrets_mount_point = replace_runtime_dir(&self.secrets_mount_point, rundir);
        self.symlink_path = replace_runtime_dir(&self.symlink_path, rundir);
        for s in &mut self.secrets {
            s.path = replace_runtime_dir(&s.path, rundir);
        }
        for t in &mut self.templates {
            t.path = replace_runtime_dir(&t.path, rundir);
        }
    }
}

/// `%r` -> `rundir`, `%%` -> `%`.
pub fn replace_runtime_dir(path: &str, rundir: &str) -> String {
    path.split("%%")
        .map(|part| part.replace("%r", rundir))
        .collect::<Vec<_>>()
        .join("%")
}

/// Parses an octal mode string (`0400`, `640`) as sops-install-secrets does
/// (`strconv.ParseUint(mode, 8, 16)`, then Go's `os.FileMode`, whose set-id and sticky
/// bits are not these numbers): only the permission bits are kept. Returns the mode and
/// whether anything above them was dropped.
pub fn parse_mode(mode: &str) -> Result<(u32, bool), InstallError> {
    match u32::from_str_radix(mode, 8) {
        Ok(m) if m <= 0o177777 && !mode.is_empty() && !mode.starts_with('+') => {
            Ok((m & 0o777, m & !0o777 != 0))
        }
        Ok(_) => Err(mode_error(mode, "value out of range")),
        Err(_) => Err(mode_error(mode, "invalid syntax")),
    }
}

/// Go's error for a mode `strconv.ParseUint` refuses, word for word.
fn mode_error(mode: &str, reason: &str) -> InstallError {
    let quoted = crate::goerr::quote(mode.as_bytes());
    InstallError::new(format!(
        "invalid number in mode: {mode}: strconv.ParseUint: parsing {quoted}: {reason}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_id_and_sticky_bits_never_reach_a_secret() {
        assert_eq!(parse_mode("0400").unwrap(), (0o400, false));
        assert_eq!(parse_mode("4777").unwrap(), (0o777, true));
        assert_eq!(parse_mode("7440").unwrap(), (0o440, true));
        assert!(parse_mode("200000").is_err());
        assert_eq!(
            parse_mode("8").unwrap_err().message,
            "invalid number in mode: 8: strconv.ParseUint: parsing \"8\": invalid syntax"
        );
        assert!(parse_mode("200000")
            .unwrap_err()
            .message
            .ends_with("parsing \"200000\": value out of range"));
    }

    #[test]
    fn nulls_and_unknown_fields_read_as_zero_values() {
        let m = Manifest::parse(
            br#"{"secrets":[{"name":"a","key":"a","owner":null,"uid":null,"group":"g",
                "gid":0,"sopsFile":"/s.yaml","format":"yaml","mode":"0400",
                "restartUnits":[],"reloadUnits":null,"neededForUsers":false,
                "sopsFileHash":""}],
                "templates":[],"placeholderBySecretName":null,"secretsMountPoint":"/run/secrets.d",
                "symlinkPath":"/run/secrets","keepGenerations":1,"gnupgHome":null,
                "sshKeyPaths":[],"ageKeyFile":null,"ageSshKeyPaths":["/k"],"useTmpfs":false,
                "userMode":false,"logging":{"keyImport":true,"secretChanges":false},"extra":1}"#,
        )
        .unwrap();
        assert_eq!(m.secrets[0].owner, None);
        assert_eq!(m.secrets[0].group.as_deref(), Some("g"));
        assert!(m.secrets[0].reload_units.is_empty());
        assert_eq!(m.age_key_file, "");
        assert!(m.logging.key_import && !m.logging.secret_changes);
    }

    #[test]
    fn modes_are_octal() {
        assert_eq!(parse_mode("0400").unwrap(), (0o400, false));
        assert_eq!(parse_mode("755").unwrap(), (0o755, false));
        assert!(parse_mode("0800").is_err());
        assert!(parse_mode("").is_err());
        assert_eq!(parse_mode("77777").unwrap(), (0o777, true));
        assert!(parse_mode("277777").is_err());
    }

    #[test]
    fn runtime_dir_is_substituted() {
        assert_eq!(
            replace_runtime_dir("%r/secrets", "/run/user/1"),
            "/run/user/1/secrets"
        );
        assert_eq!(replace_runtime_dir("%%r/x", "/r"), "%r/x");
    }
}
