//! Runs of a block plain scalar that the scanner copies at once instead of character by
//! character: encrypted values and words, which nothing inside can end.

/// Bytes that end a run of a block plain scalar: blanks, breaks, NUL, anything not ASCII,
/// and ':' (which ends it only before a blank, checked by [`plain_run_end`]).
const PLAIN_RUN_STOP: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0x80;
    while b < 256 {
        table[b] = true;
        b += 1;
    }
    table[b' ' as usize] = true;
    table[b'\t' as usize] = true;
    table[b'\r' as usize] = true;
    table[b'\n' as usize] = true;
    table[0] = true;
    table[b':' as usize] = true;
    table
};

/// The end of the run of a block plain scalar starting at `start` (ASCII): the first
/// blank, break, NUL or non-ASCII byte, except a ':' or a single space followed by ASCII
/// that is neither blank nor break (a ':' before a blank ends the scalar; before a
/// non-ASCII character the character-wise scan decides). The end of `buf` ends the run.
pub(super) fn plain_run_end(buf: &[u8], start: usize) -> usize {
    let mut i = start;
    loop {
        i += first_run_stop(&buf[i..]);
        let continues = |n: &u8| !PLAIN_RUN_STOP[*n as usize];
        match buf.get(i) {
            Some(b':') if buf.get(i + 1).is_some_and(continues) => i += 2,
            // One space between words is copied as the character-wise scan would copy it;
            // before '#' (a comment) or ':' (perhaps a key's end) that scan decides.
            Some(b' ')
                if buf
                    .get(i + 1)
                    .is_some_and(|n| continues(n) && !matches!(n, b'#' | b':')) =>
            {
                i += 2
            }
            _ => return i,
        }
    }
}

/// Offset of the first byte of `bytes` in [`PLAIN_RUN_STOP`], or earlier at a control
/// character (which the character-wise scan then reads), or `bytes.len()`. Encrypted
/// values are long runs with a ':' every 20 to 60 bytes: 32 bytes at a time, the stops
/// as the bits of a mask (vector compares), whose lowest set bit is the answer.
fn first_run_stop(bytes: &[u8]) -> usize {
    // Blanks, breaks, NUL and other controls (<= ' '), not ASCII (>= 0x80), and ':'.
    let stops = |b: u8| b.wrapping_sub(b'!') > 0x5E || b == b':';
    let mut chunks = bytes.chunks_exact(32);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut mask = 0u32;
        for (i, &b) in chunk.iter().enumerate() {
            mask |= u32::from(stops(b)) << i;
        }
        if mask != 0 {
            return offset + mask.trailing_zeros() as usize;
        }
        offset += 32;
    }
    let rest = chunks.remainder();
    offset
        + rest
            .iter()
            .position(|&b| PLAIN_RUN_STOP[b as usize])
            .unwrap_or(rest.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table_stop(bytes: &[u8]) -> usize {
        bytes
            .iter()
            .position(|&b| PLAIN_RUN_STOP[b as usize])
            .unwrap_or(bytes.len())
    }

    #[test]
    fn the_first_stop_is_the_tables_or_an_earlier_control() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || crate::test_rng::next(&mut state);
        let common = b"ENC[AES256_GCM,data:aGVsbG8=,iv:x/y+z,tag:q==,type:str]word ";
        for _ in 0..20_000 {
            let len = (next() % 100) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| match next() % 50 {
                    0 => next() as u8,
                    1 => b':',
                    _ => common[(next() as usize) % common.len()],
                })
                .collect();
            let found = first_run_stop(&bytes);
            let expected = table_stop(&bytes);
            if found != expected {
                assert!(found < expected && bytes[found] < b' ', "{bytes:?}");
            }
        }
        assert_eq!(first_run_stop(&[b'a'; 64]), 64);
        assert_eq!(
            first_run_stop(&[[b'a'; 40].as_slice(), b"\x7f:"].concat()),
            41
        );
    }

    #[test]
    fn runs_cross_colons_and_single_spaces_between_words() {
        let run = |s: &str| plain_run_end(s.as_bytes(), 0);
        assert_eq!(
            run("ENC[AES256_GCM,data:abc,iv:d,tag:e,type:str]\nnext"),
            44
        );
        assert_eq!(run("http://example.com:8080/x # c"), 25);
        assert_eq!(run("two words: value"), 9);
        assert_eq!(run("ends at the end"), 15);
        assert_eq!(run("no  double"), 2);
        assert_eq!(run("caf\u{e9}"), 3);
    }
}
