//! RFC 8288 `Link` header pagination: follow `<uri>; rel="next"` until there is none.
//!
//! The parser handles several `Link` fields, several comma-separated links per field,
//! quoted parameter values (with commas, semicolons and escapes inside), relation lists
//! (`rel="next last"`, RFC 8288 §3.3), case-insensitive relation names, and references
//! relative to the response's URL (§3.1).

use http::HeaderMap;
use http::header::LINK;
use url::Url;

/// The `rel="next"` target of `headers`, resolved against `base` (the response's URL).
pub(crate) fn next_link(headers: &HeaderMap, base: &Url) -> Option<Url> {
    headers
        .get_all(LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(parse_links)
        .find(|(_, rels)| rels.iter().any(|r| r.eq_ignore_ascii_case("next")))
        .and_then(|(target, _)| base.join(&target).ok())
}

/// Each link in one `Link` field value: its target and its relation types.
fn parse_links(value: &str) -> Vec<(String, Vec<String>)> {
    let mut links = Vec::new();
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
        let Some(after_lt) = rest.strip_prefix('<') else {
            return links;
        };
        let Some(end) = after_lt.find('>') else {
            return links;
        };
        let target = after_lt[..end].trim().to_string();
        rest = &after_lt[end + 1..];
        let mut rels = Vec::new();
        // Parameters: `; name=value` or `; name="quoted"` until the next `,` or the end.
        loop {
            rest = rest.trim_start();
            let Some(after_semi) = rest.strip_prefix(';') else {
                break;
            };
            rest = after_semi.trim_start();
            let name_end = rest.find(['=', ';', ',']).unwrap_or(rest.len());
            let name = rest[..name_end].trim().to_ascii_lowercase();
            rest = &rest[name_end..];
            let mut value = String::new();
            if let Some(after_eq) = rest.strip_prefix('=') {
                rest = after_eq.trim_start();
                if let Some(quoted) = rest.strip_prefix('"') {
                    let mut chars = quoted.char_indices();
                    let mut consumed = quoted.len();
                    while let Some((i, c)) = chars.next() {
                        match c {
                            '\\' => {
                                if let Some((_, esc)) = chars.next() {
                                    value.push(esc);
                                }
                            }
                            '"' => {
                                consumed = i + 1;
                                break;
                            }
                            c => value.push(c),
                        }
                    }
                    rest = &quoted[consumed..];
                } else {
                    let end = rest.find([';', ',']).unwrap_or(rest.len());
                    value = rest[..end].trim().to_string();
                    rest = &rest[end..];
                }
            }
            if name == "rel" && rels.is_empty() {
                // RFC 8288 §3.3: only the first rel parameter counts.
                rels = value.split_whitespace().map(str::to_string).collect();
            }
        }
        links.push((target, rels));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(LINK, v.parse().unwrap());
        }
        h
    }

    fn next(values: &[&str]) -> Option<String> {
        let base = Url::parse("http://h/api/items?page=1").unwrap();
        next_link(&headers(values), &base).map(|u| u.to_string())
    }

    #[test]
    fn the_next_link_is_found_among_others() {
        assert_eq!(
            next(&[
                r#"<http://h/api/items?page=2>; rel="next", <http://h/api/items?page=9>; rel="last""#
            ]),
            Some("http://h/api/items?page=2".into())
        );
        assert_eq!(
            next(&[
                r#"<http://h/p?x=9>; rel="last""#,
                r#"<http://h/p?x=3>; rel=next"#
            ]),
            Some("http://h/p?x=3".into())
        );
    }

    #[test]
    fn relative_targets_resolve_against_the_response_url() {
        assert_eq!(
            next(&["</api/items?page=2>; rel=\"next\""]),
            Some("http://h/api/items?page=2".into())
        );
        assert_eq!(
            next(&["<items?page=3>; rel=\"next\""]),
            Some("http://h/api/items?page=3".into())
        );
    }

    #[test]
    fn relation_lists_case_and_quoted_commas_are_understood() {
        assert_eq!(
            next(&[r#"<http://h/a>; title="a, b; c"; rel="prev", <http://h/b>; rel="NEXT last""#]),
            Some("http://h/b".into())
        );
        assert_eq!(
            next(&[r#"<http://h/a>; title="say \"next\""; rel="prev""#]),
            None
        );
    }

    proptest::proptest! {
        #[test]
        fn fuzz_any_link_header_value_parses_without_panic(raw in proptest::prelude::any::<String>()) {
            let base = Url::parse("http://h/api/items?page=1").unwrap();
            if let Ok(v) = http::HeaderValue::from_str(&raw) {
                let mut h = HeaderMap::new();
                h.append(LINK, v);
                let _ = next_link(&h, &base);
            }
        }

        #[test]
        fn fuzz_the_next_link_is_found_among_generated_others(
            before in proptest::collection::vec(("[a-z0-9/?=&]{0,12}", "(prev|last|first|self)"), 0..4),
            target in "[a-z0-9]{1,12}",
            after in proptest::collection::vec(("[a-z0-9/?=&]{0,12}", "(prev|last)"), 0..4),
            quoted in proptest::bool::ANY,
        ) {
            let link = |t: &str, rel: &str| format!("<http://h/{t}>; rel=\"{rel}\"");
            let mut parts: Vec<String> = before.iter().map(|(t, r)| link(t, r)).collect();
            parts.push(if quoted { link(&target, "next") } else { format!("<http://h/{target}>; rel=next") });
            parts.extend(after.iter().map(|(t, r)| link(t, r)));
            let found = next(&[parts.join(", ").as_str()]);
            proptest::prop_assert_eq!(found, Some(format!("http://h/{target}")));
        }
    }

    #[test]
    fn no_next_relation_ends_the_walk() {
        assert_eq!(next(&[]), None);
        assert_eq!(next(&[r#"<http://h/a>; rel="prev""#]), None);
        assert_eq!(next(&["garbage"]), None);
    }
}
