//! rro inside a smol application: the instance runs on the smol backend, so the build contains
//! no tokio at all.
//!
//! Run with `cargo run --no-default-features --features smol --example smol`.

use rro::models::{Distance, PointStruct, SearchRequest, VectorParams};
use serde_json::json;

fn main() -> Result<(), rro::RroError> {
    smol::block_on(async {
        let client = rro::open_with(rro::Config::in_memory(), rro::SmolBackend).await?;
        println!("backend: {}", client.backend());

        client
            .create_collection("cities", VectorParams::new(3, Distance::Euclid))
            .await?;
        let points = vec![
            PointStruct::new(1u64, vec![52.5, 13.4, 0.0])
                .with_payload(rro::payload!({"city": "Berlin"})),
            PointStruct::new(2u64, vec![48.9, 2.4, 0.0])
                .with_payload(rro::payload!({"city": "Paris"})),
            PointStruct::new(3u64, vec![51.5, -0.1, 0.0])
                .with_payload(rro::payload!({"city": "London"})),
            PointStruct::new(4u64, vec![50.1, 14.4, 0.0])
                .with_payload(rro::payload!({"city": "Prague"})),
        ];
        client.upsert_points("cities", points).await?;

        // Nearest to Leipzig; Euclid scores are distances, lower is closer.
        let query = SearchRequest::new(vec![51.3, 12.4, 0.0], 2).with_payload(true);
        for hit in client.search("cities", query).await? {
            let city = hit.payload.as_ref().and_then(|p| p.get("city"));
            println!(
                "{:>7.3}  id {}  {}",
                hit.score,
                hit.id,
                city.unwrap_or(&json!(null))
            );
        }

        let report = client.shutdown().await?;
        println!("{report:?}");
        println!("clean: {}", report.is_clean());
        Ok(())
    })
}
