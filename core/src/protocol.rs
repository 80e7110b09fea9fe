//! What travels from a client to the instance thread: a [`Message`], which is one call (a
//! type of [`calls`]) bundled with a oneshot sender typed by that call's answer, on a bounded
//! `async_channel`.
//!
//! Each call kind names its answer type ([`Call::Output`]) and its pool ([`Call::POOL`]):
//! queries to the search pool, writes to the update pool, metadata and I/O to the general pool.
//! Because the reply channel carries exactly that type, the instance cannot answer a search
//! with a count: a mismatch does not compile, and the client has nothing to check at run time.
//!
//! # Adding a request kind
//! 1. Define its type in [`calls`] (plain `pub` fields, one-line docs).
//! 2. Add one line to the `calls!` table below: `Name -> Output, Pool;`. This creates the
//!    [`Message`] variant and the [`Call`] impl.
//! 3. Implement `Handle` for it in `handler.rs` (the compiler asks for it): the work, on the
//!    pool, returning `Result<Output>`.
//! 4. Add the client operation to the `operations!` list in `client.rs`, with its docs and a
//!    `# Examples` block; `RroClient` and the facade's `BlockingClient` both get it from there.
//! 5. Test it through the client on both backends (`backend_tests!`) against a reference
//!    computed in the test, and through `BlockingClient` in `tests/blocking.rs`.

use futures::channel::oneshot;
use serde::{Deserialize, Serialize};

use crate::error::RroError;
use crate::models::{
    CollectionInfo, CollectionsAliasesResponse, CollectionsResponse, FacetResponse, GroupsResult,
    Record, ScoredPoint, ScrollResult, SnapshotDescription, UpdateResult,
};
use crate::runtime::Pool;

pub mod calls;

/// The sending half of a call's reply channel.
pub type Reply<T> = oneshot::Sender<Result<T, RroError>>;

/// A request kind: what it answers and where it runs.
///
/// Implemented by every type of [`calls`] and only by them (the trait is sealed):
/// [`RroClient::call`](crate::RroClient::call) sends any of them and returns its typed answer.
pub trait Call: sealed::Sealed + Send + Sized + 'static {
    /// The answer.
    type Output: Send + 'static;
    /// The pool the instance runs it on.
    const POOL: Pool;
    /// Bundle this call with the sender of its answer.
    fn into_message(self, reply: Reply<Self::Output>) -> Message;
}

mod sealed {
    /// Keeps [`Call`](super::Call) implemented by the `calls!` table only.
    pub trait Sealed {}
}

/// A call and the channel its answer goes back on; dropped unanswered only when the instance
/// is torn down.
pub struct Envelope<C: Call> {
    /// The call.
    pub call: C,
    /// Where the answer goes.
    pub reply: Reply<C::Output>,
}

impl<C: Call + std::fmt::Debug> std::fmt::Debug for Envelope<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Envelope")
            .field("call", &self.call)
            .field("caller_left", &self.reply.is_canceled())
            .finish()
    }
}

/// What the instance loop does with each envelope it takes from a [`Message`]: code generic
/// over the call kind, which a closure cannot be.
pub(crate) trait Deliver {
    /// Take care of one call.
    fn deliver<C: crate::handler::Handle>(self, envelope: Envelope<C>);
}

/// The table of request kinds: `calls::Type -> answer, pool;`. Everything that must list every
/// kind (the message enum, the pool of each, the typed hand-off to the handler) is generated
/// from it, so adding a kind is one line here plus its handler.
macro_rules! calls {
    ($( $(#[cfg($cfg:meta)])? $name:ident -> $output:ty, $pool:ident; )*) => {
        /// One call on its way to the instance: a variant per kind of [`calls`].
        #[derive(Debug)]
        #[non_exhaustive]
        pub enum Message {
            $(
                $(#[cfg($cfg)])?
                #[doc = concat!("A [`calls::", stringify!($name), "`] and its reply channel.")]
                $name(Envelope<calls::$name>),
            )*
        }

        $(
            $(#[cfg($cfg)])?
            impl sealed::Sealed for calls::$name {}

            $(#[cfg($cfg)])?
            impl Call for calls::$name {
                type Output = $output;
                const POOL: Pool = Pool::$pool;
                fn into_message(self, reply: Reply<$output>) -> Message {
                    Message::$name(Envelope { call: self, reply })
                }
            }
        )*

        impl Message {
            /// The pool this call runs on.
            pub fn pool(&self) -> Pool {
                match self {
                    $( $(#[cfg($cfg)])? Message::$name(_) => Pool::$pool, )*
                }
            }

            /// Hand the envelope, with its concrete call type, to `to`.
            pub(crate) fn deliver(self, to: impl Deliver) {
                match self {
                    $( $(#[cfg($cfg)])? Message::$name(envelope) => to.deliver(envelope), )*
                }
            }
        }
    };
}

calls! {
    CreateCollection -> (), General;
    ListCollections -> CollectionsResponse, General;
    CollectionInfo -> CollectionInfo, General;
    WaitIndexReady -> CollectionInfo, General;
    CollectionExists -> bool, General;
    DeleteCollection -> bool, General;
    UpdateCollection -> (), General;
    UpdateAliases -> (), General;
    ListAliases -> CollectionsAliasesResponse, General;
    ListCollectionAliases -> CollectionsAliasesResponse, General;
    UpsertPoints -> UpdateResult, Update;
    GetPoints -> Vec<Record>, General;
    DeletePoints -> UpdateResult, Update;
    Count -> u64, Search;
    Scroll -> ScrollResult, Search;
    Facet -> FacetResponse, Search;
    UpdatePayload -> UpdateResult, Update;
    UpdateVectors -> UpdateResult, Update;
    DeleteVectors -> UpdateResult, Update;
    UpdateBatch -> Vec<UpdateResult>, Update;
    CreateFieldIndex -> UpdateResult, Update;
    DeleteFieldIndex -> UpdateResult, Update;
    Search -> Vec<ScoredPoint>, Search;
    SearchBatch -> Vec<Vec<ScoredPoint>>, Search;
    Recommend -> Vec<ScoredPoint>, Search;
    SearchGroups -> GroupsResult, Search;
    HealthCheck -> HealthInfo, General;
    Flush -> (), General;
    CreateSnapshot -> SnapshotDescription, General;
    ListSnapshots -> Vec<SnapshotDescription>, General;
    DeleteSnapshot -> bool, General;
    RecoverSnapshot -> (), General;
    CreateFullSnapshot -> SnapshotDescription, General;
    ListFullSnapshots -> Vec<SnapshotDescription>, General;
    DeleteFullSnapshot -> bool, General;
    RecoverFullSnapshot -> Vec<String>, General;
    #[cfg(feature = "test-requests")]
    Sleep -> (), General;
    #[cfg(feature = "test-requests")]
    Panic -> (), General;
    #[cfg(feature = "test-requests")]
    HoldInstance -> (), General;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{CountRequest, Distance, PointsSelector, SearchRequest, VectorParams};

    /// The pool a call's message reports, which is what the instance spawns it on.
    fn pool_of<C: Call>(call: C) -> Pool {
        let (reply, _answer) = oneshot::channel();
        let message = call.into_message(reply);
        assert_eq!(message.pool(), C::POOL);
        message.pool()
    }

    #[test]
    fn each_request_kind_runs_on_its_pool() {
        let name = || "c".to_owned();
        let search = calls::Search {
            collection: name(),
            request: SearchRequest::new(vec![1.0], 1),
        };
        assert_eq!(pool_of(search), Pool::Search);
        let count = calls::Count {
            collection: name(),
            request: CountRequest::default(),
        };
        assert_eq!(pool_of(count), Pool::Search);
        let upsert = calls::UpsertPoints {
            collection: name(),
            points: crate::models::UpsertPoints { points: vec![] },
        };
        assert_eq!(pool_of(upsert), Pool::Update);
        let delete = calls::DeletePoints {
            collection: name(),
            selector: PointsSelector::Points(vec![]),
        };
        assert_eq!(pool_of(delete), Pool::Update);
        let get = calls::GetPoints {
            collection: name(),
            request: crate::models::GetPoints::new([1u64]),
        };
        assert_eq!(pool_of(get), Pool::General);
        let create = calls::CreateCollection {
            name: name(),
            config: VectorParams::new(1, Distance::Dot).into(),
        };
        assert_eq!(pool_of(create), Pool::General);
        assert_eq!(pool_of(calls::HealthCheck), Pool::General);
    }
}
