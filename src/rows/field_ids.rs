//! Parquet field ids in leaves: each Arrow field a leaf is written with carries its
//! column's id (`Schema::column_ids`, by column path) as `PARQUET:field_id`, so engines
//! that resolve columns by id (Iceberg readers) find them. Readers here drop the ids again
//! (`strip`), so a leaf's batches have the same Arrow schema whether it was written with
//! ids or before them.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::{DataType, Field as ArrowField, FieldRef, Fields, Schema as ArrowSchema};
use parquet::arrow::PARQUET_FIELD_ID_META_KEY;

use crate::schema::{Field, Schema, Type};

/// The Arrow schema of `schema` (`Schema::to_arrow`) with every field that has a column id
/// annotated with it.
pub fn annotated(schema: &Schema) -> ArrowSchema {
    let ids: HashMap<String, u32> = schema
        .column_ids()
        .into_iter()
        .map(|column| (column.path, column.id))
        .collect();
    let arrow = schema.to_arrow();
    let fields: Vec<FieldRef> = arrow
        .fields()
        .iter()
        .zip(&schema.fields)
        .map(|(arrow, field)| Arc::new(annotate(arrow, &field.ty, &field.name, &ids)))
        .collect();
    ArrowSchema::new(fields)
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

/// One Arrow field of pail type `ty` at column path `path`, with its children, annotated.
/// The paths follow `Schema::column_paths`; a shape this walk does not know is left as is.
fn annotate(field: &ArrowField, ty: &Type, path: &str, ids: &HashMap<String, u32>) -> ArrowField {
    let data_type = annotate_type(field.data_type(), ty, path, ids);
    let field = field.clone().with_data_type(data_type);
    match ids.get(path) {
        Some(id) => {
            let mut metadata = field.metadata().clone();
            metadata.insert(PARQUET_FIELD_ID_META_KEY.to_string(), id.to_string());
            field.with_metadata(metadata)
        }
        None => field,
    }
}

/// Annotates the children of a field, pairing them with the pail fields they store.
fn children(arrow: &Fields, pail: &[(Type, String)], ids: &HashMap<String, u32>) -> Option<Fields> {
    (arrow.len() == pail.len()).then(|| {
        arrow
            .iter()
            .zip(pail)
            .map(|(arrow, (ty, path))| Arc::new(annotate(arrow, ty, path, ids)))
            .collect()
    })
}

fn named(fields: &[Field], path: &str) -> Vec<(Type, String)> {
    fields
        .iter()
        .map(|field| (field.ty.clone(), join(path, &field.name)))
        .collect()
}

fn annotate_type(
    data_type: &DataType,
    ty: &Type,
    path: &str,
    ids: &HashMap<String, u32>,
) -> DataType {
    let pail: Option<Vec<(Type, String)>> = match ty {
        Type::Optional(inner) => return annotate_type(data_type, inner, path, ids),
        Type::Struct(fields) => Some(named(fields, path)),
        Type::File | Type::FileWith(_) => ty.file_struct_fields().map(|f| named(&f, path)),
        Type::Tuple(items) => Some(
            items
                .iter()
                .enumerate()
                .map(|(idx, item)| (item.clone(), format!("{path}[{idx}]")))
                .collect(),
        ),
        Type::Union { variants, .. } => {
            let mut pail = vec![(Type::String, format!("{path}|tag"))];
            pail.extend(
                variants
                    .iter()
                    .map(|v| (v.ty.clone(), format!("{path}|{}", v.name))),
            );
            Some(pail)
        }
        Type::List(item) => {
            if let DataType::List(element) = data_type {
                let element = annotate(element, item, &format!("{path}[]"), ids);
                return DataType::List(Arc::new(element));
            }
            None
        }
        Type::Map(value) => {
            if let DataType::Map(entries, sorted) = data_type
                && let DataType::Struct(kv) = entries.data_type()
            {
                let pail = vec![
                    (Type::String, format!("{path}{{key}}")),
                    ((**value).clone(), format!("{path}{{value}}")),
                ];
                if let Some(kv) = children(kv, &pail, ids) {
                    let entries = entries
                        .as_ref()
                        .clone()
                        .with_data_type(DataType::Struct(kv));
                    return DataType::Map(Arc::new(entries), *sorted);
                }
            }
            None
        }
        _ => None,
    };
    match (data_type, pail) {
        (DataType::Struct(fields), Some(pail)) => match children(fields, &pail, ids) {
            Some(fields) => DataType::Struct(fields),
            None => data_type.clone(),
        },
        _ => data_type.clone(),
    }
}

/// Whether any field of an Arrow schema (at any depth) carries metadata.
pub fn has_metadata(schema: &ArrowSchema) -> bool {
    fn in_type(data_type: &DataType) -> bool {
        match data_type {
            DataType::Struct(fields) => fields.iter().any(|f| in_field(f)),
            DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
                in_field(f)
            }
            DataType::Map(f, _) => in_field(f),
            _ => false,
        }
    }
    fn in_field(field: &ArrowField) -> bool {
        !field.metadata().is_empty() || in_type(field.data_type())
    }
    schema.fields().iter().any(|f| in_field(f))
}

/// An Arrow schema without field metadata at any depth (the schema keeps its own).
pub fn strip(schema: &ArrowSchema) -> ArrowSchema {
    fn strip_type(data_type: &DataType) -> DataType {
        match data_type {
            DataType::Struct(fields) => {
                DataType::Struct(fields.iter().map(|f| Arc::new(strip_field(f))).collect())
            }
            DataType::List(f) => DataType::List(Arc::new(strip_field(f))),
            DataType::LargeList(f) => DataType::LargeList(Arc::new(strip_field(f))),
            DataType::FixedSizeList(f, n) => DataType::FixedSizeList(Arc::new(strip_field(f)), *n),
            DataType::Map(f, sorted) => DataType::Map(Arc::new(strip_field(f)), *sorted),
            other => other.clone(),
        }
    }
    fn strip_field(field: &ArrowField) -> ArrowField {
        field
            .clone()
            .with_data_type(strip_type(field.data_type()))
            .with_metadata(HashMap::new())
    }
    let fields: Vec<FieldRef> = schema
        .fields()
        .iter()
        .map(|f| Arc::new(strip_field(f)))
        .collect();
    ArrowSchema::new_with_metadata(fields, schema.metadata().clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::leaf;
    use bytes::Bytes;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::schema::types::Type as ParquetType;

    fn field(name: &str, ty: Type) -> Field {
        Field {
            name: name.to_string(),
            ty,
        }
    }

    /// Every Parquet node's path (as `Schema::column_paths` names it, with the Parquet
    /// list and map wrappers skipped) and field id.
    fn parquet_ids(bytes: Vec<u8>) -> Vec<(String, Option<i32>)> {
        fn walk(node: &ParquetType, path: &str, out: &mut Vec<(String, Option<i32>)>) {
            let info = node.get_basic_info();
            out.push((path.to_string(), info.has_id().then(|| info.id())));
            if let ParquetType::GroupType { fields, .. } = node {
                for child in fields {
                    let name = child.name();
                    let child_path = match name {
                        "list" | "key_value" | "entries" => {
                            // A wrapper: its children belong to `path`.
                            if let ParquetType::GroupType { fields, .. } = child.as_ref() {
                                for inner in fields {
                                    let inner_path = match inner.name() {
                                        "element" | "item" => format!("{path}[]"),
                                        "keys" | "key" => format!("{path}{{key}}"),
                                        "values" | "value" => format!("{path}{{value}}"),
                                        other => format!("{path}?{other}"),
                                    };
                                    walk(inner, &inner_path, out);
                                }
                            }
                            continue;
                        }
                        _ if path.is_empty() => name.to_string(),
                        _ => format!("{path}.{name}"),
                    };
                    walk(child, &child_path, out);
                }
            }
        }
        let reader = SerializedFileReader::new(Bytes::from(bytes)).unwrap();
        let root = reader
            .metadata()
            .file_metadata()
            .schema_descr()
            .root_schema_ptr();
        let mut out = Vec::new();
        walk(&root, "", &mut out);
        out.remove(0);
        out
    }

    #[test]
    fn leaves_carry_column_ids_as_field_ids_and_read_back_without_them() {
        let schema = Schema::new(vec![
            field("id", Type::Int),
            field("file", Type::File),
            field(
                "meta",
                Type::Optional(Box::new(Type::Struct(vec![
                    field("w", Type::Int),
                    field("tags", Type::List(Box::new(Type::String))),
                ]))),
            ),
            field("scores", Type::Map(Box::new(Type::Float))),
        ])
        .numbered_after(None);
        let ids: HashMap<String, i32> = schema
            .column_ids()
            .into_iter()
            .map(|c| (c.path, c.id as i32))
            .collect();
        let batch = arrow_array::RecordBatch::new_empty(Arc::new(schema.to_arrow()));
        let with_ids = leaf::encode_leaf(&batch, &schema).unwrap();
        let found = parquet_ids(with_ids.clone());
        assert!(found.len() >= 10, "{found:?}");
        for (path, id) in &found {
            assert_eq!(id.as_ref(), ids.get(path), "{path}: {found:?}");
        }
        for path in ["meta.tags[]", "scores{value}", "file.size"] {
            assert!(found.iter().any(|(p, _)| p == path), "{path}: {found:?}");
        }
        // Read back, a leaf with ids and one without have the schema's Arrow schema.
        let without = leaf::encode_batch(&batch).unwrap();
        for bytes in [with_ids.clone(), without.clone()] {
            let builder = leaf::reader_builder(Bytes::from(bytes)).unwrap();
            assert_eq!(builder.schema().as_ref(), &schema.to_arrow());
        }
        // Leaving out the ARROW:schema entry more than pays for the ids.
        assert!(
            with_ids.len() < without.len(),
            "{} {}",
            with_ids.len(),
            without.len()
        );
    }
}
