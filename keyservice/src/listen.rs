//! Where the key service listens. Safe by default: a unix socket is owner-only (0600) in a
//! directory made 0700 if it has to be made, and never in a directory another user could
//! swap it in; TCP binds to loopback unless the caller explicitly allows more; a socket
//! passed by systemd (`LISTEN_FDS`, socket activation) is used as it is. Who may connect
//! is [`crate::peer`]'s question.

use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A bound listener.
pub enum Listener {
    /// A unix socket; `remove` is the socket file to unlink on shutdown (sockets we made).
    Unix {
        /// The listener.
        listener: tokio::net::UnixListener,
        /// The socket file we created, if any.
        remove: Option<OwnSocket>,
    },
    /// A TCP listener.
    Tcp(tokio::net::TcpListener),
}

impl Listener {
    /// How to reach it, as a `--keyservice` URI.
    pub fn uri(&self) -> String {
        match self {
            Listener::Unix { listener, .. } => listener
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(|p| format!("unix://{}", p.display())))
                .unwrap_or_else(|| "unix://(unnamed)".into()),
            Listener::Tcp(l) => l
                .local_addr()
                .map(|a| format!("tcp://{a}"))
                .unwrap_or_else(|_| "tcp://(unknown)".into()),
        }
    }
}

/// A socket file the service made, removed on shutdown only if it is still that file.
pub struct OwnSocket {
    path: PathBuf,
    device: u64,
    inode: u64,
}

impl OwnSocket {
    /// Unlinks the socket, unless something else has taken its name since.
    pub fn remove(self) {
        if let Ok(m) = std::fs::symlink_metadata(&self.path) {
            if (m.dev(), m.ino()) == (self.device, self.inode) {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

/// The socket systemd passed (socket activation), if any. Must run inside the runtime.
pub fn from_systemd() -> io::Result<Option<Listener>> {
    let mut fds = listenfd::ListenFd::from_env();
    if fds.len() == 0 {
        return Ok(None);
    }
    if let Some(l) = fds.take_unix_listener(0)? {
        l.set_nonblocking(true)?;
        return Ok(Some(Listener::Unix {
            listener: tokio::net::UnixListener::from_std(l)?,
            remove: None,
        }));
    }
    if let Some(l) = fds.take_tcp_listener(0)? {
        l.set_nonblocking(true)?;
        return Ok(Some(Listener::Tcp(tokio::net::TcpListener::from_std(l)?)));
    }
    Err(io::Error::other(
        "LISTEN_FDS names a socket that is neither a unix nor a TCP listener",
    ))
}

/// Binds an owner-only unix socket at `path`. Its directory is created 0700 if missing,
/// and must not be writable by others (unless sticky, as `/tmp`); a stale socket (nobody
/// listening) is replaced; a live one is an error.
pub fn bind_unix(path: &Path) -> io::Result<Listener> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    check_socket_directory(dir)?;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("another key service is listening on {}", path.display()),
                ));
            }
            if m.uid() != rustix::process::geteuid().as_raw() {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!("{} is another user's socket", path.display()),
                ));
            }
            std::fs::remove_file(path)?;
        }
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    // The umask decides the socket's mode at bind time: none but the owner, ever.
    let old = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o177));
    let bound = std::os::unix::net::UnixListener::bind(path);
    rustix::process::umask(old);
    let listener = bound?;
    let made = std::fs::symlink_metadata(path)?;
    listener.set_nonblocking(true)?;
    Ok(Listener::Unix {
        listener: tokio::net::UnixListener::from_std(listener)?,
        remove: Some(OwnSocket {
            path: path.to_path_buf(),
            device: made.dev(),
            inode: made.ino(),
        }),
    })
}

/// Refuses a directory where another user could replace the socket, or the service's own
/// clean-up could be turned against another file: it must belong to this user (or root)
/// and be writable by no one else, unless sticky (there no one removes another's file).
fn check_socket_directory(dir: &Path) -> io::Result<()> {
    let m = std::fs::metadata(dir)?;
    let ours = rustix::process::geteuid().as_raw();
    let refuse = |why: String| {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} {why}: another user could replace the socket there",
                dir.display()
            ),
        ))
    };
    if m.uid() != ours && m.uid() != 0 {
        return refuse(format!("belongs to uid {}", m.uid()));
    }
    let sticky = m.mode() & 0o1000 != 0;
    let only_group_writable = m.mode() & 0o022 == 0o020;
    if m.mode() & 0o022 != 0 && !sticky && !(only_group_writable && is_private_group(m.gid())) {
        return refuse(format!(
            "is writable by others (mode {:o})",
            m.mode() & 0o777
        ));
    }
    Ok(())
}

/// Whether `gid` is this user's private group (umask 002 systems give each user a group
/// of the same name, with no other members): writable by that group is writable by no one
/// else.
fn is_private_group(gid: u32) -> bool {
    use nix::unistd::{Gid, Group, User};
    let uid = rustix::process::geteuid().as_raw();
    let (Ok(Some(user)), Ok(Some(group))) = (
        User::from_uid(nix::unistd::Uid::from_raw(uid)),
        Group::from_gid(Gid::from_raw(gid)),
    ) else {
        return false;
    };
    user.gid.as_raw() == gid
        && group.name == user.name
        && group.mem.iter().all(|member| *member == user.name)
}

/// Binds TCP `address` (`host:port`). Anything but a loopback address needs
/// `allow_remote`: the protocol has no authentication, whoever connects is served.
pub fn bind_tcp(address: &str, allow_remote: bool) -> io::Result<Listener> {
    let addrs: Vec<std::net::SocketAddr> =
        std::net::ToSocketAddrs::to_socket_addrs(address)?.collect();
    if addrs.is_empty() {
        return Err(io::Error::other(format!(
            "{address} resolves to no address"
        )));
    }
    if !allow_remote {
        if let Some(a) = addrs.iter().find(|a| !a.ip().is_loopback()) {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{a} is not a loopback address: anyone who can reach it could use your keys; give --allow-remote to listen there anyway"),
            ));
        }
    }
    let listener = std::net::TcpListener::bind(&addrs[..])?;
    listener.set_nonblocking(true)?;
    Ok(Listener::Tcp(tokio::net::TcpListener::from_std(listener)?))
}
