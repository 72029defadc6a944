//! Which fields of Arrow data held a null, so that a commit of Arrow data without a
//! declared schema settles nullability as JSON inference does: a field declared nullable
//! that held no null is required (pyarrow declares every field nullable, so rows read from
//! Python and the same rows as JSON lines get the same schema, row tree and commit).

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use arrow_buffer::{BooleanBuffer, BooleanBufferBuilder, OffsetBuffer};
use arrow_schema::DataType;

use super::{Field, Schema, Type, make_optional};

/// Where nulls were seen in Arrow data, field by field, through struct fields and list
/// items. A struct field counts only where its struct is not null, a list item only inside
/// a list that is not null: the values a row holds, as JSON inference sees them.
pub struct NullsSeen {
    fields: Vec<Seen>,
}

/// One field: whether it held a null, and its struct fields (or its list's item).
struct Seen {
    null: bool,
    children: Vec<Seen>,
}

impl Seen {
    fn of(data_type: &DataType) -> Seen {
        let children = match data_type {
            DataType::Struct(fields) => fields.iter().map(|f| Seen::of(f.data_type())).collect(),
            DataType::List(item) | DataType::LargeList(item) => vec![Seen::of(item.data_type())],
            _ => Vec::new(),
        };
        // A column of nulls only holds nulls even when it has no rows.
        let null = matches!(data_type, DataType::Null);
        Seen { null, children }
    }
}

impl NullsSeen {
    /// Nothing seen yet, for data of this Arrow schema.
    pub fn new(arrow: &arrow_schema::Schema) -> NullsSeen {
        NullsSeen {
            fields: arrow
                .fields()
                .iter()
                .map(|field| Seen::of(field.data_type()))
                .collect(),
        }
    }

    /// Counts the nulls of one batch: the data read, or that data cast to the Arrow form
    /// of `from_arrow`'s schema (the same nesting). Costs a null count per column, and a
    /// walk of the validity bits under a struct or list that holds nulls.
    pub fn observe(&mut self, batch: &RecordBatch) {
        for (seen, column) in self.fields.iter_mut().zip(batch.columns()) {
            observe(seen, column.as_ref(), None);
        }
    }

    /// `read_as` (from `from_arrow` of the same Arrow schema) with every optional field
    /// that held no null made required.
    pub fn settle(&self, read_as: &Schema) -> Schema {
        Schema::new(settle_fields(&read_as.fields, &self.fields))
    }
}

/// Records the nulls of `array` at the positions in `relevant` (all when None).
fn observe(seen: &mut Seen, array: &dyn Array, relevant: Option<&BooleanBuffer>) {
    let nulls = array.logical_nulls();
    if !seen.null {
        seen.null = match (&nulls, relevant) {
            (None, _) => false,
            (Some(nulls), None) => nulls.null_count() > 0,
            (Some(nulls), Some(relevant)) => (relevant & &!nulls.inner()).count_set_bits() > 0,
        };
    }
    if seen.children.iter().all(settled) {
        return;
    }
    let valid = match (nulls, relevant) {
        (None, relevant) => relevant.cloned(),
        (Some(nulls), None) => Some(nulls.into_inner()),
        (Some(nulls), Some(relevant)) => Some(relevant & nulls.inner()),
    };
    match array.data_type() {
        DataType::Struct(_) => {
            for (seen, child) in seen.children.iter_mut().zip(array.as_struct().columns()) {
                observe(seen, child.as_ref(), valid.as_ref());
            }
        }
        DataType::List(_) => {
            let list = array.as_list::<i32>();
            let items = item_positions(list.offsets(), valid.as_ref(), list.values().len());
            observe(
                &mut seen.children[0],
                list.values().as_ref(),
                items.as_ref(),
            );
        }
        DataType::LargeList(_) => {
            let list = array.as_list::<i64>();
            let items = item_positions(list.offsets(), valid.as_ref(), list.values().len());
            observe(
                &mut seen.children[0],
                list.values().as_ref(),
                items.as_ref(),
            );
        }
        _ => {}
    }
}

/// Whether nothing more can be learnt below this field: it and everything in it held a
/// null already.
fn settled(seen: &Seen) -> bool {
    seen.null && seen.children.iter().all(settled)
}

/// The positions of a list's values that lie inside its lists at `valid` positions (all
/// lists when None); None when that is every value.
fn item_positions<O: arrow_array::OffsetSizeTrait>(
    offsets: &OffsetBuffer<O>,
    valid: Option<&BooleanBuffer>,
    n_items: usize,
) -> Option<BooleanBuffer> {
    let first = offsets.first().map_or(0, |o| o.as_usize());
    let last = offsets.last().map_or(0, |o| o.as_usize());
    if valid.is_none() && first == 0 && last == n_items {
        return None;
    }
    let mut positions = BooleanBufferBuilder::new(n_items);
    positions.append_n(n_items, false);
    for (index, window) in offsets.windows(2).enumerate() {
        if valid.is_none_or(|valid| valid.value(index)) {
            for position in window[0].as_usize()..window[1].as_usize() {
                positions.set_bit(position, true);
            }
        }
    }
    Some(positions.finish())
}

fn settle_fields(fields: &[Field], seen: &[Seen]) -> Vec<Field> {
    fields
        .iter()
        .zip(seen)
        .map(|(field, seen)| Field {
            name: field.name.clone(),
            ty: settle_type(&field.ty, seen),
        })
        .collect()
}

fn settle_type(ty: &Type, seen: &Seen) -> Type {
    match ty {
        Type::Optional(inner) if seen.null => make_optional(settle_type(inner, seen)),
        Type::Optional(inner) => settle_type(inner, seen),
        Type::Struct(fields) => Type::Struct(settle_fields(fields, &seen.children)),
        Type::List(item) => match seen.children.first() {
            Some(seen) => Type::List(Box::new(settle_type(item, seen))),
            None => ty.clone(),
        },
        other => other.clone(),
    }
}
