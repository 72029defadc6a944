// Draft: print vectors.
use pail::object::{
    Child, CodeFile, ColumnStats, Commit, CommitId, GitState, Input, Kind, Node, ObjectId, encode,
};
use pail::schema::Schema;
use serde_bytes::ByteBuf;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn print() {
    println!("empty blob {}", ObjectId::compute(Kind::Blob, b""));
    let s = encode(&Schema::listing());
    println!("schema {} {}", hex(&s), ObjectId::compute(Kind::Schema, &s));
    let empty = Node {
        format: 1,
        level: 1,
        children: vec![],
    };
    let (id, b) = empty.encode();
    println!("empty node {} {}", hex(&b), id);
    let node = Node {
        format: 1,
        level: 1,
        children: vec![Child {
            id: ObjectId::compute(Kind::Leaf, b""),
            first_key: ByteBuf::from(pail::rows::key::file_key("s3://b", "a")),
            last_key: ByteBuf::from(pail::rows::key::file_key("s3://b", "b")),
            n_rows: 2,
            n_bytes: 300,
            digest: ObjectId::compute(Kind::Blob, b""),
            stats: vec![ColumnStats {
                column: "file.size".into(),
                min: Some(100),
                max: Some(200),
                nulls: 0,
            }],
        }],
    };
    let (id, b) = node.encode();
    println!("node {} {}", hex(&b), id);
    let _ = (
        CodeFile {
            path: String::new(),
            blob: id,
            size: 0,
        },
        GitState {
            repository: String::new(),
            head: None,
            branch: None,
            dirty: false,
        },
        Input::Source {
            uri: String::new(),
            listed_at: 0,
        },
        CommitId(id),
    );
    let _ = Commit::decode;
    println!("key {}", hex(&pail::rows::key::file_key("s3://b", "a")));
}
