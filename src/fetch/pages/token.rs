//! ListPages resume tokens: the strategy's position and the page index, bound to the
//! request's identity (URL, style, sizes, parameter names, pointers) and signed with
//! HMAC-SHA256, so a forged token, or one from another collection, is refused.
//!
//! Format: `base64url(json payload) "." base64url(mac)`. The key is `--page-token-key`
//! (shared by replicas) or random per process (tokens then die with the process).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::paginate::{Paging, Position};

type HmacSha256 = Hmac<Sha256>;

/// Where a resumed stream starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Resume {
    /// The first position to fetch.
    pub(crate) position: Position,
    /// The 1-based index in the stream of the page at `position`.
    pub(crate) index: u32,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    v: u8,
    id: String,
    #[serde(flatten)]
    resume: Resume,
}

/// The signing key.
pub(crate) struct TokenKey(Vec<u8>);

impl TokenKey {
    /// From `--page-token-key`, or 32 random bytes when unset.
    pub(crate) fn new(configured: Option<&str>) -> Self {
        match configured {
            Some(k) if !k.is_empty() => Self(k.as_bytes().to_vec()),
            _ => Self(rand::random::<[u8; 32]>().to_vec()),
        }
    }

    fn mac(&self, data: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(data);
        mac
    }

    /// A token resuming at `resume` for the collection `identity` names.
    pub(crate) fn sign(&self, identity: &str, resume: &Resume) -> String {
        let payload = Payload {
            v: 1,
            id: identity.to_string(),
            resume: resume.clone(),
        };
        let json =
            serde_json::to_vec(&payload).expect("a payload of strings and numbers serialises");
        let tag = self.mac(&json).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&json),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The position a token resumes at, if it is genuine and was issued for `identity`.
    pub(crate) fn verify(&self, identity: &str, token: &str) -> Result<Resume, String> {
        let (payload, tag) = token
            .split_once('.')
            .ok_or("is not a streamgate page token")?;
        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| "is not a streamgate page token")?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| "is not a streamgate page token")?;
        self.mac(&json)
            .verify_slice(&tag)
            .map_err(|_| "was not issued by this server (or was altered)")?;
        let payload: Payload =
            serde_json::from_slice(&json).map_err(|_| "has an unknown format")?;
        if payload.v != 1 {
            return Err("has an unknown version".into());
        }
        if payload.id != identity {
            return Err("belongs to a different ListPages request (url, style, page_size, parameter names or pointers differ)".into());
        }
        Ok(payload.resume)
    }
}

/// A short digest of what a token must match to be reused.
pub(crate) fn identity(p: &Paging) -> String {
    let n = &p.names;
    let parts = [
        format!("{:?}", p.style),
        p.base.to_string(),
        p.page_size.to_string(),
        n.page.clone(),
        n.size.clone(),
        n.offset.clone(),
        n.limit.clone(),
        n.cursor.clone(),
        p.items_pointer.clone(),
        p.cursor_pointer.clone(),
    ];
    let digest = Sha256::digest(parts.join("\u{0}").as_bytes());
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::pages::paginate::{ParamNames, Style};
    use url::Url;

    fn paging(url: &str) -> Paging {
        Paging {
            style: Style::Cursor,
            base: Url::parse(url).unwrap(),
            page_size: 10,
            names: ParamNames::default(),
            items_pointer: String::new(),
            cursor_pointer: "/next".into(),
        }
    }

    proptest::proptest! {
        #[test]
        fn fuzz_garbage_tokens_are_refused_without_panic(raw in proptest::prelude::any::<String>()) {
            let key = TokenKey::new(Some("k"));
            proptest::prop_assert!(key.verify("id", &raw).is_err());
        }

        #[test]
        fn fuzz_tokens_round_trip_and_any_one_changed_character_is_refused(
            page in proptest::prelude::any::<u64>(),
            index in proptest::prelude::any::<u32>(),
            at in proptest::prelude::any::<proptest::sample::Index>(),
            with in "[A-Za-z0-9_.-]",
        ) {
            let key = TokenKey::new(Some("k"));
            let resume = Resume { position: Position::Page(page), index };
            let token = key.sign("id", &resume);
            proptest::prop_assert_eq!(key.verify("id", &token), Ok(resume));
            let i = at.index(token.len());
            if token[i..i + 1] != with {
                let altered = format!("{}{with}{}", &token[..i], &token[i + 1..]);
                proptest::prop_assert!(key.verify("id", &altered).is_err(), "{}", altered);
            }
        }
    }

    #[test]
    fn a_token_round_trips_for_the_same_request() {
        let key = TokenKey::new(None);
        let id = identity(&paging("http://h/a"));
        let r = Resume {
            position: Position::Cursor(Some("c9".into())),
            index: 4,
        };
        assert_eq!(key.verify(&id, &key.sign(&id, &r)).unwrap(), r);
    }

    #[test]
    fn altered_foreign_and_garbage_tokens_are_refused() {
        let key = TokenKey::new(Some("secret"));
        let id = identity(&paging("http://h/a"));
        let token = key.sign(
            &id,
            &Resume {
                position: Position::Page(3),
                index: 3,
            },
        );
        let other = identity(&paging("http://h/b"));
        assert!(
            key.verify(&other, &token)
                .unwrap_err()
                .contains("different")
        );
        assert!(
            TokenKey::new(Some("other"))
                .verify(&id, &token)
                .unwrap_err()
                .contains("not issued")
        );
        let (p, t) = token.split_once('.').unwrap();
        let mut json = URL_SAFE_NO_PAD.decode(p).unwrap();
        let i = json.iter().position(|&b| b == b'3').unwrap();
        json[i] = b'9';
        let forged = format!("{}.{t}", URL_SAFE_NO_PAD.encode(json));
        assert!(key.verify(&id, &forged).is_err());
        assert!(key.verify(&id, "garbage").is_err());
    }

    #[test]
    fn shared_keys_accept_each_others_tokens() {
        let id = identity(&paging("http://h/a"));
        let r = Resume {
            position: Position::Offset(40),
            index: 3,
        };
        let token = TokenKey::new(Some("k")).sign(&id, &r);
        assert_eq!(TokenKey::new(Some("k")).verify(&id, &token).unwrap(), r);
    }
}
