//! `keytap install-secrets` end to end, as root, on sops files written by the real sops:
//! every format, owners and modes, templates, the ramfs, generations and the atomic
//! symlink switch, pruning, restart/reload lists, failures that leave the live generation
//! alone, and the check modes (runs killed or concurrent: `install_runs.rs`).

mod install_common;

use std::path::Path;

use install_common::*;
use serde_json::{json, Value};

const YAML: &str = "api_key: yaml-secret\nnested:\n    db:\n        password: hunter2\nmulti: |\n    line one\n    line two\nport: 5432\n";
const JSON: &str =
    "{\n\t\"token\": \"json-secret\",\n\t\"deep\": {\n\t\t\"inner\": \"json-nested\"\n\t}\n}\n";
const DOTENV: &str = "USER=admin\nPASSWORD=dotenv-secret\n";
const INI: &str = "[database]\nuser = admin\npassword = ini-secret\n";

fn binary_blob() -> Vec<u8> {
    let mut b = b"binary\x00secret\xff\xfe".to_vec();
    b.extend((0u8..=255).collect::<Vec<u8>>());
    b
}

/// What `sops decrypt` (whole file) or `sops decrypt --extract` prints, for comparison.
fn sops_plain(site: &Site, file: &Path, extract: Option<&str>) -> Vec<u8> {
    let f = site.s(file);
    match extract {
        Some(e) => site.ws.sops(["decrypt", "--extract", e, &f]).ok(),
        None => site.ws.sops(["decrypt", &f]).ok(),
    }
}

#[test]
fn every_format_owner_mode_and_path_is_installed_like_sops_nix() {
    let site = Site::new();
    let yaml = site.sops_file("secrets.yaml", YAML.as_bytes(), &[]);
    let json_f = site.sops_file("secrets.json", JSON.as_bytes(), &[]);
    let env = site.sops_file("app.env", DOTENV.as_bytes(), &[]);
    let ini = site.sops_file("settings.ini", INI.as_bytes(), &[]);
    let bin = site.sops_file("blob.bin", &binary_blob(), &[]);
    let outside = site.ws.path("elsewhere/deep/link-to-api-key");

    let mut api = site.secret("api_key", "api_key", &yaml, "yaml");
    api["owner"] = json!("nobody");
    api["group"] = json!("nogroup");
    api["mode"] = json!("0440");
    api["path"] = json!(site.s(&outside));
    let mut nested = site.secret("db/password", "nested/db/password", &yaml, "yaml");
    nested["uid"] = json!(1234);
    nested["gid"] = json!(5678);
    nested["mode"] = json!("0640");
    let multi = site.secret("multi", "multi", &yaml, "yaml");
    // A format sops-nix does not know is YAML to it (its decoder leaves it unset).
    let odd_format = site.secret("odd_format", "api_key", &yaml, "toml");
    let whole_yaml = site.secret("whole.yaml", "", &yaml, "yaml");
    let token = site.secret("token", "token", &json_f, "json");
    let deep = site.secret("deep", "deep/inner", &json_f, "json");
    let whole_json = site.secret("whole.json", "", &json_f, "json");
    // For dotenv, ini and binary the key is ignored: the whole file is the secret.
    let dotenv = site.secret("app.env", "ignored", &env, "dotenv");
    let ini_s = site.secret("settings.ini", "", &ini, "ini");
    let mut blob = site.secret("blob", "", &bin, "binary");
    blob["mode"] = json!("0600");
    let m = site.manifest_value(
        vec![
            api, nested, multi, odd_format, whole_yaml, token, deep, whole_json, dotenv, ini_s,
            blob,
        ],
        vec![],
    );
    let manifest = site.write_manifest("manifest.json", &m);
    // An empty directory where a link goes is replaced, as Go's os.Remove removes one.
    std::fs::create_dir_all(&outside).unwrap();
    site.install_ok(&manifest);

    // The ramfs, the generation and the symlink.
    assert_eq!(fs_magic(&site.mount()), RAMFS, "secrets.d is a ramfs");
    let keys = gid_of("nogroup");
    assert_eq!(attrs(&site.mount()), (0o751, 0, keys));
    assert_eq!(
        std::fs::read_link(site.link()).unwrap(),
        site.mount().join("1")
    );
    assert_eq!(attrs(&site.mount().join("1")), (0o751, 0, keys));
    assert_eq!(attrs(&site.link().join("db")), (0o751, 0, keys));

    // Values, byte for byte what sops itself decrypts.
    assert_eq!(site.read_secret("api_key"), b"yaml-secret");
    assert_eq!(site.read_secret("db/password"), b"hunter2");
    assert_eq!(site.read_secret("odd_format"), b"yaml-secret");
    assert_eq!(site.read_secret("multi"), b"line one\nline two\n");
    assert_eq!(
        site.read_secret("multi"),
        sops_plain(&site, &yaml, Some("[\"multi\"]"))
    );
    assert_eq!(
        site.read_secret("whole.yaml"),
        sops_plain(&site, &yaml, None)
    );
    assert_eq!(site.read_secret("token"), b"json-secret");
    assert_eq!(site.read_secret("deep"), b"json-nested");
    assert_eq!(
        site.read_secret("whole.json"),
        sops_plain(&site, &json_f, None)
    );
    assert_eq!(site.read_secret("app.env"), sops_plain(&site, &env, None));
    assert_eq!(site.read_secret("app.env"), DOTENV.as_bytes());
    assert_eq!(
        site.read_secret("settings.ini"),
        sops_plain(&site, &ini, None)
    );
    assert_eq!(site.read_secret("blob"), binary_blob());

    // Owners and modes.
    assert_eq!(
        attrs(&site.link().join("api_key")),
        (0o440, uid_of("nobody"), keys)
    );
    assert_eq!(attrs(&site.link().join("db/password")), (0o640, 1234, 5678));
    assert_eq!(attrs(&site.link().join("token")), (0o400, 0, 0));
    assert_eq!(attrs(&site.link().join("blob")), (0o600, 0, 0));

    // A path outside the symlink directory is a symlink through /run/secrets, owned like
    // the secret.
    assert_eq!(
        std::fs::read_link(&outside).unwrap(),
        site.link().join("api_key")
    );
    assert_eq!(std::fs::read(&outside).unwrap(), b"yaml-secret");
    use std::os::unix::fs::MetadataExt;
    let lmeta = std::fs::symlink_metadata(&outside).unwrap();
    assert_eq!((lmeta.uid(), lmeta.gid()), (uid_of("nobody"), keys));

    // The keys the installer gathered sit on the ramfs, root-only.
    assert_eq!(attrs(&site.mount().join("age-keys.txt")).0, 0o600);
}

#[test]
fn templates_are_rendered_with_owner_mode_and_outside_path() {
    let site = Site::new();
    let yaml = site.sops_file("secrets.yaml", YAML.as_bytes(), &[]);
    let ini = site.sops_file("settings.ini", INI.as_bytes(), &[]);
    let api = site.secret("api_key", "api_key", &yaml, "yaml");
    let db = site.secret("db", "nested/db/password", &yaml, "yaml");
    let ini_s = site.secret("settings.ini", "", &ini, "ini");
    let mut t1 = site.template(
        "app.conf",
        &format!(
            "key={}\npassword={}\nagain={}\n",
            placeholder("api_key"),
            placeholder("db"),
            placeholder("api_key")
        ),
    );
    t1["owner"] = json!("nobody");
    t1["group"] = json!("nogroup");
    t1["mode"] = json!("0440");
    let linked = site.ws.path("etc/externally/linked");
    let mut t2 = site.template(
        "nested/ini-copy",
        &format!("# copy\n{}", placeholder("settings.ini")),
    );
    t2["path"] = json!(site.s(&linked));
    t2["uid"] = json!(420);
    t2["gid"] = json!(421);
    // A template given as a file (content empty), as `sops.templates.<n>.file`.
    let tfile = site.ws.write(
        "template-file.txt",
        format!("from file: {}\n", placeholder("db")),
    );
    let mut t3 = site.template("from-file", "");
    t3["file"] = json!(site.s(&tfile));
    let m = site.manifest_value(vec![api, db, ini_s], vec![t1, t2, t3]);
    site.install_ok(&site.write_manifest("m.json", &m));

    let rendered = site.link().join("rendered");
    assert_eq!(
        std::fs::read_to_string(rendered.join("app.conf")).unwrap(),
        "key=yaml-secret\npassword=hunter2\nagain=yaml-secret\n"
    );
    assert_eq!(
        attrs(&rendered.join("app.conf")),
        (0o440, uid_of("nobody"), gid_of("nogroup"))
    );
    let mut want = b"# copy\n".to_vec();
    want.extend(sops_plain(&site, &ini, None));
    assert_eq!(
        std::fs::read(rendered.join("nested/ini-copy")).unwrap(),
        want
    );
    assert_eq!(attrs(&rendered.join("nested/ini-copy")), (0o400, 420, 421));
    assert_eq!(
        std::fs::read_link(&linked).unwrap(),
        rendered.join("nested/ini-copy")
    );
    assert_eq!(
        std::fs::read_to_string(rendered.join("from-file")).unwrap(),
        "from file: hunter2\n"
    );

    // A missing placeholder for a secret is refused, as sops-nix does.
    let mut bad = m.clone();
    bad["placeholderBySecretName"]
        .as_object_mut()
        .unwrap()
        .remove("db");
    let r = site.install(&[&site.s(&site.write_manifest("bad.json", &bad))], &[]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("placeholder for db not found in manifest"),
        "{}",
        r.stderr
    );
}

/// A manifest with one YAML secret `v` whose value is `value`.
fn one_secret_manifest(site: &Site, value: &str, keep: u64, tag: &str) -> std::path::PathBuf {
    let yaml = site.sops_file(
        &format!("v-{tag}.yaml"),
        format!("v: {value}\n").as_bytes(),
        &[],
    );
    let mut m = site.manifest_value(vec![site.secret("v", "v", &yaml, "yaml")], vec![]);
    m["keepGenerations"] = json!(keep);
    site.write_manifest(&format!("m-{tag}.json"), &m)
}

#[test]
fn each_run_switches_to_a_new_generation_and_prunes_like_sops_nix() {
    let site = Site::new();
    let keep1 = one_secret_manifest(&site, "one", 1, "a");
    site.install_ok(&keep1);
    site.install_ok(&keep1);
    assert_eq!(site.live(), Some(2));
    assert_eq!(
        site.generations(),
        vec![2],
        "keepGenerations = 1 keeps only the live one"
    );
    // The mount is reused, never stacked.
    assert_eq!(mount_count(&site.mount()), 1);

    let keep0 = one_secret_manifest(&site, "two", 0, "b");
    for _ in 0..3 {
        site.install_ok(&keep0);
    }
    assert_eq!(
        site.generations(),
        vec![2, 3, 4, 5],
        "keepGenerations = 0 keeps all"
    );
    assert_eq!(site.read_secret("v"), b"two");

    let keep2 = one_secret_manifest(&site, "three", 2, "c");
    site.install_ok(&keep2);
    assert_eq!(site.generations(), vec![5, 6]);

    // sops-nix's pruning scenario: live generation 99, keep 10 -> at 100 and 101,
    // 91 goes and 92 stays; non-numeric entries are never touched.
    for n in 2..=99 {
        let _ = std::fs::create_dir(site.mount().join(n.to_string()));
    }
    std::fs::create_dir(site.mount().join("non-numeric")).unwrap();
    let link_tmp = site.ws.path("run/.tmp-link");
    std::os::unix::fs::symlink(site.mount().join("99"), &link_tmp).unwrap();
    std::fs::rename(&link_tmp, site.link()).unwrap();
    let keep0b = one_secret_manifest(&site, "four", 0, "d");
    site.install_ok(&keep0b);
    assert_eq!(site.live(), Some(100));
    assert!(site.mount().join("1").exists() || site.mount().join("2").exists());
    let keep10 = one_secret_manifest(&site, "five", 10, "e");
    site.install_ok(&keep10);
    assert_eq!(site.live(), Some(101));
    assert!(!site.mount().join("91").exists());
    assert!(site.mount().join("92").exists());
    assert!(site.mount().join("non-numeric").exists());
    assert_eq!(site.read_secret("v"), b"five");

    // A real directory where the symlink belongs is replaced by the symlink.
    let site2 = Site::new();
    std::fs::create_dir_all(site2.link()).unwrap();
    std::fs::write(site2.link().join("stale"), "x").unwrap();
    let m = one_secret_manifest(&site2, "fresh", 1, "f");
    site2.install_ok(&m);
    assert_eq!(site2.live(), Some(1));
    assert_eq!(site2.read_secret("v"), b"fresh");
}

#[test]
fn changed_secrets_request_restarts_and_reloads_and_are_logged() {
    let site = Site::new();
    let v1 = site.sops_file("v1.yaml", b"a: one\nb: same\n", &[]);
    let v2 = site.sops_file("v2.yaml", b"a: two\nb: same\nc: new\n", &[]);
    let mk = |file: &Path, with_c: bool, tag: &str| {
        let mut a = site.secret("a", "a", file, "yaml");
        a["restartUnits"] = json!(["a-restart.service"]);
        a["reloadUnits"] = json!(["a-reload.service"]);
        let mut b = site.secret("b", "b", file, "yaml");
        b["restartUnits"] = json!(["b-restart.service"]);
        let mut secrets = vec![a, b];
        if with_c {
            let mut c = site.secret("c", "c", file, "yaml");
            c["restartUnits"] = json!(["c-restart.service"]);
            secrets.push(c);
        }
        let mut t = site.template("t", &format!("a={}", placeholder("a")));
        t["reloadUnits"] = json!(["t-reload.service"]);
        site.write_manifest(
            &format!("{tag}.json"),
            &site.manifest_value(secrets, vec![t]),
        )
    };
    let m1 = mk(&v1, false, "m1");
    let m2 = mk(&v2, true, "m2");
    let nixos = site.ws.path("run/nixos");
    std::fs::create_dir_all(&nixos).unwrap();
    let restart_list = nixos.join("activation-restart-list");
    let reload_list = nixos.join("activation-reload-list");

    // First activation: nothing to restart, nothing printed.
    let r = site.install_ok(&m1);
    assert_eq!(r.out(), "");
    assert!(!restart_list.exists() && !reload_list.exists());

    // Same secrets again: nothing.
    let r = site.install_ok(&m1);
    assert_eq!(r.out(), "");
    assert!(!restart_list.exists());

    // Dry activation: says what would happen, switches nothing, restarts nothing.
    let r = site.install(&[&site.s(&m2)], &[("NIXOS_ACTION", "dry-activate")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.out(),
        "would add secret: c\nwould modify secret: a\nwould modify rendered secret: t\n"
    );
    assert_eq!(site.read_secret("a"), b"one");
    assert!(nixos.join("dry-activation-restart-list").exists());
    assert!(!restart_list.exists());

    let r = site.install_ok(&m2);
    assert_eq!(
        r.out(),
        "adding secret: c\nmodifying secret: a\nmodifying rendered secret: t\n"
    );
    assert_eq!(
        std::fs::read_to_string(&restart_list).unwrap(),
        "a-restart.service\nc-restart.service\n"
    );
    assert_eq!(
        std::fs::read_to_string(&reload_list).unwrap(),
        "a-reload.service\nt-reload.service\n"
    );

    // Back to m1: c is removed.
    let r = site.install_ok(&m1);
    assert_eq!(
        r.out(),
        "modifying secret: a\nremoving secret: c\nmodifying rendered secret: t\n"
    );

    // As the systemd unit: systemctl --no-block try-restart / try-reload-or-restart.
    let bin = site.ws.path("fakebin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = site.ws.path("systemctl.log");
    let script = bin.join("systemctl");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$@\" >> {}\n", log.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let r = site.install(
        &[&site.s(&m2)],
        &[("SOPS_RESTART_UNITS_VIA_SYSTEMCTL", "1"), ("PATH", &path)],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "--no-block try-restart a-restart.service c-restart.service\n--no-block try-reload-or-restart a-reload.service t-reload.service\n"
    );

    // secretChanges off: no output.
    let mut quiet: Value = serde_json::from_slice(&std::fs::read(&m1).unwrap()).unwrap();
    quiet["logging"]["secretChanges"] = json!(false);
    let r = site.install_ok(&site.write_manifest("quiet.json", &quiet));
    assert_eq!(r.out(), "");
}

#[test]
fn a_failing_secret_names_secret_and_file_and_keeps_the_live_generation() {
    let site = Site::new();
    let yaml = site.sops_file("secrets.yaml", YAML.as_bytes(), &[]);
    let good = site.manifest_value(
        vec![site.secret("api_key", "api_key", &yaml, "yaml")],
        vec![],
    );
    site.install_ok(&site.write_manifest("good.json", &good));
    let before = site.generations();

    let check = |m: Value, tag: &str, want: &[&str]| {
        let r = site.install(
            &[&site.s(&site.write_manifest(&format!("{tag}.json"), &m))],
            &[],
        );
        assert_eq!(r.code, 1, "{tag}: {}", r.stderr);
        for w in want {
            assert!(r.stderr.contains(w), "{tag}: want {w:?} in: {}", r.stderr);
        }
        assert_eq!(site.live(), Some(1), "{tag}: the live generation stays");
        assert_eq!(site.read_secret("api_key"), b"yaml-secret", "{tag}");
        assert_eq!(
            site.generations(),
            before,
            "{tag}: no half-made generation left"
        );
    };
    let yaml_s = site.s(&yaml);
    // The good manifest with one more secret, or with one field of its secret changed.
    let plus_secret = |secret: Value| {
        let mut m = good.clone();
        m["secrets"].as_array_mut().unwrap().push(secret);
        m
    };
    let changed = |field: &str, value: &str| {
        let mut m = good.clone();
        m["secrets"][0][field] = json!(value);
        m
    };

    // A key that is not in the file.
    check(
        plus_secret(site.secret("missing", "nope/deeper", &yaml, "yaml")),
        "missing-key",
        &[
            "secret missing in ",
            &yaml_s,
            "the key 'nope' cannot be found",
        ],
    );

    // A value that is not a string (sops-nix refuses those too).
    check(
        plus_secret(site.secret("port", "port", &yaml, "yaml")),
        "not-string",
        &[
            "secret port in ",
            &yaml_s,
            // sops-nix quotes the keys above the value (none here).
            "is not valid: the value of key '' is not a string",
        ],
    );

    // A file nobody here can decrypt.
    let other = keytap_e2e::Workspace::new();
    let plain = other.write("o.yaml", "x: y\n");
    let enc = other
        .sops([
            "encrypt",
            "--age",
            &other.recipient,
            plain.to_str().unwrap(),
        ])
        .ok();
    let foreign = site.ws.write("enc/foreign.yaml", enc);
    check(
        plus_secret(site.secret("foreign_x", "x", &foreign, "yaml")),
        "undecryptable",
        &[
            "failed to decrypt",
            &site.s(&foreign),
            "foreign_x",
            "Failed to get the data key",
        ],
    );

    // A tampered file (MAC mismatch).
    let text = std::fs::read_to_string(&yaml).unwrap();
    let tampered_text = text.replacen(
        "api_key: ENC[AES256_GCM,data:",
        "api_key: ENC[AES256_GCM,data:A",
        1,
    );
    let tampered = site.ws.write("enc/tampered.yaml", tampered_text);
    let mut m = good.clone();
    m["secrets"] = json!([site.secret("api_key", "api_key", &tampered, "yaml")]);
    check(
        m,
        "tampered",
        &["failed to decrypt", &site.s(&tampered), "'api_key'"],
    );

    // Two formats for one file.
    check(
        plus_secret(site.secret("again", "", &yaml, "json")),
        "two-formats",
        &[
            "secret again defined the format of",
            "as json, but it was specified as yaml in api_key before",
        ],
    );
    // A missing sops file, a bad mode, an unknown owner, a name escaping
    // the generation.
    for (field, value, tag, want) in [
        (
            "sopsFile",
            "/nonexistent/secrets.yaml",
            "missing-file",
            "failed reading /nonexistent/secrets.yaml",
        ),
        ("mode", "0999", "bad-mode", "invalid number in mode: 0999"),
        (
            "owner",
            "no-such-user-keytap",
            "bad-owner",
            "failed to lookup user 'no-such-user-keytap'",
        ),
        (
            "name",
            "../escape",
            "escape",
            "invalid secret name '../escape'",
        ),
    ] {
        check(changed(field, value), tag, &[want]);
    }
}

#[test]
fn check_modes_validate_without_touching_anything() {
    let site = Site::new();
    let yaml = site.sops_file("secrets.yaml", YAML.as_bytes(), &[]);
    let bin = site.sops_file("blob.bin", b"data", &[]);
    let m = site.manifest_value(
        vec![
            site.secret("api_key", "api_key", &yaml, "yaml"),
            site.secret("blob", "", &bin, "binary"),
        ],
        vec![],
    );
    let good = site.write_manifest("good.json", &m);
    let check = |mode: &str, manifest: &Path| {
        site.install(&[&format!("--check-mode={mode}"), &site.s(manifest)], &[])
    };
    // `m` with one field of its secret changed, written as `name`.
    let changed = |name: &str, field: &str, value: Value| {
        let mut changed = m.clone();
        changed["secrets"][0][field] = value;
        site.write_manifest(name, &changed)
    };
    for mode in ["manifest", "sopsfile"] {
        let r = check(mode, &good);
        assert_eq!(r.code, 0, "{mode}: {}", r.stderr);
        // sops-nix's modules pass Go's single-dash spelling, which Go also takes apart.
        let go_equals = format!("-check-mode={mode}");
        for args in [vec![go_equals.as_str()], vec!["-check-mode", mode]] {
            let r = site.install(&[&args[..], &[&site.s(&good)]].concat(), &[]);
            assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        }
    }
    // As sops-install-secrets exits: 1 for a bad flag or value (Go's flag set returns the
    // error), 0 with the usage for a missing or extra manifest argument (it returns
    // flag.ErrHelp).
    for args in [vec!["-check-mode=bogus"], vec!["--bogus"]] {
        let r = site.install(&[&args[..], &[&site.s(&good)]].concat(), &[]);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
    }
    // In Go's words, usage and all (the program's name is keytap's here).
    let r = site.install(&["-bogus", &site.s(&good)], &[]);
    let usage = "Usage: keytap install-secrets [OPTION] manifest.json\n  -check-mode string\n    \tValidate configuration without installing it (possible values: \"manifest\",\"sopsfile\",\"off\") (default \"off\")\n  -ignore-passwd\n    \tDon't look up anything in /etc/passwd. Causes everything to be owned by root:root or the user executing the tool in user mode\n";
    assert_eq!(
        r.stderr,
        format!("flag provided but not defined: -bogus\n{usage}keytap install-secrets: flag provided but not defined: -bogus\n")
    );
    let r = site.install(&["-h"], &[]);
    assert_eq!((r.code, r.stderr.as_str()), (0, usage));
    let r = site.install(&["-check-mode=bogus", &site.s(&good)], &[]);
    assert_eq!(
        r.stderr,
        "keytap install-secrets: invalid value provided for -check-mode flag: \n"
    );
    // Go's flags end at the first argument: a flag after the manifest is a second argument,
    // so nothing is installed or checked, in either spelling.
    for args in [
        vec![],
        vec![site.s(&good), site.s(&good)],
        vec![site.s(&good), "--ignore-passwd".into()],
        vec![site.s(&good), "-ignore-passwd".into()],
        vec![site.s(&good), "-check-mode=manifest".into()],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = site.install(&args, &[]);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        r.assert_stderr_has("Usage");
    }
    assert!(!site.mount().exists(), "check modes mount nothing");
    assert!(!site.link().exists());

    // sops files are only read in sopsfile mode.
    let mf = changed("missing.json", "sopsFile", json!("/nonexistent.yaml"));
    assert_eq!(check("manifest", &mf).code, 0);
    let r = check("sopsfile", &mf);
    assert_eq!(r.code, 1);
    r.assert_stderr_has("failed reading /nonexistent.yaml");

    // Keys are checked against the encrypted file, without any key.
    let mf = changed("nokey.json", "key", json!("nested/db/nope"));
    let r = site
        .ws
        .run(keytap_e2e::keytap_bin().to_str().unwrap(), |c| {
            c.env_remove("SOPS_AGE_KEY_FILE").args([
                "install-secrets",
                "--check-mode=sopsfile",
                &site.s(&mf),
            ]);
        });
    assert_eq!(r.code, 1);
    r.assert_stderr_has("the key 'nested/db/nope' cannot be found");

    // Not a sops file / not the declared format.
    let plain = site.ws.write("plain.yaml", "a: b\n");
    let r = check(
        "sopsfile",
        &changed("ns.json", "sopsFile", json!(site.s(&plain))),
    );
    assert_eq!(r.code, 1);
    r.assert_stderr_has("sops metadata not found");

    // Owners are not looked up at build time (the build sandbox has no users).
    let mf = changed("owner.json", "owner", json!("no-such-user-keytap"));
    assert_eq!(check("sopsfile", &mf).code, 0);

    // Unknown mode, missing manifest, malformed manifest.
    let r = check("bogus", &good);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let r = site.install(&["/nonexistent/manifest.json"], &[]);
    assert_eq!(r.code, 1);
    r.assert_stderr_has("failed to open manifest");
    let r = site.install(&[&site.s(&site.ws.write("broken.json", "{"))], &[]);
    assert_eq!(r.code, 1);
    r.assert_stderr_has("failed to parse manifest");
}

#[test]
fn tmpfs_is_mounted_with_use_tmpfs_and_an_existing_mount_is_reused() {
    let site = Site::new();
    let yaml = site.sops_file("s.yaml", b"k: v\n", &[]);
    let mut m = site.manifest_value(vec![site.secret("k", "k", &yaml, "yaml")], vec![]);
    m["useTmpfs"] = json!(true);
    let mf = site.write_manifest("m.json", &m);
    site.install_ok(&mf);
    assert_eq!(fs_magic(&site.mount()), TMPFS);
    site.install_ok(&mf);
    assert_eq!(mount_count(&site.mount()), 1);
    assert_eq!(site.read_secret("k"), b"v");

    // Secrets for users: --ignore-passwd makes everything root's, without lookups.
    let mut users = m.clone();
    users["useTmpfs"] = json!(false);
    users["secretsMountPoint"] = json!(site.s(&site.ws.path("run/secrets-for-users.d")));
    users["symlinkPath"] = json!(site.s(&site.ws.path("run/secrets-for-users")));
    users["secrets"][0]["path"] = json!(site.s(&site.ws.path("run/secrets-for-users/k")));
    users["secrets"][0]["owner"] = json!("no-such-user-keytap");
    let uf = site.write_manifest("users.json", &users);
    let r = site.install(&["--ignore-passwd", &site.s(&uf)], &[]);
    let users_mount = site.ws.path("run/secrets-for-users.d");
    let ok = r.code == 0;
    let magic = fs_magic(&users_mount);
    let owner = attrs(&site.ws.path("run/secrets-for-users/k"));
    let _ = std::process::Command::new("umount")
        .arg(&users_mount)
        .status();
    assert!(ok, "{}", r.stderr);
    assert_eq!(magic, RAMFS);
    assert_eq!(owner, (0o400, 0, 0));
}

#[test]
fn an_ssh_host_key_works_as_an_age_identity_like_ssh_to_age() {
    let site = Site::new();
    let key = site.ws.path("ssh_host_ed25519_key");
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "host", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(st.success());
    // The recipient users get from `ssh-to-age < key.pub`, computed independently of
    // keytap: the Edwards y of the public key mapped to Montgomery u = (1+y)/(1-y).
    let recipient = ssh_pub_to_age(&std::fs::read_to_string(key.with_extension("pub")).unwrap());
    let plain = site.ws.write("plain/host.yaml", "host_secret: from-ssh\n");
    let enc = site
        .ws
        .sops(["encrypt", "--age", &recipient, plain.to_str().unwrap()])
        .ok();
    let file = site.ws.write("enc/host.yaml", enc);
    let mut m = site.manifest_value(
        vec![site.secret("host_secret", "host_secret", &file, "yaml")],
        vec![],
    );
    m["ageKeyFile"] = json!(null);
    m["ageSshKeyPaths"] = json!([site.s(&key), "/nonexistent/ssh_host_rsa_key"]);
    let mf = site.write_manifest("m.json", &m);
    let r = site
        .ws
        .run(keytap_e2e::keytap_bin().to_str().unwrap(), |c| {
            c.env_remove("SOPS_AGE_KEY_FILE")
                .args(["install-secrets", &site.s(&mf)]);
        });
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(site.read_secret("host_secret"), b"from-ssh");
    // sops-nix's key-import line, on stderr, named by the program's file name.
    assert!(
        r.stderr.contains(&format!(
            "keytap: Imported {} as age key with fingerprint {recipient}",
            site.s(&key)
        )),
        "{}",
        r.stderr
    );
    assert!(!r.out().contains("Imported"), "{}", r.out());
    // The combined key file starts with sops-nix's header.
    let key_file = std::fs::read_to_string(site.mount().join("age-keys.txt")).unwrap();
    assert!(
        key_file.starts_with("# generated by sops-nix at "),
        "{}",
        key_file.lines().next().unwrap_or("")
    );
    // Through the package's drop-in (`exec -a "$0"`), the names are sops-install-secrets's.
    let dropin = site.ws.script(
        "bin/sops-install-secrets",
        &format!(
            "#!/bin/bash\nexec -a \"$0\" {} install-secrets \"$@\"\n",
            keytap_e2e::keytap_bin().display()
        ),
    );
    let via = |manifest: &str| {
        site.ws.run(dropin.to_str().unwrap(), |c| {
            c.env_remove("SOPS_AGE_KEY_FILE").arg(manifest);
        })
    };
    let r2 = via(&site.s(&mf));
    assert_eq!(r2.code, 0, "{}", r2.stderr);
    assert!(
        r2.stderr.contains("sops-install-secrets: Imported "),
        "{}",
        r2.stderr
    );
    let r2 = via("/nonexistent/manifest.json");
    assert_eq!(r2.code, 1);
    assert!(
        r2.stderr.starts_with(&format!("{}: ", dropin.display())),
        "{}",
        r2.stderr
    );
    // A link named sops-install-secrets is the installer too, flags and all.
    let link = site.ws.path("links/sops-install-secrets");
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(keytap_e2e::keytap_bin(), &link).unwrap();
    let r3 = site.ws.run(link.to_str().unwrap(), |c| {
        c.env_remove("SOPS_AGE_KEY_FILE")
            .arg("-check-mode=manifest")
            .arg(site.s(&mf));
    });
    assert_eq!(r3.code, 0, "{}", r3.stderr);
    let r3 = site.ws.run(link.to_str().unwrap(), |c| {
        c.arg("/nonexistent/manifest.json");
    });
    assert_eq!(r3.code, 1);
    assert!(
        r3.stderr.starts_with(&format!("{}: ", link.display())),
        "{}",
        r3.stderr
    );
    assert!(
        r.stderr
            .contains("Cannot read ssh key '/nonexistent/ssh_host_rsa_key'"),
        "{}",
        r.stderr
    );
}

/// ssh-to-age for a public key, in Python (independent of keytap's Rust conversion).
fn ssh_pub_to_age(pub_line: &str) -> String {
    let script = r#"
import base64, struct, sys
blob = base64.b64decode(sys.argv[1].split()[1])
n = struct.unpack(">I", blob[:4])[0]; rest = blob[4 + n:]
m = struct.unpack(">I", rest[:4])[0]; pk = rest[4:4 + m]
p = 2**255 - 19
y = int.from_bytes(pk, "little") & ((1 << 255) - 1)
u = (1 + y) * pow(1 - y, p - 2, p) % p
data = u.to_bytes(32, "little")
CH = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
def polymod(vs):
    g = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3]; c = 1
    for v in vs:
        t = c >> 25; c = ((c & 0x1ffffff) << 5) ^ v
        for i in range(5):
            c ^= g[i] if (t >> i) & 1 else 0
    return c
acc = bits = 0; five = []
for b in data:
    acc = (acc << 8) | b; bits += 8
    while bits >= 5:
        bits -= 5; five.append((acc >> bits) & 31)
if bits: five.append((acc << (5 - bits)) & 31)
hrp = "age"
pm = polymod([ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + five + [0] * 6) ^ 1
print(hrp + "1" + "".join(CH[v] for v in five) + "".join(CH[(pm >> 5 * (5 - i)) & 31] for i in range(6)))
"#;
    python(script, pub_line)
}

#[test]
fn setuid_setgid_and_sticky_bits_never_reach_a_secret() {
    let site = Site::new();
    let f = site.sops_file("m.yaml", b"v: x\n", &[]);
    let mut s = site.secret("v", "v", &f, "yaml");
    s["mode"] = json!("6777");
    let m = site.write_manifest("m.json", &site.manifest_value(vec![s], vec![]));
    let run = site.install_ok(&m);
    assert!(
        run.stderr
            .contains("setuid, setgid and sticky bits are never set"),
        "{}",
        run.stderr
    );
    let live = site
        .mount()
        .join(site.live().unwrap().to_string())
        .join("v");
    // The permission bits, through the umask (the installer's is this test's).
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let umask = status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .map(|u| u32::from_str_radix(u.trim(), 8).unwrap())
        .unwrap();
    assert_eq!(attrs(&live).0, 0o777 & !umask);
}

/// As sops-install-secrets (`os.WriteFile(path, value, mode)`, no chmod after), a secret's
/// mode goes through the installer's umask; a rendered template keeps its exact mode.
#[test]
fn a_secrets_mode_goes_through_the_umask_as_in_sops_nix() {
    let site = Site::new();
    let file = site.sops_file("u.yaml", b"a: x\n", &[]);
    let mut secret = site.secret("a", "a", &file, "yaml");
    secret["mode"] = json!("0666");
    let mut template = site.template("t", "v");
    template["mode"] = json!("0666");
    let m = site.manifest_value(vec![secret], vec![template]);
    let mf = site.write_manifest("m.json", &m);
    for (umask, secret_mode) in [("022", 0o644), ("0", 0o666), ("077", 0o600)] {
        let r = site.ws.run("sh", |c| {
            c.args([
                "-c",
                &format!("umask {umask}; exec \"$0\" install-secrets \"$1\""),
            ])
            .arg(keytap_e2e::keytap_bin())
            .arg(&mf)
            .env("KEYTAP_INSTALL_NIXOS_RUN_DIR", site.ws.path("run/nixos"));
        });
        assert_eq!(r.code, 0, "umask {umask}: {}", r.stderr);
        assert_eq!(
            attrs(&site.link().join("a")).0 & 0o7777,
            secret_mode,
            "umask {umask}"
        );
        assert_eq!(
            attrs(&site.link().join("rendered/t")).0 & 0o7777,
            0o666,
            "umask {umask}"
        );
    }
}
