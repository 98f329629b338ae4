//! Flags as Go's `flag` package reads them: sops's (through urfave/cli), ssh-to-pgp's and
//! sops-install-secrets's.
//!
//! Go takes a long flag after one dash (`-decrypt`, `-check-mode=manifest`,
//! `-private-key`) and a boolean with a value (`-ignore-passwd=false`); clap reads
//! `-check-mode` as the short flags `-c -h -e ...` and refuses a value on a boolean, so
//! such arguments are rewritten into clap's spelling first. `install-secrets`, whose Go
//! flags also end at its first argument, has a table of its own ([`INSTALL_SECRETS`]);
//! every other command is rewritten from its own clap definitions.

use std::ffi::OsString;

/// One command's Go flags: each Go name with its clap spelling.
pub struct GoFlags {
    /// Flags that take a value.
    pub values: &'static [(&'static str, &'static str)],
    /// Boolean flags.
    pub bools: &'static [(&'static str, &'static str)],
    /// Boolean flags that default to true: clap's spelling takes `=true` or `=false`.
    pub true_bools: &'static [(&'static str, &'static str)],
}

/// sops-install-secrets's flags, and keytap's key-service flags beside them (not in its
/// usage text, as they are not sops-nix's).
pub const INSTALL_SECRETS: GoFlags = GoFlags {
    values: &[
        ("check-mode", "--check-mode"),
        ("keyservice", "--keyservice"),
        ("decryption-order", "--decryption-order"),
    ],
    bools: &[("ignore-passwd", "--ignore-passwd")],
    true_bools: &[("enable-local-keyservice", "--enable-local-keyservice")],
};

/// A flag argument (`-name`, `--name`, either with `=value`): the flag without its
/// dashes, its name and its value.
fn split_flag(text: &str) -> (&str, &str, Option<&str>) {
    let flag = text.strip_prefix("--").unwrap_or(&text[1..]);
    match flag.split_once('=') {
        Some((name, value)) => (flag, name, Some(value)),
        None => (flag, flag, None),
    }
}

/// A boolean flag as Go reads it: bare or with a true value, clap's `spelling`; with a
/// false value, nothing; with anything else, the argument as it was, for clap to refuse.
/// `value` is the flag's value read by `strconv.ParseBool`, if it has one.
fn push_bool(
    out: &mut Vec<OsString>,
    spelling: OsString,
    value: Option<Option<bool>>,
    arg: OsString,
) {
    match value {
        None | Some(Some(true)) => out.push(spelling),
        Some(Some(false)) => {}
        Some(None) => out.push(arg),
    }
}

/// `args` (the whole command line, `args[1]` being the command) with Go-style flags
/// rewritten for clap. A value goes with its flag as `FLAG=VALUE` (Go takes the next
/// argument whatever it looks like). Like Go, the flags end at `--` or at the first
/// argument that is not a flag: what follows is all arguments, so a `--` is put before it
/// for clap (then `m.json -ignore-passwd` is two manifests, as in Go, not a flag).
/// Anything unrecognised before it is left for clap to report.
pub fn rewrite(args: Vec<OsString>, flags: &GoFlags) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len());
    let mut rest = args.into_iter();
    out.extend(rest.by_ref().take(2));
    while let Some(arg) = rest.next() {
        let Some(text) = arg.to_str() else {
            out.push(arg);
            break;
        };
        if text == "--" {
            out.push(arg);
            break;
        }
        if !text.starts_with('-') || text == "-" {
            out.push("--".into());
            out.push(arg);
            break;
        }
        let (_, name, value) = split_flag(text);
        let spelling = |table: &[(&str, &'static str)]| {
            table
                .iter()
                .find(|(go, _)| *go == name)
                .map(|(_, clap)| *clap)
        };
        if let Some(clap) = spelling(flags.values) {
            let value = match value {
                Some(v) => OsString::from(v),
                None => match rest.next() {
                    Some(next) => next,
                    None => {
                        // Go: "flag needs an argument"; clap says it in its words.
                        out.push(clap.into());
                        break;
                    }
                },
            };
            let mut joined = OsString::from(format!("{clap}="));
            joined.push(value);
            out.push(joined);
        } else if let Some(clap) = spelling(flags.bools) {
            let value = value.map(keytap_core::cipher::parse_go_bool);
            push_bool(&mut out, clap.into(), value, arg);
        } else if let Some(clap) = spelling(flags.true_bools) {
            // Its value is read as sops reads the flag's (strconv.ParseBool).
            out.push(format!("{clap}={}", value.unwrap_or("true")).into());
        } else if matches!((name, value), ("h" | "help", None)) {
            out.push("--help".into());
        } else {
            out.push(arg);
        }
    }
    out.extend(rest);
    out
}

/// Whether an argument may be a Go spelling clap does not read: one dash before a long
/// name (`-decrypt`), or a value joined to a long flag (`--in-place=false`).
fn may_be_go_spelling(arg: &OsString) -> bool {
    let Some(text) = arg.to_str() else {
        return false;
    };
    match text.strip_prefix("--") {
        Some(long) => long.contains('='),
        None => text.strip_prefix('-').is_some_and(|rest| {
            rest.len() > 1 && rest.starts_with(|c: char| c.is_ascii_alphabetic())
        }),
    }
}

/// sops's flags as Go's flag package reads them, for every sops command: a long flag with
/// one dash (`-decrypt`, `-extract '["a"]'`), and a boolean flag with a value
/// (`--in-place=false`, `-ignore-mac=true`: any strconv.ParseBool spelling). Both are
/// rewritten into clap's spelling, using `root`'s argument definitions for the command
/// the line names; anything else (short flags, unknown names, values) is left for clap.
/// The definitions are only built when an argument may need it.
///
/// Go has no short-flag clusters: `-di` is a flag named `di`, and an unknown one is a
/// usage error (clap would read `-d -i` and decrypt in place).
pub fn rewrite_go_spellings(
    args: Vec<OsString>,
    root: impl FnOnce() -> clap::Command,
) -> Result<Vec<OsString>, clap::Error> {
    let ends = args.iter().position(|a| a == "--").unwrap_or(args.len());
    let is_flag = |arg: &OsString| arg.as_encoded_bytes().starts_with(b"-") && arg != "-";
    // `--extract -d`: Go takes the next argument as a flag's value whatever it looks like.
    let flag_after_flag = args[..ends]
        .windows(2)
        .any(|w| is_flag(&w[0]) && is_flag(&w[1]));
    if !flag_after_flag && !args[..ends].iter().skip(1).any(may_be_go_spelling) {
        return Ok(args);
    }
    let mut root = root();
    root.build();
    let mut command = &root;
    let mut out = Vec::with_capacity(args.len());
    let mut rest = args.into_iter();
    out.extend(rest.next());
    while let Some(arg) = rest.next() {
        let Some(text) = arg.to_str() else {
            out.push(arg);
            continue;
        };
        if text == "--" {
            out.push(arg);
            break;
        }
        if !text.starts_with('-') || text == "-" {
            let sub = command.find_subcommand(text);
            out.push(arg);
            match sub {
                Some(sub) => command = sub,
                // The legacy form's file: what follows is not read as flags (see
                // `end_flags_at_first_argument`).
                None if std::ptr::eq(command, &root) => break,
                None => {}
            }
            continue;
        }
        let (flag, name, value) = split_flag(text);
        let mut short = name.chars();
        let defined = match (short.next(), short.next()) {
            // `-d=true`, `-a=age1...`: a one-letter flag given its value.
            (Some(letter), None) if value.is_some() => {
                let short_flag = command
                    .get_arguments()
                    .find(|a| a.get_short() == Some(letter));
                match (short_flag, value) {
                    (Some(flag), Some(value)) if flag.get_action().takes_values() => {
                        match flag.get_long() {
                            Some(long) => out.push(format!("--{long}={value}").into()),
                            None => out.push(arg),
                        }
                        continue;
                    }
                    (flag, _) => flag,
                }
            }
            (Some(letter), None) => {
                let short_flag = command
                    .get_arguments()
                    .find(|a| a.get_short() == Some(letter));
                match short_flag.filter(|a| a.get_action().takes_values()) {
                    Some(flag) => push_with_value(&mut out, flag, arg, rest.next()),
                    None => out.push(arg),
                }
                continue;
            }
            _ => long_flag(command, name),
        };
        let Some(defined) = defined else {
            if text.starts_with("--") {
                out.push(arg);
                continue;
            }
            let message = format!("flag provided but not defined: -{name}");
            return Err(command
                .clone()
                .error(clap::error::ErrorKind::UnknownArgument, message));
        };
        if defined.get_action().takes_values() {
            let spelled: OsString = format!("--{flag}").into();
            match value.is_some() || defined.is_require_equals_set() {
                true => out.push(spelled),
                false => push_with_value(&mut out, defined, spelled, rest.next()),
            }
            continue;
        }
        let spelling = match defined.get_long() {
            Some(long) => format!("--{long}"),
            None => format!("-{name}"),
        };
        let value = value.map(keytap_core::cipher::parse_go_bool);
        push_bool(&mut out, spelling.into(), value, arg);
    }
    out.extend(rest);
    Ok(out)
}

/// Flag argument `arg` of `flag` and its value, the next argument whatever it looks like:
/// one that starts with a dash is joined to the flag's long name (`--extract=-d`), which
/// clap reads as a value.
fn push_with_value(
    out: &mut Vec<OsString>,
    flag: &clap::Arg,
    arg: OsString,
    value: Option<OsString>,
) {
    match (value, flag.get_long()) {
        (Some(value), Some(long)) if value.as_encoded_bytes().starts_with(b"-") => {
            let mut joined = OsString::from(format!("--{long}="));
            joined.push(value);
            out.push(joined);
        }
        (value, _) => out.extend(std::iter::once(arg).chain(value)),
    }
}

/// sops's legacy form (`sops -d FILE`, no command): urfave/cli reads the app's flags only
/// up to the first positional argument (a command's flags are reordered first, the app's
/// are not), so `sops -d f.yaml --output-type json` ignores the flag, with a warning. A
/// `--` is put after the first positional argument for clap to read the rest as
/// arguments too. The definitions are only built when a flag may follow an argument.
pub fn end_flags_at_first_argument(
    mut args: Vec<OsString>,
    root: impl FnOnce() -> clap::Command,
) -> Vec<OsString> {
    let is_flag = |arg: &OsString| {
        let bytes = arg.as_encoded_bytes();
        bytes.starts_with(b"-") && bytes != b"-"
    };
    let ends = args.iter().position(|a| a == "--").unwrap_or(args.len());
    // Cheap first: something flag-like (a `--` too) after what may be an argument.
    let maybe_argument = args[1..ends].iter().position(|a| !is_flag(a));
    let flag_after = maybe_argument.is_some_and(|i| args[i + 2..].iter().any(is_flag));
    if !flag_after {
        return args;
    }
    let mut root = root();
    root.build();
    let mut first = 1;
    while first < ends && is_flag(&args[first]) {
        let takes_next = args[first]
            .to_str()
            .is_some_and(|text| takes_the_next_argument(&root, text));
        first += 1 + usize::from(takes_next);
    }
    // `keytap --verbose decrypt ...`: global flags, then a command (no legacy form).
    let names_a_command = || {
        args[first]
            .to_str()
            .is_some_and(|name| root.find_subcommand(name).is_some())
    };
    if first < ends && first + 1 < args.len() && !names_a_command() {
        args.insert(first + 1, "--".into());
    }
    args
}

/// `command`'s argument named `--name` (or one of its aliases).
fn long_flag<'a>(command: &'a clap::Command, name: &str) -> Option<&'a clap::Arg> {
    command.get_arguments().find(|a| {
        a.get_long() == Some(name) || a.get_all_aliases().is_some_and(|all| all.contains(&name))
    })
}

/// Whether flag argument `text` of `command` takes its value from the next argument.
fn takes_the_next_argument(command: &clap::Command, text: &str) -> bool {
    let separate_value =
        |arg: &clap::Arg| arg.get_action().takes_values() && !arg.is_require_equals_set();
    if let Some(long) = text.strip_prefix("--") {
        return !long.contains('=') && long_flag(command, long).is_some_and(separate_value);
    }
    // A cluster of short flags: the first that takes a value takes the rest of the
    // cluster, or the next argument when it ends the cluster.
    let shorts: Vec<char> = text[1..].chars().collect();
    for (i, c) in shorts.iter().enumerate() {
        let Some(arg) = command.get_arguments().find(|a| a.get_short() == Some(*c)) else {
            return false;
        };
        if arg.get_action().takes_values() {
            return i + 1 == shorts.len() && separate_value(arg);
        }
    }
    false
}

/// An integer flag's value as Go's flag package reads it (`strconv.ParseInt(s, 0, 64)`):
/// an optional sign, then decimal, or `0x`/`0b`/`0o` or a leading `0` (octal) for the
/// base, with `_` allowed between digits and after the base prefix. sops's `--indent`
/// and `--shamir-secret-sharing-threshold` are read so: `--indent 010` is 8.
pub fn parse_go_int(text: &str) -> Result<i64, String> {
    let bad = || format!("invalid value {text:?}: parse error");
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = unsigned.to_ascii_lowercase();
    let (radix, digits, prefixed) = if let Some(rest) = lower.strip_prefix("0x") {
        (16, rest, true)
    } else if let Some(rest) = lower.strip_prefix("0b") {
        (2, rest, true)
    } else if let Some(rest) = lower.strip_prefix("0o") {
        (8, rest, true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..], true)
    } else {
        (10, lower.as_str(), false)
    };
    // Underscores only between digits, or between the prefix and a digit (Go's
    // underscoreOK).
    let underscores_ok =
        !digits.ends_with('_') && !digits.contains("__") && (prefixed || !digits.starts_with('_'));
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    if clean.is_empty() || !underscores_ok || clean.starts_with(['+', '-']) {
        return Err(bad());
    }
    let magnitude = u64::from_str_radix(&clean, radix).map_err(|_| bad())?;
    if negative {
        0i64.checked_sub_unsigned(magnitude).ok_or_else(bad)
    } else {
        i64::try_from(magnitude).map_err(|_| bad())
    }
}

/// [`parse_go_int`] for a count (`--shamir-secret-sharing-threshold`): not negative.
pub fn parse_go_count(text: &str) -> Result<usize, String> {
    let n = parse_go_int(text)?;
    usize::try_from(n).map_err(|_| format!("invalid value {text:?}: a count is not negative"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(args: &[&str]) -> Vec<String> {
        let line = ["keytap", "install-secrets"].iter().chain(args);
        rewrite(line.map(OsString::from).collect(), &INSTALL_SECRETS)
            .into_iter()
            .skip(2)
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn go_spellings_become_clap_spellings() {
        assert_eq!(
            rewritten(&["-check-mode=manifest", "m.json"]),
            ["--check-mode=manifest", "--", "m.json"]
        );
        assert_eq!(
            rewritten(&["-check-mode", "sopsfile", "-ignore-passwd", "m.json"]),
            ["--check-mode=sopsfile", "--ignore-passwd", "--", "m.json"]
        );
        assert_eq!(
            rewritten(&["--check-mode", "off", "--ignore-passwd=T", "m.json"]),
            ["--check-mode=off", "--ignore-passwd", "--", "m.json"]
        );
        assert_eq!(
            rewritten(&["-ignore-passwd=false", "m.json"]),
            ["--", "m.json"]
        );
        assert_eq!(rewritten(&["-help"]), ["--help"]);
        // keytap's key-service flags, as the home-manager module passes them; local keys
        // are used unless the flag says false.
        assert_eq!(
            rewritten(&[
                "-enable-local-keyservice=false",
                "-keyservice",
                "unix:///run/k.sock",
                "m.json"
            ]),
            [
                "--enable-local-keyservice=false",
                "--keyservice=unix:///run/k.sock",
                "--",
                "m.json"
            ]
        );
        assert_eq!(
            rewritten(&[
                "-enable-local-keyservice",
                "-decryption-order=age",
                "m.json"
            ]),
            [
                "--enable-local-keyservice=true",
                "--decryption-order=age",
                "--",
                "m.json"
            ]
        );
    }

    #[test]
    fn flags_end_where_go_ends_them_and_the_rest_is_untouched() {
        // After the manifest everything is an argument (so two manifests, as Go sees
        // them); after `--` too; a value that looks like a flag is the value, as in Go;
        // an unknown flag and a bad boolean are left for clap to report.
        assert_eq!(
            rewritten(&["m.json", "-ignore-passwd"]),
            ["--", "m.json", "-ignore-passwd"]
        );
        assert_eq!(rewritten(&["--", "-m.json"]), ["--", "-m.json"]);
        assert_eq!(
            rewritten(&["-check-mode", "-ignore-passwd", "m.json"]),
            ["--check-mode=-ignore-passwd", "--", "m.json"]
        );
        assert_eq!(
            rewritten(&["-bogus=unix:///s", "-ignore-passwd=maybe", "m.json"]),
            ["-bogus=unix:///s", "-ignore-passwd=maybe", "--", "m.json"]
        );
    }

    /// A rewrite of keytap's whole command line, given its definitions.
    type Rewrite = fn(Vec<OsString>, fn() -> clap::Command) -> Vec<OsString>;

    /// `args` after the program name, as `rewrite` leaves them for keytap's command line.
    fn keytap_line(args: &[&str], rewrite: Rewrite) -> Vec<String> {
        let all = std::iter::once("keytap").chain(args.iter().copied());
        let root: fn() -> clap::Command = <crate::args::Cli as clap::CommandFactory>::command;
        rewrite(all.map(OsString::from).collect(), root)
            .into_iter()
            .skip(1)
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn sops_commands_take_go_spellings() {
        let line = |args: &[&str]| keytap_line(args, |a, r| rewrite_go_spellings(a, r).unwrap());
        assert_eq!(
            line(&["-decrypt", "-extract", "[\"a\"]", "-output-type=json", "f"]),
            [
                "--decrypt",
                "--extract",
                "[\"a\"]",
                "--output-type=json",
                "f"
            ]
        );
        assert_eq!(
            line(&["decrypt", "--ignore-mac=true", "-in-place=false", "f"]),
            ["decrypt", "--ignore-mac", "f"]
        );
        assert_eq!(
            line(&["encrypt", "-age", "-x", "--in-place=0", "f"]),
            ["encrypt", "--age=-x", "f"]
        );
        // Short flags, unknown long names, bad booleans and what follows `--` stay.
        assert_eq!(
            line(&["-d", "--zz", "--ignore-mac=maybe", "--", "-decrypt"]),
            ["-d", "--zz", "--ignore-mac=maybe", "--", "-decrypt"]
        );
        // A flag's value is taken whatever it looks like; the legacy form's flags end at
        // its file.
        assert_eq!(
            line(&["-a", "-decrypt", "-d", "f", "-zz", "-in-place"]),
            ["--age=-decrypt", "-d", "f", "-zz", "-in-place"]
        );
        assert_eq!(
            line(&["decrypt", "--extract", "-d", "-output-type", "-", "f"]),
            ["decrypt", "--extract=-d", "--output-type=-", "f"]
        );
        assert_eq!(line(&["decrypt", "f"]), ["decrypt", "f"]);
        // A one-letter boolean with a value, as Go reads it.
        assert_eq!(line(&["-d=true", "-i=false", "f"]), ["--decrypt", "f"]);
        // A flag whose value must be joined takes nothing from the next argument.
        assert_eq!(
            line(&["decrypt", "-enable-local-keyservice", "-in-place=1", "f"]),
            ["decrypt", "--enable-local-keyservice", "--in-place", "f"]
        );
    }

    #[test]
    fn a_cluster_of_short_flags_is_an_unknown_go_flag() {
        let refused = |args: &[&str]| {
            let all = std::iter::once("keytap").chain(args.iter().copied());
            let root = <crate::args::Cli as clap::CommandFactory>::command;
            let error = rewrite_go_spellings(all.map(OsString::from).collect(), root)
                .expect_err("a usage error");
            assert_eq!(error.kind(), clap::error::ErrorKind::UnknownArgument);
            error.to_string()
        };
        assert!(refused(&["-di", "f"]).contains("flag provided but not defined: -di"));
        assert!(refused(&["decrypt", "-di", "f"]).contains("-di"));
        assert!(refused(&["decrypt", "f", "-zz=1"]).contains("-zz"));
        assert!(refused(&["groups", "add", "-xyz"]).contains("-xyz"));
    }

    #[test]
    fn the_legacy_forms_flags_end_at_its_first_argument() {
        let line = |args: &[&str]| keytap_line(args, end_flags_at_first_argument);
        assert_eq!(
            line(&["-d", "f", "--output-type", "json"]),
            ["-d", "f", "--", "--output-type", "json"]
        );
        // Flag values are not the first argument, whether long, joined or short.
        assert_eq!(
            line(&["--output-type", "json", "-d", "f", "-i"]),
            ["--output-type", "json", "-d", "f", "--", "-i"]
        );
        assert_eq!(
            line(&["--output-type=json", "-di", "f", "x"]),
            ["--output-type=json", "-di", "f", "x"]
        );
        assert_eq!(
            line(&["-d", "f", "--", "-x"]),
            ["-d", "f", "--", "--", "-x"]
        );
        assert_eq!(line(&["-d", "--", "f", "-x"]), ["-d", "--", "f", "-x"]);
        assert_eq!(line(&["-d", "f"]), ["-d", "f"]);
        // Global flags before a command.
        assert_eq!(
            line(&["--verbose", "keyservice", "--network", "unix"]),
            ["--verbose", "keyservice", "--network", "unix"]
        );
    }

    #[test]
    fn integers_are_read_as_go_reads_them() {
        for (text, want) in [
            ("4", 4),
            ("010", 8),
            ("0x1F", 31),
            ("0b101", 5),
            ("0o17", 15),
            ("0x_1f", 31),
            ("1_000", 1000),
            ("0_10", 8),
            ("-0x10", -16),
            ("+7", 7),
            ("0", 0),
            ("-9223372036854775808", i64::MIN),
        ] {
            assert_eq!(parse_go_int(text), Ok(want), "{text}");
        }
        for text in [
            "",
            "-",
            "0x",
            "08",
            "1__0",
            "0x1_",
            "_1",
            "abc",
            "9223372036854775808",
            "--1",
        ] {
            assert!(parse_go_int(text).is_err(), "{text}");
        }
    }
}
