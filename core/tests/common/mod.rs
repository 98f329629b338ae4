//! Shared harness for the store tests: runs the real `sops` (3.11) as the oracle with a
//! throw-away age key, and walks the data corpora under `tests/data/<format>/`.
//!
//! Corpus naming: `bad_*` files are malformed for sops and keytap alike; `strict_*` files
//! are rejected by keytap on purpose although sops accepts them; every other file is a
//! valid input that must round-trip byte for byte.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use keytap_core::stores::Store;

/// A temporary directory with an age identity, used for every sops run.
pub struct Sops {
    dir: tempfile::TempDir,
    key_file: PathBuf,
    recipient: String,
}

static SOPS: OnceLock<Sops> = OnceLock::new();
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The shared oracle. Panics (failing the test) when `sops` or `age-keygen` is missing:
/// these tests are meaningless without the real sops.
pub fn sops() -> &'static Sops {
    SOPS.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let key_file = dir.path().join("key.txt");
        let status = Command::new("age-keygen")
            .arg("-o")
            .arg(&key_file)
            .output()
            .expect("age-keygen must be on PATH for the store tests");
        assert!(status.status.success(), "age-keygen failed");
        let out = Command::new("age-keygen")
            .arg("-y")
            .arg(&key_file)
            .output()
            .expect("age-keygen -y");
        let recipient = String::from_utf8(out.stdout)
            .expect("utf8")
            .trim()
            .to_string();
        let version = Command::new("sops")
            .arg("--version")
            .arg("--disable-version-check")
            .output()
            .expect("sops must be on PATH for the store tests");
        let v = String::from_utf8_lossy(&version.stdout);
        assert!(
            v.starts_with("sops 3.11"),
            "the oracle must be sops 3.11, got {v:?}"
        );
        Sops {
            dir,
            key_file,
            recipient,
        }
    })
}

impl Sops {
    fn fresh_path(&self, ext: &str) -> PathBuf {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        self.dir.path().join(format!("f{n}.{ext}"))
    }

    /// Writes `input` to a fresh file with extension `ext` and returns its path.
    fn write_fresh(&self, ext: &str, input: &[u8]) -> String {
        let path = self.fresh_path(ext);
        std::fs::write(&path, input).expect("write input");
        path.into_os_string().into_string().expect("utf8 path")
    }

    /// Runs sops in the private directory (so no `.sops.yaml` is picked up).
    fn run(&self, args: &[&str]) -> Result<Vec<u8>, String> {
        self.run_in(self.dir.path(), args)
    }

    /// Runs sops in `dir` (where a `.sops.yaml` may decide the keys) with the harness key and
    /// none of the caller's sops settings; returns stdout or the error text.
    pub fn run_in(&self, dir: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
        let out = Command::new("sops")
            .args(args)
            .current_dir(dir)
            .env("SOPS_AGE_KEY_FILE", &self.key_file)
            .env_remove("SOPS_AGE_KEY")
            .env_remove("SOPS_AGE_RECIPIENTS")
            .env_remove("SOPS_CONFIG")
            .output()
            .map_err(|e| format!("running sops: {e}"))?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// `sops encrypt` of `input` as format `ty`; `indent` uses sops's global `--indent`.
    pub fn encrypt(
        &self,
        input: &[u8],
        ty: &str,
        indent: Option<usize>,
    ) -> Result<Vec<u8>, String> {
        let path = self.write_fresh("in", input);
        let indent_s = indent.map(|i| i.to_string());
        let mut args = command_args(indent_s.as_deref(), "-e", "encrypt");
        args.extend([
            "--age",
            &self.recipient,
            "--input-type",
            ty,
            "--output-type",
            ty,
            &path,
        ]);
        self.run(&args)
    }

    /// The age recipient of the harness key.
    pub fn recipient(&self) -> &str {
        &self.recipient
    }

    /// `sops encrypt` in a fresh directory holding `config` as `.sops.yaml` (no `--age`:
    /// the creation rule decides the keys, key groups, Shamir threshold and rules).
    pub fn encrypt_with_config(
        &self,
        input: &[u8],
        ty: &str,
        config: &str,
    ) -> Result<Vec<u8>, String> {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = self.dir.path().join(format!("cfg{n}"));
        std::fs::create_dir(&dir).expect("config dir");
        std::fs::write(dir.join(".sops.yaml"), config).expect("write config");
        let path = dir.join(format!("input.{ty}"));
        std::fs::write(&path, input).expect("write input");
        let path = path.to_str().expect("utf8 path");
        self.run_in(
            &dir,
            &["encrypt", "--input-type", ty, "--output-type", ty, path],
        )
    }

    /// `sops decrypt` of `input` (format `in_ty`) written as `out_ty`.
    pub fn decrypt(
        &self,
        input: &[u8],
        in_ty: &str,
        out_ty: &str,
        indent: Option<usize>,
        extract: Option<&str>,
    ) -> Result<Vec<u8>, String> {
        let path = self.write_fresh("enc", input);
        let indent_s = indent.map(|i| i.to_string());
        let mut args = command_args(indent_s.as_deref(), "-d", "decrypt");
        if let Some(x) = extract {
            args.extend(["--extract", x]);
        }
        args.extend(["--input-type", in_ty, "--output-type", out_ty, &path]);
        self.run(&args)
    }
}

/// The start of a command line: with an indent, the legacy flag form (`--indent` exists
/// only there) with `flag`, else the subcommand `command`.
fn command_args<'a>(indent: Option<&'a str>, flag: &'a str, command: &'a str) -> Vec<&'a str> {
    match indent {
        Some(i) => vec!["--indent", i, flag],
        None => vec![command],
    }
}

/// The corpus files of one format, sorted by name.
pub fn corpus(format: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(format);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

pub fn name(p: &Path) -> String {
    p.file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned()
}

pub fn is_valid(p: &Path) -> bool {
    let n = name(p);
    !n.starts_with("bad_") && !n.starts_with("strict_")
}

/// Shows bytes readably in assertion messages.
pub fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Asserts an error message is one non-empty line.
pub fn assert_one_line(msg: &str, context: &str) {
    assert!(!msg.is_empty(), "{context}: empty error message");
    assert!(
        !msg.contains('\n') && !msg.contains('\r'),
        "{context}: multi-line error: {msg:?}"
    );
}

/// (a) keytap's load_plain + emit_plain equals `sops decrypt` of `sops encrypt`.
/// Returns the sops-encrypted file for further checks.
pub fn check_plain_round_trip(
    store: &dyn Store,
    ty: &str,
    input: &[u8],
    indent: Option<usize>,
) -> Result<Vec<u8>, String> {
    let encrypted = sops()
        .encrypt(input, ty, indent)
        .map_err(|e| format!("sops encrypt failed: {e}"))?;
    let expected = sops()
        .decrypt(&encrypted, ty, ty, indent, None)
        .map_err(|e| format!("sops decrypt failed: {e}"))?;
    let docs = store
        .load_plain(input)
        .map_err(|e| format!("load_plain failed: {e}"))?;
    let ours = store
        .emit_plain(&docs)
        .map_err(|e| format!("emit_plain failed: {e}"))?;
    if ours != expected {
        return Err(format!(
            "plaintext differs from sops\n--- sops:\n{}\n--- keytap:\n{}",
            show(&expected),
            show(&ours)
        ));
    }
    Ok(encrypted)
}

/// (b) keytap's load_encrypted + emit_encrypted reproduces the sops-encrypted file.
/// `normalize` lets a format canonicalise parts sops writes in random order.
pub fn check_encrypted_round_trip(
    store: &dyn Store,
    encrypted: &[u8],
    normalize: fn(&[u8]) -> String,
) -> Result<(), String> {
    let (docs, metadata) = store
        .load_encrypted(encrypted)
        .map_err(|e| format!("load_encrypted failed: {e}"))?;
    let metadata = metadata.ok_or("no metadata found")?;
    let ours = store
        .emit_encrypted(&docs, &metadata)
        .map_err(|e| format!("emit_encrypted failed: {e}"))?;
    if normalize(&ours) != normalize(encrypted) {
        return Err(format!(
            "encrypted file differs from sops\n--- sops:\n{}\n--- keytap:\n{}",
            show(encrypted),
            show(&ours)
        ));
    }
    Ok(())
}

/// Least number of valid files a format's corpus needs for its round trip to mean anything.
const MIN_VALID_FILES: usize = 12;

/// Runs (a) and (b) over every valid corpus file of `format` (also its sops type), and
/// checks there were at least [`MIN_VALID_FILES`] of them.
pub fn round_trip_corpus(store: &dyn Store, format: &str, normalize: fn(&[u8]) -> String) {
    let mut failures = Vec::new();
    let mut n = 0;
    for path in corpus(format).into_iter().filter(|p| is_valid(p)) {
        n += 1;
        let input = std::fs::read(&path).expect("read corpus file");
        let result = check_plain_round_trip(store, format, &input, None)
            .and_then(|enc| check_encrypted_round_trip(store, &enc, normalize));
        if let Err(e) = result {
            failures.push(format!("{}: {e}", name(&path)));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n} files failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(
        n >= MIN_VALID_FILES,
        "the {format} corpus needs at least {MIN_VALID_FILES} valid files, has {n}"
    );
}

/// Every `bad_*` file is refused by keytap and by sops; every `strict_*` file is refused
/// by keytap (sops accepts those, a documented difference). Errors are one line. There
/// must be at least `min_files` such files.
pub fn malformed_corpus(store: &dyn Store, format: &str, min_files: usize) {
    let mut failures = Vec::new();
    let mut n = 0;
    for path in corpus(format) {
        let label = name(&path);
        let bad = label.starts_with("bad_");
        let strict = label.starts_with("strict_");
        if !bad && !strict {
            continue;
        }
        n += 1;
        let input = std::fs::read(&path).expect("read corpus file");
        match store.load_plain(&input) {
            Ok(_) => failures.push(format!("{label}: keytap accepted it")),
            Err(e) if e.message.is_empty() || e.message.contains('\n') => {
                failures.push(format!("{label}: error is not one line: {:?}", e.message))
            }
            Err(_) => {}
        }
        if store.load_encrypted(&input).is_ok() {
            failures.push(format!("{label}: keytap load_encrypted accepted it"));
        }
        let sops_result = sops().encrypt(&input, format, None);
        if bad && sops_result.is_ok() {
            failures.push(format!(
                "{label}: sops accepted a bad_ file; rename it strict_"
            ));
        }
        if strict && sops_result.is_err() {
            failures.push(format!(
                "{label}: sops refuses a strict_ file; rename it bad_"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        n >= min_files,
        "the {format} corpus needs at least {min_files} malformed files, has {n}"
    );
}

/// sops writes the `[sops]` keys of an INI file in Go's random map order; keytap sorts
/// them. Compare everything before `[sops]` exactly and the section's lines as a sorted set.
pub fn sort_ini_sops_section(b: &[u8]) -> String {
    let s = show(b);
    match s.rfind("\n[sops]\n") {
        Some(i) => {
            let (head, section) = s.split_at(i + "\n[sops]\n".len());
            let mut lines: Vec<&str> = section.lines().collect();
            lines.sort();
            format!("{head}{}", lines.join("\n"))
        }
        None => s,
    }
}

pub fn identity(b: &[u8]) -> String {
    show(b)
}

/// A small deterministic generator (xorshift64*) for the random-input loops.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Random byte strings biased towards a format's syntax characters, plus corpus files
/// with random bytes flipped, inserted, or cut off.
pub fn fuzz_inputs(format: &str, alphabet: &[u8], count: usize) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(0x6b65_7974_6170 ^ format.len() as u64);
    let seeds: Vec<Vec<u8>> = corpus(format)
        .iter()
        .map(|p| std::fs::read(p).expect("read"))
        .collect();
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let mut v: Vec<u8> = if i % 2 == 0 || seeds.is_empty() {
            let len = rng.below(200);
            (0..len)
                .map(|_| {
                    if rng.below(4) == 0 {
                        rng.next() as u8
                    } else {
                        alphabet[rng.below(alphabet.len())]
                    }
                })
                .collect()
        } else {
            seeds[rng.below(seeds.len())].clone()
        };
        for _ in 0..rng.below(6) {
            if v.is_empty() {
                break;
            }
            let pos = rng.below(v.len());
            match rng.below(4) {
                0 => v[pos] = rng.next() as u8,
                1 => v.insert(pos, alphabet[rng.below(alphabet.len())]),
                2 => v.truncate(pos),
                _ => {
                    v.remove(pos);
                }
            }
        }
        out.push(v);
    }
    out
}

/// Feeds every input to all store entry points; any panic fails the test. Whatever
/// loads must also emit without panicking.
pub fn fuzz_store(store: &dyn Store, inputs: &[Vec<u8>]) {
    for input in inputs {
        match store.load_plain(input) {
            Ok(docs) => {
                let _ = store.emit_plain(&docs);
                let _ = store.emit_encrypted(&docs, &Vec::new());
            }
            Err(e) => assert_one_line(&e.message, "fuzz load_plain"),
        }
        match store.load_encrypted(input) {
            Ok((docs, md)) => {
                let _ = store.emit_encrypted(&docs, &md.unwrap_or_default());
            }
            Err(e) => assert_one_line(&e.message, "fuzz load_encrypted"),
        }
    }
}
