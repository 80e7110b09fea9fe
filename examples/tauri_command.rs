//! How a Tauri app would use rro, without depending on Tauri: the app state holds the client,
//! and each command is an `async fn` that returns `Result<_, String>` as Tauri commands do.
//!
//! In a real app the state goes to `tauri::Builder::manage`, the commands get
//! `#[tauri::command]` and take `state: tauri::State<'_, AppState>`; Tauri already runs a tokio
//! runtime, so `rro::open` is called from its setup hook or an async command.
//!
//! Run with `cargo run --example tauri_command`.

use std::sync::Arc;

use rro::models::{Distance, PointStruct, SearchRequest, VectorParams};
use serde_json::json;

/// What the app keeps in Tauri's managed state. `RroClient` is cheap to clone on its own; the
/// `Arc` just makes sharing explicit.
#[derive(Clone)]
struct AppState {
    db: Arc<rro::RroClient>,
}

const NOTES: &str = "notes";

/// `#[tauri::command] async fn add_note(state: State<'_, AppState>, ...)`
async fn add_note(
    state: &AppState,
    id: u64,
    text_vector: Vec<f32>,
    title: String,
) -> Result<u64, String> {
    let point = PointStruct::new(id, text_vector).with_payload(rro::payload!({ "title": title }));
    let written = state
        .db
        .upsert_points(NOTES, vec![point])
        .await
        .map_err(|e| e.to_string())?;
    Ok(written.operation_id)
}

/// `#[tauri::command] async fn search_notes(state: State<'_, AppState>, ...)`
async fn search_notes(
    state: &AppState,
    vector: Vec<f32>,
    limit: usize,
) -> Result<Vec<serde_json::Value>, String> {
    let hits = state
        .db
        .search(NOTES, SearchRequest::new(vector, limit).with_payload(true))
        .await
        .map_err(|e| e.to_string())?;
    Ok(hits
        .into_iter()
        .map(|hit| json!({ "id": hit.id, "score": hit.score, "note": hit.payload }))
        .collect())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = rro_tokio::tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let db = rro::open(rro::Config::in_memory()).await?;
    db.create_collection(NOTES, VectorParams::new(3, Distance::Cosine))
        .await?;
    let state = AppState { db: Arc::new(db) };

    // Several windows saving notes at once.
    let notes = [
        (1u64, [1.0, 0.0, 0.0], "groceries"),
        (2, [0.9, 0.2, 0.0], "shopping list"),
        (3, [0.0, 1.0, 0.1], "meeting notes"),
        (4, [0.0, 0.1, 1.0], "holiday ideas"),
    ];
    let mut tasks = Vec::new();
    for (id, vector, title) in notes {
        let state = state.clone();
        tasks.push(rro_tokio::tokio::spawn(async move {
            add_note(&state, id, vector.to_vec(), title.to_owned()).await
        }));
    }
    for task in tasks {
        println!("add_note -> operation {}", task.await??);
    }

    // Concurrent searches, one of them invalid: the error comes back as a string.
    let queries = [vec![1.0, 0.1, 0.0], vec![0.0, 0.0, 1.0], vec![1.0, 2.0]];
    let mut tasks = Vec::new();
    for vector in queries {
        let state = state.clone();
        tasks.push(rro_tokio::tokio::spawn(async move {
            search_notes(&state, vector, 2).await
        }));
    }
    for task in tasks {
        match task.await? {
            Ok(hits) => println!("search_notes -> {}", serde_json::Value::Array(hits)),
            Err(message) => println!("search_notes -> error: {message}"),
        }
    }

    let report = state.db.shutdown().await?;
    println!("{report:?}");
    Ok(())
}
