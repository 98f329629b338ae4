//! Shared by the tests of age 1.3's native key types (`cctv_age`, `typage_interop`,
//! `sops_pq`): the node tools (typage and the CCTV vectors, pinned in
//! `tests/tools/package-lock.json`) and test-only age identities for the tag stanzas, made of
//! `keytap_p256`'s software keys (the hardware plugins use the same code with the ECDH on the
//! device).
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use age::DecryptError;
use age_core::format::{FileKey, Stanza};
use keytap_p256::hybrid::MlKem768P256TagStanza;
use keytap_p256::software::{SoftwareHybridTagKey, SoftwareP256Key};
use keytap_p256::tag::P256TagStanza;

/// `core/tests/tools`.
pub fn tools_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("tools")
}

fn installed_version(dir: &Path, package: &str) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("node_modules").join(package).join("package.json"))
        .ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["version"].as_str().map(str::to_string)
}

fn installed(dir: &Path) -> bool {
    installed_version(dir, "cctv-age").as_deref() == Some("0.2.0")
        && installed_version(dir, "age-encryption").as_deref() == Some("0.3.1")
}

/// The tools directory with its pinned npm packages installed: `scripts/install-deps.sh`
/// runs `npm ci` there; if it has not, this does. Panics (failing the test, never skipping
/// it) when node or npm is missing or the install fails.
pub fn node_tools() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tools_dir();
        if !installed(&dir) {
            let out = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir)
                .output()
                .expect("npm must be on PATH (scripts/install-deps.sh installs node and npm)");
            assert!(
                out.status.success(),
                "npm ci in {} failed: {}",
                dir.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                installed(&dir),
                "npm ci did not install cctv-age 0.2.0 and age-encryption 0.3.1"
            );
        }
        dir
    })
}

/// Runs `node tests/tools/<script> <args>` with `stdin`, returns stdout; panics on failure.
pub fn node(script: &str, args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let dir = node_tools();
    let mut child = Command::new("node")
        .arg(dir.join(script))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node must be on PATH (scripts/install-deps.sh installs it)");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(
        out.status.success(),
        "node {script} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs typage (`tests/tools/typage.mjs`).
pub fn typage(args: &[&str], stdin: &[u8]) -> Vec<u8> {
    node("typage.mjs", args, stdin)
}

fn file_key(k: &[u8; 16]) -> FileKey {
    FileKey::init_with_mut(|fk| fk.copy_from_slice(k))
}

/// What an `age::Identity` answers for `stanza`: `None` when `parse` finds another type
/// or `open` finds it is for another key, an invalid header when either fails.
fn identity_answer<S, E, F>(
    stanza: &Stanza,
    parse: impl FnOnce(&str, &[String], &[u8]) -> Result<Option<S>, E>,
    open: impl FnOnce(&S) -> Result<Option<keytap_p256::FileKey>, F>,
) -> Option<Result<FileKey, DecryptError>> {
    let invalid = || Some(Err(DecryptError::InvalidHeader));
    match parse(&stanza.tag, &stanza.args, &stanza.body) {
        Ok(None) => None,
        Err(_) => invalid(),
        Ok(Some(s)) => open(&s).map_or_else(|_| invalid(), |k| k.map(|k| Ok(file_key(&k)))),
    }
}

/// A software `p256tag` identity (what the YubiKey and TPM plugins do on the device).
pub struct SoftTagIdentity(pub SoftwareP256Key);

impl age::Identity for SoftTagIdentity {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, DecryptError>> {
        identity_answer(stanza, P256TagStanza::parse, |s| self.0.unwrap_p256tag(s))
    }
}

/// A software `mlkem768p256tag` identity.
pub struct SoftTagPqIdentity(pub SoftwareHybridTagKey);

impl age::Identity for SoftTagPqIdentity {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<Result<FileKey, DecryptError>> {
        identity_answer(stanza, MlKem768P256TagStanza::parse, |s| self.0.unwrap(s))
    }
}

/// Decrypts an age file (binary or armored) with the `age` crate.
pub fn age_decrypt(file: &[u8], identity: &dyn age::Identity) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let d = age::Decryptor::new(age::armor::ArmoredReader::new(file)).map_err(|e| e.to_string())?;
    let mut r = d
        .decrypt(std::iter::once(identity))
        .map_err(|e| e.to_string())?;
    let mut out = vec![];
    r.read_to_end(&mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// Encrypts to one recipient with the `age` crate, armored (the shape of a sops `enc`).
pub fn age_encrypt_armored(plaintext: &[u8], recipient: &dyn age::Recipient) -> String {
    use age::armor::{ArmoredWriter, Format};
    let e = age::Encryptor::with_recipients(std::iter::once(recipient)).unwrap();
    let mut out = vec![];
    let armor = ArmoredWriter::wrap_output(&mut out, Format::AsciiArmor).unwrap();
    let mut w = e.wrap_output(armor).unwrap();
    w.write_all(plaintext).unwrap();
    w.finish().and_then(|a| a.finish()).unwrap();
    String::from_utf8(out).unwrap()
}
