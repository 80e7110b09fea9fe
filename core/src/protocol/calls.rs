//! One type per request kind: what a caller asks for, with the fields the instance needs.
//! Each implements [`Call`](super::Call), which names the type of its answer; the list of
//! kinds, their answers and their pools is the `calls!` table in the parent module.

use std::path::PathBuf;
#[cfg(feature = "test-requests")]
use std::time::Duration;

use crate::models;

/// Create collection `name` with `config`.
#[derive(Debug, Clone)]
pub struct CreateCollection {
    /// Its name.
    pub name: String,
    /// Its configuration.
    pub config: models::CreateCollection,
}

/// List every collection.
#[derive(Debug, Clone)]
pub struct ListCollections;

/// Describe collection `name`.
#[derive(Debug, Clone)]
pub struct CollectionInfo {
    /// Its name.
    pub name: String,
}

/// Wait until the optimizer has nothing left to do for collection `name` (every segment that
/// should have an index has one), then describe it.
#[derive(Debug, Clone)]
pub struct WaitIndexReady {
    /// Its name.
    pub name: String,
}

/// Whether collection `name` exists.
#[derive(Debug, Clone)]
pub struct CollectionExists {
    /// Its name.
    pub name: String,
}

/// Delete collection `name`.
#[derive(Debug, Clone)]
pub struct DeleteCollection {
    /// Its name.
    pub name: String,
}

/// Change the configuration of collection `name` while it serves requests.
#[derive(Debug, Clone)]
pub struct UpdateCollection {
    /// The collection (or an alias of it).
    pub name: String,
    /// What to change.
    pub update: models::UpdateCollection,
}

/// Apply a batch of alias actions, all or none.
#[derive(Debug, Clone)]
pub struct UpdateAliases {
    /// The actions, in order.
    pub request: models::ChangeAliases,
}

/// List every alias.
#[derive(Debug, Clone)]
pub struct ListAliases;

/// List the aliases of collection `name`.
#[derive(Debug, Clone)]
pub struct ListCollectionAliases {
    /// The collection (or an alias of it).
    pub name: String,
}

/// Insert or replace points.
#[derive(Debug, Clone)]
pub struct UpsertPoints {
    /// The collection.
    pub collection: String,
    /// The points.
    pub points: models::UpsertPoints,
}

/// Retrieve points by id.
#[derive(Debug, Clone)]
pub struct GetPoints {
    /// The collection.
    pub collection: String,
    /// Which points, and what of them.
    pub request: models::GetPoints,
}

/// Delete points by id or by filter.
#[derive(Debug, Clone)]
pub struct DeletePoints {
    /// The collection.
    pub collection: String,
    /// Which points.
    pub selector: models::PointsSelector,
}

/// Count the points (those a filter matches, with one).
#[derive(Debug, Clone)]
pub struct Count {
    /// The collection.
    pub collection: String,
    /// The filter, if any.
    pub request: models::CountRequest,
}

/// How many points hold each value of an indexed payload key.
#[derive(Debug, Clone)]
pub struct Facet {
    /// The collection.
    pub collection: String,
    /// The key, the filter and the limit.
    pub request: models::FacetRequest,
}

/// One page of points in id order (or by an indexed field).
#[derive(Debug, Clone)]
pub struct Scroll {
    /// The collection.
    pub collection: String,
    /// The page and the filter.
    pub request: models::ScrollRequest,
}

/// Set, overwrite, delete or clear payloads.
#[derive(Debug, Clone)]
pub struct UpdatePayload {
    /// The collection.
    pub collection: String,
    /// The change and the points it applies to.
    pub update: models::PayloadUpdate,
}

/// Replace some vectors of points.
#[derive(Debug, Clone)]
pub struct UpdateVectors {
    /// The collection.
    pub collection: String,
    /// The points and their new vectors.
    pub request: models::UpdateVectors,
}

/// Remove named vectors from points.
#[derive(Debug, Clone)]
pub struct DeleteVectors {
    /// The collection.
    pub collection: String,
    /// The names and the points.
    pub request: models::DeleteVectors,
}

/// Several writes (`points/batch`), applied in order, all or none, as one logged operation.
#[derive(Debug, Clone)]
pub struct UpdateBatch {
    /// The collection.
    pub collection: String,
    /// The writes.
    pub operations: models::UpdateOperations,
}

/// Create a payload field index.
#[derive(Debug, Clone)]
pub struct CreateFieldIndex {
    /// The collection.
    pub collection: String,
    /// The key and the kind of index.
    pub request: models::CreateFieldIndex,
}

/// Delete a payload field index.
#[derive(Debug, Clone)]
pub struct DeleteFieldIndex {
    /// The collection.
    pub collection: String,
    /// The indexed key.
    pub field: String,
}

/// The nearest points to a vector.
#[derive(Debug, Clone)]
pub struct Search {
    /// The collection.
    pub collection: String,
    /// The query.
    pub request: models::SearchRequest,
}

/// Several searches in one request, answered in order.
#[derive(Debug, Clone)]
pub struct SearchBatch {
    /// The collection.
    pub collection: String,
    /// The queries.
    pub requests: Vec<models::SearchRequest>,
}

/// Points like some examples and unlike others.
#[derive(Debug, Clone)]
pub struct Recommend {
    /// The collection.
    pub collection: String,
    /// The examples and the query options.
    pub request: models::RecommendRequest,
}

/// Nearest points grouped by a payload field.
#[derive(Debug, Clone)]
pub struct SearchGroups {
    /// The collection.
    pub collection: String,
    /// The query and the grouping.
    pub request: models::SearchGroupsRequest,
}

/// A round trip through the instance and the general pool.
#[derive(Debug, Clone)]
pub struct HealthCheck;

/// Persist everything written so far.
#[derive(Debug, Clone)]
pub struct Flush;

/// Take a snapshot of a collection.
#[derive(Debug, Clone)]
pub struct CreateSnapshot {
    /// The collection.
    pub collection: String,
}

/// List a collection's snapshots.
#[derive(Debug, Clone)]
pub struct ListSnapshots {
    /// The collection.
    pub collection: String,
}

/// Delete one of a collection's snapshots.
#[derive(Debug, Clone)]
pub struct DeleteSnapshot {
    /// The collection.
    pub collection: String,
    /// The snapshot's name.
    pub snapshot: String,
}

/// Recover a collection (replacing it if it exists) from a snapshot file.
#[derive(Debug, Clone)]
pub struct RecoverSnapshot {
    /// The collection to create or replace.
    pub collection: String,
    /// The snapshot file.
    pub location: PathBuf,
}

/// Take a snapshot of every collection.
#[derive(Debug, Clone)]
pub struct CreateFullSnapshot;

/// List the full snapshots.
#[derive(Debug, Clone)]
pub struct ListFullSnapshots;

/// Delete a full snapshot.
#[derive(Debug, Clone)]
pub struct DeleteFullSnapshot {
    /// The snapshot's name.
    pub snapshot: String,
}

/// Recover every collection of a full snapshot file.
#[derive(Debug, Clone)]
pub struct RecoverFullSnapshot {
    /// The snapshot file.
    pub location: PathBuf,
}

/// Test only (cargo feature `test-requests`): sleep on the general pool's timer, then answer.
#[cfg(feature = "test-requests")]
#[derive(Debug, Clone)]
pub struct Sleep {
    /// How long.
    pub duration: Duration,
}

/// Test only (cargo feature `test-requests`): panic on the general pool with this message.
#[cfg(feature = "test-requests")]
#[derive(Debug, Clone)]
pub struct Panic {
    /// The panic message.
    pub message: String,
}

/// Test only (cargo feature `test-requests`): stop the instance loop from receiving, so that
/// the request queue fills up.
#[cfg(feature = "test-requests")]
#[derive(Debug)]
pub struct HoldInstance {
    /// Fired when the instance loop has taken this request and stopped receiving.
    pub held: futures::channel::oneshot::Sender<()>,
    /// The loop resumes when this fires or its sender is dropped.
    pub release: futures::channel::oneshot::Receiver<()>,
}
