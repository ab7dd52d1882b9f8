//! Avro binary codec of record schemas, matching the Python path byte for byte.
//!
//! [`decode`] reads a body as `schemas.registry.compile_reader`'s generated reader does and
//! [`encode_value`] (and `encode_py`, feature `python`) writes one as the generated writer of
//! `schemas.registry.compile_writer` does (the same bytes as `fastavro.schemaless_writer`).
//! Whatever that generated code gives up on (and leaves to fastavro) is an `Err` here, so the
//! caller falls back to Python: the result is the Python path's bytes or value, or an `Err`.
//!
//! Schemas: records (nested, named and referenced by full name, with namespaces as fastavro
//! resolves them), unions, arrays, maps and the primitives null, boolean, int, long, float,
//! double and string. Anything else (bytes, enum, fixed, logical types, a union in a union,
//! unions of more than 64 branches, a top level that is not a record) is refused by
//! [`parse_schema`].

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value as Json};

use super::value::{Key, Value};

/// How deep records may nest (recursive schemas): deeper data is refused.
const MAX_DEPTH: usize = 256;

/// A parsed record schema: its nodes, the top record at [`Schema::root`].
#[derive(Debug)]
pub struct Schema {
    nodes: Vec<Node>,
    root: usize,
}

/// One schema node; children are indices into [`Schema::nodes`] (records may recurse).
#[derive(Debug)]
enum Node {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    String,
    Array(usize),
    Map(usize),
    Union(Union),
    Record(Record),
}

/// A record's fields in schema order.
#[derive(Debug, Default)]
struct Record {
    fields: Vec<Field>,
}

/// One record field.
struct Field {
    /// Shared into every decoded record (a refcount, not a copy).
    name: Key,
    node: usize,
    /// The field name as an interned Python string (made on first use, under the GIL).
    #[cfg(feature = "python")]
    key: pyo3::sync::PyOnceLock<pyo3::Py<pyo3::types::PyString>>,
}

impl std::fmt::Debug for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Field")
            .field("name", &self.name)
            .field("node", &self.node)
            .finish()
    }
}

/// A union branch: its zig-zag index byte and node.
#[derive(Clone, Copy, Debug)]
struct Branch {
    byte: u8,
    node: usize,
}

/// A union: its branches (for reading) and the branch the writer takes for a value of each
/// kind (`schemas.registry._branches`; `None`: the writer gives up).
#[derive(Debug, Default)]
struct Union {
    branches: Vec<usize>,
    null: Option<Branch>,
    string: Option<Branch>,
    boolean: Option<Branch>,
    float: Option<Branch>,
    int: Option<Branch>,
    dict: Option<Branch>,
    list: Option<Branch>,
}

impl Schema {
    /// The node at `index`.
    fn node(&self, index: usize) -> &Node {
        &self.nodes[index]
    }
}

// -- parsing ---------------------------------------------------------------------------------

/// Parse Avro schema JSON `text` (a record at the top level); `Err` for anything outside the
/// supported subset (see the module docs) or a malformed schema.
pub fn parse_schema(text: &str) -> Result<Schema, String> {
    let json: Json = serde_json::from_str(text).map_err(|e| format!("schema JSON: {e}"))?;
    let mut parser = Parser::default();
    let root = parser.parse(&json, "")?;
    if !matches!(parser.nodes[root], Node::Record(_)) {
        return Err("the top level is not a record".into());
    }
    Ok(Schema {
        nodes: parser.nodes,
        root,
    })
}

/// Schema parsing state: the nodes so far and the records by full name.
#[derive(Default)]
struct Parser {
    nodes: Vec<Node>,
    named: HashMap<String, usize>,
}

impl Parser {
    fn push(&mut self, node: Node) -> usize {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    /// The node of `json` within `namespace` (fastavro's name resolution).
    fn parse(&mut self, json: &Json, namespace: &str) -> Result<usize, String> {
        match json {
            Json::String(name) => match primitive(name) {
                Some(node) => Ok(self.push(node)),
                None => {
                    let full = if name.contains('.') || namespace.is_empty() {
                        name.clone()
                    } else {
                        format!("{namespace}.{name}")
                    };
                    self.named
                        .get(&full)
                        .copied()
                        .ok_or_else(|| format!("unsupported type {full}"))
                }
            },
            Json::Array(branches) => self.union(branches, namespace),
            Json::Object(object) => self.object(object, namespace),
            _ => Err(format!("not a schema: {json}")),
        }
    }

    fn object(&mut self, object: &Map<String, Json>, namespace: &str) -> Result<usize, String> {
        if object.contains_key("logicalType") {
            return Err("logical types are not supported".into());
        }
        let kind = object
            .get("type")
            .and_then(Json::as_str)
            .ok_or("a schema without a type name")?;
        if let Some(node) = primitive(kind) {
            return Ok(self.push(node));
        }
        match kind {
            "array" => {
                let items = self.parse(
                    object.get("items").ok_or("an array without items")?,
                    namespace,
                )?;
                Ok(self.push(Node::Array(items)))
            }
            "map" => {
                let values = self.parse(
                    object.get("values").ok_or("a map without values")?,
                    namespace,
                )?;
                Ok(self.push(Node::Map(values)))
            }
            "record" => self.record(object, namespace),
            _ => Err(format!("unsupported type {kind}")),
        }
    }

    fn record(&mut self, object: &Map<String, Json>, parent_ns: &str) -> Result<usize, String> {
        let name = object
            .get("name")
            .and_then(Json::as_str)
            .ok_or("a record without a name")?;
        let namespace = match object.get("namespace") {
            None => parent_ns,
            Some(Json::String(ns)) => ns.as_str(),
            Some(_) => return Err("a namespace that is not a string".into()),
        };
        let (namespace, full) = match name.rsplit_once('.') {
            Some((ns, _)) => (ns.to_owned(), name.to_owned()),
            None if namespace.is_empty() => (String::new(), name.to_owned()),
            None => (namespace.to_owned(), format!("{namespace}.{name}")),
        };
        if self.named.contains_key(&full) {
            return Err(format!("redefined named type {full}"));
        }
        let index = self.push(Node::Record(Record::default()));
        self.named.insert(full, index);
        let specs = match object.get("fields") {
            None => &Vec::new(),
            Some(Json::Array(specs)) => specs,
            Some(_) => return Err("record fields that are not a list".into()),
        };
        let mut fields: Vec<Field> = Vec::with_capacity(specs.len());
        for spec in specs {
            let name = spec
                .get("name")
                .and_then(Json::as_str)
                .ok_or("a field without a name")?;
            if fields.iter().any(|f| &*f.name == name) {
                return Err(format!("duplicate field {name}"));
            }
            let node = self.parse(
                spec.get("type").ok_or("a field without a type")?,
                &namespace,
            )?;
            fields.push(Field {
                name: Key::interned(name),
                node,
                #[cfg(feature = "python")]
                key: pyo3::sync::PyOnceLock::new(),
            });
        }
        self.nodes[index] = Node::Record(Record { fields });
        Ok(index)
    }

    /// A union and the branch the writer picks per value kind (`schemas.registry._branches`).
    fn union(&mut self, specs: &[Json], namespace: &str) -> Result<usize, String> {
        if specs.len() > 64 {
            return Err("a union of more than 64 branches".into());
        }
        let mut union = Union::default();
        for spec in specs {
            let node = self.parse(spec, namespace)?;
            if matches!(self.nodes[node], Node::Union(_)) {
                return Err("a union in a union".into());
            }
            union.branches.push(node);
        }
        let branch = |i: usize| Branch {
            byte: (2 * i) as u8,
            node: union.branches[i],
        };
        let first = |want: fn(&Node) -> bool| {
            union
                .branches
                .iter()
                .position(|&n| want(&self.nodes[n]))
                .map(branch)
        };
        let only = |want: fn(&Node) -> bool| {
            let mut found = union
                .branches
                .iter()
                .enumerate()
                .filter(|&(_, &n)| want(&self.nodes[n]));
            match (found.next(), found.next()) {
                (Some((i, _)), None) => Some(branch(i)),
                _ => None,
            }
        };
        let null = first(|n| matches!(n, Node::Null));
        let string = first(|n| matches!(n, Node::String));
        let boolean = first(|n| matches!(n, Node::Boolean));
        let float =
            first(|n| matches!(n, Node::Double)).or_else(|| first(|n| matches!(n, Node::Float)));
        let list = only(|n| matches!(n, Node::Array(_)));
        // an int goes to the first numeric branch, if that is an int or a long
        let int = first(|n| matches!(n, Node::Int | Node::Long | Node::Float | Node::Double))
            .filter(|b| matches!(self.nodes[b.node], Node::Int | Node::Long));
        // a dict goes to the one record or map, when there is exactly one of them
        let dict = only(|n| matches!(n, Node::Record(_) | Node::Map(_)));
        union = Union {
            null,
            string,
            boolean,
            float,
            int,
            dict,
            list,
            ..union
        };
        Ok(self.push(Node::Union(union)))
    }
}

/// The node of a primitive type name (None for the rest, including `bytes`).
fn primitive(name: &str) -> Option<Node> {
    Some(match name {
        "null" => Node::Null,
        "boolean" => Node::Boolean,
        "int" => Node::Int,
        "long" => Node::Long,
        "float" => Node::Float,
        "double" => Node::Double,
        "string" => Node::String,
        _ => return None,
    })
}

// -- decoding --------------------------------------------------------------------------------

/// Decode one Avro datum of `schema` from `body` (no Confluent frame) as the Python reader
/// does: records and maps to `Dict` (a repeated map key keeps its first place and takes the
/// last value), arrays to `List`. Bytes after the datum are ignored (as both Python readers
/// do). `Err` for truncated or malformed bytes and for what the Python reader leaves to
/// fastavro (negative block counts, a NaN `float`, ...).
pub fn decode(schema: &Schema, body: &[u8]) -> Result<Value, String> {
    let mut reader = Reader { data: body, pos: 0 };
    reader.value(schema, schema.root, 0)
}

/// A read position in a body.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

fn truncated() -> String {
    "truncated Avro body".into()
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, String> {
        let byte = *self.data.get(self.pos).ok_or_else(truncated)?;
        self.pos += 1;
        Ok(byte)
    }

    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(truncated)?;
        let bytes = &self.data[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    /// An unsigned varint of at most 10 bytes and 64 bits (`_read_varint`).
    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        let mut shift = 0;
        loop {
            let byte = self.byte()?;
            if shift == 63 && byte > 1 {
                return Err("varint beyond 64 bits".into());
            }
            value |= u64::from(byte & 0x7F) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
            shift += 7;
        }
    }

    /// A zig-zag `int` or `long` (no 32-bit check for `int`, as in Python).
    fn long(&mut self) -> Result<i64, String> {
        let n = self.varint()?;
        Ok(((n >> 1) as i64) ^ -((n & 1) as i64))
    }

    /// A non-negative length or count.
    fn size(&mut self) -> Result<usize, String> {
        let n = self.varint()?;
        if n & 1 == 1 {
            return Err("negative Avro length or block count".into());
        }
        usize::try_from(n >> 1).map_err(|_| truncated())
    }

    fn str(&mut self) -> Result<&str, String> {
        let size = self.size()?;
        let bytes = self.take(size)?;
        std::str::from_utf8(bytes).map_err(|e| format!("string: {e}"))
    }

    fn string(&mut self) -> Result<String, String> {
        self.str().map(str::to_owned)
    }

    /// The item count of the next block (0 at the end); `Err` for more items than bytes.
    fn block(&mut self) -> Result<usize, String> {
        let count = self.size()?;
        if count > self.data.len() {
            return Err("Avro block count beyond the body size".into());
        }
        Ok(count)
    }

    fn value(&mut self, schema: &Schema, node: usize, depth: usize) -> Result<Value, String> {
        let mut value = Value::Null;
        self.value_into(schema, node, depth, &mut value)?;
        Ok(value)
    }

    /// The value of `node` written into `slot` (a `Null`): decoded in place, so records,
    /// arrays and maps do not move each item out of a returned `Result` (a store-forwarding
    /// stall per item that showed in profiles).
    fn value_into(
        &mut self,
        schema: &Schema,
        node: usize,
        depth: usize,
        slot: &mut Value,
    ) -> Result<(), String> {
        match schema.node(node) {
            Node::Null => {}
            Node::Boolean => {
                *slot = match self.byte()? {
                    0 => Value::Bool(false),
                    1 => Value::Bool(true),
                    _ => return Err("boolean byte beyond 1".into()),
                }
            }
            Node::Int | Node::Long => *slot = Value::Int(self.long()?),
            Node::Float => {
                let value = f32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes"));
                if value.is_nan() {
                    return Err("NaN float".into());
                }
                *slot = Value::Float(f64::from(value));
            }
            Node::Double => {
                *slot = Value::Float(f64::from_le_bytes(
                    self.take(8)?.try_into().expect("8 bytes"),
                ));
            }
            Node::String => *slot = Value::Str(self.string()?),
            Node::Array(items) => {
                let mut list = Vec::new();
                loop {
                    let count = self.block()?;
                    if count == 0 {
                        break;
                    }
                    list.reserve(count);
                    for _ in 0..count {
                        list.push(Value::Null);
                        let last = list.len() - 1;
                        self.value_into(schema, *items, depth, &mut list[last])?;
                    }
                }
                *slot = Value::List(list);
            }
            Node::Map(values) => {
                let mut pairs: Vec<(Key, Value)> = Vec::new();
                loop {
                    let count = self.block()?;
                    if count == 0 {
                        break;
                    }
                    pairs.reserve(count);
                    for _ in 0..count {
                        let key = Key::from(self.str()?);
                        pairs.push((key, Value::Null));
                        let last = pairs.len() - 1;
                        self.value_into(schema, *values, depth, &mut pairs[last].1)?;
                    }
                }
                *slot = Value::Dict(dedup(pairs));
            }
            Node::Union(union) => {
                let byte = self.byte()?;
                let index = usize::from(byte / 2);
                match union.branches.get(index) {
                    Some(&branch) if byte % 2 == 0 => {
                        self.value_into(schema, branch, depth, slot)?;
                    }
                    _ => return Err(format!("union branch byte {byte}")),
                }
            }
            Node::Record(record) => {
                if depth >= MAX_DEPTH {
                    return Err("records nested too deep".into());
                }
                let mut pairs = Vec::with_capacity(record.fields.len());
                for (i, field) in record.fields.iter().enumerate() {
                    pairs.push((field.name.clone(), Value::Null));
                    self.value_into(schema, field.node, depth + 1, &mut pairs[i].1)?;
                }
                *slot = Value::Dict(pairs);
            }
        }
        Ok(())
    }
}

/// Map pairs as a Python dict built from them in order: a repeated key keeps its first place
/// and takes its last value.
fn dedup(pairs: Vec<(Key, Value)>) -> Vec<(Key, Value)> {
    let unique = if pairs.len() <= 16 {
        pairs
            .iter()
            .enumerate()
            .all(|(i, (k, _))| pairs[..i].iter().all(|(seen, _)| seen != k))
    } else {
        let mut seen = HashSet::with_capacity(pairs.len());
        pairs.iter().all(|(k, _)| seen.insert(&**k))
    };
    if unique {
        return pairs;
    }
    let mut out: Vec<(Key, Value)> = Vec::with_capacity(pairs.len());
    let mut places: HashMap<Key, usize> = HashMap::with_capacity(pairs.len());
    for (key, value) in pairs {
        match places.get(&key) {
            Some(&place) => out[place].1 = value,
            None => {
                places.insert(key.clone(), out.len());
                out.push((key, value));
            }
        }
    }
    out
}

// -- encoding --------------------------------------------------------------------------------

/// Append the zig-zag varint of `value` (an Avro `long`, length or count).
fn put_long(out: &mut Vec<u8>, value: i64) {
    let mut n = ((value << 1) ^ (value >> 63)) as u64;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Append an Avro `int` (`Err` beyond 32 bits: the Python writer leaves it to fastavro).
fn put_int(out: &mut Vec<u8>, value: i64) -> Result<(), String> {
    if i32::try_from(value).is_err() {
        return Err(format!("{value} is beyond an Avro int"));
    }
    put_long(out, value);
    Ok(())
}

/// Append an Avro `float` as `struct.pack("<f")` does (`Err` for NaN, and for a finite value
/// beyond the float range, where Python raises `OverflowError`).
fn put_float(out: &mut Vec<u8>, value: f64) -> Result<(), String> {
    let single = value as f32;
    if value.is_nan() || (single.is_infinite() && value.is_finite()) {
        return Err(format!("{value} does not fit an Avro float"));
    }
    out.extend_from_slice(&single.to_le_bytes());
    Ok(())
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    put_long(out, text.len() as i64);
    out.extend_from_slice(text.as_bytes());
}

fn mismatch(node: &Node) -> String {
    format!(
        "a value the Python writer does not write as {}",
        kind_name(node)
    )
}

fn kind_name(node: &Node) -> &'static str {
    match node {
        Node::Null => "null",
        Node::Boolean => "boolean",
        Node::Int => "int",
        Node::Long => "long",
        Node::Float => "float",
        Node::Double => "double",
        Node::String => "string",
        Node::Array(_) => "array",
        Node::Map(_) => "map",
        Node::Union(_) => "a union",
        Node::Record(_) => "record",
    }
}

/// Append the Avro body of `value` to `out`: the bytes `schemas.registry.Encoder.encode` writes
/// for the equivalent Python object, or `Err` (with `out` partly written: truncate it) for
/// anything the generated writer leaves to fastavro: a record whose keys are not exactly its
/// fields, a value of the wrong kind (an `Int` for a `double`, a `Bool` for an `int`, ...),
/// an `int` beyond 32 bits, a union with no branch for the value's kind, a float overflow.
pub fn encode_value(schema: &Schema, value: &Value, out: &mut Vec<u8>) -> Result<(), String> {
    write_value(schema, schema.root, value, out, 0)
}

fn write_value(
    schema: &Schema,
    node: usize,
    value: &Value,
    out: &mut Vec<u8>,
    depth: usize,
) -> Result<(), String> {
    let spec = schema.node(node);
    match (spec, value) {
        (Node::Null, Value::Null) => {}
        (Node::Boolean, Value::Bool(b)) => out.push(u8::from(*b)),
        (Node::Int, Value::Int(i)) => put_int(out, *i)?,
        (Node::Long, Value::Int(i)) => put_long(out, *i),
        (Node::Float, Value::Float(f)) => put_float(out, *f)?,
        (Node::Double, Value::Float(f)) => out.extend_from_slice(&f.to_le_bytes()),
        (Node::String, Value::Str(s)) => put_str(out, s),
        (Node::Array(items), Value::List(list)) => {
            if !list.is_empty() {
                put_long(out, list.len() as i64);
                for item in list {
                    write_value(schema, *items, item, out, depth)?;
                }
            }
            out.push(0);
        }
        (Node::Map(values), Value::Dict(pairs)) => {
            if !pairs.is_empty() {
                put_long(out, pairs.len() as i64);
                for (key, item) in pairs {
                    put_str(out, key);
                    write_value(schema, *values, item, out, depth)?;
                }
            }
            out.push(0);
        }
        (Node::Record(record), Value::Dict(pairs)) => {
            if depth >= MAX_DEPTH {
                return Err("records nested too deep".into());
            }
            if pairs.len() != record.fields.len() {
                return Err("a record whose keys are not its fields".into());
            }
            for (i, field) in record.fields.iter().enumerate() {
                // in field order (as decoded) the i-th pair is the field: else look it up
                let item = match pairs.get(i) {
                    Some((key, item)) if *key == field.name => item,
                    _ => pairs
                        .iter()
                        .find(|(key, _)| *key == field.name)
                        .map(|(_, item)| item)
                        .ok_or_else(|| format!("a record without field {}", field.name))?,
                };
                write_value(schema, field.node, item, out, depth + 1)?;
            }
        }
        (Node::Union(union), _) => {
            let branch = match value {
                Value::Null => union.null,
                Value::Bool(_) => union.boolean,
                Value::Int(_) => union.int,
                Value::Float(_) => union.float,
                Value::Str(_) => union.string,
                Value::List(_) => union.list,
                Value::Dict(_) => union.dict,
            }
            .ok_or("a value of a kind the union has no branch for")?;
            out.push(branch.byte);
            write_value(schema, branch.node, value, out, depth)?;
        }
        _ => return Err(mismatch(spec)),
    }
    Ok(())
}

#[cfg(feature = "python")]
pub use self::python::{encode_mixed, encode_py};

#[cfg(feature = "python")]
mod python {
    use pyo3::prelude::*;
    use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString};

    use super::{
        mismatch, put_float, put_int, put_long, put_str, write_value, Field, Node, Schema, Value,
        MAX_DEPTH,
    };

    /// The exact Python type of an object, as the generated writer tells them apart
    /// (`type(x) is T`; subclasses are `Other`).
    #[derive(Clone, Copy)]
    enum Obj<'a, 'py> {
        None,
        Bool(bool),
        Int(&'a Bound<'py, PyInt>),
        Float(f64),
        Str(&'a Bound<'py, PyString>),
        List(&'a Bound<'py, PyList>),
        Dict(&'a Bound<'py, PyDict>),
        Other,
    }

    fn classify<'a, 'py>(obj: &'a Bound<'py, PyAny>) -> Obj<'a, 'py> {
        if obj.is_none() {
            Obj::None
        } else if let Ok(s) = obj.cast_exact::<PyString>() {
            Obj::Str(s)
        } else if let Ok(i) = obj.cast_exact::<PyInt>() {
            Obj::Int(i)
        } else if let Ok(f) = obj.cast_exact::<PyFloat>() {
            Obj::Float(f.value())
        } else if let Ok(d) = obj.cast_exact::<PyDict>() {
            Obj::Dict(d)
        } else if let Ok(l) = obj.cast_exact::<PyList>() {
            Obj::List(l)
        } else if let Ok(b) = obj.cast_exact::<PyBool>() {
            Obj::Bool(b.is_true())
        } else {
            Obj::Other
        }
    }

    fn text<'a>(s: &'a Bound<'_, PyString>) -> Result<&'a str, String> {
        s.to_str().map_err(|e| format!("string: {e}"))
    }

    fn int(i: &Bound<'_, PyInt>) -> Result<i64, String> {
        i.extract::<i64>()
            .map_err(|_| "an int beyond 64 bits".to_owned())
    }

    /// The interned Python name of `field`.
    fn key<'a, 'py>(py: Python<'py>, field: &'a Field) -> &'a Bound<'py, PyString> {
        field
            .key
            .get_or_init(py, || PyString::intern(py, &field.name).unbind())
            .bind(py)
    }

    /// Like [`super::encode_value`], for the Python object `obj` (a dict record of dicts,
    /// lists, str, int, float, bool and None, exact types only): the bytes of
    /// `schemas.registry.Encoder.encode(obj | dict(overrides))`, or `Err` for anything its
    /// generated writer leaves to fastavro. `overrides` are top-level fields written from the
    /// given values (whether or not `obj` has those keys); each must be a field of the
    /// record. On `Err`, `out` may be partly written: truncate it.
    pub fn encode_py(
        schema: &Schema,
        obj: &Bound<'_, PyAny>,
        overrides: &[(&str, &Value)],
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
        let Node::Record(record) = schema.node(schema.root) else {
            return Err("the top level is not a record".into());
        };
        let Obj::Dict(dict) = classify(obj) else {
            return Err("a record that is not a dict".into());
        };
        let py = obj.py();
        let mut size = dict.len();
        for (i, (name, _)) in overrides.iter().enumerate() {
            let field = record
                .fields
                .iter()
                .find(|f| &*f.name == *name)
                .ok_or_else(|| format!("override {name} is not a field"))?;
            if overrides[..i].iter().any(|(seen, _)| seen == name) {
                return Err(format!("override {name} given twice"));
            }
            if !dict.contains(key(py, field)).map_err(|e| e.to_string())? {
                size += 1;
            }
        }
        if size != record.fields.len() {
            return Err("a record whose keys are not its fields".into());
        }
        for field in &record.fields {
            if let Some((_, value)) = overrides.iter().find(|(name, _)| *name == &*field.name) {
                write_value(schema, field.node, value, out, 1)?;
                continue;
            }
            let item = dict
                .get_item(key(py, field))
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("a record without field {}", field.name))?;
            write(schema, field.node, &item, out, 1)?;
        }
        Ok(())
    }

    /// [`super::encode_value`] of the record `value`, except its top-level fields named in
    /// `from_py`, which are written from `dict`'s items as [`encode_py`] writes them (the
    /// view of a record that Python steps changed). Err as both, and for a name in
    /// `from_py` that is not a field or that `dict` lacks. On `Err`, `out` may be partly
    /// written: truncate it.
    pub fn encode_mixed(
        schema: &Schema,
        value: &Value,
        dict: &Bound<'_, PyDict>,
        from_py: &[&str],
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
        let Node::Record(record) = schema.node(schema.root) else {
            return Err("the top level is not a record".into());
        };
        let Value::Dict(pairs) = value else {
            return Err("a record that is not a dict".into());
        };
        if pairs.len() != record.fields.len() {
            return Err("a record whose keys are not its fields".into());
        }
        if let Some(name) = from_py
            .iter()
            .find(|name| !record.fields.iter().any(|f| *f.name == ***name))
        {
            return Err(format!("{name} is not a field"));
        }
        let py = dict.py();
        for (i, field) in record.fields.iter().enumerate() {
            if from_py.iter().any(|name| **name == *field.name) {
                let item = dict
                    .get_item(key(py, field))
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| format!("a view without field {}", field.name))?;
                write(schema, field.node, &item, out, 1)?;
                continue;
            }
            let item = match pairs.get(i) {
                Some((name, item)) if *name == field.name => item,
                _ => pairs
                    .iter()
                    .find(|(name, _)| *name == field.name)
                    .map(|(_, item)| item)
                    .ok_or_else(|| format!("a record without field {}", field.name))?,
            };
            write_value(schema, field.node, item, out, 1)?;
        }
        Ok(())
    }

    /// Append `obj` as `node`.
    fn write(
        schema: &Schema,
        node: usize,
        obj: &Bound<'_, PyAny>,
        out: &mut Vec<u8>,
        depth: usize,
    ) -> Result<(), String> {
        write_as(schema, node, classify(obj), out, depth)
    }

    /// Append an object of the type `value` tells as `node`.
    fn write_as(
        schema: &Schema,
        node: usize,
        value: Obj<'_, '_>,
        out: &mut Vec<u8>,
        depth: usize,
    ) -> Result<(), String> {
        let spec = schema.node(node);
        match (spec, value) {
            (Node::Null, Obj::None) => {}
            (Node::Boolean, Obj::Bool(b)) => out.push(u8::from(b)),
            (Node::Int, Obj::Int(i)) => put_int(out, int(i)?)?,
            (Node::Long, Obj::Int(i)) => put_long(out, int(i)?),
            (Node::Float, Obj::Float(f)) => put_float(out, f)?,
            (Node::Double, Obj::Float(f)) => out.extend_from_slice(&f.to_le_bytes()),
            (Node::String, Obj::Str(s)) => put_str(out, text(s)?),
            (Node::Array(items), Obj::List(list)) => {
                if !list.is_empty() {
                    put_long(out, list.len() as i64);
                    for item in list.iter() {
                        write(schema, *items, &item, out, depth)?;
                    }
                }
                out.push(0);
            }
            (Node::Map(values), Obj::Dict(dict)) => {
                if !dict.is_empty() {
                    put_long(out, dict.len() as i64);
                    for (k, item) in dict.iter() {
                        let Obj::Str(k) = classify(&k) else {
                            return Err("a map key that is not a str".into());
                        };
                        put_str(out, text(k)?);
                        write(schema, *values, &item, out, depth)?;
                    }
                }
                out.push(0);
            }
            (Node::Record(record), Obj::Dict(dict)) => {
                if depth >= MAX_DEPTH {
                    return Err("records nested too deep".into());
                }
                if dict.len() != record.fields.len() {
                    return Err("a record whose keys are not its fields".into());
                }
                for field in &record.fields {
                    let item = dict
                        .get_item(key(dict.py(), field))
                        .map_err(|e| e.to_string())?
                        .ok_or_else(|| format!("a record without field {}", field.name))?;
                    write(schema, field.node, &item, out, depth + 1)?;
                }
            }
            (Node::Union(union), _) => {
                let branch = match value {
                    Obj::None => union.null,
                    Obj::Bool(_) => union.boolean,
                    Obj::Int(_) => union.int,
                    Obj::Float(_) => union.float,
                    Obj::Str(_) => union.string,
                    Obj::List(_) => union.list,
                    Obj::Dict(_) => union.dict,
                    Obj::Other => None,
                }
                .ok_or("a value of a type the union has no branch for")?;
                out.push(branch.byte);
                write_as(schema, branch.node, value, out, depth)?;
            }
            _ => return Err(mismatch(spec)),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HTTP_ACTIVITY: &str = include_str!("../../../schemas/ocsf.http_activity.avsc");
    const HTTP_REQUESTS: &str = include_str!("../../../schemas/cloudflare.http_requests.avsc");
    const FIXTURES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/avro_records.json"
    );

    fn dict(pairs: &[(&str, Value)]) -> Value {
        Value::Dict(
            pairs
                .iter()
                .map(|(k, v)| (Key::from(*k), v.clone()))
                .collect(),
        )
    }

    fn s(text: &str) -> Value {
        Value::Str(text.to_owned())
    }

    /// A record schema of one field `x` of type `spec` (JSON).
    fn one(spec: &str) -> Schema {
        parse_schema(&format!(
            r#"{{"type": "record", "name": "R", "fields": [{{"name": "x", "type": {spec}}}]}}"#
        ))
        .unwrap()
    }

    fn encode(schema: &Schema, value: &Value) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        encode_value(schema, value, &mut out).map(|()| out)
    }

    fn encode_x(schema: &Schema, x: Value) -> Result<Vec<u8>, String> {
        encode(schema, &dict(&[("x", x)]))
    }

    fn decode_x(schema: &Schema, body: &[u8]) -> Result<Value, String> {
        decode(schema, body).map(|v| v.get("x").unwrap().clone())
    }

    #[test]
    fn varints_and_zigzag() {
        let long = one(r#""long""#);
        for (n, bytes) in [
            (0i64, vec![0u8]),
            (-1, vec![1]),
            (1, vec![2]),
            (-64, vec![0x7F]),
            (64, vec![0x80, 0x01]),
            (8191, vec![0xFE, 0x7F]),
            (
                i64::MAX,
                vec![0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
            ),
            (
                i64::MIN,
                vec![0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
            ),
        ] {
            assert_eq!(encode_x(&long, Value::Int(n)).unwrap(), bytes, "{n}");
            assert_eq!(decode_x(&long, &bytes).unwrap(), Value::Int(n));
        }
        // overlong encodings read as Python does; beyond 10 bytes or 64 bits they are refused
        assert_eq!(decode_x(&long, &[0x80, 0x80, 0x00]).unwrap(), Value::Int(0));
        assert!(decode_x(
            &long,
            &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02]
        )
        .is_err());
        assert!(decode_x(&long, &[0x80; 10]).is_err());
        assert!(decode_x(&long, &[0x80]).is_err());
        // an int beyond 32 bits: written by fastavro (refused), read as Python does
        let int = one(r#""int""#);
        assert_eq!(
            encode_x(&int, Value::Int(i64::from(i32::MIN))).unwrap(),
            vec![0xFF, 0xFF, 0xFF, 0xFF, 0x0F]
        );
        assert!(encode_x(&int, Value::Int(1 << 31)).is_err());
        assert_eq!(
            decode_x(&int, &[0x80, 0x80, 0x80, 0x80, 0x10]).unwrap(),
            Value::Int(1 << 31)
        );
        // bools, floats are not ints
        assert!(encode_x(&int, Value::Bool(true)).is_err());
        assert!(encode_x(&long, Value::Float(1.0)).is_err());
    }

    #[test]
    fn scalars() {
        let boolean = one(r#""boolean""#);
        assert_eq!(encode_x(&boolean, Value::Bool(true)).unwrap(), [1]);
        assert!(encode_x(&boolean, Value::Int(1)).is_err());
        assert!(decode_x(&boolean, &[2]).is_err());
        let double = one(r#"{"type": "double", "doc": "a primitive as an object"}"#);
        assert_eq!(
            encode_x(&double, Value::Float(1.5)).unwrap(),
            1.5f64.to_le_bytes()
        );
        assert!(encode_x(&double, Value::Int(1)).is_err());
        let nan = f64::from_bits(0x7FF8_0000_0000_0123);
        let bytes = encode_x(&double, Value::Float(nan)).unwrap();
        assert_eq!(bytes, nan.to_le_bytes());
        let Value::Float(back) = decode_x(&double, &bytes).unwrap() else {
            panic!()
        };
        assert_eq!(back.to_bits(), nan.to_bits());
        let float = one(r#""float""#);
        assert_eq!(
            encode_x(&float, Value::Float(0.1)).unwrap(),
            0.1f32.to_le_bytes()
        );
        assert_eq!(
            decode_x(&float, &0.1f32.to_le_bytes()).unwrap(),
            Value::Float(f64::from(0.1f32))
        );
        assert_eq!(
            encode_x(&float, Value::Float(f64::INFINITY)).unwrap(),
            f32::INFINITY.to_le_bytes()
        );
        assert!(encode_x(&float, Value::Float(1e39)).is_err());
        assert!(encode_x(&float, Value::Float(f64::NAN)).is_err());
        assert!(decode_x(&float, &f32::NAN.to_le_bytes()).is_err());
        assert!(decode_x(&double, &[0; 7]).is_err());
        let null = one(r#""null""#);
        assert_eq!(encode_x(&null, Value::Null).unwrap(), Vec::<u8>::new());
        assert!(encode_x(&null, Value::Bool(false)).is_err());
    }

    #[test]
    fn strings() {
        let string = one(r#""string""#);
        let bytes = encode_x(&string, s("héllo")).unwrap();
        assert_eq!(bytes, b"\x0ch\xc3\xa9llo");
        assert_eq!(decode_x(&string, &bytes).unwrap(), s("héllo"));
        let long = "x".repeat(300);
        let bytes = encode_x(&string, s(&long)).unwrap();
        assert_eq!(&bytes[..2], [0xD8, 0x04]);
        assert_eq!(decode_x(&string, &bytes).unwrap(), s(&long));
        assert!(decode_x(&string, b"\x04\xff\xfe").is_err()); // invalid UTF-8
        assert!(decode_x(&string, b"\x06ab").is_err()); // truncated
        assert!(decode_x(&string, b"\x03ab").is_err()); // negative length
        assert!(encode_x(&string, Value::Null).is_err());
    }

    #[test]
    fn unions() {
        let optional = one(r#"["null", "string"]"#);
        assert_eq!(encode_x(&optional, Value::Null).unwrap(), [0]);
        assert_eq!(encode_x(&optional, s("a")).unwrap(), b"\x02\x02a");
        assert_eq!(decode_x(&optional, b"\x02\x02a").unwrap(), s("a"));
        assert!(encode_x(&optional, Value::Int(1)).is_err());
        assert!(decode_x(&optional, &[4]).is_err());
        assert!(decode_x(&optional, &[1]).is_err());
        // a float prefers a later double; an int the first numeric branch if int or long
        let numbers = one(r#"["null", "float", "long", "double"]"#);
        assert_eq!(encode_x(&numbers, Value::Float(2.0)).unwrap()[0], 6);
        assert!(encode_x(&numbers, Value::Int(2)).is_err());
        let numbers = one(r#"["int", "null", "double", "boolean"]"#);
        assert_eq!(encode_x(&numbers, Value::Int(3)).unwrap(), [0, 6]);
        assert!(encode_x(&numbers, Value::Int(1 << 40)).is_err());
        assert_eq!(encode_x(&numbers, Value::Bool(true)).unwrap(), [6, 1]);
        assert_eq!(encode_x(&numbers, Value::Float(0.5)).unwrap()[0], 4);
        // a dict needs exactly one record or map; a list exactly one array
        let two = one(
            r#"["null", {"type": "map", "values": "string"}, {"type": "record", "name": "E", "fields": []}]"#,
        );
        assert!(encode_x(&two, Value::Dict(vec![])).is_err());
        assert_eq!(decode_x(&two, &[2, 0]).unwrap(), Value::Dict(vec![]));
        let arrays = one(
            r#"["null", {"type": "array", "items": "int"}, {"type": "array", "items": "string"}]"#,
        );
        assert!(encode_x(&arrays, Value::List(vec![])).is_err());
        assert!(parse_schema(r#"{"type": "record", "name": "R", "fields": [{"name": "x", "type": ["null", ["null"]]}]}"#).is_err());
    }

    #[test]
    fn records_and_names() {
        let schema = parse_schema(
            r#"{"type": "record", "name": "Outer", "namespace": "a.b", "fields": [
                {"name": "in", "type": {"type": "record", "name": "Inner", "fields": [
                    {"name": "n", "type": "long"}]}},
                {"name": "again", "type": ["null", "Inner"]},
                {"name": "full", "type": {"type": "array", "items": "a.b.Inner"}},
                {"name": "other", "type": {"type": "record", "name": "c.Other", "fields": [
                    {"name": "self", "type": ["null", "Other"]}]}}]}"#,
        )
        .unwrap();
        let inner = |n| dict(&[("n", Value::Int(n))]);
        let value = dict(&[
            ("in", inner(1)),
            ("again", inner(2)),
            ("full", Value::List(vec![inner(3), inner(4)])),
            ("other", dict(&[("self", dict(&[("self", Value::Null)]))])),
        ]);
        let bytes = encode(&schema, &value).unwrap();
        assert_eq!(bytes, [2, 2, 4, 4, 6, 8, 0, 2, 0]);
        assert_eq!(decode(&schema, &bytes).unwrap(), value);
        // fields in another order: same bytes; a missing or an extra key: refused
        let Value::Dict(mut pairs) = value.clone() else {
            unreachable!()
        };
        pairs.reverse();
        assert_eq!(encode(&schema, &Value::Dict(pairs.clone())).unwrap(), bytes);
        pairs.pop();
        assert!(encode(&schema, &Value::Dict(pairs.clone())).is_err());
        pairs.push(("extra".into(), Value::Null));
        assert!(encode(&schema, &Value::Dict(pairs)).is_err());
        // bytes after the datum are ignored (as the Python readers do)
        assert_eq!(
            decode(&schema, &[2, 2, 4, 4, 6, 8, 0, 2, 0, 99]).unwrap(),
            value
        );
        assert!(decode(&schema, &bytes[..bytes.len() - 1]).is_err());
        // an unqualified name resolves in the enclosing namespace only (fastavro)
        assert!(parse_schema(
            r#"{"type": "record", "name": "R", "namespace": "n", "fields": [
                {"name": "a", "type": {"type": "record", "name": "m.S", "fields": []}},
                {"name": "b", "type": "S"}]}"#
        )
        .is_err());
    }

    #[test]
    fn arrays_and_maps() {
        let array = one(r#"{"type": "array", "items": "long"}"#);
        assert_eq!(encode_x(&array, Value::List(vec![])).unwrap(), [0]);
        let list = Value::List(vec![Value::Int(1), Value::Int(-1)]);
        assert_eq!(encode_x(&array, list.clone()).unwrap(), [4, 2, 1, 0]);
        // several blocks; a negative count (a block with its size) is refused
        assert_eq!(decode_x(&array, &[2, 2, 2, 1, 0]).unwrap(), list);
        assert!(decode_x(&array, &[3, 2, 2, 1, 0]).is_err());
        assert!(decode_x(&array, &[0x7E, 0]).is_err()); // more items than bytes
        let map = one(r#"{"type": "map", "values": ["null", "string"]}"#);
        let value = Value::Dict(vec![("b".into(), s("x")), ("a".into(), Value::Null)]);
        let bytes = encode_x(&map, value.clone()).unwrap();
        assert_eq!(bytes, b"\x04\x02b\x02\x02x\x02a\x00\x00");
        assert_eq!(decode_x(&map, &bytes).unwrap(), value);
        // a repeated key keeps its first place, takes its last value (a Python dict)
        let repeated = b"\x06\x02b\x00\x02a\x00\x02b\x02\x02y\x00";
        let expected = Value::Dict(vec![("b".into(), s("y")), ("a".into(), Value::Null)]);
        assert_eq!(decode_x(&map, repeated).unwrap(), expected);
        let many: Vec<(Key, Value)> = (0..40)
            .map(|i| (format!("k{}", i % 30).into(), Value::Int(i)))
            .collect();
        let deduped = dedup(many);
        assert_eq!(deduped.len(), 30);
        assert_eq!(deduped[3], ("k3".into(), Value::Int(33)));
        assert!(encode_x(&map, Value::List(vec![])).is_err());
    }

    #[test]
    fn unsupported_schemas() {
        for spec in [
            r#""bytes""#,
            r#"{"type": "enum", "name": "E", "symbols": ["A"]}"#,
            r#"{"type": "fixed", "name": "F", "size": 2}"#,
            r#"{"type": "long", "logicalType": "timestamp-millis"}"#,
            r#"{"type": "error", "name": "X", "fields": []}"#,
            r#""Unknown""#,
        ] {
            let text = format!(
                r#"{{"type": "record", "name": "R", "fields": [{{"name": "x", "type": {spec}}}]}}"#
            );
            assert!(parse_schema(&text).is_err(), "{spec}");
        }
        assert!(parse_schema(r#""string""#).is_err());
        assert!(parse_schema(r#"{"type": "record", "name": "R", "fields": [{"name": "x", "type": "int"}, {"name": "x", "type": "int"}]}"#).is_err());
    }

    /// A value of every shape `node` allows (branches and presence varying with `seed`).
    fn sample(schema: &Schema, node: usize, seed: &mut u64) -> Value {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let r = *seed >> 33;
        match schema.node(node) {
            Node::Null => Value::Null,
            Node::Boolean => Value::Bool(r & 1 == 1),
            Node::Int => Value::Int(r as i32 as i64),
            Node::Long => Value::Int((r as i64) << 20 ^ -(r as i64 & 1)),
            Node::Float => Value::Float(f64::from(r as f32 / 7.0)),
            Node::Double => Value::Float(r as f64 / 3.0),
            Node::String => Value::Str(format!("s{r}é")),
            Node::Array(items) => {
                Value::List((0..r % 3).map(|_| sample(schema, *items, seed)).collect())
            }
            Node::Map(values) => Value::Dict(
                (0..r % 3)
                    .map(|i| (format!("k{i}").into(), sample(schema, *values, seed)))
                    .collect(),
            ),
            Node::Union(union) => {
                let branch = union.branches[(r as usize) % union.branches.len()];
                sample(schema, branch, seed)
            }
            Node::Record(record) => Value::Dict(
                record
                    .fields
                    .iter()
                    .map(|f| (f.name.clone(), sample(schema, f.node, seed)))
                    .collect(),
            ),
        }
    }

    #[test]
    fn real_schemas_round_trip() {
        for text in [HTTP_ACTIVITY, HTTP_REQUESTS] {
            let schema = parse_schema(text).unwrap();
            let mut seed = 1;
            for _ in 0..200 {
                let value = sample(&schema, schema.root, &mut seed);
                let bytes = encode(&schema, &value).unwrap();
                assert_eq!(decode(&schema, &bytes).unwrap(), value);
            }
        }
    }

    /// A fixture's tagged value (see `tests/avro_fixtures.py`).
    fn untag(json: &Json) -> Value {
        let Some(object) = json.as_object() else {
            return Value::Null;
        };
        let (tag, inner) = object.iter().next().unwrap();
        match tag.as_str() {
            "b" => Value::Bool(inner.as_bool().unwrap()),
            "i" => Value::Int(inner.as_i64().unwrap()),
            "f" => Value::Float(f64::from_bits(inner.as_u64().unwrap())),
            "s" => Value::Str(inner.as_str().unwrap().to_owned()),
            "l" => Value::List(inner.as_array().unwrap().iter().map(untag).collect()),
            "d" => Value::Dict(
                inner
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|pair| (pair[0].as_str().unwrap().into(), untag(&pair[1])))
                    .collect(),
            ),
            _ => panic!("tag {tag}"),
        }
    }

    fn unhex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The Python path's bodies (`tests/avro_fixtures.py`): the same bytes where the
    /// generated writer takes the record, `Err` where it leaves it to fastavro; the compiled
    /// reader's records.
    #[test]
    fn python_fixtures() {
        // written by `tests/avro_fixtures.py` (make test runs it first; not in git)
        let text = std::fs::read_to_string(FIXTURES)
            .expect("no Avro fixtures: run .venv/bin/python native/tests/avro_fixtures.py");
        let fixtures: Json = serde_json::from_str(&text).unwrap();
        let mut schemas = HashMap::new();
        for (name, spec) in fixtures["schemas"].as_object().unwrap() {
            let parsed = parse_schema(spec["text"].as_str().unwrap());
            assert_eq!(
                parsed.is_ok(),
                spec["compiled"].as_bool().unwrap(),
                "{name}"
            );
            schemas.insert(name.clone(), parsed);
        }
        let (mut same, mut refused) = (0, 0);
        for case in fixtures["cases"].as_array().unwrap() {
            let Ok(schema) = &schemas[case["schema"].as_str().unwrap()] else {
                continue;
            };
            let value = untag(&case["value"]);
            let expected = unhex(case["hex"].as_str().unwrap());
            let written = encode(schema, &value);
            if case["compiled"].as_bool().unwrap() {
                assert_eq!(written.as_ref(), Ok(&expected), "{}", case["schema"]);
                let decoded = case.get("decoded").map_or_else(|| value.clone(), untag);
                assert_eq!(decode(schema, &expected).unwrap(), decoded);
                same += 1;
            } else {
                assert!(written.is_err(), "{}: {value:?}", case["schema"]);
                refused += 1;
            }
        }
        assert!(same > 100 && refused > 20, "{same} {refused}");
    }
}
