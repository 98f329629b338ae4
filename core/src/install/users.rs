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
    let cname = CString::new(name)
        .map_err(|_| InstallError::new(format!("failed to lookup user '{name}': invalid name")))?;
    let mut size = buffer_size();
    loop {
        let mut buf = vec![0 as libc::c_char; size];
        // SAFETY: zeroed passwd is a valid out-parameter; all pointers outlive the call.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = unsafe {
            libc::getpwnam_r(
                cname.as_ptr(),
                &mut pwd,
                buf.as_mut_ptr(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && size < 1 << 20 {
            size *= 4;
            continue;
        }
        if rc != 0 {
            return Err(InstallError::new(format!(
                "failed to lookup user '{name}': {}",
                std::io::Error::from_raw_os_error(rc)
            )));
        }
        return Ok((!result.is_null()).then_some(pwd.pw_uid));
    }
}

fn lookup_group(name: &str) -> Result<Option<u32>, InstallError> {
    let cname = CString::new(name)
        .map_err(|_| InstallError::new(format!("failed to lookup group '{name}': invalid name")))?;
    let mut size = buffer_size();
    loop {
        let mut buf = vec![0 as libc::c_char; size];
        // SAFETY: as in lookup_user.
        let mut grp: libc::group = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::group = std::ptr::null_mut();
        let rc = unsafe {
            libc::getgrnam_r(
                cname.as_ptr(),
                &mut grp,
                buf.as_mut_ptr(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && size < 1 << 20 {
            size *= 4;
            continue;
        }
        if rc != 0 {
            return Err(InstallError::new(format!(
                "failed to lookup group '{name}': {}",
                std::io::Error::from_raw_os_error(rc)
            )));
        }
        return Ok((!result.is_null()).then_some(grp.gr_gid));
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
