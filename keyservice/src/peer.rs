//! Who may talk to the service: the user it runs as (and root), never another local user.
//!
//! sops's protocol has no authentication, and sops's own service answers whoever connects.
//! keytap's holds PINs, so it asks the kernel who is at the other end: `SO_PEERCRED` on a
//! unix socket; on loopback TCP, the owner of the client's socket as the kernel's
//! sock_diag (or `/proc/net/tcp{,6}`) knows it (both ends of a loopback connection live
//! on this machine); a peer beyond
//! loopback is refused. `--allow-remote` turns the checks off: the user chose to serve
//! whoever can reach the socket (a container's other uid, another machine).
//!
//! The client asks the same of the service it dialled ([`check_unix_server`],
//! [`check_tcp_server`]): a data key sent to a socket another user took first (a path in
//! `/tmp`, port 5000 while the real service was down) would be theirs. A service on
//! another machine cannot be asked and is trusted, as sops trusts every service.

use std::net::{IpAddr, SocketAddr};

/// Why a connection was turned away, for the service's log.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal(pub String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

/// Checks a unix-socket client: same user as the service, or root.
pub fn check_unix(stream: &tokio::net::UnixStream) -> Result<(), Refusal> {
    let credentials = stream
        .peer_cred()
        .map_err(|e| Refusal(format!("a unix client whose user is unknown ({e})")))?;
    check_uid(credentials.uid(), "a unix client", true)
}

/// Checks a TCP client: on loopback, the owner of its socket must be the service's user
/// (not root: a root daemon can be made to open loopback connections for others); beyond
/// loopback, none is.
pub fn check_tcp(stream: &tokio::net::TcpStream) -> Result<(), Refusal> {
    let (peer, local) = match (stream.peer_addr(), stream.local_addr()) {
        (Ok(peer), Ok(local)) => (peer, local),
        _ => return Err(Refusal("a TCP client whose address is unknown".into())),
    };
    if !is_loopback(peer.ip()) {
        return Err(Refusal(format!(
            "a TCP client at {peer}, beyond loopback (--allow-remote not given)"
        )));
    }
    let what = format!("a TCP client at {peer}");
    match loopback_owner(peer, local) {
        Some(uid) => check_uid(uid, &what, false),
        None => Err(Refusal(format!("{what} whose user is unknown"))),
    }
}

/// Checks the service at the other end of a unix socket the client dialled: the user's
/// own, or root's.
pub fn check_unix_server(stream: &tokio::net::UnixStream) -> Result<(), Refusal> {
    let credentials = stream
        .peer_cred()
        .map_err(|e| Refusal(format!("it is served by an unknown user ({e})")))?;
    check_server_uid(credentials.uid())
}

/// Checks the service at the other end of a TCP connection the client made: on loopback
/// or another of this machine's addresses, the owner of the service's socket must be the
/// user or root. The kernel tells the owner
/// once the service has accepted the connection (until then the socket is nobody's, or
/// root's on older kernels), which a live service does at once: asked again for up to
/// `patience`.
pub async fn check_tcp_server(
    stream: &tokio::net::TcpStream,
    patience: std::time::Duration,
) -> Result<(), Refusal> {
    let (service, local) = match (stream.peer_addr(), stream.local_addr()) {
        (Ok(service), Ok(local)) => (service, local),
        _ => return Err(Refusal("its address is unknown".into())),
    };
    if !is_loopback(service.ip()) && !is_this_machines(service.ip()) {
        return Ok(());
    }
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        if let Some(uid) = loopback_owner(service, local) {
            return check_server_uid(uid);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Refusal(
                "the kernel does not say which user serves it (it has not accepted the connection)"
                    .into(),
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

fn check_server_uid(uid: u32) -> Result<(), Refusal> {
    let ours = rustix::process::geteuid().as_raw();
    if uid == ours || uid == 0 {
        Ok(())
    } else {
        Err(Refusal(format!(
            "it is served by uid {uid}, not by you (uid {ours}) or root"
        )))
    }
}

fn check_uid(uid: u32, what: &str, root_too: bool) -> Result<(), Refusal> {
    let ours = rustix::process::geteuid().as_raw();
    if uid == ours || (root_too && uid == 0) {
        Ok(())
    } else {
        Err(Refusal(format!(
            "{what} running as uid {uid}, not the service's user (uid {ours})"
        )))
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// Whether `ip` is one of this machine's own addresses (a LAN address a local user could
/// listen on as well as on loopback): only those can be bound to.
fn is_this_machines(ip: IpAddr) -> bool {
    std::net::TcpListener::bind(SocketAddr::new(ip.to_canonical(), 0)).is_ok()
}

/// The uid owning the other end of a loopback connection: the socket whose local address
/// is `peer` and whose remote address is `local` (this end). Asked of sock_diag
/// (one lookup); `/proc/net/tcp{,6}` only where the kernel cannot answer that way, as
/// reading it takes time in every socket on the machine (another user can add thousands).
fn loopback_owner(peer: SocketAddr, local: SocketAddr) -> Option<u32> {
    match crate::sock_diag::owner(peer, local) {
        Some(crate::sock_diag::Lookup::Owner(uid)) => return Some(uid),
        Some(crate::sock_diag::Lookup::Absent) => return None,
        None => {}
    }
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .find_map(|table| {
            let text = std::fs::read_to_string(table).ok()?;
            socket_owner(&text, peer, local)
        })
}

/// [`loopback_owner`] on the text of one `/proc/net/tcp{,6}` table. Only an established
/// socket with an inode counts: a client that closed before the service accepted is a
/// time-wait entry the kernel lists as root's.
fn socket_owner(table: &str, local_end: SocketAddr, remote_end: SocketAddr) -> Option<u32> {
    const ESTABLISHED: &str = "01";
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (local, remote, state) = (fields.get(1)?, fields.get(2)?, fields.get(3)?);
        let (uid, inode) = (fields.get(7)?, fields.get(9)?);
        let matches = same_endpoint(parse_endpoint(local)?, local_end)
            && same_endpoint(parse_endpoint(remote)?, remote_end)
            && *state == ESTABLISHED
            && *inode != "0";
        matches.then(|| uid.parse().ok()).flatten()
    })
}

/// Compares addresses as the kernel sees them: an IPv4 peer of an IPv6 socket is listed
/// in its mapped form.
fn same_endpoint(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && a.ip().to_canonical() == b.ip().to_canonical()
}

/// `0100007F:1388` (IPv4) or 32 hex digits and a port (IPv6). The kernel prints each 32-bit
/// word of the address as a number in host byte order.
fn parse_endpoint(text: &str) -> Option<SocketAddr> {
    let (address, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let mut bytes = Vec::with_capacity(16);
    for word in address.as_bytes().chunks(8) {
        let word = u32::from_str_radix(std::str::from_utf8(word).ok()?, 16).ok()?;
        bytes.extend_from_slice(&word.to_ne_bytes());
    }
    let ip = match bytes.len() {
        4 => IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?),
        16 => IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(ip: [u8; 4]) -> String {
        format!("{:08X}", u32::from_ne_bytes(ip))
    }

    #[test]
    fn finds_the_client_end_in_the_kernel_table() {
        let header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";
        let lo = word([127, 0, 0, 1]);
        let table = format!(
            "{header}\n   0: {lo}:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1\n   1: {lo}:1388 {lo}:D431 01 00000000:00000000 00:00000000 00000000     0        0 2\n   2: {lo}:D431 {lo}:1388 01 00000000:00000000 00:00000000 00000000  1000        0 3\n   3: {lo}:D432 {lo}:1388 06 00000000:00000000 00:00000000 00000000     0        0 0\n"
        );
        let service: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let client: SocketAddr = "127.0.0.1:54321".parse().unwrap();
        assert_eq!(socket_owner(&table, client, service), Some(1000));
        assert_eq!(socket_owner(&table, service, client), Some(0));
        // A client that already closed (time-wait, listed as root's) is nobody's.
        let closed: SocketAddr = "127.0.0.1:54322".parse().unwrap();
        assert_eq!(socket_owner(&table, closed, service), None);
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn this_process_is_its_own_peer() {
        runtime().block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let connect = tokio::net::TcpStream::connect(listener.local_addr().unwrap());
            let (accepted, client) = tokio::join!(listener.accept(), connect);
            let (served, _) = accepted.unwrap();
            assert_eq!(check_tcp(&served), Ok(()));
            assert_eq!(check_tcp(&client.unwrap()), Ok(()));
            let (one, _other) = tokio::net::UnixStream::pair().unwrap();
            assert_eq!(check_unix(&one), Ok(()));
            assert_eq!(check_unix_server(&one), Ok(()));
        });
    }

    #[test]
    fn a_client_waits_for_the_service_to_accept_then_knows_it() {
        runtime().block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let patience = std::time::Duration::from_secs(5);
            // Never accepted: nobody is known to serve it.
            let unaccepted = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            let short = std::time::Duration::from_millis(50);
            assert!(check_tcp_server(&unaccepted, short).await.is_err());
            // Accepted meanwhile: this process serves it.
            let (_first, _) = listener.accept().await.unwrap();
            let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap());
            let accepting = async {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                listener.accept().await.unwrap()
            };
            let (client, _served) = tokio::join!(client, accepting);
            assert_eq!(check_tcp_server(&client.unwrap(), patience).await, Ok(()));
        });
    }

    #[test]
    fn reads_ipv6_and_mapped_addresses() {
        let loopback6 = format!(
            "{}{}{}{}",
            word([0; 4]),
            word([0; 4]),
            word([0; 4]),
            word([0, 0, 0, 1])
        );
        assert_eq!(
            parse_endpoint(&format!("{loopback6}:1388")),
            Some("[::1]:5000".parse().unwrap())
        );
        let mapped = format!(
            "{}{}{}{}",
            word([0; 4]),
            word([0; 4]),
            word([0, 0, 0xff, 0xff]),
            word([127, 0, 0, 1])
        );
        let endpoint = parse_endpoint(&format!("{mapped}:D431")).unwrap();
        assert!(same_endpoint(endpoint, "127.0.0.1:54321".parse().unwrap()));
        assert!(is_loopback(endpoint.ip()));
        assert_eq!(parse_endpoint("zz:1"), None);
        assert_eq!(parse_endpoint("0100007F"), None);
    }
}
