//! [`RroClient`]: the handle applications hold. It turns typed calls into messages on the
//! request queue and waits for the answer under a timeout, on whatever executor polls it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_channel::{Sender, TrySendError};
use futures::channel::oneshot;

use crate::config::Config;
use crate::deadline::Deadlines;
use crate::error::{Result, RroError};
use crate::instance::{self, ShutdownReport, Status};
use crate::models::{
    CollectionInfo, CollectionsResponse, CountRequest, CreateCollection, CreateFieldIndex,
    DeletePayload, DeleteVectors, GetPoints, GroupsResult, PayloadUpdate, PointStruct,
    PointsSelector, RecommendRequest, Record, ScoredPoint, ScrollRequest, ScrollResult,
    SearchGroupsRequest, SearchRequest, SetPayload, SnapshotDescription, UpdateResult,
    UpdateVectors, UpsertPoints,
};
use crate::protocol::{
    AdminRequest, CollectionRequest, HealthInfo, Message, PointsRequest, QueryRequest, Request,
    Response, SnapshotRequest,
};
use crate::runtime::{race, timeout, Backend, Spawner};

/// Take the expected variant out of a response, or report the mismatch as an internal error.
macro_rules! expect_response {
    ($response:expr, $pattern:pat => $value:expr) => {
        match $response {
            $pattern => Ok($value),
            #[allow(unreachable_patterns)]
            other => Err(RroError::Internal(format!(
                "unexpected response kind `{}`",
                other.kind()
            ))),
        }
    };
}

/// Extra time a client gives the instance thread beyond the shutdown timeout: the pools'
/// teardown grace plus a margin, so a client never gives up on a teardown that is on time.
const TEARDOWN_GRACE: Duration = Duration::from_secs(instance::POOL_TEARDOWN_GRACE.as_secs() + 3);

/// Per-handle call options; see [`RroClient::with_timeout`] and [`RroClient::fail_fast`].
#[derive(Debug, Clone, Copy, Default)]
struct CallOptions {
    timeout: Option<Duration>,
    fail_fast: bool,
}

struct Inner {
    sender: Sender<Message>,
    runtime: Arc<dyn Spawner>,
    deadlines: Arc<Deadlines>,
    status: Arc<Status>,
    report: futures::future::Shared<oneshot::Receiver<ShutdownReport>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    config: Config,
    backend: &'static str,
}

impl Drop for Inner {
    /// The last handle is gone: close the queue so the instance drains and stops by itself.
    /// Never waits.
    fn drop(&mut self) {
        self.sender.close();
    }
}

/// A handle to a running rro instance. Cheap to clone; every clone talks to the same instance,
/// and the instance shuts down by itself when the last clone is dropped.
///
/// Every call has a timeout (the config's default, or [`with_timeout`](Self::with_timeout)),
/// and returns [`RroError::ChannelClosed`] once the instance is shutting down.
#[derive(Clone)]
pub struct RroClient {
    inner: Arc<Inner>,
    options: CallOptions,
}

impl std::fmt::Debug for RroClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RroClient")
            .field("backend", &self.inner.backend)
            .field("running", &self.is_healthy())
            .field("timeout", &self.options.timeout)
            .field("fail_fast", &self.options.fail_fast)
            .finish()
    }
}

impl RroClient {
    /// Start an instance with `config` on `backend` and return a client for it.
    pub async fn open(config: Config, backend: impl Backend) -> Result<RroClient> {
        Self::open_boxed(config, Box::new(backend)).await
    }

    /// [`open`](Self::open) for an already boxed backend.
    pub async fn open_boxed(config: Config, backend: Box<dyn Backend>) -> Result<RroClient> {
        let name = backend.name();
        let (sender, queue) = async_channel::bounded(config.channel_capacity);
        let started = instance::start(&config, backend, queue).await?;
        Ok(RroClient {
            inner: Arc::new(Inner {
                sender,
                runtime: started.runtime,
                deadlines: started.deadlines,
                status: started.status,
                report: started.report,
                thread: Mutex::new(Some(started.thread)),
                config,
                backend: name,
            }),
            options: CallOptions::default(),
        })
    }

    /// A handle whose calls time out after `timeout` instead of the configured default.
    pub fn with_timeout(&self, timeout: Duration) -> RroClient {
        RroClient {
            inner: self.inner.clone(),
            options: CallOptions {
                timeout: Some(timeout),
                ..self.options
            },
        }
    }

    /// A handle whose calls return [`RroError::Overloaded`] at once when the request queue is
    /// full, instead of waiting for room.
    pub fn fail_fast(&self) -> RroClient {
        RroClient {
            inner: self.inner.clone(),
            options: CallOptions {
                fail_fast: true,
                ..self.options
            },
        }
    }

    /// Name of the backend running this instance.
    pub fn backend(&self) -> &'static str {
        self.inner.backend
    }

    /// Whether the instance is running and accepting requests; no round trip.
    pub fn is_healthy(&self) -> bool {
        self.inner.status.is_running() && !self.inner.sender.is_closed()
    }

    /// Send `request` and wait for its response under this handle's timeout (or the default
    /// for its kind).
    pub async fn request(&self, mut request: Request) -> Result<Response> {
        // Too-deep payloads and filters are refused (and taken apart without recursion) here,
        // before anything recursive can touch them on an rro thread.
        crate::models::depth::bound(&mut request)?;
        let default = match request {
            Request::Admin(AdminRequest::HealthCheck) => self.inner.config.health_check_timeout,
            _ => self.inner.config.request_timeout,
        };
        let limit = self.options.timeout.unwrap_or(default);
        let (reply, answer) = oneshot::channel();
        let message = Message { request, reply };
        let work = async {
            if self.options.fail_fast {
                self.inner.sender.try_send(message).map_err(|e| match e {
                    TrySendError::Full(_) => RroError::Overloaded {
                        capacity: self.inner.config.channel_capacity,
                    },
                    TrySendError::Closed(_) => RroError::ChannelClosed,
                })?;
            } else {
                self.inner
                    .sender
                    .send(message)
                    .await
                    .map_err(|_| RroError::ChannelClosed)?;
            }
            match answer.await {
                Ok(result) => result,
                // Unanswered: the instance tore its pools down under this request.
                Err(oneshot::Canceled) if !self.inner.status.is_running() => {
                    Err(RroError::ChannelClosed)
                }
                Err(oneshot::Canceled) => Err(RroError::ResponseRecv),
            }
        };
        race(work, self.inner.deadlines.after(limit))
            .await
            .unwrap_or(Err(RroError::Timeout(limit)))
    }

    /// Create collection `name`.
    pub async fn create_collection(
        &self,
        name: &str,
        config: impl Into<CreateCollection>,
    ) -> Result<()> {
        let request = CollectionRequest::Create {
            name: name.to_owned(),
            config: config.into(),
        };
        expect_response!(self.request(Request::Collections(request)).await?, Response::Done => ())
    }

    /// Every collection, sorted by name.
    pub async fn list_collections(&self) -> Result<CollectionsResponse> {
        expect_response!(self.request(Request::Collections(CollectionRequest::List)).await?, Response::Collections(c) => c)
    }

    /// Status, point count and configuration of collection `name`.
    pub async fn collection_info(&self, name: &str) -> Result<CollectionInfo> {
        let request = CollectionRequest::Info {
            name: name.to_owned(),
        };
        expect_response!(self.request(Request::Collections(request)).await?, Response::CollectionInfo(info) => info)
    }

    /// Wait until the optimizer has nothing left to do for collection `name` (the write segment
    /// is sealed once past the indexing threshold, every large segment has its HNSW index,
    /// merges and vacuums are done), then describe it. Index builds can outlast the default
    /// request timeout: call it on a handle made with [`with_timeout`](Self::with_timeout).
    /// Returns early, with the collection's current state, if the instance shuts down.
    pub async fn wait_index_ready(&self, name: &str) -> Result<CollectionInfo> {
        let request = CollectionRequest::WaitIndexed {
            name: name.to_owned(),
        };
        expect_response!(self.request(Request::Collections(request)).await?, Response::CollectionInfo(info) => info)
    }

    /// Whether collection `name` exists.
    pub async fn collection_exists(&self, name: &str) -> Result<bool> {
        let request = CollectionRequest::Exists {
            name: name.to_owned(),
        };
        expect_response!(self.request(Request::Collections(request)).await?, Response::Bool(b) => b)
    }

    /// Delete collection `name`; `false` if it did not exist.
    pub async fn delete_collection(&self, name: &str) -> Result<bool> {
        let request = CollectionRequest::Delete {
            name: name.to_owned(),
        };
        expect_response!(self.request(Request::Collections(request)).await?, Response::Bool(b) => b)
    }

    /// Insert or replace `points` in `collection`: the whole batch, or nothing if any point is
    /// invalid.
    pub async fn upsert_points(
        &self,
        collection: &str,
        points: Vec<PointStruct>,
    ) -> Result<UpdateResult> {
        let request = PointsRequest::Upsert {
            collection: collection.to_owned(),
            points: UpsertPoints { points },
        };
        expect_response!(self.request(Request::Points(request)).await?, Response::Update(r) => r)
    }

    /// The points of `collection` that `request` asks for and that exist.
    pub async fn get_points(&self, collection: &str, request: GetPoints) -> Result<Vec<Record>> {
        let request = PointsRequest::Get {
            collection: collection.to_owned(),
            request,
        };
        expect_response!(self.request(Request::Points(request)).await?, Response::Records(r) => r)
    }

    /// Delete the selected points of `collection`; missing ids are ignored.
    pub async fn delete_points(
        &self,
        collection: &str,
        selector: PointsSelector,
    ) -> Result<UpdateResult> {
        let request = PointsRequest::Delete {
            collection: collection.to_owned(),
            selector,
        };
        expect_response!(self.request(Request::Points(request)).await?, Response::Update(r) => r)
    }

    /// Number of points in `collection`.
    pub async fn count_points(&self, collection: &str) -> Result<u64> {
        self.count(collection, CountRequest::default()).await
    }

    /// Number of points of `collection` the request's filter matches (all without one); exact.
    pub async fn count(&self, collection: &str, request: CountRequest) -> Result<u64> {
        let request = PointsRequest::Count {
            collection: collection.to_owned(),
            request,
        };
        expect_response!(self.request(Request::Points(request)).await?, Response::Count(c) => c.count)
    }

    /// One page of the points of `collection` the request's filter matches, in id order from
    /// its `offset` (or ordered by an indexed payload field with `order_by`).
    pub async fn scroll(&self, collection: &str, request: ScrollRequest) -> Result<ScrollResult> {
        let request = PointsRequest::Scroll {
            collection: collection.to_owned(),
            request,
        };
        expect_response!(self.request(Request::Points(request)).await?, Response::Scroll(page) => page)
    }

    async fn update_payload(
        &self,
        collection: &str,
        update: PayloadUpdate,
    ) -> Result<UpdateResult> {
        let request = PointsRequest::UpdatePayload {
            collection: collection.to_owned(),
            update,
        };
        expect_response!(self.request(Request::Points(request)).await?, Response::Update(r) => r)
    }

    /// Merge the request's keys into the payloads of the selected points.
    pub async fn set_payload(&self, collection: &str, request: SetPayload) -> Result<UpdateResult> {
        self.update_payload(collection, PayloadUpdate::Set(request))
            .await
    }

    /// Replace the payloads of the selected points by the request's payload.
    pub async fn overwrite_payload(
        &self,
        collection: &str,
        request: SetPayload,
    ) -> Result<UpdateResult> {
        self.update_payload(collection, PayloadUpdate::Overwrite(request))
            .await
    }

    /// Remove the request's keys from the payloads of the selected points.
    pub async fn delete_payload(
        &self,
        collection: &str,
        request: DeletePayload,
    ) -> Result<UpdateResult> {
        self.update_payload(collection, PayloadUpdate::Delete(request))
            .await
    }

    /// Remove the whole payload of the selected points.
    pub async fn clear_payload(
        &self,
        collection: &str,
        selector: PointsSelector,
    ) -> Result<UpdateResult> {
        self.update_payload(collection, PayloadUpdate::Clear(selector))
            .await
    }

    /// Replace some vectors of existing points of `collection` (named ones by name); their
    /// other vectors and payloads stay.
    pub async fn update_vectors(
        &self,
        collection: &str,
        request: UpdateVectors,
    ) -> Result<UpdateResult> {
        let request = PointsRequest::UpdateVectors {
            collection: collection.to_owned(),
            request,
        };
        expect_response!(self.request(Request::Points(request)).await?, Response::Update(r) => r)
    }

    /// Remove named vectors from the selected points of `collection`.
    pub async fn delete_vectors(
        &self,
        collection: &str,
        request: DeleteVectors,
    ) -> Result<UpdateResult> {
        let request = PointsRequest::DeleteVectors {
            collection: collection.to_owned(),
            request,
        };
        expect_response!(self.request(Request::Points(request)).await?, Response::Update(r) => r)
    }

    /// Index a payload key of `collection`, so that filters on it and `order_by` are fast.
    pub async fn create_field_index(
        &self,
        collection: &str,
        request: CreateFieldIndex,
    ) -> Result<UpdateResult> {
        let request = PointsRequest::CreateFieldIndex {
            collection: collection.to_owned(),
            request,
        };
        expect_response!(self.request(Request::Points(request)).await?, Response::Update(r) => r)
    }

    /// Drop the index of payload key `field` of `collection`.
    pub async fn delete_field_index(&self, collection: &str, field: &str) -> Result<UpdateResult> {
        let request = PointsRequest::DeleteFieldIndex {
            collection: collection.to_owned(),
            field: field.to_owned(),
        };
        expect_response!(self.request(Request::Points(request)).await?, Response::Update(r) => r)
    }

    /// Points of `collection` like the request's positive examples and unlike its negative
    /// ones, best first; the examples themselves are left out.
    pub async fn recommend(
        &self,
        collection: &str,
        request: RecommendRequest,
    ) -> Result<Vec<ScoredPoint>> {
        let request = QueryRequest::Recommend {
            collection: collection.to_owned(),
            request,
        };
        expect_response!(self.request(Request::Query(request)).await?, Response::Scored(hits) => hits)
    }

    /// The nearest points of `collection`, grouped by the value of a payload field.
    pub async fn search_groups(
        &self,
        collection: &str,
        request: SearchGroupsRequest,
    ) -> Result<GroupsResult> {
        let request = QueryRequest::SearchGroups {
            collection: collection.to_owned(),
            request,
        };
        expect_response!(self.request(Request::Query(request)).await?, Response::Groups(g) => g)
    }

    /// The points of `collection` nearest to the request's vector, best first.
    pub async fn search(
        &self,
        collection: &str,
        request: SearchRequest,
    ) -> Result<Vec<ScoredPoint>> {
        let request = QueryRequest::Search {
            collection: collection.to_owned(),
            request,
        };
        expect_response!(self.request(Request::Query(request)).await?, Response::Scored(hits) => hits)
    }

    /// Run several searches on `collection` in one request; the hits of each come back in
    /// request order.
    pub async fn search_batch(
        &self,
        collection: &str,
        requests: Vec<SearchRequest>,
    ) -> Result<Vec<Vec<ScoredPoint>>> {
        let request = QueryRequest::SearchBatch {
            collection: collection.to_owned(),
            requests,
        };
        expect_response!(self.request(Request::Query(request)).await?, Response::ScoredBatch(hits) => hits)
    }

    /// Take a snapshot of `collection` into one archive file, while writes to it go on; the
    /// snapshot holds every write acknowledged before the call. Needs a data directory.
    pub async fn create_snapshot(&self, collection: &str) -> Result<SnapshotDescription> {
        let request = SnapshotRequest::Create {
            collection: collection.to_owned(),
        };
        expect_response!(self.request(Request::Snapshots(request)).await?, Response::Snapshot(s) => s)
    }

    /// The snapshots of `collection`, oldest first (also after the collection was deleted).
    pub async fn list_snapshots(&self, collection: &str) -> Result<Vec<SnapshotDescription>> {
        let request = SnapshotRequest::List {
            collection: collection.to_owned(),
        };
        expect_response!(self.request(Request::Snapshots(request)).await?, Response::Snapshots(s) => s)
    }

    /// Delete snapshot `snapshot` of `collection`; `false` if there was none.
    pub async fn delete_snapshot(&self, collection: &str, snapshot: &str) -> Result<bool> {
        let request = SnapshotRequest::Delete {
            collection: collection.to_owned(),
            snapshot: snapshot.to_owned(),
        };
        expect_response!(self.request(Request::Snapshots(request)).await?, Response::Bool(b) => b)
    }

    /// Create or replace `collection` with the content of the collection snapshot at
    /// `location` (a path from [`SnapshotDescription::path`] or a copied file). The archive is
    /// verified before the existing collection is touched.
    pub async fn recover_snapshot(
        &self,
        collection: &str,
        location: impl Into<std::path::PathBuf>,
    ) -> Result<()> {
        let request = SnapshotRequest::Recover {
            collection: collection.to_owned(),
            location: location.into(),
        };
        expect_response!(self.request(Request::Snapshots(request)).await?, Response::Done => ())
    }

    /// Take a snapshot of every collection into one archive file.
    pub async fn create_full_snapshot(&self) -> Result<SnapshotDescription> {
        expect_response!(self.request(Request::Snapshots(SnapshotRequest::CreateFull)).await?, Response::Snapshot(s) => s)
    }

    /// The full snapshots, oldest first.
    pub async fn list_full_snapshots(&self) -> Result<Vec<SnapshotDescription>> {
        expect_response!(self.request(Request::Snapshots(SnapshotRequest::ListFull)).await?, Response::Snapshots(s) => s)
    }

    /// Delete full snapshot `snapshot`; `false` if there was none.
    pub async fn delete_full_snapshot(&self, snapshot: &str) -> Result<bool> {
        let request = SnapshotRequest::DeleteFull {
            snapshot: snapshot.to_owned(),
        };
        expect_response!(self.request(Request::Snapshots(request)).await?, Response::Bool(b) => b)
    }

    /// Recover every collection of the full snapshot at `location`, replacing collections of
    /// the same names; returns their names.
    pub async fn recover_full_snapshot(
        &self,
        location: impl Into<std::path::PathBuf>,
    ) -> Result<Vec<String>> {
        let request = SnapshotRequest::RecoverFull {
            location: location.into(),
        };
        expect_response!(self.request(Request::Snapshots(request)).await?, Response::Names(n) => n)
    }

    /// Persist everything written so far.
    pub async fn flush(&self) -> Result<()> {
        expect_response!(self.request(Request::Admin(AdminRequest::Flush)).await?, Response::Done => ())
    }

    /// A full round trip through the instance thread and a pool (timeout: 5 s by default).
    pub async fn health_check(&self) -> Result<HealthInfo> {
        expect_response!(self.request(Request::Admin(AdminRequest::HealthCheck)).await?, Response::Health(h) => h)
    }

    /// Stop accepting requests, let queued and in-flight ones finish within the shutdown
    /// timeout, flush storage, stop every rro thread, and report how it went. Every clone sees
    /// the instance as shut down afterwards; calling it again returns the same report.
    pub async fn shutdown(&self) -> Result<ShutdownReport> {
        let allowed = self
            .options
            .timeout
            .unwrap_or(self.inner.config.shutdown_timeout);
        self.inner.status.begin_shutdown(allowed);
        self.inner.sender.close();
        let limit = allowed + TEARDOWN_GRACE;
        let report = match timeout(&*self.inner.runtime, limit, self.inner.report.clone()).await {
            Ok(Ok(report)) => report,
            Ok(Err(_)) => {
                return Err(RroError::Internal(
                    "the instance thread ended without a shutdown report".into(),
                ))
            }
            Err(_) => return Err(RroError::Timeout(limit)),
        };
        // The report is the thread's last act, so this join returns at once.
        let thread = self
            .inner
            .thread
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
        Ok(report)
    }
}
