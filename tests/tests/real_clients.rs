//! keytap's plugins used by the other real age clients: Debian's `age` and `rage`.

use keytap_e2e::{bin_dir, path_with_plugins, Workspace};

#[test]
fn age_and_rage_use_keytaps_plugins() {
    let ws = Workspace::new();
    // testkit: a plugin recipient and identity.
    let out = std::process::Command::new(bin_dir().join("age-plugin-testkit"))
        .arg("--generate")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# recipient: "))
        .unwrap()
        .to_string();
    let identity = ws.write(
        "testkit.txt",
        text.lines().find(|l| l.starts_with("AGE-PLUGIN-")).unwrap(),
    );
    // passphrase: a plain recipient, a plugin identity.
    let pass = ws.write("pass.txt", "pw");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let gen = ws.run(
        bin_dir().join("age-plugin-passphrase").to_str().unwrap(),
        |c| {
            c.args([
                "--generate",
                "--work-factor",
                "10",
                "-o",
                ws.path("k.age").to_str().unwrap(),
                "--passphrase-file",
                pass.to_str().unwrap(),
            ]);
        },
    );
    assert_eq!(gen.code, 0, "{}", gen.stderr);
    let pp_recipient = gen
        .out()
        .lines()
        .find_map(|l| l.strip_prefix("# recipient: "))
        .unwrap()
        .to_string();
    let pp_identity = ws.write(
        "pp.txt",
        gen.out()
            .lines()
            .find(|l| l.starts_with("AGE-PLUGIN-"))
            .unwrap(),
    );
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
