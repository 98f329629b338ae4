//! Plain-scalar resolution and number/time text, as go-yaml v3 and Go's `strconv`/`time`
//! do them.
//!
//! `resolve` mirrors go-yaml's `resolve.go` (YAML 1.2 core schema with go-yaml's extras:
//! only `true/True/TRUE`-style booleans, `0o`/`0b`/`0x` and C-style `0` octal integers,
//! underscores, timestamps). The integer and float parsers mirror Go's
//! `strconv.ParseInt(s, 0, 64)` and `strconv.ParseFloat`, and `format_float` mirrors
//! `strconv.FormatFloat(f, 'g', -1, 64)`, because the exact set of accepted spellings and
//! the printed form decide both the tree and the emitted bytes.

pub(crate) const NULL_TAG: &str = "!!null";
pub(crate) const BOOL_TAG: &str = "!!bool";
pub(crate) const STR_TAG: &str = "!!str";
pub(crate) const INT_TAG: &str = "!!int";
pub(crate) const FLOAT_TAG: &str = "!!float";
pub(crate) const TIMESTAMP_TAG: &str = "!!timestamp";
pub(crate) const BINARY_TAG: &str = "!!binary";
pub(crate) const MERGE_TAG: &str = "!!merge";
const LONG_TAG_PREFIX: &str = "tag:yaml.org,2002:";

/// A resolved scalar, as go-yaml decodes it into `interface{}`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    /// Integers between 2^63 and 2^64-1 (Go's `uint64`; sops cannot encrypt them).
    Uint(u64),
    Float(f64),
    Str(String),
    /// A timestamp, as the RFC 3339 text Go's `time.Time` marshals to.
    Time(String),
}

/// `tag:yaml.org,2002:x` -> `!!x`; other tags unchanged.
pub(crate) fn short_tag(tag: &str) -> String {
    match tag.strip_prefix(LONG_TAG_PREFIX) {
        Some(rest) => format!("!!{rest}"),
        None => tag.to_string(),
    }
}

/// `!!x` -> `tag:yaml.org,2002:x`; other tags unchanged.
pub(crate) fn long_tag(tag: &str) -> String {
    match tag.strip_prefix("!!") {
        Some(rest) => format!("{LONG_TAG_PREFIX}{rest}"),
        None => tag.to_string(),
    }
}

fn resolvable_tag(tag: &str) -> bool {
    matches!(
        tag,
        "" | STR_TAG | BOOL_TAG | INT_TAG | FLOAT_TAG | NULL_TAG | TIMESTAMP_TAG
    )
}

/// go-yaml's `resolve(tag, in)`: fails when an explicit tag does not fit the text
/// (`!!int abc`), with go-yaml's message.
pub(crate) fn resolve_checked(tag: &str, input: &str) -> Result<(String, Scalar), String> {
    let tag = short_tag(tag);
    if !resolvable_tag(&tag) {
        return Ok((tag, Scalar::Str(input.to_string())));
    }
    let (rtag, out) = resolve_plain(&tag, input);
    if tag.is_empty() || tag == rtag || tag == STR_TAG || tag == BINARY_TAG {
        return Ok((rtag.to_string(), out));
    }
    if tag == FLOAT_TAG && rtag == INT_TAG {
        if let Scalar::Int(v) = out {
            return Ok((FLOAT_TAG.to_string(), Scalar::Float(v as f64)));
        }
    }
    Err(format!("yaml: cannot decode {rtag} `{input}` as a {tag}"))
}

/// The tag go-yaml's `resolve("", value)` gives, without building the value: most strings in a sops
/// file (every `ENC[...]`) are decided by their first byte, with no copy.
pub(crate) fn resolved_tag(value: &str) -> &'static str {
    if resolve_hint(value) == 0 {
        return STR_TAG;
    }
    resolve_plain("", value).0
}

/// go-yaml's `resolveTable` hint for the first byte; 0 means the text can only be a string.
fn resolve_hint(input: &str) -> u8 {
    match input.as_bytes().first().copied() {
        None => b'N',
        Some(b'+') | Some(b'-') => b'S',
        Some(b'0'..=b'9') => b'D',
        Some(b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~') => b'M',
        Some(b'.') => b'.',
        Some(_) => 0,
    }
}

fn resolve_plain(tag: &str, input: &str) -> (&'static str, Scalar) {
    let hint = resolve_hint(input);
    if hint != 0 && tag != STR_TAG && tag != BINARY_TAG {
        match input {
            "true" | "True" | "TRUE" => return (BOOL_TAG, Scalar::Bool(true)),
            "false" | "False" | "FALSE" => return (BOOL_TAG, Scalar::Bool(false)),
            "" | "~" | "null" | "Null" | "NULL" => return (NULL_TAG, Scalar::Null),
            ".nan" | ".NaN" | ".NAN" => return (FLOAT_TAG, Scalar::Float(f64::NAN)),
            ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
                return (FLOAT_TAG, Scalar::Float(f64::INFINITY))
            }
            "-.inf" | "-.Inf" | "-.INF" => return (FLOAT_TAG, Scalar::Float(f64::NEG_INFINITY)),
            _ => {}
        }
        match hint {
            b'.' => {
                if let Some(f) = parse_float(input) {
                    return (FLOAT_TAG, Scalar::Float(f));
                }
            }
            b'D' | b'S' => {
                if tag.is_empty() || tag == TIMESTAMP_TAG {
                    if let Some(t) = parse_timestamp(input) {
                        return (TIMESTAMP_TAG, Scalar::Time(t));
                    }
                }
                let plain: String = input.chars().filter(|&c| c != '_').collect();
                if let Some(i) = parse_int(&plain) {
                    return (INT_TAG, Scalar::Int(i));
                }
                if let Some(u) = parse_uint(&plain) {
                    return (INT_TAG, Scalar::Uint(u));
                }
                if yaml_style_float(&plain) {
                    if let Some(f) = parse_float(&plain) {
                        return (FLOAT_TAG, Scalar::Float(f));
                    }
                }
            }
            _ => {}
        }
    }
    (STR_TAG, Scalar::Str(input.to_string()))
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Go's `strconv.ParseUint(s, 0, 64)` (no sign allowed; `0x`, `0o`, `0b`, leading-`0`
/// octal), for text whose underscores were already removed.
pub(crate) fn parse_uint(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.is_empty() {
        return None;
    }
    let (base, digits) = if b[0] == b'0' && b.len() > 1 {
        match b[1] {
            b'x' | b'X' => (16, &b[2..]),
            b'o' | b'O' => (8, &b[2..]),
            b'b' | b'B' => (2, &b[2..]),
            _ => (8, &b[1..]),
        }
    } else {
        (10, b)
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        let d = (c as char).to_digit(base)? as u64;
        v = v.checked_mul(base as u64)?.checked_add(d)?;
    }
    Some(v)
}

/// Go's `strconv.ParseInt(s, 0, 64)`.
pub(crate) fn parse_int(s: &str) -> Option<i64> {
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let u = parse_uint(rest)?;
    if neg {
        if u <= i64::MAX as u64 + 1 {
            Some((u as i128).wrapping_neg() as i64)
        } else {
            None
        }
    } else if u <= i64::MAX as u64 {
        Some(u as i64)
    } else {
        None
    }
}

/// Go's underscore rule for number literals: underscores only between digits.
fn underscore_ok(s: &str) -> bool {
    let mut saw = '^';
    let b = s.as_bytes();
    let mut i = 0;
    if !b.is_empty() && (b[0] == b'-' || b[0] == b'+') {
        i = 1;
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() {
            saw = '0';
        } else if c == b'_' {
            if saw != '0' {
                return false;
            }
            saw = '_';
        } else {
            if saw == '_' {
                return false;
            }
            saw = '!';
        }
        i += 1;
    }
    saw != '_'
}

/// Go's `strconv.ParseFloat(s, 64)` for decimal text: None on syntax errors and on
/// overflow (Go returns an error with ±Inf there).
pub(crate) fn parse_float(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    // Validate Go's decimal float syntax: [sign] digits [. digits] [e [sign] digits].
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let mut saw_digits = false;
    let mut underscores = false;
    let mut saw_dot = false;
    while i < b.len() {
        match b[i] {
            b'_' => underscores = true,
            b'.' if !saw_dot => saw_dot = true,
            b'0'..=b'9' => saw_digits = true,
            _ => break,
        }
        i += 1;
    }
    if !saw_digits {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let start = i;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            if b[i] == b'_' {
                underscores = true;
            }
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    if underscores && !underscore_ok(s) {
        return None;
    }
    let clean: String = s.chars().filter(|&c| c != '_').collect();
    let f: f64 = clean.parse().ok()?;
    if f.is_infinite() {
        return None;
    }
    Some(f)
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)` with go-yaml's `.inf`/`-.inf`/`.nan`.
pub(crate) fn format_float(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            ".inf".into()
        } else {
            "-.inf".into()
        };
    }
    // Rust's `{:e}` gives the shortest round-trip digits, as Go's shortest formatting does.
    let sci = format!("{:e}", f);
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let nd = digits.len() as i32;
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    // strconv/ftoa.go: with the shortest precision, 'g' switches to %e when the decimal
    // exponent is < -4 or >= 6 (eprec is forced to 6).
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if nd > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        if exp < 0 {
            out.push('-');
        } else {
            out.push('+');
        }
        let a = exp.unsigned_abs();
        if a < 10 {
            out.push('0');
        }
        out.push_str(&a.to_string());
        return out;
    }
    // %f with as many decimals as needed.
    if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let int_len = (exp + 1) as usize;
        if digits.len() <= int_len {
            out.push_str(&digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
    out
}

fn days_in(month: u32, year: i64) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
            if leap {
                29
            } else {
                28
            }
        }
    }
}

/// go-yaml's `parseTimestamp`: the four formats it accepts, parsed with Go's `time.Parse`
/// rules, returned as Go's `time.Time.Format(time.RFC3339Nano)` text.
pub(crate) fn parse_timestamp(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i != 4 || i == b.len() || b[i] != b'-' {
        return None;
    }
    // Layouts: "2006-1-2T15:4:5.999999999Z07:00", same with 't',
    // "2006-1-2 15:4:5.999999999", "2006-1-2".
    for layout in 0..4 {
        if let Some(t) = parse_layout(b, layout) {
            return Some(t);
        }
    }
    None
}

fn getnum(b: &[u8], pos: &mut usize, fixed: bool) -> Option<u32> {
    let d0 = *b.get(*pos)?;
    if !d0.is_ascii_digit() {
        return None;
    }
    match b.get(*pos + 1) {
        Some(d1) if d1.is_ascii_digit() => {
            *pos += 2;
            Some((d0 - b'0') as u32 * 10 + (d1 - b'0') as u32)
        }
        _ => {
            if fixed {
                return None;
            }
            *pos += 1;
            Some((d0 - b'0') as u32)
        }
    }
}

fn literal(b: &[u8], pos: &mut usize, c: u8) -> Option<()> {
    if b.get(*pos) == Some(&c) {
        *pos += 1;
        Some(())
    } else {
        None
    }
}

fn parse_layout(b: &[u8], layout: u8) -> Option<String> {
    let mut p = 4;
    let year: i64 = std::str::from_utf8(&b[..4]).ok()?.parse().ok()?;
    literal(b, &mut p, b'-')?;
    let month = getnum(b, &mut p, false)?;
    literal(b, &mut p, b'-')?;
    let day = getnum(b, &mut p, false)?;
    let (mut hour, mut min, mut sec, mut nsec) = (0, 0, 0, 0u32);
    let mut frac_digits = String::new();
    let mut offset: Option<i64> = None;
    if layout < 3 {
        literal(b, &mut p, [b'T', b't', b' '][layout as usize])?;
        hour = getnum(b, &mut p, false)?;
        literal(b, &mut p, b':')?;
        min = getnum(b, &mut p, false)?;
        literal(b, &mut p, b':')?;
        sec = getnum(b, &mut p, false)?;
        // Optional fractional seconds: '.' or ',' and at least one digit.
        if p + 1 < b.len() && (b[p] == b'.' || b[p] == b',') && b[p + 1].is_ascii_digit() {
            let mut q = p + 1;
            while q < b.len() && b[q].is_ascii_digit() {
                q += 1;
            }
            let digits = &b[p + 1..q];
            // Go keeps at most 9 digits.
            let keep = &digits[..digits.len().min(9)];
            let mut v: u32 = 0;
            for &d in keep {
                v = v * 10 + (d - b'0') as u32;
            }
            for _ in keep.len()..9 {
                v *= 10;
            }
            nsec = v;
            frac_digits = String::from_utf8_lossy(keep).into_owned();
            p = q;
        }
        if layout < 2 {
            if b.get(p) == Some(&b'Z') {
                p += 1;
                offset = Some(0);
            } else {
                if b.len() < p + 6 || b[p + 3] != b':' {
                    return None;
                }
                let sign = b[p];
                let mut hp = p + 1;
                let hr = getnum(b, &mut hp, true)?;
                if hp != p + 3 {
                    return None;
                }
                let mut mp = p + 4;
                let mm = getnum(b, &mut mp, true)?;
                if mp != p + 6 {
                    return None;
                }
                if hr > 24 || mm > 60 {
                    return None;
                }
                let mut off = ((hr * 60 + mm) * 60) as i64;
                match sign {
                    b'+' => {}
                    b'-' => off = -off,
                    _ => return None,
                }
                offset = Some(off);
                p += 6;
            }
        }
    }
    if p != b.len() {
        return None;
    }
    if !(1..=12).contains(&month) || hour >= 24 || min >= 60 || sec >= 60 {
        return None;
    }
    if day < 1 || day > days_in(month, year) {
        return None;
    }
    let _ = frac_digits;
    let mut out = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{min:02}:{sec:02}");
    if nsec > 0 {
        let mut f = format!("{nsec:09}");
        while f.ends_with('0') {
            f.pop();
        }
        out.push('.');
        out.push_str(&f);
    }
    match offset {
        None | Some(0) => out.push('Z'),
        Some(off) => {
            let zone = off / 60;
            let (sign, abs) = if zone < 0 { ('-', -zone) } else { ('+', zone) };
            out.push(sign);
            out.push_str(&format!("{:02}:{:02}", abs / 60, abs % 60));
        }
    }
    Some(out)
}
