use super::decode::*;
use super::*;

#[test]
fn plain_scalar_resolution_follows_go_yaml_v3() {
    let cases: &[(&str, Resolved)] = &[
        ("", Resolved::Null),
        ("~", Resolved::Null),
        ("null", Resolved::Null),
        ("NULL", Resolved::Null),
        ("true", Resolved::Bool(true)),
        ("False", Resolved::Bool(false)),
        ("yes", Resolved::Str("yes".into())),
        ("on", Resolved::Str("on".into())),
        ("2", Resolved::Int(2)),
        ("+2", Resolved::Int(2)),
        ("-2", Resolved::Int(-2)),
        ("0x1F", Resolved::Int(31)),
        ("0o17", Resolved::Int(15)),
        ("017", Resolved::Int(15)),
        ("0b101", Resolved::Int(5)),
        ("1_000", Resolved::Int(1000)),
        ("18446744073709551615", Resolved::Uint(u64::MAX)),
        ("08", Resolved::Float(8.0)),
        ("2.5", Resolved::Float(2.5)),
        ("1e3", Resolved::Float(1000.0)),
        (".5", Resolved::Float(0.5)),
        ("99999999999999999999", Resolved::Float(1e20)),
        (".inf", Resolved::Float(f64::INFINITY)),
        ("2001-12-14", Resolved::Timestamp("2001-12-14".into())),
        (
            "2001-12-14T21:59:43.10-05:00",
            Resolved::Timestamp("2001-12-14T21:59:43.10-05:00".into()),
        ),
        ("1.2.3", Resolved::Str("1.2.3".into())),
        ("age1abc", Resolved::Str("age1abc".into())),
        ("-", Resolved::Str("-".into())),
        ("<<", Resolved::Merge),
    ];
    for (input, expected) in cases {
        assert_eq!(&resolve_plain(input), expected, "{input:?}");
    }
    assert!(matches!(resolve_plain(".nan"), Resolved::Float(f) if f.is_nan()));
}

#[test]
fn clean_path_is_go_path_clean() {
    let cases = [
        (".", "."),
        ("./.sops.yaml", ".sops.yaml"),
        ("../..", "../.."),
        ("./../x/..", ".."),
        ("/a/b/../c", "/a/c"),
        ("/..", "/"),
        ("/../..", "/"),
        ("a//b/./c/", "a/b/c"),
        ("a/..", "."),
        ("a/../..", ".."),
    ];
    for (input, expected) in cases {
        assert_eq!(
            clean_path(Path::new(input)),
            PathBuf::from(expected),
            "{input}"
        );
    }
}

fn rules(text: &str) -> Vec<CreationRule> {
    parse(text, Path::new("t.yaml"))
        .unwrap()
        .creation_rules
        .unwrap()
}

#[test]
fn anchors_aliases_and_merge_keys() {
    let r = rules(
        "x: &k age1one\nbase: &b\n  age: age1base\n  mac_only_encrypted: true\n  path_regex: base\ncreation_rules:\n  - <<: *b\n    path_regex: own\n  - age: *k\n  - <<: [{age: first}, {age: second, shamir_threshold: 3}]\n",
    );
    assert_eq!(r[0].path_regex, "own");
    assert!(r[0].mac_only_encrypted);
    assert_eq!(r[0].key_groups[0].age, vec!["age1base"]);
    assert_eq!(r[1].key_groups[0].age, vec!["age1one"]);
    assert_eq!(r[2].key_groups[0].age, vec!["first"]);
    assert_eq!(r[2].shamir_threshold, 3);
}

#[test]
fn null_items_are_dropped_like_go_yaml() {
    let r = rules("creation_rules:\n  - ~\n  - key_groups:\n    - ~\n    - age: [~, a]\n");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].key_groups.len(), 1);
    assert_eq!(r[0].key_groups[0].age, vec!["a"]);
    // In the direct (interface{}) form a null item is an error when selected.
    let r = rules("creation_rules:\n  - age: [~, a]\n");
    assert_eq!(
        r[0].error(),
        Some("invalid age key configuration: invalid age key configuration: expected string in list, got <nil>")
    );
}

#[test]
fn explicit_tags() {
    let r = rules("creation_rules:\n  - path_regex: !!str 12\n    shamir_threshold: !!int 3\n");
    assert_eq!(r[0].path_regex, "12");
    assert_eq!(r[0].shamir_threshold, 3);
    let e = parse(
        "creation_rules:\n  - shamir_threshold: !!int abc\n",
        Path::new("t"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("cannot decode !!str `abc` as a !!int"), "{e}");
    let e = parse(
        "creation_rules:\n  - shamir_threshold: !!str 3\n",
        Path::new("t"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("line 2: cannot unmarshal !!str `3` into int"),
        "{e}"
    );
}

#[test]
fn only_the_first_document_is_read() {
    let c = parse(
        "creation_rules:\n  - age: a\n---\n[broken\n",
        Path::new("t"),
    )
    .unwrap();
    assert_eq!(c.creation_rules.unwrap()[0].key_groups[0].age, vec!["a"]);
}

#[test]
fn crypt_rule_resolution() {
    use CryptRule::*;
    let regex = EncryptedRegex("^a".into());
    assert_eq!(
        CryptRule::resolve(&[], None, false),
        Ok(Some(CryptRule::default()))
    );
    assert_eq!(
        CryptRule::resolve(&[], Some(&regex), false),
        Ok(Some(regex.clone()))
    );
    // Same field on the command line replaces the rule's value.
    assert_eq!(
        CryptRule::resolve(&[EncryptedRegex("^b".into())], Some(&regex), false),
        Ok(Some(EncryptedRegex("^b".into())))
    );
    // A different field conflicts (sops exits 8).
    let err =
        CryptRule::resolve(&[UnencryptedSuffix("_u".into())], Some(&regex), false).unwrap_err();
    assert_eq!(err.exit_code(), 8);
    assert!(err
        .to_string()
        .starts_with("Error: cannot use more than one of"));
    assert_eq!(
        CryptRule::resolve(
            &[UnencryptedSuffix("_u".into()), EncryptedSuffix("_e".into())],
            None,
            false
        ),
        Err(CryptRuleConflict)
    );
    // Empty values are unset.
    assert_eq!(
        CryptRule::resolve(&[UnencryptedSuffix(String::new())], Some(&regex), false),
        Ok(Some(regex.clone()))
    );
    // Binary store: everything dropped, no default.
    assert_eq!(
        CryptRule::resolve(&[UnencryptedSuffix("_u".into())], Some(&regex), true),
        Ok(None)
    );
    assert_eq!(CryptRule::default().field_name(), "unencrypted_suffix");
    assert_eq!(CryptRule::default().value(), "_unencrypted");
    assert_eq!(DEFAULT_UNENCRYPTED_SUFFIX, "_unencrypted");
}

#[test]
fn key_string_helpers() {
    assert_eq!(split_age_recipients(""), Vec::<String>::new());
    assert_eq!(split_age_recipients(" a , b,"), vec!["a", "b", ""]);
    assert_eq!(split_pgp_fingerprints("AB CD,EF"), vec!["ABCD", "EF"]);
    let kms = split_kms_arns(
        "arn:aws:kms:us-east-1:1:key/k+arn:aws:iam::1:role/r, arn:aws:kms:x",
        None,
        "prof",
    );
    assert_eq!(kms[0].arn, "arn:aws:kms:us-east-1:1:key/k");
    assert_eq!(kms[0].role, "arn:aws:iam::1:role/r");
    assert_eq!(kms[0].aws_profile, "prof");
    assert_eq!(kms[1].arn, "arn:aws:kms:x");
    assert_eq!(kms[1].role, "");
    let az =
        split_azure_keyvault("https://v.vault.azure.net/keys/k/123, https://v/keys/k2").unwrap();
    assert_eq!(
        az[0],
        AzureKeySpec {
            vault_url: "https://v.vault.azure.net".into(),
            key: "k".into(),
            version: "123".into()
        }
    );
    assert_eq!(az[1].version, "");
    assert_eq!(
        split_azure_keyvault("http://x").unwrap_err(),
        "could not parse \"http://x\" into a valid Azure Key Vault MasterKey []"
    );
    assert_eq!(split_hc_vault_uris("a,,b"), vec!["a", "b"]);
}

/// HuaweiCloud KMS keys (sops 3.12's `hckms`, in the 3.11 binary too) are read in both
/// places sops reads them, so a rule naming one is never taken for a rule without it.
#[test]
fn hckms_keys_are_read_in_rules_and_key_groups() {
    let r = rules(
        "creation_rules:\n  - age: age1a\n    hckms: [tr-west-1:k1, ' tr-west-1:k2']\n  - key_groups:\n      - hckms:\n          - key_id: tr-west-1:k3\n        age: [age1b]\n",
    );
    assert_eq!(
        r[0].key_groups[0].hckms,
        vec!["tr-west-1:k1", "tr-west-1:k2"]
    );
    assert_eq!(r[0].key_groups[0].len(), 3);
    assert_eq!(r[1].key_groups[0].hckms, vec!["tr-west-1:k3"]);
    assert!(!r[1].key_groups[0].is_empty());
}

#[test]
fn syntax_errors_carry_go_yaml_words_and_lines() {
    // Each checked against sops 3.11 ("Could not unmarshal config file: " + these).
    for (text, message) in [
        (
            "creation_rules:\n  - age: a\n   b: c\n",
            "yaml: line 1: did not find expected '-' indicator",
        ),
        (
            "creation_rules:\n  - path_regex: x\n    age: [a, b\n",
            "yaml: line 2: did not find expected ',' or ']'",
        ),
        (
            "creation_rules:\n- age: a\n  key_groups:\n  - age:\n    - x\n   - y\n",
            "yaml: line 1: did not find expected key",
        ),
    ] {
        let err = parse(text, Path::new("t.yaml")).unwrap_err().to_string();
        assert_eq!(
            err,
            format!("error loading config: Could not unmarshal config file: {message} (in t.yaml)")
        );
    }
}
