//! User and group lookups through the C library (NSS), like Go's `os/user`.

use std::ffi::{CStr, CString};

use super::InstallError;

fn buffer_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_GETPW_R_SIZE_MAX) };
    if n > 0 {
        n as usize
    } else {
        16 * 1024
    }
}

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

fn lookup_user(name: &str) -> Result<Option<u32>, InstallError> {
    // SAFETY: getpwnam_r with the buffers `lookup_id` provides.
    lookup_id(
        "user",
        name,
        |n, e, b, l, r| unsafe { libc::getpwnam_r(n, e, b, l, r) },
        |p: &libc::passwd| p.pw_uid,
    )
}

fn lookup_group(name: &str) -> Result<Option<u32>, InstallError> {
    // SAFETY: getgrnam_r with the buffers `lookup_id` provides.
    lookup_id(
        "group",
        name,
        |n, e, b, l, r| unsafe { libc::getgrnam_r(n, e, b, l, r) },
        |g: &libc::group| g.gr_gid,
    )
}

/// Runs a reentrant `get*nam_r` lookup, growing the buffer on `ERANGE`: the id of the
/// entry, `None` if there is none.
fn lookup_id<T>(
    kind: &str,
    name: &str,
    getnam_r: impl Fn(
        *const libc::c_char,
        *mut T,
        *mut libc::c_char,
        libc::size_t,
        *mut *mut T,
    ) -> libc::c_int,
    id_of: impl Fn(&T) -> u32,
) -> Result<Option<u32>, InstallError> {
    let cname = CString::new(name).map_err(|_| {
        InstallError::new(format!("failed to lookup {kind} '{name}': invalid name"))
    })?;
    let mut size = buffer_size();
    loop {
        let mut buf = vec![0 as libc::c_char; size];
        // SAFETY: a zeroed passwd/group is a valid out-parameter; all pointers outlive the call.
        let mut entry: T = unsafe { std::mem::zeroed() };
        let mut result: *mut T = std::ptr::null_mut();
        let rc = getnam_r(
            cname.as_ptr(),
            &mut entry,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        );
        if rc == libc::ERANGE && size < 1 << 20 {
            size *= 4;
            continue;
        }
        if rc != 0 {
            return Err(InstallError::new(format!(
                "failed to lookup {kind} '{name}': {}",
                std::io::Error::from_raw_os_error(rc)
            )));
        }
        return Ok((!result.is_null()).then(|| id_of(&entry)));
    }
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
    let mut buf = vec![0 as libc::c_char; buffer_size()];
    // SAFETY: as in lookup_user.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 || result.is_null() {
        return None;
    }
    // SAFETY: pw_name points into buf, NUL-terminated.
    Some(
        unsafe { CStr::from_ptr(pwd.pw_name) }
            .to_string_lossy()
            .into_owned(),
    )
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
