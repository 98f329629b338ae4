//! sops's key-service protocol for keytap (gRPC over a unix socket or TCP).
//!
//! * [`client`]: a remote key service as a `keytap_core` key source, so every command can
//!   unwrap through `--keyservice` (keytap's own service or the real `sops keyservice`).
//! * [`server`]: `keytap keyservice`, which answers sops and keytap clients with the
//!   identities keytap finds (plugins included) and, as an agent, keeps the PINs and
//!   passphrases it was given for a while ([`cache`]), so ten commands cost one prompt.
//! * [`listen`]: where the server listens: an owner-only unix socket, loopback TCP, or a
//!   socket systemd passes (`LISTEN_FDS`).
//! * [`peer`]: who may connect: the service's own user, never another local one.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod cache;
pub mod client;
pub mod listen;
pub mod peer;
pub mod server;
mod sock_diag;

/// Code generated from `proto/` at build time.
#[allow(missing_docs, clippy::all)]
pub mod proto {
    /// sops's messages and `KeyService` (no protobuf package, as in sops).
    pub mod sops {
        include!(concat!(env!("OUT_DIR"), "/_.rs"));
    }
    /// keytap's `Control` service.
    pub mod control {
        include!(concat!(env!("OUT_DIR"), "/keytap.control.rs"));
    }
}
