//! Parsing a JSON record exactly. serde_json (built without its `float_roundtrip`
//! feature, which would rebuild arrow and DataFusion with it) rounds some decimals to a
//! neighbouring f64: `52.046970272007556` became `52.04697027200755`. This parser reads
//! every number with Rust's correctly rounded `str::parse`, so a float that any exact
//! writer (Python's `json`, ryu, serde_json's output) printed comes back bit for bit.
//! Syntax errors are left to serde_json, whose messages say what is wrong: a text this
//! parser refuses is handed to serde_json for the message.
//!
//! Records may also hold the bare tokens `NaN`, `Infinity` and `-Infinity`, which JSON
//! lacks and Pydantic writes with `ser_json_inf_nan='constants'`: `parse_record` reads
//! them as the marker strings `BARE_NAN`, `BARE_INFINITY` and `BARE_NEG_INFINITY`, which
//! only a float column accepts (see `non_finite`).
//!
//! A record's number literal that an f64 does not hold (more significant digits than
//! the f64's shortest text, like `12345678901234567.89` or `0.1000000000000000055`) is
//! read as the marker string `\u{0}` ‖ its text, so a decimal column takes it exactly
//! and never rounded (see `exact_number`); a float column takes the f64 it rounds to, as
//! it did before. Every literal an f64 holds (every one an exact float writer prints)
//! stays a number, so records that parsed before parse to the same values and hashes.

use serde_json::{Map, Number, Value};

/// What went wrong, for the caller's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not JSON (serde_json's message and 1-based column).
    #[error("{message} (column {column})")]
    Syntax { message: String, column: usize },
    /// An integer literal outside i64, pail's int.
    #[error(
        "the integer {literal} is out of the int range (64-bit signed, \
         -9223372036854775808 to 9223372036854775807)"
    )]
    IntOutOfRange { literal: String },
    /// Deeper than serde_json's limit.
    #[error("nested more than {MAX_DEPTH} levels deep")]
    TooDeep,
}

/// serde_json's own recursion limit: records were never deeper than this.
const MAX_DEPTH: usize = 128;

/// The bare token `NaN` of a record, as `parse_record` gives it: a string no JSON
/// writer makes by accident (it starts with U+0000), which only a float column accepts.
pub const BARE_NAN: &str = "\u{0}NaN";
/// The bare token `Infinity`, as `parse_record` gives it.
pub const BARE_INFINITY: &str = "\u{0}Infinity";
/// The bare token `-Infinity`, as `parse_record` gives it.
pub const BARE_NEG_INFINITY: &str = "\u{0}-Infinity";

/// The float a non-finite value stands for: a bare token as `parse_record` reads it, or
/// the strings `"NaN"`, `"Infinity"` and `"-Infinity"` (Pydantic's
/// `ser_json_inf_nan='strings'`, and how pail writes such floats back out as JSON).
pub fn non_finite(value: &Value) -> Option<f64> {
    let text = value.as_str()?;
    match text.strip_prefix('\u{0}').unwrap_or(text) {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

/// Whether `value` is a bare `NaN` or `±Infinity` token of a record.
pub fn is_bare_non_finite(value: &Value) -> bool {
    matches!(
        value.as_str(),
        Some(BARE_NAN | BARE_INFINITY | BARE_NEG_INFINITY)
    )
}

/// The text of a record's number literal that no f64 holds, as `parse_record` keeps it
/// (the marker `\u{0}` ‖ the literal); None for anything else.
pub fn exact_number(value: &Value) -> Option<&str> {
    let text = value.as_str()?.strip_prefix('\u{0}')?;
    let is_literal = text
        .bytes()
        .all(|byte| matches!(byte, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
        && text.bytes().any(|byte| byte.is_ascii_digit());
    is_literal.then_some(text)
}

/// The f64 nearest to a literal `exact_number` keeps (what a float column stores).
pub fn exact_number_f64(value: &Value) -> Option<f64> {
    exact_number(value)?.parse().ok()
}

/// Whether `value` is anything `parse_record` reads as a marker: a bare non-finite
/// token or a number literal no f64 holds.
pub fn is_bare(value: &Value) -> bool {
    is_bare_non_finite(value) || exact_number(value).is_some()
}

/// Whether the f64 `float`, parsed from the JSON number `text`, is the same number:
/// whether its shortest text (ryu's, which serde_json prints) has the literal's value.
fn round_trips(text: &str, float: f64) -> bool {
    let mantissa = text.split(['e', 'E']).next().unwrap_or(text);
    let mut significant = mantissa
        .bytes()
        .filter(u8::is_ascii_digit)
        .skip_while(|digit| *digit == b'0');
    if float == 0.0 {
        return significant.next().is_none();
    }
    // Every decimal of at most 15 significant digits is the shortest text of the
    // normal f64 nearest to it (f64 holds 15 decimal digits: DBL_DIG).
    if float.is_normal() && significant.count() <= 15 {
        return true;
    }
    let mut buffer = ryu::Buffer::new();
    let shortest = buffer.format_finite(float);
    // What an exact writer (serde_json, ryu) printed: the common case, without a compare.
    if shortest == text {
        return true;
    }
    // Another text of the same value (`1e-07`, `1.50`) is a number too; one of another
    // value is not, even when it reads as the same f64: `747739525329262.3` and ryu's
    // `747739525329262.2` both do (the f64 is the .25 between them), and a decimal column
    // must get the one the record wrote.
    match (Decimal::of(text), Decimal::of(shortest)) {
        (Some(literal), Some(shortest)) => literal.same(&shortest),
        _ => false,
    }
}

/// A decimal text (a JSON number, or ryu's output) read without allocating: its value is
/// ±(the significant digits of `whole` ‖ `fraction`) × 10^`exponent`.
struct Decimal<'a> {
    negative: bool,
    whole: &'a str,
    fraction: &'a str,
    /// Leading and trailing zeros of `whole` ‖ `fraction`.
    lead: usize,
    trail: usize,
    /// The power of ten of the last significant digit.
    exponent: i64,
}

impl<'a> Decimal<'a> {
    fn of(text: &'a str) -> Option<Decimal<'a>> {
        let (negative, rest) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (mantissa, exponent) = match rest.split_once(['e', 'E']) {
            Some((mantissa, exponent)) => (mantissa, exponent.parse::<i64>().ok()?),
            None => (rest, 0),
        };
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let digits = || whole.bytes().chain(fraction.bytes());
        let n_digits = whole.len() + fraction.len();
        let lead = digits().take_while(|digit| *digit == b'0').count();
        let trail = if lead == n_digits {
            0
        } else {
            fraction
                .bytes()
                .rev()
                .chain(whole.bytes().rev())
                .take_while(|digit| *digit == b'0')
                .count()
        };
        let exponent = exponent
            .checked_sub(i64::try_from(fraction.len()).ok()?)?
            .checked_add(i64::try_from(trail).ok()?)?;
        Some(Decimal {
            negative,
            whole,
            fraction,
            lead,
            trail,
            exponent,
        })
    }

    fn significant(&self) -> impl Iterator<Item = u8> + 'a {
        let n_digits = self.whole.len() + self.fraction.len();
        let kept = n_digits.saturating_sub(self.lead + self.trail);
        self.whole
            .bytes()
            .chain(self.fraction.bytes())
            .skip(self.lead)
            .take(kept)
    }

    /// Whether both are the same number (zero whatever its sign).
    fn same(&self, other: &Decimal) -> bool {
        let zero = |d: &Decimal| d.lead == d.whole.len() + d.fraction.len();
        match (zero(self), zero(other)) {
            (true, true) => true,
            (false, false) => {
                self.negative == other.negative
                    && self.exponent == other.exponent
                    && self.significant().eq(other.significant())
            }
            _ => false,
        }
    }
}

/// How a float is written in JSON: a number, or for NaN and the infinities (which JSON
/// has no numbers for) the strings `"NaN"`, `"Infinity"` and `"-Infinity"`.
pub fn float_value(float: f64) -> Value {
    match Number::from_f64(float) {
        Some(number) => Value::Number(number),
        None if float.is_nan() => Value::from("NaN"),
        None if float > 0.0 => Value::from("Infinity"),
        None => Value::from("-Infinity"),
    }
}

/// Parses one JSON text into a value with exact numbers.
pub fn parse(text: &str) -> Result<Value, ParseError> {
    parse_with(text, false)
}

/// Parses one record: `parse`, and the bare tokens `NaN`, `Infinity` and `-Infinity`
/// are read as `BARE_NAN`, `BARE_INFINITY` and `BARE_NEG_INFINITY`.
pub fn parse_record(text: &str) -> Result<Value, ParseError> {
    parse_with(text, true)
}

fn parse_with(text: &str, tokens: bool) -> Result<Value, ParseError> {
    let mut parser = Parser {
        bytes: text.as_bytes(),
        at: 0,
        tokens,
    };
    let parsed = parser
        .skip_ws()
        .and_then(|()| parser.value(0))
        .and_then(|value| {
            parser.skip_ws()?;
            if parser.at == parser.bytes.len() {
                Ok(value)
            } else {
                Err(Fail::Syntax)
            }
        });
    match parsed {
        Ok(value) => Ok(value),
        Err(Fail::IntOutOfRange(literal)) => Err(ParseError::IntOutOfRange { literal }),
        Err(Fail::TooDeep) => Err(ParseError::TooDeep),
        Err(Fail::Syntax) => Err(match serde_json::from_str::<Value>(text) {
            Err(err) => {
                let message = err.to_string();
                let message = message
                    .rfind(" at line ")
                    .map_or(message.as_str(), |at| &message[..at])
                    .to_string();
                ParseError::Syntax {
                    message,
                    column: err.column(),
                }
            }
            Ok(_) => ParseError::Syntax {
                message: "unsupported JSON".to_string(),
                column: parser.at + 1,
            },
        }),
    }
}

enum Fail {
    Syntax,
    IntOutOfRange(String),
    TooDeep,
}

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
    /// Whether the bare tokens `NaN`, `Infinity` and `-Infinity` are read, and number
    /// literals no f64 holds are kept as text (a record).
    tokens: bool,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_ws(&mut self) -> Result<(), Fail> {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
        Ok(())
    }

    fn literal(&mut self, word: &[u8], value: Value) -> Result<Value, Fail> {
        if self.bytes[self.at..].starts_with(word) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(Fail::Syntax)
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, Fail> {
        match self.peek().ok_or(Fail::Syntax)? {
            b'n' => self.literal(b"null", Value::Null),
            b't' => self.literal(b"true", Value::Bool(true)),
            b'f' => self.literal(b"false", Value::Bool(false)),
            b'"' => self.string().map(Value::String),
            b'[' => {
                if depth + 1 > MAX_DEPTH {
                    return Err(Fail::TooDeep);
                }
                self.at += 1;
                let mut items = Vec::new();
                self.skip_ws()?;
                if self.peek() == Some(b']') {
                    self.at += 1;
                    return Ok(Value::Array(items));
                }
                loop {
                    self.skip_ws()?;
                    items.push(self.value(depth + 1)?);
                    self.skip_ws()?;
                    match self.peek() {
                        Some(b',') => self.at += 1,
                        Some(b']') => {
                            self.at += 1;
                            return Ok(Value::Array(items));
                        }
                        _ => return Err(Fail::Syntax),
                    }
                }
            }
            b'{' => {
                if depth + 1 > MAX_DEPTH {
                    return Err(Fail::TooDeep);
                }
                self.at += 1;
                let mut object = Map::new();
                self.skip_ws()?;
                if self.peek() == Some(b'}') {
                    self.at += 1;
                    return Ok(Value::Object(object));
                }
                loop {
                    self.skip_ws()?;
                    if self.peek() != Some(b'"') {
                        return Err(Fail::Syntax);
                    }
                    let key = self.string()?;
                    self.skip_ws()?;
                    if self.peek() != Some(b':') {
                        return Err(Fail::Syntax);
                    }
                    self.at += 1;
                    self.skip_ws()?;
                    let item = self.value(depth + 1)?;
                    // Like serde_json: a repeated key keeps the last value.
                    object.insert(key, item);
                    self.skip_ws()?;
                    match self.peek() {
                        Some(b',') => self.at += 1,
                        Some(b'}') => {
                            self.at += 1;
                            return Ok(Value::Object(object));
                        }
                        _ => return Err(Fail::Syntax),
                    }
                }
            }
            b'N' if self.tokens => self.literal(b"NaN", Value::from(BARE_NAN)),
            b'I' if self.tokens => self.literal(b"Infinity", Value::from(BARE_INFINITY)),
            b'-' if self.tokens && self.bytes[self.at..].starts_with(b"-I") => {
                self.literal(b"-Infinity", Value::from(BARE_NEG_INFINITY))
            }
            b'-' | b'0'..=b'9' => self.number(),
            _ => Err(Fail::Syntax),
        }
    }

    fn number(&mut self) -> Result<Value, Fail> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        let digits = |parser: &mut Self| {
            let from = parser.at;
            while matches!(parser.peek(), Some(b'0'..=b'9')) {
                parser.at += 1;
            }
            parser.at - from
        };
        let int_start = self.at;
        let n_int = digits(self);
        if n_int == 0 || (n_int > 1 && self.bytes[int_start] == b'0') {
            return Err(Fail::Syntax);
        }
        let mut is_float = false;
        if self.peek() == Some(b'.') {
            self.at += 1;
            is_float = true;
            if digits(self) == 0 {
                return Err(Fail::Syntax);
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            is_float = true;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if digits(self) == 0 {
                return Err(Fail::Syntax);
            }
        }
        let text = std::str::from_utf8(&self.bytes[start..self.at]).expect("ASCII digits");
        if !is_float {
            // pail's int is i64: a larger literal is refused here, by name, rather than
            // read as a float (and then reported as "found float") or as a u64.
            return match text.parse::<i64>() {
                Ok(int) => Ok(Value::from(int)),
                Err(_) => Err(Fail::IntOutOfRange(text.to_string())),
            };
        }
        let float: f64 = text.parse().map_err(|_| Fail::Syntax)?;
        // Out of range decimals parse to infinity; serde_json refuses them too.
        let number = Number::from_f64(float).ok_or(Fail::Syntax)?;
        if self.tokens && !round_trips(text, float) {
            return Ok(Value::String(format!("\u{0}{text}")));
        }
        Ok(Value::Number(number))
    }

    fn hex4(&mut self) -> Result<u16, Fail> {
        let digits = self.bytes.get(self.at..self.at + 4).ok_or(Fail::Syntax)?;
        let text = std::str::from_utf8(digits).map_err(|_| Fail::Syntax)?;
        if !text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return Err(Fail::Syntax);
        }
        self.at += 4;
        u16::from_str_radix(text, 16).map_err(|_| Fail::Syntax)
    }

    fn string(&mut self) -> Result<String, Fail> {
        self.at += 1; // the opening quote
        let mut out = String::new();
        loop {
            let run_start = self.at;
            while let Some(byte) = self.peek() {
                if byte == b'"' || byte == b'\\' || byte < 0x20 {
                    break;
                }
                self.at += 1;
            }
            // The input is a &str and the run stops only at ASCII bytes, so it is UTF-8.
            out.push_str(std::str::from_utf8(&self.bytes[run_start..self.at]).expect("UTF-8"));
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.at += 1;
                    let escape = self.peek().ok_or(Fail::Syntax)?;
                    self.at += 1;
                    match escape {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let unit = self.hex4()?;
                            let ch = if (0xD800..0xDC00).contains(&unit) {
                                if !self.bytes[self.at..].starts_with(b"\\u") {
                                    return Err(Fail::Syntax);
                                }
                                self.at += 2;
                                let low = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&low) {
                                    return Err(Fail::Syntax);
                                }
                                let code = 0x10000
                                    + ((u32::from(unit) - 0xD800) << 10)
                                    + (u32::from(low) - 0xDC00);
                                char::from_u32(code).ok_or(Fail::Syntax)?
                            } else {
                                char::from_u32(u32::from(unit)).ok_or(Fail::Syntax)?
                            };
                            out.push(ch);
                        }
                        _ => return Err(Fail::Syntax),
                    }
                }
                _ => return Err(Fail::Syntax),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn floats_are_exact() {
        let value = parse(r#"{"x": 52.046970272007556}"#).unwrap();
        assert_eq!(value["x"].as_f64(), Some(52.046970272007556));
        assert_eq!(
            value["x"].as_f64().unwrap().to_bits(),
            "52.046970272007556".parse::<f64>().unwrap().to_bits()
        );
    }

    #[test]
    fn agrees_with_serde_json_on_everything_else() {
        for text in [
            r#"{"a": [1, -2, 3.5e-3, true, false, null, "x\u00e9\ud83d\ude00\n"], "b": {}}"#,
            r#"  {"dup": 1, "dup": 2}  "#,
            "-9223372036854775808",
            r#""\"\\\/\b\f\r\t""#,
        ] {
            assert_eq!(
                parse(text).unwrap(),
                serde_json::from_str::<Value>(text).unwrap(),
                "{text}"
            );
        }
        for bad in [
            "",
            "{",
            "[1,]",
            "01",
            "1.",
            "-",
            "\"\\x\"",
            "{\"a\" 1}",
            "1e999",
            "tru",
            "\"\u{1}\"",
        ] {
            assert!(
                matches!(parse(bad), Err(ParseError::Syntax { .. })),
                "{bad}: {:?}",
                parse(bad)
            );
        }
        assert_eq!(
            parse("18446744073709551616"),
            Err(ParseError::IntOutOfRange {
                literal: "18446744073709551616".into()
            })
        );
        assert_eq!(parse(&"[".repeat(200)), Err(ParseError::TooDeep));
    }

    #[test]
    fn records_read_the_non_finite_tokens() {
        let value = parse_record(r#"{"a": NaN, "b": [Infinity, -Infinity, -1.5]}"#).unwrap();
        assert_eq!(value["a"], Value::from(BARE_NAN));
        assert_eq!(value["b"][0], Value::from(BARE_INFINITY));
        assert_eq!(value["b"][1], Value::from(BARE_NEG_INFINITY));
        assert_eq!(value["b"][2], Value::from(-1.5));
        assert!(
            value["b"].as_array().unwrap()[..2]
                .iter()
                .all(is_bare_non_finite)
        );
        assert!(non_finite(&value["a"]).unwrap().is_nan());
        assert_eq!(non_finite(&value["b"][1]), Some(f64::NEG_INFINITY));
        assert_eq!(non_finite(&Value::from("Infinity")), Some(f64::INFINITY));
        assert!(!is_bare_non_finite(&Value::from("NaN")));
        assert_eq!(non_finite(&Value::from("nan")), None);
        // Only records read them; other JSON stays strict.
        for bad in [
            "NaN",
            "[Infinity]",
            "-Infinity",
            "{\"a\": nan}",
            "Inf",
            "-Inf",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        for bad in ["nan", "Inf", "-Inf", "NaNa", "[-]"] {
            assert!(parse_record(bad).is_err(), "{bad}");
        }
        for float in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 2.5] {
            let back = non_finite(&float_value(float)).or(float_value(float).as_f64());
            assert_eq!(back.map(f64::to_bits), Some(float.to_bits()));
        }
    }

    #[test]
    fn records_keep_the_text_of_numbers_no_f64_holds() {
        let value = parse_record(
            r#"[12345678901234567.89, 0.1000000000000000055, 1e-400, -0.0, 0.10, 52.046970272007556, 1.50000000000000000000, 123456789012345.6, 2.5e-320, 1e22]"#,
        )
        .unwrap();
        let items = value.as_array().unwrap();
        assert_eq!(exact_number(&items[0]), Some("12345678901234567.89"));
        assert_eq!(exact_number(&items[1]), Some("0.1000000000000000055"));
        assert_eq!(exact_number(&items[2]), Some("1e-400"));
        assert_eq!(exact_number_f64(&items[1]), Some(0.1));
        assert_eq!(exact_number_f64(&items[2]), Some(0.0));
        // Two shortest texts of one f64 (it is the .25 between them): ryu's stays a number,
        // the other is kept, as a decimal column must take it.
        let tie = parse_record("[747739525329262.2, 747739525329262.3]").unwrap();
        assert_eq!(tie[0].as_f64(), Some(747_739_525_329_262.2));
        assert_eq!(exact_number(&tie[1]), Some("747739525329262.3"));
        assert!(items[..3].iter().all(is_bare) && !items[..3].iter().any(is_bare_non_finite));
        // Every literal an f64 holds stays a number, whatever its spelling.
        for (item, float) in items[3..].iter().zip([
            -0.0_f64,
            0.1,
            52.046970272007556,
            1.5,
            123456789012345.6,
            2.5e-320,
            1e22,
        ]) {
            assert_eq!(
                item.as_f64().map(f64::to_bits),
                Some(float.to_bits()),
                "{item}"
            );
        }
        // Only records keep them; other JSON reads the nearest f64.
        assert_eq!(
            parse("12345678901234567.89").unwrap().as_f64(),
            Some(12345678901234567.89)
        );
        for not_a_number in ["\u{0}NaN", "\u{0}-Infinity", "\u{0}", "\u{0}e", "1.5"] {
            assert_eq!(
                exact_number(&Value::from(not_a_number)),
                None,
                "{not_a_number:?}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn every_finite_f64_round_trips(bits in any::<u64>()) {
            let float = f64::from_bits(bits);
            prop_assume!(float.is_finite());
            // serde_json's writer (ryu, shortest) and Rust's Display / {:e} forms.
            for text in [
                serde_json::to_string(&float).unwrap(),
                format!("{float:e}"),
                format!("{float:?}"),
            ] {
                let value = parse(&text).unwrap();
                prop_assert_eq!(value.as_f64().map(f64::to_bits), Some(bits), "{}", text);
                // In a record, every text reads as the same f64, kept as its text where
                // the value it writes is not ryu's shortest text's (a tie between two
                // shortest texts, which Rust's formatting breaks the other way).
                let value = parse_record(&text).unwrap();
                let float = value.as_f64().or_else(|| exact_number_f64(&value));
                prop_assert_eq!(float.map(f64::to_bits), Some(bits), "{}", text);
            }
            // What an exact writer prints stays a number: records parse to the values
            // (and canonical bytes) they always did.
            let text = serde_json::to_string(&float).unwrap();
            let value = parse_record(&text).unwrap();
            prop_assert_eq!(value.as_f64().map(f64::to_bits), Some(bits), "{}", text);
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,40}") {
            let _ = parse(&text);
        }
    }
}
