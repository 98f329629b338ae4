//! Unit tables for the go-yaml-compatible helpers (the store-level behaviour is tested
//! against the real sops in `tests/yaml_store.rs`).

use super::encode::{is_base60_float, is_old_bool, requested_string_style};
use super::resolve::{format_float, parse_float, parse_int, parse_timestamp, parse_uint};
use super::scanner::ScalarStyle;

#[test]
fn go_parse_int_table() {
    let table: &[(&str, Option<i64>)] = &[
        ("0", Some(0)),
        ("-0", Some(0)),
        ("+7", Some(7)),
        ("010", Some(8)),
        ("08", None),
        ("0x", None),
        ("0xff", Some(255)),
        ("0XFF", Some(255)),
        ("-0b11", Some(-3)),
        ("0o777", Some(511)),
        ("0O7", Some(7)),
        ("9223372036854775807", Some(i64::MAX)),
        ("9223372036854775808", None),
        ("-9223372036854775808", Some(i64::MIN)),
        ("1e3", None),
        ("", None),
        ("+", None),
        ("--1", None),
    ];
    for (s, want) in table {
        assert_eq!(parse_int(s), *want, "{s:?}");
    }
    assert_eq!(parse_uint("18446744073709551615"), Some(u64::MAX));
    assert_eq!(parse_uint("18446744073709551616"), None);
    assert_eq!(parse_uint("-1"), None);
}

#[test]
fn go_parse_float_table() {
    let table: &[(&str, Option<f64>)] = &[
        ("1.5", Some(1.5)),
        ("1.", Some(1.0)),
        (".5", Some(0.5)),
        ("-.5e1", Some(-5.0)),
        ("1_0.5", Some(10.5)),
        ("1__0", None),
        ("_1", None),
        ("1e", None),
        ("1e999", None),
        ("1e-999", Some(0.0)),
        ("e5", None),
        (".", None),
        ("1.2.3", None),
        ("inf", None),
    ];
    for (s, want) in table {
        assert_eq!(parse_float(s), *want, "{s:?}");
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`.
#[test]
fn go_format_float_table() {
    let table: &[(f64, &str)] = &[
        (0.0, "0"),
        (-0.0, "-0"),
        (1.0, "1"),
        (-2.5, "-2.5"),
        (100000.0, "100000"),
        (999999.0, "999999"),
        (1000000.0, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00012, "0.00012"),
        (0.00001, "1e-05"),
        (1.5e-7, "1.5e-07"),
        (6.02e23, "6.02e+23"),
        (1e100, "1e+100"),
        (f64::MAX, "1.7976931348623157e+308"),
        (5e-324, "5e-324"),
        (0.1 + 0.2, "0.30000000000000004"),
        (f64::INFINITY, ".inf"),
        (f64::NEG_INFINITY, "-.inf"),
        (f64::NAN, ".nan"),
    ];
    for (f, want) in table {
        assert_eq!(format_float(*f), *want, "{f:?}");
    }
}

#[test]
fn go_timestamp_table() {
    let table: &[(&str, Option<&str>)] = &[
        ("2001-12-14", Some("2001-12-14T00:00:00Z")),
        ("2001-1-2", Some("2001-01-02T00:00:00Z")),
        ("2001-12-14T21:59:43Z", Some("2001-12-14T21:59:43Z")),
        (
            "2001-12-14t21:59:43.5+01:30",
            Some("2001-12-14T21:59:43.5+01:30"),
        ),
        ("2001-12-14 1:2:3", Some("2001-12-14T01:02:03Z")),
        ("2001-12-14 21:59:43,25", Some("2001-12-14T21:59:43.25Z")),
        ("2001-12-14T21:59:43.000Z", Some("2001-12-14T21:59:43Z")),
        ("2001-12-14T21:59:43-00:00", Some("2001-12-14T21:59:43Z")),
        ("2000-02-29", Some("2000-02-29T00:00:00Z")),
        ("1900-02-29", None),
        ("2001-13-01", None),
        ("2001-12-14T21:59:43", None),
        ("2001-12-14T24:00:00Z", None),
        ("2001-12-14 21:59:43 +01:00", None),
        ("01-12-14", None),
        ("20011-12-14", None),
        ("2001-12-14x", None),
    ];
    for (s, want) in table {
        assert_eq!(parse_timestamp(s).as_deref(), *want, "{s:?}");
    }
}

/// go-yaml's `stringv` choice before the emitter's own checks.
#[test]
fn requested_style_table() {
    use ScalarStyle::*;
    let table: &[(&str, ScalarStyle)] = &[
        ("plain", Plain),
        ("", DoubleQuoted),
        ("true", DoubleQuoted),
        ("yes", DoubleQuoted),
        ("N", DoubleQuoted),
        ("12", DoubleQuoted),
        ("1:30", DoubleQuoted),
        ("-1:30:00.5", DoubleQuoted),
        ("1:60", Plain),
        ("2001-12-14", DoubleQuoted),
        (".inf", DoubleQuoted),
        ("a\nb", Literal),
        ("yes\n", Literal),
        ("<<", Plain),
        ("a: b", Plain),
    ];
    for (s, want) in table {
        assert_eq!(requested_string_style(s), *want, "{s:?}");
    }
    for s in ["1:20", "190:20:30.15", "+1:2", "1_0:59"] {
        assert!(is_base60_float(s), "{s}");
    }
    for s in ["1:60", "1:", ":1", "a:1", "1:2:", "1:123", "1.5"] {
        assert!(!is_base60_float(s), "{s}");
    }
    assert!(is_old_bool("Off") && !is_old_bool("oFF") && !is_old_bool("true"));
}
