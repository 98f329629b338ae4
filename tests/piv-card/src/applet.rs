//! The YubiKey PIV applet: one command APDU in, one response APDU out.
//!
//! Written from NIST SP 800-73-4 (part 2: SELECT, GET DATA, PUT DATA, VERIFY, CHANGE
//! REFERENCE DATA, RESET RETRY COUNTER, GENERAL AUTHENTICATE, GENERATE ASYMMETRIC KEY PAIR,
//! command chaining, GET RESPONSE) and Yubico's PIV extensions (GET VERSION `FD`, GET
//! SERIAL `F8`, SET MANAGEMENT KEY `FF`, GET METADATA `F7`), answering what the `yubikey`
//! crate and age-plugin-yubikey send. P-256 keys only.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
use rand::RngCore;

use crate::state::{self, CardState, SlotKey};

/// SW 90 00.
pub const SW_OK: u16 = 0x9000;
const SW_WRONG_LENGTH: u16 = 0x6700;
const SW_SECURITY: u16 = 0x6982;
const SW_BLOCKED: u16 = 0x6983;
const SW_WRONG_DATA: u16 = 0x6a80;
const SW_NOT_FOUND: u16 = 0x6a82;
const SW_REF_NOT_FOUND: u16 = 0x6a88;
const SW_WRONG_P1P2: u16 = 0x6b00;
const SW_INS_NOT_SUPPORTED: u16 = 0x6d00;
const SW_CLA_NOT_SUPPORTED: u16 = 0x6e00;

/// The PIV application identifier (the first 5 bytes are enough to select it).
pub const PIV_AID: [u8; 5] = [0xa0, 0x00, 0x00, 0x03, 0x08];

const OBJ_PRINTED: u32 = 0x5fc109;
const SLOT_MGM: u8 = 0x9b;
const SLOT_PIN: u8 = 0x80;
const SLOT_PUK: u8 = 0x81;

/// What the tests count.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Every VERIFY APDU for the PIN (status queries included).
    pub verify: u64,
    /// VERIFY APDUs carrying a PIN (real attempts).
    pub verify_pin: u64,
    /// ECDH operations done.
    pub ecdh: u64,
    /// Signatures made.
    pub sign: u64,
    /// Touches the card waited for (touch policy always / cached).
    pub touch: u64,
}

impl Counters {
    /// `name value` lines.
    pub fn render(&self) -> String {
        format!(
            "verify {}\nverify_pin {}\necdh {}\nsign {}\ntouch {}\n",
            self.verify, self.verify_pin, self.ecdh, self.sign, self.touch
        )
    }

    /// Parses [`Counters::render`]'s output.
    pub fn parse(text: &str) -> Counters {
        let mut c = Counters::default();
        for line in text.lines() {
            let mut it = line.split_whitespace();
            let (Some(k), Some(v)) = (it.next(), it.next().and_then(|v| v.parse().ok())) else {
                continue;
            };
            match k {
                "verify" => c.verify = v,
                "verify_pin" => c.verify_pin = v,
                "ecdh" => c.ecdh = v,
                "sign" => c.sign = v,
                "touch" => c.touch = v,
                _ => {}
            }
        }
        c
    }
}

/// A card: persistent state plus what a reset forgets.
pub struct Applet {
    /// The persistent state.
    pub state: CardState,
    /// Whether `state` changed since the last [`Applet::take_dirty`].
    dirty: bool,
    /// Counters for the tests.
    pub counters: Counters,
    /// How long a touch takes.
    pub touch_delay: Duration,
    // Volatile (security status): cleared by reset and power off.
    selected: bool,
    pin_verified: bool,
    /// The PIN was verified and no private-key operation used it since (PIN policy always).
    pin_fresh: bool,
    mgm_authenticated: bool,
    witness: Option<Vec<u8>>,
    last_touch: Option<Instant>,
    chain: Option<(u8, u8, u8, Vec<u8>)>,
    pending: Vec<u8>,
}

impl Applet {
    /// A powered-off card with this state.
    pub fn new(state: CardState) -> Self {
        Applet {
            state,
            dirty: false,
            counters: Counters::default(),
            touch_delay: Duration::ZERO,
            selected: false,
            pin_verified: false,
            pin_fresh: false,
            mgm_authenticated: false,
            witness: None,
            last_touch: None,
            chain: None,
            pending: Vec::new(),
        }
    }

    /// Whether the persistent state changed since the last call.
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// Power off, power on or reset: the security status is lost.
    pub fn reset(&mut self) {
        self.selected = false;
        self.pin_verified = false;
        self.pin_fresh = false;
        self.mgm_authenticated = false;
        self.witness = None;
        self.last_touch = None;
        self.chain = None;
        self.pending.clear();
    }

    /// Processes one command APDU and returns the response APDU (data + SW1 SW2).
    pub fn process(&mut self, apdu: &[u8]) -> Vec<u8> {
        let (data, sw) = self.dispatch(apdu);
        self.respond(data, sw)
    }

    /// Sends at most 256 bytes, keeping the rest for GET RESPONSE (`61 xx`).
    fn respond(&mut self, data: Vec<u8>, sw: u16) -> Vec<u8> {
        if data.len() > 256 {
            let mut out = data[..256].to_vec();
            self.pending = data[256..].to_vec();
            let left = self.pending.len().min(256);
            out.extend_from_slice(&[0x61, if left == 256 { 0 } else { left as u8 }]);
            out
        } else {
            let mut out = data;
            out.extend_from_slice(&sw.to_be_bytes());
            out
        }
    }

    fn dispatch(&mut self, apdu: &[u8]) -> (Vec<u8>, u16) {
        if apdu.len() < 4 {
            return (vec![], SW_WRONG_LENGTH);
        }
        let (cla, ins, p1, p2) = (apdu[0], apdu[1], apdu[2], apdu[3]);
        let data: Vec<u8> = if apdu.len() > 5 {
            let lc = apdu[4] as usize;
            if apdu.len() < 5 + lc {
                return (vec![], SW_WRONG_LENGTH);
            }
            apdu[5..5 + lc].to_vec()
        } else {
            vec![]
        };
        if cla & !0x10 != 0 {
            return (vec![], SW_CLA_NOT_SUPPORTED);
        }
        if ins == 0xc0 {
            // GET RESPONSE
            let take = self.pending.len().min(256);
            let out: Vec<u8> = self.pending.drain(..take).collect();
            let left = self.pending.len().min(256);
            return if self.pending.is_empty() {
                (out, SW_OK)
            } else {
                (out, 0x6100 | if left == 256 { 0 } else { left as u16 })
            };
        }
        self.pending.clear();
        // Command chaining: CLA 10 for every part but the last.
        let data = match self.chain.take() {
            Some((i, a, b, mut buf)) if (i, a, b) == (ins, p1, p2) => {
                buf.extend_from_slice(&data);
                buf
            }
            _ => data,
        };
        if cla & 0x10 != 0 {
            self.chain = Some((ins, p1, p2, data));
            return (vec![], SW_OK);
        }
        if ins == 0xa4 {
            return self.select(p1, &data);
        }
        if !self.selected {
            return (vec![], SW_INS_NOT_SUPPORTED);
        }
        match ins {
            0xfd => (self.state.version.to_vec(), SW_OK),
            0xf8 => (self.state.serial.to_be_bytes().to_vec(), SW_OK),
            0x20 => self.verify(p1, p2, &data),
            0x24 => self.change(p2, &data, false),
            0x2c => self.change(p2, &data, true),
            0xff => self.set_mgm_key(p1, p2, &data),
            0x87 => self.authenticate(p1, p2, &data),
            0x47 => self.generate(p2, &data),
            0xcb => self.get_data(p1, p2, &data),
            0xdb => self.put_data(p1, p2, &data),
            0xf7 => self.metadata(p2),
            _ => (vec![], SW_INS_NOT_SUPPORTED),
        }
    }

    fn select(&mut self, p1: u8, aid: &[u8]) -> (Vec<u8>, u16) {
        if p1 != 0x04 || aid.len() < PIV_AID.len() || aid[..PIV_AID.len()] != PIV_AID {
            return (vec![], SW_NOT_FOUND);
        }
        self.selected = true;
        // Application property template: AID + coexistent tag allocation authority.
        let mut out = vec![0x61, 0x11, 0x4f, 0x06, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00];
        out.extend_from_slice(&[0x79, 0x07, 0x4f, 0x05]);
        out.extend_from_slice(&PIV_AID);
        (out, SW_OK)
    }

    fn mark(&mut self) {
        self.dirty = true;
    }

    fn verify(&mut self, p1: u8, p2: u8, data: &[u8]) -> (Vec<u8>, u16) {
        if p2 != SLOT_PIN {
            return (vec![], SW_REF_NOT_FOUND);
        }
        self.counters.verify += 1;
        if p1 == 0xff {
            // Reset the verification status.
            self.forget_pin();
            return (vec![], SW_OK);
        }
        if data.is_empty() {
            let verified = self.pin_verified;
            return (
                vec![],
                if verified {
                    SW_OK
                } else {
                    tries_left(self.state.pin_retries)
                },
            );
        }
        self.counters.verify_pin += 1;
        if data.len() != 8 {
            return (vec![], SW_WRONG_DATA);
        }
        if self.state.pin_retries == 0 {
            return (vec![], SW_BLOCKED);
        }
        if unpad(data) == self.state.pin_bytes() {
            if self.state.pin_retries != self.state.pin_retries_max {
                self.state.pin_retries = self.state.pin_retries_max;
                self.mark();
            }
            self.pin_verified = true;
            self.pin_fresh = true;
            (vec![], SW_OK)
        } else {
            self.state.pin_retries -= 1;
            self.forget_pin();
            self.mark();
            (vec![], tries_left(self.state.pin_retries))
        }
    }

    /// The PIN is no longer verified.
    fn forget_pin(&mut self) {
        self.pin_verified = false;
        self.pin_fresh = false;
    }

    /// CHANGE REFERENCE DATA (p2: the PIN or the PUK) and RESET RETRY COUNTER (`reset`:
    /// the PUK unblocks the PIN): the current PIN or PUK (`reset`: the PUK) and a new one,
    /// each padded to 8 bytes with 0xff, the new one 6 to 8 bytes long. A wrong current
    /// value costs one of its tries.
    fn change(&mut self, p2: u8, data: &[u8], reset: bool) -> (Vec<u8>, u16) {
        if p2 != SLOT_PIN && (reset || p2 != SLOT_PUK) {
            return (vec![], SW_REF_NOT_FOUND);
        }
        if data.len() != 16 {
            return (vec![], SW_WRONG_DATA);
        }
        let (old, new) = (unpad(&data[..8]), unpad(&data[8..]));
        if !(6..=8).contains(&new.len()) {
            return (vec![], SW_WRONG_DATA);
        }
        // Whose value is checked, and whose is set.
        let checks_pin = p2 == SLOT_PIN && !reset;
        let state = &mut self.state;
        let (current, retries) = if checks_pin {
            (state.pin_bytes(), &mut state.pin_retries)
        } else {
            (state.puk_bytes(), &mut state.puk_retries)
        };
        if *retries == 0 {
            return (vec![], SW_BLOCKED);
        }
        if old != current {
            *retries -= 1;
            let left = *retries;
            if checks_pin {
                self.forget_pin();
            }
            self.mark();
            return (vec![], tries_left(left));
        }
        if reset {
            state.puk_retries = state.puk_retries_max;
        }
        if p2 == SLOT_PIN {
            state.pin = hex::encode(&new);
            state.pin_retries = state.pin_retries_max;
        } else {
            state.puk = hex::encode(&new);
            state.puk_retries = state.puk_retries_max;
        }
        self.mark();
        (vec![], SW_OK)
    }

    fn set_mgm_key(&mut self, p1: u8, p2: u8, data: &[u8]) -> (Vec<u8>, u16) {
        if p1 != 0xff || (p2 != 0xff && p2 != 0xfe) {
            return (vec![], SW_WRONG_P1P2);
        }
        if !self.mgm_authenticated {
            return (vec![], SW_SECURITY);
        }
        if data.len() < 3 || data[1] != SLOT_MGM || data.len() != 3 + data[2] as usize {
            return (vec![], SW_WRONG_DATA);
        }
        let (alg, key) = (data[0], &data[3..]);
        if mgm_key_len(alg) != Some(key.len()) {
            return (vec![], SW_WRONG_DATA);
        }
        self.state.mgm_algorithm = alg;
        self.state.mgm_key = hex::encode(key);
        self.mark();
        (vec![], SW_OK)
    }

    fn authenticate(&mut self, p1: u8, p2: u8, data: &[u8]) -> (Vec<u8>, u16) {
        // Dynamic authentication template.
        let Some(inner) = template(data, 0x7c) else {
            return (vec![], SW_WRONG_DATA);
        };
        if p2 == SLOT_MGM {
            self.mgm_auth(p1, &inner)
        } else {
            self.key_operation(p1, p2, &inner)
        }
    }

    /// Mutual authentication with the management key: witness (80), then the host's
    /// decrypted witness (80) with its challenge (81), answered with the encrypted challenge
    /// (82).
    fn mgm_auth(&mut self, alg: u8, inner: &BTreeMap<u8, Vec<u8>>) -> (Vec<u8>, u16) {
        if alg != self.state.mgm_algorithm {
            return (vec![], SW_WRONG_P1P2);
        }
        let key = self.state.mgm_key_bytes();
        let block = if alg == state::ALG_3DES { 8 } else { 16 };
        match (inner.get(&0x80), inner.get(&0x81)) {
            (Some(w), None) if w.is_empty() => {
                let mut witness = vec![0; block];
                rand::rngs::OsRng.fill_bytes(&mut witness);
                let encrypted = crypt_block(alg, &key, &witness, true);
                self.witness = Some(witness);
                self.mgm_authenticated = false;
                (tlv(0x7c, &tlv(0x80, &encrypted)), SW_OK)
            }
            (Some(w), Some(challenge)) if !w.is_empty() => {
                let expected = self.witness.take();
                if expected.as_deref() != Some(w.as_slice()) || challenge.len() != block {
                    self.mgm_authenticated = false;
                    return (vec![], SW_SECURITY);
                }
                self.mgm_authenticated = true;
                let answer = crypt_block(alg, &key, challenge, true);
                (tlv(0x7c, &tlv(0x82, &answer)), SW_OK)
            }
            _ => (vec![], SW_WRONG_DATA),
        }
    }

    /// Whether the PIN and touch policies of `key` allow a private-key operation now.
    fn authorize(&mut self, key: &SlotKey) -> Result<(), u16> {
        match key.pin_policy {
            1 => {}
            3 => {
                if !self.pin_fresh {
                    return Err(SW_SECURITY);
                }
            }
            _ => {
                if !self.pin_verified {
                    return Err(SW_SECURITY);
                }
            }
        }
        let touch = match key.touch_policy {
            2 => true,
            3 => self
                .last_touch
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(15)),
            _ => false,
        };
        if touch {
            // The card blinks until touched; here the touch comes after `touch_delay`.
            std::thread::sleep(self.touch_delay);
            self.counters.touch += 1;
            self.last_touch = Some(Instant::now());
        }
        self.pin_fresh = false;
        Ok(())
    }

    fn key_operation(
        &mut self,
        alg: u8,
        slot: u8,
        inner: &BTreeMap<u8, Vec<u8>>,
    ) -> (Vec<u8>, u16) {
        let Some(key) = self.state.key(slot).cloned() else {
            return (vec![], SW_NOT_FOUND);
        };
        if alg != key.algorithm || alg != state::ALG_ECCP256 {
            return (vec![], SW_WRONG_P1P2);
        }
        let Some(secret) = key.secret_key() else {
            return (vec![], SW_WRONG_DATA);
        };
        if !inner.get(&0x82).is_some_and(|v| v.is_empty()) {
            return (vec![], SW_WRONG_DATA);
        }
        if let Some(point) = inner.get(&0x85) {
            let Some(peer) = p256::EncodedPoint::from_bytes(point)
                .ok()
                .and_then(|p| p256::PublicKey::from_encoded_point(&p).into_option())
            else {
                return (vec![], SW_WRONG_DATA);
            };
            if let Err(sw) = self.authorize(&key) {
                return (vec![], sw);
            }
            let shared = p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), peer.as_affine());
            self.counters.ecdh += 1;
            (tlv(0x7c, &tlv(0x82, shared.raw_secret_bytes())), SW_OK)
        } else if let Some(hash) = inner.get(&0x81) {
            if hash.len() > 32 {
                return (vec![], SW_WRONG_DATA);
            }
            if let Err(sw) = self.authorize(&key) {
                return (vec![], sw);
            }
            let mut prehash = [0u8; 32];
            prehash[32 - hash.len()..].copy_from_slice(hash);
            let signer = p256::ecdsa::SigningKey::from(&secret);
            let sig: p256::ecdsa::Signature = match signer.sign_prehash(&prehash) {
                Ok(s) => s,
                Err(_) => return (vec![], SW_WRONG_DATA),
            };
            self.counters.sign += 1;
            (tlv(0x7c, &tlv(0x82, sig.to_der().as_bytes())), SW_OK)
        } else {
            (vec![], SW_WRONG_DATA)
        }
    }

    fn generate(&mut self, slot: u8, data: &[u8]) -> (Vec<u8>, u16) {
        if !is_key_slot(slot) {
            return (vec![], SW_REF_NOT_FOUND);
        }
        if !self.mgm_authenticated {
            return (vec![], SW_SECURITY);
        }
        // Asymmetric key template.
        let Some(params) = template(data, 0xac) else {
            return (vec![], SW_WRONG_DATA);
        };
        let alg = params.get(&0x80).and_then(|v| v.first().copied());
        if alg != Some(state::ALG_ECCP256) {
            return (vec![], SW_WRONG_DATA);
        }
        let default_pin = if slot == 0x9c {
            3
        } else if slot == 0x9e {
            1
        } else {
            2
        };
        let pin_policy = match params.get(&0xaa).and_then(|v| v.first().copied()) {
            None | Some(0) => default_pin,
            Some(p @ 1..=3) => p,
            Some(_) => return (vec![], SW_WRONG_DATA),
        };
        let touch_policy = match params.get(&0xab).and_then(|v| v.first().copied()) {
            None | Some(0) => 1,
            Some(t @ 1..=3) => t,
            Some(_) => return (vec![], SW_WRONG_DATA),
        };
        let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let point = secret.public_key().to_encoded_point(false);
        self.state.keys.insert(
            format!("{slot:02x}"),
            SlotKey {
                algorithm: state::ALG_ECCP256,
                secret: hex::encode(secret.to_bytes()),
                pin_policy,
                touch_policy,
                origin: 1,
            },
        );
        self.mark();
        (tlv(0x7f49, &tlv(0x86, point.as_bytes())), SW_OK)
    }

    fn object_id(data: &[u8]) -> Option<(u32, usize)> {
        // 5C 03 id (also 5C 01 7E, the discovery object, and 5C 02 7F61)
        if data.len() < 2 || data[0] != 0x5c {
            return None;
        }
        let len = data[1] as usize;
        if len == 0 || len > 3 || data.len() < 2 + len {
            return None;
        }
        let id = data[2..2 + len]
            .iter()
            .fold(0u32, |a, b| (a << 8) | *b as u32);
        Some((id, 2 + len))
    }

    fn get_data(&mut self, p1: u8, p2: u8, data: &[u8]) -> (Vec<u8>, u16) {
        if (p1, p2) != (0x3f, 0xff) {
            return (vec![], SW_WRONG_P1P2);
        }
        let Some((id, _)) = Self::object_id(data) else {
            return (vec![], SW_WRONG_DATA);
        };
        if id == OBJ_PRINTED && !self.pin_verified {
            return (vec![], SW_SECURITY);
        }
        match self.state.object(id) {
            Some(value) => (tlv(0x53, &value), SW_OK),
            None => (vec![], SW_NOT_FOUND),
        }
    }

    fn put_data(&mut self, p1: u8, p2: u8, data: &[u8]) -> (Vec<u8>, u16) {
        if (p1, p2) != (0x3f, 0xff) {
            return (vec![], SW_WRONG_P1P2);
        }
        if !self.mgm_authenticated {
            return (vec![], SW_SECURITY);
        }
        let Some((id, used)) = Self::object_id(data) else {
            return (vec![], SW_WRONG_DATA);
        };
        let Some((tag, value, rest)) = parse_tlv(&data[used..]) else {
            return (vec![], SW_WRONG_DATA);
        };
        if tag != 0x53 || !rest.is_empty() {
            return (vec![], SW_WRONG_DATA);
        }
        if value.len() > 3052 {
            return (vec![], SW_WRONG_LENGTH);
        }
        self.state.set_object(id, &value);
        self.mark();
        (vec![], SW_OK)
    }

    fn metadata(&mut self, slot: u8) -> (Vec<u8>, u16) {
        let mut out = Vec::new();
        match slot {
            SLOT_PIN | SLOT_PUK => {
                let (current, default, max, left) = if slot == SLOT_PIN {
                    (
                        self.state.pin_bytes(),
                        state::DEFAULT_PIN,
                        self.state.pin_retries_max,
                        self.state.pin_retries,
                    )
                } else {
                    (
                        self.state.puk_bytes(),
                        state::DEFAULT_PUK,
                        self.state.puk_retries_max,
                        self.state.puk_retries,
                    )
                };
                out.extend(tlv(0x01, &[0xff]));
                out.extend(tlv(0x05, &[(current == default) as u8]));
                out.extend(tlv(0x06, &[max, left]));
            }
            SLOT_MGM => {
                let default = self.state.mgm_algorithm == state::ALG_3DES
                    && self.state.mgm_key_bytes() == state::DEFAULT_MGM_KEY;
                out.extend(tlv(0x01, &[self.state.mgm_algorithm]));
                out.extend(tlv(0x02, &[0x00, 0x01]));
                out.extend(tlv(0x05, &[default as u8]));
            }
            _ => {
                let Some(key) = self.state.key(slot) else {
                    return (vec![], SW_REF_NOT_FOUND);
                };
                let Some(secret) = key.secret_key() else {
                    return (vec![], SW_WRONG_DATA);
                };
                out.extend(tlv(0x01, &[key.algorithm]));
                out.extend(tlv(0x02, &[key.pin_policy, key.touch_policy]));
                out.extend(tlv(0x03, &[key.origin]));
                let point = secret.public_key().to_encoded_point(false);
                out.extend(tlv(0x04, &tlv(0x86, point.as_bytes())));
            }
        }
        (out, SW_OK)
    }
}

fn is_key_slot(slot: u8) -> bool {
    matches!(slot, 0x9a | 0x9c | 0x9d | 0x9e | 0x82..=0x95)
}

fn mgm_key_len(alg: u8) -> Option<usize> {
    match alg {
        state::ALG_3DES => Some(24),
        state::ALG_AES128 => Some(16),
        state::ALG_AES192 => Some(24),
        state::ALG_AES256 => Some(32),
        _ => None,
    }
}

/// Encrypts (or decrypts) one block with the management key.
pub fn crypt_block(alg: u8, key: &[u8], block: &[u8], encrypt: bool) -> Vec<u8> {
    use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
    let mut buf = block.to_vec();
    macro_rules! run {
        ($c:ty) => {{
            let c = <$c>::new_from_slice(key).expect("key length checked");
            let b = aes::cipher::generic_array::GenericArray::from_mut_slice(&mut buf);
            if encrypt {
                c.encrypt_block(b)
            } else {
                c.decrypt_block(b)
            }
        }};
    }
    match alg {
        state::ALG_3DES => run!(des::TdesEde3),
        state::ALG_AES128 => run!(aes::Aes128),
        state::ALG_AES192 => run!(aes::Aes192),
        _ => run!(aes::Aes256),
    }
    buf
}

/// Strips the FF padding of a PIN or PUK block.
/// The status of a wrong PIN or PUK with `left` tries left: blocked, or 63 CX.
fn tries_left(left: u8) -> u16 {
    if left == 0 {
        SW_BLOCKED
    } else {
        0x63c0 | left as u16
    }
}

fn unpad(block: &[u8]) -> Vec<u8> {
    let end = block.iter().position(|&b| b == 0xff).unwrap_or(block.len());
    block[..end].to_vec()
}

/// BER-TLV with one- or two-byte tags (0x7F49) and definite lengths.
pub fn tlv(tag: u16, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 5);
    if tag > 0xff {
        out.extend_from_slice(&tag.to_be_bytes());
    } else {
        out.push(tag as u8);
    }
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(value);
    out
}

/// Parses one TLV with a one-byte tag: (tag, value, rest).
pub fn parse_tlv(data: &[u8]) -> Option<(u8, Vec<u8>, &[u8])> {
    let (&tag, rest) = data.split_first()?;
    let (&l0, rest) = rest.split_first()?;
    let (len, rest) = match l0 {
        0..=0x7f => (l0 as usize, rest),
        0x81 => (*rest.first()? as usize, &rest[1..]),
        0x82 => {
            if rest.len() < 2 {
                return None;
            }
            (((rest[0] as usize) << 8) | rest[1] as usize, &rest[2..])
        }
        _ => return None,
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, rest[..len].to_vec(), &rest[len..]))
}

/// The TLVs inside the template with tag `tag` of `data`, by tag.
fn template(data: &[u8], tag: u8) -> Option<BTreeMap<u8, Vec<u8>>> {
    let (_, value) = parse_tlvs(data)?.into_iter().find(|(t, _)| *t == tag)?;
    Some(parse_tlvs(&value)?.into_iter().collect())
}

/// Parses a sequence of one-byte-tag TLVs.
pub fn parse_tlvs(mut data: &[u8]) -> Option<Vec<(u8, Vec<u8>)>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let (t, v, rest) = parse_tlv(data)?;
        out.push((t, v));
        data = rest;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card() -> Applet {
        let mut a = Applet::new(CardState::factory(12345678));
        assert_eq!(
            a.process(&[0, 0xa4, 4, 0, 5, 0xa0, 0, 0, 3, 8])[..2],
            [0x61, 0x11]
        );
        a
    }

    fn sw(r: &[u8]) -> u16 {
        u16::from_be_bytes([r[r.len() - 2], r[r.len() - 1]])
    }

    fn verify(a: &mut Applet, pin: &[u8]) -> u16 {
        let mut apdu = vec![0, 0x20, 0, 0x80, 8];
        let mut block = [0xff; 8];
        block[..pin.len()].copy_from_slice(pin);
        apdu.extend_from_slice(&block);
        sw(&a.process(&apdu))
    }

    fn mgm_auth(a: &mut Applet, key: &[u8]) -> u16 {
        let r = a.process(&[0, 0x87, 3, 0x9b, 4, 0x7c, 2, 0x80, 0]);
        assert_eq!(sw(&r), SW_OK);
        let w = crypt_block(3, key, &r[4..12], false);
        let mut apdu = vec![0, 0x87, 3, 0x9b, 22, 0x7c, 20, 0x80, 8];
        apdu.extend_from_slice(&w);
        apdu.extend_from_slice(&[0x81, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
        let r = a.process(&apdu);
        if sw(&r) == SW_OK {
            assert_eq!(
                r[4..12],
                crypt_block(3, key, &[1, 2, 3, 4, 5, 6, 7, 8], true)[..]
            );
        }
        sw(&r)
    }

    #[test]
    fn version_serial() {
        let mut a = card();
        assert_eq!(a.process(&[0, 0xfd, 0, 0, 0]), vec![5, 4, 3, 0x90, 0]);
        assert_eq!(
            a.process(&[0, 0xf8, 0, 0, 0]),
            vec![0, 0xbc, 0x61, 0x4e, 0x90, 0]
        );
    }

    #[test]
    fn pin_retries_and_block() {
        let mut a = card();
        assert_eq!(sw(&a.process(&[0, 0x20, 0, 0x80, 0])), 0x63c3);
        assert_eq!(verify(&mut a, b"000000"), 0x63c2);
        assert_eq!(verify(&mut a, b"123456"), SW_OK);
        assert_eq!(sw(&a.process(&[0, 0x20, 0, 0x80, 0])), SW_OK);
        assert_eq!(a.state.pin_retries, 3);
        for left in [2u16, 1] {
            assert_eq!(verify(&mut a, b"000000"), 0x63c0 | left);
        }
        assert_eq!(verify(&mut a, b"000000"), SW_BLOCKED);
        assert_eq!(verify(&mut a, b"123456"), SW_BLOCKED);
        // Unblock with the PUK.
        let mut apdu = vec![0, 0x2c, 0, 0x80, 16];
        apdu.extend_from_slice(b"12345678");
        apdu.extend_from_slice(b"654321\xff\xff");
        assert_eq!(sw(&a.process(&apdu)), SW_OK);
        assert_eq!(verify(&mut a, b"654321"), SW_OK);
        assert_eq!(a.counters.verify_pin, 7);
    }

    #[test]
    fn generate_ecdh_sign_and_objects() {
        let mut a = card();
        // Not authenticated.
        let gen = [
            0, 0x47, 0, 0x82, 11, 0xac, 9, 0x80, 1, 0x11, 0xaa, 1, 2, 0xab, 1, 2,
        ];
        assert_eq!(sw(&a.process(&gen)), SW_SECURITY);
        let mut wrong = state::DEFAULT_MGM_KEY;
        wrong[0] ^= 2; // not the DES parity bit
        assert_eq!(mgm_auth(&mut a, &wrong), SW_SECURITY);
        assert_eq!(mgm_auth(&mut a, &state::DEFAULT_MGM_KEY), SW_OK);
        let r = a.process(&gen);
        assert_eq!(sw(&r), SW_OK);
        assert_eq!(r[..5], [0x7f, 0x49, 0x43, 0x86, 0x41]);
        let pk = p256::PublicKey::from_sec1_bytes(&r[5..70]).unwrap();

        let eph = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let mut ecdh = vec![0, 0x87, 0x11, 0x82, 0x47, 0x7c, 0x45, 0x82, 0, 0x85, 0x41];
        ecdh.extend_from_slice(eph.public_key().to_encoded_point(false).as_bytes());
        // PIN policy once: needs the PIN.
        assert_eq!(sw(&a.process(&ecdh)), SW_SECURITY);
        assert_eq!(verify(&mut a, b"123456"), SW_OK);
        let r = a.process(&ecdh);
        assert_eq!(sw(&r), SW_OK);
        let expected = p256::ecdh::diffie_hellman(eph.to_nonzero_scalar(), pk.as_affine());
        assert_eq!(&r[4..36], expected.raw_secret_bytes().as_slice());
        assert_eq!(a.counters.touch, 1);
        // Still verified for the next one (once).
        assert_eq!(sw(&a.process(&ecdh)), SW_OK);

        // A big object in chained PUT DATA, read back with GET RESPONSE.
        let value: Vec<u8> = (0..600u32).map(|i| i as u8).collect();
        let mut body = vec![0x5c, 3, 0x5f, 0xc1, 0x0d];
        body.extend(tlv(0x53, &value));
        let chunks: Vec<&[u8]> = body.chunks(255).collect();
        for (i, c) in chunks.iter().enumerate() {
            let cla = if i + 1 < chunks.len() { 0x10 } else { 0 };
            let mut apdu = vec![cla, 0xdb, 0x3f, 0xff, c.len() as u8];
            apdu.extend_from_slice(c);
            assert_eq!(sw(&a.process(&apdu)), SW_OK);
        }
        let mut got = Vec::new();
        let mut r = a.process(&[0, 0xcb, 0x3f, 0xff, 5, 0x5c, 3, 0x5f, 0xc1, 0x0d]);
        while sw(&r) >> 8 == 0x61 {
            got.extend_from_slice(&r[..r.len() - 2]);
            r = a.process(&[0, 0xc0, 0, 0, 0]);
        }
        assert_eq!(sw(&r), SW_OK);
        got.extend_from_slice(&r[..r.len() - 2]);
        assert_eq!(got, tlv(0x53, &value));

        // Reset: PIN and management key status lost.
        a.reset();
        card_select(&mut a);
        assert_eq!(sw(&a.process(&ecdh)), SW_SECURITY);
        assert_eq!(sw(&a.process(&gen)), SW_SECURITY);
    }

    fn card_select(a: &mut Applet) {
        assert_eq!(sw(&a.process(&[0, 0xa4, 4, 0, 5, 0xa0, 0, 0, 3, 8])), SW_OK);
    }
}
