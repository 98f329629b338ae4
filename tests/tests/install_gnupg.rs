//! PGP keys as sops-nix has them: `install-secrets` with a GnuPG home (`gnupgHome`) and SSH RSA
//! host keys converted to OpenPGP keys (`sshKeyPaths`, sops-nix's `gnupg.sshKeyPaths`),
//! on files the real sops encrypted; and `keytap ssh-to-pgp`, which makes the public key
//! users encrypt to.

mod install_common;

use std::path::{Path, PathBuf};

use install_common::*;
use keytap_e2e::Workspace;
use serde_json::{json, Value};

/// A manifest's `gnupgHome` is where PGP keys are decrypted, as sops-nix sets
/// `GNUPGHOME` for the run: a file encrypted (by the real sops) to a PGP key only installs.
#[test]
fn gnupg_home_decrypts_pgp_secrets() {
    let site = Site::new();
    let (gnupg, fp) = site.ws.gnupg_key("gnupg");
    let plain = site.ws.write("plain/pgp.yaml", "db: hunter2\n");
    let enc = site.ws.run("sops", |c| {
        c.args(["encrypt", "--pgp", &fp])
            .arg(&plain)
            .env("GNUPGHOME", &gnupg);
    });
    assert_eq!(enc.code, 0, "{}", enc.stderr);
    let file = site.ws.write("enc/pgp.yaml", &enc.stdout);
    let mut m = site.manifest_value(vec![site.secret("db", "db", &file, "yaml")], vec![]);
    m["gnupgHome"] = json!(site.s(&gnupg));
    m["ageKeyFile"] = Value::Null;
    let manifest = site.write_manifest("m.json", &m);
    site.install_ok(&manifest);
    assert_eq!(site.read_secret("db"), b"hunter2");
    // Without it, GnuPG has no key: the run fails and names the fingerprint.
    m["gnupgHome"] = Value::Null;
    let manifest = site.write_manifest("m2.json", &m);
    let r = site.install(
        &[&site.s(&manifest)],
        &[("GNUPGHOME", &site.s(&site.ws.path("none")))],
    );
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains(&fp), "{}", r.stderr);
    for home in [gnupg, site.ws.path("none")] {
        let _ = site.ws.run("gpgconf", |c| {
            c.env("GNUPGHOME", &home).args(["--kill", "all"]);
        });
    }
}

/// The fingerprint `ssh-to-pgp` gives an SSH RSA public key line, computed in Python from
/// the public key alone (independently of keytap's conversion): SHA-1 over the v4 public
/// key packet of an RSA key created at the Unix epoch (RFC 4880 12.2).
fn ssh_pub_to_pgp_fingerprint(pub_line: &str) -> String {
    let script = r#"
import base64, hashlib, struct, sys
blob = base64.b64decode(sys.argv[1].split()[1])
fields = []
while blob:
    n = struct.unpack(">I", blob[:4])[0]; fields.append(blob[4:4 + n]); blob = blob[4 + n:]
kind, e, n = fields
assert kind == b"ssh-rsa"
def mpi(b):
    v = int.from_bytes(b, "big"); return struct.pack(">H", v.bit_length()) + v.to_bytes((v.bit_length() + 7) // 8, "big")
body = b"\x04\x00\x00\x00\x00\x01" + mpi(n) + mpi(e)
print(hashlib.sha1(b"\x99" + struct.pack(">H", len(body)) + body).hexdigest())
"#;
    python(script, pub_line)
}

/// `ssh-keygen` of a key without a passphrase at `path`, with extra arguments.
fn ssh_keygen(path: &Path, args: &[&str]) {
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-N", "", "-C", "host"])
        .args(args)
        .arg("-f")
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success());
}

/// A GnuPG home holding the OpenPGP public key of the SSH RSA key at `key`, for the real
/// sops to encrypt to, as a user makes it: `keytap ssh-to-pgp -i KEY | gpg --import`. The
/// fingerprint it prints must be Python's, and GnuPG checks its self-signature. Returns
/// the fingerprint (upper-case hex).
fn import_public(ws: &Workspace, home: &Path, key: &Path) -> String {
    let converted = ws.run(keytap_e2e::keytap_bin().to_str().unwrap(), |c| {
        c.args(["ssh-to-pgp", "-i"]).arg(key);
    });
    assert_eq!(converted.code, 0, "{}", converted.stderr);
    let pub_line = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let fingerprint = ssh_pub_to_pgp_fingerprint(&pub_line);
    assert_eq!(converted.stderr.trim(), fingerprint);
    assert!(converted
        .out()
        .starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----\n"));
    let gpg = |args: &[&str], input: &[u8]| {
        let r = ws.run_with_stdin(
            "gpg",
            &[&["--homedir", home.to_str().unwrap(), "--batch"], args].concat(),
            input,
        );
        assert_eq!(r.code, 0, "gpg {args:?}: {}", r.stderr);
        r
    };
    gpg(&["--import"], &converted.stdout);
    let fp = fingerprint.to_uppercase();
    let sigs = gpg(&["--with-colons", "--check-sigs", &fp], b"").out();
    assert!(
        sigs.lines().any(|l| l.starts_with("sig:!:")),
        "no good self-signature: {sigs}"
    );
    fp
}

/// The gpg-agent processes whose command line mentions `under`.
fn agents_under(under: &Path) -> Vec<String> {
    let needle = under.to_str().unwrap();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains("gpg-agent") && c.contains(needle))
        .collect()
}

/// sops-nix's `sshKeyPaths`: SSH RSA host keys (OpenSSH and PKCS#1 PEM files) decrypt
/// files the real sops encrypted to their `ssh-to-pgp` fingerprints, through a GnuPG home
/// of the run's own that is gone, its agent stopped, when the run ends. Keys that are not
/// RSA, or not there, are reported and skipped with sops-nix's words; and a run whose
/// files have no PGP key does not start GnuPG at all.
#[test]
fn ssh_rsa_host_keys_decrypt_pgp_secrets_like_sops_nix() {
    let site = Site::new();
    let rsa_openssh = site.ws.path("ssh_host_rsa_key");
    let rsa_pem = site.ws.path("old_rsa_key");
    let ed25519 = site.ws.path("ssh_host_ed25519_key");
    ssh_keygen(&rsa_openssh, &["-t", "rsa", "-b", "3072"]);
    ssh_keygen(&rsa_pem, &["-t", "rsa", "-b", "2048", "-m", "PEM"]);
    ssh_keygen(&ed25519, &["-t", "ed25519"]);
    assert!(std::fs::read_to_string(&rsa_pem)
        .unwrap()
        .starts_with("-----BEGIN RSA PRIVATE KEY-----"));

    let enc_home = site.ws.path("encrypting-gnupg");
    std::fs::create_dir(&enc_home).unwrap();
    std::fs::set_permissions(
        &enc_home,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let fp_openssh = import_public(&site.ws, &enc_home, &rsa_openssh);
    let fp_pem = import_public(&site.ws, &enc_home, &rsa_pem);
    let encrypt = |name: &str, plain: &str, args: &[&str]| -> PathBuf {
        let src = site.ws.write(&format!("plain/{name}"), plain);
        let r = site.ws.run("sops", |c| {
            c.arg("encrypt")
                .args(args)
                .arg(&src)
                .env("GNUPGHOME", &enc_home);
        });
        assert_eq!(r.code, 0, "{}", r.stderr);
        site.ws.write(&format!("enc/{name}"), &r.stdout)
    };
    let a = encrypt("a.yaml", "a: from-openssh-rsa\n", &["--pgp", &fp_openssh]);
    let b = encrypt("b.json", "{\"b\": \"from-pem-rsa\"}\n", &["--pgp", &fp_pem]);
    let c = encrypt("c.yaml", "c: from-age\n", &["--age", &site.ws.recipient]);

    // GnuPG through a wrapper that logs its arguments (sops-nix's module sets SOPS_GPG_EXEC).
    let log = site.ws.path("gpg.log");
    let wrapper = site.ws.sh_script(
        "bin/gpg-logged",
        &format!(
            "echo \"$@\" \"home mode $(stat -c %a \"$GNUPGHOME\")\" >> {}\nexec gpg \"$@\"",
            log.display()
        ),
    );
    let run = |secrets: Vec<Value>, name: &str| {
        let mut m = site.manifest_value(secrets, vec![]);
        m["sshKeyPaths"] = json!([
            site.s(&rsa_openssh),
            site.s(&rsa_pem),
            site.s(&ed25519),
            "/nonexistent/ssh_host_rsa_key"
        ]);
        let manifest = site.write_manifest(name, &m);
        // Under umask 000: the throwaway home must be private all the same.
        site.ws.run("sh", |c| {
            c.args(["-c", "umask 000; exec \"$0\" install-secrets \"$1\""])
                .arg(keytap_e2e::keytap_bin())
                .arg(&manifest)
                .env("KEYTAP_INSTALL_NIXOS_RUN_DIR", site.ws.path("run/nixos"))
                .env("SOPS_GPG_EXEC", &wrapper)
                // Overridden for the run, as sops-nix does.
                .env("GNUPGHOME", site.ws.path("no-such-home"));
        })
    };
    let r = run(
        vec![
            site.secret("a", "a", &a, "yaml"),
            site.secret("b", "b", &b, "json"),
            site.secret("c", "c", &c, "yaml"),
        ],
        "m.json",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(site.read_secret("a"), b"from-openssh-rsa");
    assert_eq!(site.read_secret("b"), b"from-pem-rsa");
    assert_eq!(site.read_secret("c"), b"from-age");
    // sops-nix's lines: the import on stdout, the skipped keys on stderr.
    for (key, fp) in [(&rsa_openssh, &fp_openssh), (&rsa_pem, &fp_pem)] {
        let line = format!(
            "keytap: Imported {} as GPG key with fingerprint {}",
            site.s(key),
            fp.to_lowercase()
        );
        assert!(r.out().contains(&line), "{line} not in {}", r.out());
    }
    assert!(
        r.stderr.contains(
            "failed to parse private ssh key: only RSA keys are supported right now, got: *ed25519.PrivateKey"
        ),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("Cannot read ssh key '/nonexistent/ssh_host_rsa_key': open /nonexistent/ssh_host_rsa_key: no such file or directory"),
        "{}",
        r.stderr
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("--import"), "{logged}");
    assert!(
        logged.lines().all(|l| l.ends_with("home mode 700")),
        "{logged}"
    );
    // The keyring is gone with its agent (stopping is asynchronous: wait, bounded).
    let homes: Vec<_> = std::fs::read_dir(site.mount())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("gpg"))
        .collect();
    assert!(homes.is_empty(), "{homes:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !agents_under(&site.mount()).is_empty() && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert_eq!(agents_under(&site.mount()), Vec::<String>::new());

    // Files without a PGP key: the keys are still converted (and logged), GnuPG never runs.
    // A home left by a killed run is removed.
    std::fs::remove_file(&log).unwrap();
    let stale = site.mount().join("gpgKILLED/private-keys-v1.d");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("key"), "secret").unwrap();
    let r = run(vec![site.secret("c", "c", &c, "yaml")], "m2.json");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.out().contains("as GPG key with fingerprint"),
        "{}",
        r.out()
    );
    assert!(
        !log.exists(),
        "GnuPG ran: {:?}",
        std::fs::read_to_string(&log)
    );
    let _ = site.ws.run("gpgconf", |c| {
        c.env("GNUPGHOME", &enc_home).args(["--kill", "all"]);
    });
}

/// `keytap ssh-to-pgp` with ssh-to-pgp's own flags (Go's single-dash spellings), as its
/// test suite runs it: public and secret key, armored and binary, each written over the
/// last to the same file, each shown and imported by GnuPG. A secret key's file is 0600
/// whatever the umask and the file's old mode.
#[test]
fn ssh_to_pgp_writes_what_gnupg_reads_in_every_format() {
    let ws = Workspace::new();
    let key = ws.path("id_rsa");
    ssh_keygen(&key, &["-t", "rsa", "-b", "2048"]);
    let home = ws.path("gpg-home");
    std::fs::create_dir(&home).unwrap();
    std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let out = ws.path("out");
    let fingerprint =
        ssh_pub_to_pgp_fingerprint(&std::fs::read_to_string(key.with_extension("pub")).unwrap());
    let (key_s, out_s) = (key.to_str().unwrap(), out.to_str().unwrap());
    for (args, secret) in [
        (vec!["-i", key_s, "-o", out_s], false),
        (vec!["-format=binary", "-i", key_s, "-o", out_s], false),
        (vec!["-private-key", "-i", key_s, "-o", out_s], true),
        (
            vec!["-format=binary", "-private-key", "-i", key_s, "-o", out_s],
            true,
        ),
    ] {
        let r = ws.run(keytap_e2e::keytap_bin().to_str().unwrap(), |c| {
            c.arg("ssh-to-pgp").args(&args);
        });
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr.trim(), fingerprint);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&out).unwrap().permissions(),
        ) & 0o777;
        if secret {
            assert_eq!(mode, 0o600, "{args:?}");
        }
        let armored = std::fs::read(&out).unwrap().starts_with(b"-----BEGIN PGP ");
        assert_eq!(armored, !args.contains(&"-format=binary"), "{args:?}");
        for gpg_args in [&["--with-fingerprint", "--show-key"][..], &["--import"]] {
            let r = ws.run("gpg", |c| {
                c.env("GNUPGHOME", &home)
                    .arg("--batch")
                    .args(gpg_args)
                    .arg(&out);
            });
            assert_eq!(r.code, 0, "{args:?} {gpg_args:?}: {}", r.stderr);
        }
    }
    let listed = ws.run("gpg", |c| {
        c.env("GNUPGHOME", &home)
            .args(["--batch", "--with-colons", "--list-secret-keys"]);
    });
    assert!(
        listed
            .out()
            .contains(&format!(":{}:", fingerprint.to_uppercase())),
        "{}",
        listed.out()
    );
    let _ = ws.run("gpgconf", |c| {
        c.env("GNUPGHOME", &home).args(["--kill", "all"]);
    });
}
