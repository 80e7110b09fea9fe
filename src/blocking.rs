//! A synchronous client for callers without an executor (scripts, plain threads, FFI).
//!
//! Every call blocks the current thread until the async call completes. It refuses, with
//! [`RroError::BlockingNotAllowed`], to run where blocking would stall an executor or deadlock:
//! directly in async code driven by tokio (when the `tokio` feature is on: a worker thread, or
//! a `block_on`) or by a `futures` executor, and on one of rro's own threads. Inside tokio's
//! blocking contexts, `spawn_blocking` and `block_in_place`, it works: tokio expects blocking
//! there.
//!
//! [`BlockingClient`] has the same operations as [`RroClient`]: both are generated from one
//! list in rro-core, so an operation added to one is added to the other.
//!
//! ```
//! use rro::blocking::BlockingClient;
//! use rro::models::{Distance, VectorParams};
//!
//! let client = BlockingClient::open(rro::Config::in_memory())?;
//! client.create_collection("docs", VectorParams::new(2, Distance::Dot))?;
//! assert!(client.collection_exists("docs")?);
//! client.shutdown()?;
//! # Ok::<_, rro::RroError>(())
//! ```

use std::future::Future;
use std::time::Duration;

use crate::{Config, Result, RroClient, RroError, ShutdownReport};

/// A blocking wrapper around [`RroClient`]; cheap to clone.
#[derive(Debug, Clone)]
pub struct BlockingClient {
    client: RroClient,
}

/// Why blocking the current thread is not allowed, if it is not.
fn blocking_refused() -> Option<&'static str> {
    #[cfg(feature = "tokio")]
    if rro_tokio::blocking_would_stall_tokio() {
        return Some("called from async code on a tokio runtime (use spawn_blocking)");
    }
    if rro_core::runtime::on_rro_thread() {
        return Some("called from one of rro's own threads");
    }
    None
}

/// Run `future` to completion on this thread, unless blocking here is unsafe.
fn block_on<T>(future: impl Future<Output = Result<T>>) -> Result<T> {
    if let Some(why) = blocking_refused() {
        return Err(RroError::BlockingNotAllowed(why));
    }
    // Nested `futures` executors panic; ask first instead.
    if futures::executor::enter().is_err() {
        return Err(RroError::BlockingNotAllowed(
            "called from inside a futures executor",
        ));
    }
    futures::executor::block_on(future)
}

/// One line of an example: as written, or, marked `await`, the call with its error returned
/// (the async client's examples await it first).
macro_rules! doc_line {
    ($line:literal) => {
        concat!($line, "\n")
    };
    ($line:literal await) => {
        concat!($line, "?;\n")
    };
}

/// Hidden lines that open the doc test of a [`BlockingClient`] method: a client and collection
/// `docs` (2-d, Dot) holding point 1 = [1, 0] `{"lang": "en"}` and point 2 = [0, 1]
/// `{"lang": "de"}`; in memory for `memory`, in a temporary data directory for `disk`.
macro_rules! doc_prelude {
    (memory) => {
        doc_prelude!(@ "", "rro::Config::in_memory()")
    };
    (disk) => {
        doc_prelude!(@ "# let dir = tempfile::tempdir().unwrap();\n", "rro::Config::new(dir.path())")
    };
    (@ $dir:literal, $config:literal) => {
        concat!(
            "```\n",
            "# use rro::models::*;\n",
            "# use rro::payload;\n",
            "# use std::time::Duration;\n",
            $dir,
            "# let client = rro::blocking::BlockingClient::open(", $config, ")?;\n",
            "# client.create_collection(\"docs\", VectorParams::new(2, Distance::Dot))?;\n",
            "# client.upsert_points(\"docs\", vec![\n",
            "#     PointStruct::new(1u64, vec![1.0, 0.0]).with_payload(payload!({\"lang\": \"en\"})),\n",
            "#     PointStruct::new(2u64, vec![0.0, 1.0]).with_payload(payload!({\"lang\": \"de\"})),\n",
            "# ])?;\n",
        )
    };
}

/// Hidden lines that close a doc test opened by [`doc_prelude!`].
macro_rules! doc_epilogue {
    () => {
        "# client.shutdown()?;\n# Ok::<_, rro::RroError>(())\n```\n"
    };
}

/// Expands rro-core's operation list into blocking methods, each waiting for the async one.
macro_rules! blocking_operations {
    ($(
        $(#[doc = $doc:literal])*
        fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $output:ty $body:block
        example($fixture:ident) { $($line:literal $($await:ident)?)* }
    )*) => {$(
        $(#[doc = $doc])*
        ///
        #[doc = concat!("Blocking form of [`RroClient::", stringify!($name), "`].")]
        ///
        /// # Examples
        #[doc = concat!(doc_prelude!($fixture), $(doc_line!($line $($await)?),)* doc_epilogue!())]
        pub fn $name(&self, $($arg: $ty),*) -> Result<$output> {
            block_on(self.client.$name($($arg),*))
        }
    )*};
}

impl BlockingClient {
    /// Start an instance with `config` on the default backend (tokio if compiled in, else
    /// smol) and wrap its client; see [`crate::open`].
    ///
    /// # Examples
    #[doc = concat!(doc_prelude!(memory), "let other = rro::blocking::BlockingClient::open(rro::Config::in_memory())?;\nassert!(other.is_healthy());\nother.shutdown()?;\n", doc_epilogue!())]
    #[cfg(any(feature = "tokio", feature = "smol"))]
    pub fn open(config: Config) -> Result<BlockingClient> {
        block_on(crate::open(config)).map(BlockingClient::new)
    }

    /// Start an instance with `config` on `backend` and wrap its client; see
    /// [`RroClient::open`].
    ///
    /// # Examples
    #[doc = concat!(
        doc_prelude!(memory),
        "# #[cfg(feature = \"tokio\")] {\n",
        "let other = rro::blocking::BlockingClient::open_with(rro::Config::in_memory(), rro::TokioBackend)?;\n",
        "assert_eq!(other.backend(), \"tokio\");\n",
        "other.shutdown()?;\n",
        "# }\n",
        doc_epilogue!(),
    )]
    pub fn open_with(config: Config, backend: impl crate::Backend) -> Result<BlockingClient> {
        block_on(RroClient::open(config, backend)).map(BlockingClient::new)
    }

    /// [`open_with`](Self::open_with) for an already boxed backend; see
    /// [`RroClient::open_boxed`].
    ///
    /// # Examples
    #[doc = concat!(
        doc_prelude!(memory),
        "# #[cfg(feature = \"smol\")] {\n",
        "let backend: Box<dyn rro::Backend> = Box::new(rro::SmolBackend);\n",
        "let other = rro::blocking::BlockingClient::open_boxed(rro::Config::in_memory(), backend)?;\n",
        "assert_eq!(other.backend(), \"smol\");\n",
        "other.shutdown()?;\n",
        "# }\n",
        doc_epilogue!(),
    )]
    pub fn open_boxed(config: Config, backend: Box<dyn crate::Backend>) -> Result<BlockingClient> {
        block_on(RroClient::open_boxed(config, backend)).map(BlockingClient::new)
    }

    /// Wrap an existing async client.
    ///
    /// # Examples
    #[doc = concat!(doc_prelude!(memory), "let again = rro::blocking::BlockingClient::new(client.client().clone());\nassert_eq!(again.count_points(\"docs\")?, 2);\n", doc_epilogue!())]
    pub fn new(client: RroClient) -> BlockingClient {
        BlockingClient { client }
    }

    /// The async client underneath.
    ///
    /// # Examples
    #[doc = concat!(doc_prelude!(memory), "let count = futures::executor::block_on(client.client().count_points(\"docs\"))?;\nassert_eq!(count, 2);\n", doc_epilogue!())]
    pub fn client(&self) -> &RroClient {
        &self.client
    }

    /// A handle whose calls time out after `timeout`; see [`RroClient::with_timeout`].
    ///
    /// # Examples
    #[doc = concat!(doc_prelude!(memory), "let patient = client.with_timeout(Duration::from_secs(60));\nlet info = patient.wait_index_ready(\"docs\")?;\nassert_eq!(info.points_count, 2);\n", doc_epilogue!())]
    pub fn with_timeout(&self, timeout: Duration) -> BlockingClient {
        BlockingClient::new(self.client.with_timeout(timeout))
    }

    /// A handle whose calls fail at once when the request queue is full; see
    /// [`RroClient::fail_fast`].
    ///
    /// # Examples
    #[doc = concat!(doc_prelude!(memory), "let eager = client.fail_fast();\nassert_eq!(eager.count_points(\"docs\")?, 2);\n", doc_epilogue!())]
    pub fn fail_fast(&self) -> BlockingClient {
        BlockingClient::new(self.client.fail_fast())
    }

    /// Name of the backend running this instance; see [`RroClient::backend`].
    ///
    /// # Examples
    #[doc = concat!(doc_prelude!(memory), "assert!([\"tokio\", \"smol\"].contains(&client.backend()));\n", doc_epilogue!())]
    pub fn backend(&self) -> &'static str {
        self.client.backend()
    }

    /// Whether the instance is running and accepting requests; see [`RroClient::is_healthy`].
    ///
    /// # Examples
    #[doc = concat!(doc_prelude!(memory), "assert!(client.is_healthy());\nclient.clone().shutdown()?;\nassert!(!client.is_healthy());\n", doc_epilogue!())]
    pub fn is_healthy(&self) -> bool {
        self.client.is_healthy()
    }

    /// Send `call` and wait for its typed answer; see [`RroClient::call`]. The call types are
    /// in `rro::protocol::calls` (cargo feature `unstable-engine`).
    ///
    /// # Examples
    #[doc = concat!(
        doc_prelude!(memory),
        "# #[cfg(feature = \"unstable-engine\")] {\n",
        "let call = rro::protocol::calls::CollectionExists { name: \"docs\".into() };\n",
        "let exists: bool = client.call(call)?;\n",
        "assert!(exists);\n",
        "# }\n",
        doc_epilogue!(),
    )]
    pub fn call<C: rro_core::protocol::Call>(&self, call: C) -> Result<C::Output> {
        block_on(self.client.call(call))
    }

    /// Shut the instance down and report how it went; see [`RroClient::shutdown`].
    ///
    /// # Examples
    #[doc = concat!(doc_prelude!(memory), "let report = client.shutdown()?;\nassert!(report.is_clean());\nassert_eq!(client.count_points(\"docs\"), Err(rro::RroError::ChannelClosed));\n", doc_epilogue!())]
    pub fn shutdown(&self) -> Result<ShutdownReport> {
        block_on(self.client.shutdown())
    }

    rro_core::__rro_operations!(blocking_operations);
}
