//! rro: an embedded, in-process vector database for async Rust that runs on the executor your
//! application already has.
//!
//! Open an instance, create a collection, upsert points (vector + JSON payload), search:
//!
//! ```
//! # #[cfg(feature = "tokio")]
//! # fn main() -> Result<(), rro::RroError> {
//! use rro::models::{Distance, PointStruct, SearchRequest, VectorParams};
//!
//! futures::executor::block_on(async {
//!     let client = rro::open(rro::Config::in_memory()).await?;
//!     client.create_collection("docs", VectorParams::new(3, Distance::Cosine)).await?;
//!     client
//!         .upsert_points("docs", vec![
//!             PointStruct::new(1u64, vec![0.9, 0.1, 0.0]).with_payload(rro::payload!({"lang": "en"})),
//!             PointStruct::new(2u64, vec![0.0, 1.0, 0.0]).with_payload(rro::payload!({"lang": "de"})),
//!         ])
//!         .await?;
//!     let hits = client.search("docs", SearchRequest::new(vec![1.0, 0.0, 0.0], 1).with_payload(true)).await?;
//!     assert_eq!(hits[0].id, 1u64.into());
//!     client.shutdown().await?;
//!     Ok(())
//! })
//! # }
//! # #[cfg(not(feature = "tokio"))] fn main() {}
//! ```
//!
//! # Backends
//! The `tokio` feature (default) adds [`TokioBackend`], the `smol` feature [`SmolBackend`];
//! both can be enabled, and code picks one with [`open_with`]. [`open`] uses tokio when it is
//! compiled in, smol otherwise. The client itself works on any executor, whichever backend
//! runs the instance: a smol application can use the tokio backend and the other way round.
//!
//! # Without an executor
//! [`blocking::BlockingClient`] wraps the client for plain threads.
//!
//! # Cargo features
//! - `tokio` (default), `smol`: the backends.
//! - `unstable-engine`: also export the engine's internals (`protocol`, `runtime`, `storage`),
//!   for benchmarks, tools and custom backends. They are not covered by semver: any release may
//!   change them.

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

#[cfg(not(any(feature = "tokio", feature = "smol")))]
compile_error!("enable at least one rro backend: feature `tokio` (default) or `smol`");

pub mod blocking;

pub use rro_core::models;
pub use rro_core::runtime::Backend;
pub use rro_core::{
    payload, Config, Durability, HealthInfo, OnCorruption, Result, RroClient, RroError,
    ShutdownReport, StorageError, DEFAULT_IDLE_SPIN, DEFAULT_WAL_CHECKPOINT_BYTES,
};

/// The engine's internals, for benchmarks, tools and custom backends: the request protocol
/// ([`protocol`]), the runtime seam ([`runtime`]), and the synchronous storage engine
/// ([`storage`]).
///
/// **Unstable:** available with the cargo feature `unstable-engine` only, and exempt from
/// semver: any release may change them. Applications need none of them.
#[cfg(feature = "unstable-engine")]
pub use rro_core::{protocol, runtime, storage};

#[cfg(feature = "smol")]
pub use rro_smol::SmolBackend;
#[cfg(feature = "tokio")]
pub use rro_tokio::TokioBackend;

/// Start an instance with `config` on the default backend (tokio if compiled in, else smol).
#[cfg(any(feature = "tokio", feature = "smol"))]
pub async fn open(config: Config) -> Result<RroClient> {
    RroClient::open(config, default_backend()).await
}

/// Start an instance with `config` on `backend`.
pub async fn open_with(config: Config, backend: impl Backend) -> Result<RroClient> {
    RroClient::open(config, backend).await
}

#[cfg(feature = "tokio")]
fn default_backend() -> TokioBackend {
    TokioBackend
}

#[cfg(all(feature = "smol", not(feature = "tokio")))]
fn default_backend() -> SmolBackend {
    SmolBackend
}
