//! `updatekeys`: same data key, recipients and groups from `.sops.yaml`.
//!
//! First every file's metadata is compared with its creation rule (nothing is decrypted
//! for files already up to date, as in sops); then the files that change are decrypted
//! together, so a token is asked for its PIN once however many files; then each change is
//! shown, confirmed (unless `-y`) and written. `--dry-run` stops after showing.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use keytap_core::error::exit_code;
use keytap_core::metadata::{KeyGroup, MasterKey, Metadata};
use keytap_core::safefs::replace::Contents;

use crate::args::CommonArgs;
use crate::config_rules::Rule;
use crate::context;
use crate::error::CliError;
use crate::open::{open_files, OpenMode, Opened};
use crate::output::{write_file, Destination};

/// The keys of a group as sops lists them (defused: a file's metadata may hold any text).
fn describe_group(g: &[MasterKey]) -> Vec<String> {
    g.iter()
        .map(|k| keytap_core::plugin::defuse(&k.describe()))
        .collect()
}

/// What sops prints before changing a file's groups (on stdout, the shamir line first).
/// The threshold sops gives a file whose groups become the rule's: the file's own (not
/// the rule's), at most the number of groups.
fn new_threshold(meta: &Metadata, rule: &Rule) -> usize {
    meta.shamir_threshold.min(rule.key_groups.len())
}

fn describe_changes(meta: &Metadata, rule: &Rule) -> Option<String> {
    let old: Vec<Vec<String>> = meta.key_groups.iter().map(|g| describe_group(g)).collect();
    let new: Vec<Vec<String>> = rule.key_groups.iter().map(|g| describe_group(g)).collect();
    let (old_t, new_t) = (meta.shamir_threshold, new_threshold(meta, rule));
    if old == new && old_t == new_t {
        return None;
    }
    let mut diff = String::new();
    for (i, group) in new.iter().enumerate() {
        diff.push_str(&format!("Group {}\n", i + 1));
        let before = old.get(i).cloned().unwrap_or_default();
        for k in before.iter().filter(|k| group.contains(k)) {
            diff.push_str(&format!("    {k}\n"));
        }
        for k in group.iter().filter(|k| !before.contains(k)) {
            diff.push_str(&format!("+++ {k}\n"));
        }
        for k in before.iter().filter(|k| !group.contains(k)) {
            diff.push_str(&format!("--- {k}\n"));
        }
    }
    for (i, group) in old.iter().enumerate().skip(new.len()) {
        diff.push_str(&format!("Group {}\n", i + 1));
        for k in group {
            diff.push_str(&format!("--- {k}\n"));
        }
    }
    // sops's PrettyPrintShamirDiff.
    let mut shamir_line = String::new();
    if old_t > 0 && old_t == new_t {
        shamir_line = format!("shamir_threshold: {new_t}\n");
    } else {
        if new_t > 0 {
            shamir_line.push_str(&format!("+++ shamir_threshold: {new_t}\n"));
        }
        if old_t > 0 {
            shamir_line.push_str(&format!("--- shamir_threshold: {old_t}\n"));
        }
    }
    Some(format!(
        "The following changes will be made to the file's groups:\n{shamir_line}{diff}"
    ))
}

/// The rule's groups, keeping the wrapped key of every master key that stays.
fn updated_groups(meta: &Metadata, rule: &Rule) -> Vec<KeyGroup> {
    let mut groups = rule.key_groups.clone();
    for (gi, group) in groups.iter_mut().enumerate() {
        for key in group.iter_mut() {
            let prev = meta
                .key_groups
                .get(gi)
                .and_then(|g| g.iter().find(|k| k.describe() == key.describe()));
            if let Some(prev) = prev {
                *key = prev.clone();
            }
        }
    }
    groups
}

/// sops's prompt: asks until the answer is `y` or `n`; like Go's `fmt.Scanln`, an empty
/// line, two words or the end of input is an error (exit 1), not a "no".
fn confirmed() -> Result<bool, CliError> {
    let mut stdin = std::io::stdin().lock();
    loop {
        print!("Is this okay? (y/n):");
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        let read = stdin.read_line(&mut answer);
        let words: Vec<&str> = answer.split_whitespace().collect();
        let problem = match (read, words.as_slice()) {
            (Ok(0), _) => "EOF",
            (Err(_), _) => "could not read the answer",
            (Ok(_), []) => "unexpected newline",
            (Ok(_), [word]) if *word == "y" => return Ok(true),
            (Ok(_), [word]) if *word == "n" => return Ok(false),
            (Ok(_), [_]) => continue,
            (Ok(_), _) => "expected newline",
        };
        return Err(CliError::new(exit_code::GENERIC, problem));
    }
}

/// Runs `updatekeys [-y] [--dry-run] FILE...`.
pub fn run(
    yes: bool,
    dry_run: bool,
    input_type: Option<&str>,
    files: &[PathBuf],
) -> Result<i32, CliError> {
    let common = CommonArgs {
        input_type: input_type.map(String::from),
        ..CommonArgs::default()
    };
    // sops: the config is looked for before the arguments are counted.
    if crate::config_rules::load_config()?.is_none() {
        return Err(CliError::new(exit_code::GENERIC, "config file not found"));
    }
    if files.is_empty() {
        return Err(CliError::new(
            exit_code::NO_FILE_SPECIFIED,
            "Error: no file specified",
        ));
    }
    // Pass 1: which files change (metadata only). As in sops, a file that fails is the
    // error when it is the only one; among several, it is reported, the others go on, and
    // the run fails at the end.
    let mut changing: Vec<(PathBuf, Rule, String)> = Vec::new();
    let mut failed = 0;
    for file in files {
        match plan(&common, file) {
            Ok(Some(change)) => changing.push(change),
            Ok(None) => {}
            Err(e) if files.len() == 1 => return Err(e),
            Err(e) => {
                eprintln!("{}", e.message);
                failed += 1;
            }
        }
    }
    let finish = |failed: usize| match failed {
        0 => Ok(0),
        n => Err(CliError::new(
            exit_code::GENERIC,
            format!("failed updating {n} key(s)"),
        )),
    };
    if dry_run {
        for (file, _, diff) in &changing {
            print!("{}:\n{diff}", context::absolute(file).display());
        }
        return finish(failed);
    }
    if changing.is_empty() {
        return finish(failed);
    }
    // Pass 2: decrypt every changing file at once (one session per plugin), under locks.
    let paths: Vec<PathBuf> = changing.iter().map(|(p, _, _)| p.clone()).collect();
    // sops's updatekeys loads without the version check.
    let mode = OpenMode {
        check_version: false,
        ..OpenMode::CHANGE
    };
    let opened = open_files(&common, &paths, false, mode)?;
    let sources = context::wrapping_sources();
    for ((file, rule, _), o) in changing.iter().zip(opened) {
        let Opened {
            mut open,
            formats: f,
            lock,
        } = o;
        // The file may have changed between the passes; show what will really happen.
        let Some(diff) = describe_changes(&open.metadata, rule) else {
            log(format!(
                "File {} already up to date",
                context::absolute(file).display()
            ));
            continue;
        };
        print!("{diff}");
        if !yes && !confirmed()? {
            log(format!(
                "File {} left unchanged",
                context::absolute(file).display()
            ));
            continue;
        }
        open.metadata.shamir_threshold = new_threshold(&open.metadata, rule);
        open.metadata.key_groups = updated_groups(&open.metadata, rule);
        open.wrap_new_keys(&sources)
            .map_err(|e| CliError::from(e).in_file(file))?;
        let sealed = open.into_sealed()?;
        let out = sealed.emit(&*f.output_store, f.output)?;
        write_file(
            file,
            &out,
            Contents::Encrypted,
            Destination::Updatekeys,
            lock.is_some(),
        )?;
        drop(lock);
        log(format!(
            "File {} synced with new keys",
            context::absolute(file).display()
        ));
    }
    finish(failed)
}

/// What `updatekeys` would change in `file`, sops's checks in sops's order: the file must
/// exist and not be a directory, then it is read, then its creation rule is found.
fn plan(common: &CommonArgs, file: &Path) -> Result<Option<(PathBuf, Rule, String)>, CliError> {
    let abs = context::absolute(file);
    let meta = std::fs::metadata(&abs).map_err(|e| {
        CliError::new(
            exit_code::GENERIC,
            format!("stat {}: {}", abs.display(), context::io_reason(&e)),
        )
    })?;
    if meta.is_dir() {
        return Err(CliError::new(
            exit_code::GENERIC,
            "can't operate on a directory",
        ));
    }
    context::check_target(common, file, true)?;
    let f = context::formats(common, file, crate::rules::store_options()?)?;
    log(format!("Syncing keys for file {}", abs.display()));
    let enc = context::parse_encrypted(&*f.input_store, file, context::read_input(file)?.into())?;
    let rule = crate::config_rules::creation_rule(file)?.ok_or_else(|| {
        CliError::new(
            exit_code::GENERIC,
            "config file not found, or has no creation rule for this file",
        )
    })?;
    Ok(match describe_changes(&enc.metadata, &rule) {
        None => {
            log(format!("File {} already up to date", abs.display()));
            None
        }
        Some(diff) => Some((file.to_path_buf(), rule, diff)),
    })
}

/// A line of sops's standard logger (stderr, after the date and time).
fn log(line: String) {
    eprintln!("{}", keytap_core::goerr::log_line(&line));
}
