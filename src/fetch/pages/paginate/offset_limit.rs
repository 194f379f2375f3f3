//! Offset/limit pagination: `GET url?offset=K&limit=M`, K advancing by M; ends at the
//! first page with no items, and a page with fewer than M items is the last.

use url::Url;

use super::query::set_query;

/// The URL of the page starting at `offset`.
pub(crate) fn request_url(
    base: &Url,
    offset_param: &str,
    limit_param: &str,
    offset: u64,
    limit: u32,
) -> Url {
    set_query(
        base,
        &[
            (offset_param, offset.to_string()),
            (limit_param, limit.to_string()),
        ],
    )
}

/// The next offset, known before the response arrives (so pages can be fetched ahead).
pub(crate) fn following(offset: u64, limit: u32) -> Option<u64> {
    offset.checked_add(u64::from(limit))
}

/// Whether a page with `items` items is the last one.
pub(crate) fn is_last(items: usize, limit: u32) -> bool {
    items < limit as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_advance_by_the_limit() {
        let base = Url::parse("http://h/items").unwrap();
        assert_eq!(
            request_url(&base, "offset", "limit", 40, 20).as_str(),
            "http://h/items?offset=40&limit=20"
        );
        assert_eq!(
            request_url(&base, "skip", "take", 0, 5).as_str(),
            "http://h/items?skip=0&take=5"
        );
        assert_eq!(following(40, 20), Some(60));
    }

    #[test]
    fn a_short_page_is_the_last() {
        assert!(is_last(3, 20));
        assert!(!is_last(20, 20));
    }
}
