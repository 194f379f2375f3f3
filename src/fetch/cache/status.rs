//! The RFC 9211 `Cache-Status` field every answer carries while the cache is on.

/// The name this cache gives itself in `Cache-Status`.
pub(crate) const CACHE_NAME: &str = "streamgate";

/// Why a request went forward to the origin (RFC 9211 §2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fwd {
    /// The cache was not used (cache mode `no-store`, a URL remembered as uncacheable).
    Bypass,
    /// The method is not cacheable.
    Method,
    /// Nothing stored for the URL.
    UriMiss,
    /// Stored, but for other `Vary`'d headers or credentials.
    VaryMiss,
    /// The request asked for the origin (cache mode `reload`, `no-cache`).
    Request,
    /// The stored response was stale.
    Stale,
}

impl Fwd {
    fn as_str(self) -> &'static str {
        match self {
            Self::Bypass => "bypass",
            Self::Method => "method",
            Self::UriMiss => "uri-miss",
            Self::VaryMiss => "vary-miss",
            Self::Request => "request",
            Self::Stale => "stale",
        }
    }
}

/// One answer's entry in `Cache-Status`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct CacheStatus {
    /// Answered from the store without going forward (a stale answer included).
    pub(crate) hit: bool,
    pub(crate) fwd: Option<Fwd>,
    /// The status the origin answered the forwarded request with.
    pub(crate) fwd_status: Option<u16>,
    /// Seconds of freshness left (negative: stale for that long).
    pub(crate) ttl: Option<i64>,
    /// The forwarded request's response was stored.
    pub(crate) stored: bool,
    /// The answer came from another caller's identical request in flight.
    pub(crate) collapsed: bool,
    /// Why, in this cache's own words (`stale-while-revalidate`, `hit-for-miss`, ...).
    pub(crate) detail: Option<&'static str>,
}

impl CacheStatus {
    /// A hit with `ttl` seconds left.
    pub(crate) fn hit(ttl: i64) -> Self {
        Self {
            hit: true,
            ttl: Some(ttl),
            ..Self::default()
        }
    }

    /// Forwarded for `why`.
    pub(crate) fn forward(why: Fwd) -> Self {
        Self {
            fwd: Some(why),
            ..Self::default()
        }
    }

    /// The same with `detail`.
    pub(crate) fn detail(mut self, detail: &'static str) -> Self {
        self.detail = Some(detail);
        self
    }

    /// The field value, e.g. `streamgate; fwd=uri-miss; fwd-status=200; stored; collapsed`.
    pub(crate) fn header_value(&self) -> String {
        // Built with push_str and itoa, not `write!`: this runs on every answer, hits included,
        // and the formatting machinery cost more than the rest of a hit's bookkeeping.
        let mut numbers = itoa::Buffer::new();
        let mut out = String::with_capacity(64);
        out.push_str(CACHE_NAME);
        if self.hit {
            out.push_str("; hit");
        }
        if let Some(fwd) = self.fwd {
            out.push_str("; fwd=");
            out.push_str(fwd.as_str());
        }
        if let Some(status) = self.fwd_status {
            out.push_str("; fwd-status=");
            out.push_str(numbers.format(status));
        }
        if let Some(ttl) = self.ttl {
            out.push_str("; ttl=");
            out.push_str(numbers.format(ttl));
        }
        if self.stored {
            out.push_str("; stored");
        }
        if self.collapsed {
            out.push_str("; collapsed");
        }
        if let Some(detail) = self.detail {
            out.push_str("; detail=");
            out.push_str(detail);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_written_in_rfc_9211_syntax() {
        assert_eq!(
            CacheStatus::hit(30).header_value(),
            "streamgate; hit; ttl=30"
        );
        let mut miss = CacheStatus::forward(Fwd::UriMiss);
        miss.fwd_status = Some(200);
        miss.stored = true;
        miss.collapsed = true;
        assert_eq!(
            miss.header_value(),
            "streamgate; fwd=uri-miss; fwd-status=200; stored; collapsed"
        );
        assert_eq!(
            CacheStatus::forward(Fwd::Bypass)
                .detail("no-store")
                .header_value(),
            "streamgate; fwd=bypass; detail=no-store"
        );
    }
}
