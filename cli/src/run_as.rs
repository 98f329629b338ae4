//! `--user` of `exec-env` and `exec-file`: after decrypting, keytap becomes that user, so
//! the command and `exec-file`'s private directory belong to it.
//!
//! As sops 3.13 does it: the user's supplementary groups, then its primary group, then its
//! user id, for the whole process (the C library applies each change to every thread),
//! and `HOME`, `USER` and `LOGNAME` for the command. sops 3.11 set the group id to the
//! user id and kept root's groups and `HOME`, which upstream fixed as a bug.

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStringExt;

use keytap_core::error::exit_code;
use nix::unistd::{self, Gid, Uid, User};

use crate::error::CliError;

/// The variables the command gets for the user it runs as; decrypted values of the same
/// name still win, as they do with sops.
pub type UserEnv = Vec<(&'static str, OsString)>;

/// The caller's secrets that keytap itself reads from the environment (an inline age
/// identity, a TPM PIN): the user the command runs as is not given them. (sops passes them
/// on.)
const WITHHELD: [&str; 2] = ["SOPS_AGE_KEY", "AGE_TPM_PIN"];

/// Gives `command` the environment of the user it runs as, when `--user` was given.
pub fn set_user_env(command: &mut std::process::Command, user_env: Option<&UserEnv>) {
    let Some(user_env) = user_env else {
        return;
    };
    for name in WITHHELD {
        command.env_remove(name);
    }
    for (name, value) in user_env {
        command.env(name, value);
    }
}

/// Becomes user `name` for the rest of this process. Fails, changing nothing the caller
/// could rely on, when the user is unknown or the change is not permitted (only root may
/// become another user); after success no way back to the old ids is left.
pub fn become_user(name: &str) -> Result<UserEnv, CliError> {
    let fail = |reason: String| CliError::new(exit_code::GENERIC, reason);
    let user = User::from_name(name)
        .map_err(|e| {
            fail(format!(
                "user: lookup username {name}: {}",
                std::io::Error::from(e)
            ))
        })?
        .ok_or_else(|| fail(format!("user: unknown user {name}")))?;
    let switch_failed = |what: &str, e: nix::Error| {
        fail(format!(
            "could not switch to user {name} ({what}): {}",
            std::io::Error::from(e)
        ))
    };
    if unistd::geteuid().is_root() {
        let c_name = CString::new(name).map_err(|_| fail(format!("user: unknown user {name}")))?;
        let groups = unistd::getgrouplist(&c_name, user.gid)
            .map_err(|e| switch_failed("supplementary groups", e))?;
        unistd::setgroups(&groups).map_err(|e| switch_failed("supplementary groups", e))?;
    }
    unistd::setgid(user.gid).map_err(|e| switch_failed("group", e))?;
    unistd::setuid(user.uid).map_err(|e| switch_failed("user", e))?;
    verify(&user).map_err(|what| fail(format!("could not switch to user {name}: {what}")))?;
    let home = user.dir.into_os_string();
    Ok(vec![
        ("HOME", home),
        ("USER", OsString::from_vec(name.as_bytes().to_vec())),
        ("LOGNAME", OsString::from_vec(name.as_bytes().to_vec())),
    ])
}

/// Every id now the user's, and root's not recoverable: a failed or partial switch must
/// not run the command with more rights than asked for.
fn verify(user: &User) -> Result<(), &'static str> {
    let ids_match = unistd::getuid() == user.uid
        && unistd::geteuid() == user.uid
        && unistd::getgid() == user.gid
        && unistd::getegid() == user.gid;
    if !ids_match {
        return Err("the process ids did not change");
    }
    if !user.uid.is_root() && unistd::setuid(Uid::from_raw(0)).is_ok() {
        return Err("root could be regained");
    }
    if user.gid != Gid::from_raw(0)
        && !user.uid.is_root()
        && unistd::setgid(Gid::from_raw(0)).is_ok()
    {
        return Err("the root group could be regained");
    }
    Ok(())
}
