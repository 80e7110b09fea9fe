//! Errors, one enum per layer: [`StorageError`] for what the storage engine refuses,
//! [`RroError`] for everything a client call can return.

use std::time::Duration;

/// What the storage engine refuses or fails at. Carried to callers as [`RroError::Storage`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// No collection with this name exists.
    #[error("collection `{name}` not found")]
    CollectionNotFound {
        /// The name that was asked for.
        name: String,
    },
    /// A collection with this name exists already.
    #[error("collection `{name}` already exists")]
    CollectionExists {
        /// The name that was asked for.
        name: String,
    },
    /// The name cannot be used for a collection (it could reach outside the data directory,
    /// or is empty or too long).
    #[error("invalid collection name `{name}`: {reason}")]
    InvalidCollectionName {
        /// The rejected name (escaped for display by `Debug` where needed).
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A vector's length differs from the collection's configured size.
    #[error("wrong vector dimension: collection expects {expected}, got {got}{}", point_suffix(.point))]
    WrongDimension {
        /// The collection's vector size.
        expected: usize,
        /// The length that was sent.
        got: usize,
        /// The point whose vector was wrong, when the vector belongs to a point.
        point: Option<String>,
    },
    /// A vector component is NaN or infinite.
    #[error("vector component {index} is {value}, only finite numbers are allowed{}", point_suffix(.point))]
    NonFiniteVector {
        /// Position of the first bad component.
        index: usize,
        /// The bad value, as text (`NaN`, `inf`, `-inf`).
        value: String,
        /// The point whose vector was wrong, when the vector belongs to a point.
        point: Option<String>,
    },
    /// A vector's magnitude is out of what its distance can handle: a Cosine vector whose
    /// length overflows or underflows (it cannot be normalised), or a vector so long that its
    /// scores could overflow to infinity.
    #[error("vector cannot be scored: {reason}{}", point_suffix(.point))]
    UnscorableVector {
        /// What is wrong with its magnitude.
        reason: String,
        /// The point whose vector was wrong, when the vector belongs to a point.
        point: Option<String>,
    },
    /// The request is malformed in a way the types could not rule out.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Reading or writing a file of the data directory failed.
    #[error("I/O error on `{path}`: {message}")]
    Io {
        /// The file or directory.
        path: String,
        /// What the operating system said.
        message: String,
    },
    /// A file of the data directory fails its checksum or does not follow its format.
    /// Nothing was changed; see `Config::on_corruption` for how to open the rest.
    #[error("`{path}` is damaged at byte {offset}: {reason}")]
    Corrupted {
        /// The damaged file.
        path: String,
        /// Byte offset of the damage.
        offset: u64,
        /// What is wrong there.
        reason: String,
    },
    /// Another instance (in this process or another) has the data directory open.
    #[error(
        "data directory `{path}` is already open by another rro instance; shut that one down first"
    )]
    AlreadyOpen {
        /// The data directory.
        path: String,
    },
    /// The instance was opened read-only (or fell back to it after damage) and refuses writes.
    #[error("the instance is read-only: {reason}")]
    ReadOnly {
        /// Why it is read-only.
        reason: String,
    },
    /// The operation needs a data directory, and this instance lives in memory.
    #[error("{operation} needs a data directory; open the instance with `Config::new(path)`")]
    NotPersistent {
        /// What was asked for.
        operation: &'static str,
    },
    /// No snapshot with this name exists.
    #[error("snapshot `{name}` not found")]
    SnapshotNotFound {
        /// The name that was asked for.
        name: String,
    },
    /// No alias with this name exists.
    #[error("alias `{name}` not found")]
    AliasNotFound {
        /// The name that was asked for.
        name: String,
    },
    /// Action `index` (counted from 0) of an alias batch failed, so none of the batch was
    /// applied.
    #[error("alias action {index} failed, no action of the batch was applied: {error}")]
    AliasAction {
        /// Position of the failing action in the batch.
        index: usize,
        /// Why it failed.
        error: Box<StorageError>,
    },
    /// The collection's `strict_mode_config` forbids the request (Qdrant answers 403).
    #[error("forbidden by strict mode: {description}; {help}")]
    StrictMode {
        /// What the request exceeds.
        description: String,
        /// What to do instead.
        help: String,
    },
    /// The request uses a Qdrant field rro recognises but does not implement. Reaches client
    /// callers as [`RroError::Unsupported`].
    #[error("`{field}` is not supported by rro: {supported}")]
    Unsupported {
        /// The field, as a JSON path of the request body (`params.indexed_only`).
        field: String,
        /// What rro supports instead.
        supported: String,
    },
}

impl StorageError {
    /// An [`StorageError::Io`] for `path`.
    pub fn io(path: &std::path::Path, error: &std::io::Error) -> Self {
        StorageError::Io {
            path: path.display().to_string(),
            message: error.to_string(),
        }
    }

    /// A [`StorageError::Unsupported`] for `field`; `supported` says what rro does instead.
    pub fn unsupported(field: impl Into<String>, supported: impl Into<String>) -> Self {
        StorageError::Unsupported {
            field: field.into(),
            supported: supported.into(),
        }
    }

    /// A [`StorageError::Corrupted`] for `path` at `offset`.
    pub fn corrupted(path: &std::path::Path, offset: u64, reason: impl Into<String>) -> Self {
        StorageError::Corrupted {
            path: path.display().to_string(),
            offset,
            reason: reason.into(),
        }
    }
}

fn point_suffix(point: &Option<String>) -> String {
    match point {
        Some(id) => format!(" (point {id})"),
        None => String::new(),
    }
}

/// Every error a client call can return.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RroError {
    /// The storage engine refused or failed the operation.
    #[error(transparent)]
    Storage(StorageError),
    /// The request uses a Qdrant field rro recognises but does not implement (yet): it was
    /// parsed, so the JSON an application sends to Qdrant reaches rro, and refused whole rather
    /// than answered as if the field were absent.
    #[error("`{field}` is not supported by rro: {supported}")]
    Unsupported {
        /// The field, as a JSON path of the request body (`params.indexed_only`).
        field: String,
        /// What rro supports instead.
        supported: String,
    },
    /// No reply arrived within the call's timeout. The request may still have been applied.
    #[error("request timed out after {0:?}")]
    Timeout(Duration),
    /// The instance is shutting down or has shut down and accepts no more requests.
    #[error("rro is shut down or shutting down; open a new instance to continue")]
    ChannelClosed,
    /// The instance dropped the request without replying (its pool was torn down).
    #[error("the instance dropped the request without replying")]
    ResponseRecv,
    /// The request queue is full and the call asked not to wait (see `RroClient::fail_fast`).
    #[error(
        "request queue is full ({capacity} queued); retry later or wait instead of failing fast"
    )]
    Overloaded {
        /// The queue's capacity.
        capacity: usize,
    },
    /// A bug inside rro: a request handler panicked or answered with the wrong response kind.
    /// The instance keeps serving.
    #[error("internal error: {0}")]
    Internal(String),
    /// The instance could not start (threads or pools could not be created).
    #[error("rro could not start: {0}")]
    Startup(String),
    /// A blocking call was made from a thread where blocking would stall an async executor
    /// or deadlock rro itself.
    #[error("blocking rro call refused: {0}; use the async client here")]
    BlockingNotAllowed(&'static str),
}

impl From<StorageError> for RroError {
    /// Storage errors are carried as [`RroError::Storage`], except an unsupported field, which
    /// is its own variant so that callers can match it without knowing which layer refused it.
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::Unsupported { field, supported } => {
                RroError::Unsupported { field, supported }
            }
            other => RroError::Storage(other),
        }
    }
}

/// Shorthand for results of client calls.
pub type Result<T, E = RroError> = std::result::Result<T, E>;
