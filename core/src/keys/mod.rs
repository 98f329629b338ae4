//! Key sources: what wraps and unwraps a file's data key.

pub mod age;
pub mod agefile;
pub mod identities;
pub mod pgp;
pub mod pq;
pub mod prompt;
pub mod sources;
pub mod tag;
