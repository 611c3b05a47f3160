//! Kubernetes resource quantities (`100m`, `1Gi`, `1e3`, `0.5`), parsed exactly as
//! apimachinery's `resource.ParseQuantity` reads them (`pkg/api/resource/quantity.go`
//! `parseQuantityString` and the suffixer in `suffix.go`), and rounded as the scheduler
//! rounds them: cpu up to whole millicores (`MilliValue`), everything else up to whole
//! units (`Value`), before any sum (`pkg/scheduler/framework/types.go`).

use std::fmt;

/// A parsed quantity: `mantissa × 10^exp10 × 2^exp2`, sign apart. At most
/// [`SIGNIFICANT_DIGITS`] digits are kept; `inexact` says a non-zero digit was dropped
/// beyond them (the value is then slightly larger than the kept part).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quantity {
    negative: bool,
    mantissa: u128,
    exp10: i32,
    exp2: u32,
    inexact: bool,
}

/// Enough for any quantity a manifest writes (Kubernetes' own fast path keeps 18).
const SIGNIFICANT_DIGITS: usize = 20;

/// Why a text is not a quantity, phrased like apimachinery's errors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuantityError(pub String);

impl fmt::Display for QuantityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Quantity {
    pub fn parse(text: &str) -> Result<Self, QuantityError> {
        let wrong = || {
            QuantityError(format!(
                "{text:?} is not a quantity (expected a number with an optional suffix such as 100m, 1Gi, 1e3)"
            ))
        };
        if text.is_empty() {
            return Err(wrong());
        }
        let bytes = text.as_bytes();
        let mut pos = 0;
        let negative = match bytes[0] {
            b'-' => {
                pos = 1;
                true
            }
            b'+' => {
                pos = 1;
                false
            }
            _ => false,
        };
        let digits_from = |start: usize| {
            bytes[start..]
                .iter()
                .position(|b| !b.is_ascii_digit())
                .map_or(bytes.len(), |n| start + n)
        };
        let integer_end = digits_from(pos);
        let integer = &text[pos..integer_end];
        pos = integer_end;
        let mut fraction = "";
        if bytes.get(pos) == Some(&b'.') {
            let fraction_end = digits_from(pos + 1);
            fraction = &text[pos + 1..fraction_end];
            pos = fraction_end;
        }
        let (exp10_suffix, exp2) = suffix(&text[pos..]).ok_or_else(wrong)?;
        // The digits as one integer with a decimal exponent, leading zeros dropped and at
        // most SIGNIFICANT_DIGITS kept.
        let significant = || {
            integer
                .bytes()
                .chain(fraction.bytes())
                .skip_while(|b| *b == b'0')
        };
        let mut mantissa: u128 = 0;
        for digit in significant().take(SIGNIFICANT_DIGITS) {
            mantissa = mantissa * 10 + u128::from(digit - b'0');
        }
        let dropped = significant().count().saturating_sub(SIGNIFICANT_DIGITS);
        let inexact = significant()
            .skip(SIGNIFICANT_DIGITS)
            .any(|digit| digit != b'0');
        let length = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
        let exp10 = exp10_suffix
            .saturating_add(length(dropped))
            .saturating_sub(length(fraction.len()));
        Ok(Self {
            negative: negative && mantissa != 0,
            mantissa,
            exp10,
            exp2,
            inexact,
        })
    }

    /// `ceil(value × 10^scale)` (cpu: scale 3, millicores; others: scale 0), saturating
    /// at the bounds of `i128`, as the scheduler's `MilliValue`/`Value` round up.
    pub fn ceil_scaled(&self, scale: i32) -> i128 {
        let magnitude = self.magnitude_ceil_or_floor(scale, !self.negative);
        let magnitude = i128::try_from(magnitude).unwrap_or(i128::MAX);
        if self.negative { -magnitude } else { magnitude }
    }

    /// The magnitude scaled, rounded up (`up`) or down; a dropped digit counts as a little
    /// more than what was kept.
    fn magnitude_ceil_or_floor(&self, scale: i32, up: bool) -> u128 {
        // exp2 is at most 60 (`Ei`) and the mantissa under 10^20: no overflow here.
        let base = self.mantissa << self.exp2;
        let exp = self.exp10.saturating_add(scale);
        let (whole, remainder) = if exp >= 0 {
            let factor = 10u128.checked_pow(exp as u32);
            match factor.and_then(|f| base.checked_mul(f)) {
                Some(value) => (value, false),
                None if base == 0 => (0, false),
                None => return u128::MAX,
            }
        } else {
            match 10u128.checked_pow(exp.unsigned_abs()) {
                Some(divisor) => (base / divisor, base % divisor != 0),
                None => (0, base != 0),
            }
        };
        if up && (remainder || self.inexact) {
            whole.saturating_add(1)
        } else {
            whole
        }
    }
}

/// A suffix as `(power of ten, power of two)`: none, binary SI (`Ki`…`Ei`), decimal SI
/// (`n`…`E`), or a decimal exponent (`e3`, `E-2`).
fn suffix(text: &str) -> Option<(i32, u32)> {
    Some(match text {
        "" => (0, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        _ => {
            let exponent = text.strip_prefix(['e', 'E'])?;
            let digits = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (exponent.parse::<i32>().ok()?, 0)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::Quantity;

    fn milli(text: &str) -> i128 {
        Quantity::parse(text).unwrap().ceil_scaled(3)
    }

    fn units(text: &str) -> i128 {
        Quantity::parse(text).unwrap().ceil_scaled(0)
    }

    /// Cases from apimachinery's `quantity_test.go` (TestQuantityParse, TestMilliValue),
    /// as millis (cpu) and as whole units rounded up (everything else).
    #[test]
    fn quantities_parse_as_apimachinery_reads_them() {
        let zero = [
            "0", "0n", "0u", "0m", "0Ki", "0k", "0Mi", "0M", "0Gi", "0G", "0Ti", "0T", "+0", "-0",
            "0e3", "0.0",
        ];
        for text in zero {
            assert_eq!(milli(text), 0, "{text}");
        }
        let binary: [(&str, i128); 7] = [
            ("1Ki", 1 << 10),
            ("8Mi", 8 << 20),
            ("7Gi", 7 << 30),
            ("6Ti", 6 << 40),
            ("5Pi", 5 << 50),
            ("4Ei", 4 << 60),
            ("1.5Gi", 1_610_612_736),
        ];
        for (text, value) in binary {
            assert_eq!(units(text), value, "{text}");
        }
        let decimal: [(&str, i128); 12] = [
            ("5n", 1),
            ("4u", 1),
            ("3m", 3),
            ("9", 9_000),
            ("8k", 8_000_000),
            ("50k", 50_000_000),
            ("7M", 7_000_000_000),
            ("1E", 1_000_000_000_000_000_000_000),
            ("100m", 100),
            ("0.5", 500),
            (".5", 500),
            ("1.", 1_000),
        ];
        for (text, value) in decimal {
            assert_eq!(milli(text), value, "{text}");
        }
        let exponents: [(&str, i128); 6] = [
            ("1e3", 1_000_000),
            ("1E3", 1_000_000),
            ("1e+3", 1_000_000),
            ("1E-3", 1),
            ("1e-2", 10),
            ("12e6", 12_000_000_000),
        ];
        for (text, value) in exponents {
            assert_eq!(milli(text), value, "{text}");
        }
        assert_eq!(units("1G"), 1_000_000_000);
        assert_eq!(units("1Gi"), 1 << 30);
        assert_eq!(units("1e3"), 1000, "1e3 of cpu is 1000 cores");
    }

    #[test]
    fn values_round_up_to_millicores_or_units_and_negatives_toward_zero() {
        assert_eq!(
            milli("469.5m") + milli("470.5m"),
            941,
            "rounded before summing"
        );
        assert_eq!(units("0.1"), 1, "a tenth of a byte is a byte");
        assert_eq!(milli("0.0001"), 1);
        assert_eq!(milli("-1"), -1_000);
        assert_eq!(milli("-0.5m"), 0, "ceil(-0.5) is 0");
        assert_eq!(
            milli("1.00000000000000000000001"),
            1_001,
            "a digit beyond the kept precision still rounds up"
        );
        assert_eq!(milli("1e40"), i128::MAX, "saturates");
        assert_eq!(units("99999999999999999999999Ei"), i128::MAX);
        assert_eq!(milli("0.000000000000000000000000000000000000000000001"), 1);
    }

    #[test]
    fn malformed_quantities_are_refused() {
        for text in [
            "", "1.1.M", "1+1.0M", "0.1mi", "0.1am", "aoeu", ".5i", "1i", "-3.01i", "-3.01e-",
            " 1", "1 ", "1K", "1KB", "1e", "1e3.5", "--1",
        ] {
            assert!(Quantity::parse(text).is_err(), "{text:?}");
        }
    }
}
