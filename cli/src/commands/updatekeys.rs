//! `updatekeys`: same data key, recipients and groups from `.sops.yaml`.

use std::io::{BufRead, Write};
use std::path::Path;

use keytap_core::error::exit_code;
use keytap_core::metadata::MasterKey;

use crate::args::CommonArgs;
use crate::commands::decrypt::open_file;
use crate::error::CliError;

fn describe_group(g: &[MasterKey]) -> Vec<String> {
    g.iter().map(|k| k.describe()).collect()
}

/// Runs `updatekeys [-y] FILE...`.
pub fn run(
    yes: bool,
    input_type: Option<&str>,
    files: &[String],
    config: Option<&str>,
) -> Result<i32, CliError> {
    for file in files {
        let common = CommonArgs {
            input_type: input_type.map(String::from),
            ..CommonArgs::default()
        };
        let rule = crate::config_rules::creation_rule(file, config)?.ok_or_else(|| {
            CliError::new(
                exit_code::CONFIG_FILE_NOT_FOUND,
                "config file not found, or has no creation rules",
            )
        })?;
        let (mut open, f) = open_file(&common, file, false)?;
        let old: Vec<Vec<String>> = open
            .metadata
            .key_groups
            .iter()
            .map(|g| describe_group(g))
            .collect();
        let new: Vec<Vec<String>> = rule.key_groups.iter().map(|g| describe_group(g)).collect();
        if old == new
            && (rule.shamir_threshold == 0
                || rule.shamir_threshold == open.metadata.shamir_threshold)
        {
            eprintln!("File {file} already up to date");
            continue;
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
        eprintln!("The following changes will be made to the file's groups:");
        eprint!("{diff}");
        if !yes {
            eprint!("Is this okay? (y/n):");
            let _ = std::io::stderr().flush();
            let mut answer = String::new();
            std::io::stdin().lock().read_line(&mut answer).ok();
            if answer.trim() != "y" {
                eprintln!("Changes not applied");
                continue;
            }
        }
        // Keep the wrapped key of every master key that stays, wrap for the new ones.
        let mut groups = rule.key_groups.clone();
        for (gi, group) in groups.iter_mut().enumerate() {
            for key in group.iter_mut() {
                let prev = open
                    .metadata
                    .key_groups
                    .get(gi)
                    .and_then(|g| g.iter().find(|k| k.describe() == key.describe()));
                if let Some(prev) = prev {
                    *key = prev.clone();
                }
            }
        }
        open.metadata.key_groups = groups;
        if rule.shamir_threshold != 0 {
            open.metadata.shamir_threshold = rule.shamir_threshold;
        }
        if open.metadata.key_groups.len() < 2 {
            open.metadata.shamir_threshold = 0;
        }
        open.wrap_new_keys().map_err(CliError::from)?;
        let sealed = open.seal()?;
        let out = sealed.emit(&*f.output_store, f.output)?;
        crate::output::write_atomic(Path::new(file), &out, 0o644)?;
        eprintln!("File {file} synced with new keys");
    }
    Ok(0)
}
