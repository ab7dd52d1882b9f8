//! One NDJSON line -> (key, Confluent-framed Avro value), for flat record schemas.
//!
//! The reference is the Python path (`connector.fastencode` after `fastencode.loads_line`),
//! which follows `convert.to_record` + fastavro. This encoder implements the common case
//! exactly and refuses everything else with [`Fallback`], so the caller re-encodes that line
//! in Python and every `extra` / dead-letter decision stays Python's:
//!
//! - invalid JSON, invalid UTF-8, a top level that is not an object, duplicate keys;
//! - a key the schema does not know (it would go to `extra`), or one written with escapes;
//! - a value of a type no branch of its field accepts (it would go to `extra`);
//! - a missing or empty key field, a missing or null required field;
//! - integers outside 64 bits (or outside 32 bits for `int`), floats that overflow to
//!   infinity, lone UTF-16 surrogates in `\u` escapes, nesting deeper than [`MAX_DEPTH`];
//! - objects for non-JSON fields (`map` fields), nested values inside arrays.
//!
//! JSON fields (`json_fields`) are re-serialised like Python's
//! `json.dumps(v, separators=(",", ":"), ensure_ascii=False)`, floats with Python's `repr`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU32, Ordering};

/// This line must go through the Python path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fallback;

type R<T> = Result<T, Fallback>;

/// Deeper nesting (inside JSON fields) is left to Python.
pub const MAX_DEPTH: u32 = 64;

/// A primitive Avro type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prim {
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Str,
}

impl Prim {
    /// Parse an Avro primitive type name.
    pub fn parse(name: &str) -> Option<Prim> {
        Some(match name {
            "boolean" => Prim::Boolean,
            "int" => Prim::Int,
            "long" => Prim::Long,
            "float" => Prim::Float,
            "double" => Prim::Double,
            "string" => Prim::Str,
            _ => return None,
        })
    }
}

/// What one non-null union branch holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Prim(Prim),
    Array(Prim),
    Map,
}

/// A non-null branch with its union prefix (empty for a plain type).
#[derive(Debug, Clone)]
pub struct Branch {
    pub prefix: Vec<u8>,
    pub kind: Kind,
}

/// One schema field (not `extra`), as `connector.fastencode` sees it.
#[derive(Debug, Clone)]
pub struct FieldSpec {
    pub name: String,
    /// The bytes of null (the union index), None if the field is required.
    pub null: Option<Vec<u8>>,
    pub branches: Vec<Branch>,
    /// For a JSON field: the prefix of its string branch.
    pub json: Option<Vec<u8>>,
}

/// A union prefix: one byte (the branch index, zigzag), or none for a plain type.
type Pre = Option<u8>;

#[inline]
fn put(out: &mut Vec<u8>, pre: Pre) {
    if let Some(b) = pre {
        out.push(b);
    }
}

fn pre_of(bytes: &[u8], what: &str) -> Result<Pre, String> {
    match bytes {
        [] => Ok(None),
        [b] => Ok(Some(*b)),
        _ => Err(format!("{what}: union prefixes are one byte")),
    }
}

#[derive(Debug, Clone, Copy)]
struct IBranch {
    pre: Pre,
    kind: Kind,
}

struct Field {
    /// The name and its closing quote, as the key appears in a line.
    quoted: Key,
    /// The byte of null (the union index), None if the field is required.
    null: Option<u8>,
    branches: Vec<IBranch>,
    /// For a JSON field: the prefix of its string branch.
    json: Option<Pre>,
    /// First branch that accepts a string / integer / float / boolean value.
    str_b: Option<usize>,
    int_b: Option<usize>,
    float_b: Option<usize>,
    bool_b: Option<usize>,
    /// Array branches in union order.
    arrays: Vec<usize>,
}

/// A schema compiled for lines.
pub struct Codec {
    prefix: Box<[u8]>,
    fields: Vec<Field>,
    /// `extra` is written before `fields[extra_at]` (or last when `extra_at == fields.len()`).
    extra: Option<(usize, Box<[u8]>)>,
    key: usize,
    lookup: HashMap<Box<[u8]>, usize>,
    /// Field seen after field i in the last line (index `fields.len()`: the first field).
    next_guess: Vec<AtomicU32>,
}

/// One encoded line: key bytes and the framed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

const ABSENT: u32 = u32::MAX;

impl Codec {
    /// Build from field specs in schema order; `extra` = (position among the fields, the
    /// bytes of an empty `extra` map). Errors name what is not supported.
    pub fn new(
        specs: Vec<FieldSpec>,
        extra: Option<(usize, Vec<u8>)>,
        key_field: &str,
        prefix: Vec<u8>,
    ) -> Result<Codec, String> {
        let mut fields = Vec::with_capacity(specs.len());
        let mut lookup = HashMap::new();
        for (i, spec) in specs.into_iter().enumerate() {
            if spec.branches.is_empty() {
                return Err(format!("field {:?} has no non-null type", spec.name));
            }
            let first = |ok: &dyn Fn(Kind) -> bool| spec.branches.iter().position(|b| ok(b.kind));
            let str_b = first(&|k| k == Kind::Prim(Prim::Str));
            let int_b = first(&|k| {
                matches!(
                    k,
                    Kind::Prim(Prim::Int | Prim::Long | Prim::Float | Prim::Double)
                )
            });
            let float_b = first(&|k| matches!(k, Kind::Prim(Prim::Float | Prim::Double)));
            let bool_b = first(&|k| k == Kind::Prim(Prim::Boolean));
            let arrays = (0..spec.branches.len())
                .filter(|&b| matches!(spec.branches[b].kind, Kind::Array(_)))
                .collect();
            if lookup.insert(spec.name.as_bytes().into(), i).is_some() {
                return Err(format!("duplicate field {:?}", spec.name));
            }
            let null = match spec.null.as_deref() {
                None => None,
                Some([b]) => Some(*b),
                Some(_) => return Err(format!("field {:?}: null must be one byte", spec.name)),
            };
            let mut branches = Vec::with_capacity(spec.branches.len());
            for b in &spec.branches {
                branches.push(IBranch {
                    pre: pre_of(&b.prefix, &spec.name)?,
                    kind: b.kind,
                });
            }
            let json = match spec.json.as_deref() {
                None => None,
                Some(bytes) => Some(pre_of(bytes, &spec.name)?),
            };
            fields.push(Field {
                quoted: Key::new(&[spec.name.as_bytes(), b"\""].concat()),
                null,
                branches,
                json,
                str_b,
                int_b,
                float_b,
                bool_b,
                arrays,
            });
        }
        let key = *lookup
            .get(key_field.as_bytes())
            .ok_or_else(|| format!("key field {key_field:?} is not in the schema"))?;
        if fields[key].str_b.is_none() || fields[key].json.is_some() {
            return Err(format!(
                "key field {key_field:?} must be a (non-JSON) string field"
            ));
        }
        if let Some((at, _)) = &extra {
            if *at > fields.len() {
                return Err("extra position out of range".into());
            }
        }
        if fields.len() >= ABSENT as usize {
            return Err("too many fields".into());
        }
        let n = fields.len();
        let next_guess = (0..=n)
            .map(|i| AtomicU32::new(((i + 1) % (n + 1)) as u32))
            .collect();
        Ok(Codec {
            prefix: prefix.into(),
            fields,
            extra: extra.map(|(at, bytes)| (at, bytes.into())),
            key,
            lookup,
            next_guess,
        })
    }

    /// Number of schema fields (without `extra`).
    pub fn field_count(&self) -> usize {
        self.fields.len()
    }

    /// Encode one line into `scratch` (reused buffers); see the module docs for refusals.
    pub fn encode_into(&self, line: &[u8], s: &mut Scratch) -> R<()> {
        if line.len() > (u32::MAX / 4) as usize {
            return Err(Fallback); // spans are u32
        }
        let n = self.fields.len();
        s.spans.clear();
        s.spans.resize(n, (ABSENT, ABSENT));
        s.body.clear();
        let mut p = Parser { s: line, i: 0 };
        p.ws();
        p.expect(b'{')?;
        p.ws();
        let mut key: Option<(usize, usize)> = None;
        if p.peek() == Some(b'}') {
            return Err(Fallback); // no key field
        }
        let mut prev = n;
        loop {
            p.expect(b'"')?;
            // the field that followed `prev` in the last line, with its closing quote
            let guess = self.next_guess[prev].load(Ordering::Relaxed) as usize;
            let idx = match self.fields.get(guess) {
                Some(f) if f.quoted.at(line, p.i) => {
                    p.i += f.quoted.len;
                    guess
                }
                _ => {
                    let (ks, ke, kesc, _) = p.string()?;
                    if kesc {
                        return Err(Fallback);
                    }
                    let idx = *self.lookup.get(&line[ks..ke]).ok_or(Fallback)?;
                    self.next_guess[prev].store(idx as u32, Ordering::Relaxed);
                    idx
                }
            };
            prev = idx;
            p.ws();
            p.expect(b':')?;
            p.ws();
            if s.spans[idx].0 != ABSENT {
                return Err(Fallback); // duplicate key
            }
            let start = s.body.len();
            let f = &self.fields[idx];
            let data = self.value(f, &mut p, s)?;
            if idx == self.key {
                match data {
                    Some(range) if range.0 < range.1 => key = Some(range),
                    _ => return Err(Fallback), // not a string, or empty
                }
            }
            s.spans[idx] = (start as u32, s.body.len() as u32);
            p.ws();
            match p.next() {
                Some(b',') => p.ws(),
                Some(b'}') => break,
                _ => return Err(Fallback),
            }
        }
        p.ws();
        if p.i != line.len() {
            return Err(Fallback);
        }
        let (ks, ke) = key.ok_or(Fallback)?;
        s.key.clear();
        s.key.extend_from_slice(&s.body[ks..ke]);
        // assemble in schema order, copying runs of values that are adjacent in `body`
        // (all of them when the line lists its fields in schema order)
        let v = &mut s.value;
        v.clear();
        v.reserve(self.prefix.len() + s.body.len() + n + 2);
        v.extend_from_slice(&self.prefix);
        let (mut run_a, mut run_b) = (0usize, 0usize);
        for (i, f) in self.fields.iter().enumerate() {
            let (a, b) = s.spans[i];
            if a != ABSENT
                && a as usize == run_b
                && !matches!(&self.extra, Some((at, _)) if *at == i)
            {
                run_b = b as usize;
                continue;
            }
            v.extend_from_slice(&s.body[run_a..run_b]);
            if let Some((at, bytes)) = &self.extra {
                if *at == i {
                    v.extend_from_slice(bytes);
                }
            }
            if a == ABSENT {
                v.push(f.null.ok_or(Fallback)?);
                run_a = 0;
                run_b = 0;
            } else {
                run_a = a as usize;
                run_b = b as usize;
            }
        }
        v.extend_from_slice(&s.body[run_a..run_b]);
        if let Some((at, bytes)) = &self.extra {
            if *at == n {
                v.extend_from_slice(bytes);
            }
        }
        Ok(())
    }

    /// Convenience for tests: encode one line into fresh buffers.
    pub fn encode(&self, line: &[u8]) -> R<Encoded> {
        let mut s = Scratch::default();
        self.encode_into(line, &mut s)?;
        Ok(Encoded {
            key: s.key,
            value: s.value,
        })
    }

    /// Write the value at `p` for field `f` into `s.body`; for a string value, return the
    /// range of its UTF-8 bytes in `s.body` (the key).
    fn value(&self, f: &Field, p: &mut Parser, s: &mut Scratch) -> R<Option<(usize, usize)>> {
        let c = p.peek().ok_or(Fallback)?;
        if c == b'n' {
            p.literal(b"null")?;
            s.body.push(f.null.ok_or(Fallback)?);
            return Ok(None);
        }
        if let Some(pre) = f.json {
            s.tmp.clear();
            let mut tmp = std::mem::take(&mut s.tmp);
            s.keys.clear();
            let r = canon(p, &mut tmp, &mut s.tmp2, &mut s.keys, 0);
            put(&mut s.body, pre);
            varint(&mut s.body, (tmp.len() as u64) << 1);
            s.body.extend_from_slice(&tmp);
            s.tmp = tmp;
            r?;
            return Ok(None);
        }
        match c {
            b'"' => {
                let b = f.str_b.ok_or(Fallback)?;
                p.i += 1;
                let (a, e, esc, _) = p.string()?;
                put(&mut s.body, f.branches[b].pre);
                let raw = &p.s[a..e];
                if esc {
                    s.tmp.clear();
                    unescape(raw, &mut s.tmp)?;
                    varint(&mut s.body, (s.tmp.len() as u64) << 1);
                    let start = s.body.len();
                    s.body.extend_from_slice(&s.tmp);
                    Ok(Some((start, s.body.len())))
                } else {
                    varint(&mut s.body, (raw.len() as u64) << 1);
                    let start = s.body.len();
                    s.body.extend_from_slice(raw);
                    Ok(Some((start, s.body.len())))
                }
            }
            b'-' | b'0'..=b'9' => {
                match p.number()? {
                    Num::Int(v) => {
                        let b = &f.branches[f.int_b.ok_or(Fallback)?];
                        put(&mut s.body, b.pre);
                        match b.kind {
                            Kind::Prim(prim) => write_int(&mut s.body, prim, v)?,
                            _ => return Err(Fallback),
                        }
                    }
                    Num::Float(x) => {
                        let b = &f.branches[f.float_b.ok_or(Fallback)?];
                        put(&mut s.body, b.pre);
                        match b.kind {
                            Kind::Prim(Prim::Float) => {
                                s.body.extend_from_slice(&(x as f32).to_le_bytes())
                            }
                            _ => s.body.extend_from_slice(&x.to_le_bytes()),
                        }
                    }
                }
                Ok(None)
            }
            b't' | b'f' => {
                let v = if c == b't' {
                    p.literal(b"true")?;
                    1u8
                } else {
                    p.literal(b"false")?;
                    0u8
                };
                let b = &f.branches[f.bool_b.ok_or(Fallback)?];
                put(&mut s.body, b.pre);
                s.body.push(v);
                Ok(None)
            }
            b'[' => {
                self.array(f, p, s)?;
                Ok(None)
            }
            _ => Err(Fallback), // objects (map fields, mistyped), garbage
        }
    }

    fn array(&self, f: &Field, p: &mut Parser, s: &mut Scratch) -> R<()> {
        if f.arrays.is_empty() {
            return Err(Fallback);
        }
        p.i += 1;
        p.ws();
        s.items.clear();
        if p.peek() == Some(b']') {
            p.i += 1;
            put(&mut s.body, f.branches[f.arrays[0]].pre);
            s.body.push(0);
            return Ok(());
        }
        loop {
            let item = match p.peek().ok_or(Fallback)? {
                b'"' => {
                    p.i += 1;
                    let (a, e, esc, _) = p.string()?;
                    Item::Str(a, e, esc)
                }
                b'-' | b'0'..=b'9' => match p.number()? {
                    Num::Int(v) => Item::Int(v),
                    Num::Float(x) => Item::Float(x),
                },
                b't' => {
                    p.literal(b"true")?;
                    Item::Bool(true)
                }
                b'f' => {
                    p.literal(b"false")?;
                    Item::Bool(false)
                }
                _ => return Err(Fallback), // null, nested: no primitive array accepts them
            };
            s.items.push(item);
            p.ws();
            match p.next() {
                Some(b',') => p.ws(),
                Some(b']') => break,
                _ => return Err(Fallback),
            }
        }
        let fits = |prim: Prim, it: &Item| {
            matches!(
                (prim, it),
                (Prim::Str, Item::Str(..))
                    | (Prim::Boolean, Item::Bool(_))
                    | (Prim::Int | Prim::Long, Item::Int(_))
                    | (Prim::Float | Prim::Double, Item::Int(_) | Item::Float(_))
            )
        };
        let (b, prim) = f
            .arrays
            .iter()
            .find_map(|&b| match f.branches[b].kind {
                Kind::Array(prim) if s.items.iter().all(|it| fits(prim, it)) => Some((b, prim)),
                _ => None,
            })
            .ok_or(Fallback)?;
        put(&mut s.body, f.branches[b].pre);
        varint(&mut s.body, (s.items.len() as u64) << 1);
        for k in 0..s.items.len() {
            match s.items[k] {
                Item::Str(a, e, esc) => {
                    let raw = &p.s[a..e];
                    if esc {
                        s.tmp.clear();
                        unescape(raw, &mut s.tmp)?;
                        varint(&mut s.body, (s.tmp.len() as u64) << 1);
                        s.body.extend_from_slice(&s.tmp);
                    } else {
                        varint(&mut s.body, (raw.len() as u64) << 1);
                        s.body.extend_from_slice(raw);
                    }
                }
                Item::Int(v) => write_int(&mut s.body, prim, v)?,
                Item::Float(x) => match prim {
                    Prim::Float => s.body.extend_from_slice(&(x as f32).to_le_bytes()),
                    _ => s.body.extend_from_slice(&x.to_le_bytes()),
                },
                Item::Bool(v) => s.body.push(u8::from(v)),
            }
        }
        s.body.push(0);
        Ok(())
    }
}

/// Reusable buffers of one encoder call.
#[derive(Default)]
pub struct Scratch {
    spans: Vec<(u32, u32)>,
    body: Vec<u8>,
    tmp: Vec<u8>,
    tmp2: Vec<u8>,
    keys: Vec<(usize, usize)>,
    items: Vec<Item>,
    /// The key of the last encoded line.
    pub key: Vec<u8>,
    /// The framed value of the last encoded line.
    pub value: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
enum Item {
    Str(usize, usize, bool),
    Int(i64),
    Float(f64),
    Bool(bool),
}

enum Num {
    Int(i64),
    Float(f64),
}

/// An integer for a primitive branch (int range-checked; float/double converted).
#[inline]
fn write_int(out: &mut Vec<u8>, prim: Prim, v: i64) -> R<()> {
    match prim {
        Prim::Long => varint(out, zigzag(v)),
        Prim::Int => {
            if i32::try_from(v).is_err() {
                return Err(Fallback);
            }
            varint(out, zigzag(v))
        }
        Prim::Float => out.extend_from_slice(&((v as f64) as f32).to_le_bytes()),
        Prim::Double => out.extend_from_slice(&(v as f64).to_le_bytes()),
        _ => return Err(Fallback),
    }
    Ok(())
}

#[inline]
fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Unsigned LEB128.
#[inline]
pub fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n > 0x7F {
        out.push((n as u8 & 0x7F) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

// ------------------------------------------------------------------------------- parsing

/// Bytes that end the fast scan of a string: `"`, `\`, control characters, non-ASCII.
static STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = i < 0x20 || i == b'"' as usize || i == b'\\' as usize || i >= 0x80;
        i += 1;
    }
    t
};

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    #[inline]
    fn next(&mut self) -> Option<u8> {
        let c = self.s.get(self.i).copied();
        self.i += 1;
        c
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.i) {
            self.i += 1;
        }
    }

    #[inline]
    fn expect(&mut self, c: u8) -> R<()> {
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            Ok(())
        } else {
            Err(Fallback)
        }
    }

    fn literal(&mut self, word: &[u8]) -> R<()> {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(Fallback)
        }
    }

    /// After the opening quote: (start, end, has escapes, has non-ASCII) of the raw text;
    /// the position moves past the closing quote. Raw control characters and invalid UTF-8
    /// are refused (json.loads refuses them too).
    #[inline]
    fn string(&mut self) -> R<(usize, usize, bool, bool)> {
        let s = self.s;
        let start = self.i;
        let mut i = start;
        let mut esc = false;
        let mut high = false;
        loop {
            i = skip_plain(s, i);
            let c = *s.get(i).ok_or(Fallback)?;
            match c {
                b'"' => break,
                b'\\' => {
                    esc = true;
                    i += 2;
                }
                0x80..=0xFF => {
                    high = true;
                    i += 1;
                }
                _ => return Err(Fallback), // raw control character
            }
        }
        if i >= s.len() {
            return Err(Fallback);
        }
        if high && std::str::from_utf8(&s[start..i]).is_err() {
            return Err(Fallback);
        }
        self.i = i + 1;
        Ok((start, i, esc, high))
    }

    /// A JSON number: an integer that fits i64, or a finite float.
    fn number(&mut self) -> R<Num> {
        let s = self.s;
        let start = self.i;
        let mut i = start;
        let neg = s.get(i) == Some(&b'-');
        if neg {
            i += 1;
        }
        let mut mag: u64 = 0;
        let mut overflow = false;
        match s.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                let d0 = i;
                while let Some(&d @ b'0'..=b'9') = s.get(i) {
                    // 19 digits always fit a u64: no overflow checks on the common path
                    mag = mag.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
                    i += 1;
                }
                if i - d0 > 19 {
                    overflow = true;
                }
            }
            _ => return Err(Fallback),
        }
        let mut float = false;
        if s.get(i) == Some(&b'.') {
            float = true;
            i += 1;
            let d0 = i;
            while let Some(b'0'..=b'9') = s.get(i) {
                i += 1;
            }
            if i == d0 {
                return Err(Fallback);
            }
        }
        if let Some(b'e' | b'E') = s.get(i) {
            float = true;
            i += 1;
            if let Some(b'+' | b'-') = s.get(i) {
                i += 1;
            }
            let d0 = i;
            while let Some(b'0'..=b'9') = s.get(i) {
                i += 1;
            }
            if i == d0 {
                return Err(Fallback);
            }
        }
        self.i = i;
        if float {
            // ASCII digits, signs, '.', 'e' only: valid UTF-8
            let text = std::str::from_utf8(&s[start..i]).map_err(|_| Fallback)?;
            let x: f64 = text.parse().map_err(|_| Fallback)?;
            if !x.is_finite() {
                return Err(Fallback);
            }
            return Ok(Num::Float(x));
        }
        if overflow {
            return Err(Fallback);
        }
        if neg {
            if mag > 1u64 << 63 {
                return Err(Fallback);
            }
            Ok(Num::Int((mag as i64).wrapping_neg()))
        } else {
            i64::try_from(mag).map(Num::Int).map_err(|_| Fallback)
        }
    }
}

/// The first position from `i` of a byte that ends the fast scan of a string (see `STOP`),
/// or `s.len()`.
#[inline]
fn skip_plain(s: &[u8], mut i: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_loadu_si128, _mm_movemask_epi8,
            _mm_or_si128, _mm_set1_epi8,
        };
        // SAFETY: SSE2 is part of the x86_64 baseline; every load reads s[i..i + 16], in
        // bounds, unaligned. Signed `< 0x20` is true for 0x00..0x1f and for 0x80..0xff.
        unsafe {
            let quote = _mm_set1_epi8(b'"' as i8);
            let slash = _mm_set1_epi8(b'\\' as i8);
            let space = _mm_set1_epi8(0x20);
            while i + 16 <= s.len() {
                let v = _mm_loadu_si128(s.as_ptr().add(i).cast::<__m128i>());
                let hit = _mm_or_si128(
                    _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, slash)),
                    _mm_cmplt_epi8(v, space),
                );
                let bits = _mm_movemask_epi8(hit) as u32;
                if bits != 0 {
                    return i + bits.trailing_zeros() as usize;
                }
                i += 16;
            }
        }
    }
    while i + 8 <= s.len() {
        let w = u64::from_le_bytes(s[i..i + 8].try_into().unwrap_or([0; 8]));
        if has_special(w) {
            break;
        }
        i += 8;
    }
    while i < s.len() && !STOP[s[i] as usize] {
        i += 1;
    }
    i
}

/// A key text (name + closing quote) as little-endian 8-byte words, the last one masked.
struct Key {
    words: Box<[u64]>,
    last_mask: u64,
    len: usize,
    bytes: Box<[u8]>,
}

impl Key {
    fn new(bytes: &[u8]) -> Key {
        let words = bytes
            .chunks(8)
            .map(|c| {
                let mut w = [0u8; 8];
                w[..c.len()].copy_from_slice(c);
                u64::from_le_bytes(w)
            })
            .collect();
        let tail = bytes.len() % 8;
        let last_mask = if tail == 0 {
            u64::MAX
        } else {
            (1u64 << (8 * tail)) - 1
        };
        Key {
            words,
            last_mask,
            len: bytes.len(),
            bytes: bytes.into(),
        }
    }

    /// Whether `s[i..]` starts with this key.
    #[inline]
    fn at(&self, s: &[u8], i: usize) -> bool {
        let n = self.words.len();
        let Some(hay) = s.get(i..i + 8 * n) else {
            return s.get(i..i + self.len) == Some(&self.bytes[..]);
        };
        let word =
            |k: usize| u64::from_le_bytes(hay[8 * k..8 * k + 8].try_into().unwrap_or([0; 8]));
        for k in 0..n - 1 {
            if word(k) != self.words[k] {
                return false;
            }
        }
        word(n - 1) & self.last_mask == self.words[n - 1]
    }
}

/// Whether any byte of `w` is `"`, `\`, < 0x20 or >= 0x80 (SWAR).
#[inline]
fn has_special(w: u64) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let quote = w ^ (LO * b'"' as u64);
    let slash = w ^ (LO * b'\\' as u64);
    let zero = |x: u64| x.wrapping_sub(LO) & !x & HI;
    let ctrl = w.wrapping_sub(LO * 0x20) & !w & HI;
    (zero(quote) | zero(slash) | ctrl | (w & HI)) != 0
}

fn hex4(raw: &[u8], at: usize) -> R<u32> {
    let digits = raw.get(at..at + 4).ok_or(Fallback)?;
    let mut v = 0u32;
    for &d in digits {
        let x = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            b'A'..=b'F' => d - b'A' + 10,
            _ => return Err(Fallback),
        };
        v = (v << 4) | u32::from(x);
    }
    Ok(v)
}

/// Decode the escapes of a raw JSON string body (already checked: no raw control chars,
/// valid UTF-8) into UTF-8. Lone surrogates are refused.
fn unescape(raw: &[u8], out: &mut Vec<u8>) -> R<()> {
    let mut i = 0;
    while i < raw.len() {
        let Some(off) = memchr::memchr(b'\\', &raw[i..]) else {
            out.extend_from_slice(&raw[i..]);
            break;
        };
        out.extend_from_slice(&raw[i..i + off]);
        i += off + 1;
        let c = *raw.get(i).ok_or(Fallback)?;
        i += 1;
        match c {
            b'"' => out.push(b'"'),
            b'\\' => out.push(b'\\'),
            b'/' => out.push(b'/'),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0C),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'u' => {
                let mut cp = hex4(raw, i)?;
                i += 4;
                if (0xD800..0xDC00).contains(&cp) {
                    if raw.get(i) != Some(&b'\\') || raw.get(i + 1) != Some(&b'u') {
                        return Err(Fallback);
                    }
                    let lo = hex4(raw, i + 2)?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return Err(Fallback);
                    }
                    i += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else if (0xDC00..0xE000).contains(&cp) {
                    return Err(Fallback);
                }
                let ch = char::from_u32(cp).ok_or(Fallback)?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            _ => return Err(Fallback),
        }
    }
    Ok(())
}

/// Python's json string escaping with ensure_ascii=False: `"`, `\`, and control characters.
fn escape_into(text: &[u8], out: &mut Vec<u8>) {
    for &c in text {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0C => out.extend_from_slice(b"\\f"),
            0..=0x1F => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(c >> 4) as usize]);
                out.push(HEX[(c & 15) as usize]);
            }
            _ => out.push(c),
        }
    }
}

/// Re-serialise the JSON value at `p` like `json.dumps(v, separators=(",", ":"),
/// ensure_ascii=False)` of what `json.loads` returns for it.
fn canon(
    p: &mut Parser,
    out: &mut Vec<u8>,
    tmp: &mut Vec<u8>,
    keys: &mut Vec<(usize, usize)>,
    depth: u32,
) -> R<()> {
    if depth > MAX_DEPTH {
        return Err(Fallback);
    }
    match p.peek().ok_or(Fallback)? {
        b'"' => {
            p.i += 1;
            let (a, e, esc, _) = p.string()?;
            out.push(b'"');
            if esc {
                tmp.clear();
                unescape(&p.s[a..e], tmp)?;
                escape_into(tmp, out);
            } else {
                out.extend_from_slice(&p.s[a..e]);
            }
            out.push(b'"');
        }
        b'-' | b'0'..=b'9' => {
            let start = p.i;
            match p.number()? {
                Num::Int(v) => {
                    let _ = write!(VecWriter(out), "{v}");
                }
                Num::Float(x) => {
                    let text = &p.s[start..p.i];
                    if is_float_repr(text) {
                        out.extend_from_slice(text);
                    } else {
                        py_float_repr(x, out);
                    }
                }
            }
        }
        b't' => {
            p.literal(b"true")?;
            out.extend_from_slice(b"true");
        }
        b'f' => {
            p.literal(b"false")?;
            out.extend_from_slice(b"false");
        }
        b'n' => {
            p.literal(b"null")?;
            out.extend_from_slice(b"null");
        }
        b'[' => {
            p.i += 1;
            p.ws();
            out.push(b'[');
            if p.peek() == Some(b']') {
                p.i += 1;
            } else {
                loop {
                    canon(p, out, tmp, keys, depth + 1)?;
                    p.ws();
                    match p.next() {
                        Some(b',') => {
                            out.push(b',');
                            p.ws();
                        }
                        Some(b']') => break,
                        _ => return Err(Fallback),
                    }
                }
            }
            out.push(b']');
        }
        b'{' => {
            p.i += 1;
            p.ws();
            out.push(b'{');
            if p.peek() == Some(b'}') {
                p.i += 1;
            } else {
                // escaped key texts already written, to refuse duplicates (dict semantics)
                let base = keys.len();
                loop {
                    p.expect(b'"')?;
                    let (a, e, esc, _) = p.string()?;
                    out.push(b'"');
                    let ks = out.len();
                    if esc {
                        tmp.clear();
                        unescape(&p.s[a..e], tmp)?;
                        escape_into(tmp, out);
                    } else {
                        out.extend_from_slice(&p.s[a..e]);
                    }
                    let ke = out.len();
                    if keys[base..].iter().any(|&(x, y)| out[x..y] == out[ks..ke]) {
                        return Err(Fallback);
                    }
                    keys.push((ks, ke));
                    out.extend_from_slice(b"\":");
                    p.ws();
                    p.expect(b':')?;
                    p.ws();
                    canon(p, out, tmp, keys, depth + 1)?;
                    p.ws();
                    match p.next() {
                        Some(b',') => {
                            out.push(b',');
                            p.ws();
                        }
                        Some(b'}') => break,
                        _ => return Err(Fallback),
                    }
                }
                keys.truncate(base);
            }
            out.push(b'}');
        }
        _ => return Err(Fallback),
    }
    Ok(())
}

struct VecWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// A small stack buffer for float formatting.
struct StackBuf {
    buf: [u8; 40],
    len: usize,
}

impl std::fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let b = s.as_bytes();
        let end = self.len + b.len();
        if end > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(b);
        self.len = end;
        Ok(())
    }
}

/// Whether a JSON float literal is already what Python's `repr` prints for its value: fixed
/// notation, at most 15 significant digits (so these digits are the shortest round trip),
/// no trailing fractional zeros but for `X.0`, and at most 3 zeros after `0.`.
pub fn is_float_repr(text: &[u8]) -> bool {
    let t = text.strip_prefix(b"-").unwrap_or(text);
    let Some(dot) = t.iter().position(|&c| c == b'.') else {
        return false;
    };
    let (int, frac) = (&t[..dot], &t[dot + 1..]);
    if frac.is_empty()
        || !frac.iter().all(u8::is_ascii_digit)
        || !int.iter().all(u8::is_ascii_digit)
    {
        return false;
    }
    if frac.len() > 1 && frac.ends_with(b"0") {
        return false;
    }
    if int.is_empty() || (int.len() > 1 && int[0] == b'0') {
        return false;
    }
    let sig = if int == b"0" {
        let zeros = frac.iter().take_while(|&&c| c == b'0').count();
        if zeros == frac.len() {
            return frac == b"0"; // 0.0
        }
        if zeros > 3 {
            return false;
        }
        frac.len() - zeros
    } else if frac == b"0" {
        int.len()
    } else {
        int.len() + frac.len()
    };
    sig <= 15
}

/// Python's `repr(float)` of a finite `x` (shortest round-trip digits; exponent form when
/// the decimal point position is <= -4 or > 16, as `float_repr_style == 'short'`).
pub fn py_float_repr(x: f64, out: &mut Vec<u8>) {
    if x == 0.0 {
        out.extend_from_slice(if x.is_sign_negative() {
            b"-0.0"
        } else {
            b"0.0"
        });
        return;
    }
    let mut sb = StackBuf {
        buf: [0; 40],
        len: 0,
    };
    // `{:e}` is the shortest representation that round-trips, e.g. "-1.2345e-5"
    let _ = write!(sb, "{:e}", x.abs());
    let text = &sb.buf[..sb.len];
    let epos = text.iter().position(|&c| c == b'e').unwrap_or(text.len());
    let mut digits = [0u8; 24];
    let mut nd = 0;
    for &c in &text[..epos] {
        if c.is_ascii_digit() && nd < digits.len() {
            digits[nd] = c;
            nd += 1;
        }
    }
    let exp: i32 = std::str::from_utf8(&text[(epos + 1).min(text.len())..])
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let digits = &digits[..nd];
    let decpt = exp + 1;
    if x.is_sign_negative() {
        out.push(b'-');
    }
    if decpt <= -4 || decpt > 16 {
        out.push(digits[0]);
        if nd > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        let e = decpt - 1;
        out.push(b'e');
        out.push(if e < 0 { b'-' } else { b'+' });
        let _ = write!(VecWriter(out), "{:02}", e.abs());
    } else if decpt <= 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', (-decpt) as usize));
        out.extend_from_slice(digits);
    } else {
        let d = decpt as usize;
        if d >= nd {
            out.extend_from_slice(digits);
            out.extend(std::iter::repeat_n(b'0', d - nd));
            out.extend_from_slice(b".0");
        } else {
            out.extend_from_slice(&digits[..d]);
            out.push(b'.');
            out.extend_from_slice(&digits[d..]);
        }
    }
}

/// Positions of the complete lines of `data` (split on `\n`, empty lines skipped) and
/// where the unfinished tail starts. With `last`, the tail is a line too when it is not
/// blank (like `bytes.strip()` in `CloudflareClient.stream_lines`).
pub fn split_lines(data: &[u8], last: bool, out: &mut Vec<(usize, usize)>) -> usize {
    let mut start = 0;
    while let Some(off) = memchr::memchr(b'\n', &data[start..]) {
        let end = start + off;
        if end > start {
            out.push((start, end));
        }
        start = end + 1;
    }
    if last && start < data.len() {
        let tail = &data[start..];
        if tail.iter().any(|c| !b" \t\n\r\x0b\x0c".contains(c)) {
            out.push((start, data.len()));
        }
        return data.len();
    }
    start
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repr(x: f64) -> String {
        let mut v = Vec::new();
        py_float_repr(x, &mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn float_repr_like_python() {
        for (x, want) in [
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (123.456, "123.456"),
            (1.5e300, "1.5e+300"),
            (-2.5, "-2.5"),
            (0.1, "0.1"),
            (-0.0, "-0.0"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (123456789012345680.0, "1.2345678901234568e+17"),
            (1234567890123456.7, "1234567890123456.8"),
        ] {
            assert_eq!(repr(x), want, "{x:e}");
        }
    }

    #[test]
    fn float_literals_already_in_repr_form() {
        for t in [
            "0.0", "-0.0", "1.5", "0.123456", "0.0001", "123.0", "-2.25", "99.99",
        ] {
            let x: f64 = t.parse().unwrap();
            assert!(is_float_repr(t.as_bytes()), "{t}");
            assert_eq!(repr(x), t);
        }
        for t in [
            "1e5",
            "0.00001",
            "1.50",
            "00.5",
            "1.",
            ".5",
            "0.1234567890123456",
            "0.00",
        ] {
            assert!(!is_float_repr(t.as_bytes()), "{t}");
        }
    }

    #[test]
    fn keys_compare_exactly() {
        let s = b"xxBotDetectionIDs\":[]";
        let at = |i: usize, k: &[u8]| Key::new(k).at(s, i);
        assert!(at(2, b"BotDetectionIDs\""));
        assert!(!at(2, b"BotDetectionIDz\""));
        assert!(!at(2, b"BotDetectionID\""));
        assert!(!at(10, b"DetectionIDs\":[]]"));
        assert!(at(9, b"ctionIDs\":[]"));
        assert!(at(0, b"xxBotDet"));
        assert!(!at(0, b"xxBotDeT"));
        for cut in 0..16 {
            let mut n = b"BotDetectionIDs\"".to_vec();
            n[cut] ^= 1;
            assert!(!at(2, &n));
        }
    }

    #[test]
    fn varints() {
        let mut v = Vec::new();
        varint(&mut v, 300);
        assert_eq!(v, [0xAC, 0x02]);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(i64::MIN), u64::MAX);
    }

    #[test]
    fn skip_plain_stops_at_the_first_special_byte() {
        for len in [0usize, 1, 7, 8, 15, 16, 17, 31, 33, 40] {
            for pos in 0..=len {
                for b in 0..=255u8 {
                    let mut v = vec![b'a'; len];
                    if pos < len {
                        v[pos] = b;
                    }
                    let want = if pos < len && STOP[b as usize] {
                        pos
                    } else {
                        len
                    };
                    assert_eq!(skip_plain(&v, 0), want, "len {len} pos {pos} byte {b}");
                }
            }
        }
    }

    #[test]
    fn swar_matches_table() {
        for b in 0..=255u8 {
            let w = u64::from_le_bytes([b'a', b'b', b, b'c', b'd', b'e', b'f', b'g']);
            assert_eq!(has_special(w), STOP[b as usize], "{b}");
        }
    }

    fn codec() -> Codec {
        let s = |n: &str| FieldSpec {
            name: n.into(),
            null: Some(vec![0]),
            branches: vec![Branch {
                prefix: vec![2],
                kind: Kind::Prim(Prim::Str),
            }],
            json: None,
        };
        let l = FieldSpec {
            name: "n".into(),
            null: Some(vec![0]),
            branches: vec![Branch {
                prefix: vec![2],
                kind: Kind::Prim(Prim::Long),
            }],
            json: None,
        };
        Codec::new(
            vec![s("id"), l, s("j")],
            Some((3, vec![0])),
            "id",
            vec![0, 0, 0, 0, 7],
        )
        .unwrap()
    }

    #[test]
    fn encodes_and_refuses() {
        let c = codec();
        let e = c.encode(br#"{"id":"ab","n":-3}"#).unwrap();
        assert_eq!(e.key, b"ab");
        assert_eq!(e.value, [0, 0, 0, 0, 7, 2, 4, b'a', b'b', 2, 5, 0, 0]);
        for bad in [
            &br#"{"id":"ab","n":-3"#[..],
            br#"{"id":"","n":1}"#,
            br#"{"n":1}"#,
            br#"{"id":"a","zz":1}"#,
            br#"{"id":"a","id":"b"}"#,
            br#"{"id":"a","n":"1"}"#,
            br#"{"id":"a","n":1.0}"#,
            br#"{"id":"a","n":99999999999999999999}"#,
            br#"{"id":"a\ud800"}"#,
            b"{\"id\":\"a\x01\"}",
            b"{\"id\":\"\xff\"}",
            br#"[1]"#,
            br#"{"id":"a"} x"#,
        ] {
            assert_eq!(
                c.encode(bad),
                Err(Fallback),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn splits_lines() {
        let mut v = Vec::new();
        assert_eq!(split_lines(b"a\n\nbc\nd", false, &mut v), 6);
        assert_eq!(v, [(0, 1), (3, 5)]);
        v.clear();
        assert_eq!(split_lines(b"a\n \n", true, &mut v), 4);
        assert_eq!(v, [(0, 1), (2, 3)]);
        v.clear();
        assert_eq!(split_lines(b"a\n  ", true, &mut v), 4);
        assert_eq!(v, [(0, 1)]);
    }
}
