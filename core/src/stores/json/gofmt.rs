//! Go's number formatting, hand-written to match `strconv.FormatFloat` and
//! `encoding/json` byte for byte. sops prints every number through one of these, so
//! keytap must produce the same digits and the same exponent spelling.

/// The shortest decimal digits that round-trip `v` (finite, non-zero), and the position
/// of the decimal point relative to them (`dp`): `v = 0.d1d2d3... * 10^dp`.
///
/// Rust's `{:e}` and Go's `strconv` both produce the shortest round-tripping digits
/// (closest to the exact value on ties), so the digit strings agree.
fn shortest_digits(v: f64) -> (String, i32) {
    let s = format!("{:e}", v.abs());
    let (mantissa, exp) = s.split_once('e').unwrap_or((s.as_str(), "0"));
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    (digits, exp + 1)
}

/// Go's `strconv.FormatFloat(v, 'e' or 'E', -1, 64)`.
fn fmt_e(neg: bool, digits: &str, dp: i32, upper: bool) -> String {
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    let first = digits.chars().next().unwrap_or('0');
    out.push(first);
    if digits.len() > 1 {
        out.push('.');
        out.push_str(&digits[1..]);
    }
    out.push(if upper { 'E' } else { 'e' });
    // Go: the exponent of a zero value is 0, else dp-1; at least two digits.
    let exp = if digits.is_empty() { 0 } else { dp - 1 };
    out.push(if exp < 0 { '-' } else { '+' });
    let e = exp.unsigned_abs();
    if e < 10 {
        out.push('0');
    }
    out.push_str(&e.to_string());
    out
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`.
fn fmt_f(neg: bool, digits: &str, dp: i32) -> String {
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    let nd = digits.len() as i32;
    if digits.is_empty() {
        out.push('0');
    } else if dp <= 0 {
        out.push_str("0.");
        for _ in 0..(-dp) {
            out.push('0');
        }
        out.push_str(digits);
    } else if dp >= nd {
        out.push_str(digits);
        for _ in 0..(dp - nd) {
            out.push('0');
        }
    } else {
        out.push_str(&digits[..dp as usize]);
        out.push('.');
        out.push_str(&digits[dp as usize..]);
    }
    out
}

fn special(v: f64) -> Option<String> {
    if v.is_nan() {
        Some("NaN".into())
    } else if v.is_infinite() {
        Some(if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        })
    } else {
        None
    }
}

fn decompose(v: f64) -> (bool, String, i32) {
    let neg = v.is_sign_negative();
    if v == 0.0 {
        (neg, String::new(), 0)
    } else {
        let (d, dp) = shortest_digits(v);
        (neg, d, dp)
    }
}

/// Go's `strconv.FormatFloat(v, fmt, -1, 64)` for `fmt` in `e E f g G`.
pub(crate) fn format_float(v: f64, fmt: char) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    let (neg, digits, dp) = decompose(v);
    match fmt {
        'e' | 'E' => fmt_e(neg, &digits, dp, fmt == 'E'),
        'f' => fmt_f(neg, &digits, dp),
        _ => {
            // %g with shortest precision: Go decides with an exponent threshold of 6.
            let exp = dp - 1;
            if !digits.is_empty() && !(-4..6).contains(&exp) {
                fmt_e(neg, &digits, dp, fmt == 'G')
            } else {
                fmt_f(neg, &digits, dp)
            }
        }
    }
}

/// How Go's `encoding/json` writes a float64 (`floatEncoder`): `'f'` unless the magnitude
/// is below 1e-6 or at least 1e21, then `'e'` with `e-07` shortened to `e-7`.
/// Returns `None` for NaN and infinities, which `encoding/json` refuses.
pub(crate) fn json_float(v: f64) -> Option<String> {
    if !v.is_finite() {
        return None;
    }
    let abs = v.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let mut s = format_float(v, 'e');
        let b = s.as_bytes();
        let n = b.len();
        if n >= 4 && b[n - 4] == b'e' && b[n - 3] == b'-' && b[n - 2] == b'0' {
            s.remove(n - 2);
        }
        Some(s)
    } else {
        Some(format_float(v, 'f'))
    }
}

/// sops's `stores.ValToString` for a float64: `%G`-style shortest, and a `.0` added when
/// the result could be read as an integer (`1` becomes `1.0`, `1E+06` stays).
pub(crate) fn val_to_string_float(v: f64) -> String {
    let s = format_float(v, 'G');
    if !s.contains('.') && !s.contains('E') {
        // FormatFloat(v, 'f', 1, 64): one decimal; for integral values that is ".0",
        // and NaN/Inf come out unchanged.
        if let Some(sp) = special(v) {
            return sp;
        }
        let (neg, digits, dp) = decompose(v);
        return format!("{}.0", fmt_f(neg, &digits, dp));
    }
    s
}

/// Go's `fmt.Sprintf("%#v", v)` and `%T` of a JSON scalar as `json.Decoder` gives it
/// (`string`, `float64`, `bool`, `nil`), for sops's "Expected JSON object start" error.
pub(crate) fn go_sharp_v(v: &crate::tree::Value) -> (String, &'static str) {
    use crate::tree::Value;
    match v {
        Value::Str(s) => (crate::goerr::quote(s.as_bytes()), "string"),
        Value::Float(f) => (format_float(*f, 'g'), "float64"),
        Value::Int(i) => (i.to_string(), "float64"),
        Value::Bool(b) => (b.to_string(), "bool"),
        _ => ("<nil>".into(), "<nil>"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_float_formats() {
        assert_eq!(json_float(1.0).unwrap(), "1");
        assert_eq!(json_float(-0.0).unwrap(), "-0");
        assert_eq!(json_float(1e21).unwrap(), "1e+21");
        assert_eq!(json_float(1e-7).unwrap(), "1e-7");
        assert_eq!(json_float(1.5e-10).unwrap(), "1.5e-10");
        assert_eq!(json_float(0.000001).unwrap(), "0.000001");
        assert_eq!(
            json_float(12345678901234567890.0).unwrap(),
            "12345678901234567000"
        );
        assert_eq!(
            json_float(123456789012345678.0).unwrap(),
            "123456789012345680"
        );
        assert!(json_float(f64::NAN).is_none());
        assert_eq!(val_to_string_float(1.0), "1.0");
        assert_eq!(val_to_string_float(1e6), "1E+06");
        assert_eq!(val_to_string_float(100000.0), "100000.0");
        assert_eq!(val_to_string_float(0.00001), "1E-05");
        assert_eq!(val_to_string_float(123456789.0), "1.23456789E+08");
        assert_eq!(val_to_string_float(1.5), "1.5");
        assert_eq!(val_to_string_float(0.0001), "0.0001");
        assert_eq!(format_float(1e6, 'g'), "1e+06");
        assert_eq!(format_float(0.0, 'g'), "0");
        assert_eq!(format_float(1e100, 'e'), "1e+100");
    }
}
