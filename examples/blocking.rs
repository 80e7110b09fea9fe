//! rro without any async executor: every call blocks the calling thread.
//!
//! Run with `cargo run --example blocking`.

use rro::blocking::BlockingClient;
use rro::models::{Distance, PointStruct, SearchRequest, VectorParams};
use serde_json::json;

fn main() -> Result<(), rro::RroError> {
    let client = BlockingClient::open(rro::Config::in_memory())?;

    client.create_collection("colors", VectorParams::new(3, Distance::Dot))?;
    client.upsert_points(
        "colors",
        vec![
            PointStruct::new(1u64, vec![1.0, 0.0, 0.0])
                .with_payload(rro::payload!({"name": "red"})),
            PointStruct::new(2u64, vec![0.0, 1.0, 0.0])
                .with_payload(rro::payload!({"name": "green"})),
            PointStruct::new(3u64, vec![0.0, 0.0, 1.0])
                .with_payload(rro::payload!({"name": "blue"})),
            PointStruct::new(4u64, vec![0.6, 0.3, 0.5])
                .with_payload(rro::payload!({"name": "mauve"})),
        ],
    )?;
    println!("points: {}", client.count_points("colors")?);

    let hits = client.search(
        "colors",
        SearchRequest::new(vec![0.9, 0.1, 0.3], 3).with_payload(true),
    )?;
    for hit in &hits {
        let name = hit.payload.as_ref().and_then(|p| p.get("name"));
        println!(
            "{:>6.3}  id {}  {}",
            hit.score,
            hit.id,
            name.unwrap_or(&json!(null))
        );
    }

    let report = client.shutdown()?;
    println!("{report:?}");
    Ok(())
}
