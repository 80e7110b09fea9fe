//! Instance configuration, built in code: rro reads no config file and no environment variable.

use std::path::PathBuf;
use std::time::Duration;

use crate::runtime::PoolConfig;

/// When an acknowledged write reaches the disk.
///
/// Every write is appended to the write-ahead log (a `write(2)` into the operating system's
/// page cache) before it is acknowledged, so under either setting a crash of the *process*
/// (panic, `kill -9`, OOM kill) loses nothing that was acknowledged. The settings differ on
/// *power loss or a kernel crash*:
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `fdatasync` the log before a write batch is acknowledged: an acknowledged write survives
    /// power loss too (as far as the disk honours flushes). Costs one sync per batch; concurrent
    /// batches share syncs.
    Fsync,
    /// Sync the log in the background at this interval: power loss can lose the writes
    /// acknowledged during the last interval. The default, with 1 s.
    Interval(Duration),
}

impl Default for Durability {
    fn default() -> Self {
        Durability::Interval(Duration::from_secs(1))
    }
}

/// What opening a data directory does when a file fails its checksum in the middle (a torn
/// *last* record of the write-ahead log is always cut off, with a warning: it was never
/// acknowledged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnCorruption {
    /// Refuse to open, with [`StorageError::Corrupted`](crate::StorageError::Corrupted)
    /// naming the file and offset. Nothing is changed on disk. The default.
    #[default]
    Fail,
    /// Open read-only with everything before the damage; files are left untouched, so the
    /// damaged part can still be inspected or repaired, and writes get
    /// [`StorageError::ReadOnly`](crate::StorageError::ReadOnly).
    ReadOnly,
    /// Cut the write-ahead log at the damage, losing the writes logged after it (logged as a
    /// warning), and open normally. Damaged segment files still fail the open.
    TruncateWal,
}

/// How an instance is set up. Start from [`Config::new`] (a data directory) or
/// [`Config::in_memory`], and chain setters.
///
/// # Pool sizes
/// By default the search pool has a thread per core, the update pool one thread and the
/// general pool a thread per core; each setter pins a size. The rule behind the defaults:
/// - Searches may use every core when nothing else runs. Idle pool threads park, so a search
///   pool sized for the whole machine costs nothing while it waits (on a 2-core machine, a
///   search pool of cores - 1 left half the machine idle under concurrent searches).
/// - An index build never starves searches: the optimizer builds with as many tasks as the
///   update pool has threads ([`update_threads`](Config::update_threads), default 1), so a
///   build keeps at most that many threads busy, and the operating system shares the cores
///   between them and the search threads: with the defaults a build takes at most one core's
///   worth, and searches never starve a build either, since its thread keeps its share.
///
/// ```
/// use std::time::Duration;
/// let config = rro_core::Config::in_memory()
///     .search_threads(2)
///     .request_timeout(Duration::from_secs(10));
/// assert_eq!(config.default_request_timeout(), Duration::from_secs(10));
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) search_threads: usize,
    pub(crate) update_threads: usize,
    pub(crate) general_threads: usize,
    pub(crate) request_timeout: Duration,
    pub(crate) health_check_timeout: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) channel_capacity: usize,
    pub(crate) thread_name: String,
    pub(crate) idle_spin: Duration,
    pub(crate) path: Option<PathBuf>,
    pub(crate) durability: Durability,
    pub(crate) on_corruption: OnCorruption,
    pub(crate) wal_checkpoint_bytes: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config::in_memory()
    }
}

/// Default time an idle instance or pool thread keeps looking for work before it parks.
///
/// On virtual machines waking a parked thread costs tens of microseconds, more than a whole
/// request takes; a request that arrives within this window is picked up without that cost.
/// An idle instance spins this long once after each burst of work and then costs nothing.
pub const DEFAULT_IDLE_SPIN: Duration = Duration::from_micros(50);

/// Default size of write-ahead log after which a collection's writes are checkpointed into a
/// segment and the log is truncated.
pub const DEFAULT_WAL_CHECKPOINT_BYTES: u64 = 64 << 20;

impl Config {
    /// An instance that keeps its collections in the data directory `path`, created if
    /// missing. Only one instance at a time can have a directory open.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Config {
            path: Some(path.into()),
            ..Config::in_memory()
        }
    }

    /// An instance whose collections live in memory only and vanish at shutdown.
    pub fn in_memory() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Config {
            search_threads: cores,
            update_threads: 1,
            general_threads: cores,
            request_timeout: Duration::from_secs(30),
            health_check_timeout: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(30),
            channel_capacity: 1024,
            thread_name: "rro".to_owned(),
            idle_spin: DEFAULT_IDLE_SPIN,
            path: None,
            durability: Durability::default(),
            on_corruption: OnCorruption::default(),
            wal_checkpoint_bytes: DEFAULT_WAL_CHECKPOINT_BYTES,
        }
    }

    /// When acknowledged writes reach the disk (default: synced every second); see
    /// [`Durability`].
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// What to do with a damaged file at open (default: refuse to open); see
    /// [`OnCorruption`].
    pub fn on_corruption(mut self, on_corruption: OnCorruption) -> Self {
        self.on_corruption = on_corruption;
        self
    }

    /// Write-ahead log size after which a collection is checkpointed in the background
    /// (default: [`DEFAULT_WAL_CHECKPOINT_BYTES`]). Smaller means faster restarts, more
    /// segments.
    pub fn wal_checkpoint_bytes(mut self, bytes: u64) -> Self {
        self.wal_checkpoint_bytes = bytes.max(1);
        self
    }

    /// Keep the collections in the data directory `path` (what [`Config::new`] sets).
    pub fn data_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// The data directory, or `None` in memory.
    pub fn path(&self) -> Option<&std::path::Path> {
        self.path.as_deref()
    }

    /// Threads of the search pool (default: one per core). See [`Config`] for how the pools
    /// share the machine.
    pub fn search_threads(mut self, threads: usize) -> Self {
        self.search_threads = threads.max(1);
        self
    }

    /// Threads of the update pool, which runs writes and index building (default: 1).
    pub fn update_threads(mut self, threads: usize) -> Self {
        self.update_threads = threads.max(1);
        self
    }

    /// Threads of the general pool (default: cores).
    pub fn general_threads(mut self, threads: usize) -> Self {
        self.general_threads = threads.max(1);
        self
    }

    /// Default timeout of every call but health checks and shutdown (default: 30 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Timeout of [`health_check`](crate::RroClient::health_check) (default: 5 s).
    pub fn health_check_timeout(mut self, timeout: Duration) -> Self {
        self.health_check_timeout = timeout;
        self
    }

    /// How long shutdown waits for in-flight requests and the final flush (default: 30 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Capacity of the request queue (default: 1024, at least 1).
    pub fn channel_capacity(mut self, capacity: usize) -> Self {
        self.channel_capacity = capacity.max(1);
        self
    }

    /// Name of the instance thread and prefix of the pool threads (default: `rro`, giving
    /// `rro`, `rro-search-0`, ...). Useful to tell several instances apart in a profiler.
    pub fn thread_name(mut self, name: impl Into<String>) -> Self {
        self.thread_name = name.into();
        self
    }

    /// How long an idle instance or pool thread looks for work before parking (default:
    /// [`DEFAULT_IDLE_SPIN`]). While requests arrive back to back (a caller searching in a
    /// loop), threads spin longer: twice the recent gap between requests, up to 1 ms, so the
    /// next request finds them awake. Zero parks at once and turns the adaptive spin off too,
    /// for battery-powered devices.
    pub fn idle_spin(mut self, spin: Duration) -> Self {
        self.idle_spin = spin;
        self
    }

    /// The configured default request timeout.
    pub fn default_request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// The pool part of this configuration, as handed to a backend.
    pub fn pool_config(&self) -> PoolConfig {
        PoolConfig {
            search_threads: self.search_threads,
            update_threads: self.update_threads,
            general_threads: self.general_threads,
            thread_prefix: self.thread_name.clone(),
            idle_spin: self.idle_spin,
            pace: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::Pool;

    #[test]
    fn default_pools_give_searches_every_core_and_builds_one_thread() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let pools = Config::in_memory().pool_config();
        assert_eq!(pools.threads(Pool::Search), cores);
        assert_eq!(pools.threads(Pool::Update), 1);
        assert_eq!(pools.threads(Pool::General), cores);
        // Pinned sizes are kept, and never below one thread.
        let pinned = Config::in_memory()
            .search_threads(3)
            .update_threads(0)
            .pool_config();
        assert_eq!(pinned.threads(Pool::Search), 3);
        assert_eq!(pinned.threads(Pool::Update), 1);
    }
}
