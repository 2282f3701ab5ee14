//! Resource quantities (`500m`, `1.5Gi`, `2e3`), parsed the way apimachinery's `ParseQuantity` reads them, into
//! an exact number of nano-units.
//!
//! Upstream keeps arbitrary precision; runlet keeps nano-unit precision in an `i128` (enough for anything up to
//! about 10^29 units), rounding finer fractions away from zero like `Quantity.ScaledValue` does. Validation,
//! the scheduler and the runtime only need CPU in millicores and memory in bytes.

use std::fmt;

/// The upstream decode error for a quantity that does not have the shape of a number with a suffix.
pub const FORMAT_MESSAGE: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

/// Why a string is not a quantity (messages are upstream's `ErrFormatWrong` / `ErrSuffix`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error("{FORMAT_MESSAGE}")]
    Format,
    #[error("unable to parse quantity's suffix")]
    Suffix,
    /// Beyond what runlet represents (upstream would accept it; no real resource is this large).
    #[error("quantity is too large")]
    TooLarge,
}

/// An exact quantity in nano-units (`1` = 1_000_000_000, `1m` = 1_000_000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ParsedQuantity {
    nanos: i128,
}

const NANOS_PER_UNIT: i128 = 1_000_000_000;

impl ParsedQuantity {
    pub fn from_nanos(nanos: i128) -> Self {
        ParsedQuantity { nanos }
    }
    pub fn nanos(self) -> i128 {
        self.nanos
    }
    /// In thousandths (millicores for CPU), rounded away from zero like upstream `MilliValue`.
    pub fn milli_value(self) -> i128 {
        div_away_from_zero(self.nanos, 1_000_000)
    }
    /// In whole units (bytes for memory), rounded away from zero like upstream `Value`.
    pub fn value(self) -> i128 {
        div_away_from_zero(self.nanos, NANOS_PER_UNIT)
    }
    pub fn is_negative(self) -> bool {
        self.nanos < 0
    }
    pub fn is_zero(self) -> bool {
        self.nanos == 0
    }
    /// Whether it is a whole number of units (upstream's "must be an integer" rule for integer resources).
    pub fn is_integer(self) -> bool {
        self.nanos % NANOS_PER_UNIT == 0
    }
    pub fn checked_add(self, other: ParsedQuantity) -> Option<ParsedQuantity> {
        self.nanos.checked_add(other.nanos).map(ParsedQuantity::from_nanos)
    }
}

impl fmt::Display for ParsedQuantity {
    /// A plain decimal rendering (`0.5`, `2`, `-1.25`), for messages and logs; not upstream's canonical form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.nanos < 0 { "-" } else { "" };
        let abs = self.nanos.unsigned_abs();
        let whole = abs / NANOS_PER_UNIT as u128;
        let frac = abs % NANOS_PER_UNIT as u128;
        if frac == 0 {
            return write!(f, "{sign}{whole}");
        }
        let digits = format!("{frac:09}");
        write!(f, "{sign}{whole}.{}", digits.trim_end_matches('0'))
    }
}

fn div_away_from_zero(n: i128, d: i128) -> i128 {
    let q = n / d;
    if n % d == 0 {
        q
    } else if n < 0 {
        q - 1
    } else {
        q + 1
    }
}

/// The pieces of a quantity string, split the way upstream's `parseQuantityString` splits them.
struct Pieces<'a> {
    negative: bool,
    /// Integer digits without leading zeros (may be empty for zero).
    whole: &'a str,
    fraction: &'a str,
    suffix: &'a str,
}

fn split(s: &str) -> Result<Pieces<'_>, QuantityError> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Err(QuantityError::Format);
    }
    let mut pos = 0;
    let mut negative = false;
    match b[0] {
        b'-' => {
            negative = true;
            pos += 1;
        }
        b'+' => pos += 1,
        _ => {}
    }
    while pos < b.len() && b[pos] == b'0' {
        pos += 1;
    }
    let whole_start = pos;
    while pos < b.len() && b[pos].is_ascii_digit() {
        pos += 1;
    }
    let whole = &s[whole_start..pos];
    let mut fraction = "";
    if pos < b.len() && b[pos] == b'.' {
        pos += 1;
        let start = pos;
        while pos < b.len() && b[pos].is_ascii_digit() {
            pos += 1;
        }
        fraction = &s[start..pos];
    }
    // Suffix: letters from the suffix alphabet, an optional sign, then digits only.
    let suffix_start = pos;
    while pos < b.len() && b"eEinumkKMGTP".contains(&b[pos]) {
        pos += 1;
    }
    if pos < b.len() && (b[pos] == b'-' || b[pos] == b'+') {
        pos += 1;
    }
    while pos < b.len() && b[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos != b.len() {
        return Err(QuantityError::Format);
    }
    Ok(Pieces { negative, whole, fraction, suffix: &s[suffix_start..] })
}

/// `(decimal exponent, power of two)` that the suffix multiplies by.
fn suffix_scale(suffix: &str) -> Result<(i32, u32), QuantityError> {
    let scale = match suffix {
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
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        _ => {
            let exponent = suffix.strip_prefix(['e', 'E']).ok_or(QuantityError::Suffix)?;
            let digits = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
            if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
                return Err(QuantityError::Suffix);
            }
            // Anything beyond a few dozen decimal places is out of range either way.
            let value: i32 = exponent.parse().map_err(|_| QuantityError::TooLarge)?;
            (value, 0)
        }
    };
    Ok(scale)
}

/// Parses a quantity string (`100m`, `1.5Gi`, `2e3`, `+1`, `.5`).
pub fn parse_quantity(s: &str) -> Result<ParsedQuantity, QuantityError> {
    let pieces = split(s)?;
    let (exp10, exp2) = suffix_scale(pieces.suffix)?;
    let digits: String = format!("{}{}", pieces.whole, pieces.fraction);
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Ok(ParsedQuantity::default());
    }
    if digits.len() > 38 {
        return Err(QuantityError::TooLarge);
    }
    let mantissa: i128 = digits.parse().map_err(|_| QuantityError::TooLarge)?;
    let fraction_len = i32::try_from(pieces.fraction.len()).map_err(|_| QuantityError::TooLarge)?;
    // nanos = mantissa * 2^exp2 * 10^(exp10 - fraction_len + 9)
    let scaled = mantissa.checked_mul(1i128 << exp2).ok_or(QuantityError::TooLarge)?;
    let shift = exp10.checked_sub(fraction_len).and_then(|e| e.checked_add(9)).ok_or(QuantityError::TooLarge)?;
    let nanos = if shift >= 0 {
        let factor = 10i128.checked_pow(shift as u32).ok_or(QuantityError::TooLarge)?;
        scaled.checked_mul(factor).ok_or(QuantityError::TooLarge)?
    } else if -shift > 38 {
        // Smaller than one nano-unit but not zero: rounds up to one.
        1
    } else {
        div_away_from_zero(scaled, 10i128.pow((-shift) as u32))
    };
    Ok(ParsedQuantity { nanos: if pieces.negative { -nanos } else { nanos } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_suffixes_exactly() {
        let rows: &[(&str, i128, i128)] = &[
            // input, milli_value, value
            ("1", 1000, 1),
            ("500m", 500, 1),
            ("0.5", 500, 1),
            ("1.5", 1500, 2),
            ("2k", 2_000_000, 2000),
            ("1Ki", 1_024_000, 1024),
            ("128Mi", 134_217_728_000, 134_217_728),
            ("1.5Gi", 1_610_612_736_000, 1_610_612_736),
            ("1G", 1_000_000_000_000, 1_000_000_000),
            ("1e3", 1_000_000, 1000),
            ("1E-3", 1, 1),
            ("2e+2", 200_000, 200),
            ("100n", 1, 1),
            ("1u", 1, 1),
            ("+3", 3000, 3),
            ("-1", -1000, -1),
            ("-500m", -500, -1),
            (".5", 500, 1),
            ("1.", 1000, 1),
            ("007", 7000, 7),
            ("0", 0, 0),
            ("1Ei", 1_152_921_504_606_846_976_000, 1_152_921_504_606_846_976),
            ("1.G", 1_000_000_000_000, 1_000_000_000),
        ];
        for (input, milli, value) in rows {
            let q = parse_quantity(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(q.milli_value(), *milli, "milli of {input}");
            assert_eq!(q.value(), *value, "value of {input}");
        }
    }

    #[test]
    fn rejects_malformed_strings() {
        let rows: &[(&str, QuantityError)] = &[
            ("", QuantityError::Format),
            ("abc", QuantityError::Format),
            ("1 Gi", QuantityError::Format),
            ("1Gi1x", QuantityError::Format),
            ("1K", QuantityError::Suffix),
            ("1e", QuantityError::Suffix),
            ("1Gb", QuantityError::Format),
            ("1mi", QuantityError::Suffix),
            ("1e99", QuantityError::TooLarge),
        ];
        for (input, want) in rows {
            assert_eq!(parse_quantity(input).as_ref(), Err(want), "{input}");
        }
        assert_eq!(
            QuantityError::Format.to_string(),
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        );
    }

    #[test]
    fn compares_and_renders() {
        let a = parse_quantity("1").unwrap();
        let b = parse_quantity("1000m").unwrap();
        assert_eq!(a, b);
        assert!(parse_quantity("999m").unwrap() < a);
        assert!(a.is_integer());
        assert!(!parse_quantity("1.5").unwrap().is_integer());
        assert_eq!(parse_quantity("1.25").unwrap().to_string(), "1.25");
        assert_eq!(parse_quantity("-500m").unwrap().to_string(), "-0.5");
        assert_eq!(parse_quantity("3").unwrap().to_string(), "3");
    }
}
