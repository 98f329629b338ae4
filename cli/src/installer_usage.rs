//! sops-install-secrets's command-line errors and usage, word for word: its Go `flag` set
//! refuses an unknown flag, a flag without its value or a boolean with a value
//! `strconv.ParseBool` does not take, prints the error and its usage on stderr and exits
//! 1 with the error again, prefixed by its name; `-h`/`-help` print the usage and exit 0.
//! (Valid lines go on to clap, through `go_flags::rewrite`.)

use std::ffi::OsString;

/// Whether the installer's flag `name` takes a value; `None` for no such flag.
fn takes_value(name: &str) -> Option<bool> {
    let go = &crate::go_flags::INSTALL_SECRETS;
    let named = |table: &[(&str, &str)]| table.iter().any(|(go_name, _)| *go_name == name);
    if named(go.values) {
        return Some(true);
    }
    (named(go.bools) || named(go.true_bools)).then_some(false)
}

/// sops-install-secrets's `fs.Usage`, after the program's name.
const USAGE_AFTER_NAME: &str = r#" [OPTION] manifest.json
  -check-mode string
    	Validate configuration without installing it (possible values: "manifest","sopsfile","off") (default "off")
  -ignore-passwd
    	Don't look up anything in /etc/passwd. Causes everything to be owned by root:root or the user executing the tool in user mode
"#;

/// What Go's flag set makes of a command line that it does not take.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `-h` or `-help`: the usage, exit 0.
    Help,
    /// Go's error message: the usage around it, exit 1.
    Error(String),
}

/// Reads the installer's arguments (after `install-secrets`) as Go's `FlagSet.Parse`;
/// `None` when it takes them.
pub fn refusal(args: &[OsString]) -> Option<Refusal> {
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let text = arg.to_string_lossy();
        if text == "--" || !text.starts_with('-') || text == "-" {
            return None;
        }
        let flag = text.strip_prefix("--").unwrap_or(&text[1..]);
        if flag.is_empty() || flag.starts_with(['-', '=']) {
            return Some(Refusal::Error(format!("bad flag syntax: {text}")));
        }
        let (name, value) = match flag.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (flag, None),
        };
        let Some(takes_value) = takes_value(name) else {
            return Some(match name {
                "h" | "help" => Refusal::Help,
                _ => Refusal::Error(format!("flag provided but not defined: -{name}")),
            });
        };
        match (takes_value, value) {
            (false, Some(v)) if keytap_core::cipher::parse_go_bool(v).is_none() => {
                return Some(Refusal::Error(format!(
                    "invalid boolean value {} for -{name}: parse error",
                    keytap_core::goerr::quote(v.as_bytes())
                )));
            }
            (true, None) if rest.next().is_none() => {
                return Some(Refusal::Error(format!("flag needs an argument: -{name}")));
            }
            _ => {}
        }
    }
    None
}

/// Prints what sops-install-secrets prints for `refusal`, as `program`; returns the exit
/// status.
pub fn report(refusal: &Refusal, program: &str) -> i32 {
    let usage = format!("Usage: {program}{USAGE_AFTER_NAME}");
    match refusal {
        Refusal::Help => {
            eprint!("{usage}");
            0
        }
        Refusal::Error(message) => {
            eprint!("{message}\n{usage}{program}: {message}\n");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(args: &[&str]) -> Option<Refusal> {
        refusal(&args.iter().map(OsString::from).collect::<Vec<_>>())
    }

    #[test]
    fn go_refuses_what_it_refuses_and_stops_at_the_first_argument() {
        let error = |m: &str| Some(Refusal::Error(m.into()));
        assert_eq!(
            read(&["-bogus", "m.json"]),
            error("flag provided but not defined: -bogus")
        );
        assert_eq!(
            read(&["--bogus=1"]),
            error("flag provided but not defined: -bogus")
        );
        assert_eq!(
            read(&["-check-mode"]),
            error("flag needs an argument: -check-mode")
        );
        assert_eq!(
            read(&["-ignore-passwd=maybe", "m.json"]),
            error("invalid boolean value \"maybe\" for -ignore-passwd: parse error")
        );
        assert_eq!(read(&["---x"]), error("bad flag syntax: ---x"));
        assert_eq!(read(&["-h"]), Some(Refusal::Help));
        assert_eq!(read(&["-help", "m.json"]), Some(Refusal::Help));
        for taken in [
            &["m.json", "-bogus"][..],
            &["-check-mode", "-bogus", "m.json"],
            &["-ignore-passwd=false", "--", "-bogus"],
            &[
                "--keyservice=unix:///s",
                "-enable-local-keyservice=0",
                "m.json",
            ],
            &[],
        ] {
            assert_eq!(read(taken), None, "{taken:?}");
        }
    }
}
