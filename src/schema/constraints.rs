//! Value constraints a JSON Schema declares (Pydantic's `Field(ge=…, max_length=…,
//! pattern=…)`), kept in the schema by column path (schema format 3) and checked at
//! commit where they can be checked exactly: bounds, lengths (of strings and bytes), item
//! counts and `uniqueItems` always, `multiple_of` on ints and decimals, and a `pattern`
//! only when it is in the subset of ECMA-262 that the `regex` crate reads with the same
//! meaning (see `exact_regex`). The rest (`multiple_of` on floats, a string `format` pail
//! has no type for, a lookaround pattern) are kept and shown, marked `(kept, not
//! checked)` (`Constraint::unchecked`), never checked wrongly.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::scalar::parse_decimal;
use super::{Field, Type, Violation, join, quote, variants, violation};

/// The constraints on one column path ([`super::Schema::column_paths`]). Bounds are the
/// JSON Schema's number texts, so they stay exact whatever their size.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Constraint {
    pub path: String,
    /// `minimum` (Pydantic `ge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ge: Option<String>,
    /// `exclusiveMinimum` (`gt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gt: Option<String>,
    /// `maximum` (`le`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub le: Option<String>,
    /// `exclusiveMaximum` (`lt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lt: Option<String>,
    /// `multipleOf`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiple_of: Option<String>,
    /// `minLength`: characters (code points) of a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u64>,
    /// `maxLength`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,
    /// `pattern`: an ECMA-262 regular expression a string must contain a match of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// `minItems`: items of a list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_items: Option<u64>,
    /// `maxItems`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_items: Option<u64>,
    /// `uniqueItems: true` (Pydantic's `set[…]` and `frozenset[…]`): a list's items are
    /// distinct. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_items: Option<bool>,
    /// A string's `format` that pail has no type for (`email`, `uri`, `ipv4`, `path`,
    /// `password`, …): kept and shown, not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// The string formats that are types of their own (`Type::Datetime`, `Date`, `Time`,
/// `Duration`, `Uuid`, bytes), not constraints.
fn is_typed_format(format: &str) -> bool {
    matches!(
        format,
        "date-time" | "date" | "time" | "duration" | "binary" | "base64url"
    ) || format.starts_with("uuid")
}

impl Constraint {
    /// The constraints a JSON Schema node declares for `path`; None when it has none.
    /// A tuple's `minItems`/`maxItems` (its length) are its type, not constraints.
    pub(super) fn read(path: &str, node: &Map<String, Value>) -> Option<Constraint> {
        let number = |key: &str| match node.get(key) {
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let count = |key: &str| node.get(key).and_then(Value::as_u64);
        let tuple = node.contains_key("prefixItems");
        let found = Constraint {
            path: path.to_string(),
            ge: number("minimum"),
            gt: number("exclusiveMinimum"),
            le: number("maximum"),
            lt: number("exclusiveMaximum"),
            multiple_of: number("multipleOf"),
            min_length: count("minLength"),
            max_length: count("maxLength"),
            pattern: node
                .get("pattern")
                .and_then(Value::as_str)
                .map(str::to_string),
            // A dict's `minProperties`/`maxProperties` (Pydantic's `max_length` on a
            // dict) count its entries as a list's items.
            min_items: count("minItems")
                .filter(|_| !tuple)
                .or(count("minProperties")),
            max_items: count("maxItems")
                .filter(|_| !tuple)
                .or(count("maxProperties")),
            unique_items: (node.get("uniqueItems") == Some(&Value::Bool(true))).then_some(true),
            format: node
                .get("format")
                .and_then(Value::as_str)
                .filter(|format| {
                    node.get("type").and_then(Value::as_str) == Some("string")
                        && !is_typed_format(format)
                })
                .map(str::to_string),
        };
        let none = Constraint {
            path: path.to_string(),
            ..Constraint::default()
        };
        (found != none).then_some(found)
    }

    /// Whether the pattern is checked at commit; None without one.
    pub fn pattern_checked(&self) -> Option<bool> {
        self.pattern
            .as_deref()
            .map(|pattern| exact_regex(pattern).is_some())
    }

    /// The keys this constraint holds that are kept but not checked on a column of type
    /// `ty` (see the module doc): `multiple_of` on a float, a `pattern` outside
    /// `exact_regex`, a `format`, and any key that does not apply to the type.
    pub fn unchecked(&self, ty: &Type) -> Vec<&'static str> {
        let ty = match ty {
            Type::Optional(inner) => inner,
            other => other,
        };
        let number = matches!(ty, Type::Int | Type::Float | Type::Decimal { .. });
        let exact_bound = |text: &str| match ty {
            // A bound with more decimal places than the column holds is not compared.
            Type::Decimal { precision, scale } => {
                parse_decimal(text, (*precision).max(38), *scale).is_ok()
            }
            _ => number,
        };
        let multiple_checked = |step: &str| match ty {
            Type::Int => exact_multiple("0", step).is_some(),
            Type::Decimal { .. } => exact_bound(step),
            _ => false,
        };
        let text_like = matches!(ty, Type::String | Type::Bytes | Type::BytesAs(_));
        let counted = matches!(ty, Type::List(_) | Type::Map(_));
        let mut out = Vec::new();
        let keys: [(&'static str, bool); 11] = [
            ("ge", self.ge.as_deref().is_some_and(|b| !exact_bound(b))),
            ("gt", self.gt.as_deref().is_some_and(|b| !exact_bound(b))),
            ("le", self.le.as_deref().is_some_and(|b| !exact_bound(b))),
            ("lt", self.lt.as_deref().is_some_and(|b| !exact_bound(b))),
            (
                "multiple_of",
                self.multiple_of
                    .as_deref()
                    .is_some_and(|step| !multiple_checked(step)),
            ),
            ("min_length", self.min_length.is_some() && !text_like),
            ("max_length", self.max_length.is_some() && !text_like),
            (
                "pattern",
                self.pattern.as_deref().is_some_and(|pattern| {
                    !matches!(ty, Type::String) || exact_regex(pattern).is_none()
                }),
            ),
            ("min_items", self.min_items.is_some() && !counted),
            ("max_items", self.max_items.is_some() && !counted),
            (
                "unique_items",
                self.unique_items.is_some() && !matches!(ty, Type::List(_)),
            ),
        ];
        for (key, unchecked) in keys {
            if unchecked {
                out.push(key);
            }
        }
        if self.format.is_some() {
            out.push("format");
        }
        out
    }

    /// This constraint without its keys `unchecked` on a column of type `ty`: what commit
    /// enforces, and so what the bump rules weigh (a kept key never rejects a row).
    pub fn checked(&self, ty: &Type) -> Constraint {
        let mut checked = self.clone();
        for key in self.unchecked(ty) {
            match key {
                "ge" => checked.ge = None,
                "gt" => checked.gt = None,
                "le" => checked.le = None,
                "lt" => checked.lt = None,
                "multiple_of" => checked.multiple_of = None,
                "min_length" => checked.min_length = None,
                "max_length" => checked.max_length = None,
                "pattern" => checked.pattern = None,
                "min_items" => checked.min_items = None,
                "max_items" => checked.max_items = None,
                "unique_items" => checked.unique_items = None,
                _ => checked.format = None,
            }
        }
        checked
    }

    /// As Pydantic's `Field(...)` arguments: `Field(ge=0, pattern='^a')`, each one that is
    /// not checked on a column of type `ty` marked so; with no type, only a pattern that
    /// is never checked.
    pub fn render(&self, ty: Option<&Type>) -> String {
        let unchecked = match ty {
            Some(ty) => self.unchecked(ty),
            None if self.pattern_checked() == Some(false) => vec!["pattern"],
            None => Vec::new(),
        };
        let note = |name: &str| {
            if unchecked.contains(&name) {
                " (kept, not checked)"
            } else {
                ""
            }
        };
        let mut parts = Vec::new();
        let numbers = [
            ("ge", &self.ge),
            ("gt", &self.gt),
            ("le", &self.le),
            ("lt", &self.lt),
            ("multiple_of", &self.multiple_of),
        ];
        for (name, value) in numbers {
            if let Some(value) = value {
                parts.push(format!("{name}={value}{}", note(name)));
            }
        }
        let counts = [
            ("min_length", self.min_length),
            ("max_length", self.max_length),
            ("min_items", self.min_items),
            ("max_items", self.max_items),
        ];
        for (name, value) in counts {
            if let Some(value) = value {
                parts.push(format!("{name}={value}{}", note(name)));
            }
        }
        if self.unique_items.is_some() {
            parts.push(format!("unique_items=True{}", note("unique_items")));
        }
        if let Some(pattern) = &self.pattern {
            // As a Python raw string where it can be one.
            let shown = if pattern.contains(['\'', '\n', '\r']) || pattern.ends_with('\\') {
                quote(pattern)
            } else {
                format!("r'{pattern}'")
            };
            parts.push(format!("pattern={shown}{}", note("pattern")));
        }
        if let Some(format) = &self.format {
            parts.push(format!("format={}{}", quote(format), note("format")));
        }
        format!("Field({})", parts.join(", "))
    }

    /// Checks one present, normalized value of type `ty` at `at` (a record path).
    fn check(&self, ty: &Type, value: &Value, at: &str) -> Result<(), Violation> {
        let ty = match ty {
            Type::Optional(inner) => inner,
            other => other,
        };
        if matches!(ty, Type::Int | Type::Float) {
            self.check_number(value, at)?;
        }
        if let (Type::Decimal { precision, scale }, Value::String(text)) = (ty, value) {
            self.check_decimal(text, *precision, *scale, at)?;
        }
        if let (Type::String, Value::String(text)) = (ty, value) {
            let n_chars = text.chars().count() as u64;
            if let Some(min) = self.min_length.filter(|min| n_chars < *min) {
                return Err(violation(
                    at,
                    format!(
                        "{} has {n_chars} characters, fewer than min_length={min}",
                        quote(text)
                    ),
                ));
            }
            if let Some(max) = self.max_length.filter(|max| n_chars > *max) {
                return Err(violation(
                    at,
                    format!(
                        "{} has {n_chars} characters, more than max_length={max}",
                        quote(text)
                    ),
                ));
            }
            if let Some(pattern) = &self.pattern
                && let Some(regex) = exact_regex(pattern)
                && text.chars().all(|ch| (ch as u32) < 0x10000)
                && !regex.is_match(text)
            {
                return Err(violation(
                    at,
                    format!("{} does not match pattern={}", quote(text), quote(pattern)),
                ));
            }
        }
        if let (Type::Bytes | Type::BytesAs(_), Value::String(base64)) = (ty, value)
            && (self.min_length.is_some() || self.max_length.is_some())
        {
            // Normalized bytes are standard base64; a length counts bytes, as Pydantic's.
            use base64::Engine as _;
            let n_bytes = base64::engine::general_purpose::STANDARD
                .decode(base64)
                .map_or(0, |bytes| bytes.len()) as u64;
            if let Some(min) = self.min_length.filter(|min| n_bytes < *min) {
                return Err(violation(
                    at,
                    format!("{n_bytes} bytes, fewer than min_length={min}"),
                ));
            }
            if let Some(max) = self.max_length.filter(|max| n_bytes > *max) {
                return Err(violation(
                    at,
                    format!("{n_bytes} bytes, more than max_length={max}"),
                ));
            }
        }
        if let (Type::List(_), Value::Array(items), Some(true)) = (ty, value, self.unique_items) {
            check_unique(items, at)?;
        }
        let n_items = match (ty, value) {
            (Type::List(_), Value::Array(items)) => Some(items.len() as u64),
            (Type::Map(_), Value::Object(entries)) => Some(entries.len() as u64),
            _ => None,
        };
        if let Some(n_items) = n_items {
            if let Some(min) = self.min_items.filter(|min| n_items < *min) {
                return Err(violation(
                    at,
                    format!("{n_items} items, fewer than min_items={min}"),
                ));
            }
            if let Some(max) = self.max_items.filter(|max| n_items > *max) {
                return Err(violation(
                    at,
                    format!("{n_items} items, more than max_items={max}"),
                ));
            }
        }
        Ok(())
    }

    /// A decimal against bounds that are exact at its scale; a bound with more decimal
    /// places than the column holds is kept, not checked.
    fn check_decimal(
        &self,
        text: &str,
        precision: u8,
        scale: i8,
        at: &str,
    ) -> Result<(), Violation> {
        let exact = |text: &str| parse_decimal(text, precision.max(38), scale).ok();
        let Some(unscaled) = exact(text) else {
            return Ok(());
        };
        for (name, bound, allowed) in
            BOUNDS.map(|(name, pick, allowed)| (name, pick(self), allowed))
        {
            let Some(limit_text) = bound else { continue };
            let Some(limit) = exact(limit_text) else {
                continue;
            };
            if !allowed.contains(&unscaled.cmp(&limit)) {
                return Err(violation(at, format!("{text} is not {name}={limit_text}")));
            }
        }
        if let Some(step) = self.multiple_of.as_deref().and_then(exact)
            && step != 0
            && unscaled % step != 0
        {
            return Err(violation(
                at,
                format!(
                    "{text} is not a multiple_of={}",
                    self.multiple_of.as_deref().unwrap_or_default()
                ),
            ));
        }
        Ok(())
    }

    fn check_number(&self, value: &Value, at: &str) -> Result<(), Violation> {
        let Some(number) = Num::of(value) else {
            return Ok(());
        };
        for (name, bound, allowed) in
            BOUNDS.map(|(name, pick, allowed)| (name, pick(self), allowed))
        {
            let Some(text) = bound else { continue };
            let Some(limit) = Num::parse(text) else {
                continue;
            };
            // NaN is in no order: it fails every bound, as in Pydantic.
            if !number
                .cmp(limit)
                .is_some_and(|order| allowed.contains(&order))
            {
                return Err(violation(
                    at,
                    format!("{} is not {name}={text}", number.text(value)),
                ));
            }
        }
        // Exact only for ints (in decimal for a fractional step): a float's remainder
        // is not exact in binary, and Pydantic allows it a tolerance.
        let multiple = match (number, self.multiple_of.as_deref()) {
            (Num::Int(int), Some(step)) => match step.parse::<i64>() {
                Ok(0) => None,
                Ok(whole) => Some(int % whole == 0),
                Err(_) => exact_multiple(&int.to_string(), step),
            },
            _ => None,
        };
        if let (Num::Int(int), Some(step), Some(false)) =
            (number, self.multiple_of.as_deref(), multiple)
        {
            return Err(violation(at, format!("{int} is not a multiple_of={step}")));
        }
        Ok(())
    }
}

/// Whether the decimal `value` is a whole multiple of the decimal `step`, in exact
/// decimal arithmetic; None when `step` is zero or either does not fit 38 digits at the
/// step's scale (up to 18 places).
fn exact_multiple(value: &str, step: &str) -> Option<bool> {
    let scale = (0..=18).find(|scale| parse_decimal(step, 38, *scale).is_ok())?;
    let step = parse_decimal(step, 38, scale).ok()?;
    let value = parse_decimal(value, 38, scale).ok()?;
    (step != 0).then(|| value % step == 0)
}

/// `uniqueItems`: the first item equal to an earlier one is refused. Items are compared
/// by their canonical hash encoding (`rows::canonical`), normalized as they are, with
/// `-0.0` taken as `0.0` as JSON Schema's equality does.
fn check_unique(items: &[Value], at: &str) -> Result<(), Violation> {
    let mut seen: std::collections::HashMap<Vec<u8>, usize> = Default::default();
    let zero = Value::from(0.0);
    for (idx, item) in items.iter().enumerate() {
        let item = match item.as_f64() {
            Some(float) if float == 0.0 && item.is_f64() => &zero,
            _ => item,
        };
        let key = crate::rows::canonical::encode(item);
        if let Some(first) = seen.insert(key, idx) {
            return Err(violation(
                &format!("{at}[{idx}]"),
                format!("the same as item {first}, but unique_items=True (a set)"),
            ));
        }
    }
    Ok(())
}

type Pick = fn(&Constraint) -> &Option<String>;

/// The bounds: their name and the orders of a value against them that satisfy them.
const BOUNDS: [(&str, Pick, &[Ordering]); 4] = [
    ("ge", |c| &c.ge, &[Ordering::Greater, Ordering::Equal]),
    ("gt", |c| &c.gt, &[Ordering::Greater]),
    ("le", |c| &c.le, &[Ordering::Less, Ordering::Equal]),
    ("lt", |c| &c.lt, &[Ordering::Less]),
];

/// A number, compared exactly whether it is an int or a float.
#[derive(Clone, Copy)]
enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    fn of(value: &Value) -> Option<Num> {
        match value {
            Value::Number(n) => match n.as_i64() {
                Some(int) => Some(Num::Int(int)),
                None => n.as_f64().map(Num::Float),
            },
            other => crate::rows::json::non_finite(other).map(Num::Float),
        }
    }

    fn parse(text: &str) -> Option<Num> {
        match text.parse::<i64>() {
            Ok(int) => Some(Num::Int(int)),
            Err(_) => text.parse::<f64>().ok().map(Num::Float),
        }
    }

    fn text(self, value: &Value) -> String {
        match value {
            Value::String(text) => text.clone(),
            other => match self {
                Num::Int(int) => int.to_string(),
                Num::Float(_) => other.to_string(),
            },
        }
    }

    /// `self` against `other`, exactly; None with a NaN.
    fn cmp(self, other: Num) -> Option<Ordering> {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => Some(a.cmp(&b)),
            (Num::Float(a), Num::Float(b)) => a.partial_cmp(&b),
            (Num::Int(a), Num::Float(b)) => int_vs_float(a, b),
            (Num::Float(a), Num::Int(b)) => int_vs_float(b, a).map(Ordering::reverse),
        }
    }
}

/// An i64 against an f64 without rounding either.
fn int_vs_float(int: i64, float: f64) -> Option<Ordering> {
    if float.is_nan() {
        return None;
    }
    // 2^63 is exact as an f64; every i64 is below it and at or above -2^63.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if float >= TWO_63 {
        return Some(Ordering::Less);
    }
    if float < -TWO_63 {
        return Some(Ordering::Greater);
    }
    let floor = float.floor();
    Some(match int.cmp(&(floor as i64)) {
        Ordering::Equal if float > floor => Ordering::Less,
        order => order,
    })
}

/// `pattern` as a `regex::Regex` that matches exactly the strings of characters below
/// U+10000 that the ECMA-262 pattern (without flags) matches somewhere; None when the
/// pattern is outside that subset: lookaround, backreferences, named groups and flags,
/// `\b \B \w \W \s \S` and the other escapes whose meaning differs, a class with `[`, `&&`,
/// `--` or `~~` (set operations in `regex`), characters above U+FFFF, or anything `regex`
/// refuses. `.` is translated to ECMA-262's (any character but a line terminator) and
/// `\d`/`\D` to `[0-9]`/`[^0-9]` outside classes (`\d` inside one).
pub fn exact_regex(pattern: &str) -> Option<regex::Regex> {
    let mut out = String::new();
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    let mut class_prev = ' ';
    while let Some(ch) = chars.next() {
        if (ch as u32) >= 0x10000 {
            return None;
        }
        match ch {
            '\\' => {
                let escaped = chars.next()?;
                match escaped {
                    'd' => out.push_str(if in_class { "0-9" } else { "[0-9]" }),
                    'D' if !in_class => out.push_str("[^0-9]"),
                    'n' | 't' | 'r' | 'f' | 'v' => {
                        out.push('\\');
                        out.push(escaped);
                    }
                    punct if punct.is_ascii_punctuation() => {
                        out.push('\\');
                        out.push(punct);
                    }
                    _ => return None,
                }
                class_prev = ' ';
                continue;
            }
            '[' if in_class => return None,
            '[' => {
                in_class = true;
                out.push('[');
                // ECMA-262's `[]` matches nothing and `[^]` anything; `regex` reads
                // `]` there as a literal.
                if chars.peek() == Some(&'^') {
                    out.push(chars.next().expect("peeked"));
                }
                if chars.peek() == Some(&']') {
                    return None;
                }
                class_prev = ' ';
                continue;
            }
            ']' if in_class => in_class = false,
            '&' | '-' | '~' if in_class && class_prev == ch => return None,
            '(' if !in_class && chars.peek() == Some(&'?') => {
                chars.next();
                if chars.next() != Some(':') {
                    return None;
                }
                out.push_str("(?:");
                continue;
            }
            '.' if !in_class => {
                out.push_str("[^\\n\\r\\u{2028}\\u{2029}]");
                continue;
            }
            // ECMA-262 (Annex B) reads `{,3}` literally, `regex` as a repetition. A
            // stray `{` that `regex` refuses is not checked either.
            '{' if !in_class && chars.peek() == Some(&',') => return None,
            _ => {}
        }
        class_prev = ch;
        out.push(ch);
    }
    if in_class {
        return None;
    }
    regex::Regex::new(&out).ok()
}

/// Checks every constraint on the normalized `record` of `fields`; the first violation.
pub(super) fn check_record(
    fields: &[Field],
    constraints: &[Constraint],
    record: &Value,
) -> Result<(), Violation> {
    let walker = Walker { constraints };
    walker.fields(fields, record, "", "")
}

struct Walker<'a> {
    constraints: &'a [Constraint],
}

impl Walker<'_> {
    /// Whether any constraint is at `column` or below it.
    fn wanted(&self, column: &str) -> bool {
        self.constraints
            .iter()
            .any(|constraint| constraint.path.starts_with(column))
    }

    fn fields(
        &self,
        fields: &[Field],
        value: &Value,
        column: &str,
        at: &str,
    ) -> Result<(), Violation> {
        for field in fields {
            let child_column = join(column, &field.name);
            if let Some(child) = value.get(&field.name)
                && self.wanted(&child_column)
            {
                self.value(&field.ty, child, &child_column, &join(at, &field.name))?;
            }
        }
        Ok(())
    }

    fn value(&self, ty: &Type, value: &Value, column: &str, at: &str) -> Result<(), Violation> {
        if value.is_null() {
            return Ok(());
        }
        for constraint in self.constraints.iter().filter(|c| c.path == column) {
            constraint.check(ty, value, at)?;
        }
        match (ty, value) {
            (Type::Optional(inner), _) => self.value(inner, value, column, at),
            (Type::Struct(fields), _) => self.fields(fields, value, column, at),
            (Type::File | Type::FileWith(_), _) => {
                let fields = ty.file_struct_fields().expect("a File");
                self.fields(&fields, value, column, at)
            }
            (Type::List(item), Value::Array(items)) => {
                let item_column = format!("{column}[]");
                if !self.wanted(&item_column) {
                    return Ok(());
                }
                for (idx, item_value) in items.iter().enumerate() {
                    self.value(item, item_value, &item_column, &format!("{at}[{idx}]"))?;
                }
                Ok(())
            }
            (Type::Map(value_ty), Value::Object(entries)) => {
                let value_column = format!("{column}{{value}}");
                if !self.wanted(&value_column) {
                    return Ok(());
                }
                for (key, item_value) in entries {
                    self.value(
                        value_ty,
                        item_value,
                        &value_column,
                        &format!("{at}[{}]", quote(key)),
                    )?;
                }
                Ok(())
            }
            (Type::Tuple(items), Value::Array(values)) => {
                for (idx, (item, item_value)) in items.iter().zip(values).enumerate() {
                    let item_column = format!("{column}[{idx}]");
                    if self.wanted(&item_column) {
                        self.value(item, item_value, &item_column, &format!("{at}[{idx}]"))?;
                    }
                }
                Ok(())
            }
            (
                Type::Union {
                    variants: all,
                    discriminator,
                },
                _,
            ) => {
                let (idx, _) = variants::choose(all, discriminator.as_deref(), value, at)?;
                let variant = &all[idx];
                let variant_column = format!("{column}|{}", variant.name);
                if !self.wanted(&variant_column) {
                    return Ok(());
                }
                self.value(&variant.ty, value, &variant_column, at)
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn patterns_are_checked_only_where_regex_means_what_ecma_262_means() {
        let checks = |pattern: &str, text: &str| exact_regex(pattern).unwrap().is_match(text);
        assert!(checks(r"^[a-z]+\d?$", "ab1"));
        assert!(!checks(r"^[a-z]+\d?$", "AB"));
        // `\d` is ASCII in ECMA-262, Unicode in `regex`: translated.
        assert!(!checks(r"^\d$", "٣"));
        assert!(checks(r"^[\d.]+$", "1.5"));
        // `.` is anything but a line terminator.
        assert!(!checks(r"^a.b$", "a\rb"));
        assert!(!checks(r"^a.b$", "a\u{2028}b"));
        assert!(checks(r"^a.b$", "a-b"));
        // Unanchored: a match anywhere, as JSON Schema and Pydantic read it.
        assert!(checks("b", "abc"));
        assert!(checks(r"^(?:ab|c){2}\.$", "abc."));
        for kept in [
            r"(?<=x)y",
            r"(?=a)",
            r"(?!a)",
            r"(?<name>a)",
            r"(a)\1",
            r"\w+",
            r"\bword",
            r"\s",
            r"[^]",
            r"[]",
            r"[a&&b]",
            r"[a--b]",
            r"[[a]]",
            r"a{,3}",
            r"a{",
            r"\u0041",
            r"\p{L}",
            "(?i)a",
            "😀",
            "[a",
        ] {
            assert!(exact_regex(kept).is_none(), "{kept}");
        }
    }

    #[test]
    fn ints_and_floats_compare_exactly() {
        assert_eq!(
            int_vs_float(i64::MAX, 9.223_372_036_854_776e18),
            Some(Ordering::Less)
        );
        assert_eq!(int_vs_float(1, 0.5), Some(Ordering::Greater));
        assert_eq!(int_vs_float(0, 0.5), Some(Ordering::Less));
        assert_eq!(int_vs_float(-1, -0.5), Some(Ordering::Less));
        assert_eq!(int_vs_float(-1, -1.0), Some(Ordering::Equal));
        assert_eq!(int_vs_float(3, f64::NAN), None);
        assert_eq!(
            int_vs_float(i64::MIN, f64::NEG_INFINITY),
            Some(Ordering::Greater)
        );
    }

    #[test]
    fn bounds_lengths_and_items_name_the_value() {
        let c = |fields: Value| -> Constraint {
            let mut object = fields.as_object().unwrap().clone();
            object.insert("path".into(), json!("x"));
            serde_json::from_value(Value::Object(object)).unwrap()
        };
        let fails = |constraint: &Constraint, ty: Type, value: Value| {
            constraint.check(&ty, &value, "x").err().map(|v| v.message)
        };
        let bounded = c(json!({"ge": "0", "lt": "0.5", "multiple_of": "2"}));
        assert_eq!(fails(&bounded, Type::Int, json!(0)), None);
        assert_eq!(
            fails(&bounded, Type::Int, json!(1)).unwrap(),
            "1 is not lt=0.5"
        );
        assert_eq!(
            fails(&bounded, Type::Float, json!(-0.1)).unwrap(),
            "-0.1 is not ge=0"
        );
        assert_eq!(
            fails(&bounded, Type::Float, json!("NaN")).unwrap(),
            "NaN is not ge=0"
        );
        // A float's multiple_of is kept, not checked.
        assert_eq!(fails(&bounded, Type::Float, json!(0.25)), None);
        let big = c(json!({"le": "9007199254740992"}));
        assert_eq!(
            fails(&big, Type::Int, json!(9007199254740993i64)).unwrap(),
            "9007199254740993 is not le=9007199254740992"
        );
        let decimal = Type::Decimal {
            precision: 38,
            scale: 9,
        };
        let money = c(json!({"gt": "0.0", "multiple_of": "0.01"}));
        assert_eq!(fails(&money, decimal.clone(), json!("0.010000000")), None);
        assert_eq!(
            fails(&money, decimal.clone(), json!("0.000000000")).unwrap(),
            "0.000000000 is not gt=0.0"
        );
        assert!(fails(&money, decimal, json!("0.015000000")).is_some());
        let text = c(json!({"min_length": 2, "max_length": 3}));
        assert_eq!(fails(&text, Type::String, json!("éé")), None);
        assert!(fails(&text, Type::String, json!("abcd")).is_some());
        let items = c(json!({"min_items": 1}));
        assert_eq!(
            fails(&items, Type::Map(Box::new(Type::Int)), json!({})).unwrap(),
            "0 items, fewer than min_items=1"
        );
        assert_eq!(
            fails(&items, Type::List(Box::new(Type::Int)), json!([])).unwrap(),
            "0 items, fewer than min_items=1"
        );
        assert_eq!(
            c(json!({"ge": "0", "pattern": "(?=a)", "max_items": 2})).render(None),
            "Field(ge=0, max_items=2, pattern=r'(?=a)' (kept, not checked))"
        );
    }

    /// Bytes lengths and `uniqueItems` are checked; a float's `multiple_of` and a string
    /// `format` are kept and shown, marked as not checked; an int takes a fractional step
    /// exactly.
    #[test]
    fn bytes_lengths_unique_items_and_what_is_only_shown() {
        let c = |fields: Value| -> Constraint {
            let mut fields = fields;
            fields["path"] = json!("x");
            serde_json::from_value(fields).unwrap()
        };
        let fails = |constraint: &Constraint, ty: Type, value: Value| {
            constraint
                .check(&ty, &value, "x")
                .err()
                .map(|violation| violation.message)
        };
        // Normalized bytes are standard base64: "AAEC" is 3 bytes.
        let short = c(json!({"min_length": 2, "max_length": 3}));
        assert_eq!(fails(&short, Type::Bytes, json!("AAEC")), None);
        assert_eq!(
            fails(&short, Type::Bytes, json!("AAECAw==")).unwrap(),
            "4 bytes, more than max_length=3"
        );
        assert_eq!(
            fails(
                &short,
                Type::BytesAs(super::super::BytesEncoding::Utf8),
                json!("AA==")
            )
            .unwrap(),
            "1 bytes, fewer than min_length=2"
        );
        let set = c(json!({"unique_items": true}));
        let ints = Type::List(Box::new(Type::Int));
        assert_eq!(fails(&set, ints.clone(), json!([1, 2, 3])), None);
        let err = set.check(&ints, &json!([1, 2, 1]), "tags").unwrap_err();
        assert_eq!(
            (err.path.as_str(), err.message.as_str()),
            (
                "tags[2]",
                "the same as item 0, but unique_items=True (a set)"
            )
        );
        let floats = Type::List(Box::new(Type::Float));
        assert!(fails(&set, floats.clone(), json!([0.0, -0.0])).is_some());
        assert_eq!(fails(&set, floats, json!([0.5, 1.5])), None);
        let structs = Type::List(Box::new(Type::Struct(vec![])));
        assert!(fails(&set, structs, json!([{"a": 1, "b": 2}, {"b": 2, "a": 1}])).is_some());

        let step = c(json!({"multiple_of": "0.5"}));
        assert_eq!(fails(&step, Type::Float, json!(0.3)), None);
        assert_eq!(step.unchecked(&Type::Float), ["multiple_of"]);
        assert!(step.unchecked(&Type::Int).is_empty());
        assert_eq!(
            step.render(Some(&Type::Float)),
            "Field(multiple_of=0.5 (kept, not checked))"
        );
        assert_eq!(step.render(Some(&Type::Int)), "Field(multiple_of=0.5)");
        let odd = c(json!({"multiple_of": "2.5"}));
        assert_eq!(fails(&odd, Type::Int, json!(5)), None);
        assert_eq!(
            fails(&odd, Type::Int, json!(3)).unwrap(),
            "3 is not a multiple_of=2.5"
        );
        let uri = c(json!({"format": "uri", "min_length": 1}));
        assert_eq!(uri.unchecked(&Type::String), ["format"]);
        assert_eq!(
            uri.render(Some(&Type::String)),
            r#"Field(min_length=1, format="uri" (kept, not checked))"#
        );
        // A key that does not apply to the column's type is marked too.
        assert_eq!(
            c(json!({"unique_items": true, "ge": "1"})).unchecked(&Type::String),
            ["ge", "unique_items"]
        );
    }
}
