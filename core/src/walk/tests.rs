use super::*;

fn s(v: &str) -> Value {
    Value::Str(v.into())
}

fn sample() -> Vec<Branch> {
    vec![vec![
        Item::Comment(" top".into()),
        Item::Entry("a".into(), s("1")),
        Item::Entry("b_unencrypted".into(), s("plain")),
        Item::Entry(
            "c".into(),
            Value::Map(vec![Item::Entry(
                "d".into(),
                Value::List(vec![s("x"), Value::Comment(" c".into()), Value::Int(3)]),
            )]),
        ),
        Item::Entry("n".into(), Value::Null),
    ]]
}

/// A document large enough to be walked in two parts: groups of values of each kind,
/// comments above items (some selecting encryption under a comment rule) and a list.
fn large() -> Vec<Branch> {
    let mut doc = Vec::new();
    for g in 0..80 {
        if g % 7 == 3 {
            doc.push(Item::Comment(format!(" sops:enc group {g}")));
        }
        let mut group = Vec::new();
        for i in 0..60 {
            if i % 13 == 0 {
                group.push(Item::Comment(format!(" note {i}")));
            }
            let value = match i % 4 {
                0 => Value::Int(i),
                1 => Value::List(vec![s("l"), Value::Comment(" in list".into()), s("m")]),
                _ => s(&format!("value {g}-{i} {}", "x".repeat(2 * i as usize))),
            };
            group.push(Item::Entry(format!("k{i}"), value));
        }
        doc.push(Item::Entry(format!("group_{g}"), Value::Map(group)));
    }
    vec![doc]
}

#[test]
fn a_large_document_is_split_after_an_entry() {
    let docs = large();
    let cut = split_single(&docs).expect("large enough to split");
    assert!(matches!(docs[0][cut - 1], Item::Entry(..)));
    assert!(
        cut > docs[0].len() / 3 && cut < docs[0].len() * 2 / 3,
        "{cut}"
    );
    assert_eq!(split_single(&sample()), None);
    // Mostly under one key: not worth a thread.
    let lopsided = vec![vec![
        Item::Entry("small".into(), s("v")),
        docs[0][1].clone(),
        Item::Entry("all".into(), Value::Map(docs[0].clone())),
    ]];
    assert_eq!(split_single(&lopsided), None);
    // Two documents are walked in order, on one thread.
    let two = vec![docs[0].clone(), docs[0].clone()];
    assert_eq!(split_single(&two), None);
}

#[test]
fn walking_in_two_parts_is_walking_in_order() {
    let rules = [
        CryptRule::default(),
        CryptRule::EncryptedRegex("^k1".into()),
        CryptRule::EncryptedCommentRegex("sops:enc".into()),
        CryptRule::UnencryptedCommentRegex("note 2".into()),
    ];
    for rule in rules {
        for mac_only_encrypted in [false, true] {
            let plain = large();
            assert!(split_single(&plain).is_some());
            let expected = plaintext_mac(&plain, &rule, mac_only_encrypted).unwrap();
            let mut docs = plain.clone();
            let c = ValueCipher::new(&[7; 32]);
            assert!(c.sealing_twin().is_some());
            let mac = encrypt_tree(&mut docs, &c, &rule, mac_only_encrypted).unwrap();
            assert_eq!(mac, expected, "{rule:?}");
            let encrypted = docs.clone();
            // Read only: in two parts. Remembering IVs: in order.
            let mut reader = ValueCipher::read_only(&[7; 32]);
            assert!(reader.reading_twin().is_some());
            let mac = decrypt_tree(&mut docs, &mut reader, &rule, mac_only_encrypted, false);
            assert_eq!(mac.unwrap(), expected, "{rule:?}");
            assert_eq!(docs, plain);
            let mut docs = encrypted;
            let mut editor = ValueCipher::new(&[7; 32]);
            assert!(editor.reading_twin().is_none());
            let mac = decrypt_tree(&mut docs, &mut editor, &rule, mac_only_encrypted, false);
            assert_eq!(mac.unwrap(), expected, "{rule:?}");
            assert_eq!(docs, plain);
        }
    }
}

#[test]
fn the_first_bad_value_in_walk_order_is_reported() {
    let mut docs = large();
    let c = ValueCipher::new(&[7; 32]);
    encrypt_tree(&mut docs, &c, &CryptRule::default(), false).unwrap();
    let cut = split_single(&docs).unwrap();
    let tamper = |docs: &mut Vec<Branch>, at: usize| {
        let Item::Entry(_, Value::Map(group)) = &mut docs[0][at] else {
            panic!("a group at {at}")
        };
        let Item::Entry(_, Value::Str(enc)) = &mut group[3] else {
            panic!("a string")
        };
        *enc = enc.replacen("ENC[AES256_GCM,data:", "ENC[AES256_GCM,data:AAAA", 1);
    };
    let group_at = |docs: &Vec<Branch>, at: usize| match &docs[0][at] {
        Item::Entry(k, _) => k.clone(),
        _ => unreachable!(),
    };
    let last = docs[0].len() - 1;
    let mut later_only = docs.clone();
    tamper(&mut later_only, last);
    let mut both = later_only.clone();
    tamper(&mut both, 0);
    for (mut docs, at) in [(later_only, last), (both, 0)] {
        assert!(at < cut || at == last);
        let expected = group_at(&docs, at);
        let mut reader = ValueCipher::read_only(&[7; 32]);
        let err = decrypt_tree(&mut docs, &mut reader, &CryptRule::default(), false, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("[{expected:?}]")), "{err}");
    }
}

#[test]
fn round_trip_keeps_data_and_mac() {
    let mut docs = sample();
    let c = ValueCipher::new(&[1; 32]);
    let mac = encrypt_tree(&mut docs, &c, &CryptRule::default(), false).unwrap();
    assert_eq!(
        mac,
        plaintext_mac(&sample(), &CryptRule::default(), false).unwrap()
    );
    // Unencrypted suffix stays plain, others are envelopes.
    let top = &docs[0];
    assert!(matches!(&top[0], Item::Comment(c) if c.starts_with("ENC[")));
    assert_eq!(top[2], Item::Entry("b_unencrypted".into(), s("plain")));
    let mut dc = ValueCipher::new(&[1; 32]);
    let mac2 = decrypt_tree(&mut docs, &mut dc, &CryptRule::default(), false, false).unwrap();
    assert_eq!(mac, mac2);
    assert_eq!(docs, sample());
}

#[test]
fn aad_binds_values_to_their_key() {
    let mut docs = vec![vec![
        Item::Entry("a".into(), s("1")),
        Item::Entry("b".into(), s("2")),
    ]];
    let c = ValueCipher::new(&[1; 32]);
    encrypt_tree(&mut docs, &c, &CryptRule::default(), false).unwrap();
    // Swap the two ciphertexts: decryption must fail.
    let (Item::Entry(_, va), Item::Entry(_, vb)) = (docs[0][0].clone(), docs[0][1].clone()) else {
        panic!()
    };
    docs[0][0] = Item::Entry("a".into(), vb);
    docs[0][1] = Item::Entry("b".into(), va);
    let mut dc = ValueCipher::new(&[1; 32]);
    assert!(matches!(
        decrypt_tree(&mut docs, &mut dc, &CryptRule::default(), false, false),
        Err(WalkError::Decrypt { .. })
    ));
}

#[test]
fn key_path_gives_sops_aad_and_each_key() {
    let mut path = KeyPath::new();
    assert_eq!((path.aad(), path.display()), (":", "the top level".into()));
    path.push("a:b");
    path.push("");
    path.push("c");
    assert_eq!(path.aad(), ["a:b", "", "c"].join(":") + ":");
    assert_eq!(path.keys().collect::<Vec<_>>(), ["a:b", "", "c"]);
    assert_eq!(path.display(), r#"["a:b"][""]["c"]"#);
    path.pop();
    path.pop();
    assert_eq!(path.aad(), "a:b:");
    assert_eq!(path.keys().collect::<Vec<_>>(), ["a:b"]);
    path.pop();
    assert_eq!(path.aad(), ":");
    assert_eq!(path.keys().count(), 0);
}

#[test]
fn rules_select_the_right_leaves() {
    let path = |keys: &[&str]| {
        let mut path = KeyPath::new();
        keys.iter().for_each(|k| path.push(k));
        path
    };
    let m = Matcher::new(&CryptRule::EncryptedRegex("^pass".into()), false);
    assert!(m.should_encrypt(&path(&["db", "password"]), &[], false));
    assert!(!m.should_encrypt(&path(&["db", "user"]), &[], false));
    let m = Matcher::new(&CryptRule::EncryptedSuffix("_secret".into()), false);
    assert!(m.should_encrypt(&path(&["x_secret", "y"]), &[], false));
    assert!(!m.should_encrypt(&path(&["y"]), &[], false));
    let m = Matcher::new(&CryptRule::EncryptedCommentRegex("sops:enc".into()), false);
    let comments = vec![vec![" sops:enc".to_string()]];
    assert!(m.should_encrypt(&path(&["k"]), &comments, false));
    assert!(
        !m.should_encrypt(&path(&[]), &comments, true),
        "the marker comment itself stays plain"
    );
    let m = Matcher::new(&CryptRule::UnencryptedCommentRegex("plain".into()), false);
    assert!(!m.should_encrypt(&path(&["k"]), &[vec![" plain".into()]], false));
    // As sops: a regex Go cannot compile matches nothing.
    let m = Matcher::new(&CryptRule::EncryptedRegex("(".into()), false);
    assert!(!m.should_encrypt(&path(&["("]), &[], false));
    let m = Matcher::new(&CryptRule::UnencryptedRegex("(".into()), false);
    assert!(m.should_encrypt(&path(&["("]), &[], false));
}

#[test]
fn mac_only_encrypted_differs_and_skips_plain_values() {
    let plain = sample();
    let full = plaintext_mac(&plain, &CryptRule::default(), false).unwrap();
    let only = plaintext_mac(&plain, &CryptRule::default(), true).unwrap();
    assert_ne!(full, only);
    let mut changed = sample();
    changed[0][2] = Item::Entry("b_unencrypted".into(), s("other"));
    assert_eq!(
        only,
        plaintext_mac(&changed, &CryptRule::default(), true).unwrap()
    );
    assert_ne!(
        full,
        plaintext_mac(&changed, &CryptRule::default(), false).unwrap()
    );
}

#[test]
fn a_rule_regex_go_refuses_is_refused_in_go_s_words() {
    let err = |rule: CryptRule| match rule_regex(&rule) {
        Some(Err(e)) => e.to_string(),
        _ => panic!("{rule:?} compiled"),
    };
    // The `regex` crate takes `a**`; Go (and so sops) does not.
    assert_eq!(
        err(CryptRule::EncryptedRegex("a**".into())),
        "invalid encrypted_regex \"a**\": error parsing regexp: invalid nested repetition operator: `**`"
    );
    assert_eq!(
        err(CryptRule::UnencryptedCommentRegex("(a".into())),
        "invalid unencrypted_comment_regex \"(a\": error parsing regexp: missing closing ): `(a`"
    );
    assert!(matches!(
        rule_regex(&CryptRule::EncryptedRegex("^a{,3}$".into())),
        Some(Ok(_))
    ));
    // A new file refuses only the regexes that would leave it in plaintext.
    assert!(check_new_file_rule(&CryptRule::EncryptedRegex("a**".into())).is_err());
    assert!(check_new_file_rule(&CryptRule::EncryptedCommentRegex("(".into())).is_err());
    assert!(check_new_file_rule(&CryptRule::UnencryptedRegex("(".into())).is_ok());
}
