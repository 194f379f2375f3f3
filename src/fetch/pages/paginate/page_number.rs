//! Page-number pagination, the default style: `GET url?page=N&size=M`, N counting up from
//! `start_page`, ending at the first page with no items or a 404 past the last page (APIs
//! differ on which of the two they answer past the end, so both end the walk).

use url::Url;

use super::query::set_query;

/// The URL of page `page` with `size` items per page.
pub(crate) fn request_url(
    base: &Url,
    page_param: &str,
    size_param: &str,
    page: u64,
    size: u32,
) -> Url {
    set_query(
        base,
        &[
            (page_param, page.to_string()),
            (size_param, size.to_string()),
        ],
    )
}

/// Page-number pagination knows every next request in advance.
pub(crate) fn following(page: u64) -> Option<u64> {
    page.checked_add(1)
}

/// Whether a response ends the walk without a page: a 404 (past the last page) or no items.
pub(crate) fn is_end(status: u16, item_count: Option<usize>) -> bool {
    status == 404 || item_count == Some(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_and_size_replace_existing_parameters_and_keep_others() {
        let base = Url::parse("http://h/users?size=5&filter=a").unwrap();
        let u = request_url(&base, "page", "size", 3, 20);
        assert_eq!(u.as_str(), "http://h/users?filter=a&page=3&size=20");
    }

    #[test]
    fn the_next_page_is_one_more_and_empty_or_404_ends() {
        assert_eq!(following(1), Some(2));
        assert_eq!(following(u64::MAX), None);
        assert!(is_end(404, None));
        assert!(is_end(200, Some(0)));
        assert!(!is_end(200, Some(3)));
    }
}
