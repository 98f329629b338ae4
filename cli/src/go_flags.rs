//! sops-install-secrets's flags as Go's `flag` package reads them, for `install-secrets`.
//!
//! sops-nix calls its installer with single-dash long flags (`-check-mode=manifest`,
//! `-ignore-passwd`), and Go also takes `-check-mode manifest` and `-ignore-passwd=false`.
//! clap reads `-check-mode` as the short flags `-c -h -e ...`, so the flags before the
//! first argument that is not one are rewritten into clap's spelling first.

use std::ffi::OsString;

/// The flag that takes a value.
const CHECK_MODE: &str = "check-mode";
/// The boolean flag.
const IGNORE_PASSWD: &str = "ignore-passwd";

/// `args` (the whole command line, `args[1]` being `install-secrets`) with Go-style flags
/// rewritten for clap. Like Go, the flags end at `--` or at the first argument that is
/// not a flag: what follows is all arguments, so a `--` is put before it for clap (then
/// `m.json -ignore-passwd` is two manifests, as in Go, not a flag). Anything unrecognised
/// before it is left for clap to report.
pub fn rewrite(args: Vec<OsString>) -> Vec<OsString> {
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
        let flag = text.strip_prefix("--").unwrap_or(&text[1..]);
        let (name, value) = match flag.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (flag, None),
        };
        match (name, value) {
            (CHECK_MODE, Some(value)) => out.push(format!("--{CHECK_MODE}={value}").into()),
            (CHECK_MODE, None) => {
                out.push(format!("--{CHECK_MODE}").into());
                out.extend(rest.next());
            }
            (IGNORE_PASSWD, None) => out.push(format!("--{IGNORE_PASSWD}").into()),
            (IGNORE_PASSWD, Some(value)) => match keytap_core::cipher::parse_go_bool(value) {
                Some(true) => out.push(format!("--{IGNORE_PASSWD}").into()),
                Some(false) => {}
                None => out.push(arg),
            },
            ("h" | "help", None) => out.push("--help".into()),
            _ => out.push(arg),
        }
    }
    out.extend(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(args: &[&str]) -> Vec<String> {
        let line = ["keytap", "install-secrets"].iter().chain(args);
        rewrite(line.map(OsString::from).collect())
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
            [
                "--check-mode",
                "sopsfile",
                "--ignore-passwd",
                "--",
                "m.json"
            ]
        );
        assert_eq!(
            rewritten(&["--check-mode", "off", "--ignore-passwd=T", "m.json"]),
            ["--check-mode", "off", "--ignore-passwd", "--", "m.json"]
        );
        assert_eq!(
            rewritten(&["-ignore-passwd=false", "m.json"]),
            ["--", "m.json"]
        );
        assert_eq!(rewritten(&["-help"]), ["--help"]);
    }

    #[test]
    fn flags_end_where_go_ends_them_and_the_rest_is_untouched() {
        // After the manifest everything is an argument (so two manifests, as Go sees
        // them); after `--` too; a value that looks like a flag, an unknown flag and a bad
        // boolean are left for clap to accept or report.
        assert_eq!(
            rewritten(&["m.json", "-ignore-passwd"]),
            ["--", "m.json", "-ignore-passwd"]
        );
        assert_eq!(rewritten(&["--", "-m.json"]), ["--", "-m.json"]);
        assert_eq!(
            rewritten(&["-check-mode", "-ignore-passwd", "m.json"]),
            ["--check-mode", "-ignore-passwd", "--", "m.json"]
        );
        assert_eq!(
            rewritten(&["-keyservice=unix:///s", "-ignore-passwd=maybe", "m.json"]),
            [
                "-keyservice=unix:///s",
                "-ignore-passwd=maybe",
                "--",
                "m.json"
            ]
        );
    }
}
