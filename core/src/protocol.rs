//! What travels from a client to the instance thread: a [`Request`] and a oneshot sender for
//! its [`Response`], bundled as a [`Message`] on a bounded `async_channel`.
//!
//! Requests are grouped by area, and each area maps to the pool that runs it
//! ([`Request::pool`]): queries to the search pool, writes to the update pool, metadata and
//! I/O to the general pool.

use futures::channel::oneshot;
use serde::{Deserialize, Serialize};

use crate::error::RroError;
use crate::models::{
    CollectionInfo, CollectionsResponse, CountRequest, CountResult, CreateCollection,
    CreateFieldIndex, DeleteVectors, GetPoints, GroupsResult, PayloadUpdate, PointsSelector,
    RecommendRequest, Record, ScoredPoint, ScrollRequest, ScrollResult, SearchGroupsRequest,
    SearchRequest, SnapshotDescription, UpdateResult, UpdateVectors, UpsertPoints,
};
use crate::runtime::Pool;

/// One request to an instance.
#[derive(Debug)]
#[non_exhaustive]
pub enum Request {
    /// Create, list, describe, delete collections.
    Collections(CollectionRequest),
    /// Write and read points.
    Points(PointsRequest),
    /// Nearest-neighbour queries.
    Query(QueryRequest),
    /// Health and maintenance.
    Admin(AdminRequest),
    /// Create, list, delete and recover snapshots.
    Snapshots(SnapshotRequest),
    /// Requests that only tests need: slow, panicking, or holding the instance loop.
    #[cfg(feature = "test-requests")]
    Test(TestRequest),
}

/// Collection management.
#[derive(Debug, Clone)]
pub enum CollectionRequest {
    /// Create a collection.
    Create {
        /// Its name.
        name: String,
        /// Its configuration.
        config: CreateCollection,
    },
    /// List every collection.
    List,
    /// Describe a collection.
    Info {
        /// Its name.
        name: String,
    },
    /// Whether a collection exists.
    Exists {
        /// Its name.
        name: String,
    },
    /// Delete a collection.
    Delete {
        /// Its name.
        name: String,
    },
    /// Wait until the optimizer has nothing left to do for a collection (every segment that
    /// should have an index has one), then describe it.
    WaitIndexed {
        /// Its name.
        name: String,
    },
}

/// Point writes and reads by id.
#[derive(Debug, Clone)]
pub enum PointsRequest {
    /// Insert or replace points.
    Upsert {
        /// The collection.
        collection: String,
        /// The points.
        points: UpsertPoints,
    },
    /// Retrieve points by id.
    Get {
        /// The collection.
        collection: String,
        /// Which points, and what of them.
        request: GetPoints,
    },
    /// Delete points by id or by filter.
    Delete {
        /// The collection.
        collection: String,
        /// Which points.
        selector: PointsSelector,
    },
    /// Count the points (those a filter matches, with one).
    Count {
        /// The collection.
        collection: String,
        /// The filter, if any.
        request: CountRequest,
    },
    /// One page of points in id order (or by an indexed field).
    Scroll {
        /// The collection.
        collection: String,
        /// The page and the filter.
        request: ScrollRequest,
    },
    /// Set, overwrite, delete or clear payloads.
    UpdatePayload {
        /// The collection.
        collection: String,
        /// The change and the points it applies to.
        update: PayloadUpdate,
    },
    /// Replace some vectors of points.
    UpdateVectors {
        /// The collection.
        collection: String,
        /// The points and their new vectors.
        request: UpdateVectors,
    },
    /// Remove named vectors from points.
    DeleteVectors {
        /// The collection.
        collection: String,
        /// The names and the points.
        request: DeleteVectors,
    },
    /// Create a payload field index.
    CreateFieldIndex {
        /// The collection.
        collection: String,
        /// The key and the kind of index.
        request: CreateFieldIndex,
    },
    /// Delete a payload field index.
    DeleteFieldIndex {
        /// The collection.
        collection: String,
        /// The indexed key.
        field: String,
    },
}

/// Nearest-neighbour queries.
#[derive(Debug, Clone)]
pub enum QueryRequest {
    /// The nearest points to a vector.
    Search {
        /// The collection.
        collection: String,
        /// The query.
        request: SearchRequest,
    },
    /// Several searches in one request, answered in order.
    SearchBatch {
        /// The collection.
        collection: String,
        /// The queries.
        requests: Vec<SearchRequest>,
    },
    /// Points like some examples and unlike others.
    Recommend {
        /// The collection.
        collection: String,
        /// The examples and the query options.
        request: RecommendRequest,
    },
    /// Nearest points grouped by a payload field.
    SearchGroups {
        /// The collection.
        collection: String,
        /// The query and the grouping.
        request: SearchGroupsRequest,
    },
}

/// Health and maintenance.
#[derive(Debug, Clone)]
pub enum AdminRequest {
    /// A round trip through the instance and the general pool.
    HealthCheck,
    /// Persist everything written so far.
    Flush,
}

/// Snapshots of one collection (`collection` set) or of the whole instance.
#[derive(Debug, Clone)]
pub enum SnapshotRequest {
    /// Take a snapshot of a collection.
    Create {
        /// The collection.
        collection: String,
    },
    /// List a collection's snapshots.
    List {
        /// The collection.
        collection: String,
    },
    /// Delete one of a collection's snapshots.
    Delete {
        /// The collection.
        collection: String,
        /// The snapshot's name.
        snapshot: String,
    },
    /// Recover a collection (replacing it if it exists) from a snapshot file.
    Recover {
        /// The collection to create or replace.
        collection: String,
        /// The snapshot file.
        location: std::path::PathBuf,
    },
    /// Take a snapshot of every collection.
    CreateFull,
    /// List the full snapshots.
    ListFull,
    /// Delete a full snapshot.
    DeleteFull {
        /// The snapshot's name.
        snapshot: String,
    },
    /// Recover every collection of a full snapshot file.
    RecoverFull {
        /// The snapshot file.
        location: std::path::PathBuf,
    },
}

/// Requests that exist for tests only (cargo feature `test-requests`).
#[cfg(feature = "test-requests")]
#[derive(Debug)]
pub enum TestRequest {
    /// Sleep on the general pool's timer, then answer.
    Sleep(std::time::Duration),
    /// Panic on the general pool with this message.
    Panic(String),
    /// Stop the instance loop from receiving, so that the request queue fills up.
    HoldInstance {
        /// Fired when the instance loop has taken this request and stopped receiving.
        held: oneshot::Sender<()>,
        /// The loop resumes when this fires or its sender is dropped.
        release: oneshot::Receiver<()>,
    },
}

impl Request {
    /// The pool this request runs on.
    pub fn pool(&self) -> Pool {
        match self {
            Request::Query(_)
            | Request::Points(PointsRequest::Count { .. } | PointsRequest::Scroll { .. }) => {
                Pool::Search
            }
            Request::Points(
                PointsRequest::Upsert { .. }
                | PointsRequest::Delete { .. }
                | PointsRequest::UpdatePayload { .. }
                | PointsRequest::UpdateVectors { .. }
                | PointsRequest::DeleteVectors { .. }
                | PointsRequest::CreateFieldIndex { .. }
                | PointsRequest::DeleteFieldIndex { .. },
            ) => Pool::Update,
            Request::Points(PointsRequest::Get { .. })
            | Request::Collections(_)
            | Request::Admin(_)
            | Request::Snapshots(_) => Pool::General,
            #[cfg(feature = "test-requests")]
            Request::Test(_) => Pool::General,
        }
    }
}

/// The answer to one [`Request`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Response {
    /// Done; nothing to return (create collection, flush).
    Done,
    /// A collection list.
    Collections(CollectionsResponse),
    /// A collection's description.
    CollectionInfo(CollectionInfo),
    /// A yes/no answer (exists, deleted).
    Bool(bool),
    /// The result of a write.
    Update(UpdateResult),
    /// Retrieved points.
    Records(Vec<Record>),
    /// A point count.
    Count(CountResult),
    /// Search hits, best first.
    Scored(Vec<ScoredPoint>),
    /// Hits of each search of a batch, in request order.
    ScoredBatch(Vec<Vec<ScoredPoint>>),
    /// A page of points.
    Scroll(ScrollResult),
    /// Hits grouped by a payload value.
    Groups(GroupsResult),
    /// The result of a health check.
    Health(HealthInfo),
    /// A snapshot that was taken.
    Snapshot(SnapshotDescription),
    /// A list of snapshots.
    Snapshots(Vec<SnapshotDescription>),
    /// Names of collections (recovered from a full snapshot).
    Names(Vec<String>),
}

impl Response {
    /// Name of the variant, for "unexpected response" errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Response::Done => "Done",
            Response::Collections(_) => "Collections",
            Response::CollectionInfo(_) => "CollectionInfo",
            Response::Bool(_) => "Bool",
            Response::Update(_) => "Update",
            Response::Records(_) => "Records",
            Response::Count(_) => "Count",
            Response::Scored(_) => "Scored",
            Response::ScoredBatch(_) => "ScoredBatch",
            Response::Scroll(_) => "Scroll",
            Response::Groups(_) => "Groups",
            Response::Health(_) => "Health",
            Response::Snapshot(_) => "Snapshot",
            Response::Snapshots(_) => "Snapshots",
            Response::Names(_) => "Names",
        }
    }
}

/// What a health check reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthInfo {
    /// rro's version.
    pub version: String,
    /// The backend running the pools (`tokio` or `smol`).
    pub backend: String,
    /// Number of collections.
    pub collections: usize,
    /// Requests waiting in the queue when the check ran.
    pub queued: usize,
}

/// A request with the channel its answer goes back on.
#[derive(Debug)]
pub struct Message {
    /// The request.
    pub request: Request,
    /// Where the answer goes; dropped unanswered only when the instance is torn down.
    pub reply: oneshot::Sender<Result<Response, RroError>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{Distance, VectorParams};

    #[test]
    fn each_request_kind_runs_on_its_pool() {
        let name = || "c".to_owned();
        let search = Request::Query(QueryRequest::Search {
            collection: name(),
            request: SearchRequest::new(vec![1.0], 1),
        });
        assert_eq!(search.pool(), Pool::Search);
        assert_eq!(
            Request::Points(PointsRequest::Count {
                collection: name(),
                request: CountRequest::default(),
            })
            .pool(),
            Pool::Search
        );
        let upsert = Request::Points(PointsRequest::Upsert {
            collection: name(),
            points: UpsertPoints { points: vec![] },
        });
        assert_eq!(upsert.pool(), Pool::Update);
        let delete = Request::Points(PointsRequest::Delete {
            collection: name(),
            selector: PointsSelector::Points(vec![]),
        });
        assert_eq!(delete.pool(), Pool::Update);
        let get = Request::Points(PointsRequest::Get {
            collection: name(),
            request: GetPoints::new([1u64]),
        });
        assert_eq!(get.pool(), Pool::General);
        let create = CollectionRequest::Create {
            name: name(),
            config: VectorParams::new(1, Distance::Dot).into(),
        };
        assert_eq!(Request::Collections(create).pool(), Pool::General);
        assert_eq!(
            Request::Admin(AdminRequest::HealthCheck).pool(),
            Pool::General
        );
    }
}
