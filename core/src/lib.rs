//! keytap-core: read and write sops-encrypted files byte-compatibly with sops 3.11.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod cipher;
pub mod config;
pub mod datakey;
pub mod error;
pub mod example;
pub mod file;
#[doc(hidden)]
pub mod fuzz_targets;
pub mod go_regex;
pub mod goerr;
pub mod install;
pub mod keys;
pub mod keysource;
pub mod merge;
pub mod metadata;
pub mod plugin;
pub mod safefs;
pub mod shamir;
mod split;
pub mod stack;
pub mod stores;
#[cfg(test)]
mod test_docs;
#[cfg(test)]
mod test_rng;
pub mod tree;
pub mod treepath;
pub mod walk;
pub mod wordwrap;
