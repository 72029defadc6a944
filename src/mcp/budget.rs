//! Byte budgets for MCP answers: every tool answer, text and structured content together,
//! fits `max_bytes`.
//!
//! An answer's structured content is its view as compact JSON, and its text is the same
//! JSON (or the Markdown page), so both count. What does not fit is cut the same way
//! everywhere: arrays keep their first items and say so in `budget.cuts` (path, kept,
//! total); strings keep their first characters and end in a marker `…[+N chars]`. Query
//! rows are cut whole, after their cells are abbreviated (strings with the same marker,
//! lists to their first items plus a last item `…[+N items]`).

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::view::{BudgetView, CutView, QueryView};

/// The budget of an answer when the call gives none: 16 KiB, about 4,000 tokens.
pub(crate) const DEFAULT_MAX_BYTES: usize = 16 * 1024;
/// The largest budget a call may ask for: 128 KiB.
pub(crate) const MAX_MAX_BYTES: usize = 128 * 1024;
/// The smallest budget a call may ask for.
pub(crate) const MIN_MAX_BYTES: usize = 1024;
/// Characters a string keeps per step of the cap.
const CHARS_PER_CAP: usize = 32;
/// `budget.cuts` lists at most this many arrays.
const CUTS_LISTED: usize = 16;
/// Cut arrays that may grow into what the uniform cap left of the budget, first first.
const CUTS_REFINED: usize = 32;
/// Cell caps tried for query rows, most generous first (whole cells): a string keeps
/// 32 × cap characters, a list cap items.
const CELL_CAPS: [usize; 7] = [usize::MAX, 64, 8, 4, 2, 1, 0];
/// Rows a query answer tries to keep before it abbreviates its cells further.
const ROWS_WANTED: usize = 10;

/// How far to shrink: arrays keep `cap` items unless `arrays` names their JSON pointer
/// with a number of its own; strings keep `CHARS_PER_CAP × max(cap, 2)` characters (ids
/// stay whole).
struct Caps {
    cap: usize,
    arrays: HashMap<String, usize>,
}

/// What shrinking did.
#[derive(Default)]
struct Report {
    cuts: Vec<CutView>,
    abbreviated: usize,
}

impl Report {
    fn budget(self, max_bytes: usize) -> BudgetView {
        let n_cuts = self.cuts.len();
        let mut cuts = self.cuts;
        cuts.truncate(CUTS_LISTED);
        BudgetView {
            max_bytes,
            truncated: n_cuts > 0 || self.abbreviated > 0,
            cuts,
            n_cuts,
            abbreviated: self.abbreviated,
        }
    }
}

/// A string cut to `chars` characters, with the marker saying how many were left out.
fn abbreviate_text(text: &str, chars: usize) -> Option<String> {
    let total = text.chars().count();
    if total <= chars {
        return None;
    }
    let kept: String = text.chars().take(chars).collect();
    Some(format!("{kept}…[+{} chars]", total - chars))
}

/// `value` cut to `caps`, each array cut reported in `cuts` under its JSON pointer.
fn shrink(value: &Value, caps: &Caps, path: &mut String, report: &mut Report) -> Value {
    match value {
        Value::String(text) => match abbreviate_text(text, CHARS_PER_CAP * caps.cap.max(2)) {
            Some(short) => {
                report.abbreviated += 1;
                Value::String(short)
            }
            None => value.clone(),
        },
        Value::Array(items) => {
            let cap = caps.arrays.get(path.as_str()).copied().unwrap_or(caps.cap);
            if items.len() > cap {
                report.cuts.push(CutView {
                    path: path.clone(),
                    kept: cap,
                    total: items.len(),
                });
            }
            let kept = items.iter().take(cap).enumerate().map(|(index, item)| {
                let len = path.len();
                path.push_str(&format!("/{index}"));
                let item = shrink(item, caps, path, report);
                path.truncate(len);
                item
            });
            Value::Array(kept.collect())
        }
        Value::Object(fields) => {
            let mut out = Map::new();
            for (key, field) in fields {
                let len = path.len();
                path.push('/');
                path.push_str(&key.replace('~', "~0").replace('/', "~1"));
                out.insert(key.clone(), shrink(field, caps, path, report));
                path.truncate(len);
            }
            Value::Object(out)
        }
        _ => value.clone(),
    }
}

/// The longest array or string (in steps of the cap) in `value`: no cap above it cuts.
fn largest_cap(value: &Value) -> usize {
    match value {
        Value::String(text) => text.len() / CHARS_PER_CAP + 1,
        Value::Array(items) => items.iter().map(largest_cap).fold(items.len(), usize::max),
        Value::Object(fields) => fields.values().map(largest_cap).max().unwrap_or(0),
        _ => 0,
    }
}

/// Bytes of compact JSON.
pub(crate) fn json_len(value: &Value) -> usize {
    serde_json::to_string(value)
        .expect("JSON values serialize")
        .len()
}

/// The structured content: the view's fields and `budget`.
fn with_budget(mut view: Value, budget: &BudgetView) -> Value {
    if let Value::Object(fields) = &mut view {
        fields.insert(
            "budget".into(),
            serde_json::to_value(budget).expect("views serialize"),
        );
    }
    view
}

/// An answer's structured content and the bytes the whole answer takes: the structured
/// content plus the text (`text`, or else the structured content again as JSON).
pub(crate) fn answer_len(structured: &Value, text: Option<&str>) -> usize {
    let json = json_len(structured);
    json + text.map_or(json, str::len)
}

/// `view` cut to `caps`, with its `budget`.
fn attempt(view: &Value, caps: &Caps, max_bytes: usize) -> (Value, Vec<CutView>) {
    let mut report = Report::default();
    let shrunk = shrink(view, caps, &mut String::new(), &mut report);
    let cuts = report.cuts.clone();
    (with_budget(shrunk, &report.budget(max_bytes)), cuts)
}

/// The largest number in `low..=high` for which `fits` holds, given that it holds for
/// `low` (or `low` when none does); `fits` holds for a prefix of the range.
fn largest(mut low: usize, mut high: usize, mut fits: impl FnMut(usize) -> bool) -> usize {
    while low < high {
        let mid = low + (high - low).div_ceil(2);
        if fits(mid) {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    low
}

/// `view` (an object) cut to fit `max_bytes` as an answer whose text is its JSON: the
/// structured content, `budget` included. First the largest cap that fits every array and
/// string alike; then the arrays that cap cut, first first, take what is left.
pub(crate) fn fit(view: Value, max_bytes: usize) -> Value {
    let whole = with_budget(view.clone(), &Report::default().budget(max_bytes));
    if answer_len(&whole, None) <= max_bytes {
        return whole;
    }
    let fits = |caps: &Caps| answer_len(&attempt(&view, caps, max_bytes).0, None) <= max_bytes;
    let mut caps = Caps {
        cap: 0,
        arrays: HashMap::new(),
    };
    // Sizes grow with the cap (up to the digits of the markers).
    caps.cap = largest(0, largest_cap(&view), |cap| {
        fits(&Caps {
            cap,
            arrays: HashMap::new(),
        })
    });
    let (_, cuts) = attempt(&view, &caps, max_bytes);
    if fits(&caps) {
        for cut in cuts.into_iter().take(CUTS_REFINED) {
            let kept = largest(cut.kept, cut.total, |kept| {
                let mut more = Caps {
                    cap: caps.cap,
                    arrays: caps.arrays.clone(),
                };
                more.arrays.insert(cut.path.clone(), kept);
                fits(&more)
            });
            caps.arrays.insert(cut.path, kept);
        }
    }
    attempt(&view, &caps, max_bytes).0
}

/// A query cell cut to `cap`: strings to `32 × cap` characters, lists to `cap` items
/// and a last item `…[+N items]`, struct fields in turn.
fn abbreviate_cell(value: &Value, cap: usize, abbreviated: &mut usize) -> Value {
    match value {
        Value::String(text) => match abbreviate_text(text, CHARS_PER_CAP.saturating_mul(cap)) {
            Some(short) => {
                *abbreviated += 1;
                Value::String(short)
            }
            None => value.clone(),
        },
        Value::Array(items) => {
            let mut kept: Vec<Value> = items
                .iter()
                .take(cap)
                .map(|item| abbreviate_cell(item, cap, abbreviated))
                .collect();
            if items.len() > cap {
                *abbreviated += 1;
                kept.push(Value::String(format!("…[+{} items]", items.len() - cap)));
            }
            Value::Array(kept)
        }
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(key, field)| (key.clone(), abbreviate_cell(field, cap, abbreviated)))
                .collect(),
        ),
        _ => value.clone(),
    }
}

/// A query's rows with cells abbreviated to `cap`, as many as fit `max_bytes` beside
/// the rest of the answer, and the answer.
fn fit_rows_at(query: &QueryView, cap: usize, max_bytes: usize) -> (usize, Value) {
    let mut abbreviated = 0;
    let mut rows = Vec::new();
    let answer = |rows: Vec<Vec<Value>>, abbreviated: usize| {
        let cut = rows.len() < query.rows.len();
        let view = QueryView {
            n_rows: rows.len(),
            truncated: query.truncated || cut,
            truncated_by: match (cut, &query.truncated_by) {
                (true, _) => Some("budget".into()),
                (false, by) => by.clone(),
            },
            rows,
            ..query.clone()
        };
        let report = Report {
            cuts: Vec::new(),
            abbreviated,
        };
        with_budget(
            serde_json::to_value(&view).expect("views serialize"),
            &report.budget(max_bytes),
        )
    };
    // Each row adds its JSON and a comma to both the text and the structured content.
    let mut used = answer_len(&answer(Vec::new(), 0), None) + 2 * 16;
    for row in &query.rows {
        let mut cells = 0;
        let row: Vec<Value> = row
            .iter()
            .map(|cell| abbreviate_cell(cell, cap, &mut cells))
            .collect();
        let size = 2 * (json_len(&Value::Array(row.clone())) + 1);
        if used + size > max_bytes {
            break;
        }
        used += size;
        abbreviated += cells;
        rows.push(row);
    }
    // The estimate leaves room for the counts' digits; check and step back if needed.
    loop {
        let candidate = answer(rows.clone(), abbreviated);
        if rows.is_empty() || answer_len(&candidate, None) <= max_bytes {
            return (rows.len(), candidate);
        }
        rows.pop();
    }
}

/// A query answer within `max_bytes`: whole rows, cells abbreviated as little as lets
/// `ROWS_WANTED` rows (or all of them) fit.
pub(crate) fn fit_query(query: &QueryView, max_bytes: usize) -> Value {
    let wanted = query.rows.len().min(ROWS_WANTED);
    let mut best: Option<(usize, Value)> = None;
    for cap in CELL_CAPS {
        let (kept, answer) = fit_rows_at(query, cap, max_bytes);
        if kept >= wanted && answer_len(&answer, None) <= max_bytes {
            return answer;
        }
        if best.as_ref().is_none_or(|(most, _)| kept > *most) {
            best = Some((kept, answer));
        }
    }
    let (_, answer) = best.expect("CELL_CAPS is not empty");
    if answer_len(&answer, None) <= max_bytes {
        return answer;
    }
    // Not even the column names fit: cut them like any other answer.
    let mut view = answer;
    if let Value::Object(fields) = &mut view {
        fields.remove("budget");
    }
    fit(view, max_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_fitting_answer_is_whole() {
        let answer = fit(json!({"a": [1, 2, 3], "b": "text"}), 1024);
        assert_eq!(answer["a"], json!([1, 2, 3]));
        assert_eq!(answer["budget"]["truncated"], false);
    }

    #[test]
    fn arrays_are_cut_and_reported_and_strings_marked() {
        let items: Vec<Value> = (0..500).map(|n| json!({"n": n})).collect();
        let long = "x".repeat(10_000);
        let answer = fit(json!({"items": items, "long": long, "name": "clips"}), 2048);
        assert!(answer_len(&answer, None) <= 2048, "{answer}");
        let kept = answer["items"].as_array().unwrap().len();
        assert!(kept > 0 && kept < 500, "{answer}");
        assert_eq!(answer["name"], "clips");
        assert!(answer["long"].as_str().unwrap().ends_with(" chars]"));
        let cut = &answer["budget"]["cuts"][0];
        assert_eq!(cut["path"], "/items");
        assert_eq!(cut["total"], 500);
        assert_eq!(cut["kept"], kept);
        assert_eq!(answer["budget"]["truncated"], true);
    }

    #[test]
    fn what_the_uniform_cap_leaves_goes_to_the_first_arrays_cut() {
        let wide: Vec<Value> = (0..50)
            .map(|n| json!({"n": n, "text": "t".repeat(60)}))
            .collect();
        let narrow: Vec<Value> = (0..500).map(|n| json!(n)).collect();
        let answer = fit(json!({"a": wide, "b": narrow}), 4096);
        let size = answer_len(&answer, None);
        // Less than one more item of `a` (about 80 bytes, twice) is left over.
        assert!(size <= 4096 && size > 4096 - 2 * 90, "{size}: {answer}");
        assert!(answer["a"].as_array().unwrap().len() > 1, "{answer}");
    }

    #[test]
    fn query_cells_are_abbreviated_with_markers_and_rows_cut() {
        let row = vec![json!("c".repeat(10_000)), json!(vec![0.5; 5_000]), json!(1)];
        let query = QueryView {
            columns: vec!["caption".into(), "embedding".into(), "n".into()],
            n_rows: 100,
            truncated: false,
            truncated_by: None,
            total_rows: Some(100),
            rows: vec![row; 100],
        };
        let answer = fit_query(&query, DEFAULT_MAX_BYTES);
        assert!(answer_len(&answer, None) <= DEFAULT_MAX_BYTES);
        let rows = answer["rows"].as_array().unwrap();
        assert!(rows.len() >= ROWS_WANTED, "{answer}");
        assert_eq!(answer["n_rows"], rows.len());
        assert_eq!(answer["truncated"], true);
        assert_eq!(answer["truncated_by"], "budget");
        assert_eq!(answer["total_rows"], 100);
        let caption = rows[0][0].as_str().unwrap();
        assert!(caption.ends_with(" chars]"), "{caption}");
        let embedding = rows[0][1].as_array().unwrap();
        assert!(
            embedding
                .last()
                .unwrap()
                .as_str()
                .unwrap()
                .ends_with(" items]"),
            "{embedding:?}"
        );
    }
}
