//! age-plugin-tpm against a software TPM (swtpm), with keytap and Debian's `age` as the
//! clients. Each test starts its own swtpm (own state directory, own ports derived from the
//! test process's PID), waits until it answers, and stops it at the end. Nothing is
//! skipped: without swtpm, tpm2-tools, `age` or the keytap binary the tests fail.
//!
//! Needs: `apt-get install swtpm swtpm-tools tpm2-tools age` and `cargo build --workspace`
//! (the keytap binary next to this plugin's).

use std::collections::HashSet;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

#[path = "../../../tests/tests/install_common/mod.rs"]
mod install_common;

use install_common::Site;
use keytap_e2e::{keytap_bin, lines_of, path_with_plugins, Run, Workspace};

const PLUGIN: &str = env!("CARGO_BIN_EXE_age-plugin-tpm");

/// A running swtpm, killed (by its own process handle) when dropped.
struct Swtpm {
    child: Option<Child>,
    port: u16,
    state: PathBuf,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

fn port_pair_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
        && TcpListener::bind(("127.0.0.1", port + 1)).is_ok()
}

impl Swtpm {
    /// A new TPM with its state in `state` (created if missing; an existing state is the
    /// same TPM again, with the same seeds).
    fn start(state: &Path) -> Swtpm {
        std::fs::create_dir_all(state).unwrap();
        let pid = std::process::id();
        for _ in 0..20 {
            // Ports from the PID, so parallel test processes do not collide, and a counter
            // for the TPMs of this process.
            let n = NEXT.fetch_add(1, Ordering::SeqCst);
            let port = 20000 + ((pid * 64 + n * 2) % 40000) as u16;
            if !port_pair_free(port) {
                continue;
            }
            let child = Command::new("swtpm")
                .arg("socket")
                .arg("--tpmstate")
                .arg(format!("dir={}", state.display()))
                .arg("--tpm2")
                .arg("--server")
                .arg(format!("type=tcp,port={port},bindaddr=127.0.0.1"))
                .arg("--ctrl")
                .arg(format!("type=tcp,port={},bindaddr=127.0.0.1", port + 1))
                .args(["--flags", "not-need-init,startup-clear"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("swtpm (apt-get install swtpm swtpm-tools)");
            let mut tpm = Swtpm {
                child: Some(child),
                port,
                state: state.to_path_buf(),
            };
            if tpm.wait_ready() {
                return tpm;
            }
            tpm.stop();
        }
        panic!("could not start swtpm on any port");
    }

    /// Polls the control port, then asks the TPM for random bytes with tpm2-tools.
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(|c| c.try_wait()) {
                return false; // exited: the port was taken after all
            }
            if TcpStream::connect(("127.0.0.1", self.port + 1)).is_ok() {
                let ok = Command::new("tpm2_getrandom")
                    .args(["-T", &self.tcti(), "--hex", "8"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .expect("tpm2_getrandom (apt-get install tpm2-tools)")
                    .success();
                if ok {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    fn tcti(&self) -> String {
        format!("swtpm:host=127.0.0.1,port={}", self.port)
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops and starts the same TPM again (same state, new ports).
    fn restart(&mut self) {
        self.stop();
        *self = Swtpm::start(&self.state.clone());
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A TCTI where nothing listens.
fn dead_tcti() -> String {
    let l = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("swtpm:host=127.0.0.1,port={port}")
}

fn run(ws: &Workspace, program: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    ws.run("timeout", |c| {
        c.arg("120")
            .arg(program)
            .args(args)
            .env("PATH", path_with_plugins());
        for (k, v) in env {
            c.env(k, v);
        }
    })
}

fn keytap(ws: &Workspace, args: &[&str], env: &[(&str, &str)]) -> Run {
    let bin = keytap_bin();
    run(ws, bin.to_str().unwrap(), args, env)
}

/// `keytap decrypt ARGS` with the identities in `keys`, the TPM at `tcti`, the askpass
/// `ask` (if any) and more `env`.
fn decrypt(
    ws: &Workspace,
    keys: &Path,
    tcti: &str,
    ask: Option<&Path>,
    args: &[&str],
    env: &[(&str, &str)],
) -> Run {
    // `--verbose` is a global flag: before the command, as sops takes it.
    let (global, own): (Vec<&str>, Vec<&str>) = args.iter().partition(|a| **a == "--verbose");
    let mut all_args = global;
    all_args.push("decrypt");
    all_args.extend(own);
    let mut all_env = vec![
        ("SOPS_AGE_KEY_FILE", keys.to_str().unwrap()),
        ("TPM2TOOLS_TCTI", tcti),
    ];
    all_env.extend(ask.map(|a| ("KEYTAP_ASKPASS", a.to_str().unwrap())));
    all_env.extend_from_slice(env);
    keytap(ws, &all_args, &all_env)
}

fn plugin(ws: &Workspace, args: &[&str], env: &[(&str, &str)]) -> Run {
    run(ws, PLUGIN, args, env)
}

/// How many lines of the file at `path` contain `needle`.
fn lines(path: &Path, needle: &str) -> usize {
    lines_of(path).iter().filter(|l| l.contains(needle)).count()
}

struct Key {
    file: PathBuf,
    tag: String,
    tpm1: String,
}

/// `--generate -o FILE` (with `--pin` and AGE_TPM_PIN when a PIN is given).
fn generate(ws: &Workspace, tpm: &Swtpm, name: &str, pin: Option<&str>) -> Key {
    let file = ws.path(name);
    let tcti = tpm.tcti();
    let mut env = vec![("TPM2TOOLS_TCTI", tcti.as_str())];
    let mut args = vec!["--generate", "-o", file.to_str().unwrap()];
    if let Some(p) = pin {
        env.push(("AGE_TPM_PIN", p));
        args.push("--pin");
    }
    let r = plugin(ws, &args, &env);
    assert_eq!(r.code, 0, "generate: {}", r.stderr);
    let text = std::fs::read_to_string(&file).unwrap();
    let tag = text
        .lines()
        .find_map(|l| l.strip_prefix("# Recipient: "))
        .unwrap()
        .to_string();
    let f = file.to_str().unwrap();
    let y = plugin(ws, &["-y", f], &[]);
    assert_eq!(y.code, 0, "{}", y.stderr);
    assert_eq!(y.out().trim(), tag);
    let old = plugin(ws, &["-y", "--tpm-recipient", f], &[]);
    assert_eq!(old.code, 0, "{}", old.stderr);
    Key {
        file,
        tag,
        tpm1: old.out().trim().to_string(),
    }
}

fn write_plain(ws: &Workspace) {
    ws.write("plain.json", r#"{"token": "s3cret"}"#);
}

fn encrypt(ws: &Workspace, name: &str, recipients: &str, env: &[(&str, &str)]) {
    write_plain(ws);
    let r = keytap(ws, &["encrypt", "--age", recipients, "plain.json"], env);
    assert_eq!(r.code, 0, "encrypt to {recipients}: {}", r.stderr);
    ws.write(name, &r.stdout);
}

fn no_panic(r: &Run) {
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}

#[test]
fn generate_encrypt_decrypt_with_and_without_pin() {
    let ws = Workspace::new();
    let tpm = Swtpm::start(&ws.path("tpm"));
    let tcti = tpm.tcti();
    for pin in [None, Some("1234")] {
        let label = if pin.is_some() { "pin" } else { "nopin" };
        let key = generate(&ws, &tpm, &format!("id-{label}.txt"), pin);
        assert!(key.tag.starts_with("age1tag1"), "{}", key.tag);
        assert!(key.tpm1.starts_with("age1tpm1"), "{}", key.tpm1);
        // Same key in both encodings.
        assert_eq!(
            keytap_p256::tag::parse_recipient(&key.tag).unwrap(),
            keytap_p256::tpm_ecc::SCHEME
                .parse_recipient(&key.tpm1)
                .unwrap()
        );
        // Identity file: mode 0600, Foxboron's layout, and the key made from its template.
        let meta = std::fs::metadata(&key.file).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let text = std::fs::read_to_string(&key.file).unwrap();
        let l: Vec<&str> = text.lines().collect();
        assert!(l[0].starts_with("# Created: "), "{text}");
        assert!(l[1].starts_with("# Recipient: age1tag1"), "{text}");
        assert_eq!(l[2], "");
        let bytes =
            keytap_p256::bech32::decode(l[3], "AGE-PLUGIN-TPM-", keytap_p256::bech32::Case::Upper)
                .unwrap();
        assert_eq!(bytes[0], 2, "version");
        assert_eq!(bytes[1], u8::from(pin.is_some()), "PIN flag");
        // TPM2B_PUBLIC: 88 bytes, the same first 20 bytes (type, name algorithm,
        // attributes, policy, parameters) as the keys of Foxboron's README and testdata.
        assert_eq!(&bytes[2..4], &[0, 88]);
        assert_eq!(
            hex::encode(&bytes[4..24]),
            "0023000b00020072000000100019000b00030010"
        );
        // The SRK name at the end: 0x0022, SHA-256 algorithm, digest.
        let n = bytes.len();
        assert_eq!(&bytes[n - 36..n - 32], &[0x00, 0x22, 0x00, 0x0b]);
        // Never overwritten.
        let again = plugin(
            &ws,
            &["--generate", "-o", key.file.to_str().unwrap()],
            &[("TPM2TOOLS_TCTI", &tcti)],
        );
        assert_ne!(again.code, 0);
        assert_eq!(std::fs::read_to_string(&key.file).unwrap(), text);

        encrypt(&ws, &format!("s-{label}.json"), &key.tag, &[]);
        let (ask, asked) = ws.askpass(&format!("ask-{label}"), pin.unwrap_or("unused"));
        let r = decrypt(
            &ws,
            &key.file,
            &tcti,
            Some(&ask),
            &[&format!("s-{label}.json")],
            &[],
        );
        assert_eq!(r.code, 0, "{label}: {}", r.stderr);
        assert!(r.out().contains("s3cret"));
        assert_eq!(
            lines(&asked, "PIN"),
            usize::from(pin.is_some()),
            "{label}: PIN prompts"
        );

        // --status: the TPM and the identity on it.
        let s = plugin(
            &ws,
            &["--status", key.file.to_str().unwrap()],
            &[("TPM2TOOLS_TCTI", &tcti)],
        );
        assert_eq!(s.code, 0, "{}", s.stderr);
        assert!(s.out().contains("tpm: available"), "{}", s.out());
        assert!(s.out().contains("manufacturer: IBM"), "{}", s.out());
        assert!(s.out().contains("usable on this TPM"), "{}", s.out());
    }
}

#[test]
fn an_identity_of_another_tpm_fails_cleanly() {
    let ws = Workspace::new();
    let a = Swtpm::start(&ws.path("tpm-a"));
    let b = Swtpm::start(&ws.path("tpm-b"));
    let key = generate(&ws, &a, "id.txt", Some("1234"));
    encrypt(&ws, "s.json", &key.tag, &[]);
    let (ask, asked) = ws.askpass("ask", "1234");
    let on = |tpm: &Swtpm| decrypt(&ws, &key.file, &tpm.tcti(), Some(&ask), &["s.json"], &[]);
    let r = on(&b);
    assert_ne!(r.code, 0);
    assert!(r.stdout.is_empty());
    assert!(r.stderr.contains("made on another TPM"), "{}", r.stderr);
    no_panic(&r);
    assert_eq!(
        lines(&asked, "PIN"),
        0,
        "no PIN asked for a key this TPM cannot use"
    );
    let s = plugin(
        &ws,
        &["--status", key.file.to_str().unwrap()],
        &[("TPM2TOOLS_TCTI", &b.tcti())],
    );
    assert_eq!(s.code, 1);
    assert!(s.out().contains("another TPM"), "{}", s.out());
    // And on TPM A it opens.
    let r = on(&a);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn a_wrong_pin_fails_then_the_lockout_says_how_long() {
    let ws = Workspace::new();
    let tpm = Swtpm::start(&ws.path("tpm"));
    let key = generate(&ws, &tpm, "id.txt", Some("1234"));
    encrypt(&ws, "s.json", &key.tag, &[]);
    let (wrong, _) = ws.askpass("wrong", "0000");
    let with_pin = |ask: &Path| decrypt(&ws, &key.file, &tpm.tcti(), Some(ask), &["s.json"], &[]);
    let r = with_pin(&wrong);
    assert_ne!(r.code, 0);
    assert!(r.stdout.is_empty());
    assert!(r.stderr.contains("wrong PIN"), "{}", r.stderr);
    // swtpm allows 3 failures, then locks out for 1000 s per failure to forget.
    assert!(r.stderr.contains("1 of 3"), "{}", r.stderr);
    no_panic(&r);
    let mut locked = None;
    for _ in 0..4 {
        let r = with_pin(&wrong);
        assert_ne!(r.code, 0);
        no_panic(&r);
        if r.stderr.contains("locked out") {
            locked = Some(r);
            break;
        }
    }
    let r = locked.expect("the TPM locks out after 3 wrong PINs");
    assert!(
        r.stderr.contains("about 17 min"),
        "says how long: {}",
        r.stderr
    );
    // Now even the right PIN is refused, with the same explanation.
    let (right, _) = ws.askpass("right", "1234");
    let r = with_pin(&right);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("locked out") && r.stderr.contains("17 min"),
        "{}",
        r.stderr
    );
    no_panic(&r);
}

#[test]
fn a_tpm_that_is_down_falls_back_to_a_software_key() {
    let ws = Workspace::new();
    let mut tpm = Swtpm::start(&ws.path("tpm"));
    let key = generate(&ws, &tpm, "id.txt", None);
    encrypt(&ws, "s.json", &format!("{},{}", key.tag, ws.recipient), &[]);
    let both = ws.write(
        "keys.both",
        format!(
            "{}{}",
            std::fs::read_to_string(&key.file).unwrap(),
            std::fs::read_to_string(&ws.keys).unwrap()
        ),
    );
    let tcti = tpm.tcti();
    tpm.stop();
    let r = decrypt(&ws, &both, &tcti, None, &["--verbose", "s.json"], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.out().contains("s3cret"));
    assert!(r.stderr.contains("skipping"), "{}", r.stderr);
    assert!(r.stderr.contains("no TPM available"), "{}", r.stderr);
    no_panic(&r);
    // A file with no stanza for the TPM key does not even try the TPM.
    encrypt(&ws, "software-only.json", &ws.recipient, &[]);
    let log = ws.path("plugin.log");
    let r = decrypt(
        &ws,
        &both,
        &tcti,
        None,
        &["software-only.json"],
        &[("AGE_TPM_LOG", log.to_str().unwrap())],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("skipping"), "{}", r.stderr);
    assert_eq!(lines(&log, "the TPM is not used"), 1);
    // With no TPM and no other key: a clear error, not a hang or a crash.
    let r = decrypt(&ws, &key.file, &tcti, None, &["s.json"], &[]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("no TPM available"), "{}", r.stderr);
    no_panic(&r);
    // --status says so too.
    let s = plugin(&ws, &["--status"], &[("TPM2TOOLS_TCTI", &tcti)]);
    assert_eq!(s.code, 1);
    assert!(s.out().contains("tpm: unavailable"), "{}", s.out());
    let s = plugin(
        &ws,
        &["--status"],
        &[("TPM2TOOLS_TCTI", "device:/nonexistent/tpmrm0")],
    );
    assert_eq!(s.code, 1);
    assert!(
        s.out().contains("/nonexistent/tpmrm0 does not exist"),
        "{}",
        s.out()
    );
}

#[test]
fn twenty_files_are_unwrapped_in_one_session_with_one_pin_prompt() {
    let ws = Workspace::new();
    let tpm = Swtpm::start(&ws.path("tpm"));
    let key = generate(&ws, &tpm, "id.txt", Some("4321"));
    let mut files = Vec::new();
    for i in 0..20 {
        let name = format!("f{i:02}.json");
        encrypt(&ws, &name, &key.tag, &[]);
        files.push(name);
    }
    let (ask, asked) = ws.askpass("ask", "4321");
    let log = ws.path("plugin.log");
    std::fs::create_dir_all(ws.path("out")).unwrap();
    let mut args = vec!["--output-dir", "out"];
    args.extend(files.iter().map(String::as_str));
    let log_env = [("AGE_TPM_LOG", log.to_str().unwrap())];
    let r = decrypt(&ws, &key.file, &tpm.tcti(), Some(&ask), &args, &log_env);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(lines(&log, "identity-v1 session:"), 1, "one plugin session");
    assert_eq!(lines(&log, "unwrapped from its p256tag stanza"), 20);
    assert_eq!(lines(&asked, "PIN"), 1, "one PIN prompt for 20 files");
    for f in &files {
        assert!(std::fs::read_to_string(ws.path("out").join(f))
            .unwrap()
            .contains("s3cret"));
    }
}

/// An age recipient that writes, for one P-256 key, a damaged stanza with the right tag
/// before the good one: an identity must not give up at the first matching stanza.
struct DamagedFirst {
    key: keytap_p256::P256Point,
    ecc: bool,
}

impl age::Recipient for DamagedFirst {
    fn wrap_file_key(
        &self,
        file_key: &age_core::format::FileKey,
    ) -> Result<(Vec<age_core::format::Stanza>, HashSet<String>), age::EncryptError> {
        use age_core::secrecy::ExposeSecret;
        let mut rng = rand::rngs::OsRng;
        let fk = file_key.expose_secret();
        let (tag, good, mut bad) = if self.ecc {
            let good = keytap_p256::tpm_ecc::TpmEccStanza::wrap(&self.key, fk, &mut rng);
            let bad = keytap_p256::tpm_ecc::TpmEccStanza::wrap(&self.key, fk, &mut rng);
            (
                "tpm-ecc",
                (good.args(), good.body.to_vec()),
                (bad.args(), bad.body.to_vec()),
            )
        } else {
            let good = keytap_p256::tag::P256TagStanza::wrap(&self.key, fk, &mut rng);
            let bad = keytap_p256::tag::P256TagStanza::wrap(&self.key, fk, &mut rng);
            (
                "p256tag",
                (good.args(), good.body.to_vec()),
                (bad.args(), bad.body.to_vec()),
            )
        };
        bad.1[0] ^= 0x80;
        let stanza = |(args, body): (Vec<String>, Vec<u8>)| age_core::format::Stanza {
            tag: tag.to_string(),
            args,
            body,
        };
        Ok((vec![stanza(bad), stanza(good)], HashSet::new()))
    }
}

fn age_encrypt_damaged_first(ws: &Workspace, name: &str, recipient: &str, ecc: bool) -> PathBuf {
    let key = keytap_p256::tag::parse_recipient(recipient).unwrap();
    let r = DamagedFirst { key, ecc };
    let enc = age::Encryptor::with_recipients(std::iter::once(&r as &dyn age::Recipient)).unwrap();
    let mut out = Vec::new();
    let mut w = enc.wrap_output(&mut out).unwrap();
    std::io::Write::write_all(&mut w, b"damaged first\n").unwrap();
    w.finish().unwrap();
    ws.write(name, out)
}

#[test]
fn encryption_needs_no_tpm_and_every_matching_stanza_is_tried() {
    let ws = Workspace::new();
    let mut tpm = Swtpm::start(&ws.path("tpm"));
    let a = generate(&ws, &tpm, "a.txt", None);
    let b = generate(&ws, &tpm, "b.txt", Some("9999"));
    tpm.stop();

    // Encryption with no TPM at all.
    let dead = dead_tcti();
    let none = [("TPM2TOOLS_TCTI", dead.as_str())];
    ws.write("plain.txt", "hello tpm\n");
    let age_to = |out: &str, recipients: &[&str], env: &[(&str, &str)]| {
        let mut args = vec!["-o", out];
        for r in recipients {
            args.extend(["-r", r]);
        }
        args.push("plain.txt");
        let r = run(&ws, "age", &args, env);
        assert_eq!(r.code, 0, "age {args:?}: {}", r.stderr);
    };
    // Real age through the plugin, to the 0.x recipients: B's stanza first, then A's.
    age_to("age-p256tag.age", &[&b.tpm1, &a.tpm1], &none);
    // typage (npm age-encryption, by age's author) to the tag recipient, natively.
    let typage = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../core/tests/tools/typage.mjs");
    let ty = Command::new("node")
        .arg(&typage)
        .args(["encrypt", &a.tag])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b"hello tpm\n")?;
            c.wait_with_output()
        })
        .expect("node (install-deps installs it)");
    assert!(
        ty.status.success(),
        "typage: {}",
        String::from_utf8_lossy(&ty.stderr)
    );
    ws.write("typage-tag.age", &ty.stdout);
    // rage too (and natively to the tag recipient, which needs no plugin at all).
    let r = run(
        &ws,
        "rage",
        &["-o", "rage-tpm1.age", "-r", &a.tpm1, "plain.txt"],
        &none,
    );
    assert_eq!(r.code, 0, "rage to age1tpm1: {}", r.stderr);
    age_to(
        "age-tpm-ecc.age",
        &[&b.tpm1, &a.tpm1],
        &[none[0], ("AGE_TPM_STANZA", "tpm-ecc")],
    );
    // keytap natively to the tag recipients, and through the plugin to the 0.x ones.
    encrypt(
        &ws,
        "keytap-tag.json",
        &format!("{},{}", b.tag, a.tag),
        &none,
    );
    encrypt(
        &ws,
        "keytap-tpm1.json",
        &format!("{},{}", b.tpm1, a.tpm1),
        &none,
    );
    encrypt(
        &ws,
        "keytap-tpm1-ecc.json",
        &format!("{},{}", b.tpm1, a.tpm1),
        &[none[0], ("AGE_TPM_STANZA", "tpm-ecc")],
    );
    // Files whose first stanza for A has A's tag but does not open.
    age_encrypt_damaged_first(&ws, "damaged-p256tag.age", &a.tag, false);
    age_encrypt_damaged_first(&ws, "damaged-tpm-ecc.age", &a.tag, true);

    tpm.restart();
    let tcti = tpm.tcti();
    let log = ws.path("plugin.log");
    let env = [
        ("TPM2TOOLS_TCTI", tcti.as_str()),
        ("AGE_TPM_LOG", log.to_str().unwrap()),
    ];

    // Real age decrypts with A (not the first stanza of any file) ...
    for (f, expect) in [
        ("age-p256tag.age", "hello tpm"),
        ("age-tpm-ecc.age", "hello tpm"),
        ("damaged-p256tag.age", "damaged first"),
        ("damaged-tpm-ecc.age", "damaged first"),
        ("rage-tpm1.age", "hello tpm"),
        ("typage-tag.age", "hello tpm"),
    ] {
        let r = run(&ws, "age", &["-d", "-i", a.file.to_str().unwrap(), f], &env);
        assert_eq!(r.code, 0, "age -d {f}: {}", r.stderr);
        assert_eq!(r.out().trim(), expect, "{f}");
    }
    assert_eq!(
        lines(&log, "has our tag but does not open; trying the next"),
        2
    );
    // rage decrypts through the plugin as well.
    let r = run(
        &ws,
        "rage",
        &["-d", "-i", a.file.to_str().unwrap(), "age-p256tag.age"],
        &env,
    );
    assert_eq!(r.code, 0, "rage -d: {}", r.stderr);
    assert_eq!(r.out().trim(), "hello tpm");
    // ... and with B (PIN from AGE_TPM_PIN, as age cannot prompt here).
    for f in ["age-p256tag.age", "age-tpm-ecc.age"] {
        let r = run(
            &ws,
            "age",
            &["-d", "-i", b.file.to_str().unwrap(), f],
            &[env[0], ("AGE_TPM_PIN", "9999")],
        );
        assert_eq!(r.code, 0, "age -d {f} with B: {}", r.stderr);
    }
    // keytap decrypts every sops file with A alone.
    for f in [
        "keytap-tag.json",
        "keytap-tpm1.json",
        "keytap-tpm1-ecc.json",
    ] {
        let r = keytap(
            &ws,
            &["decrypt", f],
            &[("SOPS_AGE_KEY_FILE", a.file.to_str().unwrap()), env[0]],
        );
        assert_eq!(r.code, 0, "keytap decrypt {f}: {}", r.stderr);
        assert!(r.out().contains("s3cret"), "{f}");
    }
    assert!(lines(&log, "unwrapped from its tpm-ecc stanza") >= 2);
    assert!(lines(&log, "unwrapped from its p256tag stanza") >= 2);
}

/// The SRK choice of Foxboron's plugin: keys are made under the persistent SRK at
/// 0x81000001 when the TPM has one, else under the transient SRK of the ECC template; an
/// identity names its SRK (version 2), and a version 1 identity (no SRK name) is loaded
/// under the transient SRK.
#[test]
fn persistent_and_transient_srks_and_version_1_identities() {
    let ws = Workspace::new();
    let tpm = Swtpm::start(&ws.path("tpm"));
    let tcti = tpm.tcti();
    let before = generate(&ws, &tpm, "before.txt", None);

    // Persist an SRK made by tpm2-tools' own template (so another name than the plugin's).
    let ctx = ws.path("srk.ctx");
    for args in [
        vec![
            "tpm2_createprimary",
            "-C",
            "o",
            "-G",
            "ecc256:aes128cfb",
            "-c",
            ctx.to_str().unwrap(),
        ],
        vec![
            "tpm2_evictcontrol",
            "-C",
            "o",
            "-c",
            ctx.to_str().unwrap(),
            "0x81000001",
        ],
        vec!["tpm2_flushcontext", "-t"],
    ] {
        let r = run(
            &ws,
            args[0],
            &[&["-T", &tcti][..], &args[1..]].concat(),
            &[],
        );
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    }
    let s = plugin(&ws, &["--status"], &[("TPM2TOOLS_TCTI", &tcti)]);
    let persistent_name = s
        .out()
        .lines()
        .find_map(|l| l.strip_prefix("srk: persistent 0x81000001, name "))
        .unwrap_or_else(|| panic!("{}", s.out()))
        .to_string();
    let after = generate(&ws, &tpm, "after.txt", None);
    let identity_bytes = |k: &Key| {
        let text = std::fs::read_to_string(&k.file).unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with("AGE-PLUGIN-TPM-1"))
            .unwrap()
            .to_string();
        keytap_p256::bech32::decode(&line, "AGE-PLUGIN-TPM-", keytap_p256::bech32::Case::Upper)
            .unwrap()
    };
    let b = identity_bytes(&after);
    assert_eq!(
        hex::encode(&b[b.len() - 34..]),
        persistent_name,
        "made under the persistent SRK"
    );
    let a = identity_bytes(&before);
    assert_ne!(hex::encode(&a[a.len() - 34..]), persistent_name);

    // A version 1 identity of the key made before: same blobs, no SRK name.
    let mut v1 = a.clone();
    v1[0] = 1;
    v1.truncate(v1.len() - 36);
    let v1 = keytap_p256::bech32::encode("AGE-PLUGIN-TPM-", &v1, keytap_p256::bech32::Case::Upper);
    let v1_file = ws.write("v1.txt", format!("{v1}\n"));

    encrypt(&ws, "s.json", &format!("{},{}", before.tag, after.tag), &[]);
    for id in [&before.file, &after.file, &v1_file] {
        let r = decrypt(&ws, id, &tcti, None, &["s.json"], &[]);
        assert_eq!(r.code, 0, "{}: {}", id.display(), r.stderr);
        assert!(r.out().contains("s3cret"));
    }
}

/// The real sops (3.11, on age 1.3) runs this plugin from PATH: it encrypts to the
/// `age1tpm1` recipient through it and decrypts with the identity (PIN from AGE_TPM_PIN,
/// as sops only prompts on a terminal); keytap opens what sops wrote and the other way round.
#[test]
fn sops_and_keytap_interoperate_through_the_plugin() {
    let ws = Workspace::new();
    let tpm = Swtpm::start(&ws.path("tpm"));
    let tcti = tpm.tcti();
    let key = generate(&ws, &tpm, "id.txt", Some("5555"));
    write_plain(&ws);
    let sops = |args: &[&str], env: &[(&str, &str)]| {
        let mut all = vec![
            ("SOPS_DISABLE_VERSION_CHECK", "1"),
            ("TPM2TOOLS_TCTI", tcti.as_str()),
        ];
        all.extend_from_slice(env);
        run(&ws, "sops", args, &all)
    };
    let enc = sops(&["encrypt", "--age", &key.tpm1, "plain.json"], &[]);
    assert_eq!(enc.code, 0, "sops encrypt: {}", enc.stderr);
    ws.write("by-sops.json", &enc.stdout);
    encrypt(&ws, "by-keytap.json", &key.tag, &[]);
    let id = key.file.to_str().unwrap();
    for f in ["by-sops.json", "by-keytap.json"] {
        let r = sops(
            &["decrypt", f],
            &[("SOPS_AGE_KEY_FILE", id), ("AGE_TPM_PIN", "5555")],
        );
        assert_eq!(r.code, 0, "sops decrypt {f}: {}", r.stderr);
        assert!(r.out().contains("s3cret"), "{f}");
        let (ask, _) = ws.askpass("ask", "5555");
        let r = decrypt(&ws, Path::new(id), &tcti, Some(&ask), &[f], &[]);
        assert_eq!(r.code, 0, "keytap decrypt {f}: {}", r.stderr);
        assert!(r.out().contains("s3cret"), "{f}");
    }
}

#[test]
fn keytap_doctor_shows_the_tpm_it_finds() {
    let ws = Workspace::new();
    let tpm = Swtpm::start(&ws.path("tpm-state"));
    let tcti = tpm.tcti();
    let run = keytap(&ws, &["doctor"], &[("TPM2TOOLS_TCTI", &tcti)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = run.out();
    assert!(out.contains("age-plugin-tpm --status:"), "{out}");
    assert!(out.contains("tpm: available"), "{out}");
    assert!(out.contains("SWTPM"), "{out}");
    // And says so when the TPM is down.
    let down = keytap(&ws, &["doctor"], &[("TPM2TOOLS_TCTI", &dead_tcti())]);
    assert!(down.out().contains("tpm: unavailable"), "{}", down.out());
}

/// The boot installer with a TPM identity: 20 sops files, one plugin session, one PIN.
#[test]
fn install_secrets_at_boot_uses_one_tpm_session_for_all_files() {
    let site = Site::new();
    let ws = &site.ws;
    let tpm = Swtpm::start(&ws.path("tpm"));
    let key = generate(ws, &tpm, "id.txt", Some("2468"));
    let secrets = (0..20)
        .map(|i| {
            let name = format!("f{i:02}.json");
            encrypt(ws, &name, &key.tag, &[]);
            site.secret(&format!("s{i:02}"), "token", &ws.path(&name), "json")
        })
        .collect();
    let mut manifest = site.manifest_value(secrets, vec![]);
    manifest["ageKeyFile"] = site.s(&key.file).into();
    let manifest = site.write_manifest("manifest.json", &manifest);
    let (ask, asked) = ws.askpass("ask", "2468");
    let log = ws.path("plugin.log");
    let env = [
        ("PATH", path_with_plugins()),
        ("TPM2TOOLS_TCTI", tpm.tcti()),
        ("KEYTAP_ASKPASS", site.s(&ask)),
        ("AGE_TPM_LOG", site.s(&log)),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = site.install(&[&site.s(&manifest)], &env);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for i in 0..20 {
        assert_eq!(site.read_secret(&format!("s{i:02}")), b"s3cret");
    }
    assert_eq!(
        lines(&log, "identity-v1 session:"),
        1,
        "one plugin session at boot"
    );
    assert_eq!(lines(&asked, "PIN"), 1, "one PIN prompt at boot");
}
