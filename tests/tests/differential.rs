//! Random documents through keytap and the real sops, both ways: each plaintext (YAML,
//! JSON, dotenv, INI) is encrypted by both tools (same exit code; the same file once IVs,
//! ciphertext and times are masked), each encrypted file is decrypted by both (same bytes,
//! same exit code), and the first key is extracted by both. Random `set` and `unset`
//! operations are applied by each tool to the same file, and the results compared. The generator leans on what differs between YAML
//! implementations: comments in every position (after flow collections too), block
//! scalars, YAML 1.1 and 1.2 scalars, quoting, keys that need quotes, several documents.
//! Its seeds catch the comment, `--extract` and `set` differences such runs found (keytap
//! before those fixes fails YAML seeds 22, 63, 70 and 76 and set seeds 0, 2, 4, ...); a
//! failing seed prints its document.

use keytap_e2e::{mask_random, Workspace};

/// A small deterministic generator (xorshift64*), so a failing seed reproduces.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

const YAML_SCALARS: &[&str] = &[
    "plain",
    "two words",
    "123",
    "-7",
    "0x1F",
    "0o17",
    "017",
    "1_000",
    "+12",
    "1.5",
    ".inf",
    "-.Inf",
    ".nan",
    "1e3",
    "6.02e+23",
    "true",
    "False",
    "yes",
    "off",
    "~",
    "null",
    "",
    "2001-12-14",
    "2001-12-14t21:59:43.10-05:00",
    "2023-01-01T00:00:00Z",
    "'single'",
    "'it''s'",
    "\"double\"",
    "\"tab\\there\"",
    "\"uni \\u00e9\"",
    "\"\\U0001F511\"",
    "emoji 🔑",
    "café",
    "日本語",
    "a#b",
    "x: y",
    "'#hash'",
    "@at",
    "\"quote\\\"q\"",
    "a,b",
    "!!str 12",
    "long value long value long value long value long value long value",
    "a long value that goes on and on past the eighty columns go-yaml folds plain scalars at, with words",
    "\"a long double-quoted value that goes on past eighty columns, with an escape \\t in it, and more\"",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    ".5",
    "+.inf",
    "1e400",
    "0b101",
    "2001-12-14 21:59:43.10 -5",
    "\"line\\nbreak\"",
    "\"esc \\x41 \\/\"",
    "'multi word' # c",
    "&lone anchored",
];

const KEYS: &[&str] = &[
    "alpha",
    "beta",
    "key",
    "db",
    "password",
    "name",
    "y_unencrypted",
    "über",
    "ключ",
    "\"a b\"",
    "\"with:colon\"",
    "\"null\"",
    "\"123\"",
    "\"yes\"",
    "k1",
    "k2",
    "k3",
    "k4",
];

/// Anchors a generated document has defined so far, which later values may alias:
/// scalars (`&sN`) and mappings (`&mN`, for `<<` merge keys too).
#[derive(Default)]
struct Anchors {
    scalars: usize,
    maps: usize,
}

fn yaml_node(r: &mut Rng, a: &mut Anchors, indent: usize, depth: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    let mut used = Vec::new();
    for _ in 0..1 + r.below(3) {
        if r.chance(15) {
            out.push_str(&format!(
                "{pad}#{}\n",
                r.pick(&["", " note", " x: y", " sops"])
            ));
        }
        let key = r.pick(KEYS);
        if used.contains(&key) {
            continue;
        }
        used.push(key);
        match r.below(10) {
            6 => {
                a.scalars += 1;
                out.push_str(&format!(
                    "{pad}{key}: &s{} {}\n",
                    a.scalars,
                    r.pick(YAML_SCALARS)
                ));
            }
            7 if a.scalars > 0 => {
                out.push_str(&format!("{pad}{key}: *s{}\n", 1 + r.below(a.scalars)));
            }
            8 if depth < 3 => {
                a.maps += 1;
                out.push_str(&format!("{pad}{key}: &m{}\n", a.maps));
                yaml_node(r, a, indent + 2, depth + 1, out);
            }
            9 if a.maps > 0 && !used.contains(&"<<") => {
                used.push("<<");
                let target = 1 + r.below(a.maps);
                match r.below(3) {
                    0 => out.push_str(&format!("{pad}<<: *m{target}\n")),
                    1 => out.push_str(&format!("{pad}<<: [*m{target}]\n")),
                    _ => out.push_str(&format!("{pad}{key}: *m{target}\n")),
                }
            }
            0 if depth < 3 => {
                out.push_str(&format!("{pad}{key}:\n"));
                let step = [2, 4][r.below(2)];
                yaml_node(r, a, indent + step, depth + 1, out);
            }
            1 if depth < 3 => {
                out.push_str(&format!("{pad}{key}:\n"));
                let step = [0, 2][r.below(2)];
                yaml_list(r, a, indent + step, depth + 1, out);
            }
            2 => {
                let head = r.pick(&["|", "|-", "|+", ">", ">-", ">+"]);
                out.push_str(&format!("{pad}{key}: {head}\n"));
                for _ in 0..1 + r.below(3) {
                    let line = r.pick(&["line one", "  indented", "", "# not a comment"]);
                    if line.is_empty() {
                        out.push('\n');
                    } else {
                        out.push_str(&format!("{pad}  {line}\n"));
                    }
                }
            }
            3 => {
                let flow = r.pick(&[
                    "[]",
                    "{}",
                    "[a, 1, true]",
                    "{x: 1, y: [2, 3]}",
                    "['q', \"d\"]",
                ]);
                out.push_str(&format!("{pad}{key}: {flow}\n"));
            }
            _ => {
                let tail = if r.chance(20) { " # tail" } else { "" };
                out.push_str(&format!("{pad}{key}: {}{tail}\n", r.pick(YAML_SCALARS)));
            }
        }
    }
    if r.chance(15) {
        out.push_str(&format!("{pad}# foot\n"));
    }
}

fn yaml_list(r: &mut Rng, a: &mut Anchors, indent: usize, depth: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    for _ in 0..1 + r.below(3) {
        if r.chance(15) {
            out.push_str(&format!("{pad}# item note\n"));
        }
        match r.below(5) {
            0 if depth < 3 => {
                out.push_str(&format!("{pad}- k: {}\n", r.pick(YAML_SCALARS)));
                out.push_str(&format!("{pad}  k2: {}\n", r.pick(YAML_SCALARS)));
            }
            1 if depth < 3 => {
                out.push_str(&format!("{pad}-\n"));
                yaml_list(r, a, indent + 2, depth + 1, out);
            }
            2 if a.scalars > 0 => {
                out.push_str(&format!("{pad}- *s{}\n", 1 + r.below(a.scalars)));
            }
            3 if a.maps > 0 => out.push_str(&format!("{pad}- *m{}\n", 1 + r.below(a.maps))),
            _ => out.push_str(&format!("{pad}- {}\n", r.pick(YAML_SCALARS))),
        }
    }
}

fn yaml_doc(seed: u64) -> String {
    let mut r = Rng::new(seed);
    let mut out = String::new();
    if r.chance(20) {
        out.push_str("# top comment\n");
    }
    yaml_node(&mut r, &mut Anchors::default(), 0, 0, &mut out);
    if r.chance(10) {
        out.push_str("---\nsecond: doc\n");
    }
    out
}

const JSON_STRINGS: &[&str] = &[
    "a",
    "",
    "über",
    "emoji 🔑",
    "\\u00e9",
    "\\ud83d\\udd11",
    "\\ud800",
    "\\u0000",
    "tab\\t",
    "nl\\n",
    "q\\\"q",
    "\\\\back",
    "\\/slash",
    "<>&",
    "\\u2028",
    "ENC[not]",
];
const JSON_NUMBERS: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "1.5",
    "-2.25",
    "1e3",
    "1E-3",
    "6.02e+23",
    "123456789012345678",
    "9007199254740993",
    "0.1",
    "100",
    "1.0",
    "2.50",
];

fn json_value(r: &mut Rng, depth: usize) -> String {
    match if depth > 3 { r.below(3) } else { r.below(6) } {
        0 => format!("\"{}\"", r.pick(JSON_STRINGS)),
        1 => r.pick(JSON_NUMBERS).to_string(),
        2 => r.pick(&["true", "false", "null"]).to_string(),
        3 | 4 => json_object(r, depth + 1),
        _ => {
            let items: Vec<String> = (0..r.below(4)).map(|_| json_value(r, depth + 1)).collect();
            format!("[{}]", items.join(", "))
        }
    }
}

fn json_object(r: &mut Rng, depth: usize) -> String {
    let space = r.pick(&["", " ", "\n  "]);
    let entries: Vec<String> = (0..r.below(4))
        .map(|_| {
            let key = r.pick(&[
                "k",
                "a",
                "b_unencrypted",
                "",
                "ключ",
                "k\\u00e9",
                "dup",
                "dup",
                "a:b",
            ]);
            format!("\"{key}\": {}", json_value(r, depth))
        })
        .collect();
    format!("{{{space}{}{space}}}", entries.join(&format!(",{space}")))
}

fn json_doc(seed: u64) -> String {
    let mut r = Rng::new(seed);
    format!(
        "{{\"top\": {}, \"n\": {}}}\n",
        json_object(&mut r, 0),
        r.pick(JSON_NUMBERS)
    )
}

/// The first top-level key of a document, as an `--extract` path.
fn first_key_path(plain: &str, json: bool) -> Option<String> {
    let key = if json {
        plain.split('"').nth(1)?.to_string()
    } else {
        let line = plain
            .lines()
            .find(|l| !l.starts_with(['#', ' ', '-']) && l.contains(':'))?;
        line.split(':').next()?.trim_matches('"').to_string()
    };
    Some(format!("[\"{key}\"]"))
}

/// One document through both tools; returns what differs.
fn compare(ws: &Workspace, ext: &str, plain: &str) -> Vec<String> {
    let mut diffs = Vec::new();
    let name = format!("p.{ext}");
    ws.write(&name, plain);
    let ours = ws.keytap(["encrypt", "--age", &ws.recipient, &name]);
    let theirs = ws.sops(["encrypt", "--age", &ws.recipient, &name]);
    if ours.code != theirs.code {
        diffs.push(format!(
            "encrypt exit {} vs sops {}: {} / {}",
            ours.code, theirs.code, ours.stderr, theirs.stderr
        ));
        return diffs;
    }
    if ours.code != 0 {
        return diffs;
    }
    // sops writes an INI file's metadata in Go's map order, which changes from run to run.
    let masked = |data: &[u8]| {
        let text = mask_random(data);
        if ext != "ini" {
            return text;
        }
        let mut lines: Vec<&str> = text.lines().collect();
        lines.sort_unstable();
        lines.join("\n")
    };
    if masked(&ours.stdout) != masked(&theirs.stdout) {
        diffs.push(format!(
            "encrypted files differ:\n{}\n--- sops:\n{}",
            mask_random(&ours.stdout),
            mask_random(&theirs.stdout)
        ));
    }
    let extract = first_key_path(plain, ext == "json");
    for (file, data) in [("k", &ours.stdout), ("s", &theirs.stdout)] {
        let enc = format!("{file}.enc.{ext}");
        ws.write(&enc, data);
        let mut runs = vec![vec!["decrypt".to_string(), enc.clone()]];
        if let Some(path) = &extract {
            runs.push(vec![
                "decrypt".into(),
                "--extract".into(),
                path.clone(),
                enc.clone(),
            ]);
        }
        for args in runs {
            let ours = ws.keytap(&args);
            let theirs = ws.sops(&args);
            if ours.code != theirs.code || ours.stdout != theirs.stdout {
                diffs.push(format!(
                    "{args:?} of the {file} file: exit {} vs sops {}\n{}\n--- sops:\n{}\n{}",
                    ours.code,
                    theirs.code,
                    ours.out(),
                    theirs.out(),
                    ours.stderr
                ));
            }
        }
    }
    diffs
}

const DOTENV_VALUES: &[&str] = &[
    "v",
    "",
    "a b",
    "\"quoted\"",
    "'single'",
    "x=y",
    "é🔑",
    "#not",
    "a #b",
    " lead",
    "multi\\nline",
    "$VAR",
    "1",
    "true",
    "\"unterminated",
];
const FLAT_KEYS: &[&str] = &[
    "K",
    "key",
    "A_B",
    "k.v",
    "dup",
    "dup",
    "x-y",
    "lower",
    "k_unencrypted",
];

fn dotenv_doc(seed: u64) -> String {
    let mut r = Rng::new(seed);
    let mut out = String::new();
    for _ in 0..1 + r.below(6) {
        match r.below(8) {
            0 => out.push_str(r.pick(&["#", "# comment", "#K=v"])),
            1 => {}
            _ => out.push_str(&format!("{}={}", r.pick(FLAT_KEYS), r.pick(DOTENV_VALUES))),
        }
        out.push('\n');
    }
    out
}

fn ini_doc(seed: u64) -> String {
    let mut r = Rng::new(seed);
    let mut out = String::new();
    for _ in 0..1 + r.below(3) {
        if r.chance(20) {
            out.push_str(r.pick(&["; note\n", "# note\n"]));
        }
        out.push_str(&format!(
            "[{}]\n",
            r.pick(&["s", "sec", "DEFAULT", "a b", "dup", "dup"])
        ));
        for _ in 0..r.below(4) {
            let sep = r.pick(&["=", " = ", ": "]);
            out.push_str(&format!(
                "{}{sep}{}\n",
                r.pick(FLAT_KEYS),
                r.pick(DOTENV_VALUES)
            ));
        }
    }
    out
}

/// `default`, or the range `KEYTAP_DIFF_SEEDS` names (`START..END`) for a longer sweep
/// than CI runs.
fn seeds(default: std::ops::Range<u64>) -> std::ops::Range<u64> {
    let Ok(range) = std::env::var("KEYTAP_DIFF_SEEDS") else {
        return default;
    };
    let parsed = range
        .split_once("..")
        .and_then(|(start, end)| Some(start.parse().ok()?..end.parse().ok()?));
    parsed.unwrap_or_else(|| panic!("KEYTAP_DIFF_SEEDS={range}: expected START..END"))
}

fn run_seeds(ext: &str, seeds: std::ops::Range<u64>, doc: fn(u64) -> String) {
    let ws = Workspace::new();
    let mut failures = Vec::new();
    for seed in seeds {
        let plain = doc(seed);
        for diff in compare(&ws, ext, &plain) {
            failures.push(format!("seed {seed}, document:\n{plain}\n{diff}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn random_yaml_documents_agree_with_sops_both_ways() {
    run_seeds("yaml", seeds(0..80), yaml_doc);
}

#[test]
fn random_json_documents_agree_with_sops_both_ways() {
    run_seeds("json", seeds(0..50), json_doc);
}

#[test]
fn random_dotenv_and_ini_files_agree_with_sops_both_ways() {
    run_seeds("env", seeds(0..30), dotenv_doc);
    run_seeds("ini", seeds(0..30), ini_doc);
}

const SET_VALUES: &[&str] = &[
    "\"str\"",
    "1",
    "-1",
    "1.5",
    "true",
    "null",
    "{\"a\": 1}",
    "[1, \"x\"]",
    "{}",
    "[]",
    "\"multi\\nline\"",
    "not json",
    "\"é🔑\"",
    "-0",
];

/// One random `set` or `unset` on the same encrypted file by each tool: the same exit
/// code, and the same plaintext when sops decrypts the results. (Where sops panics, keytap
/// refuses cleanly instead; those paths are left out of the generator.)
#[test]
fn random_set_and_unset_agree_with_sops() {
    let ws = Workspace::new();
    let mut failures = Vec::new();
    for seed in seeds(0..60) {
        let plain = yaml_doc(seed);
        ws.write("p.yaml", &plain);
        let enc = ws.keytap(["encrypt", "--age", &ws.recipient, "p.yaml"]);
        if enc.code != 0 {
            continue;
        }
        let mut r = Rng::new(seed + 1000);
        let key = first_key_path(&plain, false).unwrap_or_else(|| "[\"k1\"]".into());
        let path = match r.below(7) {
            0 => key,
            1 => format!("{key}[\"new\"]"),
            2 => "[\"fresh\"][0]".into(),
            3 => "[0]".into(),
            // A negative index makes a new list, as a positive one does.
            4 => "[\"fresh\"][-1][\"k\"]".into(),
            5 => format!("{key}[-2]"),
            _ => "[\"fresh\"]".into(),
        };
        let mut args = vec!["set", "f.yaml", &path];
        let value = r.pick(SET_VALUES);
        if r.chance(25) {
            args[0] = "unset";
        } else {
            args.push(value);
        }
        ws.write("f.yaml", &enc.stdout);
        let ours = ws.keytap(&args);
        let ours_plain = ws.sops(["decrypt", "f.yaml"]);
        ws.write("f.yaml", &enc.stdout);
        let theirs = ws.sops(&args);
        let theirs_plain = ws.sops(["decrypt", "f.yaml"]);
        if theirs.code == 2 {
            continue; // a Go panic in sops
        }
        if ours.code != theirs.code || ours_plain.stdout != theirs_plain.stdout {
            failures.push(format!(
                "seed {seed}: {args:?} exit {} vs sops {} ({} / {})\n{}\n--- sops:\n{}",
                ours.code,
                theirs.code,
                ours.stderr.trim(),
                theirs.stderr.trim(),
                ours_plain.out(),
                theirs_plain.out()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
