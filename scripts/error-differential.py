#!/usr/bin/env python3
"""Error-path differential against the real sops: corpus documents with a few bytes
changed, encrypted by keytap and by sops; prints every input where the exit codes differ
or the messages differ after keytap's file-name prefix.

    scripts/error-differential.py FORMAT START END [KEYTAP]
    FORMAT: yaml, json, dotenv, ini (fuzz/corpus/store_FORMAT) or config (.sops.yaml
    mutations from fuzz/corpus/sops_config, read by `encrypt` of a fixed file)

Seeds are reproducible (input N is the same on every run). Known, deliberate differences
show up too: keytap's one-line 'unmarshal errors' are normalised here, but dotenv and INI
errors name a line number instead of quoting the line (it may hold a secret), JSON input
with text after the top-level object or cut off after a key is refused (sops drops it),
and age recipient errors use the Rust age crate's words. See CONTRIBUTING.md.
"""
import glob, os, random, re, shutil, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKENS = [b":", b" ", b"-", b"[", b"]", b"{", b"}", b",", b"\n", b"  ", b"\t", b"'", b'"',
          b"#", b"&a", b"*a", b"<<", b"!!str", b"!!int", b"? ", b"|", b">", b"---", b"\\",
          b"=", b"~", b"\xc3", b"\x00", b"age", b"creation_rules", b"path_regex", b"1"]


def mutate(r, s):
    s = bytearray(s)
    for _ in range(r.randint(1, 3)):
        op, pos = r.randrange(3), r.randrange(len(s) + 1)
        if op == 0 and s:
            del s[pos:pos + r.randint(1, 3)]
        elif op == 1:
            s[pos:pos] = r.choice(TOKENS)
        elif s:
            s[pos:pos + 1] = r.choice(TOKENS)
    return bytes(s)


def normalise_sops(message):
    # sops lists go-yaml's unmarshal errors on indented lines; keytap joins them.
    if "unmarshal errors:\n  " in message:
        head, rest = message.split("unmarshal errors:\n  ", 1)
        message = head + "unmarshal errors: " + rest.replace("\n  ", "; ")
    return message


def main():
    fmt, start, end = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    keytap = sys.argv[4] if len(sys.argv) > 4 else os.path.join(ROOT, "target/release/keytap")
    sops = shutil.which("sops")
    corpus = "sops_config" if fmt == "config" else "store_" + fmt
    seeds = [open(f, "rb").read() for f in sorted(glob.glob(f"{ROOT}/fuzz/corpus/{corpus}/*"))]
    seeds = [s for s in seeds if 0 < len(s) < 4000]
    work = tempfile.mkdtemp()
    key = os.path.join(work, "keys.txt")
    subprocess.run([keytap, "keygen", "-o", key], check=True, capture_output=True)
    recipient = subprocess.run([keytap, "keygen", "-y", key], check=True,
                               capture_output=True, text=True).stdout.strip()
    env = dict(os.environ, HOME=work, SOPS_AGE_KEY_FILE=key)
    ext = {"dotenv": "env", "config": "yaml"}.get(fmt, fmt)
    name = "secret." + ext
    differ = 0
    try:
        for seed in range(start, end):
            r = random.Random(seed)
            doc = mutate(r, r.choice(seeds))
            if fmt == "config":
                open(os.path.join(work, ".sops.yaml"), "wb").write(doc)
                open(os.path.join(work, name), "w").write("a: 1\n")
                args = ["encrypt", name]
            else:
                open(os.path.join(work, name), "wb").write(doc)
                args = ["encrypt", "--age", recipient, name]
            runs = [subprocess.run([tool] + args, capture_output=True, env=env, cwd=work,
                                   timeout=60) for tool in (keytap, sops)]
            (kc, ke), (sc, se) = [(p.returncode, p.stderr.decode("utf-8", "replace").strip())
                                  for p in runs]
            if "goroutine" in se:
                continue  # sops crashed (a Go stack overflow): nothing to compare
            # keytap names the file after sops's message.
            ke = re.sub(r" \(in [^)]*\)$", "", ke.removeprefix(name + ": "))
            if kc != sc or (kc != 0 and ke != normalise_sops(se)):
                differ += 1
                print(f"seed {seed}: keytap {kc} {ke[:200]!r}\n{'':9}sops   {sc} {se[:200]!r}",
                      flush=True)
    finally:
        shutil.rmtree(work)
    print(f"{end - start} inputs, {differ} differ")


if __name__ == "__main__":
    main()
