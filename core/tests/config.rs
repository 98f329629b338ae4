//! Tests of `keytap_core::config`: data tables for lookup, rule matching, fields, key
//! groups and errors, plus checks against the real `sops` binary (it must be on PATH) that the same `.sops.yaml` and path select the same recipients.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use keytap_core::config::{
    self, choose_config, find_config, lookup_config, AzureKeySpec, Config, ConfigError,
    CreationRule, CryptRule, KeyGroupSpec, KmsKeySpec,
};

// Valid age recipients (public keys only; nothing here needs the private keys).
const K1: &str = "age123kfjegepngcs8azwedqxxsa5fuzxd0szs87k99myej5glpck9ms9nq4p8";
const K2: &str = "age1288a9zecpzzta400cswp8sj58xgl0s27ncqm64qmlsfxhwjfhdsqtpf76z";
const K3: &str = "age1yh402zlh5k6ralwuvk7cpxklzmujcdqyqrpdw3z7teu0m9pe8ekqr4f0c3";
const K4: &str = "age1tc7wpelwlpgxx8wz78u4n286krlmg3xc2fuwrrfveuuaemph75fsdsnmtv";

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/config")
        .join(name)
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    config::parse(text, Path::new("/cfg/.sops.yaml"))
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// The rule for `file` (absolute) with the config at `config_path`, like sops.
fn ours(config_path: &Path, file: &Path) -> Result<Option<CreationRule>, ConfigError> {
    let conf = config::load(config_path)?;
    let dir = conf.dir().unwrap();
    conf.rule_for(file, &dir).map(|r| r.cloned())
}

fn age_groups(rule: &CreationRule) -> Vec<Vec<String>> {
    rule.key_groups.iter().map(|g| g.age.clone()).collect()
}

// ------------------------------------------------------------------------------------
// Lookup
// ------------------------------------------------------------------------------------

#[test]
fn lookup_finds_nearest_config_upwards() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(&root.join(".sops.yaml"), "creation_rules: []\n");
    write(&root.join("a/.sops.yaml"), "creation_rules: []\n");
    fs::create_dir_all(root.join("a/b/c")).unwrap();
    fs::create_dir_all(root.join("x/y")).unwrap();

    // (start directory, expected config)
    let table = [
        ("", ".sops.yaml"),
        ("a", "a/.sops.yaml"),
        ("a/b", "a/.sops.yaml"),
        ("a/b/c", "a/.sops.yaml"),
        ("x/y", ".sops.yaml"),
        ("a/b/./c/..", "a/.sops.yaml"),
    ];
    for (start, expected) in table {
        let found = find_config(&root.join(start));
        assert_eq!(found, Some(root.join(expected)), "start {start:?}");
    }
}

#[test]
fn lookup_ignores_sops_yml_with_sops_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(&root.join(".sops.yaml"), "creation_rules: []\n");
    write(&root.join("a/.sops.yml"), "creation_rules: []\n");
    write(&root.join("a/b/.sops.yml"), "creation_rules: []\n");
    let found = lookup_config(&root.join("a/b"));
    assert_eq!(found.path, Some(root.join(".sops.yaml")));
    // The nearest .sops.yml is the one named.
    assert_eq!(
        found.warning.unwrap(),
        format!(
            "ignoring {:?} when searching for config file; the config file must be called \".sops.yaml\"; using {:?} instead",
            root.join("a/b/.sops.yml").to_str().unwrap(),
            root.join(".sops.yaml").to_str().unwrap()
        )
    );

    let only_yml = tempfile::tempdir().unwrap();
    write(&only_yml.path().join(".sops.yml"), "creation_rules: []\n");
    let found = lookup_config(only_yml.path());
    if found.path.is_none() {
        // (Unless some ancestor of the temp dir has a .sops.yaml.)
        assert_eq!(
            found.warning.unwrap(),
            format!(
                "ignoring {:?} when searching for config file; the config file must be called \".sops.yaml\"",
                only_yml.path().join(".sops.yml").to_str().unwrap()
            )
        );
    }
}

#[test]
fn lookup_stops_after_100_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(&root.join(".sops.yaml"), "creation_rules: []\n");
    let mut deep = root.to_path_buf();
    for _ in 0..100 {
        deep.push("d");
    }
    fs::create_dir_all(&deep).unwrap();
    // 99 levels below: the 100th candidate is root/.sops.yaml.
    assert_eq!(
        find_config(deep.parent().unwrap()),
        Some(root.join(".sops.yaml"))
    );
    // 100 levels below: out of reach (anything found must be above the temp dir).
    if let Some(p) = find_config(&deep) {
        assert!(!p.starts_with(root), "{p:?}");
    }
}

#[test]
fn lookup_accepts_a_directory_named_like_the_config() {
    // sops only stats the candidate; reading it then fails.
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir_all(tmp.path().join(".sops.yaml")).unwrap();
    let found = find_config(tmp.path()).unwrap();
    assert_eq!(found, tmp.path().join(".sops.yaml"));
    let err = config::load(&found).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "could not read config file: read {p}: is a directory",
            p = found.display()
        )
    );
}

#[test]
fn config_flag_beats_env_beats_lookup() {
    let flag = Path::new("/flag.yaml");
    let env = std::ffi::OsStr::new("/env.yaml");
    let empty = std::ffi::OsStr::new("");
    let c = choose_config(Some(flag), Some(env));
    assert_eq!((c.path.as_deref(), c.explicit), (Some(flag), true));
    let c = choose_config(None, Some(env));
    assert_eq!(
        (c.path.as_deref(), c.explicit),
        (Some(Path::new("/env.yaml")), true)
    );
    let c = choose_config(Some(Path::new("")), Some(env));
    assert_eq!(c.path.as_deref(), Some(Path::new("/env.yaml")));
    let c = choose_config(None, Some(empty));
    assert!(!c.explicit);
}

#[test]
fn missing_explicit_config_is_a_read_error() {
    let err = config::load(Path::new("/nonexistent/dir/.sops.yaml")).unwrap_err();
    assert_eq!(err.exit_code(), 1);
    assert!(
        err.to_string().contains("/nonexistent/dir/.sops.yaml"),
        "{err}"
    );
    assert!(!err.to_string().contains('\n'));
}

// ------------------------------------------------------------------------------------
// Rule matching
// ------------------------------------------------------------------------------------

const MATCH_CONFIG: &str = r#"
creation_rules:
  - path_regex: ^sub/.*\.yaml$
    age: a-sub
  - path_regex: \.json$
    age: a-json
  - path_regex: ^/elsewhere/
    age: a-abs
  - path_regex: dev
    age: a-dev
  - age: a-default
"#;

#[test]
fn rule_matching_table() {
    let conf = parse(MATCH_CONFIG).unwrap();
    let dir = Path::new("/proj");
    // (absolute file, expected recipient)
    let table = [
        ("/proj/sub/x.yaml", "a-sub"),
        ("/proj/sub/deeper/x.yaml", "a-sub"),
        ("/proj/x.yaml", "a-default"),
        ("/proj/sub/x.json", "a-json"),
        ("/proj/x.json", "a-json"),
        // Outside the config dir: the absolute path is matched.
        ("/elsewhere/sub/x.yaml", "a-abs"),
        ("/other/sub/x.yaml", "a-default"),
        // The prefix is compared as text plus a separator, not as a path component.
        ("/project/sub/x.yaml", "a-default"),
        // Unanchored: "dev" anywhere in the relative path.
        ("/proj/a/devices/x.txt", "a-dev"),
        // First match wins.
        ("/proj/dev/x.json", "a-json"),
    ];
    for (file, expected) in table {
        let rule = conf.rule_for(Path::new(file), dir).unwrap().unwrap();
        assert_eq!(rule.key_groups[0].age, vec![expected], "{file}");
    }
    // A config in / never strips (sops compares with "//").
    let rule = conf
        .rule_for(Path::new("/sub/x.yaml"), Path::new("/"))
        .unwrap()
        .unwrap();
    assert_eq!(rule.key_groups[0].age, vec!["a-default"]);
}

#[test]
fn rule_matching_edge_cases() {
    let dir = Path::new("/proj");
    let file = Path::new("/proj/f.yaml");
    // No creation_rules key, or null: no rules at all (sops acts as without config).
    for text in [
        "",
        "stores: {}\n",
        "creation_rules:\n",
        "creation_rules: ~\n",
        "# only a comment\n",
    ] {
        assert!(
            parse(text).unwrap().rule_for(file, dir).unwrap().is_none(),
            "{text:?}"
        );
    }
    // An empty list (or only null entries) fails every lookup.
    for text in ["creation_rules: []\n", "creation_rules:\n  - ~\n"] {
        let err = parse(text).unwrap().rule_for(file, dir).unwrap_err();
        assert!(
            matches!(err, ConfigError::NoMatchingRule { .. }),
            "{text:?}"
        );
        assert_eq!(
            err.to_string(),
            "error loading config: no matching creation rules found (in /cfg/.sops.yaml)"
        );
    }
    // A broken regex is only noticed when it is tried.
    let conf =
        parse("creation_rules:\n  - path_regex: f\n    age: a\n  - path_regex: '('\n").unwrap();
    assert!(conf.rule_for(file, dir).unwrap().is_some());
    let err = conf.rule_for(Path::new("/proj/g.yaml"), dir).unwrap_err();
    assert!(matches!(err, ConfigError::BadPathRegex { .. }));
    assert_eq!(
        err.to_string(),
        "can not compile regexp: error parsing regexp: missing closing ): `(`"
    );
    // A rule without path_regex (or with path_regex: ~ / '') matches everything.
    for text in [
        "creation_rules:\n  - age: a\n",
        "creation_rules:\n  - path_regex: ~\n    age: a\n",
        "creation_rules:\n  - path_regex: ''\n    age: a\n",
    ] {
        assert!(
            parse(text).unwrap().rule_for(file, dir).unwrap().is_some(),
            "{text:?}"
        );
    }
    // path_regex: 123 is the string "123".
    let conf = parse("creation_rules:\n  - path_regex: 123\n    age: a\n").unwrap();
    assert_eq!(conf.creation_rules.as_ref().unwrap()[0].path_regex, "123");
    assert!(conf.rule_for(file, dir).is_err());
    assert!(conf
        .rule_for(Path::new("/proj/x123.yaml"), dir)
        .unwrap()
        .is_some());
}

#[test]
fn config_dir_is_absolute_directory_of_config() {
    assert_eq!(
        config::config_dir(Path::new("/a/b/../c/.sops.yaml")).unwrap(),
        PathBuf::from("/a/c")
    );
    let rel = config::config_dir(Path::new(".sops.yaml")).unwrap();
    assert!(rel.is_absolute());
    assert_eq!(
        config::absolute_path(Path::new("/x/./y/../z")).unwrap(),
        PathBuf::from("/x/z")
    );
}

// ------------------------------------------------------------------------------------
// Fields
// ------------------------------------------------------------------------------------

#[test]
fn every_field_is_read() {
    let conf = config::load(&data("full.sops.yaml")).unwrap();
    assert_eq!(conf.stores.yaml_indent, 2);
    assert_eq!(conf.stores.json_indent, 4);
    assert_eq!(conf.stores.json_binary_indent, 0);

    let rules = conf.creation_rules.as_ref().unwrap();
    assert_eq!(rules.len(), 7);

    let direct = &rules[0];
    assert_eq!(direct.path_regex, "^direct/");
    assert!(!direct.from_key_groups);
    assert_eq!(direct.shamir_threshold, 2);
    assert!(direct.mac_only_encrypted);
    assert_eq!(
        direct.crypt_rule,
        Some(CryptRule::EncryptedRegex("^(data|stringData)$".into()))
    );
    assert_eq!(direct.aws_profile, "dev");
    assert_eq!(
        direct.key_groups,
        vec![KeyGroupSpec {
            age: vec!["age1aaa".into(), "age1bbb".into()],
            pgp: vec![
                "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4".into(),
                "D7229043384BCC60326C6FB9D8720D957C3D3074".into()
            ],
            kms: vec![
                KmsKeySpec {
                    arn: "arn:aws:kms:us-east-1:656532927350:key/920aff2e".into(),
                    role: "arn:aws:iam::927034868273:role/sops-dev".into(),
                    context: None,
                    aws_profile: "dev".into(),
                },
                KmsKeySpec {
                    arn: "arn:aws:kms:eu-west-1:1:key/k2".into(),
                    role: String::new(),
                    context: None,
                    aws_profile: "dev".into(),
                },
            ],
            gcp_kms: vec!["projects/p/locations/global/keyRings/r/cryptoKeys/k".into()],
            azure_keyvault: vec![AzureKeySpec {
                vault_url: "https://v.vault.azure.net".into(),
                key: "k".into(),
                version: "0123".into(),
            }],
            hc_vault: vec!["https://vault.example.com:8200/v1/transit/keys/k".into()],
            hckms: Vec::new(),
        }]
    );

    let groups = &rules[1];
    assert!(groups.from_key_groups);
    assert_eq!(groups.shamir_threshold, 2);
    assert_eq!(
        groups.crypt_rule,
        Some(CryptRule::UnencryptedSuffix("_plain".into()))
    );
    assert!(!groups.mac_only_encrypted);
    let g0 = &groups.key_groups[0];
    assert_eq!(g0.age, vec!["age1ccc", "age1ddd", "age1eee"]);
    assert_eq!(g0.pgp, vec!["AAAABBBB"]);
    assert_eq!(
        g0.kms,
        vec![KmsKeySpec {
            arn: "arn:aws:kms:us-east-1:1:key/k".into(),
            role: "arn:aws:iam::1:role/r".into(),
            context: Some(
                [
                    ("Empty".to_string(), None),
                    ("Environment".to_string(), Some("production".to_string()))
                ]
                .into_iter()
                .collect()
            ),
            aws_profile: "foo".into(),
        }]
    );
    assert_eq!(
        g0.gcp_kms,
        vec!["projects/p/locations/l/keyRings/r/cryptoKeys/c"]
    );
    assert_eq!(
        g0.azure_keyvault,
        vec![AzureKeySpec {
            vault_url: "https://v.vault.azure.net".into(),
            key: "name".into(),
            version: "v1".into(),
        }]
    );
    assert_eq!(
        g0.hc_vault,
        vec!["https://vault.example.com:8200/v1/transit/keys/g"]
    );
    // Merged groups first (in order), then the group's own keys; duplicates dropped.
    let g1 = &groups.key_groups[1];
    assert_eq!(g1.age, vec!["age1fff", "age1ggg", "age1hhh"]);
    assert_eq!(g1.pgp, vec!["CCCC"]);

    let crypt: Vec<_> = rules[2..6]
        .iter()
        .map(|r| r.crypt_rule.clone().unwrap())
        .collect();
    assert_eq!(
        crypt,
        vec![
            CryptRule::EncryptedSuffix("_secret".into()),
            CryptRule::UnencryptedRegex("^public".into()),
            CryptRule::EncryptedCommentRegex("sops:enc".into()),
            CryptRule::UnencryptedCommentRegex("sops:plain".into()),
        ]
    );
    // Rules without keys have one empty group (sops: "empty key group provided").
    assert_eq!(rules[2].key_groups, vec![KeyGroupSpec::default()]);
    assert!(rules[2].key_groups[0].is_empty());
    assert_eq!(rules[6].path_regex, "");
    assert_eq!(rules[6].crypt_rule, None);
    assert_eq!(rules[6].key_groups[0].age, vec!["age1fallback"]);

    let d = &conf.destination_rules;
    assert_eq!(d.len(), 2);
    assert_eq!(d[0].s3_bucket, "bucket");
    assert_eq!(d[0].s3_prefix, "prefix/");
    assert_eq!(d[0].recreation_rule.key_groups[0].age, vec!["age1recreate"]);
    assert_eq!(d[1].vault_path, "secret/x");
    assert_eq!(d[1].vault_address, "https://vault.example.com:8200");
    assert_eq!(d[1].vault_kv_mount_name, "kv");
    assert_eq!(d[1].vault_kv_version, 2);
    assert!(d[1].omit_extensions);
    assert_eq!(
        conf.destination_rule_for("s3/file.yaml").unwrap().s3_bucket,
        "bucket"
    );
    assert_eq!(
        conf.destination_rule_for("other.yaml").unwrap().vault_path,
        "secret/x"
    );
}

#[test]
fn stores_defaults() {
    let conf = parse("creation_rules: []\n").unwrap();
    assert_eq!(conf.stores, config::StoresConfig::default());
    assert_eq!(
        (
            conf.stores.yaml_indent,
            conf.stores.json_indent,
            conf.stores.json_binary_indent
        ),
        (0, -1, -1)
    );
    // A null indent keeps the default (go-yaml leaves the field alone).
    let conf = parse("stores:\n  json:\n    indent: ~\n  yaml: {indent: 8}\n").unwrap();
    assert_eq!((conf.stores.json_indent, conf.stores.yaml_indent), (-1, 8));
}

#[test]
fn scalar_forms_for_typed_fields() {
    // (yaml value, shamir_threshold)
    let ints = [
        ("3", 3),
        ("0x3", 3),
        ("0o3", 3),
        ("0b11", 3),
        ("+3", 3),
        ("1_0", 10),
        ("2.0", 2),
        ("2.5", 2),
        ("03", 3),
        ("~", 0),
    ];
    for (v, expected) in ints {
        let conf = parse(&format!("creation_rules:\n  - shamir_threshold: {v}\n")).unwrap();
        assert_eq!(
            conf.creation_rules.unwrap()[0].shamir_threshold,
            expected,
            "{v}"
        );
    }
    let bools = [
        ("true", true),
        ("True", true),
        ("yes", true),
        ("'on'", true),
        ("Y", true),
        ("false", false),
        ("no", false),
        ("OFF", false),
        ("~", false),
    ];
    for (v, expected) in bools {
        let conf = parse(&format!("creation_rules:\n  - mac_only_encrypted: {v}\n")).unwrap();
        assert_eq!(
            conf.creation_rules.unwrap()[0].mac_only_encrypted,
            expected,
            "{v}"
        );
    }
    // Any scalar is accepted for string fields, as written.
    let conf =
        parse("creation_rules:\n  - unencrypted_suffix: 12\n  - encrypted_regex: true\n").unwrap();
    let rules = conf.creation_rules.unwrap();
    assert_eq!(
        rules[0].crypt_rule,
        Some(CryptRule::UnencryptedSuffix("12".into()))
    );
    assert_eq!(
        rules[1].crypt_rule,
        Some(CryptRule::EncryptedRegex("true".into()))
    );
    // Empty strings mean "not set".
    let conf =
        parse("creation_rules:\n  - unencrypted_suffix: ''\n    encrypted_regex: ''\n").unwrap();
    assert_eq!(conf.creation_rules.unwrap()[0].crypt_rule, None);
}

#[test]
fn both_age_syntaxes() {
    // (age value in a rule, expected recipients)
    let table: &[(&str, &[&str])] = &[
        ("age1a", &["age1a"]),
        ("age1a,age1b", &["age1a", "age1b"]),
        ("' age1a , age1b ,'", &["age1a", "age1b"]),
        ("',,age1a'", &["age1a"]),
        ("[age1a, age1b]", &["age1a", "age1b"]),
        ("['age1a,age1b', ' age1c ']", &["age1a", "age1b", "age1c"]),
        ("\n      - age1a\n      - age1b", &["age1a", "age1b"]),
        ("''", &[]),
        ("~", &[]),
        ("[]", &[]),
        ("['']", &[]),
        // An empty item in a list survives and must be rejected by the age key source,
        // as sops does ("unknown recipient type").
        ("['', age1a]", &["", "age1a"]),
    ];
    for (value, expected) in table {
        let conf = parse(&format!("creation_rules:\n  - age: {value}\n")).unwrap();
        let rule = conf
            .rule_for(Path::new("/p/f"), Path::new("/p"))
            .unwrap()
            .unwrap();
        assert_eq!(rule.key_groups.len(), 1);
        assert_eq!(&rule.key_groups[0].age, expected, "{value}");
    }
}

#[test]
fn key_groups_replace_direct_keys_and_merge() {
    let conf = parse(
        "creation_rules:\n  - age: ignored\n    key_groups:\n      - age: [a, b]\n        merge:\n          - age: [c, a]\n            merge:\n              - age: [d]\n      - age: [e]\n        pgp: [F1, F1]\n      - {}\n",
    )
    .unwrap();
    let rule = conf
        .rule_for(Path::new("/p/f"), Path::new("/p"))
        .unwrap()
        .unwrap();
    assert!(rule.from_key_groups);
    assert_eq!(
        age_groups(rule),
        vec![vec!["d", "c", "a", "b"], vec!["e"], Vec::<&str>::new()]
            .into_iter()
            .map(|g| g.into_iter().map(String::from).collect::<Vec<_>>())
            .collect::<Vec<_>>()
    );
    assert_eq!(rule.key_groups[1].pgp, vec!["F1"]);
    assert!(rule.key_groups[2].is_empty());
    // key_groups: [] falls back to the direct keys.
    let conf = parse("creation_rules:\n  - key_groups: []\n    age: direct\n").unwrap();
    let rule = conf
        .rule_for(Path::new("/p/f"), Path::new("/p"))
        .unwrap()
        .unwrap();
    assert!(!rule.from_key_groups);
    assert_eq!(rule.key_groups[0].age, vec!["direct"]);
    // Directly listed keys are not de-duplicated (sops writes both).
    let conf = parse("creation_rules:\n  - age: [a, a]\n").unwrap();
    assert_eq!(
        conf.creation_rules.unwrap()[0].key_groups[0].age,
        vec!["a", "a"]
    );
}

// ------------------------------------------------------------------------------------
// Errors
// ------------------------------------------------------------------------------------

#[test]
fn load_errors_table() {
    // (config text, expected message after "error loading config: Could not unmarshal config file: ")
    let table = [
        ("creation_rules:\n  - shamir_threshold: abc\n", "yaml: unmarshal errors: line 2: cannot unmarshal !!str `abc` into int"),
        ("creation_rules:\n  - shamir_threshold: '2'\n", "yaml: unmarshal errors: line 2: cannot unmarshal !!str `2` into int"),
        ("creation_rules:\n  - shamir_threshold: 99999999999999999999\n", "yaml: unmarshal errors: line 2: cannot unmarshal !!float `9999999...` into int"),
        ("creation_rules:\n  - mac_only_encrypted: 1\n", "yaml: unmarshal errors: line 2: cannot unmarshal !!int `1` into bool"),
        ("creation_rules:\n  - mac_only_encrypted: 'True'\n", "yaml: unmarshal errors: line 2: cannot unmarshal !!str `True` into bool"),
        ("creation_rules:\n  - age: a\n    age: b\n", "yaml: unmarshal errors: line 3: mapping key \"age\" already defined at line 2"),
        ("creation_rules: []\ncreation_rules: []\n", "yaml: unmarshal errors: line 2: mapping key \"creation_rules\" already defined at line 1"),
        ("creation_rules: 5\n", "yaml: unmarshal errors: line 1: cannot unmarshal !!int `5` into []config.creationRule"),
        ("creation_rules: [5]\n", "yaml: unmarshal errors: line 1: cannot unmarshal !!int `5` into config.creationRule"),
        ("hello\n", "yaml: unmarshal errors: line 1: cannot unmarshal !!str `hello` into config.configFile"),
        ("- a\n", "yaml: unmarshal errors: line 1: cannot unmarshal !!seq into config.configFile"),
        ("creation_rules:\n  - key_groups:\n    - age: age1abcdefgh\n", "yaml: unmarshal errors: line 3: cannot unmarshal !!str `age1abc...` into []string"),
        ("creation_rules:\n  - unencrypted_suffix: [a]\n", "yaml: unmarshal errors: line 2: cannot unmarshal !!seq into string"),
        ("creation_rules:\n  - shamir_threshold: [1]\n    mac_only_encrypted: x\n", "yaml: unmarshal errors: line 2: cannot unmarshal !!seq into int; line 3: cannot unmarshal !!str `x` into bool"),
        ("stores:\n  json:\n    indent: four\n", "yaml: unmarshal errors: line 3: cannot unmarshal !!str `four` into int"),
    ];
    for (text, expected) in table {
        let err = parse(text).unwrap_err();
        assert!(matches!(err, ConfigError::Types { .. }), "{text:?}: {err}");
        assert_eq!(
            err.to_string(),
            format!("error loading config: Could not unmarshal config file: {expected} (in /cfg/.sops.yaml)"),
            "{text:?}"
        );
        assert_eq!(err.exit_code(), 1);
    }
    for text in [
        "creation_rules:\n  - age: a\n  bad indent\n",
        "creation_rules: [\n",
        "a: 'unterminated\n",
    ] {
        let err = parse(text).unwrap_err();
        assert!(matches!(err, ConfigError::Syntax { .. }), "{text:?}: {err}");
        assert!(!err.to_string().contains('\n'));
    }
}

#[test]
fn rule_errors_are_reported_only_when_selected() {
    // (rule body, sops's message)
    let table = [
        ("age: 123", "invalid age key configuration: invalid age key configuration: expected string, []string, or nil, got int"),
        ("age: true", "invalid age key configuration: invalid age key configuration: expected string, []string, or nil, got bool"),
        ("age: 1.5", "invalid age key configuration: invalid age key configuration: expected string, []string, or nil, got float64"),
        ("age: {a: b}", "invalid age key configuration: invalid age key configuration: expected string, []string, or nil, got map[string]interface {}"),
        ("age: [a, 12]", "invalid age key configuration: invalid age key configuration: expected string in list, got int"),
        ("pgp: [[x]]", "invalid pgp key configuration: invalid pgp key configuration: expected string in list, got []interface {}"),
        ("kms: 1", "invalid kms key configuration: invalid kms key configuration: expected string, []string, or nil, got int"),
        ("gcp_kms: 1", "invalid gcpkms key configuration: invalid gcp_kms key configuration: expected string, []string, or nil, got int"),
        ("azure_keyvault: 1", "invalid azure_keyvault key configuration: invalid azure_keyvault key configuration: expected string, []string, or nil, got int"),
        ("hc_vault_transit_uri: 1", "invalid vault key configuration: invalid hc_vault_transit_uri key configuration: expected string, []string, or nil, got int"),
        ("azure_keyvault: http://x/keys/k", "could not parse \"http://x/keys/k\" into a valid Azure Key Vault MasterKey []"),
        ("encrypted_regex: a\n    unencrypted_suffix: _u", "cannot use more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex, or unencrypted_comment_regex for the same rule"),
        ("encrypted_comment_regex: a\n    unencrypted_comment_regex: b\n    age: 5", "cannot use more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex, or unencrypted_comment_regex for the same rule"),
    ];
    for (body, message) in table {
        let text = format!("creation_rules:\n  - path_regex: ^ok\n    age: fine\n  - path_regex: ^bad\n    {body}\n");
        let conf = parse(&text).unwrap();
        assert!(conf
            .rule_for(Path::new("/p/ok"), Path::new("/p"))
            .unwrap()
            .is_some());
        let err = conf
            .rule_for(Path::new("/p/bad"), Path::new("/p"))
            .unwrap_err();
        assert!(matches!(err, ConfigError::InvalidRule { .. }), "{body}");
        assert_eq!(
            err.to_string(),
            format!("error loading config: {message} (in /cfg/.sops.yaml)"),
            "{body}"
        );
        assert_eq!(
            conf.creation_rules.as_ref().unwrap()[1].error(),
            Some(message)
        );
    }
}

#[test]
fn destination_rule_errors() {
    let conf =
        parse("destination_rules:\n  - path_regex: ^a\n    s3_bucket: b\n    gcs_bucket: g\n")
            .unwrap();
    assert!(matches!(
        conf.destination_rule_for("a.yaml").unwrap_err(),
        ConfigError::MultipleDestinations { .. }
    ));
    assert!(matches!(
        conf.destination_rule_for("b.yaml").unwrap_err(),
        ConfigError::NoMatchingDestination { .. }
    ));
}

// ------------------------------------------------------------------------------------
// Against the real sops binary
// ------------------------------------------------------------------------------------

/// Fails the test unless sops is on PATH: these tests must not pass by skipping.
fn require_sops() {
    let ok = Command::new("sops")
        .arg("--version")
        .arg("--disable-version-check")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(ok, "sops must be on PATH (run scripts/install-deps.sh)");
}

/// What sops wrote (or its failure).
#[derive(Debug)]
struct SopsResult {
    groups: Vec<Vec<String>>,
    meta: serde_json::Value,
}

/// Runs `sops [global] encrypt --output-type json [extra] file` in `cwd`.
fn sops_encrypt(
    cwd: &Path,
    global: &[&str],
    extra: &[&str],
    file: &str,
    env: &[(&str, &str)],
) -> Result<SopsResult, (i32, String)> {
    let mut cmd = Command::new("sops");
    cmd.current_dir(cwd)
        .env_remove("SOPS_CONFIG")
        .env("PWD", cwd)
        .args(global)
        .arg("encrypt")
        .args(["--output-type", "json"])
        .args(extra)
        .arg(file);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run sops");
    if !out.status.success() {
        return Err((
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("sops json");
    let meta = doc["sops"].clone();
    let recipients = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|k| k["recipient"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let groups = match meta.get("key_groups").and_then(|g| g.as_array()) {
        Some(groups) => groups.iter().map(|g| recipients(&g["age"])).collect(),
        None => vec![recipients(&meta["age"])],
    };
    Ok(SopsResult { groups, meta })
}

fn project(config: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(&root.join(".sops.yaml"), config);
    for f in [
        "a.yaml",
        "sub/b.yaml",
        "sub/deeper/c.yaml",
        "sub/d.json.yaml",
        "dev/e.yaml",
    ] {
        write(&root.join(f), "key: value\n");
    }
    tmp
}

#[test]
fn sops_picks_the_same_rule_for_relative_absolute_and_nested_paths() {
    require_sops();
    let tmp = project(&format!(
        "creation_rules:\n  - path_regex: ^sub/deeper/\n    age: {K1}\n  - path_regex: ^sub/[^/]*\\.yaml$\n    age: [{K2}, {K3}]\n  - path_regex: dev\n    age: ' {K4} , {K1},'\n  - age: {K3}\n"
    ));
    let root = tmp.path();
    let cfg = root.join(".sops.yaml");
    // (cwd relative to root, file argument, file relative to root)
    let root_s = root.to_str().unwrap().to_string();
    let cases = [
        ("", "a.yaml".to_string(), "a.yaml"),
        ("", "sub/b.yaml".to_string(), "sub/b.yaml"),
        ("sub", "b.yaml".to_string(), "sub/b.yaml"),
        ("sub", "deeper/c.yaml".to_string(), "sub/deeper/c.yaml"),
        ("sub/deeper", "c.yaml".to_string(), "sub/deeper/c.yaml"),
        ("sub/deeper", "../../dev/e.yaml".to_string(), "dev/e.yaml"),
        (
            "dev",
            format!("{root_s}/sub/d.json.yaml"),
            "sub/d.json.yaml",
        ),
        ("sub", format!("{root_s}/a.yaml"), "a.yaml"),
    ];
    for (cwd, arg, rel) in cases {
        let sops = sops_encrypt(&root.join(cwd), &[], &[], &arg, &[]).unwrap();
        let rule = ours(&cfg, &root.join(rel)).unwrap().unwrap();
        assert_eq!(sops.groups, age_groups(&rule), "cwd {cwd:?} file {arg:?}");
    }
}

#[test]
fn sops_agrees_on_key_groups_merge_dedup_and_threshold() {
    require_sops();
    let tmp = project(&format!(
        "creation_rules:\n  - key_groups:\n      - age: [{K1}, '{K2},{K1}']\n        merge:\n          - age: [{K3}, {K1}]\n      - age: [{K4}]\n      - merge:\n          - age: [{K2}]\n          - age: [{K2}, {K3}]\n    shamir_threshold: 0x2\n    encrypted_regex: ^key$\n    mac_only_encrypted: yes\n"
    ));
    let root = tmp.path();
    let sops = sops_encrypt(root, &[], &[], "a.yaml", &[]).unwrap();
    let rule = ours(&root.join(".sops.yaml"), &root.join("a.yaml"))
        .unwrap()
        .unwrap();
    assert_eq!(sops.groups, age_groups(&rule));
    assert_eq!(
        sops.groups,
        vec![vec![K3, K1, K2], vec![K4], vec![K2, K3]]
            .into_iter()
            .map(|g| g.into_iter().map(String::from).collect::<Vec<_>>())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        sops.meta["shamir_threshold"].as_i64(),
        Some(rule.shamir_threshold)
    );
    let crypt = rule.crypt_rule.clone().unwrap();
    assert_eq!(sops.meta[crypt.field_name()].as_str(), Some(crypt.value()));
    assert_eq!(
        sops.meta["mac_only_encrypted"].as_bool(),
        Some(rule.mac_only_encrypted)
    );
}

#[test]
fn sops_agrees_on_explicit_config_and_files_outside_its_directory() {
    require_sops();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let root_s = root.to_str().unwrap();
    write(&root.join("work/f.yaml"), "key: value\n");
    write(
        &root.join("work/.sops.yaml"),
        &format!("creation_rules:\n  - age: {K4}\n"),
    );
    // The explicit config lives in conf/, the file in work/: the absolute path is matched.
    let explicit = format!(
        "creation_rules:\n  - path_regex: ^work/\n    age: {K1}\n  - path_regex: ^{root_s}/work/f\\.yaml$\n    age: {K2}\n  - age: {K3}\n"
    );
    write(&root.join("conf/explicit.yaml"), &explicit);
    let cfg = root.join("conf/explicit.yaml");
    let cfg_s = cfg.to_str().unwrap();
    let file = root.join("work/f.yaml");

    let ours_groups = age_groups(&ours(&cfg, &file).unwrap().unwrap());
    assert_eq!(ours_groups, vec![vec![K2.to_string()]]);
    let by_flag =
        sops_encrypt(&root.join("work"), &["--config", cfg_s], &[], "f.yaml", &[]).unwrap();
    assert_eq!(by_flag.groups, ours_groups);
    let by_env = sops_encrypt(
        &root.join("work"),
        &[],
        &[],
        "f.yaml",
        &[("SOPS_CONFIG", cfg_s)],
    )
    .unwrap();
    assert_eq!(by_env.groups, ours_groups);

    // --config beats SOPS_CONFIG.
    write(
        &root.join("conf/other.yaml"),
        &format!("creation_rules:\n  - age: {K1}\n"),
    );
    let both = sops_encrypt(
        &root.join("work"),
        &["--config", cfg_s],
        &[],
        "f.yaml",
        &[(
            "SOPS_CONFIG",
            root.join("conf/other.yaml").to_str().unwrap(),
        )],
    )
    .unwrap();
    assert_eq!(both.groups, ours_groups);
    let choice = choose_config(Some(&cfg), Some(root.join("conf/other.yaml").as_os_str()));
    assert_eq!(choice.path.as_deref(), Some(cfg.as_path()));

    // A config next to the explicit one in the walked-up tree is a different answer.
    let looked_up = sops_encrypt(&root.join("work"), &[], &[], "f.yaml", &[]).unwrap();
    let found = find_config(&root.join("work")).unwrap();
    assert_eq!(
        looked_up.groups,
        age_groups(&ours(&found, &file).unwrap().unwrap())
    );
    assert_eq!(looked_up.groups, vec![vec![K4.to_string()]]);
}

#[test]
fn sops_uses_the_current_directory_and_ignores_sops_yml() {
    require_sops();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(
        &root.join(".sops.yaml"),
        &format!("creation_rules:\n  - age: {K1}\n"),
    );
    write(
        &root.join("a/.sops.yml"),
        &format!("creation_rules:\n  - age: {K2}\n"),
    );
    write(
        &root.join("a/b/.sops.yaml"),
        &format!("creation_rules:\n  - age: {K3}\n"),
    );
    write(&root.join("a/b/f.yaml"), "key: value\n");
    // From a/: the .sops.yml is skipped, the root config is used (not a/b's, next to the file).
    let sops = sops_encrypt(&root.join("a"), &[], &[], "b/f.yaml", &[]).unwrap();
    let found = lookup_config(&root.join("a"));
    assert_eq!(found.path, Some(root.join(".sops.yaml")));
    assert!(found.warning.is_some());
    let rule = ours(found.path.as_ref().unwrap(), &root.join("a/b/f.yaml"))
        .unwrap()
        .unwrap();
    assert_eq!(sops.groups, age_groups(&rule));
    assert_eq!(sops.groups, vec![vec![K1.to_string()]]);
    // From a/b/: its own config.
    let sops = sops_encrypt(&root.join("a/b"), &[], &[], "f.yaml", &[]).unwrap();
    assert_eq!(sops.groups, vec![vec![K3.to_string()]]);
    assert_eq!(
        find_config(&root.join("a/b")),
        Some(root.join("a/b/.sops.yaml"))
    );
}

#[test]
fn sops_fails_where_we_fail() {
    require_sops();
    // (config, file relative to root, extra args, sops's message (also in ours))
    let cases: Vec<(String, &str, Vec<&str>, &str)> = vec![
        (
            format!("creation_rules:\n  - path_regex: nomatch\n    age: {K1}\n"),
            "a.yaml",
            vec![],
            "no matching creation rules found",
        ),
        (
            // Even with keys on the command line.
            format!("creation_rules:\n  - path_regex: nomatch\n    age: {K1}\n"),
            "a.yaml",
            vec!["--age", K2],
            "no matching creation rules found",
        ),
        (
            format!("creation_rules:\n  - age: {K1}\n    encrypted_regex: a\n    unencrypted_suffix: _u\n"),
            "a.yaml",
            vec![],
            "cannot use more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex, or unencrypted_comment_regex for the same rule",
        ),
        (
            format!("creation_rules:\n  - age: [{K1}, 12]\n"),
            "a.yaml",
            vec![],
            "invalid age key configuration: invalid age key configuration: expected string in list, got int",
        ),
        (
            format!("creation_rules:\n  - age: {K1}\n    shamir_threshold: abc\n"),
            "a.yaml",
            vec![],
            "line 3: cannot unmarshal !!str `abc` into int",
        ),
        (
            format!("creation_rules:\n  - age: {K1}\n    age: {K2}\n"),
            "a.yaml",
            vec![],
            "line 3: mapping key \"age\" already defined at line 2",
        ),
    ];
    for (config, file, extra, message) in cases {
        let tmp = project(&config);
        let root = tmp.path();
        let (code, stderr) = sops_encrypt(root, &[], &extra, file, &[]).unwrap_err();
        assert_eq!(code, 1, "{config}");
        assert!(stderr.contains(message), "sops: {stderr}");
        let err = ours(&root.join(".sops.yaml"), &root.join(file)).unwrap_err();
        assert_eq!(err.exit_code(), code);
        assert!(err.to_string().contains(message), "ours: {err}");
    }

    // Successes where a rule further down is broken.
    let tmp = project(&format!(
        "creation_rules:\n  - path_regex: a\n    age: {K1}\n  - path_regex: '('\n    age: 5\n"
    ));
    let sops = sops_encrypt(tmp.path(), &[], &[], "a.yaml", &[]).unwrap();
    let rule = ours(&tmp.path().join(".sops.yaml"), &tmp.path().join("a.yaml"))
        .unwrap()
        .unwrap();
    assert_eq!(sops.groups, age_groups(&rule));
}

#[test]
fn sops_agrees_on_crypt_rule_precedence() {
    require_sops();
    let tmp = project(&format!(
        "creation_rules:\n  - age: {K1}\n    encrypted_regex: ^k\n"
    ));
    let root = tmp.path();
    let rule = ours(&root.join(".sops.yaml"), &root.join("a.yaml"))
        .unwrap()
        .unwrap();

    // Same field on the command line: the flag wins.
    let sops = sops_encrypt(root, &[], &["--encrypted-regex", "^x"], "a.yaml", &[]).unwrap();
    let flag = CryptRule::EncryptedRegex("^x".into());
    let resolved = CryptRule::resolve(&[flag], rule.crypt_rule.as_ref(), false)
        .unwrap()
        .unwrap();
    assert_eq!(
        sops.meta[resolved.field_name()].as_str(),
        Some(resolved.value())
    );
    assert!(sops.meta.get("unencrypted_suffix").is_none());

    // Another field: conflict, exit 8.
    let (code, stderr) =
        sops_encrypt(root, &[], &["--unencrypted-suffix", "_u"], "a.yaml", &[]).unwrap_err();
    let conflict = CryptRule::resolve(
        &[CryptRule::UnencryptedSuffix("_u".into())],
        rule.crypt_rule.as_ref(),
        false,
    )
    .unwrap_err();
    assert_eq!(code, conflict.exit_code());
    assert!(stderr.contains(&conflict.to_string()), "{stderr}");

    // Nothing set anywhere: the default suffix.
    let tmp = project(&format!("creation_rules:\n  - age: {K1}\n"));
    let sops = sops_encrypt(tmp.path(), &[], &[], "a.yaml", &[]).unwrap();
    let rule = ours(&tmp.path().join(".sops.yaml"), &tmp.path().join("a.yaml"))
        .unwrap()
        .unwrap();
    let resolved = CryptRule::resolve(&[], rule.crypt_rule.as_ref(), false)
        .unwrap()
        .unwrap();
    assert_eq!(resolved, CryptRule::default());
    assert_eq!(
        sops.meta["unencrypted_suffix"].as_str(),
        Some("_unencrypted")
    );
}

/// `name: &name [...]` lines, each a list of 9 aliases to the one before: the last one
/// expands to 9^`levels` scalars.
fn alias_bomb(levels: usize) -> String {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
    for i in 1..=levels {
        let refs = vec![format!("*a{}", i - 1); 9].join(", ");
        text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    text
}

#[test]
fn alias_bombs_cost_what_sops_pays_for_them() {
    // Unknown keys are never decoded (sops ignores them): a 387-million-scalar bomb there
    // loads at once. Aliases share their node, so nothing is expanded.
    let conf = parse(&format!("{}creation_rules:\n  - age: a\n", alias_bomb(8))).unwrap();
    assert_eq!(conf.creation_rules.map(|r| r.len()), Some(1));
    let rules_after_bomb = |rules: &str| {
        let text = format!("{}creation_rules:\n{rules}", alias_bomb(8));
        parse(&text).unwrap_err().to_string()
    };
    // Decoded into a field that takes anything: go-yaml's guard, as in sops.
    let err = rules_after_bomb("  - age: a\n    pgp: *a8\n");
    assert!(
        err.contains("yaml: document contains excessive aliasing (in "),
        "{err}"
    );
    // Through key groups merging key groups (a mapping bomb): the same guard.
    let mut text = String::from("g0: &g0 {age: [a]}\n");
    for i in 1..=9 {
        let refs = vec![format!("*g{}", i - 1); 9].join(", ");
        text.push_str(&format!("g{i}: &g{i} {{merge: [{refs}]}}\n"));
    }
    text.push_str("creation_rules:\n  - key_groups: [*g9]\n");
    let err = parse(&text).unwrap_err();
    assert!(err.to_string().contains("excessive aliasing"), "{err}");
    // Where the type stops go-yaml before it descends, the type errors come instead (at
    // the line of the aliased node, as sops says).
    let err = rules_after_bomb("  - key_groups: *a8\n");
    assert!(
        err.contains("line 8: cannot unmarshal !!seq into config.keyGroup"),
        "{err}"
    );
    // Counted as go-yaml counts (keys too, an alias as one node outside and one inside):
    // a mapping of 4,000 unknown keys aliased 2,000 times stops at once, as in sops...
    let keys: String = (0..4000).map(|i| format!("k{i}: 0, ")).collect();
    let mut text = format!("x: &a {{{keys}}}\ncreation_rules:\n");
    for i in 0..2000 {
        if i % 100 == 0 {
            text.push_str(&format!("  - {{path_regex: nomatch{i}, age: a}}\n"));
        } else {
            text.push_str("  - *a\n");
        }
    }
    let err = parse(&text).unwrap_err();
    assert!(err.to_string().contains("excessive aliasing"), "{err}");
    // ...and one group of 150 recipients shared by 8 rules is fine, as in sops.
    let recipients = vec!["age1x"; 150].join(", ");
    let mut text = format!("groups: &g\n  - age: [{recipients}]\ncreation_rules:\n");
    for _ in 0..8 {
        text.push_str("  - key_groups: *g\n");
    }
    assert_eq!(
        parse(&text).unwrap().creation_rules.map(|r| r.len()),
        Some(8)
    );
    // Ordinary reuse of an anchor is fine.
    let conf = parse(
        "keys: &keys [age1a, age1b]\ncreation_rules:\n  - path_regex: a\n    key_groups: [{age: *keys}]\n  - key_groups: [{age: *keys}]\n",
    )
    .unwrap();
    assert_eq!(conf.creation_rules.map(|r| r.len()), Some(2));
}

#[test]
fn many_duplicate_keys_are_reported_without_quadratic_work() {
    let mut text = String::from("creation_rules:\n  - age: a\n");
    for _ in 0..100_000 {
        text.push_str("    pgp: b\n");
    }
    let err = parse(&text).unwrap_err().to_string();
    // go-yaml's first errors, in its order, and a bounded number of them.
    assert!(
        err.contains("line 4: mapping key \"pgp\" already defined at line 3; line 5: mapping key \"pgp\" already defined at line 3"),
        "{}",
        &err[..err.len().min(300)]
    );
    assert_eq!(err.matches("already defined").count(), 100);
}

/// A config that is not UTF-8 gets go-yaml's reader errors, as sops reports them (the
/// text used to be decoded lossily and then failed, or passed, on something else).
#[test]
fn a_config_that_is_not_utf8_gets_go_yamls_reader_error() {
    let err = config::parse_bytes(
        b"creation_rules:\n  - path_regex: \xc3:\n    age: a\n".to_vec(),
        Path::new("/cfg/.sops.yaml"),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "error loading config: Could not unmarshal config file: yaml: invalid trailing UTF-8 octet (in /cfg/.sops.yaml)"
    );
    // A BOM is read past, as go-yaml does.
    let conf = config::parse_bytes(
        b"\xef\xbb\xbfcreation_rules:\n  - age: a\n".to_vec(),
        Path::new("/cfg/.sops.yaml"),
    )
    .unwrap();
    assert_eq!(conf.creation_rules.map(|r| r.len()), Some(1));
}
