//! Key sources: what wraps and unwraps a file's data key.

pub mod age;
pub mod agefile;
pub mod pq;
pub mod prompt;
pub mod tag;
