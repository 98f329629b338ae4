//! go-yaml's scalar analysis (`yaml_emitter_analyze_scalar`): which styles a value may be
//! written in, from its characters. Hand-written to match go-yaml byte for byte.

use super::super::scanner::{is_blank, is_break};

/// go-yaml's `is_printable` on a character. Characters outside the BMP are *not*
/// printable for go-yaml (it only looks at 1- to 3-byte UTF-8 sequences), which is why
/// sops writes emoji as `\U0001F511` escapes.
pub(super) fn is_printable(c: char) -> bool {
    let v = c as u32;
    v == 0x0A
        || (0x20..=0x7E).contains(&v)
        || (0xA0..=0xD7FF).contains(&v)
        || ((0xE000..=0xFFFD).contains(&v) && v != 0xFEFF)
}

/// What go-yaml's `yaml_emitter_analyze_scalar` finds out about a scalar.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Analysis {
    pub multiline: bool,
    pub flow_plain_allowed: bool,
    pub block_plain_allowed: bool,
    pub single_quoted_allowed: bool,
    pub block_allowed: bool,
}

/// go-yaml's scalar analysis: which styles can represent `v` faithfully (the ASCII
/// common case goes through [`analyze_graphic_ascii_bytes`] first).
pub(super) fn analyze(v: &[char]) -> Analysis {
    if v.is_empty() {
        return Analysis {
            multiline: false,
            flow_plain_allowed: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let mut block_indicators = false;
    let mut flow_indicators = false;
    let mut line_breaks = false;
    let mut special_characters = false;
    let mut tab_characters = false;
    let mut leading_space = false;
    let mut leading_break = false;
    let mut trailing_space = false;
    let mut trailing_break = false;
    let mut break_space = false;
    let mut space_break = false;
    let mut previous_space = false;
    let mut previous_break = false;

    if v.len() >= 3
        && ((v[0] == '-' && v[1] == '-' && v[2] == '-')
            || (v[0] == '.' && v[1] == '.' && v[2] == '.'))
    {
        block_indicators = true;
        flow_indicators = true;
    }
    let mut preceded_by_whitespace = true;
    for i in 0..v.len() {
        let c = v[i];
        let followed_by_whitespace = i + 1 >= v.len() || is_blank(v[i + 1]);
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => {
                    flow_indicators = true;
                    block_indicators = true;
                }
                '?' | ':' => {
                    flow_indicators = true;
                    if followed_by_whitespace {
                        block_indicators = true;
                    }
                }
                '-' if followed_by_whitespace => {
                    flow_indicators = true;
                    block_indicators = true;
                }
                _ => {}
            }
        } else {
            match c {
                ',' | '?' | '[' | ']' | '{' | '}' => flow_indicators = true,
                ':' => {
                    flow_indicators = true;
                    if followed_by_whitespace {
                        block_indicators = true;
                    }
                }
                '#' if preceded_by_whitespace => {
                    flow_indicators = true;
                    block_indicators = true;
                }
                _ => {}
            }
        }
        if c == '\t' {
            tab_characters = true;
        } else if !is_printable(c) {
            special_characters = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i + 1 == v.len() {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            line_breaks = true;
            if i == 0 {
                leading_break = true;
            }
            if i + 1 == v.len() {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        // go-yaml: is_blankz(value, i), where NUL also counts.
        preceded_by_whitespace = is_blank(c) || is_break(c) || c == '\0';
    }
    let mut s = Analysis {
        multiline: line_breaks,
        flow_plain_allowed: true,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        s.flow_plain_allowed = false;
        s.block_plain_allowed = false;
    }
    if trailing_space {
        s.block_allowed = false;
    }
    if break_space {
        s.flow_plain_allowed = false;
        s.block_plain_allowed = false;
        s.single_quoted_allowed = false;
    }
    if space_break || tab_characters || special_characters {
        s.flow_plain_allowed = false;
        s.block_plain_allowed = false;
        s.single_quoted_allowed = false;
    }
    if space_break || special_characters {
        s.block_allowed = false;
    }
    if line_breaks {
        s.flow_plain_allowed = false;
        s.block_plain_allowed = false;
    }
    if flow_indicators {
        s.flow_plain_allowed = false;
    }
    if block_indicators {
        s.block_plain_allowed = false;
    }
    s
}

/// The common case of [`analyze`] (every `ENC[...]` value, most plain text), over bytes:
/// printable ASCII with inner spaces only. Then only the indicators matter, and the answer
/// is what the full analysis gives with every other flag false. `None` sends anything else
/// to the full analysis.
pub(super) fn analyze_graphic_ascii_bytes(v: &[u8]) -> Option<Analysis> {
    let first = *v.first()?;
    if matches!(
        first,
        b' ' | b'#'
            | b','
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
            | b'?'
            | b':'
            | b'-'
            | b'.'
    ) || matches!(v.last(), Some(b' ' | b':'))
    {
        return None;
    }
    // Whole-slice folds without early exits, so that each compiles to vector code (a
    // byte-wise loop with a branch per class was a tenth of emitting an encrypted file).
    // Not printable ASCII: the full analysis decides.
    let other = v
        .iter()
        .fold(false, |acc, &c| acc | !(b' '..=b'~').contains(&c));
    // A ':' before a space is a block indicator, and so is a '#' after one (a ':' at the
    // end was refused above).
    let indicator_pair = v[..v.len() - 1]
        .iter()
        .zip(&v[1..])
        .fold(false, |acc, (&a, &b)| {
            acc | (a == b':' && b == b' ') | (a == b' ' && b == b'#')
        });
    if other || indicator_pair {
        return None;
    }
    let flow_indicators = v.iter().fold(false, |acc, &c| {
        acc | matches!(c, b',' | b'?' | b'[' | b']' | b'{' | b'}' | b':')
    });
    Some(Analysis {
        multiline: false,
        flow_plain_allowed: !flow_indicators,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graphic_ascii_fast_path_agrees_with_the_full_analysis() {
        let alphabet: Vec<char> = "aZ09-_.:,[]{}?#!&*|>'\"%@`=+/~ \t".chars().collect();
        let mut seed: u64 = 0x2545F4914F6CDD1D;
        let mut fast = 0;
        for _ in 0..50_000 {
            crate::test_rng::next(&mut seed);
            let len = 1 + (seed % 9) as usize;
            let v: Vec<char> = (0..len)
                .map(|i| alphabet[((seed >> (i * 6)) % alphabet.len() as u64) as usize])
                .collect();
            let bytes: Option<Vec<u8>> = v.iter().map(|c| u8::try_from(*c).ok()).collect();
            if let Some(a) = bytes.and_then(|b| analyze_graphic_ascii_bytes(&b)) {
                fast += 1;
                assert_eq!(a, analyze(&v), "{v:?}");
            }
        }
        assert!(fast > 1_000, "{fast}");
    }
}
