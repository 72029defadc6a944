//! Rows read from Arrow input (`batch_to_rows` over `from_arrow`'s schema) made into the
//! JSON a declared schema validates, where Arrow's shape of a value differs from its JSON
//! one. Arrow has no absent struct field, so a struct's null field is taken as absent
//! where the declared type has no such field (a Pydantic union dumped by pyarrow is one
//! struct of every variant's fields; a dict read by pyarrow is a struct of every row's
//! keys). pail's own Arrow forms (`to_arrow()`, exported Parquet) come back to their JSON:
//! a union's struct of `tag` and variants to the chosen variant, a tuple's struct of `_0`,
//! `_1`, ... to an array, a duration's int of microseconds to its ISO 8601 text.

use std::sync::Arc;

use arrow_schema::{DataType, Field as ArrowField, TimeUnit};
use serde_json::{Map, Value};

use super::{Field, Schema, Type, variants};

/// `ty` with every duration in microseconds, pail's unit; None when it has no other. A
/// duration is stored as an int of microseconds, and Arrow's cast of a duration to an int
/// keeps its count of whatever unit it has, so input is first cast to this type.
pub fn micro_durations(ty: &DataType) -> Option<DataType> {
    let field = |field: &Arc<ArrowField>| {
        micro_durations(field.data_type())
            .map(|inner| Arc::new(field.as_ref().clone().with_data_type(inner)))
    };
    match ty {
        DataType::Duration(unit) if *unit != TimeUnit::Microsecond => {
            Some(DataType::Duration(TimeUnit::Microsecond))
        }
        DataType::List(item) => field(item).map(DataType::List),
        DataType::LargeList(item) => field(item).map(DataType::LargeList),
        DataType::FixedSizeList(item, size) => {
            field(item).map(|item| DataType::FixedSizeList(item, *size))
        }
        DataType::Map(entries, sorted) => field(entries).map(|e| DataType::Map(e, *sorted)),
        DataType::Struct(fields) => {
            let changed: Vec<Option<Arc<ArrowField>>> = fields.iter().map(field).collect();
            changed.iter().any(Option::is_some).then(|| {
                DataType::Struct(
                    fields
                        .iter()
                        .zip(changed)
                        .map(|(old, new)| new.unwrap_or_else(|| old.clone()))
                        .collect(),
                )
            })
        }
        _ => None,
    }
}

/// `row`, read from Arrow as `read_as`, as the JSON `declared` validates.
pub fn arrow_row_for(read_as: &Schema, declared: &Schema, row: Value) -> Value {
    fields_for(&read_as.fields, Some(&declared.fields), row)
}

/// A struct's object: each field by its twin in `declared` (None: not a struct there, or
/// no declared twin), a null field the declared struct lacks left out.
fn fields_for(read: &[Field], declared: Option<&[Field]>, value: Value) -> Value {
    let Value::Object(object) = value else {
        return value;
    };
    let mut out = Map::new();
    for (key, item) in object {
        let twin = declared.and_then(|fields| fields.iter().find(|field| field.name == key));
        if item.is_null() && declared.is_some() && twin.is_none() {
            continue;
        }
        let item = match (read.iter().find(|field| field.name == key), twin) {
            (Some(field), Some(twin)) => value_for(&field.ty, &twin.ty, item),
            _ => item,
        };
        out.insert(key, item);
    }
    Value::Object(out)
}

fn value_for(read: &Type, declared: &Type, value: Value) -> Value {
    if value.is_null() {
        return value;
    }
    let read = match read {
        Type::Optional(inner) => inner,
        other => other,
    };
    let declared = match declared {
        Type::Optional(inner) => inner,
        other => other,
    };
    match (read, declared) {
        (Type::Struct(fields), Type::Struct(twins)) => fields_for(fields, Some(twins), value),
        (Type::Struct(fields), Type::File | Type::FileWith(_)) => {
            let twins = declared.file_struct_fields().expect("a File");
            fields_for(fields, Some(&twins), value)
        }
        (Type::Struct(fields), Type::Tuple(items)) => tuple_for(fields, items, value),
        (Type::Struct(fields), Type::Map(twin)) => map_for(fields, twin, value),
        (
            Type::Struct(fields),
            Type::Union {
                variants: choices, ..
            },
        ) => union_for(fields, choices, value),
        // pail's duration in Arrow (and Parquet) is an int of microseconds, where a JSON
        // number is seconds.
        (Type::Int, Type::Duration) => match value.as_i64() {
            Some(micros) => Value::String(super::scalar::format_duration(micros)),
            None => value,
        },
        (Type::List(item), Type::List(twin)) => items_for(item, |_| Some(twin.as_ref()), value),
        (Type::List(item), Type::Tuple(twins)) => items_for(item, |idx| twins.get(idx), value),
        _ => value,
    }
}

fn items_for<'a>(read: &Type, declared: impl Fn(usize) -> Option<&'a Type>, value: Value) -> Value {
    let Value::Array(items) = value else {
        return value;
    };
    Value::Array(
        items
            .into_iter()
            .enumerate()
            .map(|(idx, item)| match declared(idx) {
                Some(twin) => value_for(read, twin, item),
                None => item,
            })
            .collect(),
    )
}

/// pail's tuple in Arrow: a struct of `_0`, `_1`, ..., as an array.
fn tuple_for(read: &[Field], items: &[Type], value: Value) -> Value {
    let names: Vec<String> = (0..items.len()).map(|idx| format!("_{idx}")).collect();
    let is_tuple = read.len() == items.len() && read.iter().zip(&names).all(|(f, n)| f.name == *n);
    let Value::Object(mut object) = value else {
        return value;
    };
    if !is_tuple {
        return Value::Object(object);
    }
    Value::Array(
        read.iter()
            .zip(items)
            .map(|(field, twin)| {
                let item = object.remove(&field.name).unwrap_or(Value::Null);
                value_for(&field.ty, twin, item)
            })
            .collect(),
    )
}

/// A dict read as a struct of every row's keys: the keys this row has (not null).
fn map_for(read: &[Field], twin: &Type, value: Value) -> Value {
    let Value::Object(object) = value else {
        return value;
    };
    let entries = object
        .into_iter()
        .filter(|(_, item)| !item.is_null())
        .map(|(key, item)| {
            let item = match read.iter().find(|field| field.name == key) {
                Some(field) => value_for(&field.ty, twin, item),
                None => item,
            };
            (key, item)
        })
        .collect();
    Value::Object(entries)
}

/// pail's union in Arrow (a struct of `tag` and one field per variant) as the chosen
/// variant's value; else one struct of every variant's fields, its null fields left out.
fn union_for(read: &[Field], choices: &[Field], value: Value) -> Value {
    let Value::Object(mut object) = value else {
        return value;
    };
    let own_shape = read.len() == choices.len() + 1
        && read
            .first()
            .is_some_and(|field| field.name == variants::TAG)
        && read[1..]
            .iter()
            .zip(choices)
            .all(|(field, choice)| field.name == choice.name);
    if own_shape {
        let tag = object
            .get(variants::TAG)
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(idx) = tag.and_then(|tag| choices.iter().position(|c| c.name == tag)) {
            let chosen = object.remove(&choices[idx].name).unwrap_or(Value::Null);
            return value_for(&read[idx + 1].ty, &choices[idx].ty, chosen);
        }
        return Value::Object(object);
    }
    object.retain(|_, item| !item.is_null());
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(name: &str, ty: Type) -> Field {
        Field {
            name: name.into(),
            ty,
        }
    }

    #[test]
    fn arrow_shapes_become_the_json_a_declared_schema_reads() {
        let text = r##"{"type": "object", "required": ["res", "tool", "scores", "either"],
            "properties": {
            "res": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "integer"}],
                    "minItems": 2, "maxItems": 2},
            "tool": {"oneOf": [{"$ref": "#/$defs/Search"}, {"$ref": "#/$defs/Calc"}],
                     "discriminator": {"propertyName": "kind",
                        "mapping": {"search": "#/$defs/Search", "calc": "#/$defs/Calc"}}},
            "scores": {"type": "object", "additionalProperties": {"type": "number"}},
            "either": {"anyOf": [{"type": "integer"}, {"type": "string"}]}},
            "$defs": {
              "Search": {"type": "object", "required": ["kind", "query"], "properties": {
                "kind": {"const": "search"}, "query": {"type": "string"}}},
              "Calc": {"type": "object", "required": ["kind", "expr"], "properties": {
                "kind": {"const": "calc"}, "expr": {"type": "string"}}}}}"##;
        let doc: Value = serde_json::from_str(text).unwrap();
        let declared = Schema::from_json_schema_text(&doc, text).unwrap();
        // As pyarrow reads Pydantic's `model_dump()`: a tuple as a list, a union as one
        // struct of every variant's fields, a dict as a struct of every row's keys.
        let opt = |ty: Type| Type::Optional(Box::new(ty));
        let pyarrow = Schema::new(vec![
            field("res", Type::List(Box::new(Type::Int))),
            field(
                "tool",
                Type::Struct(vec![
                    field("kind", opt(Type::String)),
                    field("query", opt(Type::String)),
                    field("expr", opt(Type::String)),
                ]),
            ),
            field(
                "scores",
                Type::Struct(vec![
                    field("a", opt(Type::Float)),
                    field("b", opt(Type::Float)),
                ]),
            ),
            field("either", Type::Int),
        ]);
        let row = json!({"res": [1, 2], "tool": {"kind": "calc", "query": null, "expr": "1"},
            "scores": {"a": 1.5, "b": null}, "either": 3});
        let adapted = arrow_row_for(&pyarrow, &declared, row);
        assert_eq!(
            declared.validate(&adapted).unwrap(),
            json!({"res": [1, 2], "tool": {"kind": "calc", "expr": "1"}, "scores": {"a": 1.5},
                "either": 3})
        );
        // pail's own Arrow (`to_arrow()`): a tuple's struct of `_0`, `_1` and a union's
        // struct of its tag and variants.
        let own = crate::schema::from_arrow(&declared.to_arrow()).unwrap();
        let row = json!({"res": {"_0": 1, "_1": 2},
            "tool": {"tag": "search", "search": {"kind": "search", "query": "q"}, "calc": null},
            "scores": {"a": 1.5}, "either": {"tag": "string", "int": null, "string": "x"}});
        let adapted = arrow_row_for(&own, &declared, row);
        assert_eq!(
            declared.validate(&adapted).unwrap(),
            json!({"res": [1, 2], "tool": {"kind": "search", "query": "q"}, "scores": {"a": 1.5},
                "either": "x"})
        );
        // A null field the declared struct has is kept: still refused where required.
        let row = json!({"res": [1, 2], "tool": {"kind": "calc", "expr": null}, "scores": {},
            "either": 1});
        let err = declared
            .validate(&arrow_row_for(&pyarrow, &declared, row))
            .unwrap_err();
        assert_eq!(err.path, "tool.expr");
    }
}
