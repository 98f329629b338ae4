//! A tiny deterministic generator for tests that try many random inputs (xorshift64:
//! the same sequence on every run, so a failure repeats).

/// The next value of `state`, which must start non-zero.
pub(crate) fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}
