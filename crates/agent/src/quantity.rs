//! A small parser for Kubernetes resource quantities (`128Mi`, `0.5`, `250m`, `1e3`), enough to turn
//! `resources.limits` into cgroup numbers. Values are exact decimals; results are rounded up, as the
//! kubelet does when converting limits.

/// The string is not a Kubernetes quantity, or its value does not fit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {0:?}")]
pub struct QuantityError(pub String);

/// A parsed quantity: `mantissa * 10^exp10 * 1024^exp1024`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Parsed {
    negative: bool,
    mantissa: u128,
    exp10: i32,
    exp1024: u32,
}

fn parse(s: &str) -> Result<Parsed, QuantityError> {
    let err = || QuantityError(s.to_string());
    let (negative, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(number_len);
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    if int_part.is_empty() && frac_part.is_empty() || frac_part.contains('.') {
        return Err(err());
    }
    let mut mantissa: u128 = 0;
    for c in int_part.bytes().chain(frac_part.bytes()) {
        mantissa = mantissa.checked_mul(10).and_then(|m| m.checked_add(u128::from(c - b'0'))).ok_or_else(err)?;
    }
    let frac_digits = i32::try_from(frac_part.len()).map_err(|_| err())?;
    let (exp10, exp1024) = match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 1),
        "Mi" => (0, 2),
        "Gi" => (0, 3),
        "Ti" => (0, 4),
        "Pi" => (0, 5),
        "Ei" => (0, 6),
        _ => {
            let exponent = suffix.strip_prefix(['e', 'E']).ok_or_else(err)?;
            let value: i32 = exponent.parse().map_err(|_| err())?;
            (value, 0)
        }
    };
    Ok(Parsed { negative, mantissa, exp10: exp10 - frac_digits, exp1024 })
}

/// `ceil(value * scale)` as an integer, where `scale` is a power of ten (`1` for bytes, `1000` for millis).
fn scaled_ceil(s: &str, scale_exp10: i32) -> Result<i64, QuantityError> {
    let err = || QuantityError(s.to_string());
    let q = parse(s)?;
    if q.mantissa == 0 {
        return Ok(0);
    }
    let mut value = q.mantissa;
    for _ in 0..q.exp1024 {
        value = value.checked_mul(1024).ok_or_else(err)?;
    }
    let exp = q.exp10 + scale_exp10;
    if exp >= 0 {
        for _ in 0..exp {
            value = value.checked_mul(10).ok_or_else(err)?;
        }
    } else {
        let divisor = 10u128.checked_pow(exp.unsigned_abs()).ok_or_else(err);
        value = match divisor {
            Ok(d) => value.div_ceil(d),
            // More than 38 fractional digits: a positive value this small rounds up to one unit.
            Err(_) => 1,
        };
    }
    let value = i64::try_from(value).map_err(|_| err())?;
    Ok(if q.negative { -value } else { value })
}

/// Bytes in a memory quantity, rounded up (`"128Mi"` → 134217728, `"1G"` → 1000000000).
pub fn to_bytes(s: &str) -> Result<i64, QuantityError> {
    scaled_ceil(s, 0)
}

/// Millicores in a CPU quantity, rounded up (`"500m"` → 500, `"1.5"` → 1500, `"1"` → 1000).
pub fn to_millis(s: &str) -> Result<i64, QuantityError> {
    scaled_ceil(s, 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_table() {
        let cases: [(&str, i64); 12] = [
            ("0", 0),
            ("1", 1),
            ("128Mi", 134_217_728),
            ("1Gi", 1_073_741_824),
            ("1G", 1_000_000_000),
            ("1.5Ki", 1536),
            ("100k", 100_000),
            ("1e3", 1000),
            ("1E6", 1_000_000),
            ("500m", 1),
            (".5Ki", 512),
            ("+2Mi", 2_097_152),
        ];
        for (input, want) in cases {
            assert_eq!(to_bytes(input), Ok(want), "input {input:?}");
        }
    }

    #[test]
    fn millis_table() {
        let cases: [(&str, i64); 8] =
            [("500m", 500), ("1", 1000), ("1.5", 1500), ("0.1", 100), ("100u", 1), ("2k", 2_000_000), ("250m", 250), ("-1", -1000)];
        for (input, want) in cases {
            assert_eq!(to_millis(input), Ok(want), "input {input:?}");
        }
    }

    #[test]
    fn invalid_quantities() {
        for input in ["", "abc", "1Qi", "1.2.3", "Mi", "1e", "1ee3", "99999999999999999999999999999999999999999Ei"] {
            assert!(to_bytes(input).is_err(), "input {input:?} should be rejected");
        }
    }
}
