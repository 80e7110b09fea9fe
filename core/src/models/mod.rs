//! Public request and response types. Their JSON form is Qdrant's REST API for everything rro
//! implements, so the same JSON works against a Qdrant cluster.

mod alias;
mod batch;
mod collection;
pub(crate) mod depth;
mod facet;
mod filter;
mod index;
pub(crate) mod path;
mod point;
mod scroll;
mod search;
mod selector;
mod snapshot;
mod strict_mode;
mod vectors;

pub use alias::{
    AliasDescription, AliasOperation, ChangeAliases, CollectionsAliasesResponse, CreateAlias,
    DeleteAlias, RenameAlias,
};
pub use batch::{UpdateOperation, UpdateOperations};
pub use collection::{
    ClusterParams, CollectionConfig, CollectionDescription, CollectionInfo, CollectionParams,
    CollectionParamsDiff, CollectionStatus, CollectionsResponse, CreateCollection, Datatype,
    Distance, HnswConfig, HnswConfigDiff, OptimizationProgress, OptimizerStatus, OptimizersConfig,
    OptimizersConfigDiff, ShardingMethod, UpdateCollection, VectorParams, WalConfig,
    DEFAULT_INDEXING_THRESHOLD_KB, DEFAULT_MAX_SEGMENT_SIZE_KB,
};
pub use depth::{dismantle_filter, dismantle_payload, dismantle_value, MAX_PAYLOAD_DEPTH};
pub use facet::{FacetHit, FacetRequest, FacetResponse, FacetValue, DEFAULT_FACET_LIMIT};
pub(crate) use filter::{parse_datetime, parse_key, KeySegment, UtcInstant};
pub use filter::{
    AnyVariants, Condition, FieldCondition, Filter, FilterError, GeoBoundingBox, GeoLineString,
    GeoPoint, GeoPolygon, GeoRadius, Match, MatchValue, MinShould, Nested, PayloadField, Range,
    RangeValue, ValuesCount, MAX_FILTER_DEPTH,
};
pub use index::{
    CreateFieldIndex, FieldIndexParams, PayloadFieldSchema, PayloadIndexInfo, PayloadSchemaType,
};
pub use point::{
    CountRequest, CountResult, GetPoints, OrderValue, Payload, PointId, PointIdError, PointStruct,
    Record, UpdateResult, UpdateStatus, UpsertPoints,
};
pub use scroll::{
    Direction, OrderBy, ScrollRequest, ScrollResult, StartFrom, DEFAULT_SCROLL_LIMIT,
};
pub use search::{
    AcornSearchParams, GroupId, GroupsResult, PointGroup, QuantizationSearchParams,
    RecommendExample, RecommendRequest, RecommendStrategy, ScoredPoint, SearchGroupsRequest,
    SearchParams, SearchRequest, SearchRequestBatch,
};
pub use selector::{DeletePayload, PayloadUpdate, PointsSelector, SetPayload, WithPayloadSelector};
pub use snapshot::SnapshotDescription;
pub use strict_mode::StrictModeConfig;
pub use vectors::{
    DeleteVectors, NamedVectorStruct, PointVectors, UpdateVectors, VectorStruct, VectorsConfig,
    WithVectorSelector,
};
