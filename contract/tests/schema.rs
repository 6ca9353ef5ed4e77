//! The JSON Schemas in docs/schema are generated from the Rust types; this test
//! fails when they drift. Regenerate with `edge-agent schema --out docs/schema`.

use std::path::Path;

#[test]
fn committed_schemas_match_the_code() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/schema");
    for (name, schema) in contract::schema::all() {
        let committed = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        assert!(
            committed == schema,
            "docs/schema/{name} is out of date: run `cargo run -p edge-agent -- schema --out docs/schema`"
        );
    }
}
