//! Runs one request against the storage engine. Called on the pool the request belongs to;
//! everything here is synchronous storage work except the test-only sleep.

use crate::error::RroError;
use crate::models::CountResult;
use crate::protocol::{
    AdminRequest, CollectionRequest, HealthInfo, PointsRequest, QueryRequest, Request, Response,
    SnapshotRequest,
};
use crate::runtime::Spawner;
use crate::storage::TableOfContent;

/// What a request handler may use.
pub(crate) struct HandlerContext {
    pub(crate) toc: std::sync::Arc<TableOfContent>,
    pub(crate) runtime: std::sync::Arc<dyn Spawner>,
    pub(crate) backend: &'static str,
    /// A receiver of the request queue, only to report its length.
    pub(crate) queue: async_channel::Receiver<crate::protocol::Message>,
    /// Runs index builds, merges and vacuums in the background.
    pub(crate) optimizer: std::sync::Arc<crate::optimizer::Optimizer>,
}

impl HandlerContext {
    /// Start the optimizer for every collection that has work (after a flush or a restore).
    fn kick_all(&self) {
        for collection in self.toc.all() {
            self.optimizer.kick(&collection);
        }
    }
}

/// Answer `request`. `cancelled` says whether the caller has given up, so that long work can
/// stop early.
pub(crate) async fn handle(
    ctx: &HandlerContext,
    request: Request,
    cancelled: &(dyn Fn() -> bool + Sync),
) -> Result<Response, RroError> {
    let toc = &ctx.toc;
    Ok(match request {
        Request::Collections(request) => match request {
            CollectionRequest::Create { name, config } => {
                toc.create_collection(&name, config)?;
                Response::Done
            }
            CollectionRequest::List => Response::Collections(toc.list_collections()),
            CollectionRequest::Info { name } => {
                Response::CollectionInfo(toc.collection(&name)?.info())
            }
            CollectionRequest::Exists { name } => Response::Bool(toc.collection_exists(&name)?),
            CollectionRequest::Delete { name } => Response::Bool(toc.delete_collection(&name)?),
            CollectionRequest::WaitIndexed { name } => {
                let collection = toc.collection(&name)?;
                ctx.optimizer.kick(&collection);
                if let Some(idle) = collection.wait_idle() {
                    // Fired when the optimizer goes idle or stops (shutdown, deletion).
                    let _ = idle.await;
                }
                Response::CollectionInfo(collection.info())
            }
        },
        Request::Points(request) => match request {
            PointsRequest::Upsert { collection, points } => {
                let collection = toc.collection(&collection)?;
                let result = collection.upsert(points.points)?;
                ctx.optimizer.kick(&collection);
                Response::Update(result)
            }
            PointsRequest::Get {
                collection,
                request,
            } => {
                // `Collection::get` cannot fail, so the refusal of Qdrant-only fields is here.
                request.check_supported()?;
                Response::Records(toc.collection(&collection)?.get(&request))
            }
            PointsRequest::Delete {
                collection,
                selector,
            } => {
                let collection = toc.collection(&collection)?;
                let result = collection.delete(&selector)?;
                ctx.optimizer.kick(&collection);
                Response::Update(result)
            }
            PointsRequest::Count {
                collection,
                request,
            } => Response::Count(CountResult {
                count: toc.collection(&collection)?.count_filtered(&request)?,
            }),
            PointsRequest::Scroll {
                collection,
                request,
            } => Response::Scroll(toc.collection(&collection)?.scroll(&request)?),
            PointsRequest::UpdatePayload { collection, update } => {
                let collection = toc.collection(&collection)?;
                let result = collection.update_payload(&update)?;
                ctx.optimizer.kick(&collection);
                Response::Update(result)
            }
            PointsRequest::UpdateVectors {
                collection,
                request,
            } => {
                let collection = toc.collection(&collection)?;
                let result = collection.update_vectors(&request)?;
                ctx.optimizer.kick(&collection);
                Response::Update(result)
            }
            PointsRequest::DeleteVectors {
                collection,
                request,
            } => {
                let collection = toc.collection(&collection)?;
                let result = collection.delete_vectors(&request)?;
                ctx.optimizer.kick(&collection);
                Response::Update(result)
            }
            PointsRequest::CreateFieldIndex {
                collection,
                request,
            } => Response::Update(toc.collection(&collection)?.create_field_index(&request)?),
            PointsRequest::DeleteFieldIndex { collection, field } => {
                Response::Update(toc.collection(&collection)?.delete_field_index(&field)?)
            }
        },
        Request::Query(QueryRequest::Search {
            collection,
            request,
        }) => match toc.collection(&collection)?.search(&request, cancelled)? {
            Some(hits) => Response::Scored(hits),
            None => return Err(abandoned()),
        },
        Request::Query(QueryRequest::SearchBatch {
            collection,
            requests,
        }) => match toc
            .collection(&collection)?
            .search_batch(&requests, cancelled)?
        {
            Some(hits) => Response::ScoredBatch(hits),
            None => return Err(abandoned()),
        },
        Request::Query(QueryRequest::Recommend {
            collection,
            request,
        }) => match toc
            .collection(&collection)?
            .recommend(&request, cancelled)?
        {
            Some(hits) => Response::Scored(hits),
            None => return Err(abandoned()),
        },
        Request::Query(QueryRequest::SearchGroups {
            collection,
            request,
        }) => match toc
            .collection(&collection)?
            .search_groups(&request, cancelled)?
        {
            Some(groups) => Response::Groups(groups),
            None => return Err(abandoned()),
        },
        Request::Admin(AdminRequest::HealthCheck) => Response::Health(HealthInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            backend: ctx.backend.to_owned(),
            collections: toc.collection_count(),
            queued: ctx.queue.len(),
        }),
        Request::Admin(AdminRequest::Flush) => {
            toc.flush()?;
            // A flush seals small write segments, which the optimizer may want to merge.
            ctx.kick_all();
            Response::Done
        }
        Request::Snapshots(request) => match request {
            SnapshotRequest::Create { collection } => {
                Response::Snapshot(toc.create_snapshot(&collection)?)
            }
            SnapshotRequest::List { collection } => {
                Response::Snapshots(toc.list_snapshots(&collection)?)
            }
            SnapshotRequest::Delete {
                collection,
                snapshot,
            } => Response::Bool(toc.delete_snapshot(&collection, &snapshot)?),
            SnapshotRequest::Recover {
                collection,
                location,
            } => {
                toc.recover_snapshot(&collection, &location)?;
                ctx.kick_all();
                Response::Done
            }
            SnapshotRequest::CreateFull => Response::Snapshot(toc.create_full_snapshot()?),
            SnapshotRequest::ListFull => Response::Snapshots(toc.list_full_snapshots()?),
            SnapshotRequest::DeleteFull { snapshot } => {
                Response::Bool(toc.delete_full_snapshot(&snapshot)?)
            }
            SnapshotRequest::RecoverFull { location } => {
                let names = toc.recover_full_snapshot(&location)?;
                ctx.kick_all();
                Response::Names(names)
            }
        },
        #[cfg(feature = "test-requests")]
        Request::Test(request) => match request {
            crate::protocol::TestRequest::Sleep(duration) => {
                ctx.runtime.sleep(duration).await;
                Response::Done
            }
            crate::protocol::TestRequest::Panic(message) => panic!("{message}"),
            // Handled by the instance loop itself; never spawned.
            crate::protocol::TestRequest::HoldInstance { .. } => Response::Done,
        },
    })
}

/// The error of a search whose caller gave up; nobody receives it.
fn abandoned() -> RroError {
    RroError::Internal("search abandoned: the caller gave up".into())
}
