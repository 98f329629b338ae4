//! Shamir secret sharing over GF(2^8), compatible with sops (`shamir/shamir.go`,
//! HashiCorp Vault's scheme).
//!
//! sops uses this when a file has more than one key group: the 32-byte data key is
//! split into one share per group, and group `i` (0-based) wraps share `i`.
//!
//! Share layout (identical to sops/Vault): the share is `secret.len() + 1` bytes long;
//! byte `j < secret.len()` is the value at `x` of the random polynomial whose constant term
//! is `secret[j]`, and the last byte is the x coordinate. Arithmetic is in Rijndael's field
//! `GF(2^8) = GF(2)[X]/(X^8 + X^4 + X^3 + X + 1)` (polynomial `0x11B`).
//!
//! x coordinates: sops's copy of the code does **not** use Vault's random permutation of
//! 1..=255; share `i` gets `x = i + 1`. [`split`] does the same, so the shares we write are
//! laid out exactly as sops writes them. [`combine`] accepts any distinct x coordinates
//! (including shares made by upstream Vault), and any number of shares `>= 2` (sops passes
//! every share it managed to decrypt, which may be more than the threshold).

use rand::{CryptoRng, RngCore};
use zeroize::{Zeroize, Zeroizing};

/// Bytes a share has on top of the secret: the trailing x coordinate.
pub const SHARE_OVERHEAD: usize = 1;

/// Why a [`split`] or [`combine`] failed. The messages are sops's/Vault's, word for word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ShamirError {
    /// `split`: fewer parts than the threshold.
    #[error("parts cannot be less than threshold")]
    PartsLessThanThreshold,
    /// `split`: more than 255 parts (x coordinates are the non-zero bytes).
    #[error("parts cannot exceed 255")]
    TooManyParts,
    /// `split`: threshold 0 or 1.
    #[error("threshold must be at least 2")]
    ThresholdTooSmall,
    /// `split`: threshold above 255.
    #[error("threshold cannot exceed 255")]
    ThresholdTooLarge,
    /// `split`: empty secret.
    #[error("cannot split an empty secret")]
    EmptySecret,
    /// `combine`: fewer than two shares.
    #[error("less than two parts cannot be used to reconstruct the secret")]
    TooFewParts,
    /// `combine`: a share shorter than two bytes (one secret byte plus the x coordinate).
    #[error("parts must be at least two bytes")]
    PartsTooShort,
    /// `combine`: shares of different lengths.
    #[error("all parts must be the same length")]
    DifferentLengths,
    /// `combine`: two shares with the same x coordinate.
    #[error("duplicate part detected")]
    DuplicatePart,
    /// `split`: the random number generator failed.
    #[error("failed to generate polynomial: random number generator failed")]
    Rng,
}

/// Multiplication in GF(2^8) modulo `X^8 + X^4 + X^3 + X + 1`, without data-dependent
/// branches or table lookups (the same bit-serial method as sops's `mult`).
pub(crate) fn gf_mul(a: u8, b: u8) -> u8 {
    let mut acc: u8 = 0;
    for i in (0..8).rev() {
        let bit = (b >> i) & 1;
        let a_or_zero = bit.wrapping_neg() & a;
        let reduce = (acc >> 7).wrapping_neg() & 0x1B;
        acc = a_or_zero ^ (acc.wrapping_add(acc) ^ reduce);
    }
    acc
}

/// Multiplicative inverse in GF(2^8) as `a^254` (0 maps to 0).
pub(crate) fn gf_inv(a: u8) -> u8 {
    let mut b = gf_mul(a, a); // a^2
    let mut c = gf_mul(a, b); // a^3
    b = gf_mul(c, c); // a^6
    b = gf_mul(b, b); // a^12
    c = gf_mul(b, c); // a^15
    b = gf_mul(b, b); // a^24
    b = gf_mul(b, b); // a^48
    b = gf_mul(b, c); // a^63
    b = gf_mul(b, b); // a^126
    b = gf_mul(a, b); // a^127
    gf_mul(b, b) // a^254
}

/// Division in GF(2^8). `b` must be non-zero (guaranteed by the distinct-x check).
fn gf_div(a: u8, b: u8) -> u8 {
    debug_assert!(b != 0, "divide by zero");
    gf_mul(a, gf_inv(b))
}

/// Evaluates the polynomial with the given coefficients (constant term first) at `x`
/// with Horner's method.
fn evaluate(coefficients: &[u8], x: u8) -> u8 {
    if x == 0 {
        return coefficients[0];
    }
    let mut out = 0u8;
    for &c in coefficients.iter().rev() {
        out = gf_mul(out, x) ^ c;
    }
    out
}

/// Lagrange interpolation of the points `(xs[i], ys[i])`, evaluated at `x`.
fn interpolate(xs: &[u8], ys: &[u8], x: u8) -> u8 {
    let mut result = 0u8;
    for i in 0..xs.len() {
        let mut basis = 1u8;
        for j in 0..xs.len() {
            if i == j {
                continue;
            }
            let num = x ^ xs[j];
            let denom = xs[i] ^ xs[j];
            basis = gf_mul(basis, gf_div(num, denom));
        }
        result ^= gf_mul(ys[i], basis);
    }
    result
}

/// Splits `secret` into `parts` shares, any `threshold` of which rebuild it, using the
/// operating system's CSPRNG for the polynomial coefficients.
///
/// Each share is `secret.len() + 1` bytes: the y values, then the x coordinate `i + 1`
/// for share `i` (as sops does). Requirements, checked in this order as in sops:
/// `parts >= threshold`, `parts <= 255`, `threshold >= 2`, `threshold <= 255`,
/// non-empty secret.
pub fn split(secret: &[u8], parts: usize, threshold: usize) -> Result<Vec<Vec<u8>>, ShamirError> {
    split_with_rng(secret, parts, threshold, &mut rand::rngs::OsRng)
}

/// [`split`] with a caller-supplied random number generator (for tests and known-answer
/// vectors). For each secret byte, in order, `threshold - 1` coefficient bytes are drawn
/// with one `try_fill_bytes` call: the coefficient of `x^1` first.
pub fn split_with_rng<R: RngCore + CryptoRng>(
    secret: &[u8],
    parts: usize,
    threshold: usize,
    rng: &mut R,
) -> Result<Vec<Vec<u8>>, ShamirError> {
    if parts < threshold {
        return Err(ShamirError::PartsLessThanThreshold);
    }
    if parts > 255 {
        return Err(ShamirError::TooManyParts);
    }
    if threshold < 2 {
        return Err(ShamirError::ThresholdTooSmall);
    }
    if threshold > 255 {
        return Err(ShamirError::ThresholdTooLarge);
    }
    if secret.is_empty() {
        return Err(ShamirError::EmptySecret);
    }

    let mut out: Vec<Vec<u8>> = (0..parts)
        .map(|i| {
            let mut share = vec![0u8; secret.len() + SHARE_OVERHEAD];
            share[secret.len()] = (i + 1) as u8;
            share
        })
        .collect();

    let mut coefficients = Zeroizing::new(vec![0u8; threshold]);
    for (idx, &byte) in secret.iter().enumerate() {
        coefficients[0] = byte;
        if rng.try_fill_bytes(&mut coefficients[1..]).is_err() {
            for share in out.iter_mut() {
                share.zeroize();
            }
            return Err(ShamirError::Rng);
        }
        for (i, share) in out.iter_mut().enumerate() {
            share[idx] = evaluate(&coefficients, (i + 1) as u8);
        }
    }
    Ok(out)
}

/// Rebuilds the secret from shares made by [`split`] or by sops/Vault.
///
/// Takes at least two shares of equal length (>= 2 bytes) with distinct x coordinates
/// (last byte); the order does not matter and extra shares beyond the threshold are fine.
/// With fewer shares than the threshold the result is a wrong secret, not an error (the
/// threshold is not recorded in the shares) — callers must check the count themselves,
/// as sops does with `shamir_threshold`.
pub fn combine<S: AsRef<[u8]>>(shares: &[S]) -> Result<Vec<u8>, ShamirError> {
    if shares.len() < 2 {
        return Err(ShamirError::TooFewParts);
    }
    let len = shares[0].as_ref().len();
    if len < 2 {
        return Err(ShamirError::PartsTooShort);
    }
    if shares.iter().any(|s| s.as_ref().len() != len) {
        return Err(ShamirError::DifferentLengths);
    }

    let mut seen = [false; 256];
    let mut xs = Vec::with_capacity(shares.len());
    for share in shares {
        let x = share.as_ref()[len - 1];
        if seen[x as usize] {
            return Err(ShamirError::DuplicatePart);
        }
        seen[x as usize] = true;
        xs.push(x);
    }

    let mut secret = vec![0u8; len - 1];
    let mut ys = Zeroizing::new(vec![0u8; shares.len()]);
    for (idx, out) in secret.iter_mut().enumerate() {
        for (y, share) in ys.iter_mut().zip(shares) {
            *y = share.as_ref()[idx];
        }
        *out = interpolate(&xs, &ys, 0);
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An RNG that replays fixed bytes (cycling), for known-answer tests.
    struct FixedRng(Vec<u8>, usize);
    impl RngCore for FixedRng {
        fn next_u32(&mut self) -> u32 {
            let mut b = [0u8; 4];
            self.fill_bytes(&mut b);
            u32::from_le_bytes(b)
        }
        fn next_u64(&mut self) -> u64 {
            let mut b = [0u8; 8];
            self.fill_bytes(&mut b);
            u64::from_le_bytes(b)
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            for d in dest {
                *d = self.0[self.1 % self.0.len()];
                self.1 += 1;
            }
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }
    impl CryptoRng for FixedRng {}

    struct FailingRng;
    impl RngCore for FailingRng {
        fn next_u32(&mut self) -> u32 {
            0
        }
        fn next_u64(&mut self) -> u64 {
            0
        }
        fn fill_bytes(&mut self, _dest: &mut [u8]) {}
        fn try_fill_bytes(&mut self, _dest: &mut [u8]) -> Result<(), rand::Error> {
            Err(rand::Error::new(std::io::Error::other("no entropy")))
        }
    }
    impl CryptoRng for FailingRng {}

    /// Reference multiplication: schoolbook carry-less product, then reduction by 0x11B.
    fn slow_mul(a: u8, b: u8) -> u8 {
        let mut p: u16 = 0;
        for i in 0..8 {
            if (b >> i) & 1 == 1 {
                p ^= (a as u16) << i;
            }
        }
        for bit in (8..16).rev() {
            if (p >> bit) & 1 == 1 {
                p ^= 0x11B << (bit - 8);
            }
        }
        p as u8
    }

    #[test]
    fn gf_mul_known_answers() {
        // FIPS-197 section 4.2: {57} x {83} = {c1}, {57} x {13} = {fe}.
        assert_eq!(gf_mul(0x57, 0x83), 0xC1);
        assert_eq!(gf_mul(0x57, 0x13), 0xFE);
        assert_eq!(gf_mul(0x02, 0x80), 0x1B);
        assert_eq!(gf_mul(0x03, 0x03), 0x05);
        assert_eq!(gf_mul(0, 0xFF), 0);
        assert_eq!(gf_mul(1, 0xAB), 0xAB);
    }

    #[test]
    fn gf_mul_matches_reference_exhaustively() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                assert_eq!(gf_mul(a, b), slow_mul(a, b), "{a:#x} * {b:#x}");
            }
        }
    }

    #[test]
    fn gf_inverse() {
        // FIPS-197 S-box derivation example: {53}^-1 = {ca}.
        assert_eq!(gf_inv(0x53), 0xCA);
        assert_eq!(gf_inv(1), 1);
        assert_eq!(gf_inv(0), 0);
        for a in 1..=255u8 {
            assert_eq!(gf_mul(a, gf_inv(a)), 1, "{a:#x}");
        }
    }

    #[test]
    fn evaluate_and_interpolate() {
        // p(x) = 0x2A + 3x + 7x^2
        let p = [0x2A, 0x03, 0x07];
        for x in 1..=255u8 {
            let expected = 0x2A ^ gf_mul(3, x) ^ gf_mul(7, gf_mul(x, x));
            assert_eq!(evaluate(&p, x), expected);
        }
        assert_eq!(evaluate(&p, 0), 0x2A);
        let xs = [5u8, 9, 200];
        let ys: Vec<u8> = xs.iter().map(|&x| evaluate(&p, x)).collect();
        assert_eq!(interpolate(&xs, &ys, 0), 0x2A);
        assert_eq!(interpolate(&xs, &ys, 77), evaluate(&p, 77));
    }

    /// Hand-computed: secret 0x2A, threshold 2, slope 0x03.
    /// y(1) = 2A^03 = 29; y(2) = 2A^(03*02 = 06) = 2C; y(3) = 2A^(03*03 = 05) = 2F.
    #[test]
    fn split_known_answer_threshold_2() {
        let shares = split_with_rng(&[0x2A], 3, 2, &mut FixedRng(vec![0x03], 0)).unwrap();
        assert_eq!(shares, vec![vec![0x29, 1], vec![0x2C, 2], vec![0x2F, 3]]);
        assert_eq!(combine(&shares[..2]).unwrap(), vec![0x2A]);
        assert_eq!(
            combine(&[shares[2].clone(), shares[0].clone()]).unwrap(),
            vec![0x2A]
        );
    }

    /// Hand-computed: secret [0x01, 0xFF], threshold 3, coefficients (x, x^2) = (0x02, 0x01)
    /// for byte 0 and (0x80, 0x10) for byte 1.
    /// byte 0: p(x) = 01 + 02x + x^2: p(1) = 01^02^01 = 02; p(2) = 01^04^04 = 01;
    ///         p(3) = 01^06^05 = 02; p(4) = 01^08^10 = 19.
    /// byte 1: q(x) = FF + 80x + 10x^2: q(1) = FF^80^10 = 6F;
    ///         q(2) = FF^(80*2 = 1B)^(10*4 = 40) = A4;
    ///         q(3) = FF^(80*3 = 9B)^(10*5 = 50) = 34;
    ///         q(4) = FF^(80*4 = 36)^(10*10 = 1B) = D2.
    #[test]
    fn split_known_answer_threshold_3() {
        let rng = &mut FixedRng(vec![0x02, 0x01, 0x80, 0x10], 0);
        let shares = split_with_rng(&[0x01, 0xFF], 4, 3, rng).unwrap();
        assert_eq!(shares[0], vec![0x02, 0x6F, 1]);
        assert_eq!(shares[1], vec![0x01, 0xA4, 2]);
        assert_eq!(shares[2], vec![0x02, 0x34, 3]);
        // x = 4: x^2 = 0x10; 0x80*4 = 0x36; 0x10*0x10 = 0x100 mod 0x11B = 0x1B.
        assert_eq!(shares[3], vec![0x19, 0xD2, 4]);
        for subset in [[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]] {
            let s: Vec<&Vec<u8>> = subset.iter().map(|&i| &shares[i]).collect();
            assert_eq!(combine(&s).unwrap(), vec![0x01, 0xFF]);
        }
    }

    /// Shares with x coordinates other than 1..=n (as upstream Vault makes them) combine too.
    #[test]
    fn combine_shares_with_arbitrary_x() {
        // secret 0x2A, slope 0x03, evaluated at x = 0x10 and x = 0xFE.
        let a = vec![0x2A ^ gf_mul(3, 0x10), 0x10];
        let b = vec![0x2A ^ gf_mul(3, 0xFE), 0xFE];
        assert_eq!(combine(&[a, b]).unwrap(), vec![0x2A]);
    }

    #[test]
    fn x_coordinates_are_index_plus_one() {
        let shares = split(b"some secret", 5, 3).unwrap();
        for (i, s) in shares.iter().enumerate() {
            assert_eq!(s.len(), 11 + SHARE_OVERHEAD);
            assert_eq!(s[11] as usize, i + 1);
        }
    }

    fn subsets(n: usize) -> impl Iterator<Item = Vec<usize>> {
        (1u32..(1 << n)).map(move |mask| (0..n).filter(|i| mask & (1 << i) != 0).collect())
    }

    #[test]
    fn round_trip_all_subsets() {
        let secret: Vec<u8> = (0..32u8)
            .map(|i| i.wrapping_mul(37).wrapping_add(11))
            .collect();
        for parts in 2..=6 {
            for threshold in 2..=parts {
                let shares = split(&secret, parts, threshold).unwrap();
                assert_eq!(shares.len(), parts);
                for subset in subsets(parts) {
                    if subset.len() < 2 {
                        continue;
                    }
                    let chosen: Vec<&Vec<u8>> = subset.iter().map(|&i| &shares[i]).collect();
                    let got = combine(&chosen).unwrap();
                    if subset.len() >= threshold {
                        assert_eq!(
                            got, secret,
                            "parts {parts} threshold {threshold} {subset:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn below_threshold_is_not_the_secret() {
        // With threshold 3, two shares interpolate a line, not the quadratic: over 32 bytes
        // the chance of reproducing the secret is negligible.
        let secret = [0x5Au8; 32];
        let shares = split(&secret, 3, 3).unwrap();
        assert_ne!(combine(&shares[..2]).unwrap(), secret.to_vec());
    }

    #[test]
    fn round_trip_lengths_and_max_parts() {
        for len in [1usize, 2, 16, 32, 33, 100] {
            let secret: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let shares = split(&secret, 3, 2).unwrap();
            assert_eq!(combine(&shares).unwrap(), secret);
        }
        let shares = split(b"k", 255, 255).unwrap();
        assert_eq!(shares[254][1], 255);
        assert_eq!(combine(&shares).unwrap(), b"k".to_vec());
        let shares = split(b"k", 255, 2).unwrap();
        assert_eq!(
            combine(&[&shares[17], &shares[254]]).unwrap(),
            b"k".to_vec()
        );
    }

    #[test]
    fn split_errors() {
        assert_eq!(split(b"x", 2, 3), Err(ShamirError::PartsLessThanThreshold));
        assert_eq!(split(b"x", 256, 2), Err(ShamirError::TooManyParts));
        assert_eq!(split(b"x", 3, 1), Err(ShamirError::ThresholdTooSmall));
        assert_eq!(split(b"x", 3, 0), Err(ShamirError::ThresholdTooSmall));
        // parts < threshold is checked first, as in sops.
        assert_eq!(split(b"x", 1, 2), Err(ShamirError::PartsLessThanThreshold));
        assert_eq!(split(b"x", 300, 256), Err(ShamirError::TooManyParts));
        assert_eq!(split(b"", 3, 2), Err(ShamirError::EmptySecret));
        assert_eq!(
            split_with_rng(b"x", 3, 2, &mut FailingRng),
            Err(ShamirError::Rng)
        );
        assert_eq!(
            split(b"x", 2, 3).unwrap_err().to_string(),
            "parts cannot be less than threshold"
        );
    }

    #[test]
    fn combine_errors() {
        let empty: [Vec<u8>; 0] = [];
        assert_eq!(combine(&empty), Err(ShamirError::TooFewParts));
        assert_eq!(combine(&[vec![1, 2]]), Err(ShamirError::TooFewParts));
        assert_eq!(
            combine(&[vec![1], vec![2]]),
            Err(ShamirError::PartsTooShort)
        );
        assert_eq!(
            combine(&[vec![1, 2], vec![1, 2, 3]]),
            Err(ShamirError::DifferentLengths)
        );
        assert_eq!(
            combine(&[vec![1, 2], vec![3, 2]]),
            Err(ShamirError::DuplicatePart)
        );
        assert_eq!(
            combine(&[vec![1, 1], vec![3, 2], vec![5, 1]]),
            Err(ShamirError::DuplicatePart)
        );
        assert_eq!(
            combine(&[vec![1, 2], vec![3, 2]]).unwrap_err().to_string(),
            "duplicate part detected"
        );
    }
}
