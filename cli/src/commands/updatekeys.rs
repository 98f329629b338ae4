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
            eprintln!("File {} already up to date", crate::context::absolute(file));
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
        // sops prints the diff on stdout, the shamir line first.
        let old_t = open.metadata.shamir_threshold;
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
        print!("The following changes will be made to the file's groups:\n{shamir_line}{diff}");
        if !yes {
            print!("Is this okay? (y/n):");
            let _ = std::io::stdout().flush();
            let _ = std::io::stderr().flush();
            let mut answer = String::new();
            std::io::stdin().lock().read_line(&mut answer).ok();
            if answer.trim() != "y" {
                eprintln!("File {} left unchanged", crate::context::absolute(file));
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
        eprintln!(
            "File {} synced with new keys",
            crate::context::absolute(file)
        );
    }
    Ok(0)
}
