//! A synchronous client for callers without an executor (scripts, plain threads, FFI).
//!
//! Every call blocks the current thread until the async call completes. It refuses, with
//! [`RroError::BlockingNotAllowed`], to run on a thread where blocking would stall a tokio
//! runtime (when the `tokio` feature is on) or a `futures` executor, or on one of rro's own
//! threads, where it could deadlock the pool it waits for.
//!
//! ```
//! # #[cfg(feature = "tokio")] {
//! use rro::blocking::BlockingClient;
//! use rro::models::{Distance, VectorParams};
//!
//! let client = BlockingClient::open(rro::Config::in_memory())?;
//! client.create_collection("docs", VectorParams::new(2, Distance::Dot))?;
//! assert!(client.collection_exists("docs")?);
//! client.shutdown()?;
//! # }
//! # Ok::<_, rro::RroError>(())
//! ```

use std::future::Future;

use crate::models::{
    CollectionInfo, CollectionsResponse, CountRequest, CreateCollection, CreateFieldIndex,
    DeletePayload, DeleteVectors, GetPoints, GroupsResult, PointStruct, PointsSelector,
    RecommendRequest, Record, ScoredPoint, ScrollRequest, ScrollResult, SearchGroupsRequest,
    SearchRequest, SetPayload, UpdateResult, UpdateVectors,
};
use crate::protocol::{Request, Response};
use crate::{Config, HealthInfo, Result, RroClient, RroError, ShutdownReport};

/// A blocking wrapper around [`RroClient`]; cheap to clone.
#[derive(Debug, Clone)]
pub struct BlockingClient {
    client: RroClient,
}

/// Run `future` to completion on this thread, unless blocking here is unsafe.
fn block_on<T>(future: impl Future<Output = Result<T>>) -> Result<T> {
    #[cfg(feature = "tokio")]
    if rro_tokio::inside_tokio_runtime() {
        return Err(RroError::BlockingNotAllowed(
            "called from inside a tokio runtime",
        ));
    }
    if rro_core::runtime::on_rro_thread() {
        return Err(RroError::BlockingNotAllowed(
            "called from one of rro's own threads",
        ));
    }
    // Nested `futures` executors panic; ask first instead.
    if futures::executor::enter().is_err() {
        return Err(RroError::BlockingNotAllowed(
            "called from inside a futures executor",
        ));
    }
    futures::executor::block_on(future)
}

impl BlockingClient {
    /// Start an instance on the default backend and wrap its client.
    #[cfg(any(feature = "tokio", feature = "smol"))]
    pub fn open(config: Config) -> Result<BlockingClient> {
        block_on(crate::open(config)).map(BlockingClient::new)
    }

    /// Wrap an existing async client.
    pub fn new(client: RroClient) -> BlockingClient {
        BlockingClient { client }
    }

    /// The async client underneath.
    pub fn client(&self) -> &RroClient {
        &self.client
    }

    /// See [`RroClient::request`].
    pub fn request(&self, request: Request) -> Result<Response> {
        block_on(self.client.request(request))
    }

    /// See [`RroClient::create_collection`].
    pub fn create_collection(&self, name: &str, config: impl Into<CreateCollection>) -> Result<()> {
        block_on(self.client.create_collection(name, config))
    }

    /// See [`RroClient::list_collections`].
    pub fn list_collections(&self) -> Result<CollectionsResponse> {
        block_on(self.client.list_collections())
    }

    /// See [`RroClient::collection_info`].
    pub fn collection_info(&self, name: &str) -> Result<CollectionInfo> {
        block_on(self.client.collection_info(name))
    }

    /// See [`RroClient::collection_exists`].
    pub fn collection_exists(&self, name: &str) -> Result<bool> {
        block_on(self.client.collection_exists(name))
    }

    /// See [`RroClient::delete_collection`].
    pub fn delete_collection(&self, name: &str) -> Result<bool> {
        block_on(self.client.delete_collection(name))
    }

    /// See [`RroClient::upsert_points`].
    pub fn upsert_points(
        &self,
        collection: &str,
        points: Vec<PointStruct>,
    ) -> Result<UpdateResult> {
        block_on(self.client.upsert_points(collection, points))
    }

    /// See [`RroClient::get_points`].
    pub fn get_points(&self, collection: &str, request: GetPoints) -> Result<Vec<Record>> {
        block_on(self.client.get_points(collection, request))
    }

    /// See [`RroClient::delete_points`].
    pub fn delete_points(
        &self,
        collection: &str,
        selector: PointsSelector,
    ) -> Result<UpdateResult> {
        block_on(self.client.delete_points(collection, selector))
    }

    /// See [`RroClient::count_points`].
    pub fn count_points(&self, collection: &str) -> Result<u64> {
        block_on(self.client.count_points(collection))
    }

    /// See [`RroClient::count`].
    pub fn count(&self, collection: &str, request: CountRequest) -> Result<u64> {
        block_on(self.client.count(collection, request))
    }

    /// See [`RroClient::scroll`].
    pub fn scroll(&self, collection: &str, request: ScrollRequest) -> Result<ScrollResult> {
        block_on(self.client.scroll(collection, request))
    }

    /// See [`RroClient::set_payload`].
    pub fn set_payload(&self, collection: &str, request: SetPayload) -> Result<UpdateResult> {
        block_on(self.client.set_payload(collection, request))
    }

    /// See [`RroClient::overwrite_payload`].
    pub fn overwrite_payload(&self, collection: &str, request: SetPayload) -> Result<UpdateResult> {
        block_on(self.client.overwrite_payload(collection, request))
    }

    /// See [`RroClient::delete_payload`].
    pub fn delete_payload(&self, collection: &str, request: DeletePayload) -> Result<UpdateResult> {
        block_on(self.client.delete_payload(collection, request))
    }

    /// See [`RroClient::clear_payload`].
    pub fn clear_payload(
        &self,
        collection: &str,
        selector: PointsSelector,
    ) -> Result<UpdateResult> {
        block_on(self.client.clear_payload(collection, selector))
    }

    /// See [`RroClient::update_vectors`].
    pub fn update_vectors(&self, collection: &str, request: UpdateVectors) -> Result<UpdateResult> {
        block_on(self.client.update_vectors(collection, request))
    }

    /// See [`RroClient::delete_vectors`].
    pub fn delete_vectors(&self, collection: &str, request: DeleteVectors) -> Result<UpdateResult> {
        block_on(self.client.delete_vectors(collection, request))
    }

    /// See [`RroClient::create_field_index`].
    pub fn create_field_index(
        &self,
        collection: &str,
        request: CreateFieldIndex,
    ) -> Result<UpdateResult> {
        block_on(self.client.create_field_index(collection, request))
    }

    /// See [`RroClient::delete_field_index`].
    pub fn delete_field_index(&self, collection: &str, field: &str) -> Result<UpdateResult> {
        block_on(self.client.delete_field_index(collection, field))
    }

    /// See [`RroClient::recommend`].
    pub fn recommend(
        &self,
        collection: &str,
        request: RecommendRequest,
    ) -> Result<Vec<ScoredPoint>> {
        block_on(self.client.recommend(collection, request))
    }

    /// See [`RroClient::search_groups`].
    pub fn search_groups(
        &self,
        collection: &str,
        request: SearchGroupsRequest,
    ) -> Result<GroupsResult> {
        block_on(self.client.search_groups(collection, request))
    }

    /// See [`RroClient::search`].
    pub fn search(&self, collection: &str, request: SearchRequest) -> Result<Vec<ScoredPoint>> {
        block_on(self.client.search(collection, request))
    }

    /// See [`RroClient::flush`].
    pub fn flush(&self) -> Result<()> {
        block_on(self.client.flush())
    }

    /// See [`RroClient::health_check`].
    pub fn health_check(&self) -> Result<HealthInfo> {
        block_on(self.client.health_check())
    }

    /// See [`RroClient::is_healthy`].
    pub fn is_healthy(&self) -> bool {
        self.client.is_healthy()
    }

    /// See [`RroClient::shutdown`].
    pub fn shutdown(&self) -> Result<ShutdownReport> {
        block_on(self.client.shutdown())
    }
}
