//! `ssh-to-pgp`: an SSH RSA private key as the OpenPGP key sops-nix's
//! `sops.gnupg.sshKeyPaths` makes of it (what Mic92's `ssh-to-pgp` prints), so that files
//! can be encrypted to a host's RSA key: `keytap ssh-to-pgp -i ssh_host_rsa_key | gpg
//! --import`, then `--pgp` with the fingerprint printed on stderr.

use std::path::Path;

use keytap_core::error::exit_code;
use keytap_core::install::{sshkey, sshpgp};
use keytap_core::safefs::replace::Contents;
use zeroize::Zeroizing;

use crate::error::CliError;
use crate::output::Destination;

/// What to write, and where.
pub struct Flags<'a> {
    /// The SSH private key file (`-`: stdin).
    pub input: &'a Path,
    /// Where the key goes (`-`: stdout).
    pub output: &'a Path,
    /// The secret key instead of the public one.
    pub private_key: bool,
    /// ASCII armor instead of binary packets.
    pub armor: bool,
    /// The user ID's parts.
    pub name: &'a str,
    pub comment: &'a str,
    pub email: &'a str,
}

/// Converts the key, writes it, and prints its fingerprint (lower-case hex) on stderr.
pub fn run(flags: Flags) -> Result<i32, CliError> {
    let fail = |message: String| CliError::new(exit_code::GENERIC, message);
    let file = read_key(flags.input).map_err(fail)?;
    let user_id = sshpgp::user_id(flags.name, flags.comment, flags.email).map_err(fail)?;
    let key = sshpgp::ssh_private_key_to_pgp_as(&file, &user_id).map_err(fail)?;
    let packets: &[u8] = if flags.private_key {
        &key.secret
    } else {
        &key.public
    };
    let text = if flags.armor {
        Zeroizing::new(
            sshpgp::armor(packets, flags.private_key)
                .as_bytes()
                .to_vec(),
        )
    } else {
        Zeroizing::new(packets.to_vec())
    };
    if flags.output.as_os_str() == "-" {
        crate::output::write_stdout(&text)?;
    } else {
        // As any output file: replaced atomically where it can be; a secret key is
        // private (0600) whatever the file's old mode and the umask.
        let contents = if flags.private_key {
            Contents::Plaintext
        } else {
            Contents::Encrypted
        };
        crate::output::write_file(flags.output, &text, contents, Destination::Output, false)?;
    }
    eprintln!("{}", key.fingerprint_hex());
    Ok(0)
}

/// The key file's bytes (`-`: stdin), at most 1 MiB.
fn read_key(input: &Path) -> Result<Zeroizing<Vec<u8>>, String> {
    if input.as_os_str() == "-" {
        return sshkey::read_key(std::io::stdin().lock())
            .map_err(|e| format!("error reading stdin: {e}"));
    }
    let path = input.to_string_lossy();
    sshkey::read_key_file(&path).map_err(|e| format!("error reading {path}: {e}"))
}
