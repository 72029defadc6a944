//! `Type::Tuple` (schema format 3): a fixed-length `tuple[int, str]`, a JSON array of
//! exactly its items in rows, an Arrow/Parquet struct of fields `_0`, `_1`, ... in leaves
//! (engines read a struct by field name; a list holds one item type).

use serde_json::{Map, Value};

use super::{Field, SchemaError, Type, Violation, build_struct, check, describe, violation};
use super::{arrow_fields, struct_to_values};
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;

/// The struct fields a tuple is stored as: `_0`, `_1`, ...
pub(super) fn fields(items: &[Type]) -> Vec<Field> {
    items
        .iter()
        .enumerate()
        .map(|(idx, ty)| Field {
            name: format!("_{idx}"),
            ty: ty.clone(),
        })
        .collect()
}

pub(super) fn data_type(items: &[Type]) -> DataType {
    DataType::Struct(arrow_fields(&fields(items)))
}

pub(super) fn check_tuple(
    ty: &Type,
    items: &[Type],
    value: &Value,
    path: &str,
) -> Result<Value, Violation> {
    match value {
        Value::Array(values) if values.len() == items.len() => items
            .iter()
            .zip(values)
            .enumerate()
            .map(|(idx, (item, value))| check(item, Some(value), &format!("{path}[{idx}]")))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Array(values) => Err(violation(
            path,
            format!(
                "expected {ty} ({} items), found an array of {}",
                items.len(),
                values.len()
            ),
        )),
        other => Err(violation(
            path,
            format!("expected {ty}, found {}", describe(other)),
        )),
    }
}

/// As a struct: each array becomes an object of `_0`, `_1`, ...
pub(super) fn build(
    ty: &Type,
    items: &[Type],
    values: &[Option<&Value>],
    path: &str,
) -> Result<ArrayRef, SchemaError> {
    let objects: Vec<Option<Value>> = values
        .iter()
        .map(|value| match value {
            None | Some(Value::Null) => None,
            Some(Value::Array(values)) => Some(Value::Object(
                values
                    .iter()
                    .enumerate()
                    .map(|(idx, value)| (format!("_{idx}"), value.clone()))
                    .collect::<Map<_, _>>(),
            )),
            Some(other) => Some((*other).clone()),
        })
        .collect();
    let refs: Vec<Option<&Value>> = objects.iter().map(Option::as_ref).collect();
    build_struct(ty, &fields(items), &refs, path)
}

pub(super) fn to_values(
    ty: &Type,
    items: &[Type],
    array: &dyn Array,
    path: &str,
) -> Result<Vec<Value>, SchemaError> {
    let fields = fields(items);
    Ok(struct_to_values(ty, &fields, array, path)?
        .into_iter()
        .map(|value| match value {
            Value::Object(mut object) => Value::Array(
                fields
                    .iter()
                    .map(|field| object.remove(&field.name).unwrap_or(Value::Null))
                    .collect(),
            ),
            other => other,
        })
        .collect())
}
