//! [`RroClient`]: the handle applications hold. It turns typed calls into messages on the
//! request queue and waits for the answer under a timeout, on whatever executor polls it.
//!
//! Its operations are listed once, in [`__rro_operations!`](crate::__rro_operations): this
//! module expands the list into async methods, and the `rro` facade expands the same list into
//! the methods of its `BlockingClient`, so the two clients cannot drift apart.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_channel::{Sender, TrySendError};
use futures::channel::oneshot;

use crate::config::Config;
use crate::deadline::Deadlines;
use crate::error::{Result, RroError};
use crate::instance::{self, ShutdownReport, Status};
use crate::protocol::{Call, Message};
use crate::runtime::{race, timeout, Backend, Spawner};

/// Hidden lines that open the doc test of an [`RroClient`] method: a minimal backend (one
/// thread per task), an instance, and collection `docs` (2-d, Dot) holding point 1 = [1, 0]
/// `{"lang": "en"}` and point 2 = [0, 1] `{"lang": "de"}`; in memory for `memory`, in a
/// temporary data directory for `disk` (snapshots need one). The visible lines run inside an
/// `async` block; [`doc_epilogue!`] closes it.
macro_rules! doc_prelude {
    (memory) => {
        doc_prelude!(@ "", "rro_core::Config::in_memory()")
    };
    (disk) => {
        doc_prelude!(@ "# let dir = tempfile::tempdir().unwrap();\n", "rro_core::Config::new(dir.path())")
    };
    (@ $dir:literal, $config:literal) => {
        concat!(
            "```\n",
            "# use rro_core::models::*;\n",
            "# use rro_core::payload;\n",
            "# use rro_core::runtime::*;\n",
            "# use std::{sync::Arc, time::{Duration, Instant}};\n",
            "# struct Threads;\n",
            "# impl Backend for Threads {\n",
            "#     fn name(&self) -> &'static str { \"threads\" }\n",
            "#     fn start(self: Box<Self>, _: &PoolConfig) -> std::io::Result<Arc<dyn Spawner>> { Ok(Arc::new(Threads)) }\n",
            "# }\n",
            "# impl Spawner for Threads {\n",
            "#     fn spawn(&self, _: Pool, f: BoxFuture<'static, ()>) { std::thread::spawn(move || futures::executor::block_on(f)); }\n",
            "#     fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {\n",
            "#         let (tx, rx) = futures::channel::oneshot::channel::<()>();\n",
            "#         std::thread::spawn(move || { std::thread::sleep(d); let _ = tx.send(()); });\n",
            "#         Box::pin(async move { let _ = rx.await; })\n",
            "#     }\n",
            "#     fn block_on(&self, f: BoxFuture<'_, ()>) { futures::executor::block_on(f) }\n",
            "#     fn shutdown(&self, _: Instant) -> PoolsReport { PoolsReport::default() }\n",
            "# }\n",
            $dir,
            "# futures::executor::block_on(async {\n",
            "# let client = rro_core::RroClient::open(", $config, ", Threads).await?;\n",
            "# client.create_collection(\"docs\", VectorParams::new(2, Distance::Dot)).await?;\n",
            "# client.upsert_points(\"docs\", vec![\n",
            "#     PointStruct::new(1u64, vec![1.0, 0.0]).with_payload(payload!({\"lang\": \"en\"})),\n",
            "#     PointStruct::new(2u64, vec![0.0, 1.0]).with_payload(payload!({\"lang\": \"de\"})),\n",
            "# ]).await?;\n",
        )
    };
}

/// Hidden lines that close a doc test opened by [`doc_prelude!`].
macro_rules! doc_epilogue {
    () => {
        concat!(
            "# client.shutdown().await?;\n",
            "# Ok::<_, rro_core::RroError>(())\n",
            "# })?;\n",
            "# Ok::<_, rro_core::RroError>(())\n",
            "```\n",
        )
    };
}

/// One line of an example: as written, or, marked `await`, the call awaited and its error
/// returned.
macro_rules! doc_line {
    ($line:literal) => {
        concat!($line, "\n")
    };
    ($line:literal await) => {
        concat!($line, ".await?;\n")
    };
}

/// Expands the operation list of [`__rro_operations!`](crate::__rro_operations) into the async
/// methods of [`RroClient`]: each sends the call its body builds.
macro_rules! async_operations {
    ($(
        $(#[doc = $doc:literal])*
        fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $output:ty $body:block
        example($fixture:ident) { $($line:literal $($await:ident)?)* }
    )*) => {$(
        $(#[doc = $doc])*
        ///
        /// # Examples
        #[doc = concat!(doc_prelude!($fixture), $(doc_line!($line $($await)?),)* doc_epilogue!())]
        pub async fn $name(&self, $($arg: $ty),*) -> Result<$output> {
            self.call($body).await
        }
    )*};
}

/// The client operations that are one request each, listed once: docs, name, arguments,
/// answer, the call it sends, and a doc-test example: lines of code, where a line marked
/// `await` is a call whose result is awaited (async client) or not (blocking client), and its
/// error returned with `?`.
///
/// Invokes `$callback! { ... }` with the list. [`RroClient`] expands it into async methods;
/// the `rro` facade's `BlockingClient` into blocking ones.
/// Not a public API: the list's shape may change with any release.
#[doc(hidden)]
#[macro_export]
macro_rules! __rro_operations {
    ($callback:ident) => {
        $callback! {
            /// Create collection `name`.
            fn create_collection(name: &str, config: impl Into<$crate::models::CreateCollection>) -> () {
                $crate::protocol::calls::CreateCollection { name: name.to_owned(), config: config.into() }
            }
            example(memory) {
                r#"client.create_collection("notes", VectorParams::new(3, Distance::Cosine))"# await
                r#"let exists = client.collection_exists("notes")"# await
                r#"assert!(exists);"#
            }

            /// Every collection, sorted by name.
            fn list_collections() -> $crate::models::CollectionsResponse {
                $crate::protocol::calls::ListCollections
            }
            example(memory) {
                r#"let list = client.list_collections()"# await
                r#"assert_eq!(list.collections[0].name, "docs");"#
            }

            /// Status, point count and configuration of collection `name`.
            fn collection_info(name: &str) -> $crate::models::CollectionInfo {
                $crate::protocol::calls::CollectionInfo { name: name.to_owned() }
            }
            example(memory) {
                r#"let info = client.collection_info("docs")"# await
                r#"assert_eq!(info.points_count, 2);"#
            }

            /// Wait until the optimizer has nothing left to do for collection `name` (the
            /// write segment is sealed once past the indexing threshold, every large segment
            /// has its HNSW index, merges and vacuums are done), then describe it. Index builds
            /// can outlast the default request timeout: call it on a handle made with
            /// `with_timeout`. Returns early, with the collection's current state, if the
            /// instance shuts down.
            fn wait_index_ready(name: &str) -> $crate::models::CollectionInfo {
                $crate::protocol::calls::WaitIndexReady { name: name.to_owned() }
            }
            example(memory) {
                r#"let info = client.wait_index_ready("docs")"# await
                r#"assert_eq!(info.points_count, 2);"#
            }

            /// Whether collection `name` exists.
            fn collection_exists(name: &str) -> bool {
                $crate::protocol::calls::CollectionExists { name: name.to_owned() }
            }
            example(memory) {
                r#"let exists = client.collection_exists("docs")"# await
                r#"assert!(exists);"#
            }

            /// Delete collection `name`; `false` if it did not exist.
            fn delete_collection(name: &str) -> bool {
                $crate::protocol::calls::DeleteCollection { name: name.to_owned() }
            }
            example(memory) {
                r#"let deleted = client.delete_collection("docs")"# await
                r#"let again = client.delete_collection("docs")"# await
                r#"assert!(deleted && !again);"#
            }

            /// Change the HNSW parameters, optimizer thresholds, cluster settings or strict mode
            /// of collection `name` while it serves requests (Qdrant's `PATCH
            /// /collections/{name}`); fields left out keep their value. The change is kept in
            /// the collection's manifest. New `m` or `ef_construct` rebuild the existing indexes
            /// in the background; a lower `indexing_threshold` indexes what now passes it.
            fn update_collection(name: &str, update: $crate::models::UpdateCollection) -> () {
                $crate::protocol::calls::UpdateCollection { name: name.to_owned(), update }
            }
            example(memory) {
                r#"let limits = StrictModeConfig { enabled: Some(true), max_query_limit: Some(1), ..Default::default() };"#
                r#"client.update_collection("docs", UpdateCollection::default().strict_mode_config(limits))"# await
                r#"let hits = client.search("docs", SearchRequest::new(vec![1.0, 0.0], 1))"# await
                r#"assert_eq!(hits.len(), 1); // a limit of 2 would be refused"#
                r#"let info = client.collection_info("docs")"# await
                r#"assert_eq!(info.config.strict_mode_config.unwrap().max_query_limit, Some(1));"#
            }

            /// Apply a batch of alias actions (create, delete, rename) in order and atomically:
            /// all of them, or none when one fails (the error names its index). Every request
            /// that takes a collection name accepts an alias.
            fn update_aliases(request: $crate::models::ChangeAliases) -> () {
                $crate::protocol::calls::UpdateAliases { request }
            }
            example(memory) {
                r#"client.create_collection("docs_v2", VectorParams::new(2, Distance::Dot))"# await
                r#"client.update_aliases(ChangeAliases::new([AliasOperation::create("docs", "live")]))"# await
                r#"let swap = [AliasOperation::delete("live"), AliasOperation::create("docs_v2", "live")];"#
                r#"client.update_aliases(ChangeAliases::new(swap))"# await
                r#"let count = client.count_points("live")"# await
                r#"assert_eq!(count, 0);"#
            }

            /// Point alias `alias` at `collection` (re-pointing it if it exists).
            fn create_alias(collection: &str, alias: &str) -> () {
                $crate::protocol::calls::UpdateAliases {
                    request: $crate::models::ChangeAliases::new([
                        $crate::models::AliasOperation::create(collection, alias),
                    ]),
                }
            }
            example(memory) {
                r#"client.create_alias("docs", "live")"# await
                r#"let count = client.count_points("live")"# await
                r#"assert_eq!(count, 2);"#
            }

            /// Remove alias `alias`; an error if there is none.
            fn delete_alias(alias: &str) -> () {
                $crate::protocol::calls::UpdateAliases {
                    request: $crate::models::ChangeAliases::new([
                        $crate::models::AliasOperation::delete(alias),
                    ]),
                }
            }
            example(memory) {
                r#"client.create_alias("docs", "live")"# await
                r#"client.delete_alias("live")"# await
                r#"let exists = client.collection_exists("live")"# await
                r#"assert!(!exists);"#
            }

            /// Rename alias `old` to `new`.
            fn rename_alias(old: &str, new: &str) -> () {
                $crate::protocol::calls::UpdateAliases {
                    request: $crate::models::ChangeAliases::new([
                        $crate::models::AliasOperation::rename(old, new),
                    ]),
                }
            }
            example(memory) {
                r#"client.create_alias("docs", "live")"# await
                r#"client.rename_alias("live", "current")"# await
                r#"let list = client.list_aliases()"# await
                r#"assert_eq!(list.aliases[0].alias_name, "current");"#
            }

            /// Every alias, sorted by alias name.
            fn list_aliases() -> $crate::models::CollectionsAliasesResponse {
                $crate::protocol::calls::ListAliases
            }
            example(memory) {
                r#"client.create_alias("docs", "live")"# await
                r#"let list = client.list_aliases()"# await
                r#"assert_eq!((list.aliases[0].alias_name.as_str(), list.aliases[0].collection_name.as_str()), ("live", "docs"));"#
            }

            /// The aliases of collection `name`, sorted by alias name.
            fn list_collection_aliases(name: &str) -> $crate::models::CollectionsAliasesResponse {
                $crate::protocol::calls::ListCollectionAliases { name: name.to_owned() }
            }
            example(memory) {
                r#"client.create_alias("docs", "live")"# await
                r#"let list = client.list_collection_aliases("docs")"# await
                r#"assert_eq!(list.aliases.len(), 1);"#
            }

            /// Insert or replace `points` in `collection`: the whole batch, or nothing if any
            /// point is invalid.
            fn upsert_points(collection: &str, points: Vec<$crate::models::PointStruct>) -> $crate::models::UpdateResult {
                $crate::protocol::calls::UpsertPoints {
                    collection: collection.to_owned(),
                    points: $crate::models::UpsertPoints { points },
                }
            }
            example(memory) {
                r#"client.upsert_points("docs", vec![PointStruct::new(3u64, vec![0.5, 0.5])])"# await
                r#"let count = client.count_points("docs")"# await
                r#"assert_eq!(count, 3);"#
            }

            /// The points of `collection` that `request` asks for and that exist.
            fn get_points(collection: &str, request: $crate::models::GetPoints) -> Vec<$crate::models::Record> {
                $crate::protocol::calls::GetPoints { collection: collection.to_owned(), request }
            }
            example(memory) {
                r#"let records = client.get_points("docs", GetPoints::new([2u64, 7u64]))"# await
                r#"assert_eq!(records.len(), 1);"#
                r#"assert_eq!(records[0].payload.as_ref().unwrap()["lang"], "de");"#
            }

            /// Delete the selected points of `collection`; missing ids are ignored.
            fn delete_points(collection: &str, selector: $crate::models::PointsSelector) -> $crate::models::UpdateResult {
                $crate::protocol::calls::DeletePoints { collection: collection.to_owned(), selector }
            }
            example(memory) {
                r#"client.delete_points("docs", PointsSelector::ids([1u64, 9u64]))"# await
                r#"let count = client.count_points("docs")"# await
                r#"assert_eq!(count, 1);"#
            }

            /// Number of points in `collection`.
            fn count_points(collection: &str) -> u64 {
                $crate::protocol::calls::Count {
                    collection: collection.to_owned(),
                    request: $crate::models::CountRequest::default(),
                }
            }
            example(memory) {
                r#"let count = client.count_points("docs")"# await
                r#"assert_eq!(count, 2);"#
            }

            /// Number of points of `collection` the request's filter matches (all without
            /// one): exact, or with `exact: false` an estimate from the payload indexes (exact
            /// without a filter, otherwise an upper bound no larger than the point count).
            fn count(collection: &str, request: $crate::models::CountRequest) -> u64 {
                $crate::protocol::calls::Count { collection: collection.to_owned(), request }
            }
            example(memory) {
                r#"let english = CountRequest::filter(Filter::must([Condition::matches("lang", "en")]));"#
                r#"let count = client.count("docs", english)"# await
                r#"assert_eq!(count, 1);"#
            }

            /// One page of the points of `collection` the request's filter matches, in id
            /// order from its `offset` (or ordered by an indexed payload field with
            /// `order_by`).
            fn scroll(collection: &str, request: $crate::models::ScrollRequest) -> $crate::models::ScrollResult {
                $crate::protocol::calls::Scroll { collection: collection.to_owned(), request }
            }
            example(memory) {
                r#"let page = client.scroll("docs", ScrollRequest::new(1))"# await
                r#"assert_eq!(page.points[0].id, 1u64.into());"#
                r#"assert_eq!(page.next_page_offset, Some(2u64.into()));"#
            }

            /// How many points of `collection` hold each value of an indexed keyword, integer
            /// or bool key (among those the request's filter matches): exact counts, most
            /// frequent first, then by value.
            fn facet(collection: &str, request: $crate::models::FacetRequest) -> $crate::models::FacetResponse {
                $crate::protocol::calls::Facet { collection: collection.to_owned(), request }
            }
            example(memory) {
                r#"client.create_field_index("docs", CreateFieldIndex::new("lang", PayloadSchemaType::Keyword))"# await
                r#"client.upsert_points("docs", vec![PointStruct::new(3u64, vec![1.0, 1.0]).with_payload(payload!({"lang": "de"}))])"# await
                r#"let facet = client.facet("docs", FacetRequest::new("lang"))"# await
                r#"let hits: Vec<_> = facet.hits.iter().map(|h| (h.value.clone(), h.count)).collect();"#
                r#"assert_eq!(hits, [(FacetValue::Keyword("de".into()), 2), (FacetValue::Keyword("en".into()), 1)]);"#
            }

            /// Merge the request's keys into the payloads of the selected points.
            fn set_payload(collection: &str, request: $crate::models::SetPayload) -> $crate::models::UpdateResult {
                $crate::protocol::calls::UpdatePayload {
                    collection: collection.to_owned(),
                    update: $crate::models::PayloadUpdate::Set(request),
                }
            }
            example(memory) {
                r#"let year = SetPayload::new(payload!({"year": 2024}), PointsSelector::ids([1u64]));"#
                r#"client.set_payload("docs", year)"# await
                r#"let records = client.get_points("docs", GetPoints::new([1u64]))"# await
                r#"assert_eq!(records[0].payload, Some(payload!({"lang": "en", "year": 2024})));"#
            }

            /// Replace the payloads of the selected points by the request's payload.
            fn overwrite_payload(collection: &str, request: $crate::models::SetPayload) -> $crate::models::UpdateResult {
                $crate::protocol::calls::UpdatePayload {
                    collection: collection.to_owned(),
                    update: $crate::models::PayloadUpdate::Overwrite(request),
                }
            }
            example(memory) {
                r#"let year = SetPayload::new(payload!({"year": 2024}), PointsSelector::ids([1u64]));"#
                r#"client.overwrite_payload("docs", year)"# await
                r#"let records = client.get_points("docs", GetPoints::new([1u64]))"# await
                r#"assert_eq!(records[0].payload, Some(payload!({"year": 2024})));"#
            }

            /// Remove the request's keys from the payloads of the selected points.
            fn delete_payload(collection: &str, request: $crate::models::DeletePayload) -> $crate::models::UpdateResult {
                $crate::protocol::calls::UpdatePayload {
                    collection: collection.to_owned(),
                    update: $crate::models::PayloadUpdate::Delete(request),
                }
            }
            example(memory) {
                r#"client.delete_payload("docs", DeletePayload::new(["lang"], PointsSelector::ids([1u64])))"# await
                r#"let records = client.get_points("docs", GetPoints::new([1u64, 2u64]))"# await
                r#"assert_eq!(records[0].payload.clone().unwrap_or_default().get("lang"), None);"#
                r#"assert_eq!(records[1].payload, Some(payload!({"lang": "de"})));"#
            }

            /// Remove the whole payload of the selected points.
            fn clear_payload(collection: &str, selector: $crate::models::PointsSelector) -> $crate::models::UpdateResult {
                $crate::protocol::calls::UpdatePayload {
                    collection: collection.to_owned(),
                    update: $crate::models::PayloadUpdate::Clear(selector),
                }
            }
            example(memory) {
                r#"client.clear_payload("docs", PointsSelector::ids([2u64]))"# await
                r#"let records = client.get_points("docs", GetPoints::new([2u64]))"# await
                r#"assert!(records[0].payload.clone().unwrap_or_default().is_empty());"#
            }

            /// Replace some vectors of existing points of `collection` (named ones by name);
            /// their other vectors and payloads stay.
            fn update_vectors(collection: &str, request: $crate::models::UpdateVectors) -> $crate::models::UpdateResult {
                $crate::protocol::calls::UpdateVectors { collection: collection.to_owned(), request }
            }
            example(memory) {
                r#"let moved = PointVectors { id: 1u64.into(), vector: vec![0.0, 2.0].into() };"#
                r#"client.update_vectors("docs", UpdateVectors { points: vec![moved] })"# await
                r#"let hits = client.search("docs", SearchRequest::new(vec![0.0, 1.0], 1))"# await
                r#"assert_eq!((hits[0].id.clone(), hits[0].score), (1u64.into(), 2.0));"#
            }

            /// Remove named vectors from the selected points of `collection`.
            fn delete_vectors(collection: &str, request: $crate::models::DeleteVectors) -> $crate::models::UpdateResult {
                $crate::protocol::calls::DeleteVectors { collection: collection.to_owned(), request }
            }
            example(memory) {
                r#"let spaces = [("image", VectorParams::new(2, Distance::Dot)), ("text", VectorParams::new(2, Distance::Dot))];"#
                r#"client.create_collection("pics", CreateCollection::new(VectorsConfig::named(spaces)))"# await
                r#"let vectors = VectorStruct::named([("image", vec![1.0, 0.0]), ("text", vec![0.0, 1.0])]);"#
                r#"client.upsert_points("pics", vec![PointStruct::new(1u64, vectors)])"# await
                r#"client.delete_vectors("pics", DeleteVectors::new(["image"], PointsSelector::ids([1u64])))"# await
                r#"let by_image = client.search("pics", SearchRequest::new(NamedVectorStruct::named("image", vec![1.0, 0.0]), 1))"# await
                r#"let by_text = client.search("pics", SearchRequest::new(NamedVectorStruct::named("text", vec![0.0, 1.0]), 1))"# await
                r#"assert_eq!((by_image.len(), by_text.len()), (0, 1));"#
            }

            /// Apply several writes to `collection` in order (Qdrant's `points/batch`): all of
            /// them or, if one is refused, none; one result per write, all with the batch's
            /// operation number.
            fn batch_update_points(collection: &str, operations: $crate::models::UpdateOperations) -> Vec<$crate::models::UpdateResult> {
                $crate::protocol::calls::UpdateBatch { collection: collection.to_owned(), operations }
            }
            example(memory) {
                r#"let add = UpdateOperation::Upsert(UpsertPoints { points: vec![PointStruct::new(3u64, vec![0.5, 0.5])] });"#
                r#"let tag = UpdateOperation::SetPayload(SetPayload::new(payload!({"new": true}), PointsSelector::ids([3u64])));"#
                r#"let drop = UpdateOperation::Delete(PointsSelector::ids([1u64]));"#
                r#"let results = client.batch_update_points("docs", UpdateOperations::new([add, tag, drop]))"# await
                r#"assert_eq!(results.len(), 3);"#
                r#"let records = client.get_points("docs", GetPoints::new([1u64, 3u64]))"# await
                r#"assert_eq!(records.len(), 1);"#
                r#"assert_eq!(records[0].payload, Some(payload!({"new": true})));"#
            }

            /// Index a payload key of `collection`, so that filters on it and `order_by` are
            /// fast.
            fn create_field_index(collection: &str, request: $crate::models::CreateFieldIndex) -> $crate::models::UpdateResult {
                $crate::protocol::calls::CreateFieldIndex { collection: collection.to_owned(), request }
            }
            example(memory) {
                r#"client.create_field_index("docs", CreateFieldIndex::new("lang", PayloadSchemaType::Keyword))"# await
                r#"let info = client.collection_info("docs")"# await
                r#"assert!(info.payload_schema.contains_key("lang"));"#
            }

            /// Drop the index of payload key `field` of `collection`.
            fn delete_field_index(collection: &str, field: &str) -> $crate::models::UpdateResult {
                $crate::protocol::calls::DeleteFieldIndex {
                    collection: collection.to_owned(),
                    field: field.to_owned(),
                }
            }
            example(memory) {
                r#"client.create_field_index("docs", CreateFieldIndex::new("lang", PayloadSchemaType::Keyword))"# await
                r#"client.delete_field_index("docs", "lang")"# await
                r#"let info = client.collection_info("docs")"# await
                r#"assert!(info.payload_schema.is_empty());"#
            }

            /// Points of `collection` like the request's positive examples and unlike its
            /// negative ones, best first; the examples themselves are left out.
            fn recommend(collection: &str, request: $crate::models::RecommendRequest) -> Vec<$crate::models::ScoredPoint> {
                $crate::protocol::calls::Recommend { collection: collection.to_owned(), request }
            }
            example(memory) {
                r#"let hits = client.recommend("docs", RecommendRequest::new([1u64], 5))"# await
                r#"assert_eq!(hits.len(), 1);"#
                r#"assert_eq!(hits[0].id, 2u64.into());"#
            }

            /// The nearest points of `collection`, grouped by the value of a payload field.
            fn search_groups(collection: &str, request: $crate::models::SearchGroupsRequest) -> $crate::models::GroupsResult {
                $crate::protocol::calls::SearchGroups { collection: collection.to_owned(), request }
            }
            example(memory) {
                r#"let by_lang = SearchGroupsRequest::new(vec![1.0, 0.0], "lang", 1, 5);"#
                r#"let result = client.search_groups("docs", by_lang)"# await
                r#"assert_eq!(result.groups.len(), 2);"#
                r#"assert_eq!(result.groups[0].hits[0].id, 1u64.into());"#
            }

            /// The points of `collection` nearest to the request's vector, best first.
            fn search(collection: &str, request: $crate::models::SearchRequest) -> Vec<$crate::models::ScoredPoint> {
                $crate::protocol::calls::Search { collection: collection.to_owned(), request }
            }
            example(memory) {
                r#"let hits = client.search("docs", SearchRequest::new(vec![0.9, 0.1], 2))"# await
                r#"assert_eq!(hits[0].id, 1u64.into());"#
                r#"assert!((hits[1].score - 0.1).abs() < 1e-6);"#
            }

            /// Run several searches on `collection` in one request; the hits of each come
            /// back in request order.
            fn search_batch(collection: &str, requests: Vec<$crate::models::SearchRequest>) -> Vec<Vec<$crate::models::ScoredPoint>> {
                $crate::protocol::calls::SearchBatch { collection: collection.to_owned(), requests }
            }
            example(memory) {
                r#"let queries = vec![SearchRequest::new(vec![1.0, 0.0], 1), SearchRequest::new(vec![0.0, 1.0], 1)];"#
                r#"let hits = client.search_batch("docs", queries)"# await
                r#"assert_eq!(hits[0][0].id, 1u64.into());"#
                r#"assert_eq!(hits[1][0].id, 2u64.into());"#
            }

            /// Take a snapshot of `collection` into one archive file, while writes to it go
            /// on; the snapshot holds every write acknowledged before the call. Needs a data
            /// directory.
            fn create_snapshot(collection: &str) -> $crate::models::SnapshotDescription {
                $crate::protocol::calls::CreateSnapshot { collection: collection.to_owned() }
            }
            example(disk) {
                r#"let snapshot = client.create_snapshot("docs")"# await
                r#"assert!(snapshot.path.is_file());"#
            }

            /// The snapshots of `collection`, oldest first (also after the collection was
            /// deleted).
            fn list_snapshots(collection: &str) -> Vec<$crate::models::SnapshotDescription> {
                $crate::protocol::calls::ListSnapshots { collection: collection.to_owned() }
            }
            example(disk) {
                r#"let snapshot = client.create_snapshot("docs")"# await
                r#"let list = client.list_snapshots("docs")"# await
                r#"assert_eq!(list, vec![snapshot]);"#
            }

            /// Delete snapshot `snapshot` of `collection`; `false` if there was none.
            fn delete_snapshot(collection: &str, snapshot: &str) -> bool {
                $crate::protocol::calls::DeleteSnapshot {
                    collection: collection.to_owned(),
                    snapshot: snapshot.to_owned(),
                }
            }
            example(disk) {
                r#"let snapshot = client.create_snapshot("docs")"# await
                r#"let deleted = client.delete_snapshot("docs", &snapshot.name)"# await
                r#"let again = client.delete_snapshot("docs", &snapshot.name)"# await
                r#"assert!(deleted && !again);"#
            }

            /// Create or replace `collection` with the content of the collection snapshot at
            /// `location` (a path from [`SnapshotDescription::path`]($crate::models::SnapshotDescription::path)
            /// or a copied file). The archive is verified before the existing collection is
            /// touched.
            fn recover_snapshot(collection: &str, location: impl Into<std::path::PathBuf>) -> () {
                $crate::protocol::calls::RecoverSnapshot {
                    collection: collection.to_owned(),
                    location: location.into(),
                }
            }
            example(disk) {
                r#"let snapshot = client.create_snapshot("docs")"# await
                r#"client.delete_points("docs", PointsSelector::ids([1u64]))"# await
                r#"client.recover_snapshot("docs", &snapshot.path)"# await
                r#"let count = client.count_points("docs")"# await
                r#"assert_eq!(count, 2);"#
            }

            /// Take a snapshot of every collection into one archive file.
            fn create_full_snapshot() -> $crate::models::SnapshotDescription {
                $crate::protocol::calls::CreateFullSnapshot
            }
            example(disk) {
                r#"let snapshot = client.create_full_snapshot()"# await
                r#"assert!(snapshot.path.is_file());"#
            }

            /// The full snapshots, oldest first.
            fn list_full_snapshots() -> Vec<$crate::models::SnapshotDescription> {
                $crate::protocol::calls::ListFullSnapshots
            }
            example(disk) {
                r#"let snapshot = client.create_full_snapshot()"# await
                r#"let list = client.list_full_snapshots()"# await
                r#"assert_eq!(list, vec![snapshot]);"#
            }

            /// Delete full snapshot `snapshot`; `false` if there was none.
            fn delete_full_snapshot(snapshot: &str) -> bool {
                $crate::protocol::calls::DeleteFullSnapshot { snapshot: snapshot.to_owned() }
            }
            example(disk) {
                r#"let snapshot = client.create_full_snapshot()"# await
                r#"let deleted = client.delete_full_snapshot(&snapshot.name)"# await
                r#"let again = client.delete_full_snapshot(&snapshot.name)"# await
                r#"assert!(deleted && !again);"#
            }

            /// Recover every collection of the full snapshot at `location`, replacing
            /// collections of the same names; returns their names.
            fn recover_full_snapshot(location: impl Into<std::path::PathBuf>) -> Vec<String> {
                $crate::protocol::calls::RecoverFullSnapshot { location: location.into() }
            }
            example(disk) {
                r#"let snapshot = client.create_full_snapshot()"# await
                r#"client.delete_collection("docs")"# await
                r#"let names = client.recover_full_snapshot(&snapshot.path)"# await
                r#"let count = client.count_points("docs")"# await
                r#"assert_eq!((names, count), (vec!["docs".to_owned()], 2));"#
            }

            /// Persist everything written so far.
            fn flush() -> () {
                $crate::protocol::calls::Flush
            }
            example(disk) {
                r#"client.flush()"# await
                r#"let count = client.count_points("docs")"# await
                r#"assert_eq!(count, 2);"#
            }

            /// A full round trip through the instance thread and a pool (timeout: 5 s by
            /// default).
            fn health_check() -> $crate::HealthInfo {
                $crate::protocol::calls::HealthCheck
            }
            example(memory) {
                r#"let health = client.health_check()"# await
                r#"assert_eq!(health.collections, 1);"#
            }
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
    ///
    /// # Examples
    #[doc = concat!(
        doc_prelude!(memory),
        "// `Threads` stands for `rro::TokioBackend` or `rro::SmolBackend` in an application.\n",
        "let other = rro_core::RroClient::open(rro_core::Config::in_memory(), Threads).await?;\n",
        "assert_eq!(other.backend(), \"threads\");\n",
        "other.shutdown().await?;\n",
        doc_epilogue!(),
    )]
    pub async fn open(config: Config, backend: impl Backend) -> Result<RroClient> {
        Self::open_boxed(config, Box::new(backend)).await
    }

    /// [`open`](Self::open) for an already boxed backend.
    ///
    /// # Examples
    #[doc = concat!(
        doc_prelude!(memory),
        "let backend: Box<dyn Backend> = Box::new(Threads);\n",
        "let other = rro_core::RroClient::open_boxed(rro_core::Config::in_memory(), backend).await?;\n",
        "assert!(other.is_healthy());\n",
        "other.shutdown().await?;\n",
        doc_epilogue!(),
    )]
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
    ///
    /// # Examples
    #[doc = concat!(
        doc_prelude!(memory),
        "let patient = client.with_timeout(Duration::from_secs(60));\n",
        "let info = patient.wait_index_ready(\"docs\").await?;\n",
        "assert_eq!(info.points_count, 2);\n",
        doc_epilogue!(),
    )]
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
    ///
    /// # Examples
    #[doc = concat!(
        doc_prelude!(memory),
        "let eager = client.fail_fast();\n",
        "let count = eager.count_points(\"docs\").await?;\n",
        "assert_eq!(count, 2);\n",
        doc_epilogue!(),
    )]
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
    ///
    /// # Examples
    #[doc = concat!(
        doc_prelude!(memory),
        "assert_eq!(client.backend(), \"threads\");\n",
        doc_epilogue!(),
    )]
    pub fn backend(&self) -> &'static str {
        self.inner.backend
    }

    /// Whether the instance is running and accepting requests; no round trip.
    ///
    /// # Examples
    #[doc = concat!(
        doc_prelude!(memory),
        "assert!(client.is_healthy());\n",
        "let other = client.clone();\n",
        "other.shutdown().await?;\n",
        "assert!(!client.is_healthy());\n",
        doc_epilogue!(),
    )]
    pub fn is_healthy(&self) -> bool {
        self.inner.status.is_running() && !self.inner.sender.is_closed()
    }

    /// Send `call` and wait for its typed answer under this handle's timeout (or the default
    /// for its kind). Every operation of this client is a `call` of one of
    /// [`protocol::calls`](crate::protocol::calls).
    ///
    /// # Examples
    #[doc = concat!(
        doc_prelude!(memory),
        "let call = rro_core::protocol::calls::CollectionExists { name: \"docs\".into() };\n",
        "let exists: bool = client.call(call).await?;\n",
        "assert!(exists);\n",
        doc_epilogue!(),
    )]
    pub async fn call<C: Call>(&self, call: C) -> Result<C::Output> {
        let (reply, answer) = oneshot::channel();
        let mut message = call.into_message(reply);
        // Too-deep payloads and filters are refused (and taken apart without recursion) here,
        // before anything recursive can touch them on an rro thread.
        crate::models::depth::bound(&mut message)?;
        let default = match message {
            Message::HealthCheck(_) => self.inner.config.health_check_timeout,
            _ => self.inner.config.request_timeout,
        };
        let limit = self.options.timeout.unwrap_or(default);
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

    crate::__rro_operations!(async_operations);

    /// Stop accepting requests, let queued and in-flight ones finish within the shutdown
    /// timeout, flush storage, stop every rro thread, and report how it went. Every clone sees
    /// the instance as shut down afterwards; calling it again returns the same report.
    ///
    /// # Examples
    #[doc = concat!(
        doc_prelude!(memory),
        "let report = client.shutdown().await?;\n",
        "assert!(report.is_clean());\n",
        "assert_eq!(client.count_points(\"docs\").await, Err(rro_core::RroError::ChannelClosed));\n",
        doc_epilogue!(),
    )]
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
