//! `updatekeys`: same data key, recipients and groups from `.sops.yaml`.
//!
//! First every file's metadata is compared with its creation rule (nothing is decrypted
//! for files already up to date, as in sops); then the files that change are decrypted
//! together, so a token is asked for its PIN once however many files; then each change is
//! shown, confirmed (unless `-y`) and written. `--dry-run` stops after showing.

use std::io::{BufRead, Write};
use std::path::PathBuf;

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
fn describe_changes(meta: &Metadata, rule: &Rule) -> Option<String> {
    let old: Vec<Vec<String>> = meta.key_groups.iter().map(|g| describe_group(g)).collect();
    let new: Vec<Vec<String>> = rule.key_groups.iter().map(|g| describe_group(g)).collect();
    if old == new && (rule.shamir_threshold == 0 || rule.shamir_threshold == meta.shamir_threshold)
    {
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
    let old_t = meta.shamir_threshold;
    let new_t = if rule.shamir_threshold != 0 {
        rule.shamir_threshold
    } else {
        old_t
    };
    let shamir_line = if old_t == new_t {
        if new_t > 0 {
            format!("shamir_threshold: {new_t}\n")
        } else {
            String::new()
        }
    } else {
        format!("+++ shamir_threshold: {new_t}\n--- shamir_threshold: {old_t}\n")
    };
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
    // Pass 1: which files change (metadata only).
    let mut changing: Vec<(PathBuf, Rule, String)> = Vec::new();
    for file in files {
        // sops: a missing config and a file no rule matches are generic errors (exit 1).
        let rule = crate::config_rules::creation_rule(file)?.ok_or_else(|| {
            CliError::new(
                exit_code::GENERIC,
                "config file not found, or has no creation rule for this file",
            )
        })?;
        context::check_target(&common, file, true)?;
        let f = context::formats(&common, file, crate::rules::store_options()?)?;
        let enc =
            context::parse_encrypted(&*f.input_store, file, context::read_input(file)?.into())?;
        match describe_changes(&enc.metadata, &rule) {
            None => eprintln!(
                "File {} already up to date",
                context::absolute(file).display()
            ),
            Some(diff) => changing.push((file.clone(), rule, diff)),
        }
    }
    if dry_run {
        for (file, _, diff) in &changing {
            print!("{}:\n{diff}", context::absolute(file).display());
        }
        return Ok(0);
    }
    if changing.is_empty() {
        return Ok(0);
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
            eprintln!(
                "File {} already up to date",
                context::absolute(file).display()
            );
            continue;
        };
        print!("{diff}");
        if !yes && !confirmed()? {
            eprintln!("File {} left unchanged", context::absolute(file).display());
            continue;
        }
        open.metadata.key_groups = updated_groups(&open.metadata, rule);
        if rule.shamir_threshold != 0 {
            open.metadata.shamir_threshold = rule.shamir_threshold;
        }
        if open.metadata.key_groups.len() < 2 {
            open.metadata.shamir_threshold = 0;
        }
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
        eprintln!(
            "File {} synced with new keys",
            context::absolute(file).display()
        );
    }
    Ok(0)
}
