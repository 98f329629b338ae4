//! The YubiKey PIV plugin (issue #5) on software YubiKeys: pcscd in the foreground with
//! vsmartcard's vpcd driver, and `keytap-piv-card` emulating the PIV applet behind it. Real
//! PC/SC all the way: the plugin, age-plugin-yubikey 0.5.1 and pcsc_scan see a card.
//!
//! pcscd is machine-wide: every test holds `Pcscd`'s lock (a flock plus a mutex), so these
//! tests run one at a time, also against other test binaries that use the harness. Needs
//! root (pcscd creates /run/pcscd) and the packages of scripts/install-deps.sh; nothing is
//! skipped when they are missing: the tests fail.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use keytap_e2e::{keytap_bin, Run, Workspace};
use keytap_piv_card::harness::{Card, CardOptions, Pcscd};

const PIN: &str = "654321";
const SERIAL_A: u32 = 15_000_001;
const SERIAL_B: u32 = 15_000_002;

fn bin_dir() -> PathBuf {
    keytap_bin().parent().unwrap().to_path_buf()
}

fn our_plugin() -> PathBuf {
    let p = bin_dir().join("age-plugin-yubikey");
    assert!(
        p.exists(),
        "{} not built: run `cargo build --workspace`",
        p.display()
    );
    p
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

fn script(ws: &Workspace, name: &str, body: &str) -> PathBuf {
    let p = ws.write(name, body);
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// An askpass answering `answer` and logging each prompt to `<name>.log`.
fn askpass(ws: &Workspace, name: &str, answer: &str) -> (PathBuf, PathBuf) {
    let log = ws.path(&format!("{name}.log"));
    let p = script(
        ws,
        name,
        &format!(
            "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\nprintf '%s\\n' '{answer}'\n",
            log.display()
        ),
    );
    (p, log)
}

fn prompts(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
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
    assert_eq!(r.code, 0, "generate failed: {}", r.stderr);
    let stdout = r.out();
    let identity = stdout
        .lines()
        .find(|l| l.starts_with("AGE-PLUGIN-YUBIKEY-1"))
        .unwrap()
        .to_string();
    let recipient = stdout
        .lines()
        .find_map(|l| l.strip_prefix("#    Recipient: "))
        .unwrap()
        .to_string();
    Generated {
        identity,
        recipient,
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
    assert_eq!(r.code, 0, "encrypt {name}: {}", r.stderr);
    ws.write(name, r.stdout)
}

fn ids_file(ws: &Workspace, name: &str, lines: &[&str]) -> PathBuf {
    ws.write(
        name,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
}

fn software_identity(ws: &Workspace) -> String {
    std::fs::read_to_string(&ws.keys)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .unwrap()
        .to_string()
}

#[test]
fn generate_encrypt_decrypt_with_the_software_yubikey() {
    let ws = Workspace::new();
    let _pcscd = pcscd(&ws);
    let card = insert(&ws, 0, SERIAL_A, CardOptions::default());

    let g = generate(&ws, &["--name", "laptop key"]);
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
    let r = ws.run(our_plugin().to_str().unwrap(), |c| {
        c.arg("--identity");
    });
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.out(), format!("{}\n\n\n", g.stdout.trim_end()));
    let r = ws.run(our_plugin().to_str().unwrap(), |c| {
        c.args(["--list", "--slot", "1"]);
    });
    assert!(
        r.out().ends_with(&format!("{}\n", g.recipient)),
        "{}",
        r.out()
    );

    // A sops file encrypted to the card, decrypted with the PIN from KEYTAP_ASKPASS.
    let file = encrypt(
        &ws,
        &our_path(),
        "secrets.yaml",
        "db_password: hunter2\napi: [a, b]\n",
        &g.recipient,
    );
    let ids = ids_file(&ws, "ids.txt", &[&g.identity]);
    let (ask, log) = askpass(&ws, "ask", PIN);
    let before = card.counters();
    let r = keytap(
        &ws,
        &our_path(),
        &ids,
        Some(&ask),
        &["decrypt", file.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.out(), "db_password: hunter2\napi:\n    - a\n    - b\n");
    assert_eq!(
        prompts(&log),
        vec![format!("Enter PIN for YubiKey with serial {SERIAL_A}")]
    );
    let after = card.counters();
    assert_eq!(after.verify_pin - before.verify_pin, 1);
    assert_eq!(after.ecdh - before.ecdh, 1);
    // Touch policy always: the card waited for a touch and the user was told.
    assert_eq!(after.touch - before.touch, 1);
    assert!(
        r.stderr
            .contains(&format!("Touch your YubiKey with serial {SERIAL_A}")),
        "{}",
        r.stderr
    );

    // The age 1.3 tag recipient of the same key: keytap encrypts natively (p256tag), the
    // plugin opens it with the same identity.
    let r = ws.run(our_plugin().to_str().unwrap(), |c| {
        c.args(["--list", "--recipient-type", "tag"]);
    });
    let tag = r
        .out()
        .lines()
        .find(|l| l.starts_with("age1tag1"))
        .expect("age1tag1 recipient")
        .to_string();
    let tagged = encrypt(&ws, &our_path(), "tagged.yaml", "k: tagged-value\n", &tag);
    let r = keytap(
        &ws,
        &our_path(),
        &ids,
        Some(&ask),
        &["decrypt", tagged.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.out(), "k: tagged-value\n");
    // The state file keeps the key: after a power cycle (reinsertion) it still decrypts.
    card.remove().unwrap();
    let _card = insert(&ws, 0, SERIAL_A, CardOptions::default());
    let r = keytap(
        &ws,
        &our_path(),
        &ids,
        Some(&ask),
        &["decrypt", file.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn interop_with_age_plugin_yubikey_0_5_1() {
    let ws = Workspace::new();
    let theirs = their_path(&ws);
    let _pcscd = pcscd(&ws);
    let _card = insert(&ws, 0, SERIAL_A, CardOptions::default());
    let g = generate(&ws, &["--touch-policy", "never", "--name", "interop"]);

    // Their plugin reads our certificate: the same identity, byte for byte.
    let r = ws.run(their_plugin().to_str().unwrap(), |c| {
        c.arg("--identity");
    });
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.out(), format!("{}\n\n\n", g.stdout.trim_end()));
    let r = ws.run(their_plugin().to_str().unwrap(), |c| {
        c.arg("--list");
    });
    assert!(r.out().contains(&g.recipient), "{}", r.out());

    let ids = ids_file(&ws, "ids.txt", &[&g.identity]);
    let (ask, _log) = askpass(&ws, "ask", PIN);
    // Ours encrypts, theirs decrypts.
    let ours_enc = encrypt(&ws, &our_path(), "ours.yaml", "from: ours\n", &g.recipient);
    let r = keytap(
        &ws,
        &theirs,
        &ids,
        Some(&ask),
        &["decrypt", ours_enc.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "theirs decrypting ours: {}", r.stderr);
    assert_eq!(r.out(), "from: ours\n");
    // Theirs encrypts (to the recipient, and to the identity: it asks the card), ours
    // decrypts.
    let theirs_enc = encrypt(&ws, &theirs, "theirs.yaml", "from: theirs\n", &g.recipient);
    let r = keytap(
        &ws,
        &our_path(),
        &ids,
        Some(&ask),
        &["decrypt", theirs_enc.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "ours decrypting theirs: {}", r.stderr);
    assert_eq!(r.out(), "from: theirs\n");
    // Both directions again with many files in one session each.
    let mut files = Vec::new();
    for i in 0..3 {
        let path = if i % 2 == 0 {
            theirs.clone()
        } else {
            our_path()
        };
        files.push(encrypt(
            &ws,
            &path,
            &format!("m{i}.yaml"),
            &format!("i: {i}\n"),
            &g.recipient,
        ));
    }
    for (who, path) in [("theirs", theirs.clone()), ("ours", our_path())] {
        let out = ws.path(&format!("out-{who}"));
        std::fs::create_dir_all(&out).unwrap();
        let mut args = vec![
            "decrypt".to_string(),
            "--output-dir".into(),
            out.to_str().unwrap().into(),
        ];
        args.extend(files.iter().map(|f| f.to_str().unwrap().to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = keytap(&ws, &path, &ids, Some(&ask), &args);
        assert_eq!(r.code, 0, "{who}: {}", r.stderr);
        for i in 0..3 {
            assert_eq!(
                std::fs::read_to_string(out.join(format!("m{i}.yaml"))).unwrap(),
                format!("i: {i}\n")
            );
        }
    }
}

#[test]
fn wrong_pin_reports_tries_left_and_falls_back_to_a_software_key() {
    let ws = Workspace::new();
    let _pcscd = pcscd(&ws);
    let card = insert(&ws, 0, SERIAL_A, CardOptions::default());
    let g = generate(&ws, &["--touch-policy", "never"]);
    let both = format!("{},{}", g.recipient, ws.recipient);
    let file = encrypt(&ws, &our_path(), "s.yaml", "v: 1\n", &both);
    let only_card = encrypt(&ws, &our_path(), "c.yaml", "v: 2\n", &g.recipient);
    // Power-cycle so the PIN verified by --generate is forgotten.
    card.remove().unwrap();
    let card = insert(&ws, 0, SERIAL_A, CardOptions::default());

    let (bad, bad_log) = askpass(&ws, "bad", "000000");
    let ids = ids_file(&ws, "ids.txt", &[&g.identity, &software_identity(&ws)]);
    let r = keytap(
        &ws,
        &our_path(),
        &ids,
        Some(&bad),
        &["decrypt", file.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.out(), "v: 1\n");
    assert!(r.stderr.contains("skipping"), "{}", r.stderr);
    assert!(
        r.stderr.contains("Invalid PIN") && r.stderr.contains("2 tries remaining"),
        "{}",
        r.stderr
    );
    assert_eq!(
        prompts(&bad_log).len(),
        1,
        "a rejected PIN is never retried by itself"
    );
    assert_eq!(card.counters().verify_pin, 1);

    // Without a software key the error says it all, and the next try shows 1 left.
    let card_ids = ids_file(&ws, "card-ids.txt", &[&g.identity]);
    let r = keytap(
        &ws,
        &our_path(),
        &card_ids,
        Some(&bad),
        &["decrypt", only_card.to_str().unwrap()],
    );
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("1 try remaining"), "{}", r.stderr);
    // The right PIN resets the counter.
    let (good, _) = askpass(&ws, "good", PIN);
    let r = keytap(
        &ws,
        &our_path(),
        &card_ids,
        Some(&good),
        &["decrypt", only_card.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.out(), "v: 2\n");
}

#[test]
fn blocked_pin_says_how_to_unblock_without_asking() {
    let ws = Workspace::new();
    let _pcscd = pcscd(&ws);
    let card = insert(&ws, 0, SERIAL_A, CardOptions::default());
    let g = generate(&ws, &["--touch-policy", "never"]);
    let both = format!("{},{}", g.recipient, ws.recipient);
    let file = encrypt(&ws, &our_path(), "s.yaml", "v: blocked\n", &both);
    card.remove().unwrap();
    let _card = insert(&ws, 0, SERIAL_A, CardOptions::default());

    let card_ids = ids_file(&ws, "card-ids.txt", &[&g.identity]);
    let (bad, bad_log) = askpass(&ws, "bad", "000000");
    for left in ["2 tries", "1 try"] {
        let r = keytap(
            &ws,
            &our_path(),
            &card_ids,
            Some(&bad),
            &["decrypt", file.to_str().unwrap()],
        );
        assert_ne!(r.code, 0);
        assert!(
            r.stderr.contains(&format!("{left} remaining")),
            "{}",
            r.stderr
        );
    }
    let r = keytap(
        &ws,
        &our_path(),
        &card_ids,
        Some(&bad),
        &["decrypt", file.to_str().unwrap()],
    );
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("PIN locked"), "{}", r.stderr);
    assert_eq!(prompts(&bad_log).len(), 3);
    // Blocked: no prompt any more, the way out is named, and a software key still works.
    let r = keytap(
        &ws,
        &our_path(),
        &card_ids,
        Some(&bad),
        &["decrypt", file.to_str().unwrap()],
    );
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("PIN locked") && r.stderr.contains("unblock"),
        "{}",
        r.stderr
    );
    assert_eq!(
        prompts(&bad_log).len(),
        3,
        "a blocked card does not ask for a PIN"
    );
    let ids = ids_file(&ws, "ids.txt", &[&g.identity, &software_identity(&ws)]);
    let r = keytap(
        &ws,
        &our_path(),
        &ids,
        Some(&bad),
        &["decrypt", file.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.out(), "v: blocked\n");
    assert!(r.stderr.contains("skipping"), "{}", r.stderr);
}

#[test]
fn card_absent_falls_back_to_a_software_key() {
    let ws = Workspace::new();
    let _pcscd = pcscd(&ws);
    let card = insert(&ws, 0, SERIAL_A, CardOptions::default());
    let g = generate(&ws, &["--touch-policy", "never"]);
    let file = encrypt(
        &ws,
        &our_path(),
        "s.yaml",
        "v: absent\n",
        &format!("{},{}", g.recipient, ws.recipient),
    );
    card.remove().unwrap();

    let (ask, log) = askpass(&ws, "ask", PIN);
    let ids = ids_file(&ws, "ids.txt", &[&g.identity, &software_identity(&ws)]);
    let start = std::time::Instant::now();
    let r = keytap(
        &ws,
        &our_path(),
        &ids,
        Some(&ask),
        &["decrypt", file.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.out(), "v: absent\n");
    assert!(
        r.stderr.contains("skipping")
            && r.stderr
                .contains(&format!("Could not find YubiKey with serial {SERIAL_A}")),
        "{}",
        r.stderr
    );
    assert!(prompts(&log).is_empty(), "no PIN asked for an absent card");
    assert!(
        start.elapsed() < std::time::Duration::from_secs(10),
        "no long wait for the card"
    );
    // Without a software key: a clear failure.
    let card_ids = ids_file(&ws, "card-ids.txt", &[&g.identity]);
    let r = keytap(
        &ws,
        &our_path(),
        &card_ids,
        Some(&ask),
        &["decrypt", file.to_str().unwrap()],
    );
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("Could not find YubiKey"), "{}", r.stderr);
}

#[test]
fn card_removed_mid_session_falls_back_for_the_remaining_files() {
    let ws = Workspace::new();
    let _pcscd = pcscd(&ws);
    let card = insert(&ws, 0, SERIAL_A, CardOptions::default());
    let g = generate(&ws, &["--touch-policy", "never"]);
    let both = format!("{},{}", g.recipient, ws.recipient);
    let files: Vec<PathBuf> = (0..4)
        .map(|i| {
            encrypt(
                &ws,
                &our_path(),
                &format!("f{i}.yaml"),
                &format!("num: {i}\n"),
                &both,
            )
        })
        .collect();
    card.remove().unwrap();
    // This card removes itself right after its first ECDH.
    let mut card = insert(
        &ws,
        0,
        SERIAL_A,
        CardOptions {
            remove_after_ecdh: Some(1),
            ..Default::default()
        },
    );
    let (ask, log) = askpass(&ws, "ask", PIN);
    let ids = ids_file(&ws, "ids.txt", &[&g.identity, &software_identity(&ws)]);
    let out = ws.path("out");
    std::fs::create_dir_all(&out).unwrap();
    let mut args = vec![
        "decrypt".to_string(),
        "--output-dir".into(),
        out.to_str().unwrap().into(),
    ];
    args.extend(files.iter().map(|f| f.to_str().unwrap().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = keytap(&ws, &our_path(), &ids, Some(&ask), &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for i in 0..4 {
        assert_eq!(
            std::fs::read_to_string(out.join(format!("f{i}.yaml"))).unwrap(),
            format!("num: {i}\n")
        );
    }
    assert!(
        r.stderr
            .contains(&format!("YubiKey with serial {SERIAL_A} was removed")),
        "{}",
        r.stderr
    );
    assert_eq!(prompts(&log).len(), 1);
    assert_eq!(card.counters().ecdh, 1);
    assert!(!card.running(), "the card removed itself");
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
    assert_ne!(r.code, 0);
    assert!(
        r.stderr
            .contains("Multiple YubiKeys are plugged in. Use --serial"),
        "{}",
        r.stderr
    );

    let ga = generate(
        &ws,
        &[
            "--serial",
            &SERIAL_A.to_string(),
            "--touch-policy",
            "never",
            "--name",
            "card A",
        ],
    );
    let gb = generate(
        &ws,
        &[
            "--serial",
            &SERIAL_B.to_string(),
            "--touch-policy",
            "never",
            "--name",
            "card B",
        ],
    );
    assert!(ga.stdout.contains(&format!("Serial: {SERIAL_A}")));
    assert!(gb.stdout.contains(&format!("Serial: {SERIAL_B}")));
    assert_ne!(ga.recipient, gb.recipient);
    // --list shows both cards' identities; --serial one of them.
    let r = ws.run(our_plugin().to_str().unwrap(), |c| {
        c.arg("--list");
    });
    assert!(
        r.out().contains(&ga.recipient) && r.out().contains(&gb.recipient),
        "{}",
        r.out()
    );
    let r = ws.run(our_plugin().to_str().unwrap(), |c| {
        c.args(["--list", "--serial", &SERIAL_B.to_string()]);
    });
    assert!(
        !r.out().contains(&ga.recipient) && r.out().contains(&gb.recipient),
        "{}",
        r.out()
    );

    // A file for card B only: with both identities, B's card opens it, A is not asked.
    let file = encrypt(&ws, &our_path(), "b.yaml", "card: b\n", &gb.recipient);
    let ids = ids_file(&ws, "ids.txt", &[&ga.identity, &gb.identity]);
    let (ask, log) = askpass(&ws, "ask", PIN);
    let r = keytap(
        &ws,
        &our_path(),
        &ids,
        Some(&ask),
        &["decrypt", file.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.out(), "card: b\n");
    assert_eq!(
        prompts(&log),
        vec![format!("Enter PIN for YubiKey with serial {SERIAL_B}")]
    );
    assert_eq!(b.counters().ecdh, 1);
}

#[test]
fn the_pin_is_verified_once_for_20_files() {
    let ws = Workspace::new();
    let _pcscd = pcscd(&ws);
    let card = insert(&ws, 0, SERIAL_A, CardOptions::default());
    let g = generate(&ws, &["--touch-policy", "never"]);
    let files: Vec<PathBuf> = (0..20)
        .map(|i| {
            encrypt(
                &ws,
                &our_path(),
                &format!("f{i:02}.yaml"),
                &format!("num: {i}\n"),
                &g.recipient,
            )
        })
        .collect();
    card.remove().unwrap();
    let card = insert(&ws, 0, SERIAL_A, CardOptions::default());

    let (ask, log) = askpass(&ws, "ask", PIN);
    let ids = ids_file(&ws, "ids.txt", &[&g.identity]);
    let out = ws.path("out");
    std::fs::create_dir_all(&out).unwrap();
    let mut args = vec![
        "decrypt".to_string(),
        "--output-dir".into(),
        out.to_str().unwrap().into(),
    ];
    args.extend(files.iter().map(|f| f.to_str().unwrap().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = keytap(&ws, &our_path(), &ids, Some(&ask), &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for i in 0..20 {
        assert_eq!(
            std::fs::read_to_string(out.join(format!("f{i:02}.yaml"))).unwrap(),
            format!("num: {i}\n")
        );
    }
    let c = card.counters();
    assert_eq!(
        c.verify_pin, 1,
        "one VERIFY with the PIN for 20 files: {c:?}"
    );
    assert_eq!(c.ecdh, 20);
    assert_eq!(prompts(&log).len(), 1);
}

/// An Assuan pinentry answering every GETPIN with `pin`, logging the requests.
fn pinentry(ws: &Workspace, pin: &str) -> (PathBuf, PathBuf) {
    let log = ws.path("pinentry.log");
    let p = script(
        ws,
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
    let _pcscd = pcscd(&ws);
    let _card = insert(&ws, 0, SERIAL_A, CardOptions::default());
    let g = generate(&ws, &["--touch-policy", "never"]);
    let ids = ids_file(&ws, "ids.txt", &[&g.identity]);
    let (pe, pe_log) = pinentry(&ws, PIN);
    let plain = ws.write("plain.txt", "rage and the card\n");

    for (enc_name, enc_path, dec_name, dec_path) in [
        ("ours", &ours, "theirs", &theirs),
        ("theirs", &theirs, "ours", &ours),
    ] {
        let out = ws.path(&format!("{enc_name}.age"));
        let r = rage(
            &ws,
            enc_path,
            &pe,
            &[
                "-r",
                &g.recipient,
                "-o",
                out.to_str().unwrap(),
                plain.to_str().unwrap(),
            ],
        );
        assert_eq!(r.code, 0, "rage + {enc_name} encrypting: {}", r.stderr);
        let r = rage(
            &ws,
            dec_path,
            &pe,
            &["-d", "-i", ids.to_str().unwrap(), out.to_str().unwrap()],
        );
        assert_eq!(
            r.code, 0,
            "rage + {dec_name} decrypting what {enc_name} encrypted: {}",
            r.stderr
        );
        assert_eq!(r.out(), "rage and the card\n");
    }
    // The PIN came through pinentry (at most once per decryption, none if still verified).
    let asked = prompts(&pe_log)
        .iter()
        .filter(|l| l.starts_with("GETPIN"))
        .count();
    assert!((1..=2).contains(&asked), "{asked} PIN requests");
}

/// The boot installer with the software YubiKey: 20 sops files, one PIN VERIFY, one prompt.
#[test]
fn install_secrets_at_boot_uses_the_card_once_for_all_files() {
    let ws = Workspace::new();
    let _pcscd = pcscd(&ws);
    let card = insert(&ws, 0, SERIAL_A, CardOptions::default());
    let g = generate(&ws, &["--touch-policy", "never"]);
    let run_dir = ws.path("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    let mount = run_dir.join("secrets.d");
    let link = run_dir.join("secrets");
    let secrets: Vec<String> = (0..20)
        .map(|i| {
            let f = encrypt(&ws, &our_path(), &format!("f{i:02}.yaml"), &format!("num: n{i}\n"), &g.recipient);
            format!(
                r#"{{"name":"s{i:02}","key":"num","path":"{}","owner":null,"uid":0,"group":null,"gid":0,"sopsFile":"{}","sopsFileHash":"","format":"yaml","mode":"0400","restartUnits":[],"reloadUnits":[],"neededForUsers":false}}"#,
                link.join(format!("s{i:02}")).display(),
                f.display()
            )
        })
        .collect();
    // A fresh insertion: the counters then only see the boot.
    card.remove().unwrap();
    let card = insert(&ws, 0, SERIAL_A, CardOptions::default());
    let ids = ids_file(&ws, "ids.txt", &[&g.identity]);
    let manifest = format!(
        r#"{{"secrets":[{}],"templates":[],"placeholderBySecretName":{{}},"secretsMountPoint":"{}","symlinkPath":"{}","keepGenerations":1,"gnupgHome":null,"sshKeyPaths":[],"ageKeyFile":"{}","ageSshKeyPaths":[],"useTmpfs":false,"userMode":false,"logging":{{"keyImport":true,"secretChanges":true}}}}"#,
        secrets.join(","),
        mount.display(),
        link.display(),
        ids.display()
    );
    let manifest = ws.write("manifest.json", manifest);
    let (ask, log) = askpass(&ws, "ask", PIN);
    let r = ws.run(keytap_bin().to_str().unwrap(), |c| {
        c.env("PATH", our_path())
            .env("KEYTAP_ASKPASS", &ask)
            .env("KEYTAP_INSTALL_NIXOS_RUN_DIR", run_dir.join("nixos"))
            .args(["install-secrets", manifest.to_str().unwrap()]);
    });
    let installed: Vec<String> = (0..20)
        .map(|i| std::fs::read_to_string(link.join(format!("s{i:02}"))).unwrap_or_default())
        .collect();
    let _ = std::process::Command::new("umount")
        .arg("-l")
        .arg(&mount)
        .status();
    assert_eq!(r.code, 0, "{}", r.stderr);
    for (i, v) in installed.iter().enumerate() {
        assert_eq!(v, &format!("n{i}"));
    }
    let c = card.counters();
    assert_eq!(
        c.verify_pin, 1,
        "one PIN VERIFY at boot for 20 files: {c:?}"
    );
    assert_eq!(prompts(&log).len(), 1, "one prompt at boot");
}
