//! The one query-string edit every style makes: set the style's parameters on the
//! collection's URL.

use url::Url;

/// `base` with each `(name, value)` set, replacing parameters of the same name and keeping
/// the others in order.
pub(crate) fn set_query(base: &Url, params: &[(&str, String)]) -> Url {
    let mut url = base.clone();
    let kept: Vec<(String, String)> = base
        .query_pairs()
        .filter(|(k, _)| !params.iter().any(|(n, _)| n == k))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    {
        let mut q = url.query_pairs_mut();
        q.clear();
        for (k, v) in &kept {
            q.append_pair(k, v);
        }
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    url
}
