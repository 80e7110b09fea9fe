//! Instance configuration, built in code: rro reads no config file and no environment variable.

use std::time::Duration;

use crate::runtime::PoolConfig;

/// How an instance is set up. Start from [`Config::in_memory`] and chain setters.
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

impl Config {
    /// An instance whose collections live in memory only and vanish at shutdown.
    pub fn in_memory() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Config {
            search_threads: cores.saturating_sub(1).max(1),
            update_threads: 1,
            general_threads: cores,
            request_timeout: Duration::from_secs(30),
            health_check_timeout: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(30),
            channel_capacity: 1024,
            thread_name: "rro".to_owned(),
            idle_spin: DEFAULT_IDLE_SPIN,
        }
    }

    /// Threads of the search pool (default: cores - 1, at least 1).
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
    /// [`DEFAULT_IDLE_SPIN`]); zero parks at once, for battery-powered devices.
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
        }
    }
}
