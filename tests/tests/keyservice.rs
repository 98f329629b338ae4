//! The key service (issue #15): `keytap keyservice` serving the real sops and keytap with
//! a PIN-protected plugin identity and no terminal, one PIN for many commands, forgotten on
//! lock and timeout; keytap as a client of the real `sops keyservice`; sops's flags and
//! environment; owner-only sockets; socket activation; many files in one plugin session.

mod install_common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use keytap_e2e::{
    keytap_bin, lines_of, path_with_plugins, testkit_key, KeyServiceProcess, Run, Workspace,
};

/// Writes `s.yaml` (`token: s3cret`) encrypted by keytap to `recipient` (plugins on PATH).
fn encrypt_token(ws: &Workspace, recipient: &str) -> PathBuf {
    ws.write("plain.yaml", "token: s3cret\n");
    let enc = ws
        .run(keytap_bin().to_str().unwrap(), |c| {
            c.args(["encrypt", "--age", recipient, "plain.yaml"])
                .env("PATH", path_with_plugins());
        })
        .ok();
    ws.write("s.yaml", enc)
}

/// A workspace whose `s.yaml` is encrypted to a PIN-protected test-plugin key, and that key.
fn pin_protected() -> (Workspace, String) {
    let ws = Workspace::new();
    let (recipient, identity) = testkit_key(Some("prompt-pin"));
    encrypt_token(&ws, &recipient);
    (ws, identity)
}

/// A client with no identity of its own and no terminal (setsid), through `uri` only.
fn client(ws: &Workspace, program: &str, args: &[&str], uri: &str) -> Run {
    ws.run("setsid", |c| {
        c.arg("-w")
            .arg(program)
            .args(args)
            .arg(format!("--keyservice={uri}"))
            .arg("--enable-local-keyservice=false")
            .arg("s.yaml")
            .env_remove("SOPS_AGE_KEY_FILE")
            .env("SOPS_DISABLE_VERSION_CHECK", "1");
    })
}

/// [`pin_protected`] with a service at `socket` (in the workspace) holding its identity,
/// the PIN from a logging askpass: (workspace, service, askpass log).
fn pin_service(socket: &str, args: &[&str]) -> (Workspace, KeyServiceProcess, PathBuf) {
    let (ws, identity) = pin_protected();
    let (askpass, asked) = ws.askpass("askpass", "123456");
    let service = KeyServiceProcess::start(
        &ws,
        &ws.path(socket),
        args,
        &service_env(&identity, &askpass),
    );
    (ws, service, asked)
}

fn service_env<'a>(identity: &'a str, askpass: &'a Path) -> [(&'a str, &'a str); 2] {
    [
        ("SOPS_AGE_KEY", identity),
        ("KEYTAP_ASKPASS", askpass.to_str().unwrap()),
    ]
}

#[test]
fn ten_commands_from_sops_and_keytap_cost_one_pin_until_locked() {
    let (ws, service, asked) = pin_service("run/keytap/ks.sock", &[]);
    let keytap = keytap_bin();
    for i in 0..10 {
        let program = if i % 2 == 0 {
            "sops"
        } else {
            keytap.to_str().unwrap()
        };
        let run = client(&ws, program, &["decrypt"], &service.uri());
        assert_eq!(run.code, 0, "{program}: {}", run.stderr);
        assert_eq!(run.out(), "token: s3cret\n");
    }
    assert_eq!(lines_of(&asked).len(), 1, "one PIN prompt for ten commands");
    assert!(lines_of(&asked)[0].contains("Enter PIN for testkit"));
    // --lock forgets: the next command asks again.
    let lock = ws.keytap([
        "keyservice",
        "--lock",
        "--network",
        "unix",
        "--address",
        service.socket.to_str().unwrap(),
    ]);
    assert_eq!(lock.code, 0, "{}", lock.stderr);
    lock.assert_stderr_has("forgot 1 cached secret");
    assert_eq!(client(&ws, "sops", &["decrypt"], &service.uri()).code, 0);
    assert_eq!(lines_of(&asked).len(), 2);
    // SIGHUP forgets too.
    std::process::Command::new("pkill")
        .args(["-HUP", "-f", service.socket.to_str().unwrap()])
        .status()
        .unwrap();
    let log = service.log.clone();
    let start = std::time::Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap()
        .contains("forgot 1 cached")
    {
        assert!(start.elapsed().as_secs() < 10, "SIGHUP did not lock");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(client(&ws, "sops", &["decrypt"], &service.uri()).code, 0);
    assert_eq!(lines_of(&asked).len(), 3);
    // Every request is logged with its recipient and result, never key material.
    let text = std::fs::read_to_string(&service.log).unwrap();
    assert!(
        text.contains("decrypt for age key age1testkit") && text.contains(": ok"),
        "{text}"
    );
    assert!(!text.contains("123456") && !text.contains("s3cret"));
}

#[test]
fn cached_pins_expire_and_zero_means_never_cached() {
    let (ws, identity) = pin_protected();
    let (askpass, asked) = ws.askpass("askpass", "123456");
    let start = |socket: &str, ttl: &str| {
        KeyServiceProcess::start(
            &ws,
            &ws.path(socket),
            &["--cache-ttl", ttl],
            &service_env(&identity, &askpass),
        )
    };
    let service = start("run/ks.sock", "1");
    assert_eq!(client(&ws, "sops", &["decrypt"], &service.uri()).code, 0);
    assert_eq!(client(&ws, "sops", &["decrypt"], &service.uri()).code, 0);
    assert_eq!(lines_of(&asked).len(), 1);
    // Past the idle time (the test waits for the clock, not for a process).
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(client(&ws, "sops", &["decrypt"], &service.uri()).code, 0);
    assert_eq!(lines_of(&asked).len(), 2, "expired after 1 s unused");
    drop(service);
    let never = start("run/never.sock", "0");
    for _ in 0..3 {
        assert_eq!(client(&ws, "sops", &["decrypt"], &never.uri()).code, 0);
    }
    assert_eq!(lines_of(&asked).len(), 5, "--cache-ttl 0 asks every time");
}

#[test]
fn a_wrong_cached_pin_is_forgotten_after_one_failure() {
    let (ws, identity) = pin_protected();
    // Answers the right PIN first, then a wrong one would be answered if asked again.
    let asked = ws.path("asked.log");
    let askpass = ws.script(
        "askpass",
        &format!(
            "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{log}'\nif [ $(wc -l < '{log}') -eq 1 ]; then echo 111111; else echo 123456; fi\n",
            log = asked.display()
        ),
    );
    let service = KeyServiceProcess::start(
        &ws,
        &ws.path("run/ks.sock"),
        &[],
        &service_env(&identity, &askpass),
    );
    // The first answer is wrong: the request fails and nothing is kept.
    assert_ne!(client(&ws, "sops", &["decrypt"], &service.uri()).code, 0);
    // The next request asks again (and gets the right PIN), then it is kept.
    for _ in 0..2 {
        let run = client(&ws, "sops", &["decrypt"], &service.uri());
        assert_eq!(
            run.code,
            0,
            "{}\n{}",
            run.stderr,
            std::fs::read_to_string(&service.log).unwrap()
        );
    }
    assert_eq!(lines_of(&asked).len(), 2);
}

/// The real `sops keyservice` on `socket`, with `env` added, once it accepts connections.
fn start_sops_keyservice(
    ws: &Workspace,
    socket: &Path,
    env: &[(&str, &std::ffi::OsStr)],
) -> std::process::Child {
    let mut cmd = ws.command("sops");
    cmd.args(["keyservice", "--network", "unix", "--address"])
        .arg(socket)
        .stderr(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let service = cmd.spawn().unwrap();
    let start = std::time::Instant::now();
    while std::os::unix::net::UnixStream::connect(socket).is_err() {
        assert!(
            start.elapsed().as_secs() < 20,
            "sops keyservice did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    service
}

#[test]
fn keytap_is_a_client_of_the_real_sops_keyservice() {
    let ws = Workspace::new();
    encrypt_token(&ws, &ws.recipient);
    let socket = ws.path("sops.sock");
    let mut sops_service = start_sops_keyservice(&ws, &socket, &[]);
    let uri = format!("unix://{}", socket.display());
    let run = client(&ws, keytap_bin().to_str().unwrap(), &["decrypt"], &uri);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.out(), "token: s3cret\n");
    // Wrapping goes through the service too (no local key service at all).
    let run = ws.run(keytap_bin().to_str().unwrap(), |c| {
        c.args(["encrypt", "--age", &ws.recipient])
            .arg(format!("--keyservice={uri}"))
            .args(["--enable-local-keyservice=false", "plain.yaml"])
            .env_remove("SOPS_AGE_KEY_FILE");
    });
    assert_eq!(run.code, 0, "{}", run.stderr);
    ws.write("wrapped-remotely.yaml", &run.stdout);
    assert_eq!(
        ws.sops(["decrypt", "wrapped-remotely.yaml"]).out(),
        "token: s3cret\n"
    );
    let _ = sops_service.kill();
    let _ = sops_service.wait();
    // A service that is gone: sops's report, exit 128.
    let run = client(&ws, keytap_bin().to_str().unwrap(), &["decrypt"], &uri);
    let sops = client(&ws, "sops", &["decrypt"], &uri);
    assert_eq!((run.code, sops.code), (128, 128), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("rpc error: code = Unavailable desc = connection error"),
        "{}",
        run.stderr
    );
}

#[test]
fn key_groups_mix_a_remote_group_and_a_local_one() {
    let ws = Workspace::new();
    let remote = Workspace::new();
    ws.write_two_group_rule(&remote.recipient, &ws.recipient);
    ws.write("plain.yaml", "token: s3cret\n");
    let enc = ws.keytap(["encrypt", "plain.yaml"]).ok();
    ws.write("s.yaml", enc);
    // Locally, only one of the two groups opens.
    assert_eq!(ws.keytap(["decrypt", "s.yaml"]).code, 128);
    let service = KeyServiceProcess::start(
        &remote,
        &remote.path("ks.sock"),
        &[],
        &[("SOPS_AGE_KEY_FILE", remote.keys.to_str().unwrap())],
    );
    let both = ws.keytap([
        "decrypt",
        &format!("--keyservice={}", service.uri()),
        "s.yaml",
    ]);
    assert_eq!(both.code, 0, "{}", both.stderr);
    assert_eq!(both.out(), "token: s3cret\n");
    // The real sops does the same with keytap's service.
    let sops = ws.sops([
        "decrypt",
        &format!("--keyservice={}", service.uri()),
        "s.yaml",
    ]);
    assert_eq!(sops.code, 0, "{}", sops.stderr);
}

#[test]
fn environment_forms_and_their_errors_are_sops_s() {
    let ws = Workspace::new();
    encrypt_token(&ws, &ws.recipient);
    let service = KeyServiceProcess::start(
        &ws,
        &ws.path("ks.sock"),
        &[],
        &[("SOPS_AGE_KEY_FILE", ws.keys.to_str().unwrap())],
    );
    // SOPS_KEYSERVICE is a comma list (a dead service first is only an error on the way).
    let env_list = format!("unix:///nonexistent.sock, {}", service.uri());
    for program in ["sops", keytap_bin().to_str().unwrap()] {
        let run = ws.run(program, |c| {
            c.args(["decrypt", "s.yaml"])
                .env_remove("SOPS_AGE_KEY_FILE")
                .env("SOPS_KEYSERVICE", &env_list)
                .env("SOPS_ENABLE_LOCAL_KEYSERVICE", "false");
        });
        assert_eq!(run.code, 0, "{program}: {}", run.stderr);
        // An unparseable bool is a usage error, exit 1.
        let run = ws.run(program, |c| {
            c.args(["decrypt", "s.yaml"])
                .env("SOPS_ENABLE_LOCAL_KEYSERVICE", "no");
        });
        assert_eq!(run.code, 1, "{program}: {}", run.stderr);
        assert!(
            run.stderr.contains("could not parse no as bool value for flag enable-local-keyservice: strconv.ParseBool: parsing"),
            "{program}: {}",
            run.stderr
        );
        // An empty value means false: no local key service, so no key.
        let run = ws.run(program, |c| {
            c.args(["decrypt", "s.yaml"])
                .env("SOPS_ENABLE_LOCAL_KEYSERVICE", "");
        });
        assert_eq!(run.code, 128, "{program}: {}", run.stderr);
    }
    // A --keyservice on the command line replaces the environment's list.
    let run = ws.run(keytap_bin().to_str().unwrap(), |c| {
        c.args([
            "decrypt",
            "--keyservice",
            "unix:///nonexistent.sock",
            "s.yaml",
        ])
        .env_remove("SOPS_AGE_KEY_FILE")
        .env("SOPS_KEYSERVICE", service.uri());
    });
    assert_eq!(run.code, 128, "{}", run.stderr);
}

#[test]
fn sockets_are_owner_only_and_tcp_stays_on_loopback() {
    let ws = Workspace::new();
    let dir = ws.path("fresh/dir");
    let socket = dir.join("ks.sock");
    // Under umask 000, the directory made for it is 0700 and the socket 0600.
    let mut child = ws
        .command("sh")
        .arg("-c")
        .arg(format!(
            "umask 000 && exec {} keyservice --network unix --address {}",
            keytap_bin().display(),
            socket.display()
        ))
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(start.elapsed().as_secs() < 20);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode(&dir), mode(&socket)), (0o700, 0o600));
    // A second service on a live socket is refused; the first keeps it.
    let second = ws.keytap([
        "keyservice",
        "--network",
        "unix",
        "--address",
        socket.to_str().unwrap(),
    ]);
    assert_eq!(second.code, 1);
    second.assert_stderr_has("another key service is listening");
    let _ = std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    assert!(!socket.exists(), "the socket goes with the service");
    // TCP beyond loopback needs --allow-remote.
    let run = ws.keytap(["keyservice", "--network", "tcp", "--address", "0.0.0.0:0"]);
    assert_eq!(run.code, 1);
    run.assert_stderr_has("not a loopback address");
}

#[test]
fn a_socket_activated_service_answers_on_the_socket_systemd_passes() {
    let ws = Workspace::new();
    encrypt_token(&ws, &ws.recipient);
    let socket = ws.path("activated.sock");
    // systemd-socket-activate passes on only the environment named with -E, as systemd does.
    let activator = ws
        .command("systemd-socket-activate")
        .arg("-l")
        .arg(&socket)
        .arg("-E")
        .arg(format!("SOPS_AGE_KEY_FILE={}", ws.keys.display()))
        .arg(keytap_bin())
        .args([
            "keyservice",
            "--network",
            "unix",
            "--address",
            "/nonexistent/unused.sock",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("systemd-socket-activate (Debian's systemd package)");
    // Stopped on every exit path, a failed assertion included.
    let _activator = StopOnDrop(activator);
    let start = std::time::Instant::now();
    while !socket.exists() {
        assert!(start.elapsed().as_secs() < 20);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let run = client(
        &ws,
        "sops",
        &["decrypt"],
        &format!("unix://{}", socket.display()),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.out(), "token: s3cret\n");
}

#[test]
fn updatekeys_on_twenty_files_costs_one_plugin_session_and_one_prompt() {
    let ws = Workspace::new();
    let (recipient, identity) = testkit_key(Some("prompt-pin"));
    let (askpass, asked) = ws.askpass("askpass", "123456");
    let sessions = ws.path("testkit.log");
    let keytap = |args: &[&str]| {
        ws.run(keytap_bin().to_str().unwrap(), |c| {
            c.args(args)
                .env("PATH", path_with_plugins())
                .env("SOPS_AGE_KEY", &identity)
                .env("KEYTAP_ASKPASS", &askpass)
                .env("TESTKIT_LOG", &sessions);
        })
    };
    ws.write(
        ".sops.yaml",
        format!("creation_rules:\n  - age: {recipient}\n"),
    );
    let mut files = Vec::new();
    for i in 0..20 {
        let name = format!("s{i:02}.yaml");
        ws.write(&name, format!("n: {i}\n"));
        assert_eq!(keytap(&["encrypt", "-i", &name]).code, 0);
        files.push(name);
    }
    std::fs::remove_file(&sessions).ok();
    ws.write(
        ".sops.yaml",
        format!("creation_rules:\n  - age: {recipient},{}\n", ws.recipient),
    );
    let mut args = vec!["updatekeys", "--dry-run"];
    args.extend(files.iter().map(String::as_str));
    let before: Vec<Vec<u8>> = files.iter().map(|f| ws.read(f)).collect();
    let dry = keytap(&args);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert_eq!(
        dry.out().matches(&format!("+++ {}", ws.recipient)).count(),
        20
    );
    assert_eq!(before, files.iter().map(|f| ws.read(f)).collect::<Vec<_>>());
    assert!(lines_of(&asked).is_empty(), "a dry run decrypts nothing");
    args[1] = "-y";
    let run = keytap(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(lines_of(&asked).len(), 1, "one PIN prompt");
    let unwraps: Vec<String> = lines_of(&sessions)
        .into_iter()
        .filter(|l| l.starts_with("unwrap"))
        .collect();
    assert_eq!(
        unwraps,
        vec!["unwrap files=20 stanzas=20"],
        "one plugin session"
    );
    // Every file now opens with the new software recipient alone.
    for f in &files {
        assert_eq!(ws.keytap(["decrypt", f]).code, 0);
    }
}

/// A process stopped (SIGKILL, then waited for) when dropped: on every exit path, a failed
/// assertion included.
struct StopOnDrop(std::process::Child);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits up to 20 s for `ready`, failing with `what` and the log `log`.
fn wait_until(what: &str, log: &Path, mut ready: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "{what} within 20 s: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The README's remote use, for real: an OpenSSH server of the test's own (own port, host
/// key and authorized key, sshd's default socket settings) and `ssh -R` forwarding the
/// service's socket to a path "on the server"; the real sops and keytap there decrypt
/// through the forwarded socket with one PIN, typed on the service's side.
#[test]
fn an_ssh_forwarded_socket_serves_the_server_side() {
    let (ws, service, asked) = pin_service("laptop/ks.sock", &[]);
    let ssh = ws.path("ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    for key in ["host", "client"] {
        let r = ws.run("ssh-keygen", |c| {
            c.args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(ssh.join(key));
        });
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    std::fs::copy(ssh.join("client.pub"), ssh.join("authorized_keys")).unwrap();
    // sshd's privilege-separation directory (root's sshd refuses to start without it).
    std::fs::create_dir_all("/run/sshd").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = ws.write(
        "ssh/sshd_config",
        format!(
            "ListenAddress 127.0.0.1\nPort {port}\nHostKey {d}/host\nAuthorizedKeysFile {d}/authorized_keys\n\
             PidFile {d}/sshd.pid\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nStreamLocalBindUnlink yes\n",
            d = ssh.display()
        ),
    );
    let sshd_log = ws.path("ssh/sshd.log");
    let _sshd = StopOnDrop(
        ws.command("/usr/sbin/sshd")
            .arg("-D")
            .arg("-f")
            .arg(&config)
            .arg("-E")
            .arg(&sshd_log)
            .spawn()
            .expect("start sshd (apt install openssh-server)"),
    );
    wait_until("sshd listens", &sshd_log, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let user = String::from_utf8(
        std::process::Command::new("id")
            .arg("-un")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let remote = ws.path("server/keytap.sock");
    std::fs::create_dir_all(remote.parent().unwrap()).unwrap();
    let ssh_log = ws.path("ssh/ssh.log");
    let _forward = StopOnDrop(
        ws.command("ssh")
            .arg("-N")
            .arg("-R")
            .arg(format!("{}:{}", remote.display(), service.socket.display()))
            .arg("-i")
            .arg(ssh.join("client"))
            .args(["-p", &port.to_string()])
            .args([
                "-o",
                "BatchMode=yes",
                "-o",
                "ExitOnForwardFailure=yes",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "LogLevel=ERROR",
            ])
            .arg(format!("{}@127.0.0.1", user.trim()))
            .stderr(std::fs::File::create(&ssh_log).unwrap())
            .spawn()
            .expect("start ssh"),
    );
    wait_until("ssh -R forwards the socket", &ssh_log, || {
        std::os::unix::net::UnixStream::connect(&remote).is_ok()
    });
    // sshd's default StreamLocalBindMask (0177): only the user on the server reaches it.
    let mode = std::fs::metadata(&remote).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the forwarded socket is owner-only");

    let uri = format!("unix://{}", remote.display());
    for program in [
        keytap_bin().to_str().unwrap(),
        "sops",
        keytap_bin().to_str().unwrap(),
    ] {
        let r = client(&ws, program, &["decrypt"], &uri);
        assert_eq!(r.code, 0, "{program}: {}", r.stderr);
        assert_eq!(r.out(), "token: s3cret\n", "{program}");
    }
    assert_eq!(
        lines_of(&asked).len(),
        1,
        "one PIN for three remote commands"
    );
}

/// `install-secrets` (the login unit of the home-manager module) goes through the key
/// service that holds the PIN: `SOPS_KEYSERVICE` or `--keyservice`, after the manifest's own
/// keys (here a key that does not open the file); two runs, two generations, one prompt.
#[test]
fn install_secrets_uses_the_key_service_from_the_environment_or_the_flag() {
    let site = install_common::Site::new();
    let ws = &site.ws;
    let (recipient, identity) = testkit_key(Some("prompt-pin"));
    let file = encrypt_token(ws, &recipient);
    let (askpass, asked) = ws.askpass("askpass", "123456");
    let service = KeyServiceProcess::start(
        ws,
        &ws.path("ks/ks.sock"),
        &[],
        &service_env(&identity, &askpass),
    );
    let secrets = vec![site.secret("token", "token", &file, "yaml")];
    let manifest = site.write_manifest("manifest.json", &site.manifest_value(secrets, vec![]));
    let manifest = site.s(&manifest);
    let uri = service.uri();
    let flag = format!("--keyservice={uri}");
    for (args, env) in [
        (
            vec![manifest.as_str()],
            vec![("SOPS_KEYSERVICE", uri.as_str())],
        ),
        (vec![flag.as_str(), manifest.as_str()], vec![]),
    ] {
        let r = site.install(&args, &env);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(site.read_secret("token"), b"s3cret");
    }
    assert_eq!(site.live(), Some(2), "the second run is a new generation");
    assert_eq!(lines_of(&asked).len(), 1, "one PIN for both runs");
    // Without the service the same manifest cannot be installed: the key is only there.
    let r = site.install(&[&manifest], &[]);
    assert_ne!(r.code, 0);
    assert_eq!(
        site.live(),
        Some(2),
        "a failed run keeps the live generation"
    );
}

/// `--decryption-order` as sops: with `pgp,age` (flag or `SOPS_DECRYPTION_ORDER`), a
/// group's PGP key goes to the key service (the real `sops keyservice`, GnuPG behind it)
/// before the token's age key, so the token is never asked for its PIN; by default the age
/// key comes first and is. A type listed twice is refused with sops's message and 112.
#[test]
fn decryption_order_asks_the_key_service_before_the_token() {
    let ws = Workspace::new();
    let (gnupg, fpr) = ws.gnupg_key("gnupg");

    let (recipient, identity) = testkit_key(Some("prompt-pin"));
    ws.write("plain.yaml", "token: s3cret\n");
    let enc = ws.run("sops", |c| {
        c.args(["encrypt", "--age", &recipient, "--pgp", &fpr, "plain.yaml"])
            .env("GNUPGHOME", &gnupg)
            .env("PATH", path_with_plugins());
    });
    assert_eq!(enc.code, 0, "{}", enc.stderr);
    ws.write("s.yaml", &enc.stdout);

    let socket = ws.path("sops.sock");
    let mut sops_service = start_sops_keyservice(&ws, &socket, &[("GNUPGHOME", gnupg.as_os_str())]);
    let uri = format!("--keyservice=unix://{}", socket.display());
    let (askpass, asked) = ws.askpass("askpass", "123456");
    let decrypt = |args: &[&str], env: &[(&str, &str)]| {
        ws.run("setsid", |c| {
            c.arg("-w")
                .arg(keytap_bin())
                .arg("decrypt")
                .arg(&uri)
                .args(args)
                .arg("s.yaml")
                .env_remove("SOPS_AGE_KEY_FILE")
                .env("SOPS_AGE_KEY", &identity)
                .env("KEYTAP_ASKPASS", &askpass)
                // This machine's GnuPG fails (the key is only behind the service), without
                // starting an agent in the workspace's home.
                .env("SOPS_GPG_EXEC", "false")
                .env("PATH", path_with_plugins());
            for (k, v) in env {
                c.env(k, v);
            }
        })
    };
    for (args, env) in [
        (&["--decryption-order", "pgp,age"][..], &[][..]),
        (&[][..], &[("SOPS_DECRYPTION_ORDER", "pgp,age")][..]),
    ] {
        let run = decrypt(args, env);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(run.out(), "token: s3cret\n");
        assert!(
            lines_of(&asked).is_empty(),
            "the token was asked: {:?}",
            lines_of(&asked)
        );
    }
    let run = decrypt(&[], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        lines_of(&asked).len(),
        1,
        "by default the age key is tried first"
    );

    let twice = decrypt(&["--decryption-order", "age,pgp,age"], &[]);
    let theirs = ws.sops(["decrypt", "--decryption-order", "age,pgp,age", "s.yaml"]);
    assert_eq!((twice.code, theirs.code), (112, 112), "{}", twice.stderr);
    assert!(
        twice.stderr.contains("Duplicate decryption key type: age"),
        "{}",
        twice.stderr
    );

    let _ = sops_service.kill();
    let _ = sops_service.wait();
    let _ = ws.run("gpgconf", |c| {
        c.env("GNUPGHOME", &gnupg).args(["--kill", "all"]);
    });
}

/// The real sops encrypts and decrypts a PGP key through keytap's key service (GnuPG on
/// the service's side), with its own local key service off.
#[test]
fn sops_uses_pgp_keys_through_keytaps_service() {
    let ws = Workspace::new();
    let (gnupg, fp) = ws.gnupg_key("gnupg");
    let socket = ws.path("svc.sock");
    let gnupg_text = gnupg.to_str().unwrap().to_string();
    let service = KeyServiceProcess::start(&ws, &socket, &[], &[("GNUPGHOME", &gnupg_text)]);
    let remote = format!("--keyservice={}", service.uri());
    ws.write("plain.yaml", "token: s3cret\n");
    // sops's side has no GnuPG home with the key, so only the service can do it.
    let sops = |args: &[&str]| {
        ws.run("sops", |c| {
            c.args(args)
                .args([remote.as_str(), "--enable-local-keyservice=false"])
                .env("GNUPGHOME", ws.path("nowhere"));
        })
    };
    let enc = sops(&["encrypt", "--pgp", &fp, "plain.yaml"]);
    assert_eq!(enc.code, 0, "{}", enc.stderr);
    assert!(enc.out().contains(&fp));
    ws.write("s.yaml", &enc.stdout);
    let dec = sops(&["decrypt", "s.yaml"]);
    assert_eq!(dec.code, 0, "{}", dec.stderr);
    assert_eq!(dec.out(), "token: s3cret\n");

    // A client's message is not a way to read the owner's other PGP mail: only a data key
    // (32 bytes) is answered, and GnuPG's messages stay in the service.
    let gpg = |args: &[&str]| {
        let run = ws.run("gpg", |c| {
            c.env("GNUPGHOME", &gnupg).arg("--batch").args(args);
        });
        assert_eq!(run.code, 0, "gpg {args:?}: {}", run.stderr);
    };
    let mail = "a private letter to the owner of the key, not a data key at all";
    ws.write("mail.txt", mail);
    gpg(&[
        "--trust-model",
        "always",
        "-a",
        "-e",
        "-r",
        &fp,
        "-o",
        "mail.asc",
        "mail.txt",
    ]);
    // A message anyone can make without a key that GnuPG writes out at length (a
    // compressed one expands to gigabytes): stopped, not read to the end.
    ws.write("flood.bin", "0123456789abcdef".repeat(200_000));
    gpg(&[
        "--compress-algo",
        "none",
        "-a",
        "--store",
        "-o",
        "flood.asc",
        "flood.bin",
    ]);
    let enc_text = String::from_utf8(enc.stdout.clone()).unwrap();
    for (name, message) in [("mail", "mail.asc"), ("flood", "flood.asc")] {
        let armored = std::fs::read_to_string(ws.path(message)).unwrap();
        ws.write(
            &format!("{name}.yaml"),
            with_pgp_message(&enc_text, &armored),
        );
        let refused = sops(&["decrypt", &format!("{name}.yaml")]);
        assert_ne!(refused.code, 0, "{name}: {}", refused.out());
        assert!(
            !refused.stderr.contains("private letter"),
            "{}",
            refused.stderr
        );
        assert!(
            !refused.stderr.contains("keytap test"),
            "gpg's key list: {}",
            refused.stderr
        );
        // Locally too, the flood is stopped with one line.
        let yaml = format!("{name}.yaml");
        let local = ws.keytap_with_plugins(60, &["decrypt", &yaml], &[("GNUPGHOME", &gnupg_text)]);
        assert_ne!(local.code, 0, "{name}: {}", local.out());
        if name == "flood" {
            assert!(local.stderr.contains("stopped it"), "{}", local.stderr);
        }
    }
    // And the service still answers.
    let again = sops(&["decrypt", "s.yaml"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    drop(service);
    let _ = ws.run("gpgconf", |c| {
        c.env("GNUPGHOME", &gnupg).args(["--kill", "all"]);
    });
}

/// `file` (sops YAML with one PGP key) with that key's message replaced by `armored`.
fn with_pgp_message(file: &str, armored: &str) -> String {
    let begin = file
        .find("-----BEGIN PGP MESSAGE-----")
        .expect("a PGP message");
    let indent = &file[file[..begin].rfind('\n').unwrap() + 1..begin];
    let end_marker = "-----END PGP MESSAGE-----";
    let end = file[begin..].find(end_marker).unwrap() + begin + end_marker.len();
    let replacement = armored
        .trim_end()
        .lines()
        .collect::<Vec<_>>()
        .join(&format!("\n{indent}"));
    format!("{}{replacement}{}", &file[..begin], &file[end..])
}
