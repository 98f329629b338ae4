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
                if matches!(n, 'p' | 'P' | 'x') && chars.peek() == Some(&'{') {
                    // `\p{Greek}`, `\x{41}`: the braces belong to the escape.
                    out.push('\\');
                    out.push(n);
                    for b in chars.by_ref() {
                        out.push(b);
                        if b == '}' {
                            break;
                        }
                    }
                    continue;
                }
                if n == 'Q' && !in_class {
                    // `\Q...\E`: literal text, which the `regex` crate has no syntax for.
                    let mut literal = String::new();
                    while let Some(l) = chars.next() {
                        if l == '\\' && chars.peek() == Some(&'E') {
                            chars.next();
                            break;
                        }
                        literal.push(l);
                    }
                    out.push_str(&regex::escape(&literal));
                    continue;
                }
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
            // Go reads a `{` that does not start `{n}`, `{n,}` or `{n,m}` literally; the
            // `regex` crate refuses it.
            '{' if !in_class && !starts_repeat(chars.clone()) => out.push_str("\\{"),
            _ => out.push(c),
        }
    }
    out
}

/// Whether the text after a `{` makes it a repetition: `n}`, `n,}` or `n,m}`.
fn starts_repeat(mut rest: impl Iterator<Item = char>) -> bool {
    let mut digits = 0;
    let mut comma = false;
    for c in rest.by_ref() {
        match c {
            '0'..='9' => digits += 1,
            ',' if !comma && digits > 0 => {
                comma = true;
                digits = usize::MAX / 2; // the upper bound may be empty
            }
            '}' => return digits > 0,
            _ => return false,
        }
    }
    false
}

/// One-line text of a `regex` error (the crate's syntax errors span several lines).
pub(crate) fn regex_error_text(e: &regex::Error) -> String {
    let text = e.to_string();
    match text.lines().rev().find(|l| l.starts_with("error: ")) {
        Some(l) => l["error: ".len()..].to_string(),
        None => text.lines().collect::<Vec<_>>().join(" "),
    }
}

/// Go's `regexp/syntax` error for `pattern` ("error parsing regexp: missing closing ):
/// `(a`"), for the mistakes a hand-written `path_regex` makes: unbalanced groups and
/// brackets, repetition without an argument or of a repetition, bad repeat counts,
/// ranges and class names, bad escapes and group flags. Found left to right, as Go's
/// parser meets them. None when Go would accept those parts (the `regex` crate's error is
/// then the best there is).
pub(crate) fn go_syntax_error(pattern: &str) -> Option<String> {
    let err = |code: &str, expr: &str| Some(format!("error parsing regexp: {code}: `{expr}`"));
    let chars: Vec<char> = pattern.chars().collect();
    let text = |from: usize, to: usize| chars[from..to].iter().collect::<String>();
    let (mut i, mut depth) = (0, 0usize);
    // Whether the last item can take a repetition operator, and where the operator just
    // applied to it starts.
    let (mut operand, mut repeated): (bool, Option<usize>) = (false, None);
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                let Some(&n) = chars.get(i + 1) else {
                    return err("trailing backslash at end of expression", "");
                };
                if n == 'Q' {
                    // Literal text up to `\E`, or to the end.
                    i += 2;
                    while i < chars.len() && !(chars[i] == '\\' && chars.get(i + 1) == Some(&'E')) {
                        i += 1;
                    }
                    i = (i + 2).min(chars.len());
                    (operand, repeated) = (true, None);
                    continue;
                }
                let valid =
                    !n.is_ascii_alphanumeric() || "afnrtvxdDsSwWbBAzpPQE01234567".contains(n);
                if !valid {
                    return err("invalid escape sequence", &text(i, i + 2));
                }
                i += 2;
                (operand, repeated) = (true, None);
                continue;
            }
            '[' => {
                let start = i;
                i += 1;
                if chars.get(i) == Some(&'^') {
                    i += 1;
                }
                let mut first = true;
                loop {
                    match chars.get(i) {
                        None => return err("missing closing ]", &text(start, chars.len())),
                        Some(']') if !first => break,
                        Some('[') if chars.get(i + 1) == Some(&':') => {
                            let rest = text(i, chars.len());
                            match rest.find(":]") {
                                Some(end) => {
                                    let name = &rest[2..end];
                                    const NAMES: &[&str] = &[
                                        "alnum", "alpha", "ascii", "blank", "cntrl", "digit",
                                        "graph", "lower", "print", "punct", "space", "upper",
                                        "word", "xdigit",
                                    ];
                                    if !NAMES.contains(&name.trim_start_matches('^')) {
                                        return err(
                                            "invalid character class range",
                                            &rest[..end + 2],
                                        );
                                    }
                                    i += rest[..end + 2].chars().count();
                                }
                                None => i += 1,
                            }
                        }
                        Some(&lo) => {
                            let lo_at = i;
                            i += if lo == '\\' { 2 } else { 1 };
                            if chars.get(i) == Some(&'-')
                                && chars.get(i + 1).is_some_and(|&h| h != ']')
                                && lo != '\\'
                            {
                                let hi = chars[i + 1];
                                if hi != '\\' && hi < lo {
                                    return err(
                                        "invalid character class range",
                                        &text(lo_at, i + 2),
                                    );
                                }
                                i += 2;
                            }
                        }
                    }
                    first = false;
                }
                i += 1;
                (operand, repeated) = (true, None);
                continue;
            }
            '(' => {
                if chars.get(i + 1) == Some(&'?') {
                    let start = i;
                    let rest = text(i, chars.len());
                    if let Some(named) = rest.strip_prefix("(?P<").or(rest.strip_prefix("(?<")) {
                        let ok = named.find('>').is_some_and(|end| {
                            end > 0
                                && named[..end]
                                    .chars()
                                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
                        });
                        if !ok {
                            let shown = match named.find('>') {
                                Some(end) => &rest[..rest.len() - named.len() + end + 1],
                                None => rest.as_str(),
                            };
                            return err("invalid named capture", shown);
                        }
                        i += rest.len() - named.len() + named.find('>').unwrap_or(0) + 1;
                    } else {
                        // Flags: `(?i)`, `(?i:`, `(?-s:`.
                        let mut j = i + 2;
                        loop {
                            match chars.get(j) {
                                None => {
                                    return err(
                                        "invalid or unsupported Perl syntax",
                                        &text(start, j),
                                    )
                                }
                                Some('i' | 'm' | 's' | 'U' | '-') => j += 1,
                                Some(')') => {
                                    i = j + 1;
                                    (operand, repeated) = (false, None);
                                    break;
                                }
                                Some(':') => {
                                    i = j + 1;
                                    depth += 1;
                                    (operand, repeated) = (false, None);
                                    break;
                                }
                                Some(_) => {
                                    return err(
                                        "invalid or unsupported Perl syntax",
                                        &text(start, j + 1),
                                    )
                                }
                            }
                        }
                        continue;
                    }
                } else {
                    i += 1;
                }
                depth += 1;
                (operand, repeated) = (false, None);
                continue;
            }
            ')' => {
                if depth == 0 {
                    return err("unexpected )", pattern);
                }
                depth -= 1;
                (operand, repeated) = (true, None);
            }
            '|' => (operand, repeated) = (false, None),
            '*' | '+' | '?' => {
                // An operator with its lazy `?`, as Go's parser takes it.
                let end = if chars.get(i + 1) == Some(&'?') {
                    i + 2
                } else {
                    i + 1
                };
                if let Some(at) = repeated {
                    return err("invalid nested repetition operator", &text(at, end));
                }
                if !operand {
                    return err("missing argument to repetition operator", &text(i, end));
                }
                repeated = Some(i);
                i = end;
                continue;
            }
            '{' => {
                let rest = text(i, chars.len());
                let count = rest.find('}').and_then(|end| {
                    let body = &rest[1..end];
                    let (lo, hi) = match body.split_once(',') {
                        Some((lo, hi)) => (lo, Some(hi)),
                        None => (body, None),
                    };
                    let num = |s: &str| {
                        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                            .then(|| s.parse::<u64>().unwrap_or(u64::MAX))
                    };
                    let lo = num(lo)?;
                    let hi = match hi {
                        None => Some(lo),
                        Some("") => None,
                        Some(h) => Some(num(h)?),
                    };
                    Some((end, lo, hi))
                });
                if let Some((end, lo, hi)) = count {
                    let mut len = rest[..end + 1].chars().count();
                    if chars.get(i + len) == Some(&'?') {
                        len += 1;
                    }
                    let expr = text(i, i + len);
                    if let Some(at) = repeated {
                        return err("invalid nested repetition operator", &text(at, i + len));
                    }
                    if !operand {
                        return err("missing argument to repetition operator", &expr);
                    }
                    if lo > 1000 || hi.is_some_and(|h| h > 1000 || h < lo) {
                        return err("invalid repeat count", &rest[..end + 1]);
                    }
                    repeated = Some(i);
                    i += len;
                    continue;
                }
                (operand, repeated) = (true, None);
            }
            _ => (operand, repeated) = (true, None),
        }
        i += 1;
    }
    (depth > 0).then(|| format!("error parsing regexp: missing closing ): `{pattern}`"))
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
        // \Q...\E quotes, to the end when there is no \E.
        assert!(go_regex(r"^\Qa.b\E$").unwrap().is_match("a.b"));
        assert!(!go_regex(r"^\Qa.b\E$").unwrap().is_match("axb"));
        assert!(go_regex(r"^\Q*+").unwrap().is_match("*+"));
    }

    #[test]
    fn syntax_errors_read_as_go_reports_them() {
        // Each checked against sops 3.11 ("can not compile regexp: " + these).
        for (pattern, message) in [
            ("(", "missing closing ): `(`"),
            ("(a)(b", "missing closing ): `(a)(b`"),
            ("a)(", "unexpected ): `a)(`"),
            ("a[b", "missing closing ]: `[b`"),
            ("[]a", "missing closing ]: `[]a`"),
            ("*a", "missing argument to repetition operator: `*`"),
            ("a|*", "missing argument to repetition operator: `*`"),
            ("a**", "invalid nested repetition operator: `**`"),
            ("a++", "invalid nested repetition operator: `++`"),
            ("x**?", "invalid nested repetition operator: `**?`"),
            ("a*{2}", "invalid nested repetition operator: `*{2}`"),
            ("[z-a]", "invalid character class range: `z-a`"),
            ("[[:foo:]]", "invalid character class range: `[:foo:]`"),
            ("a{2,1}", "invalid repeat count: `{2,1}`"),
            ("x{1001}", "invalid repeat count: `{1001}`"),
            ("(?P<n", "invalid named capture: `(?P<n`"),
            ("(?z)", "invalid or unsupported Perl syntax: `(?z`"),
            ("(?i", "invalid or unsupported Perl syntax: `(?i`"),
        ] {
            assert_eq!(
                go_syntax_error(pattern),
                Some(format!("error parsing regexp: {message}")),
                "{pattern}"
            );
        }
        for fine in [
            r"^secrets/.*\.ya?ml$",
            "a*?b+?",
            "[]a]",
            "(?i)x",
            "(?P<n>a)",
            "a{2,}",
            "[[:alpha:]-]",
            r"\.",
            "a{",
            "x{a}",
        ] {
            assert_eq!(go_syntax_error(fine), None, "{fine}");
            assert!(go_regex(fine).is_ok(), "{fine}");
        }
    }
}
