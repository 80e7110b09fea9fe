//! Runs one call against the storage engine: a [`Handle`] impl per kind of
//! [`calls`](crate::protocol::calls), returning that kind's typed answer. Called on the pool the
//! call belongs to; everything here is synchronous storage work except waiting for the
//! optimizer and the test-only sleep.

use std::future::Future;

use crate::error::RroError;
use crate::protocol::{calls, Call, HealthInfo};
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

/// The type of the "has the caller given up" check every handler gets, so that long work can
/// stop early.
pub(crate) type Cancelled<'a> = &'a (dyn Fn() -> bool + Sync);

/// How the instance answers one kind of call: the work, run on the call's pool.
pub(crate) trait Handle: Call {
    /// Answer this call.
    fn handle(
        self,
        ctx: &HandlerContext,
        cancelled: Cancelled<'_>,
    ) -> impl Future<Output = Result<Self::Output, RroError>> + Send;
}

/// One `Handle` impl per line: `Kind(ctx, call, cancelled) => body`, where `body` evaluates to
/// `Result<Kind::Output, RroError>`.
macro_rules! handlers {
    ($( $(#[cfg($cfg:meta)])? $name:ident($ctx:pat, $call:pat, $cancelled:pat) => $body:expr; )*) => {$(
        $(#[cfg($cfg)])?
        impl Handle for calls::$name {
            #[allow(clippy::manual_async_fn)]
            fn handle(
                self,
                ctx: &HandlerContext,
                cancelled: Cancelled<'_>,
            ) -> impl Future<Output = Result<Self::Output, RroError>> + Send {
                async move {
                    let ($ctx, $call, $cancelled) = (ctx, self, cancelled);
                    $body
                }
            }
        }
    )*};
}

handlers! {
    CreateCollection(ctx, calls::CreateCollection { name, config }, _) => {
        ctx.toc.create_collection(&name, config)?;
        Ok(())
    };
    ListCollections(ctx, _, _) => Ok(ctx.toc.list_collections());
    CollectionInfo(ctx, calls::CollectionInfo { name }, _) => Ok(ctx.toc.collection(&name)?.info());
    WaitIndexReady(ctx, calls::WaitIndexReady { name }, _) => {
        let collection = ctx.toc.collection(&name)?;
        ctx.optimizer.kick(&collection);
        if let Some(idle) = collection.wait_idle() {
            // Fired when the optimizer goes idle or stops (shutdown, deletion).
            let _ = idle.await;
        }
        Ok(collection.info())
    };
    CollectionExists(ctx, calls::CollectionExists { name }, _) => {
        Ok(ctx.toc.collection_exists(&name)?)
    };
    DeleteCollection(ctx, calls::DeleteCollection { name }, _) => {
        Ok(ctx.toc.delete_collection(&name)?)
    };
    UpdateCollection(ctx, calls::UpdateCollection { name, update }, _) => {
        let collection = ctx.toc.collection(&name)?;
        collection.update_config(&update)?;
        // New thresholds or HNSW parameters may give the optimizer work.
        ctx.optimizer.kick(&collection);
        Ok(())
    };
    UpdateAliases(ctx, calls::UpdateAliases { request }, _) => {
        Ok(ctx.toc.update_aliases(&request.actions)?)
    };
    ListAliases(ctx, _, _) => Ok(ctx.toc.list_aliases());
    ListCollectionAliases(ctx, calls::ListCollectionAliases { name }, _) => {
        Ok(ctx.toc.list_collection_aliases(&name)?)
    };
    UpsertPoints(ctx, calls::UpsertPoints { collection, points }, _) => {
        let collection = ctx.toc.collection(&collection)?;
        collection.check_strict_batch(points.points.len())?;
        let result = collection.upsert(points.points)?;
        ctx.optimizer.kick(&collection);
        Ok(result)
    };
    GetPoints(ctx, calls::GetPoints { collection, request }, _) => {
        // `Collection::get` cannot fail, so the refusal of Qdrant-only fields is here.
        request.check_supported()?;
        Ok(ctx.toc.collection(&collection)?.get(&request))
    };
    DeletePoints(ctx, calls::DeletePoints { collection, selector }, _) => {
        let collection = ctx.toc.collection(&collection)?;
        collection.check_strict_update(&selector)?;
        let result = collection.delete(&selector)?;
        ctx.optimizer.kick(&collection);
        Ok(result)
    };
    Count(ctx, calls::Count { collection, request }, _) => {
        let collection = ctx.toc.collection(&collection)?;
        collection.check_strict_read(None, request.filter.as_ref(), None)?;
        match request.exact {
            true => Ok(collection.count_filtered(&request)?),
            false => Ok(collection.count_estimate(&request)?),
        }
    };
    Scroll(ctx, calls::Scroll { collection, request }, _) => {
        let collection = ctx.toc.collection(&collection)?;
        let limit = Some(request.limit.unwrap_or(crate::models::DEFAULT_SCROLL_LIMIT));
        collection.check_strict_read(limit, request.filter.as_ref(), None)?;
        Ok(collection.scroll(&request)?)
    };
    Facet(ctx, calls::Facet { collection, request }, _) => {
        let collection = ctx.toc.collection(&collection)?;
        let limit = Some(request.limit.unwrap_or(crate::models::DEFAULT_FACET_LIMIT));
        collection.check_strict_read(limit, request.filter.as_ref(), None)?;
        Ok(collection.facet(&request)?)
    };
    UpdatePayload(ctx, calls::UpdatePayload { collection, update }, _) => {
        let collection = ctx.toc.collection(&collection)?;
        collection.check_strict_update(update.selector())?;
        let result = collection.update_payload(&update)?;
        ctx.optimizer.kick(&collection);
        Ok(result)
    };
    UpdateVectors(ctx, calls::UpdateVectors { collection, request }, _) => {
        let collection = ctx.toc.collection(&collection)?;
        collection.check_strict_batch(request.points.len())?;
        let result = collection.update_vectors(&request)?;
        ctx.optimizer.kick(&collection);
        Ok(result)
    };
    DeleteVectors(ctx, calls::DeleteVectors { collection, request }, _) => {
        let collection = ctx.toc.collection(&collection)?;
        collection.check_strict_update(&request.selector)?;
        let result = collection.delete_vectors(&request)?;
        ctx.optimizer.kick(&collection);
        Ok(result)
    };
    UpdateBatch(ctx, calls::UpdateBatch { collection, operations }, _) => {
        let collection = ctx.toc.collection(&collection)?;
        collection.check_strict_operations(&operations.operations)?;
        let results = collection.batch(operations)?;
        ctx.optimizer.kick(&collection);
        Ok(results)
    };
    CreateFieldIndex(ctx, calls::CreateFieldIndex { collection, request }, _) => {
        Ok(ctx.toc.collection(&collection)?.create_field_index(&request)?)
    };
    DeleteFieldIndex(ctx, calls::DeleteFieldIndex { collection, field }, _) => {
        Ok(ctx.toc.collection(&collection)?.delete_field_index(&field)?)
    };
    Search(ctx, calls::Search { collection, request }, cancelled) => {
        let collection = ctx.toc.collection(&collection)?;
        check_strict_search(&collection, &request)?;
        collection.search(&request, cancelled)?.ok_or_else(abandoned)
    };
    SearchBatch(ctx, calls::SearchBatch { collection, requests }, cancelled) => {
        let collection = ctx.toc.collection(&collection)?;
        for request in &requests {
            check_strict_search(&collection, request)?;
        }
        collection.search_batch(&requests, cancelled)?.ok_or_else(abandoned)
    };
    Recommend(ctx, calls::Recommend { collection, request }, cancelled) => {
        let collection = ctx.toc.collection(&collection)?;
        collection.check_strict_read(
            Some(request.limit),
            request.filter.as_ref(),
            request.params.as_ref(),
        )?;
        collection.recommend(&request, cancelled)?.ok_or_else(abandoned)
    };
    SearchGroups(ctx, calls::SearchGroups { collection, request }, cancelled) => {
        let collection = ctx.toc.collection(&collection)?;
        collection.check_strict_read(
            Some(request.limit),
            request.filter.as_ref(),
            request.params.as_ref(),
        )?;
        collection.search_groups(&request, cancelled)?.ok_or_else(abandoned)
    };
    HealthCheck(ctx, _, _) => Ok(HealthInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        backend: ctx.backend.to_owned(),
        collections: ctx.toc.collection_count(),
        queued: ctx.queue.len(),
    });
    Flush(ctx, _, _) => {
        ctx.toc.flush()?;
        // A flush seals small write segments, which the optimizer may want to merge.
        ctx.kick_all();
        Ok(())
    };
    CreateSnapshot(ctx, calls::CreateSnapshot { collection }, _) => {
        Ok(ctx.toc.create_snapshot(&collection)?)
    };
    ListSnapshots(ctx, calls::ListSnapshots { collection }, _) => {
        Ok(ctx.toc.list_snapshots(&collection)?)
    };
    DeleteSnapshot(ctx, calls::DeleteSnapshot { collection, snapshot }, _) => {
        Ok(ctx.toc.delete_snapshot(&collection, &snapshot)?)
    };
    RecoverSnapshot(ctx, calls::RecoverSnapshot { collection, location }, _) => {
        ctx.toc.recover_snapshot(&collection, &location)?;
        ctx.kick_all();
        Ok(())
    };
    CreateFullSnapshot(ctx, _, _) => Ok(ctx.toc.create_full_snapshot()?);
    ListFullSnapshots(ctx, _, _) => Ok(ctx.toc.list_full_snapshots()?);
    DeleteFullSnapshot(ctx, calls::DeleteFullSnapshot { snapshot }, _) => {
        Ok(ctx.toc.delete_full_snapshot(&snapshot)?)
    };
    RecoverFullSnapshot(ctx, calls::RecoverFullSnapshot { location }, _) => {
        let names = ctx.toc.recover_full_snapshot(&location)?;
        ctx.kick_all();
        Ok(names)
    };
    #[cfg(feature = "test-requests")]
    Sleep(ctx, calls::Sleep { duration }, _) => {
        ctx.runtime.sleep(duration).await;
        Ok(())
    };
    #[cfg(feature = "test-requests")]
    Panic(_, calls::Panic { message }, _) => panic!("{message}");
    // Handled by the instance loop itself; never spawned.
    #[cfg(feature = "test-requests")]
    HoldInstance(_, _, _) => Ok(());
}

/// Strict mode's checks of one search.
fn check_strict_search(
    collection: &crate::storage::Collection,
    request: &crate::models::SearchRequest,
) -> Result<(), RroError> {
    Ok(collection.check_strict_read(
        Some(request.limit),
        request.filter.as_ref(),
        request.params.as_ref(),
    )?)
}

/// The error of a search whose caller gave up; nobody receives it.
fn abandoned() -> RroError {
    RroError::Internal("search abandoned: the caller gave up".into())
}
