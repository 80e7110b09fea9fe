//! rro-core: the runtime-neutral heart of rro, an embedded vector database for async Rust.
//!
//! Applications normally depend on the `rro` facade crate, which adds the tokio and smol
//! backends. This crate holds everything that does not depend on an executor:
//!
//! - [`models`]: request and response types whose JSON is Qdrant's REST API;
//! - [`protocol`]: the messages a client sends to the instance thread;
//! - [`runtime`]: the two small traits a backend implements;
//! - [`RroClient`]: the async client, usable from any executor;
//! - [`storage`]: the synchronous storage engine.
//!
//! ```
//! use rro_core::models::{Distance, PointStruct, SearchRequest, VectorParams};
//! # use rro_core::runtime::*;
//! # use std::{sync::Arc, time::{Duration, Instant}};
//! # // A minimal backend for the doc test: one thread per spawned future, std-thread timers.
//! # struct Threads;
//! # impl Backend for Threads {
//! #     fn name(&self) -> &'static str { "threads" }
//! #     fn start(self: Box<Self>, _: &PoolConfig) -> std::io::Result<Arc<dyn Spawner>> { Ok(Arc::new(Threads)) }
//! # }
//! # impl Spawner for Threads {
//! #     fn spawn(&self, _: Pool, f: BoxFuture<'static, ()>) { std::thread::spawn(move || futures::executor::block_on(f)); }
//! #     fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
//! #         let (tx, rx) = futures::channel::oneshot::channel::<()>();
//! #         std::thread::spawn(move || { std::thread::sleep(d); let _ = tx.send(()); });
//! #         Box::pin(async move { let _ = rx.await; })
//! #     }
//! #     fn block_on(&self, f: BoxFuture<'_, ()>) { futures::executor::block_on(f) }
//! #     fn shutdown(&self, _: Instant) -> PoolsReport { PoolsReport::default() }
//! # }
//! # let backend = Threads;
//! futures::executor::block_on(async {
//!     // `backend` is `rro::TokioBackend` or `rro::SmolBackend` in an application.
//!     let client = rro_core::RroClient::open(rro_core::Config::in_memory(), backend).await?;
//!     client.create_collection("docs", VectorParams::new(2, Distance::Dot)).await?;
//!     client.upsert_points("docs", vec![PointStruct::new(1u64, vec![1.0, 0.0])]).await?;
//!     let hits = client.search("docs", SearchRequest::new(vec![1.0, 0.0], 1)).await?;
//!     assert_eq!(hits[0].id, 1u64.into());
//!     client.shutdown().await?;
//!     Ok::<_, rro_core::RroError>(())
//! })?;
//! # Ok::<_, rro_core::RroError>(())
//! ```

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

mod client;
mod config;
mod deadline;
mod error;
mod gate;
mod handler;
mod instance;
pub mod models;
mod optimizer;
pub mod protocol;
pub mod runtime;
pub mod storage;

pub use client::RroClient;

#[doc(hidden)]
pub mod __private {
    pub use serde_json;
}
pub use config::{
    Config, Durability, OnCorruption, DEFAULT_IDLE_SPIN, DEFAULT_WAL_CHECKPOINT_BYTES,
};
pub use error::{Result, RroError, StorageError};
pub use instance::ShutdownReport;
pub use protocol::HealthInfo;
