//! keytap-core: read and write sops-encrypted files byte-compatibly with sops 3.11.
#![deny(missing_docs)]

pub mod stores;
pub mod tree;
