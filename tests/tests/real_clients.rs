//! keytap's plugins used by the other real age clients: Debian's `age` and `rage`.

use keytap_e2e::{path_with_plugins, testkit_key, Workspace};

#[test]
fn age_and_rage_use_keytaps_plugins() {
    let ws = Workspace::new();
    // testkit: a plugin recipient and identity.
    let (recipient, testkit_identity) = testkit_key(None);
    let identity = ws.write("testkit.txt", testkit_identity);
    // passphrase: a plain recipient, a plugin identity.
    let pass = ws.private_file("pass.txt", "pw");
    let (pp_recipient, pp_identity) = ws.passphrase_key(
        &ws.path("k.age"),
        &["--passphrase-file", pass.to_str().unwrap()],
    );
    let pp_identity = ws.write("pp.txt", pp_identity);
    ws.write("msg.txt", "hello from keytap\n");
    for client in ["age", "rage"] {
        for (r, id) in [(&recipient, &identity), (&pp_recipient, &pp_identity)] {
            let enc = ws.run(client, |c| {
                c.args(["-r", r, "-o", "msg.age", "msg.txt"])
                    .env("PATH", path_with_plugins());
            });
            assert_eq!(enc.code, 0, "{client} encrypt to {r}: {}", enc.stderr);
            let dec = ws.run(client, |c| {
                c.args(["-d", "-i", id.to_str().unwrap(), "msg.age"])
                    .env("PATH", path_with_plugins());
            });
            assert_eq!(
                dec.code,
                0,
                "{client} decrypt with {}: {}",
                id.display(),
                dec.stderr
            );
            assert_eq!(dec.out(), "hello from keytap\n");
        }
    }
}
