//! `Type::Union` (schema format 3): `A | B` of models or scalars, and Pydantic's
//! discriminated unions. In rows, the chosen variant's value as it is; in leaves, a struct
//! of a non-null `tag` (the variant's name) and one nullable field per variant, so engines
//! read it as plain columns.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, StringArray, StructArray};
use arrow_schema::{DataType, Field as ArrowField, Fields};
use serde_json::Value;

use super::{Field, SchemaError, Type, Violation, array_to_values, build_array, check_present};
use super::{arrow_field, describe, null_buffer, quote, violation};

/// The union's struct field holding the chosen variant's name.
pub const TAG: &str = "tag";

/// The variant a value is: by its discriminator field when the union has one, else the
/// first variant that validates it (Pydantic's left-to-right mode). With its normalized
/// value.
pub(super) fn choose(
    variants: &[Field],
    discriminator: Option<&str>,
    value: &Value,
    path: &str,
) -> Result<(usize, Value), Violation> {
    if let Some(discriminator) = discriminator {
        let tag = value.get(discriminator).and_then(Value::as_str);
        let Some(tag) = tag else {
            return Err(violation(
                path,
                format!(
                    "expected an object with the discriminator `{discriminator}` (one of {}), found {}",
                    names(variants),
                    describe(value)
                ),
            ));
        };
        let Some(idx) = variants.iter().position(|variant| variant.name == tag) else {
            return Err(violation(
                path,
                format!(
                    "`{discriminator}` is {}, not one of {}",
                    quote(tag),
                    names(variants)
                ),
            ));
        };
        return check_present(&variants[idx].ty, value, path).map(|normalized| (idx, normalized));
    }
    let mut first_error = None;
    for (idx, variant) in variants.iter().enumerate() {
        match check_present(&variant.ty, value, path) {
            Ok(normalized) => return Ok((idx, normalized)),
            Err(err) => {
                first_error.get_or_insert(err);
            }
        }
    }
    Err(violation(
        path,
        format!(
            "matches no variant of union<{}> (the first says: {})",
            names(variants),
            first_error.map(|err| err.to_string()).unwrap_or_default()
        ),
    ))
}

fn names(variants: &[Field]) -> String {
    variants
        .iter()
        .map(|variant| variant.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn struct_fields(variants: &[Field]) -> Fields {
    let mut fields = vec![Arc::new(ArrowField::new(TAG, DataType::Utf8, false))];
    fields.extend(variants.iter().map(|variant| {
        let inner = super::make_optional(variant.ty.clone());
        Arc::new(arrow_field(&variant.name, &inner))
    }));
    Fields::from(fields)
}

pub(super) fn data_type(variants: &[Field]) -> DataType {
    DataType::Struct(struct_fields(variants))
}

pub(super) fn build(
    variants: &[Field],
    discriminator: Option<&str>,
    values: &[Option<&Value>],
    path: &str,
) -> Result<ArrayRef, SchemaError> {
    let mut tags: Vec<&str> = Vec::with_capacity(values.len());
    let mut columns: Vec<Vec<Option<Value>>> =
        vec![Vec::with_capacity(values.len()); variants.len()];
    for value in values {
        let chosen = match value {
            None | Some(Value::Null) => None,
            Some(value) => Some(choose(variants, discriminator, value, path).map_err(|err| {
                SchemaError::NotNormalized {
                    path: path.to_string(),
                    message: err.message,
                }
            })?),
        };
        tags.push(
            chosen
                .as_ref()
                .map_or("", |(idx, _)| variants[*idx].name.as_str()),
        );
        let mut chosen = chosen;
        for (idx, column) in columns.iter_mut().enumerate() {
            column.push(match &mut chosen {
                Some((at, value)) if *at == idx => Some(std::mem::take(value)),
                _ => None,
            });
        }
    }
    let mut children: Vec<ArrayRef> = vec![Arc::new(StringArray::from(tags))];
    for (variant, column) in variants.iter().zip(&columns) {
        let refs: Vec<Option<&Value>> = column.iter().map(Option::as_ref).collect();
        let ty = super::make_optional(variant.ty.clone());
        children.push(build_array(
            &ty,
            &refs,
            &format!("{path}|{}", variant.name),
        )?);
    }
    let nulls = null_buffer(
        values
            .iter()
            .map(|v| !matches!(v, None | Some(Value::Null)))
            .collect(),
    );
    let array =
        StructArray::try_new(struct_fields(variants), children, nulls).map_err(|source| {
            SchemaError::Arrow {
                path: path.to_string(),
                source,
            }
        })?;
    Ok(Arc::new(array))
}

pub(super) fn to_values(
    ty: &Type,
    variants: &[Field],
    array: &dyn Array,
    path: &str,
) -> Result<Vec<Value>, SchemaError> {
    let wrong = || SchemaError::ArrowType {
        path: path.to_string(),
        expected: ty.to_string(),
        found: array.data_type().clone(),
    };
    let structs = array.as_struct_opt().ok_or_else(wrong)?;
    let tags = structs
        .column_by_name(TAG)
        .and_then(|tags| tags.as_string_opt::<i32>())
        .ok_or_else(wrong)?;
    let mut columns = Vec::with_capacity(variants.len());
    for variant in variants {
        let column = structs.column_by_name(&variant.name).ok_or_else(wrong)?;
        let ty = super::make_optional(variant.ty.clone());
        columns.push(array_to_values(
            &ty,
            column.as_ref(),
            &format!("{path}|{}", variant.name),
        )?);
    }
    Ok((0..structs.len())
        .map(|row| {
            if structs.is_null(row) {
                return Value::Null;
            }
            let tag = tags.value(row);
            variants
                .iter()
                .position(|variant| variant.name == tag)
                .map_or(Value::Null, |idx| std::mem::take(&mut columns[idx][row]))
        })
        .collect())
}
