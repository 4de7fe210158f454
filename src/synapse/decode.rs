//! Streaming decoder for a page of `GET /_synapse/admin/v1/statistics/users/media`.
//!
//! A page can hold a hundred thousand users (tens of megabytes of JSON). The
//! decoder reads it from any [`Read`] and hands the users to a sink in chunks
//! as they are parsed, so memory stays bounded by the chunk size whatever the
//! page size. Synapse sends `users` before `next_token` and `total`; the
//! decoder accepts the keys in any order.
//!
//! `next_token` is accepted as a number or as a string holding one (the
//! endpoint documents it as opaque; other implementations send strings).
//!
//! The warden's Synapse module answers the same users in keyset pages
//! (`users_media` and `next_after`, see
//! `synapse-module/synapse_warden_quota/channel.py`): [`decode_keyset_page`]
//! reads those with the same streaming and the same checks of the figures.

use std::fmt;
use std::io::Read;
use std::ops::ControlFlow;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use thiserror::Error;

use crate::core::model::usage::{Implausible, UserMedia};

/// What follows the users in a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageTail {
    /// Offset of the next page; absent on the last page.
    pub next_token: Option<u64>,
    /// Number of users matching the filters, across all pages.
    pub total: u64,
    /// Number of users this page held.
    pub users: u64,
}

/// What follows the users in a keyset page of the warden's module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeysetTail {
    /// The user to ask the next page after; absent on the last page.
    pub next_after: Option<String>,
    /// Number of users this page held.
    pub users: u64,
}

/// Which answer a body is: the names of its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Synapse's `statistics/users/media`: `users`, `next_token`, `total`.
    Offset,
    /// The module's `users/media`: `users_media`, `next_after`.
    Keyset,
}

impl Shape {
    fn users_key(self) -> &'static str {
        match self {
            Shape::Offset => "users",
            Shape::Keyset => "users_media",
        }
    }
}

/// Both tails as read, before the shape's required fields are checked.
#[derive(Debug, Default)]
struct RawTail {
    users: Option<u64>,
    next_token: Option<u64>,
    total: Option<u64>,
    next_after: Option<Option<String>>,
}

/// Why a page could not be decoded.
#[derive(Debug, Error)]
pub enum DecodeError {
    /// The sink asked to stop.
    #[error("decoding cancelled")]
    Cancelled,
    /// Reading the body failed (connection dropped, timeout...).
    #[error("reading the body failed: {0}")]
    Io(#[source] std::io::Error),
    /// The body is not a users page.
    #[error("{0}")]
    Invalid(String),
    /// A user's count or length cannot be right (negative, or absurd).
    #[error("{field} {value} for {user_id}", field = .0.field, value = .0.value, user_id = .0.user_id)]
    Implausible(Implausible),
}

/// A user as the page holds it: the figures wide enough to see a negative
/// or absurd one, and name it. An object, or (the module's `format=arrays`)
/// an array of exactly these four in this order: serde's derived struct
/// reads both.
#[derive(serde::Deserialize)]
struct WireUser {
    user_id: String,
    displayname: Option<String>,
    media_count: i128,
    media_length: Option<i128>,
}

const CANCELLED: &str = "\u{0}synapse-warden: cancelled";

/// Decodes one users page from `reader`, passing users to `sink` in chunks of
/// at most `chunk` (at least one). The sink returns [`ControlFlow::Break`] to
/// stop decoding early, which yields [`DecodeError::Cancelled`].
pub fn decode_users_page<R, F>(reader: R, chunk: usize, sink: F) -> Result<PageTail, DecodeError>
where
    R: Read,
    F: FnMut(Vec<UserMedia>) -> ControlFlow<()>,
{
    let raw = decode(reader, chunk, Shape::Offset, sink)?;
    Ok(PageTail {
        next_token: raw.next_token,
        total: raw.total.unwrap_or_default(),
        users: raw.users.unwrap_or_default(),
    })
}

/// Decodes one keyset page of the warden's module (`users_media`, then
/// `next_after`, in any order) as [`decode_users_page`] does.
pub fn decode_keyset_page<R, F>(reader: R, chunk: usize, sink: F) -> Result<KeysetTail, DecodeError>
where
    R: Read,
    F: FnMut(Vec<UserMedia>) -> ControlFlow<()>,
{
    let raw = decode(reader, chunk, Shape::Keyset, sink)?;
    Ok(KeysetTail {
        next_after: raw.next_after.flatten(),
        users: raw.users.unwrap_or_default(),
    })
}

fn decode<R, F>(reader: R, chunk: usize, shape: Shape, mut sink: F) -> Result<RawTail, DecodeError>
where
    R: Read,
    F: FnMut(Vec<UserMedia>) -> ControlFlow<()>,
{
    let mut de =
        serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(64 * 1024, reader));
    let mut implausible = None;
    let seed = PageSeed {
        chunk: chunk.max(1),
        shape,
        sink: &mut sink,
        implausible: &mut implausible,
    };
    let result = seed
        .deserialize(&mut de)
        .and_then(|tail| de.end().map(|()| tail));
    result.map_err(|e| {
        if let Some(bad) = implausible.take() {
            DecodeError::Implausible(bad)
        } else if e.is_io() {
            let kind = e.io_error_kind().unwrap_or(std::io::ErrorKind::Other);
            DecodeError::Io(std::io::Error::new(kind, e.to_string()))
        } else if e.to_string().starts_with(CANCELLED) {
            DecodeError::Cancelled
        } else {
            DecodeError::Invalid(e.to_string())
        }
    })
}

struct PageSeed<'a, F> {
    chunk: usize,
    shape: Shape,
    sink: &'a mut F,
    implausible: &'a mut Option<Implausible>,
}

impl<'de, F> DeserializeSeed<'de> for PageSeed<'_, F>
where
    F: FnMut(Vec<UserMedia>) -> ControlFlow<()>,
{
    type Value = RawTail;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<RawTail, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, F> Visitor<'de> for PageSeed<'_, F>
where
    F: FnMut(Vec<UserMedia>) -> ControlFlow<()>,
{
    type Value = RawTail;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.shape {
            Shape::Offset => f.write_str("an object with `users` and `total`"),
            Shape::Keyset => f.write_str("an object with `users_media` and `next_after`"),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawTail, A::Error> {
        let users_key = self.shape.users_key();
        let mut users: Option<u64> = None;
        let mut next_token: Option<Option<u64>> = None;
        let mut total: Option<u64> = None;
        let mut next_after: Option<Option<String>> = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                k if k == users_key => {
                    if users.is_some() {
                        return Err(de::Error::duplicate_field(users_key));
                    }
                    users = Some(map.next_value_seed(UsersSeed {
                        chunk: self.chunk,
                        sink: &mut *self.sink,
                        implausible: &mut *self.implausible,
                    })?);
                }
                "next_token" if self.shape == Shape::Offset => {
                    let token: Option<Token> = map.next_value()?;
                    next_token = Some(token.map(|t| t.0));
                }
                "total" if self.shape == Shape::Offset => total = Some(map.next_value()?),
                "next_after" if self.shape == Shape::Keyset => {
                    next_after = Some(map.next_value()?);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let users = Some(users.ok_or_else(|| de::Error::missing_field(users_key))?);
        match self.shape {
            Shape::Offset => Ok(RawTail {
                users,
                next_token: next_token.flatten(),
                total: Some(total.ok_or_else(|| de::Error::missing_field("total"))?),
                next_after: None,
            }),
            // `next_after` is required: a body without it must not pass for
            // the last page.
            Shape::Keyset => Ok(RawTail {
                users,
                next_after: Some(next_after.ok_or_else(|| de::Error::missing_field("next_after"))?),
                ..RawTail::default()
            }),
        }
    }
}

struct UsersSeed<'a, F> {
    chunk: usize,
    sink: &'a mut F,
    implausible: &'a mut Option<Implausible>,
}

impl<'de, F> DeserializeSeed<'de> for UsersSeed<'_, F>
where
    F: FnMut(Vec<UserMedia>) -> ControlFlow<()>,
{
    type Value = u64;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<u64, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, F> Visitor<'de> for UsersSeed<'_, F>
where
    F: FnMut(Vec<UserMedia>) -> ControlFlow<()>,
{
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of users")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u64, A::Error> {
        let mut count = 0u64;
        let mut buf = Vec::with_capacity(self.chunk.min(4096));
        while let Some(wire) = seq.next_element::<WireUser>()? {
            let user = UserMedia::checked(
                wire.user_id,
                wire.displayname,
                wire.media_count,
                wire.media_length,
            )
            .map_err(|bad| {
                *self.implausible = Some(bad);
                de::Error::custom("implausible figure")
            })?;
            count += 1;
            buf.push(user);
            if buf.len() >= self.chunk {
                let full = std::mem::replace(&mut buf, Vec::with_capacity(self.chunk.min(4096)));
                if (self.sink)(full).is_break() {
                    return Err(de::Error::custom(CANCELLED));
                }
            }
        }
        if !buf.is_empty() && (self.sink)(buf).is_break() {
            return Err(de::Error::custom(CANCELLED));
        }
        Ok(count)
    }
}

/// A `next_token`: a non-negative integer, or a string holding one.
struct Token(u64);

impl<'de> de::Deserialize<'de> for Token {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Token, D::Error> {
        struct TokenVisitor;
        impl Visitor<'_> for TokenVisitor {
            type Value = Token;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative integer offset")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Token, E> {
                Ok(Token(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Token, E> {
                u64::try_from(v)
                    .map(Token)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Token, E> {
                v.parse()
                    .map(Token)
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_any(TokenVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A decoder of a body from bytes.
    type Decode<T> = fn(
        &[u8],
        usize,
        &mut dyn FnMut(Vec<UserMedia>) -> ControlFlow<()>,
    ) -> Result<T, DecodeError>;

    /// Every user of `body` as `decode` hands them over (checking the
    /// chunks' size), and the tail.
    fn gather<T>(
        decode: Decode<T>,
        body: &[u8],
        chunk: usize,
    ) -> Result<(Vec<UserMedia>, T), DecodeError> {
        let mut all = Vec::new();
        let tail = decode(body, chunk, &mut |c| {
            assert!(c.len() <= chunk.max(1));
            all.extend(c);
            ControlFlow::Continue(())
        })?;
        Ok((all, tail))
    }

    fn collect(body: &[u8], chunk: usize) -> Result<(Vec<UserMedia>, PageTail), DecodeError> {
        gather(|b, c, sink| decode_users_page(b, c, sink), body, chunk)
    }

    #[test]
    fn decodes_synapse_page() {
        let body = br#"{"users":[{"user_id":"@a:hs","displayname":null,"media_count":1,"media_length":null},
            {"displayname":"B","media_count":2,"media_length":134,"user_id":"@b:hs","extra":[1]}],
            "next_token":3,"total":10}"#;
        let (users, tail) = collect(body, 1).unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users[0].media_length, None);
        assert_eq!(users[1].displayname.as_deref(), Some("B"));
        assert_eq!(
            tail,
            PageTail {
                next_token: Some(3),
                total: 10,
                users: 2
            }
        );
    }

    #[test]
    fn accepts_string_token_and_missing_token() {
        let (_, tail) = collect(br#"{"users":[],"next_token":"7","total":0}"#, 10).unwrap();
        assert_eq!(tail.next_token, Some(7));
        let (_, tail) = collect(br#"{"total":0,"users":[]}"#, 10).unwrap();
        assert_eq!(tail.next_token, None);
    }

    #[test]
    fn names_what_is_wrong() {
        let err = collect(br#"{"users":[]}"#, 10).unwrap_err();
        assert!(err.to_string().contains("missing field `total`"), "{err}");
        let err = collect(br#"{"users":[{"user_id":"@a:hs"}],"total":1}"#, 10).unwrap_err();
        assert!(err.to_string().contains("media_count"), "{err}");
        let err = collect(br#"{"users":[],"total":-1}"#, 10).unwrap_err();
        assert!(matches!(err, DecodeError::Invalid(_)), "{err}");
        let err = collect(br#"{"users":[],"total":1} trailing"#, 10).unwrap_err();
        assert!(matches!(err, DecodeError::Invalid(_)), "{err}");
    }

    fn keyset(body: &[u8], chunk: usize) -> Result<(Vec<UserMedia>, KeysetTail), DecodeError> {
        gather(|b, c, sink| decode_keyset_page(b, c, sink), body, chunk)
    }

    #[test]
    fn decodes_the_modules_keyset_page() {
        let body = br#"{"users_media":[{"user_id":"@a:hs","displayname":"A","media_count":3,"media_length":52000},
            {"user_id":"@b:hs","displayname":null,"media_count":1,"media_length":null}],
            "next_after":"@b:hs","limit":2,"database":"postgresql","measured_ms":4}"#;
        let (users, tail) = keyset(body, 1).unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users[0].media_length, Some(52000));
        assert_eq!(users[1].displayname, None);
        assert_eq!(
            tail,
            KeysetTail {
                next_after: Some("@b:hs".into()),
                users: 2
            }
        );
        let (users, tail) = keyset(br#"{"next_after":null,"users_media":[]}"#, 5).unwrap();
        assert!(users.is_empty());
        assert_eq!(tail.next_after, None);
    }

    /// The module's `format=arrays`: each user `[user_id, displayname,
    /// media_count, media_length]`, read as the objects are, with the same
    /// checks; an array of another length or order is not a user.
    #[test]
    fn decodes_the_modules_arrays_as_its_objects() {
        let arrays = br#"{"users_media":[["@a:hs","A",3,52000],["@b:hs",null,1,null]],
            "next_after":"@b:hs","limit":2,"database":"postgresql","measured_ms":4}"#;
        let objects = br#"{"users_media":[{"user_id":"@a:hs","displayname":"A","media_count":3,"media_length":52000},
            {"user_id":"@b:hs","displayname":null,"media_count":1,"media_length":null}],"next_after":"@b:hs"}"#;
        assert_eq!(keyset(arrays, 1).unwrap(), keyset(objects, 1).unwrap());
        for bad in [
            r#"[["@a:hs","A",3]]"#,
            r#"[["@a:hs","A",3,1,9]]"#,
            r#"[["@a:hs",3,"A",1]]"#,
            r#"[[]]"#,
        ] {
            let body = format!(r#"{{"users_media":{bad},"next_after":null}}"#);
            let err = keyset(body.as_bytes(), 5).unwrap_err();
            assert!(matches!(err, DecodeError::Invalid(_)), "{bad}: {err}");
        }
        let body = br#"{"users_media":[["@a:hs",null,-1,1]],"next_after":null}"#;
        assert!(matches!(keyset(body, 5), Err(DecodeError::Implausible(_))));
    }

    /// A keyset page must say where the next one starts, or that there is
    /// none: a body without `next_after` does not pass for the last page;
    /// and an admin API page is not a keyset page (nor the reverse).
    #[test]
    fn a_keyset_page_names_its_end() {
        let err = keyset(br#"{"users_media":[]}"#, 5).unwrap_err();
        assert!(
            err.to_string().contains("missing field `next_after`"),
            "{err}"
        );
        let err = keyset(br#"{"users":[],"total":0,"next_after":null}"#, 5).unwrap_err();
        assert!(err.to_string().contains("users_media"), "{err}");
        let err = collect(br#"{"users_media":[],"next_after":null}"#, 5).unwrap_err();
        assert!(err.to_string().contains("`users`"), "{err}");
        let err = keyset(br#"{"users_media":[],"next_after":3}"#, 5).unwrap_err();
        assert!(matches!(err, DecodeError::Invalid(_)), "{err}");
        let body = br#"{"users_media":[{"user_id":"@a:hs","displayname":null,"media_count":-1,"media_length":1}],"next_after":null}"#;
        assert!(matches!(keyset(body, 5), Err(DecodeError::Implausible(_))));
    }

    #[test]
    fn sink_can_cancel() {
        let body = br#"{"users":[{"user_id":"@a:hs","displayname":null,"media_count":1,"media_length":1}],"total":1}"#;
        let err = decode_users_page(&body[..], 1, |_| ControlFlow::Break(())).unwrap_err();
        assert!(matches!(err, DecodeError::Cancelled));
    }

    fn arb_user() -> impl Strategy<Value = UserMedia> {
        (
            "@[a-z_=.0-9]{1,12}:[a-z.]{1,8}",
            proptest::option::of("\\PC{0,12}"),
            0..=crate::core::model::usage::MAX_PLAUSIBLE,
            proptest::option::of(0..=crate::core::model::usage::MAX_PLAUSIBLE),
        )
            .prop_map(
                |(user_id, displayname, media_count, media_length)| UserMedia {
                    user_id,
                    displayname,
                    media_count,
                    media_length,
                },
            )
    }

    /// A negative or absurd figure stops the page, naming the user and
    /// the field; the users before it were handed over.
    #[test]
    fn implausible_figures_are_named() {
        for (field, value) in [
            ("media_length", "-5"),
            ("media_length", "9223372036854775808"),
            ("media_count", "-1"),
            ("media_count", "18446744073709551615"),
        ] {
            let (count, length) = if field == "media_count" {
                (value, "1")
            } else {
                ("1", value)
            };
            let body = format!(
                r#"{{"users":[{{"user_id":"@a:hs","displayname":null,"media_count":1,"media_length":1}},
                {{"user_id":"@bad:hs","displayname":null,"media_count":{count},"media_length":{length}}}],"total":2}}"#
            );
            let mut seen = Vec::new();
            let err = decode_users_page(body.as_bytes(), 1, |c| {
                seen.extend(c);
                ControlFlow::Continue(())
            })
            .unwrap_err();
            let DecodeError::Implausible(bad) = &err else {
                panic!("{field} {value}: {err:?}")
            };
            assert_eq!(bad.user_id, "@bad:hs");
            assert_eq!(bad.field, field);
            assert_eq!(bad.value.to_string(), value);
            assert_eq!(seen.len(), 1);
        }
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512), chunk in 0usize..8) {
            let _ = collect(&body, chunk);
        }

        #[test]
        fn mutated_pages_never_panic(users in proptest::collection::vec(arb_user(), 0..8), cut in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let mut body = serde_json::to_vec(&serde_json::json!({"users": users, "total": users.len()})).unwrap();
            let i = cut.index(body.len());
            body[i] = byte;
            let _ = collect(&body, 3);
            body.truncate(i);
            prop_assert!(collect(&body, 3).is_err());
        }

        #[test]
        fn round_trips_any_page(users in proptest::collection::vec(arb_user(), 0..40), chunk in 1usize..10, token in proptest::option::of(any::<u64>())) {
            let body = serde_json::to_vec(&serde_json::json!({"users": users, "next_token": token, "total": 99})).unwrap();
            let (got, tail) = collect(&body, chunk).unwrap();
            prop_assert_eq!(&got, &users);
            prop_assert_eq!(tail, PageTail { next_token: token, total: 99, users: users.len() as u64 });
        }

        #[test]
        fn round_trips_any_keyset_page(users in proptest::collection::vec(arb_user(), 0..40), chunk in 1usize..10, after in proptest::option::of("\\PC{0,20}")) {
            let body = serde_json::to_vec(&serde_json::json!({"users_media": users, "next_after": after, "limit": 40})).unwrap();
            let (got, tail) = keyset(&body, chunk).unwrap();
            prop_assert_eq!(&got, &users);
            prop_assert_eq!(tail, KeysetTail { next_after: after, users: users.len() as u64 });
        }
    }
}
