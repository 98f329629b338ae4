//! Go (RE2) regular expressions on the `regex` crate, matching as Go's `regexp` does
//! (`path_regex` and the `*_regex` encryption rules).

use regex::Regex;

/// Compiles a Go (RE2) regular expression with the `regex` crate so that it matches like
/// Go's `regexp`. Use it for `path_regex` and for the `*_regex` encryption rules.
///
/// Differences bridged: Go's Perl classes `\d`, `\w`, `\s` (and negations) and the word
/// boundaries `\b`/`\B` are ASCII-only, the `regex` crate's are Unicode-aware, so they are
/// rewritten to ASCII forms; inside a bracket expression Go takes `[`, `&` and `~`
/// literally, while the `regex` crate would read nested classes or set operations, so
/// they are escaped (POSIX classes like `[:alpha:]` are kept); octal escapes (`\123`) are
/// enabled as in Go. Everything else is the same syntax.
pub fn go_regex(pattern: &str) -> Result<Regex, regex::Error> {
    regex::RegexBuilder::new(&translate_go_regex(pattern))
        .octal(true)
        .build()
}

fn translate_go_regex(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    let mut class_start = false; // just after '[' or '[^': a ']' there is literal
    while let Some(c) = chars.next() {
        let at_class_start = std::mem::replace(&mut class_start, false);
        match c {
            '\\' => {
                let Some(n) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let rep = match (n, in_class) {
                    ('d', false) => "[0-9]",
                    ('d', true) => "0-9",
                    ('D', _) => "[^0-9]",
                    ('w', false) => "[0-9A-Za-z_]",
                    ('w', true) => "0-9A-Za-z_",
                    ('W', _) => "[^0-9A-Za-z_]",
                    ('s', false) => "[\\t\\n\\x0C\\r ]",
                    ('s', true) => "\\t\\n\\x0C\\r ",
                    ('S', _) => "[^\\t\\n\\x0C\\r ]",
                    ('b', false) => "(?-u:\\b)",
                    ('B', false) => "(?-u:\\B)",
                    _ => {
                        out.push('\\');
                        out.push(n);
                        continue;
                    }
                };
                out.push_str(rep);
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    out.push('^');
                }
                class_start = true;
            }
            '[' => {
                if chars.peek() == Some(&':') {
                    // A POSIX class such as [:alpha:]: copy it through its closing ":]".
                    let rest: String = chars.clone().collect();
                    if let Some(end) = rest.find(":]") {
                        out.push('[');
                        out.push_str(&rest[..end + 2]);
                        for _ in 0..rest[..end + 2].chars().count() {
                            chars.next();
                        }
                        continue;
                    }
                }
                out.push_str("\\[");
            }
            ']' if in_class && !at_class_start => {
                in_class = false;
                out.push(']');
            }
            '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// One-line text of a `regex` error (the crate's syntax errors span several lines).
pub(crate) fn regex_error_text(e: &regex::Error) -> String {
    let text = e.to_string();
    match text.lines().rev().find(|l| l.starts_with("error: ")) {
        Some(l) => l["error: ".len()..].to_string(),
        None => text.lines().collect::<Vec<_>>().join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_regex_uses_ascii_perl_classes() {
        let re = go_regex(r"^\d+$").unwrap();
        assert!(re.is_match("123"));
        assert!(!re.is_match("١٢٣")); // Arabic-Indic digits are \d only in Unicode mode
        assert!(go_regex(r"^[\d_]+$").unwrap().is_match("1_2"));
        assert!(!go_regex(r"^[\d_]+$").unwrap().is_match("1_٢"));
        assert!(go_regex(r"^\w+$").unwrap().is_match("abc_1"));
        assert!(!go_regex(r"^\w+$").unwrap().is_match("é"));
        assert!(go_regex(r"^\W$").unwrap().is_match("é"));
        assert!(go_regex(r"a\sb").unwrap().is_match("a b"));
        assert!(!go_regex(r"a\sb").unwrap().is_match("a\u{a0}b"));
        assert!(go_regex(r"\bfoo\b").unwrap().is_match("x foo y"));
        assert!(go_regex(r"\\d").unwrap().is_match(r"\d"));
        assert!(go_regex(r"[]a]").unwrap().is_match("]"));
        assert!(go_regex(r"[^]a]").unwrap().is_match("b"));
        assert!(go_regex(r"[[:alpha:]\d]+").unwrap().is_match("a1"));
        assert!(go_regex(r"\.ya?ml$").unwrap().is_match("x.yml"));
        assert!(go_regex("(").is_err());
        // Go reads '[' and '&' literally inside a class (no nesting or set operations).
        let re = go_regex(r"^[[a]]$").unwrap();
        assert!(re.is_match("[]") && re.is_match("a]") && !re.is_match("a"));
        assert!(go_regex(r"^[a&&b]+$").unwrap().is_match("a&b"));
        assert!(go_regex(r"^[~~x]$").unwrap().is_match("~"));
        // Octal escapes.
        assert!(go_regex(r"^\101$").unwrap().is_match("A"));
        assert_eq!(translate_go_regex(r"[\d\s]\D"), r"[0-9\t\n\x0C\r ][^0-9]");
    }
}
