//! The scalar types of schema format 3: date, time, duration, UUID and decimal. Each has
//! one normalized JSON text (what validation returns, `rows --json` prints and row keys
//! hash) and one Arrow type (what leaves store and SQL sees).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Decimal128Type, Int64Type, Time64MicrosecondType};
use arrow_array::{
    Array, ArrayRef, Date32Array, Decimal128Array, Int64Array, Time64MicrosecondArray,
};
use arrow_schema::{DataType, TimeUnit};
use chrono::{NaiveDate, NaiveTime, Timelike};
use serde_json::Value;

use crate::rows::json::exact_number;

use super::{SchemaError, Type, Violation, describe, violation};

/// A decimal column's default precision and scale: Pydantic's JSON Schema carries no
/// `max_digits` or `decimal_places`, so a `Decimal` is stored as decimal(38, 9), exactly.
pub const DECIMAL_PRECISION: u8 = 38;
pub const DECIMAL_SCALE: i8 = 9;

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

/// How two normalized values of a format-3 scalar type order: decimals and durations by
/// their value (their texts do not sort so: `"10.0"` < `"9.0"`, `"P1D"` < `"PT1S"`), the
/// others by their text, which sorts as they do. None where either is not one.
pub fn value_order(ty: &Type, a: &str, b: &str) -> Option<std::cmp::Ordering> {
    match ty {
        Type::Decimal { precision, scale } => {
            let unscaled = |text: &str| parse_decimal(text, *precision, *scale).ok();
            Some(unscaled(a)?.cmp(&unscaled(b)?))
        }
        Type::Duration => Some(parse_duration(a)?.cmp(&parse_duration(b)?)),
        _ => Some(a.cmp(b)),
    }
}

/// The Arrow type of a scalar of format 3.
pub(super) fn data_type(ty: &Type) -> DataType {
    match ty {
        Type::Date => DataType::Date32,
        Type::Time => DataType::Time64(TimeUnit::Microsecond),
        // Parquet has no duration type: microseconds, as an int.
        Type::Duration => DataType::Int64,
        Type::Uuid => DataType::Utf8,
        Type::Decimal { precision, scale } => DataType::Decimal128(*precision, *scale),
        other => unreachable!("{other} is not a format-3 scalar"),
    }
}

/// Checks a JSON value against a format-3 scalar type and returns its normalized text.
pub(super) fn check(ty: &Type, value: &Value, path: &str) -> Result<Value, Violation> {
    let expected = match ty {
        Type::Date => "date (YYYY-MM-DD)",
        Type::Time => "time (HH:MM:SS[.ffffff], an offset is taken to UTC)",
        Type::Duration => "duration (ISO 8601, e.g. P1DT2H3M4.5S, or seconds)",
        Type::Uuid => "UUID",
        Type::Decimal { .. } => "decimal (a string or number)",
        other => unreachable!("{other} is not a format-3 scalar"),
    };
    let fail = || {
        violation(
            path,
            format!("expected {expected}, found {}", describe(value)),
        )
    };
    let normalized = match (ty, value) {
        (Type::Date, Value::String(s)) => parse_date(s).map(format_date),
        (Type::Time, Value::String(s)) => parse_time(s).map(format_time),
        // Seconds: a number, or a literal no f64 holds (`rows::json`), to the µs.
        (Type::Duration, _) if value.is_number() || exact_number(value).is_some() => value
            .as_f64()
            .or_else(|| crate::rows::json::exact_number_f64(value))
            .map(|seconds| seconds * MICROS_PER_SECOND as f64)
            .filter(|micros| micros.is_finite() && micros.abs() < i64::MAX as f64)
            .map(|micros| format_duration(micros.round() as i64)),
        (Type::Duration, Value::String(s)) => parse_duration(s).map(format_duration),
        (Type::Uuid, Value::String(s)) => parse_uuid(s),
        (Type::Decimal { precision, scale }, Value::String(_) | Value::Number(_)) => {
            // A number literal no f64 holds arrives as its text (`rows::json`); every
            // other number's shortest text is the literal's value.
            let text = match (exact_number(value), value) {
                (Some(literal), _) => literal.to_string(),
                (None, Value::String(s)) => s.clone(),
                (None, other) => other.to_string(),
            };
            return parse_decimal(&text, *precision, *scale)
                .map(|unscaled| Value::String(format_decimal(unscaled, *scale)))
                .map_err(|reason| {
                    violation(
                        path,
                        format!(
                            "expected decimal({precision}, {scale}), found {}: {reason} \
                             (a decimal is stored exactly, never rounded)",
                            describe(value)
                        ),
                    )
                });
        }
        _ => None,
    };
    normalized.map(Value::String).ok_or_else(fail)
}

/// The Arrow array of normalized values (None for null) of a format-3 scalar type.
pub(super) fn build(
    ty: &Type,
    values: &[Option<&Value>],
    path: &str,
) -> Result<ArrayRef, SchemaError> {
    let text = |value: Option<&Value>| -> Result<Option<String>, SchemaError> {
        match value {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(not_normalized(path, ty, other)),
        }
    };
    let parsed = |parse: &dyn Fn(&str) -> Option<i64>| -> Result<Vec<Option<i64>>, SchemaError> {
        values
            .iter()
            .map(|value| match text(*value)? {
                None => Ok(None),
                Some(s) => parse(&s)
                    .map(Some)
                    .ok_or_else(|| not_normalized(path, ty, &Value::String(s))),
            })
            .collect()
    };
    let array: ArrayRef = match ty {
        Type::Date => {
            let days = parsed(&|s| parse_date(s).map(days_of))?;
            let days: Vec<Option<i32>> = days
                .into_iter()
                .map(|day| day.and_then(|day| i32::try_from(day).ok()))
                .collect();
            Arc::new(Date32Array::from(days))
        }
        Type::Time => Arc::new(Time64MicrosecondArray::from(parsed(&|s| {
            parse_time(s).map(micros_of_time)
        })?)),
        Type::Duration => Arc::new(Int64Array::from(parsed(&parse_duration)?)),
        Type::Uuid => {
            let strings: Vec<Option<String>> = values
                .iter()
                .map(|value| text(*value))
                .collect::<Result<_, _>>()?;
            Arc::new(arrow_array::StringArray::from(strings))
        }
        Type::Decimal { precision, scale } => {
            let unscaled: Vec<Option<i128>> = values
                .iter()
                .map(|value| match text(*value)? {
                    None => Ok(None),
                    Some(s) => parse_decimal(&s, *precision, *scale)
                        .map(Some)
                        .map_err(|_| not_normalized(path, ty, &Value::String(s))),
                })
                .collect::<Result<_, _>>()?;
            Arc::new(
                Decimal128Array::from(unscaled)
                    .with_precision_and_scale(*precision, *scale)
                    .map_err(|source| SchemaError::Arrow {
                        path: path.to_string(),
                        source,
                    })?,
            )
        }
        other => unreachable!("{other} is not a format-3 scalar"),
    };
    Ok(array)
}

fn not_normalized(path: &str, ty: &Type, value: &Value) -> SchemaError {
    SchemaError::NotNormalized {
        path: path.to_string(),
        message: format!("expected {ty}, found {}", describe(value)),
    }
}

/// The normalized JSON values of an Arrow array of a format-3 scalar type.
pub(super) fn to_values(
    ty: &Type,
    array: &dyn Array,
    path: &str,
) -> Result<Vec<Value>, SchemaError> {
    let wrong_type = || SchemaError::ArrowType {
        path: path.to_string(),
        expected: ty.to_string(),
        found: array.data_type().clone(),
    };
    let text = |value: Option<String>| value.map_or(Value::Null, Value::String);
    let values = match ty {
        Type::Date => array
            .as_primitive_opt::<Date32Type>()
            .ok_or_else(wrong_type)?
            .iter()
            .map(|day| text(day.and_then(date_of_days).map(format_date)))
            .collect(),
        Type::Time => array
            .as_primitive_opt::<Time64MicrosecondType>()
            .ok_or_else(wrong_type)?
            .iter()
            .map(|micros| text(micros.and_then(time_of_micros).map(format_time)))
            .collect(),
        Type::Duration => array
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(wrong_type)?
            .iter()
            .map(|micros| text(micros.map(format_duration)))
            .collect(),
        Type::Uuid => array
            .as_string_opt::<i32>()
            .ok_or_else(wrong_type)?
            .iter()
            .map(|s| text(s.map(str::to_string)))
            .collect(),
        Type::Decimal { scale, .. } => array
            .as_primitive_opt::<Decimal128Type>()
            .ok_or_else(wrong_type)?
            .iter()
            .map(|unscaled| text(unscaled.map(|unscaled| format_decimal(unscaled, *scale))))
            .collect(),
        other => unreachable!("{other} is not a format-3 scalar"),
    };
    Ok(values)
}

// ---- date and time ---------------------------------------------------------------------

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date")
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

fn format_date(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

fn days_of(date: NaiveDate) -> i64 {
    (date - epoch()).num_days()
}

fn date_of_days(days: i32) -> Option<NaiveDate> {
    epoch().checked_add_signed(chrono::TimeDelta::try_days(i64::from(days))?)
}

/// A time of day; with an offset (`Z`, `+02:00`), taken to UTC, so a column holds one zone.
fn parse_time(s: &str) -> Option<NaiveTime> {
    let (clock, offset_seconds) = split_offset(s)?;
    let time = NaiveTime::parse_from_str(clock, "%H:%M:%S%.f")
        .or_else(|_| NaiveTime::parse_from_str(clock, "%H:%M"))
        .ok()?;
    let micros = micros_of_time(time) - offset_seconds * MICROS_PER_SECOND;
    time_of_micros(micros.rem_euclid(MICROS_PER_DAY))
}

/// The clock text and the offset in seconds east of UTC (0 when there is none).
fn split_offset(s: &str) -> Option<(&str, i64)> {
    if let Some(clock) = s.strip_suffix('Z').or_else(|| s.strip_suffix('z')) {
        return Some((clock, 0));
    }
    let Some(at) = s.rfind(['+', '-']) else {
        return Some((s, 0));
    };
    let (clock, offset) = s.split_at(at);
    let sign = if offset.starts_with('-') { -1 } else { 1 };
    let (hours, minutes) = offset[1..].split_once(':').unwrap_or((&offset[1..], "0"));
    let hours: i64 = hours.parse().ok()?;
    let minutes: i64 = minutes.parse().ok()?;
    Some((clock, sign * (hours * 3600 + minutes * 60)))
}

fn micros_of_time(time: NaiveTime) -> i64 {
    i64::from(time.num_seconds_from_midnight()) * MICROS_PER_SECOND
        + i64::from(time.nanosecond() / 1000)
}

fn time_of_micros(micros: i64) -> Option<NaiveTime> {
    if !(0..MICROS_PER_DAY).contains(&micros) {
        return None;
    }
    NaiveTime::from_num_seconds_from_midnight_opt(
        u32::try_from(micros / MICROS_PER_SECOND).ok()?,
        u32::try_from(micros % MICROS_PER_SECOND).ok()? * 1000,
    )
}

fn format_time(time: NaiveTime) -> String {
    time.format("%H:%M:%S%.6f").to_string()
}

// ---- duration --------------------------------------------------------------------------

/// ISO 8601 `[-]P[nW][nD][T[nH][nM][n[.f]S]]` in microseconds, as Pydantic writes a
/// `timedelta`. Years and months (no fixed length) and more than 6 fractional digits are
/// refused.
pub(super) fn parse_duration(s: &str) -> Option<i64> {
    let (sign, rest) = match s.strip_prefix('-') {
        Some(rest) => (-1i128, rest),
        None => (1, s.strip_prefix('+').unwrap_or(s)),
    };
    let rest = rest.strip_prefix('P').or_else(|| rest.strip_prefix('p'))?;
    let (date_part, time_part) = match rest.split_once(['T', 't']) {
        Some((date, time)) => (date, Some(time)),
        None => (rest, None),
    };
    let mut total: i128 = 0;
    let mut any = false;
    let mut read = |part: &str, units: &[(char, i64)]| -> Option<()> {
        let mut number = String::new();
        for ch in part.chars() {
            if ch.is_ascii_digit() || ch == '.' {
                number.push(ch);
                continue;
            }
            let unit = units
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(&ch))?
                .1;
            total += micros_of(&number, unit)?;
            number.clear();
            any = true;
        }
        number.is_empty().then_some(())
    };
    read(
        date_part,
        &[('W', 7 * MICROS_PER_DAY), ('D', MICROS_PER_DAY)],
    )?;
    if let Some(time_part) = time_part {
        if time_part.is_empty() {
            return None;
        }
        read(
            time_part,
            &[
                ('H', 3600 * MICROS_PER_SECOND),
                ('M', 60 * MICROS_PER_SECOND),
                ('S', MICROS_PER_SECOND),
            ],
        )?;
    }
    if !any {
        return None;
    }
    i64::try_from(sign * total).ok()
}

/// `number` (digits, maybe a fraction of at most 6 digits) times `unit` µs, exactly.
fn micros_of(number: &str, unit: i64) -> Option<i128> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() || fraction.len() > 6 || fraction.contains('.') {
        return None;
    }
    let whole: i128 = whole.parse().ok()?;
    let fraction_micros: i128 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<6}").parse().ok()?
    };
    let value = whole.checked_mul(i128::from(unit))?;
    // A fraction is exact only when the unit is a whole number of µs per 10^-6 unit.
    let part = fraction_micros.checked_mul(i128::from(unit))? / 1_000_000;
    if (fraction_micros * i128::from(unit)) % 1_000_000 != 0 {
        return None;
    }
    value.checked_add(part)
}

/// `[-]P[nD][T[nH][nM][n[.ffffff]S]]`, zero parts left out (`PT0S` for zero).
pub(super) fn format_duration(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let total = i128::from(micros).unsigned_abs();
    let per_day = MICROS_PER_DAY as u128;
    let per_second = MICROS_PER_SECOND as u128;
    let days = total / per_day;
    let rest = total % per_day;
    let (hours, minutes) = (rest / (3600 * per_second), rest / (60 * per_second) % 60);
    let (seconds, fraction) = (rest / per_second % 60, rest % per_second);
    let mut out = format!("{sign}P");
    if days > 0 {
        out.push_str(&format!("{days}D"));
    }
    if rest > 0 || days == 0 {
        out.push('T');
        if hours > 0 {
            out.push_str(&format!("{hours}H"));
        }
        if minutes > 0 {
            out.push_str(&format!("{minutes}M"));
        }
        if seconds > 0 || fraction > 0 || (hours == 0 && minutes == 0) {
            out.push_str(&seconds.to_string());
            if fraction > 0 {
                let digits = format!("{fraction:06}");
                out.push('.');
                out.push_str(digits.trim_end_matches('0'));
            }
            out.push('S');
        }
    }
    out
}

// ---- UUID ------------------------------------------------------------------------------

/// 32 hex digits, hyphenated or not (braces and a `urn:uuid:` prefix allowed), as
/// lowercase `8-4-4-4-12`.
fn parse_uuid(s: &str) -> Option<String> {
    let s = s.strip_prefix("urn:uuid:").unwrap_or(s);
    let s = s
        .strip_prefix('{')
        .and_then(|inner| inner.strip_suffix('}'))
        .unwrap_or(s);
    let hex: String = s.chars().filter(|ch| *ch != '-').collect();
    let hyphens_fit = s.len() == 32
        || (s.len() == 36 && [8, 13, 18, 23].iter().all(|at| s.as_bytes()[*at] == b'-'));
    if hex.len() != 32 || !hyphens_fit || !hex.chars().all(|ch| ch.is_ascii_hexdigit()) {
        return None;
    }
    let hex = hex.to_ascii_lowercase();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

// ---- decimal ---------------------------------------------------------------------------

/// A decimal text (`-12.5`, `1E+2`) as its unscaled value at `scale`, exactly: a digit
/// beyond the scale that is not zero, or more than `precision` digits, is refused.
pub(super) fn parse_decimal(text: &str, precision: u8, scale: i8) -> Result<i128, String> {
    let not_decimal = || "not a decimal number".to_string();
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (mantissa, exponent) = match rest.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (
            mantissa,
            exponent.parse::<i32>().map_err(|_| not_decimal())?,
        ),
        None => (rest, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: String = format!("{whole}{fraction}");
    if digits.is_empty() || !digits.chars().all(|ch| ch.is_ascii_digit()) {
        return Err(not_decimal());
    }
    let digits = digits.trim_start_matches('0');
    // The value is digits × 10^shift at the target scale.
    let shift = i64::from(exponent) - fraction.len() as i64 + i64::from(scale);
    let kept: &str = if shift >= 0 {
        digits
    } else {
        let cut = digits.len().saturating_sub(shift.unsigned_abs() as usize);
        if digits[cut..].chars().any(|ch| ch != '0') {
            return Err(format!("it has more than {scale} digits after the point"));
        }
        &digits[..cut]
    };
    let total_digits = kept.len() as i64 + shift.max(0);
    if kept.is_empty() {
        return Ok(0);
    }
    if total_digits > i64::from(precision) {
        return Err(format!(
            "it has more than {} digits before the point",
            i64::from(precision) - i64::from(scale)
        ));
    }
    let mut unscaled: i128 = kept.parse().map_err(|_| not_decimal())?;
    for _ in 0..shift.max(0) {
        unscaled *= 10;
    }
    Ok(if negative { -unscaled } else { unscaled })
}

/// The unscaled value with exactly `scale` digits after the point.
pub(super) fn format_decimal(unscaled: i128, scale: i8) -> String {
    let sign = if unscaled < 0 { "-" } else { "" };
    let digits = unscaled.unsigned_abs().to_string();
    if scale <= 0 {
        return format!(
            "{sign}{digits}{}",
            "0".repeat(scale.unsigned_abs() as usize)
        );
    }
    let scale = scale as usize;
    let digits = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = digits.split_at(digits.len() - scale);
    format!("{sign}{whole}.{fraction}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_pydantic_writes_them_and_print_back() {
        for (text, micros) in [
            ("P1DT5.000003S", MICROS_PER_DAY + 5_000_003),
            ("-PT1S", -MICROS_PER_SECOND),
            ("PT0S", 0),
            ("PT1H30M", 5_400 * MICROS_PER_SECOND),
            ("P2W", 14 * MICROS_PER_DAY),
        ] {
            assert_eq!(parse_duration(text), Some(micros), "{text}");
            assert_eq!(parse_duration(&format_duration(micros)), Some(micros));
        }
        assert_eq!(format_duration(MICROS_PER_DAY + 5_000_003), "P1DT5.000003S");
        for bad in ["P1Y", "P1M", "PT", "P", "1D", "PT1.0000001S", "PT1H2"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn decimals_are_exact_and_never_rounded() {
        let parse = |text: &str| parse_decimal(text, 38, 9);
        assert_eq!(parse("1.10"), Ok(1_100_000_000));
        assert_eq!(parse("-0.000000001"), Ok(-1));
        assert_eq!(parse("1E+2"), Ok(100_000_000_000));
        assert_eq!(parse("0"), Ok(0));
        assert!(
            parse("0.0000000001")
                .unwrap_err()
                .contains("after the point")
        );
        assert_eq!(
            parse("0.00000000010"),
            Err(parse("0.0000000001").unwrap_err())
        );
        assert!(
            parse(&"9".repeat(30))
                .unwrap_err()
                .contains("before the point")
        );
        assert_eq!(
            parse(&"9".repeat(29)),
            Ok(format!("{}000000000", "9".repeat(29)).parse().unwrap())
        );
        assert!(parse("1.2.3").is_err() && parse("abc").is_err() && parse("").is_err());
        assert_eq!(format_decimal(1_100_000_000, 9), "1.100000000");
        assert_eq!(format_decimal(-1, 9), "-0.000000001");
        assert_eq!(format_decimal(5, 0), "5");
    }

    #[test]
    fn times_with_an_offset_are_taken_to_utc_and_uuids_to_lowercase() {
        assert_eq!(
            parse_time("12:30:00+02:00").map(format_time).unwrap(),
            "10:30:00.000000"
        );
        assert_eq!(
            parse_time("00:30:00.5+01:00").map(format_time).unwrap(),
            "23:30:00.500000"
        );
        assert_eq!(
            parse_time("12:30:00.5").map(format_time).unwrap(),
            "12:30:00.500000"
        );
        assert_eq!(parse_time("25:00:00"), None);
        assert_eq!(
            parse_uuid("5EE56C1C3C534D408F64495141B50E65").unwrap(),
            "5ee56c1c-3c53-4d40-8f64-495141b50e65"
        );
        assert_eq!(parse_uuid("5ee56c1c-3c53-4d40-8f64-495141b50e6"), None);
        assert_eq!(parse_uuid("5ee56c1c3-c53-4d40-8f64-495141b50e65"), None);
    }
}
