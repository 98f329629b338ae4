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
                // A POSIX class such as [:alpha:]: copy it whole.
                let ahead: Vec<char> = std::iter::once('[').chain(chars.clone().take(16)).collect();
                if let Some((_, len)) = posix_class_at(&ahead) {
                    out.extend(ahead[..len].iter());
                    chars.nth(len - 2);
                    continue;
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
            '{' if !in_class && repeat_at(&repeat_ahead(&chars)).is_none() => out.push_str("\\{"),
            _ => out.push(c),
        }
    }
    out
}

/// `{` and the characters after it that a repetition can span (digits are bounded by
/// what `u64` holds; longer runs are not a repetition Go takes either).
fn repeat_ahead(rest: &std::iter::Peekable<std::str::Chars<'_>>) -> Vec<char> {
    std::iter::once('{').chain(rest.clone().take(48)).collect()
}

/// The repetition `{n}`, `{n,}` or `{n,m}` at the start of `at` (which starts with `{`):
/// its length in characters, `n` and the upper bound (None for `{n,}`). None when Go
/// reads the `{` literally. Looks no further than the repetition itself.
fn repeat_at(at: &[char]) -> Option<(usize, u64, Option<u64>)> {
    let number = |from: usize| {
        let digits = at[from..].iter().take_while(|c| c.is_ascii_digit()).count();
        let text: String = at[from..from + digits].iter().collect();
        (digits > 0).then(|| (digits, text.parse::<u64>().unwrap_or(u64::MAX)))
    };
    let (lo_len, lo) = number(1)?;
    let mut i = 1 + lo_len;
    let hi = match at.get(i) {
        Some('}') => Some(lo),
        Some(',') => match number(i + 1) {
            Some((hi_len, hi)) => {
                i += 1 + hi_len;
                Some(hi)
            }
            None => {
                i += 1;
                None
            }
        },
        _ => return None,
    };
    (at.get(i) == Some(&'}')).then_some((i + 1, lo, hi))
}

/// The POSIX class name of `[:name:]` at the start of `at` and the class's length in
/// characters, if `at` has that shape (names are letters, so the scan stops early).
fn posix_class_at(at: &[char]) -> Option<(String, usize)> {
    if at.get(..2) != Some(&['[', ':']) {
        return None;
    }
    let caret = usize::from(at.get(2) == Some(&'^'));
    let letters = at[2 + caret..]
        .iter()
        .take_while(|c| c.is_ascii_alphabetic())
        .count();
    let end = 2 + caret + letters;
    (at.get(end..end + 2) == Some(&[':', ']'])).then(|| (at[2..end].iter().collect(), end + 2))
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
                        Some('[') if posix_class_at(&chars[i..]).is_some() => {
                            let (name, len) = posix_class_at(&chars[i..]).unwrap_or_default();
                            const NAMES: &[&str] = &[
                                "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph",
                                "lower", "print", "punct", "space", "upper", "word", "xdigit",
                            ];
                            if !NAMES.contains(&name.trim_start_matches('^')) {
                                return err("invalid character class range", &text(i, i + len));
                            }
                            i += len;
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
                    let name_at = match chars.get(i + 2..i + 4) {
                        Some(['P', '<']) => Some(i + 4),
                        Some(['<', _]) => Some(i + 3),
                        _ => None,
                    };
                    if let Some(name_at) = name_at {
                        let name_len = chars[name_at..]
                            .iter()
                            .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
                            .count();
                        let close = name_at + name_len;
                        if name_len == 0 || chars.get(close) != Some(&'>') {
                            // Go shows the group up to its `>`, or to the end.
                            let shown = chars[close..]
                                .iter()
                                .position(|&c| c == '>')
                                .map_or(chars.len(), |p| close + p + 1);
                            return err("invalid named capture", &text(start, shown));
                        }
                        i = close + 1;
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
                if let Some((brace_len, lo, hi)) = repeat_at(&chars[i..]) {
                    let len = brace_len + usize::from(chars.get(i + brace_len) == Some(&'?'));
                    if let Some(at) = repeated {
                        return err("invalid nested repetition operator", &text(at, i + len));
                    }
                    if !operand {
                        return err("missing argument to repetition operator", &text(i, i + len));
                    }
                    if lo > 1000 || hi.is_some_and(|h| h > 1000 || h < lo) {
                        return err("invalid repeat count", &text(i, i + brace_len));
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
        // Hostile patterns (a `.sops.yaml` from a cloned repository) cost linear time.
        for unit in ["(?", "{", "[[:", "(?P<", "{1,", "[[:a"] {
            let hostile = unit.repeat(200_000);
            let _ = go_syntax_error(&hostile);
            let _ = translate_go_regex(&hostile);
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
