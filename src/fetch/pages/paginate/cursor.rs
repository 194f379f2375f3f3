//! Cursor pagination: `GET url?cursor=C&limit=M`, the next cursor read from each body at an
//! RFC 6901 JSON pointer; the walk ends when it is missing, null or empty.

use serde_json::Value;
use url::Url;

use super::query::set_query;

/// The URL of the page at `cursor` (`None` for the first page, which sends no cursor).
pub(crate) fn request_url(
    base: &Url,
    cursor_param: &str,
    limit_param: &str,
    cursor: Option<&str>,
    limit: u32,
) -> Url {
    let mut params = vec![(limit_param, limit.to_string())];
    if let Some(c) = cursor {
        params.insert(0, (cursor_param, c.to_string()));
    }
    set_query(base, &params)
}

/// The next cursor in `body` at `pointer`: a non-empty string, or a number as its text.
pub(crate) fn next_cursor(body: &Value, pointer: &str) -> Option<String> {
    match body.pointer(pointer)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_first_request_has_no_cursor_and_later_ones_do() {
        let base = Url::parse("http://h/feed").unwrap();
        assert_eq!(
            request_url(&base, "cursor", "limit", None, 10).as_str(),
            "http://h/feed?limit=10"
        );
        assert_eq!(
            request_url(&base, "after", "limit", Some("a b"), 10).as_str(),
            "http://h/feed?after=a+b&limit=10"
        );
    }

    #[test]
    fn the_cursor_is_read_by_pointer_and_missing_null_or_empty_ends() {
        let body = json!({"meta": {"next": "abc"}, "n": 7, "e": "", "z": null});
        assert_eq!(next_cursor(&body, "/meta/next"), Some("abc".into()));
        assert_eq!(next_cursor(&body, "/n"), Some("7".into()));
        assert_eq!(next_cursor(&body, "/e"), None);
        assert_eq!(next_cursor(&body, "/z"), None);
        assert_eq!(next_cursor(&body, "/absent"), None);
    }
}
