//! The YubiKey PIV plugin (issue #5) on software YubiKeys: pcscd in the foreground with
//! vsmartcard's vpcd driver, and `keytap-piv-card` emulating the PIV applet behind it. Real
//! PC/SC all the way: the plugin, age-plugin-yubikey 0.5.1 and pcsc_scan see a card.
//!
//! pcscd is machine-wide: every test holds `Pcscd`'s lock (a flock plus a mutex), so these
//! tests run one at a time, also against other test binaries that use the harness. Needs
//! root (pcscd creates /run/pcscd) and the packages of scripts/install-deps.sh; nothing is
//! skipped when they are missing: the tests fail.

mod install_common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use install_common::Site;
use keytap_e2e::{bin_dir, keytap_bin, lines_of, Run, Workspace};
use keytap_piv_card::harness::{Card, CardOptions, Pcscd};

const PIN: &str = "654321";
const SERIAL_A: u32 = 15_000_001;
const SERIAL_B: u32 = 15_000_002;
/// `--generate` flags for a key that needs no touch.
const NO_TOUCH: &[&str] = &["--touch-policy", "never"];

/// Our plugin, built with the workspace (`cargo build --workspace`).
fn our_plugin() -> PathBuf {
    bin_dir().join("age-plugin-yubikey")
}

/// PATH for keytap with our plugin: the workspace's binaries, then the system's.
fn our_path() -> String {
    format!("{}:/usr/local/bin:/usr/bin:/bin", bin_dir().display())
}

/// str4d's age-plugin-yubikey 0.5.1 (`cargo install age-plugin-yubikey --version 0.5.1
/// --locked`, see scripts/install-deps.sh), found on PATH or in ~/.cargo/bin, outside the
/// workspace's target directory.
fn their_plugin() -> PathBuf {
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(Path::new(&home).join(".cargo/bin"));
    }
    let ours = bin_dir();
    for dir in candidates {
        let p = dir.join("age-plugin-yubikey");
        if dir != ours && p.exists() {
            let out = std::process::Command::new(&p)
                .arg("--version")
                .output()
                .unwrap();
            if String::from_utf8_lossy(&out.stdout).trim() == "age-plugin-yubikey 0.5.1" {
                return p;
            }
        }
    }
    panic!("age-plugin-yubikey 0.5.1 is not installed: run scripts/install-deps.sh");
}

/// A directory whose only plugin is str4d's age-plugin-yubikey, for PATH.
fn their_path(ws: &Workspace) -> String {
    let dir = ws.path("theirs");
    std::fs::create_dir_all(&dir).unwrap();
    let link = dir.join("age-plugin-yubikey");
    if !link.exists() {
        std::os::unix::fs::symlink(their_plugin(), &link).unwrap();
    }
    format!("{}:/usr/local/bin:/usr/bin:/bin", dir.display())
}

/// Runs a plugin binary (ours or theirs) with `args`.
fn plugin(ws: &Workspace, bin: &Path, args: &[&str]) -> Run {
    ws.run(bin.to_str().unwrap(), |c| {
        c.args(args);
    })
}

/// Checks a run: whether it succeeded, its standard output (if `out` is given), and that
/// its standard error says each of `said`.
#[track_caller]
fn check(r: &Run, ok: bool, out: Option<&str>, said: &[&str]) {
    assert_eq!(r.code == 0, ok, "exit code {}: {}", r.code, r.stderr);
    if let Some(out) = out {
        assert_eq!(r.out(), out, "{}", r.stderr);
    }
    for s in said {
        assert!(r.stderr.contains(s), "{s:?} not in: {}", r.stderr);
    }
}

/// The first line of `text` that `pick` maps to something.
#[track_caller]
fn line<'t>(text: &'t str, pick: impl FnMut(&'t str) -> Option<&'t str>) -> String {
    text.lines()
        .find_map(pick)
        .expect("no such line")
        .to_string()
}

/// A pcscd for this test, its log in the workspace.
fn pcscd(ws: &Workspace) -> Pcscd {
    Pcscd::start(&ws.path("pcscd.log")).unwrap_or_else(|e| panic!("pcscd: {e}"))
}

fn insert(ws: &Workspace, reader: u16, serial: u32, opts: CardOptions) -> Card {
    let opts = CardOptions {
        serial: Some(serial),
        ..opts
    };
    Card::insert(ws.dir.path(), reader, &opts).unwrap_or_else(|e| panic!("card: {e}"))
}

/// A generated identity: (identity stub line, age1yubikey1 recipient, whole stdout).
struct Generated {
    identity: String,
    recipient: String,
    stdout: String,
}

/// `age-plugin-yubikey --generate` with our plugin, without a terminal: the card's default
/// PIN is changed to [`PIN`].
fn generate(ws: &Workspace, extra: &[&str]) -> Generated {
    let pin_file = ws.write("pin-default", "123456\n");
    let new_pin = ws.write("pin-new", format!("{PIN}\n"));
    let r = ws.run(our_plugin().to_str().unwrap(), |c| {
        c.arg("--generate").args(extra);
        c.arg("--pin-file")
            .arg(&pin_file)
            .arg("--new-pin-file")
            .arg(&new_pin);
    });
    check(&r, true, None, &[]);
    let stdout = r.out();
    Generated {
        identity: line(&stdout, |l| {
            l.starts_with("AGE-PLUGIN-YUBIKEY-1").then_some(l)
        }),
        recipient: line(&stdout, |l| l.strip_prefix("#    Recipient: ")),
        stdout,
    }
}

/// keytap with `PATH`, the identities file and the askpass given.
fn keytap(ws: &Workspace, path: &str, keys: &Path, ask: Option<&Path>, args: &[&str]) -> Run {
    ws.run(keytap_bin().to_str().unwrap(), |c| {
        c.env("PATH", path)
            .env("SOPS_AGE_KEY_FILE", keys)
            .args(args);
        if let Some(a) = ask {
            c.env("KEYTAP_ASKPASS", a);
        }
    })
}

/// `keytap decrypt FILE` with the askpass `ask`.
fn decrypt(ws: &Workspace, path: &str, keys: &Path, ask: &Path, file: &Path) -> Run {
    keytap(
        ws,
        path,
        keys,
        Some(ask),
        &["decrypt", file.to_str().unwrap()],
    )
}

/// Encrypts `name` with `content` to `recipients` (comma-separated) with keytap.
fn encrypt(ws: &Workspace, path: &str, name: &str, content: &str, recipients: &str) -> PathBuf {
    let plain = ws.write(&format!("plain-{name}"), content);
    let r = keytap(
        ws,
        path,
        &ws.keys,
        None,
        &["encrypt", "--age", recipients, plain.to_str().unwrap()],
    );
    check(&r, true, None, &[]);
    ws.write(name, r.stdout)
}

/// File `i` of a batch: (name `fNN.yaml`, content `num: nNN`).
fn numbered(i: usize) -> (String, String) {
    (format!("f{i:02}.yaml"), format!("num: n{i}\n"))
}

/// Decrypts all `files` (encrypted [`numbered`] files) in one keytap run into the directory
/// `out`, and checks each.
fn decrypt_all(
    ws: &Workspace,
    path: &str,
    keys: &Path,
    ask: &Path,
    files: &[PathBuf],
    out: &str,
) -> Run {
    let out = ws.path(out);
    std::fs::create_dir_all(&out).unwrap();
    let mut args = vec!["decrypt", "--output-dir", out.to_str().unwrap()];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let r = keytap(ws, path, keys, Some(ask), &args);
    check(&r, true, None, &[]);
    for i in 0..files.len() {
        let (name, content) = numbered(i);
        assert_eq!(std::fs::read_to_string(out.join(name)).unwrap(), content);
    }
    r
}

fn ids_file(ws: &Workspace, name: &str, lines: &[&str]) -> PathBuf {
    ws.write(
        name,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
}

/// What most tests start from: pcscd, the software YubiKey [`SERIAL_A`] in reader 0 and
/// an identity generated on it.
struct OneCard<'a> {
    ws: &'a Workspace,
    card: Option<Card>,
    g: Generated,
    _pcscd: Pcscd,
}

impl<'a> OneCard<'a> {
    /// Starts pcscd, inserts the card and runs `--generate` with `extra` flags.
    fn new(ws: &'a Workspace, extra: &[&str]) -> Self {
        let pcscd = pcscd(ws);
        let card = insert(ws, 0, SERIAL_A, CardOptions::default());
        OneCard {
            g: generate(ws, extra),
            ws,
            card: Some(card),
            _pcscd: pcscd,
        }
    }

    fn card(&mut self) -> &mut Card {
        self.card.as_mut().expect("the card is inserted")
    }

    /// Removes the card.
    fn remove(&mut self) {
        self.card.take().expect("inserted").remove().unwrap();
    }

    /// Removes the card and inserts it again with `opts`: a PIN verified before is
    /// forgotten, and the counters only see what comes next.
    fn power_cycle(&mut self, opts: CardOptions) {
        self.remove();
        self.card = Some(insert(self.ws, 0, SERIAL_A, opts));
    }

    /// The card's recipient and the workspace's software one.
    fn both(&self) -> String {
        format!("{},{}", self.g.recipient, self.ws.recipient)
    }

    /// An identities file: the card's identity, then the workspace's software key if
    /// `software`.
    fn ids(&self, software: bool) -> PathBuf {
        if !software {
            return ids_file(self.ws, "card-ids.txt", &[&self.g.identity]);
        }
        let keys = std::fs::read_to_string(&self.ws.keys).unwrap();
        let soft = keys
            .lines()
            .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
            .unwrap();
        ids_file(self.ws, "ids.txt", &[&self.g.identity, soft])
    }

    /// `n` [`numbered`] files encrypted to `recipients` with our plugin.
    fn encrypt_numbered(&self, n: usize, recipients: &str) -> Vec<PathBuf> {
        (0..n)
            .map(|i| {
                let (name, content) = numbered(i);
                encrypt(self.ws, &our_path(), &name, &content, recipients)
            })
            .collect()
    }

    /// `keytap decrypt FILE` with our plugin.
    fn decrypt(&self, keys: &Path, ask: &Path, file: &Path) -> Run {
        decrypt(self.ws, &our_path(), keys, ask, file)
    }
}

#[test]
fn generate_encrypt_decrypt_with_the_software_yubikey() {
    let ws = Workspace::new();
    let mut s = OneCard::new(&ws, &["--name", "laptop key"]);
    let g = &s.g;
    assert!(g.recipient.starts_with("age1yubikey1"), "{}", g.stdout);
    assert!(
        g.stdout.contains(&format!(
            "#       Serial: {SERIAL_A}, Slot: 1\n#         Name: laptop key\n"
        )),
        "{}",
        g.stdout
    );
    assert!(g
        .stdout
        .contains("#   PIN policy: Once   (A PIN is required once per session, if set)"));
    assert!(g
        .stdout
        .contains("# Touch policy: Always (A physical touch is required for every decryption)"));

    // --identity and --list print the same identity again.
    let r = plugin(&ws, &our_plugin(), &["--identity"]);
    check(
        &r,
        true,
        Some(&format!("{}\n\n\n", g.stdout.trim_end())),
        &[],
    );
    let r = plugin(&ws, &our_plugin(), &["--list", "--slot", "1"]);
    assert!(
        r.out().ends_with(&format!("{}\n", g.recipient)),
        "{}",
        r.out()
    );

    // A sops file encrypted to the card, decrypted with the PIN from KEYTAP_ASKPASS.
    let content = "db_password: hunter2\napi: [a, b]\n";
    let file = encrypt(&ws, &our_path(), "secrets.yaml", content, &g.recipient);
    let ids = s.ids(false);
    let (ask, log) = ws.askpass("ask", PIN);
    let before = s.card().counters();
    let r = s.decrypt(&ids, &ask, &file);
    let touch = format!("Touch your YubiKey with serial {SERIAL_A}");
    check(
        &r,
        true,
        Some("db_password: hunter2\napi:\n    - a\n    - b\n"),
        &[&touch],
    );
    assert_eq!(
        lines_of(&log),
        vec![format!("Enter PIN for YubiKey with serial {SERIAL_A}")]
    );
    let after = s.card().counters();
    assert_eq!(after.verify_pin - before.verify_pin, 1);
    assert_eq!(after.ecdh - before.ecdh, 1);
    // Touch policy always: the card waited for a touch and the user was told (above).
    assert_eq!(after.touch - before.touch, 1);

    // The age 1.3 tag recipient of the same key: keytap encrypts natively (p256tag), the
    // plugin opens it with the same identity.
    let r = plugin(&ws, &our_plugin(), &["--list", "--recipient-type", "tag"]);
    let tag = line(&r.out(), |l| l.starts_with("age1tag1").then_some(l));
    let tagged = encrypt(&ws, &our_path(), "tagged.yaml", "k: tagged-value\n", &tag);
    check(
        &s.decrypt(&ids, &ask, &tagged),
        true,
        Some("k: tagged-value\n"),
        &[],
    );
    // The state file keeps the key: after a power cycle (reinsertion) it still decrypts.
    s.power_cycle(CardOptions::default());
    check(&s.decrypt(&ids, &ask, &file), true, None, &[]);
}

#[test]
fn interop_with_age_plugin_yubikey_0_5_1() {
    let ws = Workspace::new();
    let theirs = their_path(&ws);
    let s = OneCard::new(&ws, &["--touch-policy", "never", "--name", "interop"]);

    // Their plugin reads our certificate: the same identity, byte for byte.
    let r = plugin(&ws, &their_plugin(), &["--identity"]);
    check(
        &r,
        true,
        Some(&format!("{}\n\n\n", s.g.stdout.trim_end())),
        &[],
    );
    let r = plugin(&ws, &their_plugin(), &["--list"]);
    assert!(r.out().contains(&s.g.recipient), "{}", r.out());

    let ids = s.ids(false);
    let (ask, _log) = ws.askpass("ask", PIN);
    // Each plugin decrypts what the other encrypted.
    let ours = our_path();
    let both_ways = [
        ("ours", &ours, "theirs", &theirs),
        ("theirs", &theirs, "ours", &ours),
    ];
    for (enc_name, enc_path, dec_name, dec_path) in both_ways {
        let content = format!("from: {enc_name}\n");
        let name = format!("{enc_name}.yaml");
        let file = encrypt(&ws, enc_path, &name, &content, &s.g.recipient);
        let r = decrypt(&ws, dec_path, &ids, &ask, &file);
        assert_eq!(r.code, 0, "{dec_name} decrypting {enc_name}: {}", r.stderr);
        assert_eq!(r.out(), content);
    }
    // Both directions again with many files in one session each.
    let files: Vec<PathBuf> = (0..3)
        .map(|i| {
            let (name, content) = numbered(i);
            let path = if i % 2 == 0 { &theirs } else { &ours };
            encrypt(&ws, path, &name, &content, &s.g.recipient)
        })
        .collect();
    for (who, path) in [("theirs", &theirs), ("ours", &ours)] {
        decrypt_all(&ws, path, &ids, &ask, &files, &format!("out-{who}"));
    }
}

#[test]
fn wrong_pin_reports_tries_left_and_falls_back_to_a_software_key() {
    let ws = Workspace::new();
    let mut s = OneCard::new(&ws, NO_TOUCH);
    let file = encrypt(&ws, &our_path(), "s.yaml", "v: 1\n", &s.both());
    let only_card = encrypt(&ws, &our_path(), "c.yaml", "v: 2\n", &s.g.recipient);
    // Power-cycle so the PIN verified by --generate is forgotten.
    s.power_cycle(CardOptions::default());

    let (bad, bad_log) = ws.askpass("bad", "000000");
    let r = s.decrypt(&s.ids(true), &bad, &file);
    let said = ["skipping", "Invalid PIN", "2 tries remaining"];
    check(&r, true, Some("v: 1\n"), &said);
    assert_eq!(
        lines_of(&bad_log).len(),
        1,
        "a rejected PIN is never retried by itself"
    );
    assert_eq!(s.card().counters().verify_pin, 1);

    // Without a software key the error says it all, and the next try shows 1 left.
    let card_ids = s.ids(false);
    let r = s.decrypt(&card_ids, &bad, &only_card);
    check(&r, false, None, &["1 try remaining"]);
    // The right PIN resets the counter.
    let (good, _) = ws.askpass("good", PIN);
    check(
        &s.decrypt(&card_ids, &good, &only_card),
        true,
        Some("v: 2\n"),
        &[],
    );
}

#[test]
fn blocked_pin_says_how_to_unblock_without_asking() {
    let ws = Workspace::new();
    let mut s = OneCard::new(&ws, NO_TOUCH);
    let file = encrypt(&ws, &our_path(), "s.yaml", "v: blocked\n", &s.both());
    s.power_cycle(CardOptions::default());

    let card_ids = s.ids(false);
    let (bad, bad_log) = ws.askpass("bad", "000000");
    // Each wrong PIN costs a try; blocked, there is no prompt any more and the way out is
    // named.
    let tries: [(&[&str], usize); 4] = [
        (&["2 tries remaining"], 1),
        (&["1 try remaining"], 2),
        (&["PIN locked"], 3),
        (&["PIN locked", "unblock"], 3),
    ];
    for (said, prompts) in tries {
        check(&s.decrypt(&card_ids, &bad, &file), false, None, said);
        assert_eq!(lines_of(&bad_log).len(), prompts, "{said:?}");
    }
    // A software key still works.
    let r = s.decrypt(&s.ids(true), &bad, &file);
    check(&r, true, Some("v: blocked\n"), &["skipping"]);
}

#[test]
fn card_absent_falls_back_to_a_software_key() {
    let ws = Workspace::new();
    let mut s = OneCard::new(&ws, NO_TOUCH);
    let file = encrypt(&ws, &our_path(), "s.yaml", "v: absent\n", &s.both());
    s.remove();

    let (ask, log) = ws.askpass("ask", PIN);
    let start = Instant::now();
    let r = s.decrypt(&s.ids(true), &ask, &file);
    let not_found = format!("Could not find YubiKey with serial {SERIAL_A}");
    check(&r, true, Some("v: absent\n"), &["skipping", &not_found]);
    assert!(lines_of(&log).is_empty(), "no PIN asked for an absent card");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "no long wait for the card"
    );
    // Without a software key: a clear failure.
    check(
        &s.decrypt(&s.ids(false), &ask, &file),
        false,
        None,
        &[&not_found],
    );
}

#[test]
fn card_removed_mid_session_falls_back_for_the_remaining_files() {
    let ws = Workspace::new();
    let mut s = OneCard::new(&ws, NO_TOUCH);
    let files = s.encrypt_numbered(4, &s.both());
    // This card removes itself right after its first ECDH.
    s.power_cycle(CardOptions {
        remove_after_ecdh: Some(1),
        ..Default::default()
    });
    let (ask, log) = ws.askpass("ask", PIN);
    let r = decrypt_all(&ws, &our_path(), &s.ids(true), &ask, &files, "out");
    let removed = format!("YubiKey with serial {SERIAL_A} was removed");
    check(&r, true, None, &[&removed]);
    assert_eq!(lines_of(&log).len(), 1);
    assert_eq!(s.card().counters().ecdh, 1);
    assert!(!s.card().running(), "the card removed itself");
}

#[test]
fn two_cards_are_picked_by_serial() {
    let ws = Workspace::new();
    let _pcscd = pcscd(&ws);
    let _a = insert(&ws, 0, SERIAL_A, CardOptions::default());
    let b = insert(&ws, 1, SERIAL_B, CardOptions::default());

    // Two cards and no --serial: refused, as age-plugin-yubikey does.
    let r = ws.run(our_plugin().to_str().unwrap(), |c| {
        c.args(["--generate", "--pin-file"])
            .arg(ws.write("p", "123456\n"));
    });
    check(
        &r,
        false,
        None,
        &["Multiple YubiKeys are plugged in. Use --serial"],
    );

    let [ga, gb] = [(SERIAL_A, "card A"), (SERIAL_B, "card B")].map(|(serial, name)| {
        let serial = serial.to_string();
        let g = generate(
            &ws,
            &[
                "--serial",
                &serial,
                "--touch-policy",
                "never",
                "--name",
                name,
            ],
        );
        assert!(g.stdout.contains(&format!("Serial: {serial}")));
        g
    });
    assert_ne!(ga.recipient, gb.recipient);
    // --list shows both cards' identities; --serial one of them.
    let r = plugin(&ws, &our_plugin(), &["--list"]);
    assert!(
        r.out().contains(&ga.recipient) && r.out().contains(&gb.recipient),
        "{}",
        r.out()
    );
    let r = plugin(
        &ws,
        &our_plugin(),
        &["--list", "--serial", &SERIAL_B.to_string()],
    );
    assert!(
        !r.out().contains(&ga.recipient) && r.out().contains(&gb.recipient),
        "{}",
        r.out()
    );

    // A file for card B only: with both identities, B's card opens it, A is not asked.
    let file = encrypt(&ws, &our_path(), "b.yaml", "card: b\n", &gb.recipient);
    let ids = ids_file(&ws, "ids.txt", &[&ga.identity, &gb.identity]);
    let (ask, log) = ws.askpass("ask", PIN);
    let r = decrypt(&ws, &our_path(), &ids, &ask, &file);
    check(&r, true, Some("card: b\n"), &[]);
    assert_eq!(
        lines_of(&log),
        vec![format!("Enter PIN for YubiKey with serial {SERIAL_B}")]
    );
    assert_eq!(b.counters().ecdh, 1);
}

#[test]
fn the_pin_is_verified_once_for_20_files() {
    let ws = Workspace::new();
    let mut s = OneCard::new(&ws, NO_TOUCH);
    let files = s.encrypt_numbered(20, &s.g.recipient);
    s.power_cycle(CardOptions::default());

    let (ask, log) = ws.askpass("ask", PIN);
    decrypt_all(&ws, &our_path(), &s.ids(false), &ask, &files, "out");
    let c = s.card().counters();
    assert_eq!(
        c.verify_pin, 1,
        "one VERIFY with the PIN for 20 files: {c:?}"
    );
    assert_eq!(c.ecdh, 20);
    assert_eq!(lines_of(&log).len(), 1);
}

/// An Assuan pinentry answering every GETPIN with `pin`, logging the requests.
fn pinentry(ws: &Workspace, pin: &str) -> (PathBuf, PathBuf) {
    let log = ws.path("pinentry.log");
    let p = ws.script(
        "pinentry.sh",
        &format!(
            "#!/bin/sh\necho 'OK Pleased to meet you'\nwhile read -r line; do\n  echo \"$line\" >> '{}'\n  case \"$line\" in\n    GETPIN*) echo 'D {pin}'; echo OK;;\n    BYE*) echo OK; exit 0;;\n    *) echo OK;;\n  esac\ndone\n",
            log.display()
        ),
    );
    (p, log)
}

fn rage(ws: &Workspace, path: &str, pinentry: &Path, args: &[&str]) -> Run {
    ws.run("rage", |c| {
        c.env("PATH", path)
            .env("PINENTRY_PROGRAM", pinentry)
            .args(args);
    })
}

#[test]
fn rage_with_either_plugin_on_the_software_yubikey() {
    let ws = Workspace::new();
    let theirs = their_path(&ws);
    // rage from PATH or ~/.cargo/bin (scripts/install-deps.sh installs it).
    let rage_dir = std::env::var_os("HOME")
        .map(|h| Path::new(&h).join(".cargo/bin"))
        .filter(|d| d.join("rage").exists())
        .map(|d| format!("{}:", d.display()))
        .unwrap_or_default();
    let theirs = format!("{theirs}:{rage_dir}");
    let ours = format!("{}:{rage_dir}", our_path());
    let s = OneCard::new(&ws, NO_TOUCH);
    let ids = s.ids(false);
    let (pe, pe_log) = pinentry(&ws, PIN);
    let plain = ws.write("plain.txt", "rage and the card\n");

    for (enc_name, enc_path, dec_name, dec_path) in [
        ("ours", &ours, "theirs", &theirs),
        ("theirs", &theirs, "ours", &ours),
    ] {
        let out = ws.path(&format!("{enc_name}.age"));
        let (out, plain) = (out.to_str().unwrap(), plain.to_str().unwrap());
        let r = rage(
            &ws,
            enc_path,
            &pe,
            &["-r", &s.g.recipient, "-o", out, plain],
        );
        assert_eq!(r.code, 0, "rage + {enc_name} encrypting: {}", r.stderr);
        let r = rage(
            &ws,
            dec_path,
            &pe,
            &["-d", "-i", ids.to_str().unwrap(), out],
        );
        assert_eq!(
            r.code, 0,
            "rage + {dec_name} decrypting what {enc_name} encrypted: {}",
            r.stderr
        );
        assert_eq!(r.out(), "rage and the card\n");
    }
    // The PIN came through pinentry (at most once per decryption, none if still verified).
    let asked = lines_of(&pe_log)
        .iter()
        .filter(|l| l.starts_with("GETPIN"))
        .count();
    assert!((1..=2).contains(&asked), "{asked} PIN requests");
}

/// The boot installer with the software YubiKey: 20 sops files, one PIN VERIFY, one prompt.
#[test]
fn install_secrets_at_boot_uses_the_card_once_for_all_files() {
    let site = Site::new();
    let ws = &site.ws;
    let mut s = OneCard::new(ws, NO_TOUCH);
    let secrets = s
        .encrypt_numbered(20, &s.g.recipient)
        .iter()
        .enumerate()
        .map(|(i, f)| site.secret(&format!("s{i:02}"), "num", f, "yaml"))
        .collect();
    // A fresh insertion: the counters then only see the boot.
    s.power_cycle(CardOptions::default());
    let mut manifest = site.manifest_value(secrets, vec![]);
    manifest["ageKeyFile"] = site.s(&s.ids(false)).into();
    let manifest = site.write_manifest("manifest.json", &manifest);
    let (ask, log) = ws.askpass("ask", PIN);
    let r = site.install(
        &[&site.s(&manifest)],
        &[("PATH", &our_path()), ("KEYTAP_ASKPASS", &site.s(&ask))],
    );
    check(&r, true, None, &[]);
    for i in 0..20 {
        assert_eq!(
            site.read_secret(&format!("s{i:02}")),
            format!("n{i}").as_bytes()
        );
    }
    let c = s.card().counters();
    assert_eq!(
        c.verify_pin, 1,
        "one PIN VERIFY at boot for 20 files: {c:?}"
    );
    assert_eq!(lines_of(&log).len(), 1, "one prompt at boot");
}

/// The key service (issue #15) keeps the card's PIN between requests and forgets it when
/// the card is pulled: two decryptions through it cost one prompt, and after removal and
/// reinsertion the next one asks again.
#[test]
fn the_key_service_forgets_a_cards_pin_when_the_card_is_removed() {
    let ws = Workspace::new();
    let mut s = OneCard::new(&ws, &["--pin-policy", "always", "--touch-policy", "never"]);
    let file = encrypt(
        &ws,
        &our_path(),
        "s.yaml",
        "token: on-the-card\n",
        &s.g.recipient,
    );
    let ids = s.ids(false);
    let (ask, asked) = ws.askpass("ask", PIN);
    let service = keytap_e2e::KeyServiceProcess::start(
        &ws,
        &ws.path("run/ks.sock"),
        &[],
        &[
            ("PATH", &our_path()),
            ("SOPS_AGE_KEY_FILE", ids.to_str().unwrap()),
            ("KEYTAP_ASKPASS", ask.to_str().unwrap()),
        ],
    );
    // A client with no identities and no terminal: only the service can open the file.
    let through_service = || {
        let r = ws.run("setsid", |c| {
            c.arg("-w")
                .arg(keytap_bin())
                .arg("decrypt")
                .arg(format!("--keyservice={}", service.uri()))
                .arg("--enable-local-keyservice=false")
                .arg(&file)
                .env_remove("SOPS_AGE_KEY_FILE")
                .env_remove("KEYTAP_ASKPASS");
        });
        check(&r, true, Some("token: on-the-card\n"), &[]);
    };
    through_service();
    through_service();
    assert_eq!(lines_of(&asked).len(), 1, "two requests, one PIN prompt");
    let verified = s.card().counters().verify_pin;
    assert!(verified >= 2, "PIN policy always: one VERIFY per request");

    s.remove();
    let start = Instant::now();
    let mut log = std::fs::read_to_string(&service.log).unwrap_or_default();
    while !log.contains("a token was removed; its PIN is forgotten") {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the service did not notice the removal: {log}"
        );
        std::thread::sleep(Duration::from_millis(100));
        log = std::fs::read_to_string(&service.log).unwrap_or_default();
    }
    s.card = Some(insert(&ws, 0, SERIAL_A, CardOptions::default()));
    through_service();
    assert_eq!(
        lines_of(&asked).len(),
        2,
        "the PIN is asked again after the card came back"
    );
    assert!(!log.contains(PIN), "the PIN never reaches the log: {log}");
}
