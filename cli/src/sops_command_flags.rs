//! A sops command's flags as sops 3.11 reads them (urfave/cli v1 over Go's `flag`), where
//! that differs from clap:
//!
//! - Only the command's own flags are flags: `sops decrypt --verbose f` is a usage error
//!   (`--verbose` belongs before the command), as is any flag the command lacks.
//! - urfave first moves the command's flags (and the argument after each, unless that is
//!   one of them) in front of everything else; Go's `flag` then reads flags up to the
//!   first argument that is not one, and urfave refuses both names of one flag (`-i
//!   --in-place`). So a flag the command lacks is an argument once an
//!   argument came before it (`decrypt f --verbose` warns and ignores it), and a boolean
//!   flag followed by the file takes the file along, making every flag after it an
//!   argument too (`decrypt --ignore-mac f --output-type json` prints YAML).
//!
//! The line is rewritten into what Go ends up with: the flags, then `--` and the
//! arguments. Lines clap reads the same way are left alone.

use std::ffi::OsString;

/// One sops command's flags: names (with their aliases) that take a value, and booleans.
struct CommandFlags {
    command: &'static str,
    values: &'static [&'static str],
    bools: &'static [&'static str],
}

/// Flags every command below has: urfave's help and sops's key-service flags.
const COMMON_BOOLS: &[&str] = &["help", "h", "enable-local-keyservice"];
const COMMON_VALUES: &[&str] = &["keyservice"];

/// The key flags of encrypt and edit; `hckms` is sops 3.12's.
const NEW_FILE_KEYS: &[&str] = &[
    "kms",
    "k",
    "aws-profile",
    "gcp-kms",
    "hckms",
    "azure-kv",
    "hc-vault-transit",
    "pgp",
    "p",
    "age",
    "a",
    "input-type",
    "output-type",
    "unencrypted-suffix",
    "encrypted-suffix",
    "unencrypted-regex",
    "encrypted-regex",
    "encryption-context",
    "shamir-secret-sharing-threshold",
];

/// rotate's key changes (sops 3.11's app flags too); `hckms` is sops 3.12's.
const KEY_CHANGES: &[&str] = &[
    "add-gcp-kms",
    "rm-gcp-kms",
    "add-hckms",
    "rm-hckms",
    "add-azure-kv",
    "rm-azure-kv",
    "add-kms",
    "rm-kms",
    "add-hc-vault-transit",
    "rm-hc-vault-transit",
    "add-age",
    "rm-age",
    "add-pgp",
    "rm-pgp",
];

/// sops 3.11's commands (3.13's additions too: `hckms`, exec-*'s `--decryption-order`)
/// and keytap's own additions (`decrypt --output-dir`).
const COMMANDS: &[CommandFlags] = &[
    CommandFlags {
        command: "encrypt",
        values: &["output", "filename-override"],
        bools: &["in-place", "i"],
    },
    CommandFlags {
        command: "decrypt",
        values: &[
            "extract",
            "output",
            "input-type",
            "output-type",
            "filename-override",
            "decryption-order",
            "output-dir",
        ],
        bools: &["in-place", "i", "ignore-mac"],
    },
    CommandFlags {
        command: "rotate",
        values: &[
            "output",
            "input-type",
            "output-type",
            "encryption-context",
            "filename-override",
            "decryption-order",
        ],
        bools: &["in-place", "i"],
    },
    CommandFlags {
        command: "set",
        values: &[
            "input-type",
            "output-type",
            "shamir-secret-sharing-threshold",
            "decryption-order",
        ],
        bools: &["value-file", "value-stdin", "ignore-mac", "idempotent"],
    },
    CommandFlags {
        command: "unset",
        values: &[
            "input-type",
            "output-type",
            "shamir-secret-sharing-threshold",
            "decryption-order",
        ],
        bools: &["ignore-mac", "idempotent"],
    },
    CommandFlags {
        command: "publish",
        values: &["decryption-order"],
        bools: &["yes", "y", "omit-extensions", "recursive", "verbose"],
    },
    CommandFlags {
        command: "filestatus",
        values: &["input-type"],
        bools: &[],
    },
    CommandFlags {
        command: "exec-env",
        values: &["user", "decryption-order"],
        bools: &["background", "pristine", "same-process"],
    },
    CommandFlags {
        command: "exec-file",
        values: &[
            "user",
            "input-type",
            "output-type",
            "filename",
            "decryption-order",
        ],
        bools: &["background", "no-fifo"],
    },
    CommandFlags {
        command: "edit",
        values: &["decryption-order"],
        bools: &["show-master-keys", "s", "ignore-mac"],
    },
];

impl CommandFlags {
    /// Whether `name` is one of the command's flags, and whether it takes a value.
    fn lookup(&self, name: &str) -> Option<bool> {
        let key_flags = match self.command {
            "encrypt" | "edit" => NEW_FILE_KEYS,
            "rotate" => KEY_CHANGES,
            _ => &[],
        };
        if self.values.contains(&name) || COMMON_VALUES.contains(&name) || key_flags.contains(&name)
        {
            Some(true)
        } else if self.bools.contains(&name) || COMMON_BOOLS.contains(&name) {
            Some(false)
        } else {
            None
        }
    }
}

/// sops's own (app) flags that take a value, besides [`NEW_FILE_KEYS`] and [`KEY_CHANGES`];
/// they may come before the command.
const APP_VALUES: &[&str] = &[
    "extract",
    "unencrypted-comment-regex",
    "encrypted-comment-regex",
    "config",
    "set",
    "indent",
    "output",
    "filename-override",
    "decryption-order",
    "keyservice",
];

/// Flags with two names (urfave refuses both forms on one line); the app's and the
/// commands'.
const TWO_FORMS: &[(&str, &str)] = &[
    ("decrypt", "d"),
    ("encrypt", "e"),
    ("rotate", "r"),
    ("version", "v"),
    ("in-place", "i"),
    ("kms", "k"),
    ("pgp", "p"),
    ("age", "a"),
    ("show-master-keys", "s"),
    ("help", "h"),
    ("yes", "y"),
];

/// The flag's name as urfave's `argIsFlag` sees it (`--name=v`, `-name`, `---name`), if
/// `arg` looks like a flag.
fn flag_name(arg: &str) -> Option<&str> {
    if arg == "-" || arg == "--" || !arg.starts_with('-') {
        return None;
    }
    let bare = arg.strip_prefix("--").unwrap_or(arg);
    let bare = bare.strip_prefix('-').unwrap_or(bare);
    Some(bare.split('=').next().unwrap_or(bare))
}

/// The usage error sops (urfave/cli over Go's flag package) gives.
fn usage_error(message: String) -> clap::Error {
    clap::Command::new("keytap").error(clap::error::ErrorKind::UnknownArgument, message)
}

/// Go's flag package refuses `---name`, `-=x` and the like.
fn refuse_bad_syntax(arg: &str) -> Result<(), clap::Error> {
    let name = arg.strip_prefix("--").unwrap_or(&arg[1..]);
    match name.starts_with('-') || name.starts_with('=') || name.is_empty() {
        true => Err(usage_error(format!("bad flag syntax: {arg}"))),
        false => Ok(()),
    }
}

/// urfave's check that a flag with two names is not given under both.
fn refuse_two_forms<'a>(
    names: impl IntoIterator<Item = &'a str> + Clone,
) -> Result<(), clap::Error> {
    let given = |wanted: &str| names.clone().into_iter().any(|n| n == wanted);
    match TWO_FORMS
        .iter()
        .find(|(long, short)| given(long) && given(short))
    {
        Some((long, short)) => Err(usage_error(format!(
            "Cannot use two forms of the same flag: {short} {long}"
        ))),
        None => Ok(()),
    }
}

/// `args` (the whole line) as sops reads a command's flags (see the module's
/// documentation), or the usage error sops gives. The app's own flags before the command
/// are read as Go reads them too, to find the command.
pub fn read_as_sops(args: Vec<OsString>) -> Result<Vec<OsString>, clap::Error> {
    let text = |a: &OsString| a.to_str().map(str::to_owned).unwrap_or_default();
    // The app's flags: up to the first argument (the command, or the legacy form's file).
    let mut at = 1;
    let mut app_flags: Vec<String> = Vec::new();
    while let Some(arg) = args.get(at) {
        let arg_text = text(arg);
        let Some(name) = flag_name(&arg_text) else {
            break;
        };
        let takes_value = [APP_VALUES, NEW_FILE_KEYS, KEY_CHANGES]
            .iter()
            .any(|list| list.contains(&name));
        at += 1 + usize::from(takes_value && !arg_text.contains('='));
        app_flags.push(name.to_owned());
    }
    refuse_two_forms(app_flags.iter().map(String::as_str))?;
    let Some(flags) = args
        .get(at)
        .and_then(|a| a.to_str())
        .and_then(|name| COMMANDS.iter().find(|c| c.command == name))
    else {
        return Ok(args);
    };
    let is_flag = |a: &str| flag_name(a).is_some_and(|n| flags.lookup(n).is_some());
    // urfave's `reorderArgs`: the command's flags, each with the next argument unless that
    // is one of the flags, go first; a `--` goes in front of the rest, which keep their
    // order.
    let mut moved: Vec<&OsString> = Vec::new();
    let mut rest: Vec<&OsString> = Vec::new();
    let mut value_may_follow = false;
    for (i, arg) in args.iter().enumerate().skip(at + 1) {
        let arg_text = text(arg);
        if value_may_follow && !is_flag(&arg_text) {
            value_may_follow = false;
            moved.push(arg);
        } else if arg_text == "--" {
            rest.insert(0, arg);
            rest.extend(&args[i + 1..]);
            break;
        } else if is_flag(&arg_text) {
            moved.push(arg);
            value_may_follow = !arg_text.contains('=');
        } else {
            rest.push(arg);
        }
    }
    // Go's `flag.Parse`: flags up to the first argument or `--`; a flag's value is the next
    // argument whatever it looks like (joined to the flag when it starts with a dash, for
    // clap to take it as the value).
    let reordered: Vec<&OsString> = moved.into_iter().chain(rest).collect();
    let mut parsed_flags: Vec<OsString> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut joined = false;
    let mut i = 0;
    while let Some(arg) = reordered.get(i) {
        let arg_text = text(arg);
        if arg_text == "--" {
            i += 1;
            break;
        }
        let Some(name) = flag_name(&arg_text) else {
            break;
        };
        refuse_bad_syntax(&arg_text)?;
        let Some(takes_value) = flags.lookup(name) else {
            return Err(usage_error(format!(
                "flag provided but not defined: -{name}"
            )));
        };
        names.push(name.to_owned());
        i += 1;
        match reordered.get(i) {
            Some(value) if takes_value && !arg_text.contains('=') => {
                i += 1;
                if value.as_encoded_bytes().starts_with(b"-") {
                    let mut flag_and_value = (*arg).clone();
                    flag_and_value.push("=");
                    flag_and_value.push(value);
                    parsed_flags.push(flag_and_value);
                    joined = true;
                } else {
                    parsed_flags.extend([(*arg).clone(), (*value).clone()]);
                }
            }
            _ => parsed_flags.push((*arg).clone()),
        }
    }
    refuse_two_forms(names.iter().map(String::as_str))?;
    let arguments = &reordered[i..];
    // Unchanged when Go read the line in its own order and clap reads it alike: no
    // argument looks like a flag.
    let in_order = parsed_flags
        .iter()
        .chain(arguments.iter().copied())
        .eq(args[at + 1..].iter());
    let plain =
        |a: &&OsString| a.as_encoded_bytes() == b"-" || !a.as_encoded_bytes().starts_with(b"-");
    if in_order && !joined && arguments.iter().all(plain) {
        return Ok(args);
    }
    let mut out: Vec<OsString> = args[..=at].to_vec();
    out.extend(parsed_flags);
    out.push("--".into());
    out.extend(arguments.iter().map(|a| (*a).clone()));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(args: &[&str]) -> Result<Vec<String>, String> {
        let all = std::iter::once("keytap").chain(args.iter().copied());
        read_as_sops(all.map(OsString::from).collect())
            .map(|out| {
                out.into_iter()
                    .skip(1)
                    .map(|a| a.into_string().unwrap())
                    .collect()
            })
            .map_err(|e| e.to_string())
    }

    #[test]
    fn every_short_line_is_read_without_panic_and_keeps_its_arguments() {
        // Every line of up to four of these arguments, after each command.
        let tokens = [
            "f",
            "-",
            "--",
            "-i",
            "--ignore-mac",
            "--extract",
            "-extract=x",
            "-d",
            "--verbose",
            "--output-type",
            "-1",
            "=",
        ];
        let commands = ["decrypt", "set", "exec-env", "edit"];
        let mut line = Vec::new();
        for command in commands {
            for n in 0..=4u32 {
                for mut index in 0..tokens.len().pow(n) {
                    line.clear();
                    line.push(command);
                    for _ in 0..n {
                        line.push(tokens[index % tokens.len()]);
                        index /= tokens.len();
                    }
                    let Ok(out) = read(&line) else { continue };
                    assert_eq!(out[0], command, "{line:?}");
                    // Nothing is lost: every argument is there (a `--` aside), alone or as a
                    // value joined to its flag.
                    for arg in line.iter().filter(|a| **a != "--") {
                        let kept = out.iter().any(|o| {
                            o == arg
                                || o.split_once('=')
                                    .is_some_and(|(f, v)| f == *arg || v == *arg)
                        });
                        assert!(kept, "{line:?} -> {out:?}: {arg} lost");
                    }
                }
            }
        }
    }

    #[test]
    fn a_commands_flags_are_read_as_sops_reads_them() {
        // Lines clap reads alike stay as they are.
        for line in [
            &["decrypt", "f"][..],
            &["decrypt", "--output-type", "json", "f"],
            &["set", "--idempotent", "f", "[\"a\"]", "1"],
            &["groups", "add", "--verbose"],
        ] {
            assert_eq!(read(line).unwrap(), line, "{line:?}");
        }
        // A flag the command lacks, before any argument: sops's usage error.
        for line in [
            &["decrypt", "--verbose", "f"][..],
            &["encrypt", "--mac-only-encrypted", "f"],
            &["set", "-i", "f", "[\"a\"]", "1"],
            &["exec-env", "--input-type", "yaml", "f", "true"],
        ] {
            let error = read(line).unwrap_err();
            assert!(
                error.contains("flag provided but not defined: -"),
                "{line:?}: {error}"
            );
        }
        // Flags after the file are read first.
        assert_eq!(
            read(&["decrypt", "f", "--output-type", "json"]).unwrap(),
            ["decrypt", "--output-type", "json", "--", "f"]
        );
        // A value that starts with a dash (`--` too) is joined to its flag for clap.
        assert_eq!(
            read(&["decrypt", "--extract", "-d", "f"]).unwrap(),
            ["decrypt", "--extract=-d", "--", "f"]
        );
        assert_eq!(
            read(&["decrypt", "--output", "--", "f"]).unwrap(),
            ["decrypt", "--output=--", "--", "f"]
        );
        // The app's flags before the command are skipped to find it.
        assert_eq!(
            read(&[
                "--verbose",
                "--indent",
                "4",
                "decrypt",
                "--ignore-mac",
                "f",
                "-i"
            ])
            .unwrap(),
            [
                "--verbose",
                "--indent",
                "4",
                "decrypt",
                "--ignore-mac",
                "--",
                "f",
                "-i"
            ]
        );
        // Both names of one flag, or a third dash: urfave's and Go's usage errors.
        for (line, error) in [
            (
                &["decrypt", "-i", "--in-place=false", "f"][..],
                "two forms of the same flag: i in-place",
            ),
            (
                &["-d", "-i", "--in-place", "f"],
                "two forms of the same flag: i in-place",
            ),
            (
                &["encrypt", "--age", "x", "-a", "y", "f"],
                "two forms of the same flag: a age",
            ),
            (
                &["decrypt", "---output-type", "json", "f"],
                "bad flag syntax: ---output-type",
            ),
        ] {
            let refused = read(line).unwrap_err();
            assert!(refused.contains(error), "{line:?}: {refused}");
        }
        // A flag the command lacks after an argument is an argument.
        assert_eq!(
            read(&["decrypt", "f", "--verbose"]).unwrap(),
            ["decrypt", "--", "f", "--verbose"]
        );
        // A boolean takes the file along, and what follows is arguments.
        assert_eq!(
            read(&["decrypt", "--ignore-mac", "f", "--output-type", "json"]).unwrap(),
            [
                "decrypt",
                "--ignore-mac",
                "--",
                "f",
                "--output-type",
                "json"
            ]
        );
        // A flag's value is the next argument unless that is a flag of the command.
        assert_eq!(
            read(&["set", "f", "[\"a\"]", "-1"]).unwrap(),
            ["set", "--", "f", "[\"a\"]", "-1"]
        );
        // Flags come first: the file after a boolean is the first argument.
        assert_eq!(
            read(&["decrypt", "a", "-i", "b"]).unwrap(),
            ["decrypt", "-i", "--", "b", "a"]
        );
        // `--` goes in front of what is not a flag, and ends the flags.
        assert_eq!(
            read(&["decrypt", "f", "--", "--output-type", "json"]).unwrap(),
            ["decrypt", "--", "f", "--output-type", "json"]
        );
        assert_eq!(
            read(&["decrypt", "--verbose", "--", "f"]).unwrap(),
            ["decrypt", "--", "--verbose", "f"]
        );
        assert_eq!(
            read(&["decrypt", "-i", "--", "f"]).unwrap(),
            ["decrypt", "-i", "--", "f"]
        );
    }
}
