//! Fetch and ListPages: the shared HTTP client's limits and the pagination driver's.

use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use std::time::Duration;

use clap::Args;

use super::{ConfigError, at_least_one, longer_than_zero};

/// The largest request body a Fetch may be configured to send. The whole Fetch message is
/// held in memory while it is decoded, so the flag is bounded well inside what one process
/// should hold for one call.
pub(super) const MAX_REQUEST_BYTES_LIMIT: usize = 1 << 30;

/// What a FetchRequest carries besides its body (URL, headers, options): the gRPC decode
/// limit is the body cap plus this much, so a body right at the cap still fits.
const REQUEST_ENVELOPE_BYTES: usize = 256 << 10;

/// Size of the shared HTTP cache when no flag names one: off, so nobody gets stored answers
/// without asking for them.
pub(super) const DEFAULT_CACHE_BYTES: u64 = 0;

/// Largest single response the cache stores: 1 MiB, the default body cap, so every answer a
/// default call can get is cacheable while one large body cannot push out thousands of small ones.
pub(super) const DEFAULT_CACHE_MAX_ENTRY_BYTES: NonZeroU64 = NonZeroU64::new(1 << 20).unwrap();

/// How long a coalesced request waits for the one in flight before it goes upstream itself:
/// nginx's `proxy_cache_lock_timeout` default.
pub(super) const DEFAULT_CACHE_LOCK_TIMEOUT: &str = "5s";

/// Calls that may wait on one in-flight request: enough for a fleet warming up at once (the
/// issue's 1,000 replicas), small enough that one key cannot hold every call of the server.
pub(super) const DEFAULT_CACHE_MAX_WAITERS: NonZeroUsize = NonZeroUsize::new(4_096).unwrap();

/// How long a key whose answer proved uncacheable skips coalescing (hit-for-miss): Varnish's
/// default of two minutes.
pub(super) const DEFAULT_CACHE_HIT_FOR_MISS: &str = "2m";

/// 64 upstream requests in flight: enough to keep a 2-core server busy on upstream latency, few
/// enough that a slow upstream cannot pin thousands of sockets.
pub(super) const DEFAULT_FETCH_MAX_CONCURRENCY: NonZeroUsize = NonZeroUsize::new(64).unwrap();

/// Half the global limit, so one slow host can never take every slot from the others.
pub(super) const DEFAULT_FETCH_MAX_PER_HOST: NonZeroUsize = NonZeroUsize::new(32).unwrap();

/// A thousand queued calls: a burst of ten seconds at 100 calls/s waits instead of failing, while
/// the queue cannot grow without bound.
pub(super) const DEFAULT_FETCH_MAX_QUEUE: NonZeroUsize = NonZeroUsize::new(1_000).unwrap();

/// The same as the default request timeout: a call waits for a slot no longer than it would wait
/// for its answer.
pub(super) const DEFAULT_FETCH_QUEUE_TIMEOUT: &str = "30s";

/// Long enough for a TCP+TLS handshake across continents with one SYN retransmit (3 s), short
/// enough to fail over.
pub(super) const DEFAULT_FETCH_CONNECT_TIMEOUT: &str = "5s";

/// The common HTTP client default (nginx `proxy_read_timeout` is 60 s, browsers give up later); a
/// request that names none gets this.
pub(super) const DEFAULT_FETCH_TIMEOUT: &str = "30s";

/// Longest a caller may ask for: a slow export finishes, a forgotten call does not hold a slot for
/// ever.
pub(super) const DEFAULT_FETCH_MAX_TIMEOUT: &str = "5m";

/// 1 MiB: every ordinary API answer fits, and 64 calls at the cap hold 64 MiB at most.
pub(super) const DEFAULT_FETCH_DEFAULT_BODY_BYTES: NonZeroU64 = NonZeroU64::new(1 << 20).unwrap();

/// 16 MiB: the largest body one gRPC answer should carry whole (larger ones belong in a stream).
pub(super) const DEFAULT_FETCH_MAX_BODY_BYTES: u64 = 16 << 20;

/// 4 MiB: gRPC's own default message limit, so no client needs a setting to send what the server
/// accepts.
pub(super) const DEFAULT_FETCH_MAX_REQUEST_BYTES: NonZeroUsize =
    NonZeroUsize::new(4 << 20).unwrap();

/// Five hops, as curl suggests for APIs: real redirect chains are one or two, loops end fast.
pub(super) const DEFAULT_FETCH_MAX_REDIRECTS: usize = 5;

/// Eight pages read ahead of the caller: enough to hide upstream latency, bounded so a slow reader
/// holds little.
pub(super) const DEFAULT_PAGES_MAX_PREFETCH: NonZeroU32 = NonZeroU32::new(8).unwrap();

/// Three retries, as the AWS SDKs do: rides out a restart of the upstream without hammering it.
pub(super) const DEFAULT_PAGES_MAX_ATTEMPTS: NonZeroU32 = NonZeroU32::new(4).unwrap();

/// 100 ms doubling: the retries of one page span about a second before the last one.
pub(super) const DEFAULT_PAGES_RETRY_BASE: &str = "100ms";

/// No single wait (a `Retry-After` included) longer than a caller would sit through.
pub(super) const DEFAULT_PAGES_RETRY_MAX: &str = "10s";

/// The Fetch flags.
#[derive(Clone, Debug, Args)]
pub struct FetchArgs {
    /// Let Fetch and ListPages reach loopback, private, link-local and unique-local addresses.
    #[arg(
        long,
        env = "STREAMGATE_ALLOW_PRIVATE_NETWORKS",
        default_value_t = false
    )]
    pub allow_private_networks: bool,

    /// Upstream HTTP requests in flight at once across all calls (queued calls wait, bounded
    /// by their deadline).
    #[arg(
        long = "fetch-max-concurrency",
        env = "STREAMGATE_FETCH_MAX_CONCURRENCY",
        default_value_t = DEFAULT_FETCH_MAX_CONCURRENCY,
        value_parser = at_least_one::<NonZeroUsize>
    )]
    pub max_concurrency: NonZeroUsize,

    /// Upstream HTTP requests in flight at once to one host.
    #[arg(
        long = "fetch-max-per-host",
        env = "STREAMGATE_FETCH_MAX_PER_HOST",
        default_value_t = DEFAULT_FETCH_MAX_PER_HOST,
        value_parser = at_least_one::<NonZeroUsize>
    )]
    pub max_per_host: NonZeroUsize,

    /// Calls waiting for an upstream slot at once (across all hosts); a call that would wait
    /// beyond it gets RESOURCE_EXHAUSTED at once, so a flood of calls cannot pile up memory
    /// in the queue.
    #[arg(
        long = "fetch-max-queue",
        env = "STREAMGATE_FETCH_MAX_QUEUE",
        default_value_t = DEFAULT_FETCH_MAX_QUEUE,
        value_parser = at_least_one::<NonZeroUsize>
    )]
    pub max_queue: NonZeroUsize,

    /// Longest a call may wait in the concurrency queue before RESOURCE_EXHAUSTED.
    #[arg(long = "fetch-queue-timeout", env = "STREAMGATE_FETCH_QUEUE_TIMEOUT", value_parser = humantime::parse_duration, default_value = DEFAULT_FETCH_QUEUE_TIMEOUT)]
    pub queue_timeout: Duration,

    /// TCP/TLS connect timeout for upstream hosts.
    #[arg(long = "fetch-connect-timeout", env = "STREAMGATE_FETCH_CONNECT_TIMEOUT", value_parser = longer_than_zero, default_value = DEFAULT_FETCH_CONNECT_TIMEOUT)]
    pub connect_timeout: Duration,

    /// Whole-request timeout when the request names none.
    #[arg(long = "fetch-timeout", env = "STREAMGATE_FETCH_TIMEOUT", value_parser = longer_than_zero, default_value = DEFAULT_FETCH_TIMEOUT)]
    pub timeout: Duration,

    /// Longest whole-request timeout a request may ask for.
    #[arg(long = "fetch-max-timeout", env = "STREAMGATE_FETCH_MAX_TIMEOUT", value_parser = longer_than_zero, default_value = DEFAULT_FETCH_MAX_TIMEOUT)]
    pub max_timeout: Duration,

    /// Response body cap when the request names none (bytes).
    #[arg(
        long = "fetch-default-body-bytes",
        env = "STREAMGATE_FETCH_DEFAULT_BODY_BYTES",
        default_value_t = DEFAULT_FETCH_DEFAULT_BODY_BYTES,
        value_parser = at_least_one::<NonZeroU64>
    )]
    pub default_body_bytes: NonZeroU64,

    /// Largest response body cap a request may ask for (bytes).
    #[arg(
        long = "fetch-max-body-bytes",
        env = "STREAMGATE_FETCH_MAX_BODY_BYTES",
        default_value_t = DEFAULT_FETCH_MAX_BODY_BYTES
    )]
    pub max_body_bytes: u64,

    /// Largest request body a Fetch may send (bytes; at most 1 GiB). The gRPC message limit
    /// of FetchService follows it.
    #[arg(
        long = "fetch-max-request-bytes",
        env = "STREAMGATE_FETCH_MAX_REQUEST_BYTES",
        default_value_t = DEFAULT_FETCH_MAX_REQUEST_BYTES,
        value_parser = at_least_one::<NonZeroUsize>
    )]
    pub max_request_bytes: NonZeroUsize,

    /// Redirects followed per request (each target passes the guard first).
    #[arg(
        long = "fetch-max-redirects",
        env = "STREAMGATE_FETCH_MAX_REDIRECTS",
        default_value_t = DEFAULT_FETCH_MAX_REDIRECTS
    )]
    pub max_redirects: usize,

    /// Bytes of responses the shared HTTP cache of Fetch and ListPages holds (bodies, headers
    /// and bookkeeping); 0 = no cache and no coalescing.
    #[arg(
        long = "fetch-cache-bytes",
        env = "STREAMGATE_FETCH_CACHE_BYTES",
        default_value_t = DEFAULT_CACHE_BYTES
    )]
    pub cache_bytes: u64,

    /// Largest single response the cache stores (bytes); larger ones are passed through.
    #[arg(
        long = "fetch-cache-max-entry-bytes",
        env = "STREAMGATE_FETCH_CACHE_MAX_ENTRY_BYTES",
        default_value_t = DEFAULT_CACHE_MAX_ENTRY_BYTES,
        value_parser = at_least_one::<NonZeroU64>
    )]
    pub cache_max_entry_bytes: NonZeroU64,

    /// Longest a call waits on an identical request already in flight before it goes upstream
    /// itself.
    #[arg(long = "fetch-cache-lock-timeout", env = "STREAMGATE_FETCH_CACHE_LOCK_TIMEOUT", value_parser = longer_than_zero, default_value = DEFAULT_CACHE_LOCK_TIMEOUT)]
    pub cache_lock_timeout: Duration,

    /// Calls that may wait on one request in flight; one more goes upstream itself.
    #[arg(
        long = "fetch-cache-max-waiters",
        env = "STREAMGATE_FETCH_CACHE_MAX_WAITERS",
        default_value_t = DEFAULT_CACHE_MAX_WAITERS,
        value_parser = at_least_one::<NonZeroUsize>
    )]
    pub cache_max_waiters: NonZeroUsize,

    /// How long a URL whose answer proved uncacheable is sent upstream without coalescing.
    #[arg(long = "fetch-cache-hit-for-miss", env = "STREAMGATE_FETCH_CACHE_HIT_FOR_MISS", value_parser = humantime::parse_duration, default_value = DEFAULT_CACHE_HIT_FOR_MISS)]
    pub cache_hit_for_miss: Duration,
}

/// The ListPages flags.
#[derive(Clone, Debug, Args)]
pub struct PagesArgs {
    /// Largest `prefetch` a ListPages call may ask for.
    #[arg(
        long = "pages-max-prefetch",
        env = "STREAMGATE_PAGES_MAX_PREFETCH",
        default_value_t = DEFAULT_PAGES_MAX_PREFETCH,
        value_parser = at_least_one::<NonZeroU32>
    )]
    pub max_prefetch: NonZeroU32,

    /// Attempts per page on 429/502/503/504 and connection errors (first try included).
    #[arg(
        long = "pages-max-attempts",
        env = "STREAMGATE_PAGES_MAX_ATTEMPTS",
        default_value_t = DEFAULT_PAGES_MAX_ATTEMPTS,
        value_parser = at_least_one::<NonZeroU32>
    )]
    pub max_attempts: NonZeroU32,

    /// First retry backoff; doubles per attempt, with jitter.
    #[arg(long = "pages-retry-base", env = "STREAMGATE_PAGES_RETRY_BASE", value_parser = humantime::parse_duration, default_value = DEFAULT_PAGES_RETRY_BASE)]
    pub retry_base: Duration,

    /// Longest single retry wait, `Retry-After` included.
    #[arg(long = "pages-retry-max", env = "STREAMGATE_PAGES_RETRY_MAX", value_parser = humantime::parse_duration, default_value = DEFAULT_PAGES_RETRY_MAX)]
    pub retry_max: Duration,

    /// Secret that signs ListPages resume tokens, so replicas sharing it accept each other's
    /// tokens; unset = a random key per process.
    #[arg(long, env = "STREAMGATE_PAGE_TOKEN_KEY", hide_env_values = true)]
    pub page_token_key: Option<String>,
}

/// The checked settings of FetchService (both RPCs).
#[derive(Clone, Debug)]
pub struct FetchSettings {
    /// Whether loopback, private, link-local and unique-local targets are allowed.
    pub allow_private_networks: bool,
    /// Upstream requests in flight at once.
    pub max_concurrency: NonZeroUsize,
    /// Upstream requests in flight at once to one host.
    pub max_per_host: NonZeroUsize,
    /// Calls waiting for a slot at once.
    pub max_queue: NonZeroUsize,
    /// Longest wait for a slot.
    pub queue_timeout: Duration,
    /// Upstream connect timeout (non-zero).
    pub connect_timeout: Duration,
    /// Whole-request timeout when the request names none (non-zero, ≤ `max_timeout`).
    pub timeout: Duration,
    /// Longest whole-request timeout a request may ask for.
    pub max_timeout: Duration,
    /// Response body cap when the request names none (1 ≤ it ≤ `max_body_bytes`).
    pub default_body_bytes: u64,
    /// Largest response body cap a request may ask for.
    pub max_body_bytes: u64,
    /// Largest request body (1 ≤ it ≤ [`MAX_REQUEST_BYTES_LIMIT`]).
    pub max_request_bytes: usize,
    /// Redirects followed per request.
    pub max_redirects: usize,
    /// ListPages.
    pub pages: PagesSettings,
    /// The shared HTTP cache and request coalescing.
    pub cache: CacheSettings,
}

/// The checked settings of the shared HTTP cache (src/fetch/cache/).
#[derive(Clone, Debug)]
pub struct CacheSettings {
    /// Bytes the cache holds; 0 = off.
    pub bytes: u64,
    /// Largest response stored (1 ≤ it).
    pub max_entry_bytes: u64,
    /// Longest wait on a request in flight before going upstream alone (non-zero).
    pub lock_timeout: Duration,
    /// Calls that may wait on one request in flight.
    pub max_waiters: NonZeroUsize,
    /// How long an uncacheable key skips coalescing.
    pub hit_for_miss: Duration,
}

impl CacheSettings {
    /// Whether the cache (and coalescing) is on.
    pub fn enabled(&self) -> bool {
        self.bytes > 0
    }
}

impl FetchSettings {
    /// FetchService's gRPC decode limit: the request body cap plus room for the rest of the
    /// message, so `--fetch-max-request-bytes` (not tonic's 4 MiB default) decides.
    pub fn max_message_bytes(&self) -> usize {
        self.max_request_bytes + REQUEST_ENVELOPE_BYTES
    }
}

/// The checked settings of ListPages.
#[derive(Clone, Debug)]
pub struct PagesSettings {
    /// Largest `prefetch` a call may ask for.
    pub max_prefetch: NonZeroU32,
    /// Attempts per page, the first included.
    pub max_attempts: NonZeroU32,
    /// First retry backoff.
    pub retry_base: Duration,
    /// Longest single retry wait.
    pub retry_max: Duration,
    /// The resume-token signing secret, when one is configured.
    pub page_token_key: Option<String>,
}

impl FetchArgs {
    pub(super) fn settings(&self, pages: &PagesArgs) -> Result<FetchSettings, ConfigError> {
        if self.default_body_bytes.get() > self.max_body_bytes {
            return Err(ConfigError(format!(
                "--fetch-default-body-bytes ({}) must not exceed --fetch-max-body-bytes ({})",
                self.default_body_bytes, self.max_body_bytes
            )));
        }
        let max_request_bytes = self.max_request_bytes.get();
        if max_request_bytes > MAX_REQUEST_BYTES_LIMIT {
            return Err(ConfigError(format!(
                "--fetch-max-request-bytes ({max_request_bytes}) must not exceed {MAX_REQUEST_BYTES_LIMIT}"
            )));
        }
        let (timeout, max_timeout) = (self.timeout, self.max_timeout);
        if timeout > max_timeout {
            return Err(ConfigError(
                "--fetch-timeout must not exceed --fetch-max-timeout".into(),
            ));
        }
        Ok(FetchSettings {
            allow_private_networks: self.allow_private_networks,
            max_concurrency: self.max_concurrency,
            max_per_host: self.max_per_host,
            max_queue: self.max_queue,
            queue_timeout: self.queue_timeout,
            connect_timeout: self.connect_timeout,
            timeout,
            max_timeout,
            default_body_bytes: self.default_body_bytes.get(),
            max_body_bytes: self.max_body_bytes,
            max_request_bytes,
            max_redirects: self.max_redirects,
            pages: pages.settings()?,
            cache: CacheSettings {
                bytes: self.cache_bytes,
                max_entry_bytes: self.cache_max_entry_bytes.get(),
                lock_timeout: self.cache_lock_timeout,
                max_waiters: self.cache_max_waiters,
                hit_for_miss: self.cache_hit_for_miss,
            },
        })
    }
}

impl PagesArgs {
    fn settings(&self) -> Result<PagesSettings, ConfigError> {
        Ok(PagesSettings {
            max_prefetch: self.max_prefetch,
            max_attempts: self.max_attempts,
            retry_base: self.retry_base,
            retry_max: self.retry_max,
            page_token_key: self.page_token_key.clone(),
        })
    }
}
