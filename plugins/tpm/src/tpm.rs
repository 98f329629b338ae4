//! The TPM side, through tss-esapi (ESAPI of tpm2-tss): the storage root key, creating a
//! key, loading it and ECDH_ZGen, and turning TPM response codes into messages a user can
//! act on.
//!
//! Every command that carries a secret runs with a salted HMAC session (salted with the
//! SRK, AES-128-CFB parameter encryption both ways), as Foxboron's plugin does: the PIN
//! sent with TPM2_Create and the ECDH output of TPM2_ECDH_ZGen cross the bus encrypted.
//! The private key itself is only ever in the TPM: outside it exists as the blob wrapped by
//! the SRK, which only this TPM can load.

use std::fmt;
use std::str::FromStr;

use tss_esapi::attributes::SessionAttributesBuilder;
use tss_esapi::constants::response_code::Tss2ResponseCode;
use tss_esapi::constants::{CapabilityType, PropertyTag, SessionType};
use tss_esapi::handles::{KeyHandle, ObjectHandle, PersistentTpmHandle, TpmHandle};
use tss_esapi::interface_types::algorithm::HashingAlgorithm;
use tss_esapi::interface_types::resource_handles::Hierarchy;
use tss_esapi::interface_types::session_handles::AuthSession;
use tss_esapi::structures::{
    Auth, CapabilityData, EccParameter, EccPoint, Private, Public, SymmetricDefinition,
};
use tss_esapi::tcti_ldr::TctiNameConf;
use tss_esapi::traits::{Marshall, UnMarshall};
use tss_esapi::Context;
use zeroize::Zeroizing;

use keytap_p256::P256Point;

use crate::identity::{TpmIdentity, KEY_TEMPLATE, SRK_TEMPLATE};

/// The persistent handle of the shared SRK (TCG provisioning guidance).
pub const SRK_PERSISTENT_HANDLE: u32 = 0x8100_0001;

/// The TCTI used when neither `TPM2TOOLS_TCTI` nor `TCTI` is set: the kernel's resource
/// manager.
pub const DEFAULT_TCTI: &str = "device:/dev/tpmrm0";

/// Why the TPM could not do what was asked.
#[derive(Debug)]
pub enum TpmError {
    /// No TPM, or the TCTI cannot reach it.
    Unavailable {
        /// The TCTI configuration tried.
        tcti: String,
        /// What failed.
        detail: String,
    },
    /// The identity's key was made by another TPM (or under another SRK).
    OtherTpm(String),
    /// The key's auth value (PIN) was wrong.
    WrongPin(Option<DaStatus>),
    /// Dictionary-attack protection refuses the key's authorization for now.
    Lockout(Option<DaStatus>),
    /// Anything else the TPM or the TSS refused.
    Other(String),
}

/// The TPM's dictionary-attack state (TPM_PT_LOCKOUT_* properties).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DaStatus {
    /// Failed authorizations counted now.
    pub counter: u32,
    /// Failures before lockout.
    pub max_tries: u32,
    /// Seconds after which one failure is forgotten (0: never, only an owner reset).
    pub interval: u32,
    /// Seconds before lockoutAuth can be used again after a failure with it.
    pub recovery: u32,
    /// Whether the TPM is locked out now.
    pub in_lockout: bool,
}

fn seconds(s: u32) -> String {
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s.div_ceil(60)),
        _ => format!("{:.1} h", f64::from(s) / 3600.0),
    }
}

impl DaStatus {
    /// How long until the next attempt is allowed, in words.
    pub fn wait(&self) -> String {
        if self.interval == 0 {
            "until the TPM owner resets the lockout (tpm2_dictionarylockout --clear-lockout); \
             the TPM never forgets failures on its own (lockout interval 0)"
                .to_string()
        } else {
            format!(
                "about {} (the TPM forgets one failure every {}), or until the TPM owner \
                 resets it with tpm2_dictionarylockout --clear-lockout",
                seconds(self.interval),
                seconds(self.interval)
            )
        }
    }
}

impl fmt::Display for TpmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TpmError::Unavailable { tcti, detail } => write!(
                f,
                "no TPM available through TCTI {tcti:?} ({detail}); set TPM2TOOLS_TCTI or TCTI to use another"
            ),
            TpmError::OtherTpm(detail) => write!(
                f,
                "this identity was made on another TPM ({detail}): its key can only be used on the TPM that created it"
            ),
            TpmError::WrongPin(da) => {
                write!(f, "wrong PIN for the TPM key")?;
                if let Some(da) = da {
                    if da.in_lockout {
                        write!(
                            f,
                            "; the TPM is now locked out against PIN guessing: try again in {}",
                            da.wait()
                        )?;
                    } else if da.max_tries > 0 {
                        write!(
                            f,
                            " ({} of {} failed attempts before the TPM locks out)",
                            da.counter, da.max_tries
                        )?;
                    }
                }
                Ok(())
            }
            TpmError::Lockout(da) => {
                write!(
                    f,
                    "the TPM is locked out after too many wrong PINs (dictionary-attack protection) and refuses to use the key"
                )?;
                match da {
                    Some(da) => write!(f, ": try again in {}", da.wait()),
                    None => write!(f, "; try again later or have the TPM owner reset it"),
                }
            }
            TpmError::Other(detail) => write!(f, "TPM error: {detail}"),
        }
    }
}

/// The raw TSS2_RC of an error, if it comes from the TSS stack.
fn raw_rc(e: &tss_esapi::Error) -> Option<u32> {
    let tss_esapi::Error::Tss2Error(code) = e else {
        return None;
    };
    // tss-esapi 7 keeps the code private but prints it as "Response code value: 0x...".
    let text = match code {
        Tss2ResponseCode::Success => return Some(0),
        Tss2ResponseCode::FormatZero(z) => z.to_string(),
        Tss2ResponseCode::FormatOne(o) => o.to_string(),
    };
    let hex = text.rsplit("0x").next()?;
    u32::from_str_radix(hex.trim(), 16).ok()
}

/// The TSS layer of a response code (0 = the TPM itself).
const LAYER_MASK: u32 = 0xFFFF_0000;
const LAYER_TCTI: u32 = 10 << 16;
/// TPM_RC_LOCKOUT (format zero, warning).
const RC_LOCKOUT: u32 = 0x921;
/// Format-one error numbers.
const RC_FMT1: u32 = 0x080;
const RC_AUTH_FAIL: u32 = 0x08E;
const RC_BAD_AUTH: u32 = 0x0A2;
const RC_INTEGRITY: u32 = 0x09F;
const RC_HANDLE: u32 = 0x08B;

fn is_fmt1(rc: u32, base: u32) -> bool {
    rc & LAYER_MASK == 0 && rc & RC_FMT1 != 0 && (rc & 0x3F) == (base & 0x3F)
}

/// Describes a TSS error for a message, with its code.
fn describe(e: &tss_esapi::Error) -> String {
    let Some(rc) = raw_rc(e) else {
        return e.to_string();
    };
    let layer = rc >> 16;
    if layer == 0 {
        return format!("{e} (TPM_RC {rc:#x})");
    }
    let layer_name = match layer {
        5 => "TPM2 FAPI",
        6 => "TPM2 ESYS",
        7 => "TPM2 SYS",
        8 => "TPM2 MU",
        10 => "TCTI",
        11 => "resource manager",
        12 => "resource manager driver",
        _ => "TSS",
    };
    // The TSS2_BASE_RC_* values shared by the layers.
    let what = match rc & 0xffff {
        1 => "general failure",
        2 => "not implemented",
        3 => "bad context",
        4 => "ABI mismatch",
        5 => "bad reference",
        6 => "insufficient buffer",
        7 => "bad sequence",
        8 => "no connection",
        9 => "try again",
        10 => "I/O error: cannot connect or the connection broke",
        11 => "bad value",
        12 => "not permitted",
        13 => "invalid sessions",
        14 => "no decrypt parameter",
        15 => "no encrypt parameter",
        16 => "bad size",
        17 => "malformed response",
        18 => "insufficient context",
        19 => "insufficient response",
        20 => "incompatible TCTI",
        21 => "not supported",
        22 => "bad TCTI structure",
        23 => "out of memory",
        24 => "bad transient object handle",
        25 => "multiple decrypt sessions",
        26 => "multiple encrypt sessions",
        27 => "the response's HMAC did not verify",
        _ => "error",
    };
    format!("{layer_name}: {what} (TSS2_RC {rc:#x})")
}

/// A key made by [`Tpm::create_key`].
pub struct CreatedKey {
    /// Its TPMT_PUBLIC.
    pub public: Vec<u8>,
    /// Its private blob (the contents of the TPM2B_PRIVATE), wrapped by the SRK.
    pub private: Vec<u8>,
    /// The contents of the SRK's TPM2B_NAME.
    pub srk_name: Vec<u8>,
}

/// One connection to the TPM, with the SRKs and the session of this run. Transient objects
/// and sessions are flushed when it is dropped (tss-esapi's context does it), which
/// matters on a TPM without a resource manager (swtpm, /dev/tpm0).
pub struct Tpm {
    ctx: Context,
    tcti: String,
    session: Option<AuthSession>,
    persistent_srk: Option<Option<Srk>>,
    transient_srk: Option<Srk>,
}

#[derive(Clone)]
struct Srk {
    handle: KeyHandle,
    /// The contents of its TPM2B_NAME.
    name: Vec<u8>,
}

/// The TCTI configuration: `TPM2TOOLS_TCTI`, then `TCTI`, then the default.
pub fn tcti_config() -> String {
    for var in ["TPM2TOOLS_TCTI", "TCTI"] {
        if let Ok(v) = std::env::var(var) {
            if !v.trim().is_empty() {
                return v.trim().to_string();
            }
        }
    }
    DEFAULT_TCTI.to_string()
}

/// Resolves "device" with no path to the resource manager, as the default does.
fn tcti_name_conf(tcti: &str) -> Result<TctiNameConf, TpmError> {
    let unavailable = |detail: String| TpmError::Unavailable {
        tcti: tcti.to_string(),
        detail,
    };
    let text = if tcti == "device" || tcti == "device:" {
        DEFAULT_TCTI
    } else {
        tcti
    };
    if let Some(path) = text.strip_prefix("device:") {
        let path = if path.is_empty() { "/dev/tpmrm0" } else { path };
        if !std::path::Path::new(path).exists() {
            return Err(unavailable(format!("{path} does not exist")));
        }
        // libtss2 only says "I/O error" when the device cannot be opened.
        if let Err(e) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
        {
            if e.kind() == std::io::ErrorKind::PermissionDenied {
                return Err(unavailable(format!(
                    "{path}: permission denied (the user must be in the tss group, or root)"
                )));
            }
        }
    }
    TctiNameConf::from_str(text).map_err(|e| {
        unavailable(format!(
            "not a TCTI configuration tss-esapi understands ({e}); use device:PATH, swtpm:host=H,port=P, mssim:... or tabrmd:..."
        ))
    })
}

impl Tpm {
    /// Connects to the TPM named by the environment (see [`tcti_config`]).
    pub fn open() -> Result<Tpm, TpmError> {
        let tcti = tcti_config();
        let conf = tcti_name_conf(&tcti)?;
        let mut ctx = Context::new(conf).map_err(|e| TpmError::Unavailable {
            tcti: tcti.clone(),
            detail: describe(&e),
        })?;
        // A first command proves that something answers at the other end.
        ctx.execute_without_session(|c| {
            c.get_capability(
                CapabilityType::TpmProperties,
                PropertyTag::Manufacturer.into(),
                1,
            )
        })
        .map_err(|e| TpmError::Unavailable {
            tcti: tcti.clone(),
            detail: describe(&e),
        })?;
        Ok(Tpm {
            ctx,
            tcti,
            session: None,
            persistent_srk: None,
            transient_srk: None,
        })
    }

    fn other(&mut self, what: &str, e: tss_esapi::Error) -> TpmError {
        match raw_rc(&e) {
            Some(rc) if rc & LAYER_MASK == LAYER_TCTI => TpmError::Unavailable {
                tcti: self.tcti.clone(),
                detail: format!("{what}: {}", describe(&e)),
            },
            Some(RC_LOCKOUT) => TpmError::Lockout(self.da_status()),
            _ => TpmError::Other(format!("{what}: {}", describe(&e))),
        }
    }

    /// The SRK at the persistent handle 0x81000001, if there is one.
    fn persistent_srk(&mut self) -> Option<Srk> {
        if let Some(srk) = &self.persistent_srk {
            return srk.clone();
        }
        let found = (|| {
            let handle = PersistentTpmHandle::new(SRK_PERSISTENT_HANDLE).ok()?;
            let object = self
                .ctx
                .execute_without_session(|c| c.tr_from_tpm_public(TpmHandle::Persistent(handle)))
                .ok()?;
            let name = self.ctx.tr_get_name(object).ok()?;
            Some(Srk {
                handle: KeyHandle::from(object),
                name: name.value().to_vec(),
            })
        })();
        self.persistent_srk = Some(found.clone());
        found
    }

    /// The SRK created from the template in the owner hierarchy (the same key every time
    /// on the same TPM, until its owner seed changes).
    fn transient_srk(&mut self) -> Result<Srk, TpmError> {
        if let Some(srk) = &self.transient_srk {
            return Ok(srk.clone());
        }
        let template = Public::unmarshall(&SRK_TEMPLATE)
            .map_err(|e| TpmError::Other(format!("SRK template: {}", describe(&e))))?;
        let result = self
            .ctx
            .execute_with_nullauth_session(|c| {
                c.create_primary(Hierarchy::Owner, template, None, None, None, None)
            })
            .map_err(|e| self.other("creating the storage root key", e))?;
        let name = self
            .ctx
            .tr_get_name(result.key_handle.into())
            .map_err(|e| self.other("reading the storage root key's name", e))?;
        let srk = Srk {
            handle: result.key_handle,
            name: name.value().to_vec(),
        };
        self.transient_srk = Some(srk.clone());
        Ok(srk)
    }

    /// The SRK for new keys: the persistent one if the TPM has one, else the transient one
    /// (as Foxboron's plugin does).
    fn default_srk(&mut self) -> Result<Srk, TpmError> {
        match self.persistent_srk() {
            Some(srk) => Ok(srk),
            None => self.transient_srk(),
        }
    }

    /// The SRK `identity` was made under, or [`TpmError::OtherTpm`].
    fn srk_for(&mut self, identity: &TpmIdentity) -> Result<Srk, TpmError> {
        let want = identity.raw.srk_name.as_deref();
        if let Some(want) = want {
            if let Some(srk) = self.persistent_srk() {
                if srk.name == want {
                    return Ok(srk);
                }
            }
        }
        let srk = self.transient_srk()?;
        match want {
            // Version 1 identities do not name their SRK: loading tells.
            None => Ok(srk),
            Some(want) if srk.name == want => Ok(srk),
            Some(want) => Err(TpmError::OtherTpm(format!(
                "its storage root key is {}, this TPM's is {}",
                short_name(want),
                short_name(&srk.name)
            ))),
        }
    }

    /// The salted HMAC session with parameter encryption, started once.
    fn session(&mut self, salt_key: KeyHandle) -> Result<AuthSession, TpmError> {
        if let Some(s) = self.session {
            return Ok(s);
        }
        let session = self
            .ctx
            .execute_without_session(|c| {
                c.start_auth_session(
                    Some(salt_key),
                    None,
                    None,
                    SessionType::Hmac,
                    SymmetricDefinition::AES_128_CFB,
                    HashingAlgorithm::Sha256,
                )
            })
            .map_err(|e| self.other("starting an encrypted session", e))?
            .ok_or_else(|| TpmError::Other("the TPM returned no session".into()))?;
        let (attributes, mask) = SessionAttributesBuilder::new()
            .with_decrypt(true)
            .with_encrypt(true)
            .with_continue_session(true)
            .build();
        self.ctx
            .tr_sess_set_attributes(session, attributes, mask)
            .map_err(|e| self.other("setting the session attributes", e))?;
        self.session = Some(session);
        Ok(session)
    }

    /// Creates a P-256 ECDH key under the SRK with `pin` as its auth value.
    pub fn create_key(&mut self, pin: Option<&[u8]>) -> Result<CreatedKey, TpmError> {
        let srk = self.default_srk()?;
        let session = self.session(srk.handle)?;
        let template = Public::unmarshall(&KEY_TEMPLATE)
            .map_err(|e| TpmError::Other(format!("key template: {}", describe(&e))))?;
        let auth = match pin {
            Some(p) => Some(Auth::try_from(p.to_vec()).map_err(|_| {
                TpmError::Other("the PIN is too long for the TPM (at most 32 bytes)".into())
            })?),
            None => None,
        };
        let created = self
            .ctx
            .execute_with_sessions((Some(AuthSession::Password), Some(session), None), |c| {
                c.create(srk.handle, template, auth, None, None, None)
            })
            .map_err(|e| self.other("creating the key", e))?;
        let public = created
            .out_public
            .marshall()
            .map_err(|e| TpmError::Other(format!("reading the new key: {}", describe(&e))))?;
        Ok(CreatedKey {
            public,
            private: created.out_private.value().to_vec(),
            srk_name: srk.name,
        })
    }

    /// Loads the identity's key under its SRK. The handle is flushed by
    /// [`Tpm::unload`] or when the connection is dropped.
    pub fn load(&mut self, identity: &TpmIdentity) -> Result<KeyHandle, TpmError> {
        let srk = self.srk_for(identity)?;
        let private = Private::try_from(identity.raw.private.clone())
            .map_err(|_| TpmError::Other("the identity's private blob is too long".into()))?;
        let public = Public::unmarshall(&identity.raw.public).map_err(|e| {
            TpmError::Other(format!("the identity's public area: {}", describe(&e)))
        })?;
        self.ctx
            .execute_with_nullauth_session(|c| c.load(srk.handle, private, public))
            .map_err(|e| match raw_rc(&e) {
                Some(rc)
                    if is_fmt1(rc, RC_INTEGRITY)
                        || is_fmt1(rc, RC_HANDLE)
                        || is_fmt1(rc, 0x084 /* TPM_RC_VALUE */)
                        || is_fmt1(rc, 0x095 /* TPM_RC_SIZE */) =>
                {
                    TpmError::OtherTpm(format!(
                        "the TPM refused to load its key blob: {}",
                        describe(&e)
                    ))
                }
                _ => self.other("loading the key", e),
            })
    }

    /// Flushes a loaded key.
    pub fn unload(&mut self, key: KeyHandle) {
        let _ = self.ctx.flush_context(ObjectHandle::from(key));
    }

    /// ECDH_ZGen: the x-coordinate of `d·peer` for the loaded key `key` whose auth value is
    /// `pin` (empty for none).
    pub fn ecdh(
        &mut self,
        identity: &TpmIdentity,
        key: KeyHandle,
        pin: &[u8],
        peer: &P256Point,
    ) -> Result<Zeroizing<[u8; 32]>, TpmError> {
        let srk = self.srk_for(identity)?;
        let session = self.session(srk.handle)?;
        let auth = Auth::try_from(pin.to_vec()).map_err(|_| {
            TpmError::WrongPin(None) // longer than any auth value the TPM accepts
        })?;
        self.ctx
            .tr_set_auth(key.into(), auth)
            .map_err(|e| self.other("setting the PIN", e))?;
        let u = peer.to_uncompressed();
        let point = EccPoint::new(
            EccParameter::try_from(u[1..33].to_vec()).expect("32 bytes fit"),
            EccParameter::try_from(u[33..].to_vec()).expect("32 bytes fit"),
        );
        let out = self
            .ctx
            .execute_with_sessions((Some(AuthSession::Password), Some(session), None), |c| {
                c.ecdh_z_gen(key, point)
            })
            .map_err(|e| match raw_rc(&e) {
                Some(rc) if is_fmt1(rc, RC_AUTH_FAIL) || is_fmt1(rc, RC_BAD_AUTH) => {
                    TpmError::WrongPin(self.da_status())
                }
                _ => self.other("ECDH_ZGen", e),
            })?;
        let x = out.x().value();
        if x.len() > 32 {
            return Err(TpmError::Other(
                "ECDH_ZGen returned a point too long".into(),
            ));
        }
        let mut z = Zeroizing::new([0u8; 32]);
        z[32 - x.len()..].copy_from_slice(x);
        Ok(z)
    }

    /// The dictionary-attack state, if the TPM reports it.
    pub fn da_status(&mut self) -> Option<DaStatus> {
        let props = self.properties(PropertyTag::Permanent, 1)?;
        let permanent = props.iter().find(|(t, _)| *t == PropertyTag::Permanent)?.1;
        let props = self.properties(PropertyTag::LockoutCounter, 4)?;
        let get = |tag| props.iter().find(|(t, _)| *t == tag).map(|(_, v)| *v);
        Some(DaStatus {
            counter: get(PropertyTag::LockoutCounter)?,
            max_tries: get(PropertyTag::MaxAuthFail)?,
            interval: get(PropertyTag::LockoutInterval)?,
            recovery: get(PropertyTag::LockoutRecovery)?,
            // TPMA_PERMANENT.inLockout is bit 9.
            in_lockout: permanent & (1 << 9) != 0,
        })
    }

    fn properties(&mut self, first: PropertyTag, count: u32) -> Option<Vec<(PropertyTag, u32)>> {
        let (data, _) = self
            .ctx
            .execute_without_session(|c| {
                c.get_capability(CapabilityType::TpmProperties, first.into(), count)
            })
            .ok()?;
        let CapabilityData::TpmProperties(list) = data else {
            return None;
        };
        Some(list.iter().map(|p| (p.property(), p.value())).collect())
    }

    /// What `--status` shows: manufacturer, firmware, SRK, dictionary-attack state.
    pub fn status(&mut self) -> Vec<(String, String)> {
        let mut out = vec![("tcti".to_string(), self.tcti.clone())];
        let text = |v: u32| {
            String::from_utf8_lossy(&v.to_be_bytes())
                .trim_matches(|c: char| c == '\0' || c.is_whitespace())
                .to_string()
        };
        if let Some(props) = self.properties(PropertyTag::Manufacturer, 8) {
            let get = |tag| props.iter().find(|(t, _)| *t == tag).map(|(_, v)| *v);
            if let Some(m) = get(PropertyTag::Manufacturer) {
                out.push(("manufacturer".into(), text(m)));
            }
            let vendor: String = [
                PropertyTag::VendorString1,
                PropertyTag::VendorString2,
                PropertyTag::VendorString3,
                PropertyTag::VendorString4,
            ]
            .into_iter()
            .filter_map(get)
            .map(text)
            .collect();
            if !vendor.is_empty() {
                out.push(("vendor".into(), vendor));
            }
        }
        if let Some(props) = self.properties(PropertyTag::FirmwareVersion1, 2) {
            let get = |tag| props.iter().find(|(t, _)| *t == tag).map(|(_, v)| *v);
            if let (Some(a), Some(b)) = (
                get(PropertyTag::FirmwareVersion1),
                get(PropertyTag::FirmwareVersion2),
            ) {
                out.push((
                    "firmware".into(),
                    format!("{}.{}.{}.{}", a >> 16, a & 0xffff, b >> 16, b & 0xffff),
                ));
            }
        }
        match self.persistent_srk() {
            Some(srk) => out.push((
                "srk".into(),
                format!(
                    "persistent {SRK_PERSISTENT_HANDLE:#010x}, name {}",
                    hex(&srk.name)
                ),
            )),
            None => match self.transient_srk() {
                Ok(srk) => out.push((
                    "srk".into(),
                    format!(
                        "transient (from the ECC SRK template), name {}",
                        hex(&srk.name)
                    ),
                )),
                Err(e) => out.push(("srk".into(), format!("error: {e}"))),
            },
        }
        match self.da_status() {
            Some(da) => {
                out.push((
                    "dictionary-attack".into(),
                    format!(
                        "{} of {} failures, one forgotten every {}, {}",
                        da.counter,
                        da.max_tries,
                        seconds(da.interval),
                        if da.in_lockout {
                            "LOCKED OUT"
                        } else {
                            "not locked out"
                        }
                    ),
                ));
            }
            None => out.push(("dictionary-attack".into(), "unknown".into())),
        }
        out
    }

    /// Whether `identity`'s key belongs to this TPM: its SRK matches and the blob loads.
    pub fn check_identity(&mut self, identity: &TpmIdentity) -> Result<(), TpmError> {
        let key = self.load(identity)?;
        self.unload(key);
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn short_name(name: &[u8]) -> String {
    let h = hex(name);
    if h.len() > 16 {
        format!("{}…", &h[..16])
    } else {
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The templates go to the TPM exactly as pinned: libtss2 unmarshals and marshals
    /// them back to the same bytes.
    #[test]
    fn templates_survive_the_tss_marshalling() {
        for t in [&KEY_TEMPLATE[..], &SRK_TEMPLATE[..]] {
            let public = Public::unmarshall(t).unwrap();
            assert_eq!(public.marshall().unwrap(), t);
        }
    }

    #[test]
    fn response_codes_are_read_and_classified() {
        let e = tss_esapi::Error::Tss2Error(Tss2ResponseCode::from(0x98e));
        assert_eq!(raw_rc(&e), Some(0x98e));
        assert!(is_fmt1(0x98e, RC_AUTH_FAIL));
        assert!(!is_fmt1(0x98e, RC_BAD_AUTH));
        let e = tss_esapi::Error::Tss2Error(Tss2ResponseCode::from(0x921));
        assert_eq!(raw_rc(&e), Some(RC_LOCKOUT));
        let e = tss_esapi::Error::Tss2Error(Tss2ResponseCode::from(0xa000a));
        assert_eq!(raw_rc(&e), Some(0xa000a));
        assert!(describe(&e).contains("TCTI: I/O error"), "{}", describe(&e));
        // A TSS layer code is never taken for a TPM one.
        assert!(!is_fmt1(0x7008e, RC_AUTH_FAIL));
    }

    #[test]
    fn unreachable_tcti_is_unavailable() {
        let err = tcti_name_conf("device:/nonexistent/tpm").unwrap_err();
        assert!(matches!(err, TpmError::Unavailable { .. }));
        assert!(
            err.to_string().contains("/nonexistent/tpm does not exist"),
            "{err}"
        );
        assert!(matches!(
            tcti_name_conf("bogus:thing"),
            Err(TpmError::Unavailable { .. })
        ));
    }

    #[test]
    fn lockout_messages_say_how_long() {
        let da = DaStatus {
            counter: 3,
            max_tries: 3,
            interval: 1000,
            recovery: 1000,
            in_lockout: true,
        };
        let m = TpmError::Lockout(Some(da)).to_string();
        assert!(m.contains("about 17 min"), "{m}");
        let m = TpmError::WrongPin(Some(da)).to_string();
        assert!(m.contains("wrong PIN") && m.contains("locked out"), "{m}");
        let m = TpmError::WrongPin(Some(DaStatus {
            counter: 1,
            in_lockout: false,
            ..da
        }))
        .to_string();
        assert!(m.contains("1 of 3"), "{m}");
        let m = TpmError::Lockout(Some(DaStatus { interval: 0, ..da })).to_string();
        assert!(m.contains("--clear-lockout"), "{m}");
    }
}
