//! keytap-core: read and write sops-encrypted files byte-compatibly with sops 3.11.
#![deny(missing_docs)]

pub mod cipher;
pub mod config;
pub mod datakey;
pub mod error;
pub mod example;
pub mod file;
pub mod goerr;
pub mod install;
pub mod keys;
pub mod metadata;
pub mod plugin;
pub mod shamir;
pub mod stores;
pub mod tree;
pub mod treepath;
pub mod walk;
pub mod wordwrap;
