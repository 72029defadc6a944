//! Arrow in and out through the public API: a commit from record batches
//! (`Records::Batches`) and a version's batches streamed back (`Repo::batches`).

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{
    Array, ArrayRef, BinaryArray, DictionaryArray, Float32Array, Float64Array, Int32Array,
    Int64Array, LargeStringArray, RecordBatch, RecordBatchIterator, StringArray, StructArray,
    TimestampMicrosecondArray, TimestampNanosecondArray, UInt64Array,
};
use arrow_schema::{DataType, Field, Fields, Schema as ArrowSchema, TimeUnit};
use common::{Pail, write_file};
use pail::commit::{CommitOutcome, RecordsOptions};
use pail::{CommitError, CommitOptions, Records, Repo, Schema};

fn repo() -> (tempfile::TempDir, Repo) {
    let dir = tempfile::tempdir().unwrap();
    let (repo, _) = Repo::init(&dir.path().join(".pail")).unwrap();
    (dir, repo)
}

fn options(repo: &Repo, name: &str) -> CommitOptions {
    CommitOptions {
        name: repo.parse_name(name).unwrap(),
        message: String::new(),
        bump: None,
        author: "t".into(),
        time: 0,
        command: Vec::new(),
        git: None,
        code: Vec::new(),
        inputs: Vec::new(),
    }
}

fn reader(batches: Vec<RecordBatch>) -> Records {
    let schema = batches[0].schema();
    Records::Batches(Box::new(RecordBatchIterator::new(
        batches.into_iter().map(Ok),
        schema,
    )))
}

fn commit_batches(
    repo: &Repo,
    name: &str,
    records: Records,
    shape: &RecordsOptions,
) -> Result<CommitOutcome, CommitError> {
    pail::commit::records(repo, records, shape, &options(repo, name))
}

/// Every batch of the latest version of `name`, concatenated.
fn read_back(repo: &Repo, name: &str) -> RecordBatch {
    let found = repo.resolve(&repo.parse_ref(name).unwrap()).unwrap();
    let batches = repo.batches(&found.commit).unwrap();
    let schema = batches.schema();
    let batches: Vec<RecordBatch> = batches.map(Result::unwrap).collect();
    datafusion::arrow::compute::concat_batches(&schema, &batches).unwrap()
}

fn schema_id(repo: &Repo, name: &str) -> pail::ObjectId {
    repo.resolve(&repo.parse_ref(name).unwrap())
        .unwrap()
        .commit
        .schema
}

/// Rows in pail's own Arrow form (`Schema::to_arrow`), sorted by the key `id`: a nested
/// struct with a null, a list, bytes, a timestamp, exact floats and ints at the limits.
/// The struct's fields are null only where the struct is, so they are required.
fn sample(ids: &[i64]) -> RecordBatch {
    let n = ids.len();
    let inner = Fields::from(vec![
        Field::new("a", DataType::Int64, false),
        Field::new("b", DataType::Utf8, false),
    ]);
    let meta = StructArray::new(
        inner.clone(),
        vec![
            Arc::new(Int64Array::from_iter(
                (0..n).map(|idx| (idx % 3 != 1).then_some(idx as i64 * 7)),
            )) as ArrayRef,
            Arc::new(StringArray::from_iter(
                (0..n).map(|idx| (idx % 3 != 1).then(|| format!("b{idx}"))),
            )),
        ],
        Some(arrow_buffer::NullBuffer::from_iter(
            (0..n).map(|idx| idx % 3 != 1),
        )),
    );
    let mut tags = ListBuilder::new(StringBuilder::new()).with_field(Arc::new(Field::new(
        "item",
        DataType::Utf8,
        false,
    )));
    for idx in 0..n {
        for tag in 0..idx % 4 {
            tags.values().append_value(format!("t{tag}"));
        }
        tags.append(true);
    }
    let schema = ArrowSchema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("x", DataType::Float64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("meta", DataType::Struct(inner), true),
        Field::new_list("tags", Field::new("item", DataType::Utf8, false), false),
        Field::new("blob", DataType::Binary, false),
        Field::new(
            "at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
    ]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids.to_vec())),
        Arc::new(Float64Array::from_iter_values(
            (0..n).map(|idx| 0.1 + 0.2 + idx as f64 * 1e-17),
        )),
        Arc::new(StringArray::from_iter(
            (0..n).map(|idx| (idx % 2 == 0).then(|| format!("row {idx}"))),
        )),
        Arc::new(meta),
        Arc::new(tags.finish()),
        Arc::new(BinaryArray::from_iter_values(
            (0..n).map(|idx| vec![0u8, 255, idx as u8]),
        )),
        Arc::new(
            TimestampMicrosecondArray::from_iter(
                (0..n).map(|idx| (idx != 2).then_some(1_700_000_000_123_456 + idx as i64)),
            )
            .with_timezone("UTC"),
        ),
    ];
    RecordBatch::try_new(Arc::new(schema), columns).unwrap()
}

#[test]
fn batches_commit_and_read_back_equal() {
    let (_dir, repo) = repo();
    let ids = [i64::MIN, -1, 0, 1, i64::MAX - 1, i64::MAX];
    let all = sample(&ids);
    // Given out of key order, in two batches.
    let batches = vec![all.slice(3, 3), all.slice(0, 3)];
    let shape = RecordsOptions {
        schema: None,
        key: Some(vec!["id".into()]),
    };
    let outcome = commit_batches(&repo, "rows", reader(batches), &shape).unwrap();
    assert!(matches!(outcome, CommitOutcome::Created { .. }));
    let back = read_back(&repo, "rows");
    assert_eq!(back, all);
    let x = back.column_by_name("x").unwrap();
    let x = x.as_any().downcast_ref::<Float64Array>().unwrap();
    assert_eq!(x.value(0).to_bits(), (0.1f64 + 0.2).to_bits());

    // The same batches again are the same version; read back, they commit as themselves.
    let again = commit_batches(&repo, "rows", reader(vec![all.clone()]), &shape).unwrap();
    assert!(matches!(again, CommitOutcome::Unchanged { .. }));
    commit_batches(&repo, "copy", reader(vec![back]), &shape).unwrap();
    assert_eq!(schema_id(&repo, "copy"), schema_id(&repo, "rows"));
    assert_eq!(read_back(&repo, "copy"), all);
}

#[test]
fn batches_commit_like_the_same_rows_as_json() {
    let (_dir, repo) = repo();
    let all = sample(&[1, 2, 3]);
    let shape = RecordsOptions {
        schema: None,
        key: Some(vec!["id".into()]),
    };
    commit_batches(&repo, "arrow", reader(vec![all.clone()]), &shape).unwrap();
    // The rows as JSON, with the schema the batches gave: the same rows, the same digest.
    let found = repo.resolve(&repo.parse_ref("arrow").unwrap()).unwrap();
    let schema = repo.schema(&found.commit.schema).unwrap();
    let mut text = String::new();
    repo.for_each_row(&found.commit, |row| {
        text.push_str(&serde_json::to_string(&row).unwrap());
        text.push('\n');
        Ok(true)
    })
    .unwrap();
    let json = Records::Reader(Box::new(std::io::Cursor::new(text.into_bytes())));
    let declared = RecordsOptions {
        schema: Some(schema),
        key: Some(vec!["id".into()]),
    };
    commit_batches(&repo, "json", json, &declared).unwrap();
    let json_found = repo.resolve(&repo.parse_ref("json").unwrap()).unwrap();
    assert_eq!(json_found.commit.rows, found.commit.rows);
    assert_eq!(json_found.commit.schema, found.commit.schema);
}

/// Rows as pyarrow gives them (every field nullable): a field that holds no null commits
/// as required, as JSON inference makes a field it never saw null, so the same rows as
/// JSON lines are the same schema, rows and summary. A struct's field counts only where
/// the struct is not null, a list's item only inside a list that is not null.
#[test]
fn nullable_fields_without_nulls_commit_as_the_same_rows_as_json_lines() {
    use arrow_array::builder::Int64Builder;
    let (_dir, repo) = repo();
    let inner = Fields::from(vec![
        Field::new("a", DataType::Int64, true),
        Field::new("b", DataType::Utf8, true),
    ]);
    let meta = StructArray::new(
        inner.clone(),
        vec![
            Arc::new(Int64Array::from(vec![Some(1), None, Some(3)])) as ArrayRef,
            Arc::new(StringArray::from(vec![Some("x"), None, None])),
        ],
        Some(arrow_buffer::NullBuffer::from(vec![true, false, true])),
    );
    let mut tags = ListBuilder::new(StringBuilder::new());
    for row in [&["p", "q"][..], &[], &["r"]] {
        for tag in row {
            tags.values().append_value(tag);
        }
        tags.append(true);
    }
    let mut more = ListBuilder::new(Int64Builder::new());
    more.values().append_value(1);
    more.values().append_null();
    more.append(true);
    more.values().append_value(9); // inside a null list: not a value of the rows
    more.append(false);
    more.values().append_value(3);
    more.append(true);
    let tags = tags.finish();
    let more = more.finish();
    let schema = ArrowSchema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("note", DataType::Utf8, true),
        Field::new("meta", DataType::Struct(inner), true),
        Field::new("tags", tags.data_type().clone(), true),
        Field::new("more", more.data_type().clone(), true),
    ]);
    let batch = RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(Int64Array::from(vec![1, 2, 3])),
            Arc::new(StringArray::from(vec!["a", "b", "c"])),
            Arc::new(StringArray::from(vec![None, Some("n"), None])),
            Arc::new(meta),
            Arc::new(tags),
            Arc::new(more),
        ],
    )
    .unwrap();
    let shape = RecordsOptions {
        schema: None,
        key: Some(vec!["id".into()]),
    };
    // In two batches: the second alone has the null `note`'s first value.
    let batches = vec![batch.slice(0, 1), batch.slice(1, 2)];
    commit_batches(&repo, "rows", reader(batches), &shape).unwrap();
    let arrow = repo.resolve(&repo.parse_ref("rows").unwrap()).unwrap();
    let schema = repo.schema(&arrow.commit.schema).unwrap();
    assert_eq!(
        schema.render_tree(),
        "id: int\nname: string\nnote: optional<string>\n\
         meta: optional<struct>\n  a: int\n  b: optional<string>\n\
         tags: list<string>\nmore: optional<list<optional<int>>>\n"
    );

    let text = concat!(
        r#"{"id":1,"name":"a","note":null,"meta":{"a":1,"b":"x"},"tags":["p","q"],"more":[1,null]}"#,
        "\n",
        r#"{"id":2,"name":"b","note":"n","meta":null,"tags":[],"more":null}"#,
        "\n",
        r#"{"id":3,"name":"c","note":null,"meta":{"a":3,"b":null},"tags":["r"],"more":[3]}"#,
        "\n",
    );
    let (_other, json_repo) = self::repo();
    let json = Records::Reader(Box::new(std::io::Cursor::new(text.as_bytes().to_vec())));
    commit_batches(&json_repo, "rows", json, &shape).unwrap();
    let json = json_repo
        .resolve(&json_repo.parse_ref("rows").unwrap())
        .unwrap();
    assert_eq!(json.commit.schema, arrow.commit.schema);
    assert_eq!(json.commit.rows, arrow.commit.rows);
    assert_eq!(json.commit.summary, arrow.commit.summary);
    assert_eq!(json.id, arrow.id);
}

#[test]
fn other_arrow_types_map_to_pail_types() {
    let (_dir, repo) = repo();
    let schema = ArrowSchema::new(vec![
        Field::new("small", DataType::Int32, false),
        Field::new("unsigned", DataType::UInt64, true),
        Field::new("single", DataType::Float32, false),
        Field::new("large", DataType::LargeUtf8, false),
        Field::new(
            "category",
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            false,
        ),
        Field::new(
            "nanos",
            DataType::Timestamp(TimeUnit::Nanosecond, Some("+02:00".into())),
            false,
        ),
        Field::new("nothing", DataType::Null, true),
    ]);
    let category: DictionaryArray<arrow_array::types::Int32Type> =
        vec!["cat", "dog"].into_iter().collect();
    let batch = RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(Int32Array::from(vec![-5, 7])),
            Arc::new(UInt64Array::from(vec![Some(u64::from(u32::MAX) + 1), None])),
            Arc::new(Float32Array::from(vec![0.1f32, -2.5])),
            Arc::new(LargeStringArray::from(vec!["a", "b"])),
            Arc::new(category),
            Arc::new(
                TimestampNanosecondArray::from(vec![1_000_000_999, 0]).with_timezone("+02:00"),
            ),
            Arc::new(arrow_array::NullArray::new(2)),
        ],
    )
    .unwrap();
    let shape = RecordsOptions {
        schema: None,
        key: Some(vec!["small".into()]),
    };
    commit_batches(&repo, "types", reader(vec![batch]), &shape).unwrap();
    let found = repo.resolve(&repo.parse_ref("types").unwrap()).unwrap();
    let schema = repo.schema(&found.commit.schema).unwrap();
    assert_eq!(
        schema.render_tree(),
        "small: int\nunsigned: optional<int>\nsingle: float\nlarge: string\n\
         category: string\nnanos: datetime (UTC)\nnothing: optional<string>\n"
    );
    let mut rows = Vec::new();
    repo.for_each_row(&found.commit, |row| {
        rows.push(row);
        Ok(true)
    })
    .unwrap();
    assert_eq!(
        rows,
        vec![
            serde_json::json!({"small": -5, "unsigned": 4294967296u64, "single": 0.1f32 as f64,
                "large": "a", "category": "cat", "nanos": "1970-01-01T00:00:01.000000Z",
                "nothing": null}),
            serde_json::json!({"small": 7, "unsigned": null, "single": -2.5, "large": "b",
                "category": "dog", "nanos": "1970-01-01T00:00:00.000000Z", "nothing": null}),
        ]
    );
}

#[test]
fn an_unsigned_value_past_the_int_range_is_an_error_not_a_null() {
    let (_dir, repo) = repo();
    let schema = ArrowSchema::new(vec![Field::new("n", DataType::UInt64, true)]);
    let batch = RecordBatch::try_new(
        Arc::new(schema),
        vec![Arc::new(UInt64Array::from(vec![u64::MAX]))],
    )
    .unwrap();
    let err = commit_batches(
        &repo,
        "big",
        reader(vec![batch]),
        &RecordsOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, CommitError::ConvertColumn { column, .. } if column == "n"),
        "{err}"
    );
}

#[test]
fn a_file_column_read_out_commits_back_with_the_same_schema() {
    let pail = Pail::new();
    pail.ok(&["init"]);
    for idx in 0..30 {
        write_file(
            &pail.work.join(format!("photos/d{}/f{idx:03}.jpg", idx % 4)),
            format!("file {idx}").as_bytes(),
        );
    }
    pail.ok(&["commit", "photos", "./photos", "--hash"]);
    let repo = Repo::open(&pail.work.join(".pail")).unwrap();
    let found = repo.resolve(&repo.parse_ref("photos").unwrap()).unwrap();
    let batches = repo.batches(&found.commit).unwrap();
    let records = Records::Batches(Box::new(batches.into_reader()));
    commit_batches(&repo, "again", records, &RecordsOptions::default()).unwrap();
    let again = repo.resolve(&repo.parse_ref("again").unwrap()).unwrap();
    assert_eq!(again.commit.schema, found.commit.schema);
    assert_eq!(again.commit.key, found.commit.key);
    assert_eq!(again.commit.n_rows, 30);
    assert_eq!(read_back(&repo, "again"), read_back(&repo, "photos"));
    let schema = repo.schema(&again.commit.schema).unwrap();
    assert_eq!(schema, Schema::listing());
}

#[test]
fn a_declared_schema_rejects_a_batch_as_it_rejects_json() {
    let (_dir, repo) = repo();
    let declared = Schema::from_json_schema(&serde_json::json!({
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "kind": {"enum": ["a", "b"]},
            "data": {"type": "string", "format": "binary"}
        },
        "required": ["id", "kind", "data"]
    }))
    .unwrap();
    let shape = RecordsOptions {
        schema: Some(declared),
        key: None,
    };
    let arrow = Arc::new(ArrowSchema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("kind", DataType::Utf8, false),
        Field::new("data", DataType::Binary, false),
    ]));
    let batch = |ids: Vec<Option<i64>>, kinds: Vec<&str>| {
        let n = ids.len();
        RecordBatch::try_new(
            arrow.clone(),
            vec![
                Arc::new(Int64Array::from(ids)) as ArrayRef,
                Arc::new(StringArray::from(kinds)),
                Arc::new(BinaryArray::from_iter_values((0..n).map(|_| b"text"))),
            ],
        )
        .unwrap()
    };
    let json = |text: &str| Records::Reader(Box::new(std::io::Cursor::new(text.to_string())));

    // A good batch commits; its bytes are read in the declared encoding (`format: binary`).
    commit_batches(
        &repo,
        "ok",
        reader(vec![batch(vec![Some(1)], vec!["a"])]),
        &shape,
    )
    .unwrap();
    let found = repo.resolve(&repo.parse_ref("ok").unwrap()).unwrap();
    let mut rows = Vec::new();
    repo.for_each_row(&found.commit, |row| {
        rows.push(row);
        Ok(true)
    })
    .unwrap();
    assert_eq!(
        rows,
        vec![serde_json::json!({"id": 1, "kind": "a", "data": "text"})]
    );

    // A null where an int is required, on the third row (the first of the second batch).
    let batches = vec![
        batch(vec![Some(1), Some(2)], vec!["a", "b"]),
        batch(vec![None], vec!["a"]),
    ];
    let err = commit_batches(&repo, "bad", reader(batches), &shape).unwrap_err();
    let from_json = commit_batches(
        &repo,
        "bad",
        json(
            "{\"id\":1,\"kind\":\"a\",\"data\":\"text\"}\n{\"id\":2,\"kind\":\"b\",\"data\":\"text\"}\n\
             {\"id\":null,\"kind\":\"a\",\"data\":\"text\"}\n",
        ),
        &shape,
    )
    .unwrap_err();
    assert!(
        matches!(err, CommitError::Violation { line: 3, .. }),
        "{err}"
    );
    assert_eq!(err.to_string(), from_json.to_string());

    // A value outside an enum.
    let err = commit_batches(
        &repo,
        "bad",
        reader(vec![batch(vec![Some(1)], vec!["c"])]),
        &shape,
    )
    .unwrap_err();
    let from_json = commit_batches(
        &repo,
        "bad",
        json("{\"id\":1,\"kind\":\"c\",\"data\":\"text\"}\n"),
        &shape,
    )
    .unwrap_err();
    assert!(
        matches!(err, CommitError::Violation { line: 1, .. }),
        "{err}"
    );
    assert_eq!(err.to_string(), from_json.to_string());
}

#[test]
fn an_arrow_type_pail_cannot_store_is_named() {
    let (_dir, repo) = repo();
    let schema = ArrowSchema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new(
            "price",
            DataType::Struct(Fields::from(vec![Field::new(
                "amount",
                DataType::Decimal128(10, -2),
                false,
            )])),
            false,
        ),
    ]);
    // A decimal with a negative scale (hundreds): pail's decimals count digits after
    // the point.
    let amounts = arrow_array::Decimal128Array::from(vec![1234])
        .with_precision_and_scale(10, -2)
        .unwrap();
    let price = StructArray::new(
        Fields::from(vec![Field::new(
            "amount",
            DataType::Decimal128(10, -2),
            false,
        )]),
        vec![Arc::new(amounts) as ArrayRef],
        None,
    );
    let batch = RecordBatch::try_new(
        Arc::new(schema),
        vec![Arc::new(Int64Array::from(vec![1])), Arc::new(price)],
    )
    .unwrap();
    let err = commit_batches(
        &repo,
        "money",
        reader(vec![batch]),
        &RecordsOptions::default(),
    )
    .unwrap_err();
    let CommitError::ArrowType(unsupported) = &err else {
        panic!("{err}");
    };
    assert_eq!(unsupported.column, "price.amount");
    assert_eq!(unsupported.found, DataType::Decimal128(10, -2));
    assert_eq!(
        err.to_string(),
        "column `price.amount` has the Arrow type Decimal128(10, -2), which pail cannot store"
    );
}

/// Batches made as they are pulled, counting the pulls.
struct Generated {
    schema: arrow_schema::SchemaRef,
    pulled: Arc<AtomicUsize>,
    total: usize,
    rows_per_batch: usize,
}

impl Iterator for Generated {
    type Item = Result<RecordBatch, arrow_schema::ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        let idx = self.pulled.load(Ordering::SeqCst);
        if idx == self.total {
            return None;
        }
        self.pulled.fetch_add(1, Ordering::SeqCst);
        let start = (idx * self.rows_per_batch) as i64;
        let ids: Vec<i64> = (start..start + self.rows_per_batch as i64).collect();
        let values: Vec<f64> = ids.iter().map(|id| *id as f64 / 3.0).collect();
        Some(RecordBatch::try_new(
            self.schema.clone(),
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(Float64Array::from(values)),
            ],
        ))
    }
}

impl arrow_array::RecordBatchReader for Generated {
    fn schema(&self) -> arrow_schema::SchemaRef {
        self.schema.clone()
    }
}

#[test]
fn many_batches_stream_in_and_out() {
    let (_dir, repo) = repo();
    let pulled = Arc::new(AtomicUsize::new(0));
    let generated = Generated {
        schema: Arc::new(ArrowSchema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("v", DataType::Float64, false),
        ])),
        pulled: pulled.clone(),
        total: 200,
        rows_per_batch: 50,
    };
    let shape = RecordsOptions {
        schema: None,
        key: Some(vec!["id".into()]),
    };
    commit_batches(&repo, "many", Records::Batches(Box::new(generated)), &shape).unwrap();
    assert_eq!(pulled.load(Ordering::SeqCst), 200);
    let found = repo.resolve(&repo.parse_ref("many").unwrap()).unwrap();
    assert_eq!(found.commit.n_rows, 10_000);

    // Out again, batch by batch: the store is not held between batches, so a write
    // can happen in between.
    let mut batches = repo.batches(&found.commit).unwrap();
    let first = batches.next().unwrap().unwrap();
    assert!(first.num_rows() > 0);
    let other = Generated {
        schema: first.schema(),
        pulled: Arc::new(AtomicUsize::new(0)),
        total: 1,
        rows_per_batch: 3,
    };
    commit_batches(&repo, "other", Records::Batches(Box::new(other)), &shape).unwrap();
    let mut n_rows = first.num_rows();
    let mut next_id = 0i64;
    let mut check = |batch: &RecordBatch| {
        let ids = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        let values = batch
            .column(1)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        for idx in 0..batch.num_rows() {
            assert_eq!(ids.value(idx), next_id);
            assert_eq!(
                values.value(idx).to_bits(),
                (next_id as f64 / 3.0).to_bits()
            );
            next_id += 1;
        }
    };
    check(&first);
    for batch in batches {
        let batch = batch.unwrap();
        n_rows += batch.num_rows();
        check(&batch);
    }
    assert_eq!(n_rows, 10_000);
}

#[test]
fn a_nan_or_infinity_is_kept_as_that_float() {
    let (_dir, repo) = repo();
    let mut values = ListBuilder::new(arrow_array::builder::Float64Builder::new());
    for row in [vec![1.0], vec![], vec![0.5, f64::INFINITY]] {
        values.values().append_slice(&row);
        values.append(true);
    }
    let values = values.finish();
    let inner = Fields::from(vec![Field::new(
        "values",
        values.data_type().clone(),
        false,
    )]);
    let nested = StructArray::new(inner.clone(), vec![Arc::new(values) as ArrayRef], None);
    let schema = Arc::new(ArrowSchema::new(vec![
        Field::new("x", DataType::Float64, true),
        Field::new("nested", DataType::Struct(inner), false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Float64Array::from(vec![
                Some(f64::NEG_INFINITY),
                Some(f64::NAN),
                None,
            ])) as ArrayRef,
            Arc::new(nested.clone()),
        ],
    )
    .unwrap();
    commit_batches(
        &repo,
        "nan",
        reader(vec![batch]),
        &RecordsOptions::default(),
    )
    .unwrap();
    let found = repo.resolve(&repo.parse_ref("nan").unwrap()).unwrap();
    let mut rows = Vec::new();
    repo.for_each_row(&found.commit, |row| {
        rows.push(row);
        Ok(true)
    })
    .unwrap();
    rows.sort_by_key(|row| row["nested"]["values"].to_string());
    // As JSON rows: the strings JSON writes them as (docs/FORMAT.md, Schema).
    assert_eq!(
        rows,
        vec![
            serde_json::json!({"x": null, "nested": {"values": [0.5, "Infinity"]}}),
            serde_json::json!({"x": "-Infinity", "nested": {"values": [1.0]}}),
            serde_json::json!({"x": "NaN", "nested": {"values": []}}),
        ]
    );
}

#[test]
fn a_timestamp_without_a_time_zone_is_utc() {
    let (_dir, repo) = repo();
    let schema = ArrowSchema::new(vec![Field::new(
        "at",
        DataType::Timestamp(TimeUnit::Millisecond, None),
        false,
    )]);
    let batch = RecordBatch::try_new(
        Arc::new(schema),
        vec![Arc::new(arrow_array::TimestampMillisecondArray::from(
            vec![1500],
        ))],
    )
    .unwrap();
    commit_batches(
        &repo,
        "naive",
        reader(vec![batch]),
        &RecordsOptions::default(),
    )
    .unwrap();
    let found = repo.resolve(&repo.parse_ref("naive").unwrap()).unwrap();
    let mut rows = Vec::new();
    repo.for_each_row(&found.commit, |row| {
        rows.push(row);
        Ok(true)
    })
    .unwrap();
    assert_eq!(
        rows,
        vec![serde_json::json!({"at": "1970-01-01T00:00:01.500000Z"})]
    );
}
