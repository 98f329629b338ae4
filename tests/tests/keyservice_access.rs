//! Who the key service answers, and what: only its own user (checked by the kernel's
//! account of the peer, on unix sockets and on loopback TCP), only data keys (never the
//! plaintext of any age message a client holds), only age recipients; its socket never in
//! a directory another user could swap it in, and removed on the way out only if it is
//! still the service's. Runs as root (CI does) and uses `setpriv` to act as `nobody`.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;

use keytap_e2e::{keytap_bin, KeyServiceProcess, Run, Workspace};

/// A workspace with `s.yaml` (`token: s3cret`) encrypted to its own key, opened up so that
/// `nobody` can read it.
fn shared_secrets() -> Workspace {
    let ws = Workspace::new();
    ws.write("s.yaml", ws.encrypt_plain("plain.yaml", "token: s3cret\n"));
    for p in [ws.dir.path(), &ws.path("home")] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    ws
}

/// Decrypts `file` through `uri` only (no identity of its own), as root or as `nobody`.
fn decrypt_through(ws: &Workspace, uri: &str, file: &str, as_nobody: bool) -> Run {
    let program = if as_nobody { "setpriv" } else { "env" };
    ws.run(program, |c| {
        if as_nobody {
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
        }
        c.arg(keytap_bin())
            .args(["decrypt", "--enable-local-keyservice=false"])
            .arg(format!("--keyservice={uri}"))
            .arg(file)
            .env_remove("SOPS_AGE_KEY_FILE");
    })
}

fn service_env(ws: &Workspace) -> [(&str, &str); 1] {
    [("SOPS_AGE_KEY_FILE", ws.keys.to_str().unwrap())]
}

#[test]
fn another_local_user_is_refused_on_unix_sockets_and_loopback_tcp() {
    let ws = shared_secrets();
    // A unix socket opened up by hand (the service makes it 0600): the kernel still says
    // who connects.
    let unix = KeyServiceProcess::start(&ws, &ws.path("ks/ks.sock"), &[], &service_env(&ws));
    std::fs::set_permissions(ws.path("ks"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&unix.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let theirs = decrypt_through(&ws, &unix.uri(), "s.yaml", true);
    assert_eq!(theirs.code, 128, "{}", theirs.stderr);
    assert!(!theirs.out().contains("s3cret"));
    let ours = decrypt_through(&ws, &unix.uri(), "s.yaml", false);
    assert_eq!(ours.out(), "token: s3cret\n", "{}", ours.stderr);
    let log = std::fs::read_to_string(&unix.log).unwrap();
    assert!(
        log.contains("refused a unix client running as uid 65534, not the service's user (uid 0)"),
        "{log}"
    );
    // --allow-remote: whoever can reach the socket is served, as by sops's service.
    let open = KeyServiceProcess::start(
        &ws,
        &ws.path("ks/open.sock"),
        &["--allow-remote"],
        &service_env(&ws),
    );
    std::fs::set_permissions(&open.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let theirs = decrypt_through(&ws, &open.uri(), "s.yaml", true);
    assert_eq!(theirs.out(), "token: s3cret\n", "{}", theirs.stderr);

    // Loopback TCP, sops's default network: anyone on the machine can connect.
    let mut tcp = ws
        .command(keytap_bin())
        .args([
            "--verbose",
            "keyservice",
            "--network",
            "tcp",
            "--address",
            "127.0.0.1:0",
        ])
        .env("SOPS_AGE_KEY_FILE", &ws.keys)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(tcp.stderr.take().unwrap()).lines();
    let uri = lines
        .by_ref()
        .find_map(|l| l.unwrap().split("listening on ").nth(1).map(String::from))
        .expect("the service says where it listens");
    let theirs = decrypt_through(&ws, &uri, "s.yaml", true);
    assert_eq!(theirs.code, 128, "{}", theirs.stderr);
    let ours = decrypt_through(&ws, &uri, "s.yaml", false);
    assert_eq!(ours.out(), "token: s3cret\n", "{}", ours.stderr);
    // The real sops, as the service's user, is served over TCP too.
    let sops = ws.run("sops", |c| {
        c.args(["decrypt", "--enable-local-keyservice=false"])
            .arg(format!("--keyservice={uri}"))
            .arg("s.yaml")
            .env_remove("SOPS_AGE_KEY_FILE")
            .env("SOPS_DISABLE_VERSION_CHECK", "1");
    });
    assert_eq!(sops.out(), "token: s3cret\n", "{}", sops.stderr);
    let _ = std::process::Command::new("kill")
        .arg(tcp.id().to_string())
        .status();
    let _ = tcp.wait();
    let log: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        log.iter()
            .any(|l| l.contains("refused a TCP client at 127.0.0.1:")
                && l.contains("running as uid 65534")),
        "{log:?}"
    );
}

/// Replaces the wrapped data key of `s.yaml`'s age recipient by `armored`.
fn with_age_message(ws: &Workspace, armored: &str) -> String {
    let text = String::from_utf8(ws.read("s.yaml")).unwrap();
    let start = text.find("-----BEGIN AGE ENCRYPTED FILE-----").unwrap();
    let end = text.find("-----END AGE ENCRYPTED FILE-----").unwrap()
        + "-----END AGE ENCRYPTED FILE-----".len();
    let indent = "\n            ";
    let armored = armored.trim_end().replace('\n', indent);
    format!("{}{armored}{}", &text[..start], &text[end..])
}

#[test]
fn only_data_keys_and_age_recipients_are_answered() {
    let ws = shared_secrets();
    let service = KeyServiceProcess::start(&ws, &ws.path("ks.sock"), &[], &service_env(&ws));
    // Any other age message to the service's key (a diary, a backup) stays closed, even to
    // the service's own user.
    let diary = "TOP SECRET diary entry, not a data key\n".repeat(100);
    let armored = ws.run_with_stdin("age", &["-a", "-r", &ws.recipient], diary.as_bytes());
    assert_eq!(armored.code, 0, "{}", armored.stderr);
    ws.write("diary.yaml", with_age_message(&ws, &armored.out()));
    let run = decrypt_through(&ws, &service.uri(), "diary.yaml", false);
    assert_eq!(run.code, 128, "{}", run.stderr);
    run.assert_stderr_has("the message is not a data key");
    assert!(!run.stderr.contains("diary entry"));
    // The recipient reaches logs and SOPS_AGE_KEY_CMD: something else is refused, and
    // its escape sequences never reach the terminal.
    let text = String::from_utf8(ws.read("s.yaml")).unwrap();
    let forged = text.replace(&ws.recipient, "\"age1fake\\e[2J\\nforged: line\"");
    assert_ne!(forged, text);
    ws.write("forged.yaml", forged);
    let run = decrypt_through(&ws, &service.uri(), "forged.yaml", false);
    assert_eq!(run.code, 128, "{}", run.stderr);
    run.assert_stderr_has("code = InvalidArgument desc = not an age");
    assert!(!run.stderr.contains('\u{1b}'), "{}", run.stderr);
    let log = std::fs::read_to_string(&service.log).unwrap();
    assert!(log.contains("refused: not a data key"), "{log}");
    assert!(
        !log.contains('\u{1b}') && !log.contains("diary entry"),
        "{log}"
    );
}

#[test]
fn the_socket_is_never_made_where_another_user_could_swap_it() {
    let ws = Workspace::new();
    let keytap = |dir: &Path| {
        ws.run("timeout", |c| {
            c.arg("5")
                .arg(keytap_bin())
                .args(["keyservice", "--network", "unix", "--address"])
                .arg(dir.join("ks.sock"));
        })
    };
    let dir = |name: &str, mode: u32, owner: u32| {
        let path = ws.path(name);
        std::fs::create_dir(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        std::os::unix::fs::chown(&path, Some(owner), Some(owner)).unwrap();
        path
    };
    let run = keytap(&dir("nobodys", 0o755, 65534));
    assert_eq!(run.code, 1, "{}", run.stderr);
    run.assert_stderr_has("belongs to uid 65534: another user could replace the socket there");
    let run = keytap(&dir("open", 0o777, 0));
    assert_eq!(run.code, 1, "{}", run.stderr);
    run.assert_stderr_has("is writable by others (mode 777)");
    // Writable by a shared group is writable by others; by the user's own private group
    // (root's here: group `root`, no other members), it is not.
    let shared = dir("shared", 0o770, 0);
    std::os::unix::fs::chown(&shared, None, Some(100)).unwrap();
    let run = keytap(&shared);
    assert_eq!(run.code, 1, "{}", run.stderr);
    run.assert_stderr_has("is writable by others (mode 770)");
    let private = dir("private-group", 0o770, 0);
    let mut service = KeyServiceProcess::start(&ws, &private.join("ks.sock"), &[], &[]);
    service.stop();
    // A sticky directory (like /tmp) is fine: no one removes another's file there.
    let sticky = dir("sticky", 0o1777, 0);
    let mut service = KeyServiceProcess::start(&ws, &sticky.join("ks.sock"), &[], &[]);
    // Whatever took the socket's name since is not the service's to remove.
    std::fs::remove_file(&service.socket).unwrap();
    std::fs::write(&service.socket, "someone else's file").unwrap();
    service.stop();
    assert_eq!(
        std::fs::read_to_string(&service.socket).unwrap(),
        "someone else's file"
    );
}

/// A key service another local user runs where the user's was expected (a socket path in
/// a shared directory, a loopback port taken first), even one that would serve anyone:
/// the client asks the kernel who serves it and sends it nothing. (sops sends it the data
/// key of every file it encrypts.)
#[test]
fn a_service_another_user_runs_is_sent_no_key() {
    let ws = shared_secrets();
    let shared = ws.path("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let nobodys_service = |network: &str, address: &str| {
        let mut child = std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(keytap_bin())
            .args(["--verbose", "keyservice", "--allow-remote", "--network"])
            .args([network, "--address", address])
            .env("HOME", ws.path("shared"))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stderr.take().unwrap()).lines();
        (child, lines)
    };
    let encrypt_through = |uri: &str| {
        ws.run(keytap_bin().to_str().unwrap(), |c| {
            c.args(["encrypt", "--enable-local-keyservice=false"])
                .arg(format!("--keyservice={uri}"))
                .args(["--age", &ws.recipient, "plain.yaml"]);
        })
    };
    let socket = shared.join("ks.sock");
    let (mut unix, unix_log) = nobodys_service("unix", socket.to_str().unwrap());
    let (mut tcp, mut tcp_log) = nobodys_service("tcp", "127.0.0.1:0");
    let tcp_uri = tcp_log
        .by_ref()
        .find_map(|l| l.unwrap().split("listening on ").nth(1).map(String::from))
        .expect("the service says where it listens");
    // And on this machine's own network address (another local user can listen there too).
    let lan_address = std::process::Command::new("ip")
        .args(["-4", "-o", "addr", "show", "scope", "global"])
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .skip_while(|w| *w != "inet")
                .nth(1)
                .and_then(|a| a.split('/').next().map(String::from))
        });
    let mut lan = lan_address.map(|ip| nobodys_service("tcp", &format!("{ip}:0")));
    let lan_uri = lan.as_mut().map(|(_, log)| {
        log.by_ref()
            .find_map(|l| l.unwrap().split("listening on ").nth(1).map(String::from))
            .expect("the service says where it listens")
    });
    for uri in [format!("unix://{}", socket.display()), tcp_uri]
        .into_iter()
        .chain(lan_uri)
    {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !socket.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let r = encrypt_through(&uri);
        assert_ne!(r.code, 0, "{}", r.out());
        r.assert_stderr_has(&format!(
            "refusing the key service at {uri}: it is served by uid 65534, not by you (uid 0) or root; no key was sent to it"
        ));
        assert!(!r.out().contains("ENC["), "{}", r.out());
    }
    for child in [&mut unix, &mut tcp]
        .into_iter()
        .chain(lan.as_mut().map(|(child, _)| child))
    {
        let _ = std::process::Command::new("kill")
            .arg(child.id().to_string())
            .status();
        let _ = child.wait();
    }
    // Neither service was asked anything.
    let log: Vec<String> = unix_log.chain(tcp_log).map_while(Result::ok).collect();
    assert!(
        !log.iter()
            .any(|l| l.contains("encrypt") || l.contains("request")),
        "{log:?}"
    );
}
