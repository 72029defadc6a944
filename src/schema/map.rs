//! `Type::Map` (schema format 3): a `dict[str, X]`, a JSON object with any string keys and
//! values of one type, stored as an Arrow/Parquet map of `keys` (Utf8) to `values`.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, MapArray, StringArray, StructArray};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{DataType, Field as ArrowField, Fields};
use serde_json::{Map, Value};

use super::{SchemaError, Type, Violation, array_to_values, build_array, check, collect_values};
use super::{data_type as arrow_type, mismatch, null_buffer, quote};

/// The Arrow map entries: non-null string `keys` and `values` of the value type.
fn entries_field(value: &Type) -> Arc<ArrowField> {
    let fields = Fields::from(vec![
        ArrowField::new("keys", DataType::Utf8, false),
        ArrowField::new(
            "values",
            arrow_type(value),
            matches!(value, Type::Optional(_)),
        ),
    ]);
    Arc::new(ArrowField::new("entries", DataType::Struct(fields), false))
}

pub(super) fn data_type(value: &Type) -> DataType {
    DataType::Map(entries_field(value), false)
}

/// A map entry's path in messages: `scores["a.b"]`.
pub(super) fn entry_path(path: &str, key: &str) -> String {
    format!("{path}[{}]", quote(key))
}

pub(super) fn check_map(
    ty: &Type,
    value_ty: &Type,
    value: &Value,
    path: &str,
) -> Result<Value, Violation> {
    let Value::Object(object) = value else {
        return Err(mismatch(path, ty, value));
    };
    let mut out = Map::new();
    for (key, item) in object {
        out.insert(
            key.clone(),
            check(value_ty, Some(item), &entry_path(path, key))?,
        );
    }
    Ok(Value::Object(out))
}

pub(super) fn build(
    ty: &Type,
    value_ty: &Type,
    values: &[Option<&Value>],
    path: &str,
) -> Result<ArrayRef, SchemaError> {
    let objects = collect_values(ty, values, path, Value::as_object)?;
    let lengths = objects.iter().map(|object| object.map_or(0, Map::len));
    let offsets = OffsetBuffer::from_lengths(lengths);
    let keys: Vec<&str> = objects
        .iter()
        .flatten()
        .flat_map(|object| object.keys().map(String::as_str))
        .collect();
    let items: Vec<Option<&Value>> = objects
        .iter()
        .flatten()
        .flat_map(|object| object.values().map(Some))
        .collect();
    let item_array = build_array(value_ty, &items, &format!("{path}[]"))?;
    let arrow_err = |source| SchemaError::Arrow {
        path: path.to_string(),
        source,
    };
    let entries_field = entries_field(value_ty);
    let DataType::Struct(entry_fields) = entries_field.data_type() else {
        unreachable!("map entries are a struct")
    };
    let entries = StructArray::try_new(
        entry_fields.clone(),
        vec![Arc::new(StringArray::from(keys)), item_array],
        None,
    )
    .map_err(arrow_err)?;
    let nulls = null_buffer(objects.iter().map(Option::is_some).collect());
    let map =
        MapArray::try_new(entries_field, offsets, entries, nulls, false).map_err(arrow_err)?;
    Ok(Arc::new(map))
}

pub(super) fn to_values(
    ty: &Type,
    value_ty: &Type,
    array: &dyn Array,
    path: &str,
) -> Result<Vec<Value>, SchemaError> {
    let map = array.as_map_opt().ok_or_else(|| SchemaError::ArrowType {
        path: path.to_string(),
        expected: ty.to_string(),
        found: array.data_type().clone(),
    })?;
    let keys = map
        .keys()
        .as_string_opt::<i32>()
        .ok_or_else(|| SchemaError::ArrowType {
            path: format!("{path}{{key}}"),
            expected: "string".to_string(),
            found: map.keys().data_type().clone(),
        })?;
    let mut items = array_to_values(value_ty, map.values().as_ref(), &format!("{path}[]"))?;
    let offsets = map.value_offsets();
    Ok((0..map.len())
        .map(|row| {
            if map.is_null(row) {
                return Value::Null;
            }
            let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
            Value::Object(
                (start..end)
                    .map(|at| (keys.value(at).to_string(), std::mem::take(&mut items[at])))
                    .collect(),
            )
        })
        .collect())
}
