//! The few JavaScript string and number semantics that P2P Media Loader's
//! stream identity depends on, so that our hashes equal theirs bit for bit.

use std::cmp::Ordering;

/// JS `WhiteSpace` and `LineTerminator` (what `String.prototype.trim` and
/// `Number(string)` strip). Differs from `char::is_whitespace`: JS includes
/// U+FEFF and excludes U+0085.
fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\u{9}' | '\u{a}' | '\u{b}' | '\u{c}' | '\u{d}' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
    )
}

/// JS `s.trim()`.
pub(crate) fn trim(s: &str) -> &str {
    s.trim_matches(is_js_whitespace)
}

/// JS `Number(s)` for a string argument (ECMA-262 StringToNumber).
pub(crate) fn string_to_number(s: &str) -> f64 {
    let s = trim(s);
    if s.is_empty() {
        return 0.0;
    }
    match s {
        "Infinity" | "+Infinity" => return f64::INFINITY,
        "-Infinity" => return f64::NEG_INFINITY,
        _ => {}
    }
    let radix = match s.get(..2) {
        Some("0x" | "0X") => Some(16),
        Some("0o" | "0O") => Some(8),
        Some("0b" | "0B") => Some(2),
        _ => None,
    };
    if let (Some(radix), Some(digits)) = (radix, s.get(2..)) {
        return radix_integer(digits, radix).unwrap_or(f64::NAN);
    }
    if is_decimal_literal(s) {
        // Rust's parser rounds correctly, as JS does; the syntax was checked above.
        s.parse().unwrap_or(f64::NAN)
    } else {
        f64::NAN
    }
}

/// The exact integer, rounded once to the nearest `f64` as JS does. Past
/// 2^128 (over 32 hex digits) the remaining digits are accumulated in `f64`.
fn radix_integer(digits: &str, radix: u32) -> Option<f64> {
    if digits.is_empty() {
        return None;
    }
    let mut exact: Option<u128> = Some(0);
    let mut approx = 0f64;
    for c in digits.chars() {
        let d = c.to_digit(radix)?;
        exact = exact
            .and_then(|v| v.checked_mul(u128::from(radix)))
            .and_then(|v| v.checked_add(u128::from(d)));
        approx = approx * f64::from(radix) + f64::from(d);
    }
    #[expect(clippy::cast_precision_loss, reason = "rounding to f64 is the point")]
    Some(exact.map_or(approx, |v| v as f64))
}

/// `[+-]? (digits (. digits?)? | . digits) ([eE] [+-]? digits)?`
fn is_decimal_literal(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let int_digits = digits(&mut i);
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = digits(&mut i);
    }
    if int_digits + frac_digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// JS `Number.prototype.toString()` (radix 10): shortest round-trip digits,
/// exponent notation outside 1e-7..1e21, `NaN`, `Infinity`, and `0` for -0.
pub(crate) fn number_to_string(v: f64) -> String {
    ryu_js::Buffer::new().format(v).to_owned()
}

/// JS `s.slice(0, n)`, which counts UTF-16 code units. A surrogate pair cut
/// in half leaves a lone surrogate, which `TextEncoder` (the next step in
/// P2P Media Loader's hashing) turns into U+FFFD.
pub(crate) fn slice_utf16(s: &str, n: usize) -> String {
    let mut out = String::new();
    let mut units = 0;
    for c in s.chars() {
        let len = c.len_utf16();
        if units + len > n {
            if units < n {
                out.push('\u{fffd}');
            }
            break;
        }
        units += len;
        out.push(c);
    }
    out
}

/// JS default `Array.prototype.sort` order: by UTF-16 code units.
pub(crate) fn cmp_utf16(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_parsing_follows_js() {
        assert_eq!(string_to_number("30.000"), 30.0);
        assert_eq!(string_to_number(" 29.970\n"), 29.97);
        assert_eq!(string_to_number(""), 0.0);
        assert_eq!(string_to_number("0x1E"), 30.0);
        // Rounded once, as JS does (digit-by-digit rounding gives ...870).
        assert_eq!(
            number_to_string(string_to_number("0x200000000000011")),
            "144115188075855900"
        );
        assert_eq!(string_to_number("1e2"), 100.0);
        assert_eq!(string_to_number(".5"), 0.5);
        assert_eq!(string_to_number("5."), 5.0);
        assert_eq!(string_to_number("-Infinity"), f64::NEG_INFINITY);
        for nan in [
            "abc", "inf", "NaN", "1_000", "0x", "-0x10", "1e", "+", ".", "30fps",
        ] {
            assert!(string_to_number(nan).is_nan(), "{nan}");
        }
    }

    #[test]
    fn number_formatting_follows_js() {
        assert_eq!(number_to_string(30.0), "30");
        assert_eq!(number_to_string(59.94), "59.94");
        assert_eq!(number_to_string(-0.0), "0");
        assert_eq!(number_to_string(1e21), "1e+21");
        assert_eq!(number_to_string(1e-7), "1e-7");
        assert_eq!(
            number_to_string(123456789012345680000.0),
            "123456789012345680000"
        );
        assert_eq!(number_to_string(f64::NAN), "NaN");
    }

    #[test]
    fn utf16_slicing_and_ordering() {
        assert_eq!(slice_utf16("eng", 2), "en");
        assert_eq!(slice_utf16("e", 2), "e");
        assert_eq!(slice_utf16("a😀", 2), "a\u{fffd}");
        // U+FF61 sorts before U+1F600 by code point, after it by UTF-16 units.
        assert_eq!(cmp_utf16("\u{ff61}", "😀"), Ordering::Greater);
        assert_eq!(trim("\u{feff} x \u{85}"), "x \u{85}");
    }
}
