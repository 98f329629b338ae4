#!/usr/bin/env python3
"""Benchmark keytap against the real sops on the same files, in one run.

Generates a 10,000-leaf YAML and JSON file, then encrypts and decrypts each with both
tools, alternating runs so machine noise hits both alike. Prints the median wall time
and the peak RSS of each, and the ratios. Needs a release build of keytap
(`cargo build --release -p keytap`) and sops on PATH (scripts/install-deps.sh).
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEYTAP = os.environ.get("KEYTAP_BIN", os.path.join(ROOT, "target", "release", "keytap"))
RUNS = int(os.environ.get("BENCH_RUNS", "7"))
LEAVES = int(os.environ.get("BENCH_LEAVES", "10000"))


def run(argv, env, stdout_path=None):
    """Runs argv, returns (seconds, peak RSS in KiB)."""
    out = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if stdout_path:
        out.close()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(argv)} failed: {err}")
    return elapsed, usage.ru_maxrss


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

    print(f"{LEAVES} leaves, {RUNS} alternating runs each, median wall time and peak RSS")
    print(f"{'case':<16}{'keytap':>12}{'sops':>12}{'speedup':>10}{'keytap RSS':>13}{'sops RSS':>11}{'RSS ratio':>11}")
    for fmt, plain in files.items():
        enc = {tool: os.path.join(work, f"enc-{tool}.{fmt}") for tool in ("keytap", "sops")}
        results = {}
        for op in ("encrypt", "decrypt"):
            samples = {"keytap": [], "sops": []}
            for _ in range(RUNS):
                for tool, binary in (("keytap", KEYTAP), ("sops", "sops")):
                    if op == "encrypt":
                        argv = [binary, "encrypt", "--age", recipient, plain]
                        samples[tool].append(run(argv, env, enc[tool]))
                    else:
                        argv = [binary, "decrypt", enc[tool]]
                        samples[tool].append(run(argv, env))
            results[op] = samples
            k_t = statistics.median(s[0] for s in samples["keytap"])
            s_t = statistics.median(s[0] for s in samples["sops"])
            k_m = max(s[1] for s in samples["keytap"])
            s_m = max(s[1] for s in samples["sops"])
            print(f"{fmt + ' ' + op:<16}{k_t * 1000:>10.1f}ms{s_t * 1000:>10.1f}ms{s_t / k_t:>9.1f}x"
                  f"{k_m / 1024:>10.1f}MiB{s_m / 1024:>8.1f}MiB{s_m / k_m:>10.1f}x")


if __name__ == "__main__":
    main()
