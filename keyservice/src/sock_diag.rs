//! The owner of one loopback TCP socket, asked of the kernel's `NETLINK_SOCK_DIAG`: a
//! single lookup of that socket (`inet_diag_req_v2` without `NLM_F_DUMP`), where reading
//! `/proc/net/tcp` costs time in the number of sockets on the machine, which any local
//! user can inflate. The message layouts are the kernel's (`linux/inet_diag.h`,
//! `linux/netlink.h`), in host byte order but for ports and addresses.

use std::net::{IpAddr, SocketAddr};

use rustix::net::{netlink, recv, send, socket, AddressFamily, RecvFlags, SendFlags, SocketType};

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const IPPROTO_TCP: u8 = 6;
const TCP_ESTABLISHED: u8 = 1;
const HEADER: usize = 16;
/// `inet_diag_msg`: family, state, timer, retrans, the 48-byte socket id, expires,
/// rqueue, wqueue, then uid and inode.
const MSG_UID: usize = HEADER + 64;
const MSG_INODE: usize = HEADER + 68;

/// What the kernel said about the socket.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// An established socket of this uid.
    Owner(u32),
    /// No such established socket (closed already, or never there).
    Absent,
}

/// The socket whose local end is `client` and whose remote end is `service`; `None` when
/// sock_diag cannot be asked (no netlink, no TCP handler, an unexpected answer).
pub fn owner(client: SocketAddr, service: SocketAddr) -> Option<Lookup> {
    static WORKS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if !*WORKS.get_or_init(finds_a_connection_of_ours) {
        return None;
    }
    ask(client, service)
}

/// Whether sock_diag finds a loopback connection this process just made: a kernel
/// without its TCP handler answers "no such socket" to everything, which must not be
/// taken for an answer.
fn finds_a_connection_of_ours() -> bool {
    let probe = || -> std::io::Result<bool> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let service = listener.local_addr()?;
        let client = std::net::TcpStream::connect(service)?;
        let ours = rustix::process::geteuid().as_raw();
        Ok(ask(client.local_addr()?, service) == Some(Lookup::Owner(ours)))
    };
    probe().unwrap_or(false)
}

fn ask(client: SocketAddr, service: SocketAddr) -> Option<Lookup> {
    let request = request(client, service);
    let fd = socket(
        AddressFamily::NETLINK,
        SocketType::DGRAM,
        Some(netlink::SOCK_DIAG),
    )
    .ok()?;
    send(&fd, &request, SendFlags::empty()).ok()?;
    let mut reply = [0u8; 1024];
    let (len, _) = recv(&fd, &mut reply[..], RecvFlags::empty()).ok()?;
    parse(reply.get(..len)?)
}

/// IPv4 addresses (mapped ones too: the client's own socket is then IPv4) go as
/// `AF_INET`, the first 4 of 16 bytes.
fn family_and_bytes(ip: IpAddr) -> (u8, [u8; 16]) {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let mut bytes = [0; 16];
            bytes[..4].copy_from_slice(&v4.octets());
            (AF_INET, bytes)
        }
        IpAddr::V6(v6) => (AF_INET6, v6.octets()),
    }
}

fn request(client: SocketAddr, service: SocketAddr) -> Vec<u8> {
    let (family, src) = family_and_bytes(client.ip());
    let (_, dst) = family_and_bytes(service.ip());
    let mut m = Vec::with_capacity(HEADER + 56);
    m.extend_from_slice(&((HEADER + 56) as u32).to_ne_bytes());
    m.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    m.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    m.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    m.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel
    m.extend_from_slice(&[family, IPPROTO_TCP, 0, 0]);
    m.extend_from_slice(&(1u32 << TCP_ESTABLISHED).to_ne_bytes());
    m.extend_from_slice(&client.port().to_be_bytes());
    m.extend_from_slice(&service.port().to_be_bytes());
    m.extend_from_slice(&src);
    m.extend_from_slice(&dst);
    m.extend_from_slice(&0u32.to_ne_bytes()); // any interface
    m.extend_from_slice(&[0xff; 8]); // INET_DIAG_NOCOOKIE
    m
}

fn parse(reply: &[u8]) -> Option<Lookup> {
    let u16_at = |at: usize| Some(u16::from_ne_bytes(reply.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_ne_bytes(reply.get(at..at + 4)?.try_into().ok()?));
    match u16_at(4)? {
        SOCK_DIAG_BY_FAMILY => {
            let established = *reply.get(HEADER + 1)? == TCP_ESTABLISHED;
            let inode = u32_at(MSG_INODE)?;
            Some(match established && inode != 0 {
                true => Lookup::Owner(u32_at(MSG_UID)?),
                false => Lookup::Absent,
            })
        }
        // ENOENT: no such socket. Another error: sock_diag cannot answer.
        NLMSG_ERROR => {
            let errno = i32::from_ne_bytes(reply.get(HEADER..HEADER + 4)?.try_into().ok()?);
            (errno == -(rustix::io::Errno::NOENT.raw_os_error())).then_some(Lookup::Absent)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_owner_of_a_loopback_connection_and_nothing_else() {
        assert!(finds_a_connection_of_ours());
        for bind in ["127.0.0.1:0", "[::1]:0"] {
            let Ok(listener) = std::net::TcpListener::bind(bind) else {
                assert_ne!(bind, "127.0.0.1:0");
                continue; // no IPv6 loopback on this machine
            };
            let service = listener.local_addr().unwrap();
            let client = std::net::TcpStream::connect(service).unwrap();
            let (_accepted, peer) = listener.accept().unwrap();
            assert_eq!(peer, client.local_addr().unwrap());
            let ours = rustix::process::geteuid().as_raw();
            assert_eq!(owner(peer, service), Some(Lookup::Owner(ours)), "{bind}");
            let mut elsewhere = peer;
            elsewhere.set_port(peer.port().wrapping_add(1).max(1));
            assert_eq!(owner(elsewhere, service), Some(Lookup::Absent), "{bind}");
        }
    }
}
