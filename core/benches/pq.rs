//! Cost of wrapping and unwrapping a sops data key (32 bytes, armored age file, as in a sops
//! file's `enc`) to one post-quantum recipient compared with one X25519 recipient, and of
//! wrapping to the tag recipients. Prints the time per operation; not a pass/fail test.
//! The budget of issue #7: at most 1 ms more per file for post-quantum than for X25519.
//!
//! `cargo bench -p keytap-core --bench pq` (optimised build).

use std::hint::black_box;
use std::io::{Read, Write};
use std::str::FromStr;
use std::time::{Duration, Instant};

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use keytap_core::keys::pq::PqIdentity;
use keytap_core::keys::tag::TagRecipient;
use keytap_p256::software::{SoftwareHybridTagKey, SoftwareP256Key};

const DATA_KEY: [u8; 32] = [7; 32];

fn wrap(recipient: &dyn age::Recipient) -> String {
    let e = age::Encryptor::with_recipients(std::iter::once(recipient)).unwrap();
    let mut out = vec![];
    let armor = ArmoredWriter::wrap_output(&mut out, Format::AsciiArmor).unwrap();
    let mut w = e.wrap_output(armor).unwrap();
    w.write_all(&DATA_KEY).unwrap();
    w.finish().and_then(|a| a.finish()).unwrap();
    String::from_utf8(out).unwrap()
}

/// As keytap reads an `enc`: `Decryptor::new_buffered` over the armored reader. (The
/// unbuffered `Decryptor::new` re-parses the header as it grows and costs about 0.5 ms more
/// on the 2 KB header of a post-quantum file: the last line of the report.)
fn unwrap(enc: &str, identity: &dyn age::Identity) -> Vec<u8> {
    let d = age::Decryptor::new_buffered(ArmoredReader::new(enc.as_bytes())).unwrap();
    let mut r = d.decrypt(std::iter::once(identity)).unwrap();
    let mut out = vec![];
    r.read_to_end(&mut out).unwrap();
    out
}

/// Mean time per call of `f` over enough calls to take about half a second.
fn time(mut f: impl FnMut()) -> Duration {
    f();
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < Duration::from_millis(500) {
        f();
        n += 1;
    }
    start.elapsed() / n
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let x_id = age::x25519::Identity::generate();
    let x_r = x_id.to_public();
    let pq_id = PqIdentity::generate();
    let pq_r = pq_id.to_public();
    let x_enc = wrap(&x_r);
    let pq_enc = wrap(&pq_r);
    assert_eq!(unwrap(&x_enc, &x_id), DATA_KEY);
    assert_eq!(unwrap(&pq_enc, &pq_id), DATA_KEY);

    let x_wrap = time(|| {
        black_box(wrap(&x_r));
    });
    let pq_wrap = time(|| {
        black_box(wrap(&pq_r));
    });
    let x_unwrap = time(|| {
        black_box(unwrap(&x_enc, &x_id));
    });
    let pq_unwrap = time(|| {
        black_box(unwrap(&pq_enc, &pq_id));
    });
    let (dk, ek) = <ml_kem::MlKem768 as ml_kem::KemCore>::generate(&mut rand::rngs::OsRng);
    let (ct, _) = ml_kem::kem::Encapsulate::encapsulate(&ek, &mut rand::rngs::OsRng).unwrap();
    let mlkem_decap = time(|| {
        black_box(ml_kem::kem::Decapsulate::decapsulate(&dk, &ct).unwrap());
    });
    let mlkem_encap = time(|| {
        black_box(ml_kem::kem::Encapsulate::encapsulate(&ek, &mut rand::rngs::OsRng).unwrap());
    });
    let fk = age_core::format::FileKey::new(Box::new([1; 16]));
    let (stanzas, _) = age::Recipient::wrap_file_key(&pq_r, &fk).unwrap();
    let pq_stanza = time(|| {
        black_box(
            age::Identity::unwrap_stanzas(&pq_id, &stanzas)
                .unwrap()
                .unwrap(),
        );
    });
    let pq_header_unbuffered = time(|| {
        black_box(age::Decryptor::new(ArmoredReader::new(pq_enc.as_bytes())).unwrap());
    });
    let pq_parse = time(|| {
        black_box(PqIdentity::from_str(&pq_id.to_secret_string()).unwrap());
    });

    let tag = TagRecipient::from_str(&keytap_p256::tag::encode_recipient(
        SoftwareP256Key::generate(&mut rand::rngs::OsRng).public(),
    ))
    .unwrap();
    let tagpq = TagRecipient::from_str(
        &SoftwareHybridTagKey::generate(&mut rand::rngs::OsRng)
            .recipient()
            .encode(),
    )
    .unwrap();
    let tag_wrap = time(|| {
        black_box(wrap(&tag));
    });
    let tagpq_wrap = time(|| {
        black_box(wrap(&tagpq));
    });

    println!("wrap   X25519          {:9.1} us", us(x_wrap));
    println!("wrap   mlkem768x25519  {:9.1} us", us(pq_wrap));
    println!("wrap   p256tag         {:9.1} us", us(tag_wrap));
    println!("wrap   mlkem768p256tag {:9.1} us", us(tagpq_wrap));
    println!("unwrap X25519          {:9.1} us", us(x_unwrap));
    println!("unwrap mlkem768x25519  {:9.1} us", us(pq_unwrap));
    println!(
        "parse  AGE-SECRET-KEY-PQ-1 identity {:9.1} us",
        us(pq_parse)
    );
    println!(
        "unwrap mlkem768x25519 stanza alone {:9.1} us",
        us(pq_stanza)
    );
    println!(
        "ML-KEM-768 encapsulate (ml-kem crate) {:9.1} us",
        us(mlkem_encap)
    );
    println!(
        "ML-KEM-768 decapsulate (ml-kem crate) {:9.1} us",
        us(mlkem_decap)
    );
    let extra = pq_wrap.saturating_sub(x_wrap) + pq_unwrap.saturating_sub(x_unwrap);
    println!(
        "post-quantum costs {:.1} us more than X25519 per file (wrap + unwrap; budget 1000 us)",
        us(extra)
    );
    println!(
        "(parsing that header with the unbuffered age::Decryptor::new instead: {:.1} us)",
        us(pq_header_unbuffered)
    );
}
