//! The concrete syntax tree: JSON as written, keeping every key of every object in order.
//!
//! `serde_json::Value` keeps only the last of two equal keys, and the spec requires rejecting
//! duplicates, so documents are read through this tree first. The tree is one flat vector
//! (a "tape", as simdjson calls it): a container is a header node followed by its
//! descendants, and an object's entries alternate key and value. Parsing a document thus
//! allocates once for the whole tree instead of once per object and array, which was the
//! larger part of the parse time; serde_json still does the lexing, so the accepted language
//! and its error messages are serde_json's.

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
enum Node<'a> {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    /// A string value or an object key; borrowed from the input unless it had escapes.
    String(Cow<'a, str>),
    /// `len` items, whose nodes are the next `size` nodes of the tape.
    Array {
        len: usize,
        size: usize,
    },
    /// `len` entries (a key node, then the value's nodes), the next `size` nodes.
    Object {
        len: usize,
        size: usize,
    },
}

/// A parsed document; [`Tape::root`] is the way in.
#[derive(Debug)]
pub(crate) struct Tape<'a> {
    nodes: Vec<Node<'a>>,
    /// Whether some object repeats a key; found while reading so that the common case skips
    /// a second walk.
    duplicates: bool,
}

impl<'a> Tape<'a> {
    pub(crate) fn root(&self) -> Json<'_, 'a> {
        match value(&self.nodes) {
            Some((v, _)) => v,
            // INVARIANT: a tape from `parse` holds one value; an empty tape reads as null.
            None => Json::Null,
        }
    }

    pub(crate) fn has_duplicate_keys(&self) -> bool {
        self.duplicates
    }
}

/// A view of one value of a [`Tape`]. Copying it is free.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Json<'t, 'a> {
    Null,
    Bool(bool),
    Number(&'t serde_json::Number),
    String(&'t str),
    Array(Items<'t, 'a>),
    Object(Entries<'t, 'a>),
}

impl Json<'_, '_> {
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }
}

/// The items of an array.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Items<'t, 'a> {
    len: usize,
    nodes: &'t [Node<'a>],
}

impl<'t, 'a> Items<'t, 'a> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub(crate) fn iter(self) -> impl Iterator<Item = Json<'t, 'a>> {
        let mut rest = self.nodes;
        std::iter::from_fn(move || {
            let (v, after) = value(rest)?;
            rest = after;
            Some(v)
        })
    }
}

/// The entries of an object, in written order, duplicates included.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entries<'t, 'a> {
    len: usize,
    nodes: &'t [Node<'a>],
}

impl<'t, 'a> Entries<'t, 'a> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub(crate) fn iter(self) -> impl Iterator<Item = (&'t str, Json<'t, 'a>)> {
        let mut rest = self.nodes;
        std::iter::from_fn(move || {
            let (key, after) = rest.split_first()?;
            let Node::String(key) = key else {
                return None;
            };
            let (v, after) = value(after)?;
            rest = after;
            Some((key.as_ref(), v))
        })
    }
    /// The first entry with this key.
    pub(crate) fn get(self, key: &str) -> Option<Json<'t, 'a>> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

/// The value whose nodes start `nodes`, and the nodes after it.
fn value<'t, 'a>(nodes: &'t [Node<'a>]) -> Option<(Json<'t, 'a>, &'t [Node<'a>])> {
    let (first, rest) = nodes.split_first()?;
    Some(match first {
        Node::Null => (Json::Null, rest),
        Node::Bool(b) => (Json::Bool(*b), rest),
        Node::Number(n) => (Json::Number(n), rest),
        Node::String(s) => (Json::String(s.as_ref()), rest),
        Node::Array { len, size } => {
            let (inner, after) = rest.split_at_checked(*size)?;
            (
                Json::Array(Items {
                    len: *len,
                    nodes: inner,
                }),
                after,
            )
        }
        Node::Object { len, size } => {
            let (inner, after) = rest.split_at_checked(*size)?;
            (
                Json::Object(Entries {
                    len: *len,
                    nodes: inner,
                }),
                after,
            )
        }
    })
}

/// Parses text into the tape; the error is serde_json's message (it carries line and column).
pub(crate) fn parse(text: &str) -> Result<Tape<'_>, String> {
    // About one node per 8 bytes of a typical policy: one allocation, rarely a second.
    let mut tape = Tape {
        nodes: Vec::with_capacity(text.len() / 8 + 4),
        duplicates: false,
    };
    let mut de = serde_json::Deserializer::from_str(text);
    Builder { tape: &mut tape }
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(|e| e.to_string())?;
    Ok(tape)
}

/// Appends one value to the tape; serde_json's recursion limit bounds the nesting.
struct Builder<'b, 'a> {
    tape: &'b mut Tape<'a>,
}

impl<'de> DeserializeSeed<'de> for Builder<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

/// Appends one object key to the tape.
struct KeyBuilder<'b, 'a> {
    tape: &'b mut Tape<'a>,
}

impl<'de> DeserializeSeed<'de> for KeyBuilder<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyBuilder<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<(), E> {
        self.tape.nodes.push(Node::String(Cow::Borrowed(v)));
        Ok(())
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.tape.nodes.push(Node::String(Cow::Owned(v.to_owned())));
        Ok(())
    }
    fn visit_string<E>(self, v: String) -> Result<(), E> {
        self.tape.nodes.push(Node::String(Cow::Owned(v)));
        Ok(())
    }
}

impl<'de> Visitor<'de> for Builder<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        self.tape.nodes.push(Node::Null);
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        self.tape.nodes.push(Node::Null);
        Ok(())
    }
    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.tape.nodes.push(Node::Bool(v));
        Ok(())
    }
    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.tape.nodes.push(Node::Number(v.into()));
        Ok(())
    }
    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.tape.nodes.push(Node::Number(v.into()));
        Ok(())
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        let n = serde_json::Number::from_f64(v).ok_or_else(|| E::custom("number is not finite"))?;
        self.tape.nodes.push(Node::Number(n));
        Ok(())
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<(), E> {
        self.tape.nodes.push(Node::String(Cow::Borrowed(v)));
        Ok(())
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.tape.nodes.push(Node::String(Cow::Owned(v.to_owned())));
        Ok(())
    }
    fn visit_string<E>(self, v: String) -> Result<(), E> {
        self.tape.nodes.push(Node::String(Cow::Owned(v)));
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let header = self.tape.nodes.len();
        self.tape.nodes.push(Node::Array { len: 0, size: 0 });
        let mut len = 0;
        while seq
            .next_element_seed(Builder {
                tape: &mut *self.tape,
            })?
            .is_some()
        {
            len += 1;
        }
        let size = self.tape.nodes.len() - header - 1;
        if let Some(slot) = self.tape.nodes.get_mut(header) {
            *slot = Node::Array { len, size };
        }
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let header = self.tape.nodes.len();
        self.tape.nodes.push(Node::Object { len: 0, size: 0 });
        // Key positions, to look for a repeated key once the object is read. Policy objects
        // have a handful of keys, so they stay on the stack.
        let mut keys = [0usize; 16];
        let mut len = 0;
        loop {
            let at = self.tape.nodes.len();
            let more = map.next_key_seed(KeyBuilder {
                tape: &mut *self.tape,
            })?;
            if more.is_none() {
                break;
            }
            if let Some(slot) = keys.get_mut(len) {
                *slot = at;
            }
            map.next_value_seed(Builder {
                tape: &mut *self.tape,
            })?;
            len += 1;
        }
        let size = self.tape.nodes.len() - header - 1;
        if let Some(slot) = self.tape.nodes.get_mut(header) {
            *slot = Node::Object { len, size };
        }
        if !self.tape.duplicates {
            self.tape.duplicates = if len <= keys.len() {
                has_repeat(&self.tape.nodes, keys.get(..len).unwrap_or_default())
            } else {
                self.tape
                    .nodes
                    .get(header..)
                    .and_then(value)
                    .is_some_and(|(v, _)| match v {
                        Json::Object(e) => {
                            let mut seen = std::collections::HashSet::with_capacity(e.len());
                            !e.iter().all(|(k, _)| seen.insert(k))
                        }
                        _ => false,
                    })
            };
        }
        Ok(())
    }
}

/// Whether two of the key nodes at these positions are equal.
fn has_repeat(nodes: &[Node<'_>], keys: &[usize]) -> bool {
    let key = |i: usize| match nodes.get(i) {
        Some(Node::String(s)) => Some(s.as_ref()),
        _ => None,
    };
    keys.iter()
        .enumerate()
        .any(|(n, &i)| keys.iter().take(n).any(|&j| key(i) == key(j)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(tape: &Tape) -> Vec<String> {
        match tape.root() {
            Json::Object(e) => e.iter().map(|(k, _)| k.to_owned()).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn keeps_duplicate_keys() {
        let t = parse(r#"{"a":1,"a":2}"#).unwrap();
        assert_eq!(keys(&t), ["a", "a"]);
        assert!(t.has_duplicate_keys());
    }

    #[test]
    fn finds_duplicates_at_any_depth_and_width() {
        assert!(!parse(r#"{"a":[{"b":1,"c":{"b":2}}],"b":3}"#)
            .unwrap()
            .has_duplicate_keys());
        assert!(parse(r#"{"a":[1,{"b":1,"c":{"d":2,"d":3}}]}"#)
            .unwrap()
            .has_duplicate_keys());
        let wide = |last: &str| {
            let mut s: Vec<String> = (0..40).map(|i| format!(r#""k{i}":{i}"#)).collect();
            s.push(format!(r#""{last}":0"#));
            format!("{{{}}}", s.join(","))
        };
        assert!(parse(&wide("k3")).unwrap().has_duplicate_keys());
        assert!(!parse(&wide("k40")).unwrap().has_duplicate_keys());
    }

    #[test]
    fn walks_nested_values_in_order() {
        let t = parse(r#"{"a":[1,[true,null],{"x":"y"}],"b\n":"c\"d","e":{}}"#).unwrap();
        let Json::Object(top) = t.root() else {
            panic!()
        };
        assert_eq!(top.len(), 3);
        let Some(Json::Array(a)) = top.get("a") else {
            panic!()
        };
        let items: Vec<&str> = a.iter().map(|v| v.type_name()).collect();
        assert_eq!(items, ["a number", "an array", "an object"]);
        assert!(matches!(top.get("b\n"), Some(Json::String("c\"d"))));
        assert!(matches!(top.get("e"), Some(Json::Object(e)) if e.is_empty()));
        assert!(top.get("x").is_none());
    }

    #[test]
    fn rejects_trailing_garbage() {
        assert!(parse(r#"{"a":1} x"#).is_err());
    }
}
