//! Parsing what the member typed into an exact register value.
//!
//! The accepted form is deliberately narrow: digits, and at most one decimal separator with digits
//! on both sides. Everything else is rejected with a variant that names the problem, because a
//! wrongly accepted reading ends up on a customer's bill.
//!
//! Accepted, besides plain ASCII:
//! - surrounding whitespace, including the full-width space U+3000 (trimmed);
//! - `,` as the decimal separator (some keyboards), and the full-width `．` (U+FF0E);
//! - full-width digits `０`-`９` from Chinese input methods (normalised to ASCII).
//!
//! Choices:
//! - Leading zeros are accepted whatever their number, because the member copies the register
//!   as displayed (`000123.4`) and a zero changes nothing about whether the value fits. Only the
//!   *significant* integer digits are counted against [`RegisterSpec::int_digits`]: `000123` and
//!   `0000123` both fit a 6-digit register, `1234567` does not.
//! - Decimals are counted as typed, trailing zeros included: `12.30` is two decimals, so it is
//!   rejected on a register that shows one. The returned value keeps the typed scale (`12.30`
//!   comes back with scale 2).
//! - `.5` and `5.` are rejected as incomplete rather than guessed at; the message says what to
//!   type instead.
//! - Character positions in errors are 1-based, counted in characters (not bytes) of the input
//!   after the surrounding whitespace is trimmed, i.e. of what the member sees in the field.
//! - When the input has several problems, the one at the earliest position is reported.

use rust_decimal::Decimal;

use super::RegisterSpec;

/// Why typed text is not a reading. Each variant names the problem so the shell can show it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the reading is empty")]
    Empty,
    /// A `+` or `-` (ASCII, full-width or the minus sign U+2212) anywhere in the input.
    #[error("a reading has no sign: remove the '{sign}' at position {position}")]
    Sign { sign: char, position: usize },
    /// A letter, an internal space or any other character that is not a digit or separator.
    #[error("invalid character {ch:?} at position {position}")]
    InvalidCharacter { ch: char, position: usize },
    /// A second decimal separator; `position` is where it is.
    #[error("more than one decimal separator (the second is at position {position})")]
    MultipleSeparators { position: usize },
    /// A separator with nothing before it: `.5` or `.`.
    #[error("incomplete number: no digits before the decimal separator (type 0.5, not .5)")]
    NoIntegerDigits,
    /// A separator with nothing after it: `5.`.
    #[error("incomplete number: no digits after the decimal separator (type 5, or 5.0, not 5.)")]
    NoDecimalDigits,
    /// More significant integer digits (leading zeros not counted) than the register shows.
    #[error("more than {max} integer digits (this register shows {max})")]
    TooManyIntegerDigits { found: usize, max: u8 },
    /// More decimals (as typed, trailing zeros included) than the register shows.
    #[error("{}", too_many_decimals_text(*found, *max))]
    TooManyDecimals { found: usize, max: u8 },
    /// The digits fit the register spec but not an exact decimal (only possible with register
    /// specs of more than 28 digits, which no real meter has).
    #[error("the number has too many digits to be stored exactly")]
    OutOfRange,
}

fn too_many_decimals_text(found: usize, max: u8) -> String {
    if max == 0 {
        format!("{found} decimal(s) typed, but this register shows no decimals")
    } else {
        format!("more than {max} decimals (this register shows {max})")
    }
}

/// One character of the input, classified.
enum Symbol {
    Digit(u8),
    Separator,
    Sign,
    Other,
}

fn classify(c: char) -> Symbol {
    match c {
        '0'..='9' => Symbol::Digit(c as u8 - b'0'),
        // Full-width digits U+FF10..=U+FF19.
        '\u{FF10}'..='\u{FF19}' => Symbol::Digit((c as u32 - 0xFF10) as u8),
        '.' | ',' | '\u{FF0E}' => Symbol::Separator,
        '+' | '-' | '\u{FF0B}' | '\u{FF0D}' | '\u{2212}' => Symbol::Sign,
        _ => Symbol::Other,
    }
}

/// Parses `raw` as a value of the register described by `spec`.
pub fn parse_value(raw: &str, spec: &RegisterSpec) -> Result<Decimal, ParseError> {
    // `str::trim` trims Unicode white space, which includes the ideographic space U+3000.
    let text = raw.trim();
    if text.is_empty() {
        return Err(ParseError::Empty);
    }

    let mut int_digits: Vec<u8> = Vec::new();
    let mut frac_digits: Vec<u8> = Vec::new();
    let mut seen_separator = false;
    for (index, c) in text.chars().enumerate() {
        let position = index + 1;
        match classify(c) {
            Symbol::Digit(d) if seen_separator => frac_digits.push(d),
            Symbol::Digit(d) => int_digits.push(d),
            Symbol::Separator if seen_separator => {
                return Err(ParseError::MultipleSeparators { position });
            }
            Symbol::Separator => seen_separator = true,
            Symbol::Sign => return Err(ParseError::Sign { sign: c, position }),
            Symbol::Other => return Err(ParseError::InvalidCharacter { ch: c, position }),
        }
    }

    if int_digits.is_empty() {
        // Non-empty text made only of digits and separators: a separator came first.
        return Err(ParseError::NoIntegerDigits);
    }
    if seen_separator && frac_digits.is_empty() {
        return Err(ParseError::NoDecimalDigits);
    }

    let significant: &[u8] = match int_digits.iter().position(|&d| d != 0) {
        Some(first) => &int_digits[first..],
        None => &[],
    };
    if significant.len() > usize::from(spec.int_digits) {
        return Err(ParseError::TooManyIntegerDigits {
            found: significant.len(),
            max: spec.int_digits,
        });
    }
    if frac_digits.len() > usize::from(spec.decimals) {
        return Err(ParseError::TooManyDecimals {
            found: frac_digits.len(),
            max: spec.decimals,
        });
    }

    let mut mantissa: i128 = 0;
    for &d in significant.iter().chain(frac_digits.iter()) {
        mantissa = mantissa
            .checked_mul(10)
            .and_then(|m| m.checked_add(i128::from(d)))
            .ok_or(ParseError::OutOfRange)?;
    }
    let scale = u32::try_from(frac_digits.len()).map_err(|_| ParseError::OutOfRange)?;
    Decimal::try_from_i128_with_scale(mantissa, scale).map_err(|_| ParseError::OutOfRange)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reading::Register;
    use proptest::prelude::*;
    use std::str::FromStr;

    fn spec(int_digits: u8, decimals: u8) -> RegisterSpec {
        RegisterSpec {
            register: Register::Total,
            int_digits,
            decimals,
        }
    }

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).expect("test decimal")
    }

    #[test]
    fn accepted_forms() {
        let s = spec(6, 2);
        let cases: &[(&str, &str)] = &[
            ("123.4", "123.4"),
            ("12,3", "12.3"),
            ("１２３．４", "123.4"),
            ("１２３,４", "123.4"),
            ("123．45", "123.45"),
            (" 00123.4 ", "123.4"),
            ("\u{3000}12.3\u{3000}", "12.3"),
            ("\t 7 \n", "7"),
            ("0", "0"),
            ("0.00", "0.00"),
            ("000000", "0"),
            ("000123", "123"),
            // Leading zeros beyond the register width are fine when the value fits.
            ("0000123", "123"),
            ("999999.99", "999999.99"),
            ("12.30", "12.30"),
        ];
        for &(raw, want) in cases {
            let got = parse_value(raw, &s);
            assert_eq!(got, Ok(dec(want)), "{raw:?}");
        }
    }

    #[test]
    fn keeps_typed_scale() {
        let s = spec(6, 3);
        assert_eq!(parse_value("12.30", &s).map(|d| d.scale()), Ok(2));
        assert_eq!(parse_value("12.300", &s).map(|d| d.scale()), Ok(3));
        assert_eq!(parse_value("12", &s).map(|d| d.scale()), Ok(0));
        assert_eq!(parse_value("0,0", &s).map(|d| d.scale()), Ok(1));
        assert_eq!(
            parse_value("007.10", &s).map(|d| (d.mantissa(), d.scale())),
            Ok((710, 2))
        );
    }

    #[test]
    fn rejected_forms() {
        use ParseError::*;
        let s = spec(6, 2);
        let cases: Vec<(&str, ParseError)> = vec![
            ("", Empty),
            ("   ", Empty),
            ("\u{3000}\u{3000}", Empty),
            (
                "12,3a",
                InvalidCharacter {
                    ch: 'a',
                    position: 5,
                },
            ),
            (
                "a12",
                InvalidCharacter {
                    ch: 'a',
                    position: 1,
                },
            ),
            (
                " 1x",
                InvalidCharacter {
                    ch: 'x',
                    position: 2,
                },
            ),
            (
                "1 234",
                InvalidCharacter {
                    ch: ' ',
                    position: 2,
                },
            ),
            (
                "1\u{3000}234",
                InvalidCharacter {
                    ch: '\u{3000}',
                    position: 2,
                },
            ),
            (
                "12。3",
                InvalidCharacter {
                    ch: '。',
                    position: 3,
                },
            ),
            (
                "1e3",
                InvalidCharacter {
                    ch: 'e',
                    position: 2,
                },
            ),
            (
                "１２ｘ",
                InvalidCharacter {
                    ch: 'ｘ',
                    position: 3,
                },
            ),
            (
                "-5",
                Sign {
                    sign: '-',
                    position: 1,
                },
            ),
            (
                "+5",
                Sign {
                    sign: '+',
                    position: 1,
                },
            ),
            (
                "5-",
                Sign {
                    sign: '-',
                    position: 2,
                },
            ),
            (
                "1+2",
                Sign {
                    sign: '+',
                    position: 2,
                },
            ),
            (
                "－5",
                Sign {
                    sign: '－',
                    position: 1,
                },
            ),
            ("1.2.3", MultipleSeparators { position: 4 }),
            ("1,2.3", MultipleSeparators { position: 4 }),
            ("1..2", MultipleSeparators { position: 3 }),
            ("1.2.a", MultipleSeparators { position: 4 }),
            (".", NoIntegerDigits),
            (".5", NoIntegerDigits),
            (
                "，5",
                InvalidCharacter {
                    ch: '，',
                    position: 1,
                },
            ),
            ("5.", NoDecimalDigits),
            ("５．", NoDecimalDigits),
            ("1234567", TooManyIntegerDigits { found: 7, max: 6 }),
            ("01234567.1", TooManyIntegerDigits { found: 7, max: 6 }),
            ("12.345", TooManyDecimals { found: 3, max: 2 }),
            ("12.300", TooManyDecimals { found: 3, max: 2 }),
        ];
        for (raw, want) in cases {
            assert_eq!(parse_value(raw, &s), Err(want), "{raw:?}");
        }
        assert_eq!(
            parse_value("12.3", &spec(6, 0)),
            Err(TooManyDecimals { found: 1, max: 0 })
        );
        assert_eq!(
            parse_value("1", &spec(0, 2)),
            Err(TooManyIntegerDigits { found: 1, max: 0 })
        );
        assert_eq!(parse_value("0.5", &spec(0, 2)), Ok(dec("0.5")));
    }

    #[test]
    fn huge_specs_do_not_panic() {
        let s = spec(u8::MAX, u8::MAX);
        assert_eq!(
            parse_value(&"9".repeat(40), &s),
            Err(ParseError::OutOfRange)
        );
        assert_eq!(
            parse_value(&format!("0.{}", "1".repeat(29)), &s),
            Err(ParseError::OutOfRange)
        );
        assert_eq!(parse_value(&"9".repeat(28), &s), Ok(dec(&"9".repeat(28))));
        assert_eq!(
            parse_value(&format!("{}1", "0".repeat(200)), &spec(1, 0)),
            Ok(Decimal::ONE)
        );
    }

    #[test]
    fn messages_name_the_problem() {
        let s = spec(6, 2);
        let text = |raw: &str| parse_value(raw, &s).expect_err("should fail").to_string();
        assert_eq!(
            text("1234567"),
            "more than 6 integer digits (this register shows 6)"
        );
        assert_eq!(
            text("1.234"),
            "more than 2 decimals (this register shows 2)"
        );
        assert_eq!(text("12,3a"), "invalid character 'a' at position 5");
        assert_eq!(text("1 2"), "invalid character ' ' at position 2");
        assert!(text(".5").contains("type 0.5"));
        assert!(text("5.").contains("incomplete"));
        assert!(text("-5").contains("'-' at position 1"));
        assert_eq!(
            parse_value("1.5", &spec(6, 0))
                .expect_err("fails")
                .to_string(),
            "1 decimal(s) typed, but this register shows no decimals"
        );
    }

    /// A register spec and a value that fits it.
    fn spec_and_value() -> impl Strategy<Value = (RegisterSpec, Decimal)> {
        (0u8..=12, 0u8..=4).prop_flat_map(|(int_digits, decimals)| {
            let max = 10i64.pow(u32::from(int_digits) + u32::from(decimals));
            (0..max, 0..=decimals).prop_map(move |(m, scale)| {
                // Any scale up to the register's decimals; drop digits that no longer fit.
                let m = m / 10i64.pow(u32::from(decimals - scale));
                (
                    spec(int_digits, decimals),
                    Decimal::new(m, u32::from(scale)),
                )
            })
        })
    }

    fn to_full_width(s: &str) -> String {
        s.chars()
            .map(|c| match c {
                '0'..='9' => char::from_u32(0xFF10 + (c as u32 - '0' as u32)).unwrap_or(c),
                '.' => '．',
                other => other,
            })
            .collect()
    }

    proptest! {
        #[test]
        fn round_trips((s, v) in spec_and_value(), comma in any::<bool>(), full in any::<bool>(), zeros in 0usize..4) {
            let mut text = format!("{}{}", "0".repeat(zeros), v);
            if comma {
                text = text.replace('.', ",");
            }
            if full {
                text = to_full_width(&text);
            }
            let parsed = parse_value(&text, &s);
            prop_assert_eq!(parsed.clone(), Ok(v), "{:?}", text);
            prop_assert_eq!(parsed.map(|d| d.scale()), Ok(v.scale()));
        }

        #[test]
        fn any_ascii_letter_is_rejected(prefix in "[0-9.,]{0,6}", letter in "[a-zA-Z]", suffix in "[0-9.,a-z ]{0,6}") {
            let text = format!("{prefix}{letter}{suffix}");
            prop_assert!(parse_value(&text, &spec(8, 3)).is_err(), "{:?}", text);
        }

        #[test]
        fn never_panics(text in any::<String>(), int_digits in any::<u8>(), decimals in any::<u8>()) {
            let _ = parse_value(&text, &spec(int_digits, decimals));
        }

        #[test]
        fn never_panics_on_digit_soup(text in "[0-9０-９.,．+\\- \u{3000}]{0,60}", int_digits in any::<u8>(), decimals in any::<u8>()) {
            let _ = parse_value(&text, &spec(int_digits, decimals));
        }
    }
}
