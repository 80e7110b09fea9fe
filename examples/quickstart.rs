//! The README's demo: rro inside a tokio application, keeping its data in a directory.
//!
//! Run with `cargo run --example quickstart`; run it twice to see the data survive.

use rro::models::{Distance, GetPoints, PointStruct, SearchRequest, VectorParams};

fn main() -> Result<(), rro::RroError> {
    // The application's own runtime; rro runs its pools on threads of its own.
    let app = rro_tokio::tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| rro::RroError::Startup(e.to_string()))?;
    app.block_on(run())
}

async fn run() -> Result<(), rro::RroError> {
    let data = std::env::temp_dir().join("rro-quickstart");
    let client = rro::open(rro::Config::new(&data)).await?;
    println!(
        "data: {}, backend: {}, healthy: {}",
        data.display(),
        client.backend(),
        client.is_healthy()
    );

    if client.collection_exists("films").await? {
        println!(
            "films is already there from a previous run, with {} points",
            client.count_points("films").await?
        );
    } else {
        client
            .create_collection("films", VectorParams::new(4, Distance::Cosine))
            .await?;
    }
    let films = [
        (1u64, [0.9, 0.1, 0.1, 0.0], "Alien", 1979),
        (2, [0.8, 0.2, 0.0, 0.1], "Aliens", 1986),
        (3, [0.0, 0.9, 0.4, 0.1], "Amélie", 2001),
        (4, [0.1, 0.1, 0.9, 0.3], "Up", 2009),
    ];
    let points = films
        .iter()
        .map(|(id, v, title, year)| {
            PointStruct::new(*id, v.to_vec())
                .with_payload(rro::payload!({"title": title, "year": year}))
        })
        .collect();
    let written = client.upsert_points("films", points).await?;
    println!("upserted as operation {}", written.operation_id);

    let hits = client
        .search(
            "films",
            SearchRequest::new(vec![1.0, 0.0, 0.0, 0.0], 2).with_payload(true),
        )
        .await?;
    for hit in &hits {
        println!(
            "{:>8.4}  {}  {}",
            hit.score,
            hit.id,
            serde_json::Value::Object(hit.payload.clone().unwrap_or_default())
        );
    }

    for point in client.get_points("films", GetPoints::new([3u64])).await? {
        println!(
            "point 3: {}",
            serde_json::to_string(&point).unwrap_or_default()
        );
    }
    println!("count: {}", client.count_points("films").await?);
    println!("health: {:?}", client.health_check().await?);

    let report = client.shutdown().await?;
    println!(
        "shut down in {:?}, clean: {}",
        report.elapsed,
        report.is_clean()
    );

    // Everything acknowledged is on disk: a new instance finds it.
    let client = rro::open(rro::Config::new(&data)).await?;
    println!(
        "reopened: {} points in films",
        client.count_points("films").await?
    );
    client.shutdown().await?;
    Ok(())
}
