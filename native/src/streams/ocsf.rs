//! The OCSF normalizer in Rust: one decoded raw-topic value -> the OCSF record, exactly as
//! `streams.ocsf.normalize(dataset, key, value, scope=scope).record` builds it
//! (`account_name` and `snapshot_at` None), or None when it cannot promise that.
//!
//! It runs the dataset's declarative map as `streams/ocsf/engine.py` (`apply`) does, from the
//! JSON digest `streams/ocsf/native_spec.py` writes: restore the Cloudflare record, read the
//! time, run the rules (a transform that is unmappable leaves its sources unmapped), collect
//! `unmapped` (dotted path -> JSON text), add what every class shares (`_common`) and shape
//! the record to the class's Avro schema (`shape.conform_reference`). Everything is planned
//! once in [`Normalizer::from_spec`]: rule targets are slot paths in the class schema, rule
//! sources indexes of raw fields.
//!
//! It declines (None) where the Python result is not reproduced exactly or Python raises:
//! a non-empty `extra`, JSON texts [`json::parse`] refuses, non-ASCII text a transform
//! case-folds or parses, numbers beyond 64 bits, odd numeric strings, no or bad time, an
//! empty key, a record that does not fit the class schema.

use std::borrow::Borrow;
use std::borrow::Cow;

use super::json;
use super::value::{Key, Value};

/// A small lookup table (a few to a few dozen entries): a linear search beats hashing them.
#[derive(Debug)]
struct Table<K, V>(Vec<(K, V)>);

impl<K, V> Default for Table<K, V> {
    fn default() -> Self {
        Table(Vec::new())
    }
}

impl<K: PartialEq, V> Table<K, V> {
    fn get<Q: PartialEq + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.0
            .iter()
            .find(|(k, _)| k.borrow() == key)
            .map(|(_, v)| v)
    }

    /// `dict[key] = value`.
    fn insert(&mut self, key: K, value: V) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }
}

/// `s` with `map` applied to each byte, in `buf` (None when longer than `buf`; ASCII in,
/// ASCII out).
fn fold_ascii<'b>(
    s: &str,
    buf: &'b mut [u8; 64],
    map: impl Fn(u8) -> Option<u8>,
) -> Option<&'b str> {
    let mut n = 0;
    for b in s.bytes() {
        if let Some(m) = map(b) {
            *buf.get_mut(n)? = m;
            n += 1;
        }
    }
    std::str::from_utf8(&buf[..n]).ok()
}

/// Why a transform did not produce a value.
#[derive(Debug, PartialEq)]
enum Stop {
    /// Python raises `Unmappable`: the rule sets nothing, its sources stay unmapped.
    Unmappable,
    /// The native side does not reproduce Python here: the whole record declines.
    Decline,
}

type Out<T> = Result<Option<T>, Stop>;

/// The transforms the native side implements (by their Python names).
#[derive(Clone, Copy, Debug)]
enum Transform {
    /// No transform: the first source as it is.
    Verbatim,
    Text,
    Integer,
    Number,
    Country,
    FirstText,
    QueryOf,
    UrlOfUri,
    NameValues,
    EdgeTimeMs,
    EdgeTimeOrNone,
    HttpActivityId,
    ResponseStatusId,
    ActionId,
    ActionName,
    DispositionId,
    DispositionName,
    DeniedSeverityId,
}

impl Transform {
    fn parse(name: Option<&str>) -> Result<Self, String> {
        Ok(match name {
            None => Self::Verbatim,
            Some("text") => Self::Text,
            Some("integer") => Self::Integer,
            Some("number") => Self::Number,
            Some("country") => Self::Country,
            Some("first_text") => Self::FirstText,
            Some("query_of") => Self::QueryOf,
            Some("url_of_uri") => Self::UrlOfUri,
            Some("name_values") => Self::NameValues,
            Some("edge_time_ms") => Self::EdgeTimeMs,
            Some("edge_time_or_none") => Self::EdgeTimeOrNone,
            Some("http_activity_id") => Self::HttpActivityId,
            Some("response_status_id") => Self::ResponseStatusId,
            Some("action_id") => Self::ActionId,
            Some("action_name") => Self::ActionName,
            Some("disposition_id") => Self::DispositionId,
            Some("disposition_name") => Self::DispositionName,
            Some("denied_severity_id") => Self::DeniedSeverityId,
            Some(other) => return Err(format!("transform {other} is not implemented")),
        })
    }

    /// Whether `n` sources are a valid call (else Python raises a TypeError: a map bug).
    fn takes(self, n: usize) -> bool {
        match self {
            Self::Verbatim => n >= 1,
            Self::FirstText => true,
            Self::UrlOfUri => n == 3,
            _ => n == 1,
        }
    }
}

/// Where a rule or the time reads a value.
#[derive(Clone, Debug)]
enum Source {
    /// `@key`, `@account`, `@scope` (`@account_name`, `@snapshot_at` are always None here).
    Key,
    Account,
    Scope,
    Nothing,
    /// A raw field (`index`), then keys into its JSON value (`rest`); `path` is the source.
    Field {
        index: usize,
        rest: Vec<String>,
        path: String,
    },
    /// A path whose first part is no raw field: always absent.
    Absent,
}

/// How `restore` treats a top-level raw field.
#[derive(Clone, Copy, Debug, PartialEq)]
enum RawKind {
    Plain,
    Json,
    Map,
    Extra,
}

/// How `conform_reference` treats a field's value.
#[derive(Debug)]
enum Kind {
    /// Kept as it is.
    Value,
    Record(Shape),
    Records(Shape),
    Array,
    Map,
}

#[derive(Debug)]
struct FieldShape {
    name: Key,
    default: Option<Value>,
    kind: Kind,
}

/// One Avro record of the class schema.
#[derive(Debug)]
struct Shape {
    fields: Vec<FieldShape>,
}

impl Shape {
    fn index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| &*f.name == name)
    }

    fn sub(&self, index: usize) -> Option<&Shape> {
        match &self.fields[index].kind {
            Kind::Record(s) => Some(s),
            _ => None,
        }
    }
}

/// A sparse record being built: a value, a nested record (by field index) or nothing.
#[derive(Clone, Debug)]
enum Slot {
    Empty,
    Val(Value),
    Rec(Vec<Slot>),
}

#[derive(Debug)]
struct Rule {
    /// Field indexes from the class record down to the target; None: not in the schema.
    target: Option<Vec<usize>>,
    sources: Vec<Source>,
    transform: Transform,
}

/// Indexes of the fields `_common` writes, in the class record and below.
#[derive(Debug)]
struct Common {
    class_uid: usize,
    class_name: usize,
    category_uid: usize,
    category_name: usize,
    activity_id: usize,
    activity_name: usize,
    type_uid: usize,
    type_name: usize,
    severity_id: usize,
    severity: usize,
    time: usize,
    status_id: usize,
    status: usize,
    metadata: usize,
    cloud: usize,
    enrichments: usize,
    raw_data: usize,
    unmapped: usize,
    /// metadata: version, uid, log_name, product (name, vendor_name), original_time
    meta: [usize; 5],
    product: [usize; 2],
    provider: usize,
}

/// One dataset's map, planned for native runs.
#[derive(Debug)]
pub struct Normalizer {
    dataset: String,
    product: String,
    vendor: String,
    version: String,
    raw_names: Vec<Key>,
    /// `"<name>":` per raw field, for `raw_data`
    raw_keys: Vec<String>,
    raw_kinds: Vec<RawKind>,
    /// the raw fields `restore` decodes (JSON texts, maps of JSON texts)
    decoded: Vec<usize>,
    zone_id: Option<usize>,
    time: Vec<Source>,
    rules: Vec<Rule>,
    keep_top: Vec<bool>,
    keep_nested: Vec<String>,
    class_uid: i64,
    class_name: String,
    category_uid: i64,
    category_name: String,
    activities: Table<i64, String>,
    statuses: Table<i64, String>,
    severity: Table<i64, String>,
    methods: Table<String, i64>,
    security: Table<String, (i64, i64)>,
    action: Table<i64, String>,
    disposition: Table<i64, String>,
    shape: Shape,
    common: Common,
}

/// [`Normalizer::from_spec`].
pub fn from_spec(spec_json: &str) -> Result<Normalizer, String> {
    Normalizer::from_spec(spec_json)
}

// -- reading the spec ------------------------------------------------------------------------

fn field<'a>(v: &'a Value, key: &str) -> Result<&'a Value, String> {
    v.get(key).ok_or_else(|| format!("spec: no {key}"))
}

fn string(v: &Value, key: &str) -> Result<String, String> {
    field(v, key)?
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("spec: {key} not text"))
}

fn int(v: &Value, key: &str) -> Result<i64, String> {
    match field(v, key)? {
        Value::Int(n) => Ok(*n),
        _ => Err(format!("spec: {key} not an int")),
    }
}

fn list<'a>(v: &'a Value, key: &str) -> Result<&'a [Value], String> {
    match field(v, key)? {
        Value::List(items) => Ok(items),
        _ => Err(format!("spec: {key} not a list")),
    }
}

fn strings(v: &Value, key: &str) -> Result<Vec<String>, String> {
    list(v, key)?
        .iter()
        .map(|s| {
            s.as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("spec: {key} item"))
        })
        .collect()
}

/// `[[id, caption], ...]` -> table.
fn captions(v: &Value, key: &str) -> Result<Table<i64, String>, String> {
    let mut out = Table::default();
    for pair in list(v, key)? {
        match pair {
            Value::List(p) if p.len() == 2 => match (&p[0], &p[1]) {
                (Value::Int(k), Value::Str(s)) => {
                    out.insert(*k, s.clone());
                }
                _ => return Err(format!("spec: {key} pair")),
            },
            _ => return Err(format!("spec: {key} pair")),
        }
    }
    Ok(out)
}

fn shape(v: &Value) -> Result<Shape, String> {
    let mut fields = Vec::new();
    for f in list(v, "fields")? {
        let kind = match string(f, "kind")?.as_str() {
            "value" => Kind::Value,
            "record" => Kind::Record(shape(f)?),
            "records" => Kind::Records(shape(f)?),
            "array" => Kind::Array,
            "map" => Kind::Map,
            other => return Err(format!("spec: kind {other}")),
        };
        fields.push(FieldShape {
            name: Key::interned(&string(f, "name")?),
            default: f.get("default").cloned(),
            kind,
        });
    }
    Ok(Shape { fields })
}

impl Normalizer {
    /// Plans the digest `streams.ocsf.native_spec.spec(dataset)`; Err for one it cannot run.
    pub fn from_spec(spec_json: &str) -> Result<Normalizer, String> {
        let spec = json::parse(spec_json).map_err(|e| format!("spec: {e}"))?;
        let mut raw_names = Vec::new();
        let mut raw_kinds = Vec::new();
        for f in list(&spec, "raw_fields")? {
            raw_names.push(Key::interned(&string(f, "name")?));
            raw_kinds.push(match string(f, "kind")?.as_str() {
                "plain" => RawKind::Plain,
                "json" => RawKind::Json,
                "map" => RawKind::Map,
                "extra" => RawKind::Extra,
                other => return Err(format!("spec: raw kind {other}")),
            });
        }
        let extra = raw_kinds.iter().position(|k| *k == RawKind::Extra);
        let source = |path: &str| -> Result<Source, String> {
            Ok(match path {
                "@key" => Source::Key,
                "@account" => Source::Account,
                "@scope" => Source::Scope,
                "@account_name" | "@snapshot_at" => Source::Nothing,
                p if p.starts_with('@') => return Err(format!("spec: context {p}")),
                p => {
                    let mut parts = p.split('.');
                    let first = parts.next().unwrap_or_default();
                    match raw_names.iter().position(|n| &**n == first) {
                        Some(index) if Some(index) != extra => Source::Field {
                            index,
                            rest: parts.map(str::to_owned).collect(),
                            path: p.to_owned(),
                        },
                        _ => Source::Absent,
                    }
                }
            })
        };
        let class = field(&spec, "class")?;
        let shape = shape(field(class, "shape")?)?;
        let time_spec = field(&spec, "time")?;
        if !matches!(time_spec.get("parse"), Some(Value::Str(p)) if p == "edge_time_ms") {
            return Err("spec: time parse not implemented".into());
        }
        let time = strings(time_spec, "sources")?
            .iter()
            .map(|s| source(s))
            .collect::<Result<Vec<_>, _>>()?;
        let mut rules = Vec::new();
        for r in list(&spec, "rules")? {
            let transform = Transform::parse(field(r, "transform")?.as_str())?;
            let sources = strings(r, "sources")?
                .iter()
                .map(|s| source(s))
                .collect::<Result<Vec<_>, _>>()?;
            if !transform.takes(sources.len()) {
                return Err(format!(
                    "spec: {transform:?} with {} sources",
                    sources.len()
                ));
            }
            let target = string(r, "target")?;
            rules.push(Rule {
                target: slot_path(&shape, &target),
                sources,
                transform,
            });
        }
        let keep = strings(&spec, "keep")?;
        let keep_top = raw_names
            .iter()
            .map(|n| keep.iter().any(|k| *k == **n))
            .collect();
        let keep_nested = keep.iter().filter(|k| k.contains('.')).cloned().collect();
        let tables = field(&spec, "tables")?;
        let mut methods = Table::default();
        if let Some(Value::Dict(pairs)) = tables.get("methods") {
            for (k, v) in pairs {
                let Value::Int(n) = v else {
                    return Err("spec: methods".into());
                };
                methods.insert(k.to_string(), *n);
            }
        }
        let mut security = Table::default();
        if let Some(Value::Dict(pairs)) = tables.get("security_actions") {
            for (k, v) in pairs {
                let Value::List(row) = v else {
                    return Err("spec: security_actions".into());
                };
                let [Value::Int(a), Value::Int(d)] = row.as_slice() else {
                    return Err("spec: security_actions row".into());
                };
                security.insert(k.to_string(), (*a, *d));
            }
        }
        let common = common(&shape)?;
        Ok(Normalizer {
            dataset: string(&spec, "dataset")?,
            product: string(&spec, "product")?,
            vendor: string(&spec, "vendor")?,
            version: string(&spec, "ocsf_version")?,
            zone_id: raw_names.iter().position(|n| &**n == "ZoneID"),
            keep_top,
            keep_nested,
            raw_keys: raw_names
                .iter()
                .map(|n| {
                    let mut key = String::new();
                    json::write_str(&mut key, n);
                    key.push(':');
                    key
                })
                .collect(),
            raw_names,
            decoded: raw_kinds
                .iter()
                .enumerate()
                .filter(|(_, k)| matches!(k, RawKind::Json | RawKind::Map))
                .map(|(i, _)| i)
                .collect(),
            raw_kinds,
            time,
            rules,
            class_uid: int(class, "uid")?,
            class_name: string(class, "name")?,
            category_uid: int(class, "category_uid")?,
            category_name: string(class, "category_name")?,
            activities: captions(class, "activities")?,
            statuses: captions(class, "statuses")?,
            severity: captions(&spec, "severity")?,
            methods,
            security,
            action: captions(tables, "action")?,
            disposition: captions(tables, "disposition")?,
            shape,
            common,
        })
    }
}

/// The field indexes of dotted `target` (every parent a record); None when not in the schema.
fn slot_path(shape: &Shape, target: &str) -> Option<Vec<usize>> {
    let mut out = Vec::new();
    let mut node = Some(shape);
    for part in target.split('.') {
        let s = node?;
        let i = s.index(part)?;
        out.push(i);
        node = s.sub(i);
    }
    Some(out)
}

fn common(shape: &Shape) -> Result<Common, String> {
    let at = |s: &Shape, name: &str| s.index(name).ok_or_else(|| format!("schema has no {name}"));
    let metadata = at(shape, "metadata")?;
    let meta_shape = shape.sub(metadata).ok_or("metadata is no record")?;
    let product = at(meta_shape, "product")?;
    let product_shape = meta_shape.sub(product).ok_or("product is no record")?;
    let cloud = at(shape, "cloud")?;
    let cloud_shape = shape.sub(cloud).ok_or("cloud is no record")?;
    Ok(Common {
        class_uid: at(shape, "class_uid")?,
        class_name: at(shape, "class_name")?,
        category_uid: at(shape, "category_uid")?,
        category_name: at(shape, "category_name")?,
        activity_id: at(shape, "activity_id")?,
        activity_name: at(shape, "activity_name")?,
        type_uid: at(shape, "type_uid")?,
        type_name: at(shape, "type_name")?,
        severity_id: at(shape, "severity_id")?,
        severity: at(shape, "severity")?,
        time: at(shape, "time")?,
        status_id: at(shape, "status_id")?,
        status: at(shape, "status")?,
        metadata,
        cloud,
        enrichments: at(shape, "enrichments")?,
        raw_data: at(shape, "raw_data")?,
        unmapped: at(shape, "unmapped")?,
        meta: [
            at(meta_shape, "version")?,
            at(meta_shape, "uid")?,
            at(meta_shape, "log_name")?,
            product,
            at(meta_shape, "original_time")?,
        ],
        product: [
            at(product_shape, "name")?,
            at(product_shape, "vendor_name")?,
        ],
        provider: at(cloud_shape, "provider")?,
    })
}

// -- one record ------------------------------------------------------------------------------

/// What the record does not say about itself (`engine.Context`, account name and snapshot
/// time None).
struct Context {
    key: Value,
    account: Option<Value>,
    scope: Option<Value>,
}

/// The restored Cloudflare record: per raw field its value (`Some(Null)` for a JSON `null`
/// text, which `restore` keeps), borrowed from the topic value or the decoded JSON texts.
struct Original<'a> {
    fields: Vec<Option<&'a Value>>,
}

impl Normalizer {
    /// The OCSF record of the decoded raw-topic value `raw` (Kafka key `key`, `cf.scope`
    /// header `scope`), or None where the Python normalizer must run.
    pub fn normalize(&self, raw: &Value, key: &str, scope: Option<&str>) -> Option<Value> {
        if key.is_empty() {
            return None;
        }
        let topic = self.topic_fields(raw)?;
        let decoded = self.decode_json(&topic)?;
        let mut fields = topic;
        for (i, value) in &decoded {
            fields[*i] = Some(value);
        }
        let original = Original { fields };
        let context = context(key, scope);
        let mut mapped = vec![false; self.raw_names.len()];
        let mut mapped_paths: Vec<&str> = Vec::new();

        // time: the first present source, parsed
        let mut when = None;
        for source in &self.time {
            let Some(value) = read(&original, &context, source) else {
                continue;
            };
            let millis = edge_time_ms(value).ok()?;
            mark(source, &mut mapped, &mut mapped_paths);
            let text = match value {
                Value::Str(s) => s.clone(),
                other => json::dumps(other),
            };
            when = Some((millis, text));
            break;
        }
        let (time_ms, original_time) = when?;

        // the rules
        let mut slots = empty_slots(self.shape.fields.len());
        let mut values: Vec<Option<&Value>> = Vec::with_capacity(3);
        for rule in &self.rules {
            values.clear();
            values.extend(rule.sources.iter().map(|s| read(&original, &context, s)));
            let result = match self.apply(rule.transform, &values) {
                Ok(v) => v,
                Err(Stop::Unmappable) => continue,
                Err(Stop::Decline) => return None,
            };
            for source in &rule.sources {
                mark(source, &mut mapped, &mut mapped_paths);
            }
            if let Some(value) = result {
                set(&mut slots, &self.shape, rule.target.as_deref()?, value)?;
            }
        }

        let raw = self.raw_data(&original);
        let unmapped = self.unmapped(&original, &raw, &mapped, &mapped_paths, scope)?;
        let raw_data = raw.text;
        self.common(&mut slots, &context, time_ms, original_time)?;
        let c = &self.common;
        slots[c.raw_data] = Slot::Val(Value::Str(raw_data));
        slots[c.unmapped] = Slot::Val(Value::Dict(unmapped));
        conform_slots(&self.shape, slots)
    }

    /// The topic value's fields by raw field index (null as None); None for a value that is
    /// not a plain decoded value of the raw schema (or has `extra`, which `restore` merges).
    fn topic_fields<'a>(&self, raw: &'a Value) -> Option<Vec<Option<&'a Value>>> {
        let Value::Dict(pairs) = raw else { return None };
        let in_order = pairs.len() == self.raw_names.len()
            && pairs.iter().zip(&self.raw_names).all(|((k, _), n)| k == n);
        let mut fields = Vec::with_capacity(self.raw_names.len());
        for (i, kind) in self.raw_kinds.iter().enumerate() {
            let item = if in_order {
                Some(&pairs[i].1)
            } else {
                raw.get(&self.raw_names[i])
            };
            let item = item.filter(|v| !v.is_null());
            if *kind == RawKind::Extra {
                match item {
                    None => {}
                    Some(Value::Dict(e)) if e.is_empty() => {}
                    Some(_) => return None,
                }
                fields.push(None);
            } else {
                fields.push(item);
            }
        }
        Some(fields)
    }

    /// `source.restore`'s decoding: the JSON-encoded fields (and maps of JSON texts) parsed,
    /// by raw field index; None when one is not JSON [`json::parse`] reproduces.
    fn decode_json(&self, fields: &[Option<&Value>]) -> Option<Vec<(usize, Value)>> {
        let mut out = Vec::with_capacity(self.decoded.len());
        for &i in &self.decoded {
            let Some(item) = fields[i] else { continue };
            let value = match self.raw_kinds[i] {
                RawKind::Json => json::parse(item.as_str()?).ok()?,
                _ => {
                    let Value::Dict(entries) = item else {
                        return None;
                    };
                    let mut map = Vec::with_capacity(entries.len());
                    for (k, v) in entries {
                        map.push((k.clone(), json::parse(v.as_str()?).ok()?));
                    }
                    Value::Dict(map)
                }
            };
            out.push((i, value));
        }
        Some(out)
    }

    fn apply(&self, transform: Transform, values: &[Option<&Value>]) -> Out<Value> {
        let one = values.first().copied().flatten();
        let str_value = |s: Option<Cow<'_, str>>| s.map(|s| Value::Str(s.into_owned()));
        Ok(match transform {
            Transform::Verbatim => one.cloned(),
            Transform::Text => str_value(text(one)?),
            Transform::FirstText => str_value(text(values.iter().copied().flatten().next())?),
            Transform::Integer => integer(one)?.map(Value::Int),
            Transform::Number => number(one)?.map(Value::Float),
            Transform::Country => match text(one)? {
                Some(s) if !s.is_empty() => Some(Value::Str(ascii(&s)?.to_ascii_uppercase())),
                _ => None,
            },
            Transform::QueryOf => query_of(one)?.map(|q| Value::Str(q.to_owned())),
            Transform::UrlOfUri => str_value(url_of_uri(values[0], values[1], values[2])?),
            Transform::NameValues => name_values(one)?,
            Transform::EdgeTimeMs => match one {
                None => return Err(Stop::Unmappable),
                Some(v) => Some(Value::Int(edge_time_ms(v)?)),
            },
            Transform::EdgeTimeOrNone => match one {
                None => None,
                Some(v) => Some(Value::Int(edge_time_ms(v)?)),
            },
            Transform::HttpActivityId => Some(Value::Int(match text(one)? {
                None => 0,
                Some(m) => {
                    let mut buf = [0u8; 64];
                    let m = ascii(&m)?;
                    let id = match fold_ascii(m, &mut buf, |b| Some(b.to_ascii_uppercase())) {
                        Some(upper) => self.methods.get(upper),
                        None => self.methods.get(m.to_ascii_uppercase().as_str()),
                    };
                    *id.unwrap_or(&99)
                }
            })),
            Transform::ResponseStatusId => match integer(one)? {
                None | Some(0) => None,
                Some(n) => Some(Value::Int(if n < 400 { 1 } else { 2 })),
            },
            Transform::ActionId => self.row(one)?.map(|r| Value::Int(r.0)),
            Transform::DispositionId => self.row(one)?.map(|r| Value::Int(r.1)),
            Transform::ActionName => match self.row(one)? {
                None => None,
                Some((99, _)) => str_value(text(one)?),
                Some((a, _)) => Some(Value::Str(
                    self.action.get(&a).ok_or(Stop::Decline)?.clone(),
                )),
            },
            Transform::DispositionName => match self.row(one)? {
                None => None,
                Some((_, 99)) => str_value(text(one)?),
                Some((_, d)) => Some(Value::Str(
                    self.disposition.get(&d).ok_or(Stop::Decline)?.clone(),
                )),
            },
            Transform::DeniedSeverityId => {
                Some(Value::Int(if matches!(self.row(one)?, Some((2, _))) {
                    2
                } else {
                    1
                }))
            }
        })
    }

    /// `security_actions._row`: (action_id, disposition_id) of a Cloudflare action.
    fn row(&self, action: Option<&Value>) -> Out<(i64, i64)> {
        let Some(found) = text(action)? else {
            return Ok(None);
        };
        let found = ascii(&found)?;
        let fold = |b: u8| (b != b'_').then_some(b.to_ascii_lowercase());
        let mut buf = [0u8; 64];
        let row = match fold_ascii(found, &mut buf, fold) {
            Some(folded) => self.security.get(folded),
            None => {
                let folded: String = found.bytes().filter_map(fold).map(char::from).collect();
                self.security.get(folded.as_str())
            }
        };
        Ok(Some(*row.unwrap_or(&(99, 99))))
    }

    /// `unmapped`: the leaves no mapped source covers (or that `keep` names) as JSON texts,
    /// then the scope fields.
    fn unmapped(
        &self,
        original: &Original<'_>,
        raw: &RawData,
        mapped: &[bool],
        mapped_paths: &[&str],
        scope: Option<&str>,
    ) -> Option<Vec<(Key, Value)>> {
        let mut out: Vec<(Key, Value)> = Vec::with_capacity(self.raw_names.len() + 32);
        for (i, value) in original.fields.iter().enumerate() {
            let Some(value) = value else { continue };
            let name = &self.raw_names[i];
            match value {
                Value::Null => {}
                Value::Dict(pairs) if !pairs.is_empty() => {
                    if mapped[i] && self.keep_nested.is_empty() {
                        continue; // every leaf below is covered
                    }
                    let start = out.len();
                    let mut path = String::from(&**name);
                    let mut leaves = raw.leaves[raw.first[i]..].iter();
                    let walk = Walk {
                        text: &raw.text,
                        top_mapped: mapped[i],
                        mapped_paths,
                        start,
                    };
                    self.nested(pairs, &mut path, &walk, &mut leaves, &mut out);
                }
                _ => {
                    if self.keep_top[i] || !mapped[i] {
                        let (a, b) = raw.leaves[raw.first[i]];
                        push_text(&mut out, name.clone(), &raw.text[a..b]);
                    }
                }
            }
        }
        // engine._scope_fields
        match scope {
            None | Some("") => {}
            Some(s) if s.starts_with("account:") => {}
            Some(s) => {
                let (k, v) = match s.strip_prefix("zone:") {
                    Some(zone) if self.zone_id.is_none_or(|z| original.fields[z].is_none()) => {
                        ("ZoneID", zone)
                    }
                    _ => ("cf.scope", s),
                };
                let mut text = String::with_capacity(v.len() + 2);
                json::write_str(&mut text, v);
                put(&mut out, 0, Key::from_static(k), &text);
            }
        }
        Some(out)
    }

    /// The leaves of a non-empty JSON object below `path` (`source.leaves`).
    fn nested(
        &self,
        pairs: &[(Key, Value)],
        path: &mut String,
        walk: &Walk<'_>,
        leaves: &mut std::slice::Iter<'_, (usize, usize)>,
        out: &mut Vec<(Key, Value)>,
    ) {
        let base = path.len();
        for (k, v) in pairs {
            path.truncate(base);
            path.push('.');
            path.push_str(k);
            if let Value::Dict(sub) = v {
                if !sub.is_empty() {
                    self.nested(sub, path, walk, leaves, out);
                    continue;
                }
            }
            // a leaf: its text is the next span of `raw_data`
            let Some(&(a, b)) = leaves.next() else {
                continue; // unreachable: `raw_data` wrote this very tree
            };
            if v.is_null() {
                continue;
            }
            let covered = walk.top_mapped || walk.mapped_paths.iter().any(|m| covers(m, path));
            if !covered || self.keep_nested.iter().any(|k| k == path) {
                put(out, walk.start, Key::from(path.as_str()), &walk.text[a..b]);
            }
        }
        path.truncate(base);
    }

    /// `dumps(original)`, with where each leaf's text is in it (`unmapped` copies those).
    fn raw_data(&self, original: &Original<'_>) -> RawData {
        let mut text = String::with_capacity(4096);
        let mut leaves = Vec::with_capacity(2 * original.fields.len());
        let mut first = Vec::with_capacity(original.fields.len());
        text.push('{');
        for (i, value) in original.fields.iter().enumerate() {
            first.push(leaves.len());
            let Some(value) = value else { continue };
            if text.len() > 1 {
                text.push(',');
            }
            text.push_str(&self.raw_keys[i]);
            write_leaves(&mut text, value, &mut leaves);
        }
        text.push('}');
        RawData {
            text,
            leaves,
            first,
        }
    }

    /// `engine._common`: the fields every class shares, on top of the rules' `slots`.
    fn common(
        &self,
        slots: &mut [Slot],
        context: &Context,
        time_ms: i64,
        original_time: String,
    ) -> Option<()> {
        let c = &self.common;
        let take_int = |slot: Slot, default: i64| -> Option<i64> {
            match slot {
                Slot::Empty => Some(default),
                Slot::Val(Value::Int(n)) => Some(n),
                _ => None,
            }
        };
        let activity_id = take_int(std::mem::replace(&mut slots[c.activity_id], Slot::Empty), 0)?;
        let severity_id = take_int(std::mem::replace(&mut slots[c.severity_id], Slot::Empty), 1)?;
        let status_id = match std::mem::replace(&mut slots[c.status_id], Slot::Empty) {
            Slot::Empty => None,
            Slot::Val(Value::Int(n)) => Some(n),
            _ => return None,
        };
        let mut status = std::mem::replace(&mut slots[c.status], Slot::Empty);
        if let (Some(id), Slot::Empty) = (status_id, &status) {
            let caption = self.statuses.get(&id).map_or("Other", String::as_str);
            status = Slot::Val(Value::Str(caption.to_owned()));
        }

        // metadata and cloud: the base dict, then the rules' entries (a shallow merge)
        let meta_shape = self.shape.sub(c.metadata)?;
        let mut meta = empty_slots(meta_shape.fields.len());
        meta[c.meta[0]] = Slot::Val(Value::Str(self.version.clone()));
        meta[c.meta[1]] = Slot::Val(context.key.clone());
        meta[c.meta[2]] = Slot::Val(Value::Str(self.dataset.clone()));
        let product_len = meta_shape.sub(c.meta[3])?.fields.len();
        let mut product = empty_slots(product_len);
        product[c.product[0]] = Slot::Val(Value::Str(self.product.clone()));
        product[c.product[1]] = Slot::Val(Value::Str(self.vendor.clone()));
        meta[c.meta[3]] = Slot::Rec(product);
        meta[c.meta[4]] = Slot::Val(Value::Str(original_time));
        merge(
            &mut meta,
            std::mem::replace(&mut slots[c.metadata], Slot::Empty),
        )?;
        slots[c.metadata] = Slot::Rec(meta);
        let mut cloud = empty_slots(self.shape.sub(c.cloud)?.fields.len());
        cloud[c.provider] = Slot::Val(Value::Str(self.vendor.clone()));
        merge(
            &mut cloud,
            std::mem::replace(&mut slots[c.cloud], Slot::Empty),
        )?;
        slots[c.cloud] = Slot::Rec(cloud);

        let activity = self
            .activities
            .get(&activity_id)
            .map_or("Other", String::as_str);
        let base = [
            (c.class_uid, Value::Int(self.class_uid)),
            (c.class_name, Value::Str(self.class_name.clone())),
            (c.category_uid, Value::Int(self.category_uid)),
            (c.category_name, Value::Str(self.category_name.clone())),
            (c.activity_name, Value::Str(activity.to_owned())),
            (
                c.type_uid,
                Value::Int(self.class_uid.checked_mul(100)?.checked_add(activity_id)?),
            ),
            (
                c.type_name,
                Value::Str([self.class_name.as_str(), ": ", activity].concat()),
            ),
            (
                c.severity,
                Value::Str(
                    self.severity
                        .get(&severity_id)
                        .map_or("Other", String::as_str)
                        .into(),
                ),
            ),
            (c.time, Value::Int(time_ms)),
        ];
        for (i, v) in base {
            if matches!(slots[i], Slot::Empty) {
                slots[i] = Slot::Val(v); // a rule's value wins (`**out` comes later)
            }
        }
        slots[c.activity_id] = Slot::Val(Value::Int(activity_id));
        slots[c.severity_id] = Slot::Val(Value::Int(severity_id));
        slots[c.status_id] = status_id.map_or(Slot::Empty, |n| Slot::Val(Value::Int(n)));
        slots[c.status] = status;
        slots[c.enrichments] = Slot::Val(Value::List(Vec::new()));
        Some(())
    }
}

/// `raw_data`'s text and its leaves: the span of every value that is not a non-empty dict,
/// in the order `nested` walks them; `first[i]`: the first leaf of raw field `i`.
struct RawData {
    text: String,
    leaves: Vec<(usize, usize)>,
    first: Vec<usize>,
}

/// What `nested` walks with: the `raw_data` text, whether the top field is mapped, the mapped
/// paths, where the field's entries of `unmapped` start.
struct Walk<'a> {
    text: &'a str,
    top_mapped: bool,
    mapped_paths: &'a [&'a str],
    start: usize,
}

/// [`json::write`] of `value`, noting the span of every leaf (any value but a non-empty dict).
fn write_leaves(out: &mut String, value: &Value, leaves: &mut Vec<(usize, usize)>) {
    match value {
        Value::Dict(pairs) if !pairs.is_empty() => {
            out.push('{');
            for (n, (k, v)) in pairs.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                json::write_str(out, k);
                out.push(':');
                write_leaves(out, v, leaves);
            }
            out.push('}');
        }
        leaf => {
            let start = out.len();
            json::write(out, leaf);
            leaves.push((start, out.len()));
        }
    }
}

/// `n` empty slots (no per-slot `clone`, as `vec![Slot::Empty; n]` makes).
fn empty_slots(n: usize) -> Vec<Slot> {
    let mut slots = Vec::with_capacity(n);
    slots.resize_with(n, || Slot::Empty);
    slots
}

/// `{**base, **rules}` of a nested record: the rules' entries replace the base's.
fn merge(base: &mut [Slot], rules: Slot) -> Option<()> {
    match rules {
        Slot::Empty => Some(()),
        Slot::Rec(entries) => {
            for (i, slot) in entries.into_iter().enumerate() {
                if !matches!(slot, Slot::Empty) {
                    base[i] = slot;
                }
            }
            Some(())
        }
        Slot::Val(_) => None,
    }
}

/// `out[path] = value` with dict semantics over the entries from `start` on.
fn put(out: &mut Vec<(Key, Value)>, start: usize, path: Key, text: &str) {
    if let Some(slot) = out[start..].iter_mut().find(|(k, _)| *k == path) {
        slot.1 = Value::Str(text.to_owned());
    } else {
        push_text(out, path, text);
    }
}

/// `out.push((key, Value::Str(text.to_owned())))`.
#[inline]
fn push_text(out: &mut Vec<(Key, Value)>, key: Key, text: &str) {
    out.push((key, Value::Str(text.to_owned())));
}

/// `covered`: whether mapped source `m` is `path` or one of its dotted parents.
fn covers(m: &str, path: &str) -> bool {
    path.starts_with(m) && (path.len() == m.len() || path.as_bytes()[m.len()] == b'.')
}

fn mark<'s>(source: &'s Source, mapped: &mut [bool], paths: &mut Vec<&'s str>) {
    if let Source::Field { index, rest, path } = source {
        if rest.is_empty() {
            mapped[*index] = true;
        } else {
            paths.push(path);
        }
    }
}

fn context(key: &str, scope: Option<&str>) -> Context {
    let account = match scope {
        Some(s) if s.starts_with("account:") => Some(&s["account:".len()..]),
        _ => key.split_once('/').map(|(a, _)| a),
    };
    let some = |s: Option<&str>| {
        s.filter(|s| !s.is_empty())
            .map(|s| Value::Str(s.to_owned()))
    };
    Context {
        key: Value::Str(key.to_owned()),
        account: some(account),
        scope: some(scope),
    }
}

/// `read(path)`: a context value or `source.lookup` (None when absent, null or "").
fn read<'v>(
    original: &'v Original<'_>,
    context: &'v Context,
    source: &Source,
) -> Option<&'v Value> {
    let found = match source {
        Source::Key => return Some(&context.key),
        Source::Account => return context.account.as_ref(),
        Source::Scope => return context.scope.as_ref(),
        Source::Nothing | Source::Absent => return None,
        Source::Field { index, rest, .. } => {
            let mut node: &Value = original.fields[*index]?;
            for part in rest {
                node = node.get(part)?;
            }
            node
        }
    };
    match found {
        Value::Null => None,
        Value::Str(s) if s.is_empty() => None,
        v => Some(v),
    }
}

/// `engine._set` on slots: parents become records; None where Python's result would not
/// fit the schema (a value where a record is, or a target outside it).
fn set(slots: &mut [Slot], shape: &Shape, path: &[usize], value: Value) -> Option<()> {
    let (&last, parents) = path.split_last()?;
    let mut slots = slots;
    let mut shape = shape;
    for &i in parents {
        let sub = shape.sub(i)?;
        if matches!(slots[i], Slot::Empty) {
            slots[i] = Slot::Rec(empty_slots(sub.fields.len()));
        }
        slots = match &mut slots[i] {
            Slot::Rec(inner) => inner,
            _ => return None,
        };
        shape = sub;
    }
    slots[last] = Slot::Val(value);
    Some(())
}

// -- shaping (`shape.conform_reference`) -----------------------------------------------------

fn conform_slots(shape: &Shape, slots: Vec<Slot>) -> Option<Value> {
    let mut out = Vec::with_capacity(shape.fields.len());
    for (i, (f, slot)) in shape.fields.iter().zip(slots).enumerate() {
        // each value is written in place (not moved out of a returned Option: a
        // store-forwarding stall per field in profiles)
        out.push((f.name.clone(), Value::Null));
        let dst = &mut out[i].1;
        match slot {
            Slot::Empty | Slot::Val(Value::Null) => match &f.default {
                None => return None,
                Some(Value::Null) => {}
                Some(default) => *dst = default.clone(),
            },
            Slot::Val(v) => match &f.kind {
                Kind::Value => *dst = v,
                kind => *dst = conform_value(kind, v)?,
            },
            Slot::Rec(inner) => match &f.kind {
                Kind::Record(sub) => *dst = conform_slots(sub, inner)?,
                _ => return None,
            },
        }
    }
    Some(Value::Dict(out))
}

fn conform_value(kind: &Kind, value: Value) -> Option<Value> {
    match (kind, value) {
        (Kind::Value, v) => Some(v),
        (Kind::Record(shape), Value::Dict(pairs)) => conform_dict(shape, pairs),
        (Kind::Records(shape), Value::List(items)) => items
            .into_iter()
            .map(|item| match item {
                Value::Dict(pairs) => conform_dict(shape, pairs),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .map(Value::List),
        (Kind::Array, v @ Value::List(_)) | (Kind::Map, v @ Value::Dict(_)) => Some(v),
        _ => None,
    }
}

fn conform_dict(shape: &Shape, pairs: Vec<(Key, Value)>) -> Option<Value> {
    let shaped = pairs.len() == shape.fields.len()
        && pairs
            .iter()
            .zip(&shape.fields)
            .all(|((k, v), f)| *k == f.name && !v.is_null() && matches!(f.kind, Kind::Value));
    if shaped {
        return Some(Value::Dict(pairs)); // already what conform makes of it
    }
    let mut slots = empty_slots(shape.fields.len());
    for (k, v) in pairs {
        slots[shape.index(&k)?] = Slot::Val(v); // an unknown field: Python refuses
    }
    conform_slots(shape, slots)
}

// -- transforms (`streams/ocsf/transforms.py`) -----------------------------------------------

/// The text when it is ASCII (Python's case mapping and digit parsing differ beyond it).
fn ascii(s: &str) -> Result<&str, Stop> {
    if s.is_ascii() {
        Ok(s)
    } else {
        Err(Stop::Decline)
    }
}

/// `text`: strings (borrowed), numbers written out; booleans, arrays, objects unmappable.
fn text(value: Option<&Value>) -> Out<Cow<'_, str>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Str(s)) => Ok(Some(Cow::Borrowed(s))),
        Some(Value::Int(n)) => Ok(Some(Cow::Owned(itoa::Buffer::new().format(*n).to_owned()))),
        Some(Value::Float(f)) => Ok(Some(Cow::Owned(match json::float_repr(*f) {
            Some(s) => s,
            None if f.is_nan() => "nan".into(),
            None if *f > 0.0 => "inf".into(),
            None => "-inf".into(),
        }))),
        Some(_) => Err(Stop::Unmappable),
    }
}

/// Python's `str.strip()` of ASCII text (declines on the rarer separators it strips).
fn py_strip(s: &str) -> Result<&str, Stop> {
    if s.bytes().any(|b| (0x1c..=0x1f).contains(&b)) {
        return Err(Stop::Decline);
    }
    Ok(s.trim_matches(|c: char| matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')))
}

/// `integer`: an int from an int, an integral float or a string of digits.
fn integer(value: Option<&Value>) -> Out<i64> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Int(n)) => Ok(Some(*n)),
        Some(Value::Float(f)) => {
            if !f.is_finite() || f.fract() != 0.0 {
                Err(Stop::Unmappable)
            } else if f.abs() < 9.0e18 {
                Ok(Some(*f as i64))
            } else {
                Err(Stop::Decline)
            }
        }
        Some(Value::Str(s)) => {
            let t = py_strip(ascii(s)?)?;
            let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Stop::Unmappable);
            }
            t.parse::<i64>().map(Some).map_err(|_| Stop::Decline)
        }
        Some(_) => Err(Stop::Unmappable),
    }
}

/// `number`: a float from a number or a plain decimal string (other strings decline).
fn number(value: Option<&Value>) -> Out<f64> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(_)) => Err(Stop::Unmappable),
        Some(Value::Int(n)) => Ok(Some(*n as f64)),
        Some(Value::Float(f)) => Ok(Some(*f)),
        Some(Value::Str(s)) => {
            let t = py_strip(ascii(s)?)?;
            if !decimal(t) {
                return Err(Stop::Decline);
            }
            t.parse::<f64>().map(Some).map_err(|_| Stop::Decline)
        }
        Some(_) => Err(Stop::Unmappable),
    }
}

/// `[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?`
fn decimal(t: &str) -> bool {
    let b = t.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    let mut n = digits(&mut i);
    if b.get(i) == Some(&b'.') {
        i += 1;
        n += digits(&mut i);
    }
    if n == 0 {
        return false;
    }
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = b.get(i) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// `path_of`: the path of `/a/b?q=1`.
fn path_of(uri: Option<&Value>) -> Out<&str> {
    Ok(text_str(uri)?.and_then(|u| {
        let path = u.split_once('?').map_or(u, |(p, _)| p);
        (!path.is_empty()).then_some(path)
    }))
}

/// `query_of`: the query string (no `?`) of `/a/b?q=1`.
fn query_of(uri: Option<&Value>) -> Out<&str> {
    Ok(text_str(uri)?.and_then(|u| u.split_once('?').map(|(_, q)| q).filter(|q| !q.is_empty())))
}

/// `text` of a string or absent value; numbers decline here (their text is not borrowed).
fn text_str(value: Option<&Value>) -> Out<&str> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s)),
        Some(Value::Int(_) | Value::Float(_)) => Err(Stop::Decline),
        Some(_) => Err(Stop::Unmappable),
    }
}

/// `url_of(scheme, host, path_of(uri), query_of(uri))`.
fn url_of_uri(
    scheme: Option<&Value>,
    host: Option<&Value>,
    uri: Option<&Value>,
) -> Out<Cow<'static, str>> {
    let path = path_of(uri)?;
    let query = query_of(uri)?;
    let host = text(host)?;
    let scheme = text(scheme)?;
    let Some(host) = host.filter(|h| !h.is_empty()) else {
        return Ok(None);
    };
    let mut out =
        String::with_capacity(host.len() + 16 + uri.and_then(Value::as_str).map_or(0, str::len));
    match scheme.filter(|s| !s.is_empty()) {
        Some(s) => {
            out.push_str(&s);
            out.push_str("://");
        }
        None => out.push_str("//"),
    }
    out.push_str(&host);
    out.push_str(path.unwrap_or(""));
    if let Some(tail) = query.map(|q| q.strip_prefix('?').unwrap_or(q)) {
        if !tail.is_empty() {
            out.push('?');
            out.push_str(tail);
        }
    }
    Ok(Some(Cow::Owned(out)))
}

/// `name_values`: `{name: value}` -> `[{name, value}]`, values as text (JSON for non-strings).
fn name_values(value: Option<&Value>) -> Out<Value> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Dict(pairs)) => Ok(Some(Value::List(
            pairs
                .iter()
                .map(|(k, v)| {
                    let text = match v {
                        Value::Str(s) => s.clone(),
                        other => json::dumps(other),
                    };
                    Value::Dict(vec![
                        (Key::from_static("name"), Value::Str(k.to_string())),
                        (Key::from_static("value"), Value::Str(text)),
                    ])
                })
                .collect(),
        ))),
        Some(_) => Err(Stop::Unmappable),
    }
}

/// `edge_time_ms`: unix ns, us, ms or s (by magnitude) or RFC3339, to epoch milliseconds.
fn edge_time_ms(value: &Value) -> Result<i64, Stop> {
    let count = match value {
        Value::Int(n) => *n,
        Value::Str(s) => {
            let t = py_strip(ascii(s)?)?;
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return rfc3339_ms(t);
            }
            integer(Some(value))?.ok_or(Stop::Unmappable)?
        }
        other => integer(Some(other))?.ok_or(Stop::Unmappable)?,
    };
    Ok(if count >= 100_000_000_000_000_000 {
        count / 1_000_000
    } else if count >= 100_000_000_000_000 {
        count / 1_000
    } else if count >= 100_000_000_000 {
        count
    } else {
        count.checked_mul(1000).ok_or(Stop::Decline)?
    })
}

/// `rfc3339_ms` of stripped ASCII text.
fn rfc3339_ms(t: &str) -> Result<i64, Stop> {
    let b = t.as_bytes();
    let num = |from: usize, len: usize| -> Result<i64, Stop> {
        let part = b.get(from..from + len).ok_or(Stop::Unmappable)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return Err(Stop::Unmappable);
        }
        Ok(part.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let sep = |at: usize, ok: &[u8]| -> Result<(), Stop> {
        match b.get(at) {
            Some(c) if ok.contains(c) => Ok(()),
            _ => Err(Stop::Unmappable),
        }
    };
    let year = num(0, 4)?;
    sep(4, b"-")?;
    let month = num(5, 2)?;
    sep(7, b"-")?;
    let day = num(8, 2)?;
    sep(10, b"Tt ")?;
    let hour = num(11, 2)?;
    sep(13, b":")?;
    let minute = num(14, 2)?;
    sep(16, b":")?;
    let second = num(17, 2)?;
    let mut i = 19;
    let mut micros = 0;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        let mut end = start;
        while b.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
        if end == start || end - start > 9 {
            return Err(Stop::Unmappable);
        }
        for k in 0..6 {
            micros = micros * 10
                + b.get(start + k)
                    .filter(|_| start + k < end)
                    .map_or(0, |d| i64::from(d - b'0'));
        }
        i = end;
    }
    let offset = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() => {
            let hours = num(i + 1, 2)?;
            sep(i + 3, b":")?;
            let minutes = num(i + 4, 2)?;
            let secs = hours * 3600 + minutes * 60;
            if *sign == b'+' {
                secs
            } else {
                -secs
            }
        }
        _ => return Err(Stop::Unmappable),
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in[month as usize - 1]
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(Stop::Unmappable); // datetime() raises ValueError
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    let (first, last) = (days_from_civil(1, 1, 1), days_from_civil(9999, 12, 31));
    if secs < first * 86_400 || secs >= (last + 1) * 86_400 {
        return Err(Stop::Decline); // beyond datetime's range: Python raises OverflowError
    }
    Ok((secs * 1_000_000 + micros).div_euclid(1000))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        let ms = |s: &str| edge_time_ms(&Value::Str(s.into()));
        assert_eq!(ms("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(ms("2026-11-22T20:19:48.123456789Z"), Ok(1_795_378_788_123));
        assert_eq!(ms("2026-11-22T21:19:48+01:00"), Ok(1_795_378_788_000));
        assert_eq!(ms("1969-12-31T23:59:59.9995Z"), Ok(-1));
        assert_eq!(ms("2026-02-30T00:00:00Z"), Err(Stop::Unmappable));
        assert_eq!(ms(" 1795378788 "), Ok(1_795_378_788_000));
        assert_eq!(ms("nope"), Err(Stop::Unmappable));
        assert_eq!(
            edge_time_ms(&Value::Int(1_795_378_788_123_456_789)),
            Ok(1_795_378_788_123)
        );
        assert_eq!(edge_time_ms(&Value::Bool(true)), Err(Stop::Unmappable));
    }

    #[test]
    fn numbers_and_texts() {
        let s = |t: &str| Value::Str(t.into());
        assert_eq!(integer(Some(&s(" -12 "))), Ok(Some(-12)));
        assert_eq!(integer(Some(&s("1.5"))), Err(Stop::Unmappable));
        assert_eq!(integer(Some(&Value::Float(3.0))), Ok(Some(3)));
        assert_eq!(number(Some(&s("37.7749"))), Ok(Some(37.7749)));
        assert_eq!(number(Some(&s("1."))), Ok(Some(1.0)));
        assert_eq!(number(Some(&s("nan"))), Err(Stop::Decline));
        assert_eq!(
            text(Some(&Value::Float(1e16))).unwrap().as_deref(),
            Some("1e+16")
        );
        assert_eq!(text(Some(&Value::Bool(true))), Err(Stop::Unmappable));
        let url = url_of_uri(Some(&s("https")), Some(&s("h")), Some(&s("/a??b")));
        assert_eq!(url.unwrap().as_deref(), Some("https://h/a?b"));
        assert_eq!(
            url_of_uri(None, Some(&s("h")), None).unwrap().as_deref(),
            Some("//h")
        );
        assert!(decimal(".5") && decimal("-1e5") && !decimal(".") && !decimal("1e"));
    }

    /// The cases `tests/ocsf_fixtures.py` writes: the Python record exactly, or a decline
    /// where Python raises or the case may decline.
    #[test]
    fn python_fixtures() {
        // OCSF_FIXTURES: another directory with the same files (e.g. a bigger sample)
        let dir = std::env::var("OCSF_FIXTURES")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/").into());
        // written by `tests/ocsf_fixtures.py` (make test runs it first; not in git)
        let spec = std::fs::read_to_string(format!("{dir}ocsf_http_requests.spec.json"))
            .expect("no OCSF fixtures: run .venv/bin/python native/tests/ocsf_fixtures.py");
        let normalizer = Normalizer::from_spec(&spec).unwrap();
        let cases = std::fs::read_to_string(format!("{dir}ocsf_http_requests.jsonl")).unwrap();
        let (mut same, mut declined, mut refused) = (0, 0, 0);
        for line in cases.lines() {
            let case = json::parse(line).unwrap();
            let name = case.get("name").and_then(Value::as_str).unwrap();
            let key = case.get("key").and_then(Value::as_str).unwrap();
            let scope = case.get("scope").and_then(Value::as_str);
            let expected = case.get("expected").unwrap();
            let may_decline = case.get("may_decline") == Some(&Value::Bool(true));
            let got = normalizer.normalize(case.get("value").unwrap(), key, scope);
            match got {
                Some(record) => {
                    assert!(
                        !expected.is_null(),
                        "{name}: Python raises, Rust gave a record"
                    );
                    assert_eq!(json::dumps(&record), json::dumps(expected), "{name}");
                    assert_eq!(&record, expected, "{name}");
                    same += 1;
                }
                None if expected.is_null() => refused += 1,
                None => {
                    assert!(may_decline, "{name}: declined");
                    eprintln!("declined (allowed): {name}");
                    declined += 1;
                }
            }
        }
        eprintln!("OCSF fixtures: {same} identical, {declined} declined, {refused} refused");
        assert!(same >= 500);
    }
}

