//! The README's demo: rro inside a tokio application, keeping its data in a directory.
//!
//! Run with `cargo run --example quickstart`; run it twice to see the data survive.

use rro::models::{
    Condition, CreateFieldIndex, Distance, Filter, GetPoints, PayloadSchemaType, PointStruct,
    PointsSelector, Range, ScrollRequest, SearchRequest, SetPayload, VectorParams,
};

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

    // Filters are Qdrant's JSON filters; an index on the field keeps them fast.
    client
        .create_field_index(
            "films",
            CreateFieldIndex::new("year", PayloadSchemaType::Integer),
        )
        .await?;
    let recent = Filter::must([Condition::range("year", Range::default().gte(2000))]);
    let hits = client
        .search(
            "films",
            SearchRequest::new(vec![1.0, 0.0, 0.0, 0.0], 2).filter(recent.clone()),
        )
        .await?;
    println!(
        "nearest from 2000 on: {:?}",
        hits.iter().map(|h| h.id.to_string()).collect::<Vec<_>>()
    );
    client
        .set_payload(
            "films",
            SetPayload::new(
                rro::payload!({"seen": true}),
                PointsSelector::filter(recent),
            ),
        )
        .await?;
    let page = client
        .scroll(
            "films",
            ScrollRequest::new(10).filter(Filter::must([Condition::matches("seen", true)])),
        )
        .await?;
    println!(
        "seen: {:?}",
        page.points
            .iter()
            .map(|p| p.id.to_string())
            .collect::<Vec<_>>()
    );

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
