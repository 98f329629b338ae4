//! User and group lookups through the C library (NSS), like Go's `os/user`.

use nix::unistd::{Group, Uid, User};

use super::InstallError;

/// The uid of user `name`.
pub fn uid_of(name: &str) -> Result<u32, InstallError> {
    lookup_user(name)?.ok_or_else(|| {
        InstallError::new(format!(
            "failed to lookup user '{name}': user: unknown user {name}"
        ))
    })
}

/// The gid of group `name`.
pub fn gid_of(name: &str) -> Result<u32, InstallError> {
    lookup_group(name)?.ok_or_else(|| {
        InstallError::new(format!(
            "failed to lookup group '{name}': group: unknown group {name}"
        ))
    })
}

fn lookup_failed(kind: &str, name: &str, e: nix::Error) -> InstallError {
    InstallError::new(format!(
        "failed to lookup {kind} '{name}': {}",
        std::io::Error::from(e)
    ))
}

fn lookup_user(name: &str) -> Result<Option<u32>, InstallError> {
    User::from_name(name)
        .map(|u| u.map(|u| u.uid.as_raw()))
        .map_err(|e| lookup_failed("user", name, e))
}

fn lookup_group(name: &str) -> Result<Option<u32>, InstallError> {
    Group::from_name(name)
        .map(|g| g.map(|g| g.gid.as_raw()))
        .map_err(|e| lookup_failed("group", name, e))
}

/// The group owning the secrets directories: `keys`, else `nogroup` (as sops-nix).
pub fn keys_gid() -> Result<u32, InstallError> {
    if let Some(gid) = lookup_group("keys")? {
        return Ok(gid);
    }
    if let Some(gid) = lookup_group("nogroup")? {
        return Ok(gid);
    }
    Err(InstallError::new(
        "can't find group 'keys' nor 'nogroup' (failed to lookup 'keys' group: group: unknown group nogroup)",
    ))
}

/// The name of a uid, for messages and tests.
pub fn user_name(uid: u32) -> Option<String> {
    User::from_uid(Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_resolves() {
        assert_eq!(uid_of("root").unwrap(), 0);
        assert_eq!(user_name(0).as_deref(), Some("root"));
        assert!(uid_of("no-such-user-keytap").is_err());
        assert!(gid_of("no-such-group-keytap")
            .unwrap_err()
            .to_string()
            .contains("unknown group"));
    }
}
