//! Pagination strategies: for each style, "the next request from this response" as plain
//! functions (one file per style), and [`Paging`], which applies the chosen one. Nothing here
//! does I/O; the page driver (`pages/driver.rs`) drives it.

mod cursor;
mod link_header;
mod offset_limit;
mod page_number;
mod query;

use http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

use crate::fetch::error::FetchError;

/// How a collection is walked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Style {
    /// `?page=N&size=M`.
    PageNumber,
    /// `?offset=K&limit=M`.
    OffsetLimit,
    /// `?cursor=C&limit=M`, C read from the previous body.
    Cursor,
    /// RFC 8288 `Link: <...>; rel="next"`.
    LinkHeader,
}

/// The query parameter names a style uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ParamNames {
    /// Page number parameter (`page`).
    pub(crate) page: String,
    /// Page size parameter of the page-number style (`size`).
    pub(crate) size: String,
    /// Offset parameter (`offset`).
    pub(crate) offset: String,
    /// Limit parameter of the offset and cursor styles (`limit`).
    pub(crate) limit: String,
    /// Cursor parameter (`cursor`).
    pub(crate) cursor: String,
}

impl Default for ParamNames {
    fn default() -> Self {
        Self {
            page: "page".into(),
            size: "size".into(),
            offset: "offset".into(),
            limit: "limit".into(),
            cursor: "cursor".into(),
        }
    }
}

/// Where in a collection a request points; also what a resume token carries.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) enum Position {
    /// A page number.
    Page(u64),
    /// An item offset.
    Offset(u64),
    /// A cursor; `None` is the first page.
    Cursor(Option<String>),
    /// The URL of the page (first URL, then each `rel="next"`).
    Link(String),
}

/// What one successful upstream response means for the walk.
#[derive(Debug, PartialEq)]
pub(crate) enum Step {
    /// The collection has ended; this response is not a page.
    End,
    /// A page, and where the next one is (`None`: this is the last).
    Page {
        /// The page's items.
        items: Vec<Value>,
        /// The next page's position.
        next: Option<Position>,
    },
}

/// A validated description of how to walk one collection.
#[derive(Clone, Debug)]
pub(crate) struct Paging {
    /// The chosen style.
    pub(crate) style: Style,
    /// The collection's URL.
    pub(crate) base: Url,
    /// Items per page asked of the API.
    pub(crate) page_size: u32,
    /// Query parameter names.
    pub(crate) names: ParamNames,
    /// RFC 6901 pointer to the items array ("" = the body).
    pub(crate) items_pointer: String,
    /// RFC 6901 pointer to the next cursor (cursor style).
    pub(crate) cursor_pointer: String,
}

impl Paging {
    /// Where the walk starts when no resume token is given.
    pub(crate) fn first_position(&self, start_page: u64) -> Position {
        match self.style {
            Style::PageNumber => Position::Page(start_page),
            Style::OffsetLimit => Position::Offset(0),
            Style::Cursor => Position::Cursor(None),
            Style::LinkHeader => Position::Link(self.base.to_string()),
        }
    }

    /// Whether the next position is known before the response (so pages can run ahead).
    pub(crate) fn known_ahead(&self) -> bool {
        matches!(self.style, Style::PageNumber | Style::OffsetLimit)
    }

    /// The position after `pos` for styles that know it in advance.
    pub(crate) fn following(&self, pos: &Position) -> Option<Position> {
        match pos {
            Position::Page(n) => page_number::following(*n).map(Position::Page),
            Position::Offset(k) => {
                offset_limit::following(*k, self.page_size).map(Position::Offset)
            }
            Position::Cursor(_) | Position::Link(_) => None,
        }
    }

    /// The request URL for `pos`. A position of another style (only possible through a
    /// forged token, which the MAC rules out) falls back to the collection's URL.
    pub(crate) fn request_url(&self, pos: &Position) -> Url {
        let n = &self.names;
        match pos {
            Position::Page(p) => {
                page_number::request_url(&self.base, &n.page, &n.size, *p, self.page_size)
            }
            Position::Offset(k) => {
                offset_limit::request_url(&self.base, &n.offset, &n.limit, *k, self.page_size)
            }
            Position::Cursor(c) => cursor::request_url(
                &self.base,
                &n.cursor,
                &n.limit,
                c.as_deref(),
                self.page_size,
            ),
            Position::Link(u) => Url::parse(u).unwrap_or_else(|_| self.base.clone()),
        }
    }

    /// What a response means: the end, or a page and the next position. `url` is the
    /// response's final URL (relative `Link` targets resolve against it). Statuses other
    /// than 2xx (and 404 for page numbers) must be handled by the caller first.
    pub(crate) fn interpret(
        &self,
        pos: &Position,
        status: u16,
        headers: &HeaderMap,
        url: &Url,
        body: &[u8],
    ) -> Result<Step, FetchError> {
        if self.style == Style::PageNumber && page_number::is_end(status, None) {
            return Ok(Step::End);
        }
        if !(200..300).contains(&status) {
            return Err(FetchError::BadPage(format!(
                "upstream answered HTTP {status}"
            )));
        }
        let mut body: Value = serde_json::from_slice(body)
            .map_err(|e| FetchError::BadPage(format!("the body is not JSON ({e})")))?;
        let next_cursor = match self.style {
            Style::Cursor => cursor::next_cursor(&body, &self.cursor_pointer),
            _ => None,
        };
        let items = take_items(&mut body, &self.items_pointer)?;
        let outcome = match (self.style, pos) {
            (Style::PageNumber, Position::Page(_))
                if page_number::is_end(status, Some(items.len())) =>
            {
                Step::End
            }
            (Style::OffsetLimit, _) if items.is_empty() => Step::End,
            (Style::OffsetLimit, _) => {
                let next = if offset_limit::is_last(items.len(), self.page_size) {
                    None
                } else {
                    self.following(pos)
                };
                Step::Page { items, next }
            }
            (Style::Cursor, _) if items.is_empty() && next_cursor.is_none() => Step::End,
            (Style::Cursor, _) => Step::Page {
                items,
                next: next_cursor.map(|c| Position::Cursor(Some(c))),
            },
            (Style::LinkHeader, _) => {
                let next =
                    link_header::next_link(headers, url).map(|u| Position::Link(u.to_string()));
                if items.is_empty() && next.is_none() {
                    Step::End
                } else {
                    Step::Page { items, next }
                }
            }
            (Style::PageNumber, _) => Step::Page {
                next: self.following(pos),
                items,
            },
        };
        Ok(outcome)
    }
}

/// Moves the array at `pointer` out of `body`.
fn take_items(body: &mut Value, pointer: &str) -> Result<Vec<Value>, FetchError> {
    match body.pointer_mut(pointer).map(Value::take) {
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(FetchError::BadPage(format!(
            "items_pointer {pointer:?} points at {}, not an array",
            kind(&other)
        ))),
        None => Err(FetchError::BadPage(format!(
            "items_pointer {pointer:?} points at nothing in the body"
        ))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paging(style: Style) -> Paging {
        Paging {
            style,
            base: Url::parse("http://h/c").unwrap(),
            page_size: 2,
            names: ParamNames::default(),
            items_pointer: "/data".into(),
            cursor_pointer: "/next".into(),
        }
    }

    fn run(p: &Paging, pos: &Position, status: u16, body: Value) -> Result<Step, FetchError> {
        let url = p.request_url(pos);
        p.interpret(
            pos,
            status,
            &HeaderMap::new(),
            &url,
            body.to_string().as_bytes(),
        )
    }

    #[test]
    fn page_numbers_continue_until_an_empty_page_or_404() {
        let p = paging(Style::PageNumber);
        let pos = Position::Page(1);
        let out = run(&p, &pos, 200, json!({"data": [1, 2]})).unwrap();
        assert_eq!(
            out,
            Step::Page {
                items: vec![json!(1), json!(2)],
                next: Some(Position::Page(2))
            }
        );
        assert_eq!(run(&p, &pos, 200, json!({"data": []})).unwrap(), Step::End);
        assert_eq!(run(&p, &pos, 404, json!("gone")).unwrap(), Step::End);
    }

    #[test]
    fn offsets_end_at_a_short_page() {
        let p = paging(Style::OffsetLimit);
        let full = run(&p, &Position::Offset(4), 200, json!({"data": [1, 2]})).unwrap();
        assert_eq!(
            full,
            Step::Page {
                items: vec![json!(1), json!(2)],
                next: Some(Position::Offset(6))
            }
        );
        let short = run(&p, &Position::Offset(6), 200, json!({"data": [3]})).unwrap();
        assert_eq!(
            short,
            Step::Page {
                items: vec![json!(3)],
                next: None
            }
        );
    }

    #[test]
    fn cursors_come_from_the_body() {
        let p = paging(Style::Cursor);
        let out = run(
            &p,
            &Position::Cursor(None),
            200,
            json!({"data": [1], "next": "c2"}),
        )
        .unwrap();
        assert_eq!(
            out,
            Step::Page {
                items: vec![json!(1)],
                next: Some(Position::Cursor(Some("c2".into())))
            }
        );
        let last = run(
            &p,
            &Position::Cursor(None),
            200,
            json!({"data": [1], "next": null}),
        )
        .unwrap();
        assert_eq!(
            last,
            Step::Page {
                items: vec![json!(1)],
                next: None
            }
        );
    }

    #[test]
    fn bad_bodies_and_pointers_are_bad_pages() {
        let p = paging(Style::PageNumber);
        let pos = Position::Page(1);
        let url = p.request_url(&pos);
        let err = p
            .interpret(&pos, 200, &HeaderMap::new(), &url, b"<html>")
            .unwrap_err();
        assert!(err.to_string().contains("not JSON"), "{err}");
        let err = run(&p, &pos, 200, json!({"data": {"a": 1}})).unwrap_err();
        assert!(err.to_string().contains("an object"), "{err}");
        let err = run(&p, &pos, 200, json!({"other": []})).unwrap_err();
        assert!(err.to_string().contains("nothing"), "{err}");
        let err = run(&p, &pos, 401, json!({})).unwrap_err();
        assert!(err.to_string().contains("401"), "{err}");
    }
}
