//! The value tree shared by the stream transform: what Python's decoders, `json.loads` and
//! the OCSF normalizer build as dicts, lists and scalars, in Rust.
//!
//! Objects (Avro records and maps, JSON objects) keep insertion order, as Python dicts do.
//! Setting a key that exists replaces its value in place (Python dict semantics).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};

/// A dict key: the names a schema or a spec holds are interned (`Key::interned`), so each
/// record copies a pointer to them, with no refcount; other keys are refcounted shared text.
/// It derefs to `&str` (`&**key` or `key.as_ref()`).
#[derive(Clone)]
pub struct Key(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(Arc<str>),
}

impl Key {
    /// The key of a name that lives as long as the process (a schema's or a spec's): interned
    /// once, so memory grows only with the distinct names ever planned.
    pub fn interned(name: &str) -> Key {
        static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
        let mut names = NAMES
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(&known) = names.get(name) {
            return Key(Repr::Static(known));
        }
        let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
        names.insert(leaked);
        Key(Repr::Static(leaked))
    }

    /// The key of a string literal.
    pub const fn from_static(name: &'static str) -> Key {
        Key(Repr::Static(name))
    }
}

impl std::ops::Deref for Key {
    type Target = str;
    #[inline]
    fn deref(&self) -> &str {
        match &self.0 {
            Repr::Static(s) => s,
            Repr::Shared(s) => s,
        }
    }
}

impl AsRef<str> for Key {
    fn as_ref(&self) -> &str {
        self
    }
}

impl std::borrow::Borrow<str> for Key {
    fn borrow(&self) -> &str {
        self
    }
}

impl From<&str> for Key {
    fn from(s: &str) -> Key {
        Key(Repr::Shared(Arc::from(s)))
    }
}

impl From<String> for Key {
    fn from(s: String) -> Key {
        Key(Repr::Shared(Arc::from(s)))
    }
}

impl PartialEq for Key {
    #[inline]
    fn eq(&self, other: &Key) -> bool {
        let (a, b) = (&**self, &**other);
        std::ptr::eq(a, b) || a == b
    }
}

impl Eq for Key {}

impl PartialEq<str> for Key {
    fn eq(&self, other: &str) -> bool {
        &**self == other
    }
}

impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state);
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&**self, f)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// Python `int` within 64 bits (anything wider makes the native path decline).
    Int(i64),
    /// Python `float`.
    Float(f64),
    Str(String),
    List(Vec<Value>),
    /// Python `dict` (Avro record or map, JSON object): insertion-ordered pairs.
    Dict(Vec<(Key, Value)>),
}

impl Value {
    /// `dict.get(key)` (None when not a dict or missing).
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(pairs) => pairs.iter().find(|(k, _)| **k == *key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// `dict[key] = value`: replaces in place or appends (Python dict order).
    pub fn set(&mut self, key: &str, value: Value) {
        if let Value::Dict(pairs) = self {
            if let Some(slot) = pairs.iter_mut().find(|(k, _)| **k == *key) {
                slot.1 = value;
            } else {
                pairs.push((key.into(), value));
            }
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}
