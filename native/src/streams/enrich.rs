//! The default enrichment steps of `streams.enrich.Enricher` (names, roster, user agent, IP
//! class) on a normalized record, in Rust, for zone datasets (`http_requests`,
//! `firewall_events`): what `Enricher.enrich` does to the record, or `Decline` (then the
//! caller takes the view path, where Python enriches).
//!
//! The name books are the enricher's own dicts (read and, when it learns, written here as
//! `NameBook._remember` does). The user-agent and IP-class data come from the enricher's own
//! functions (Python callables, pure), called once per distinct input and cached here.

use std::collections::HashMap;
use std::sync::Mutex;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use super::json;
use super::value::{Key, Value};

/// The Python side answered something this module does not reproduce: use the view path.
pub struct Decline;

type Step<T> = Result<T, Decline>;

/// Cache entries kept per kind before a cache is emptied (bounded memory).
const CACHE_LIMIT: usize = 16_384;

/// The name book step (`NameBook`).
pub struct Names {
    pub accounts: Py<PyDict>,
    pub zones: Py<PyDict>,
    pub learn: bool,
    pub max_learned: usize,
    /// `names._zone_data(zone_id, zone_name)`
    pub zone_data: Py<PyAny>,
}

/// One enrichment step, in the enricher's order.
pub enum StepKind {
    Names(Names),
    /// `Roster`: a record without `user` and `actor` is left as it is.
    Roster,
    /// `UserAgentParser.data(user_agent)`
    UserAgent(Py<PyAny>),
    /// `ipclass._data(ip, country, asn, as_name, ip_class)`
    IpClass(Py<PyAny>),
}

/// (zone id, zone name) as the zone step found them.
type ZoneKey = (Option<String>, Option<String>);

/// The enricher's steps and the caches of their answers.
pub struct Enrich {
    steps: Vec<StepKind>,
    zone_data: Mutex<HashMap<ZoneKey, String>>,
    user_agents: Mutex<HashMap<String, String>>,
    ip_data: Mutex<HashMap<String, Option<String>>>,
}

const ENTRY_KEYS: [Key; 5] = [
    Key::from_static("name"),
    Key::from_static("value"),
    Key::from_static("type"),
    Key::from_static("provider"),
    Key::from_static("data"),
];

fn path<'a>(value: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    let mut node = value;
    for key in keys {
        node = node.get(key)?;
        if node.is_null() {
            return None;
        }
    }
    Some(node)
}

/// `get_str`: a non-empty string at `keys`.
fn text<'a>(value: &'a Value, keys: &[&str]) -> Option<&'a str> {
    path(value, keys)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// `unmapped_value(record, name)` when it is a non-empty string (Python: `decode_json` by
/// orjson; a text `json` and orjson might read differently declines).
fn unmapped_str(record: &Value, name: &str) -> Step<Option<String>> {
    let Some(found) = record.get("unmapped").and_then(|u| u.get(name)) else {
        return Ok(None);
    };
    let Value::Str(raw) = found else {
        return Err(Decline);
    };
    match json::parse(raw) {
        Ok(Value::Str(s)) if !s.is_empty() => Ok(Some(s)),
        Ok(_) => Ok(None),
        Err(_) => Err(Decline),
    }
}

/// `upsert_enrichment`: replace the entry with the same name, type and provider, or append.
fn upsert(record: &mut Value, entry: [&str; 4], data: Option<&str>) -> Step<()> {
    let [name, value, kind, provider] = entry;
    let made = Value::Dict(vec![
        (ENTRY_KEYS[0].clone(), Value::Str(name.to_owned())),
        (ENTRY_KEYS[1].clone(), Value::Str(value.to_owned())),
        (ENTRY_KEYS[2].clone(), Value::Str(kind.to_owned())),
        (ENTRY_KEYS[3].clone(), Value::Str(provider.to_owned())),
        (
            ENTRY_KEYS[4].clone(),
            data.map_or(Value::Null, |d| Value::Str(d.to_owned())),
        ),
    ]);
    let Value::Dict(pairs) = record else {
        return Err(Decline);
    };
    let Some((_, Value::List(entries))) = pairs.iter_mut().find(|(k, _)| **k == *"enrichments")
    else {
        return Err(Decline); // not a list: Python would replace it, not worth reproducing
    };
    for existing in entries.iter_mut() {
        if existing.get("name").and_then(Value::as_str) == Some(name)
            && existing.get("type").and_then(Value::as_str) == Some(kind)
            && existing.get("provider").and_then(Value::as_str) == Some(provider)
        {
            *existing = made;
            return Ok(());
        }
    }
    entries.push(made);
    Ok(())
}

fn lookup(py: Python<'_>, book: &Py<PyDict>, key: Option<&str>) -> Step<Option<String>> {
    let Some(key) = key else { return Ok(None) };
    match book.bind(py).get_item(key) {
        Ok(None) => Ok(None),
        Ok(Some(found)) if found.is_none() => Ok(None),
        Ok(Some(found)) => match found.cast_exact::<PyString>() {
            Ok(s) => s.to_str().map(|s| Some(s.to_owned())).map_err(|_| Decline),
            Err(_) => Err(Decline),
        },
        Err(_) => Err(Decline),
    }
}

/// `names._remember`: `book[key] = name` when both are known, differ from the book, and
/// the book has room.
fn remember(
    py: Python<'_>,
    book: &Py<PyDict>,
    key: Option<&str>,
    name: Option<&str>,
    cap: usize,
) -> Step<()> {
    let (Some(key), Some(name)) = (key, name) else {
        return Ok(());
    };
    let book = book.bind(py);
    let known = book.get_item(key).map_err(|_| Decline)?;
    if let Some(known) = &known {
        if let Ok(s) = known.cast_exact::<PyString>() {
            if s.to_str().map_err(|_| Decline)? == name {
                return Ok(());
            }
        }
    }
    if known.is_some() || book.len() < cap {
        book.set_item(key, name).map_err(|_| Decline)?;
    }
    Ok(())
}

/// `cache[key]`, else `compute()` remembered (the cache is emptied when full).
fn cached<K: std::hash::Hash + Eq, V: Clone>(
    cache: &Mutex<HashMap<K, V>>,
    key: K,
    compute: impl FnOnce() -> Step<V>,
) -> Step<V> {
    if let Some(found) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return Ok(found);
    }
    let found = compute()?;
    if let Ok(mut cache) = cache.lock() {
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key, found.clone());
    }
    Ok(found)
}

/// A Python callable's answer that must be a str or None.
fn answer(found: &Bound<'_, PyAny>) -> Step<Option<String>> {
    if found.is_none() {
        return Ok(None);
    }
    let s = found.cast_exact::<PyString>().map_err(|_| Decline)?;
    s.to_str().map(|s| Some(s.to_owned())).map_err(|_| Decline)
}

impl Enrich {
    pub fn new(steps: Vec<StepKind>) -> Enrich {
        Enrich {
            steps,
            zone_data: Mutex::default(),
            user_agents: Mutex::default(),
            ip_data: Mutex::default(),
        }
    }

    /// Enrich `record` in place as `Enricher.enrich` would, or `Decline` (the record may be
    /// partly enriched then: drop it). `raw` is the decoded raw value (its top-level
    /// strings are what `RawView` reads back from `raw_data`).
    pub fn run(&self, py: Python<'_>, record: &mut Value, raw: &Value) -> Step<()> {
        for step in &self.steps {
            match step {
                StepKind::Names(names) => self.names(py, names, record, raw)?,
                StepKind::Roster => {
                    if !record.get("user").is_none_or(Value::is_null)
                        || !record.get("actor").is_none_or(Value::is_null)
                    {
                        return Err(Decline);
                    }
                }
                StepKind::UserAgent(data) => self.user_agent(py, data, record)?,
                StepKind::IpClass(data) => self.ip_class(py, data, record)?,
            }
        }
        Ok(())
    }

    fn names(&self, py: Python<'_>, names: &Names, record: &mut Value, raw: &Value) -> Step<()> {
        let dataset = text(record, &["metadata", "log_name"]);
        if !matches!(dataset, Some("http_requests" | "firewall_events")) {
            return Err(Decline);
        }
        if !record.get("resources").is_none_or(Value::is_null) {
            return Err(Decline);
        }
        let account_id = text(record, &["cloud", "account", "uid"]).map(str::to_owned);
        let account_name = text(record, &["cloud", "account", "name"]).map(str::to_owned);
        if names.learn {
            remember(
                py,
                &names.accounts,
                account_id.as_deref(),
                account_name.as_deref(),
                names.max_learned,
            )?;
        }
        if account_name.is_none() {
            if let Some(name) = lookup(py, &names.accounts, account_id.as_deref())? {
                if let Some(account @ Value::Dict(_)) = path_mut(record, &["cloud", "account"]) {
                    account.set("name", Value::Str(name));
                }
            }
        }
        let mut zone_name = unmapped_str(record, "ZoneName")?;
        if zone_name.is_none() {
            zone_name = text(raw, &["ZoneName"]).map(str::to_owned);
        }
        let zone_id = unmapped_str(record, "ZoneID")?;
        if names.learn {
            remember(
                py,
                &names.zones,
                zone_id.as_deref(),
                zone_name.as_deref(),
                names.max_learned,
            )?;
        }
        if zone_name.is_none() {
            zone_name = lookup(py, &names.zones, zone_id.as_deref())?;
        }
        // Python's truthiness: a book may hold an empty name
        let shown = zone_name
            .as_deref()
            .filter(|s| !s.is_empty())
            .or(zone_id.as_deref());
        if shown.is_none() {
            return Ok(());
        }
        let data = cached(
            &self.zone_data,
            (zone_id.clone(), zone_name.clone()),
            || {
                let found = names
                    .zone_data
                    .bind(py)
                    .call1((zone_id.clone(), zone_name.clone()))
                    .map_err(|_| Decline)?;
                answer(&found)?.ok_or(Decline)
            },
        )?;
        let value = shown.unwrap_or("").to_owned();
        upsert(
            record,
            ["zone", &value, "cloudflare_zone", "cfkafka"],
            Some(&data),
        )
    }

    fn user_agent(&self, py: Python<'_>, data: &Py<PyAny>, record: &mut Value) -> Step<()> {
        let Some(agent) = text(record, &["http_request", "user_agent"]).map(str::to_owned) else {
            return Ok(());
        };
        let found = cached(&self.user_agents, agent.clone(), || {
            let called = data.bind(py).call1((agent.clone(),)).map_err(|_| Decline)?;
            answer(&called)?.ok_or(Decline)
        })?;
        upsert(
            record,
            ["http_request.user_agent", &agent, "user_agent", "ua-parser"],
            Some(&found),
        )
    }

    fn ip_class(&self, py: Python<'_>, data: &Py<PyAny>, record: &mut Value) -> Step<()> {
        let Some(endpoint @ Value::Dict(_)) = record.get("src_endpoint") else {
            return Ok(());
        };
        let Some(ip) = endpoint
            .get("ip")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        else {
            return Ok(());
        };
        let ip = ip.to_owned();
        let country = text(endpoint, &["location", "country"]).map(str::to_owned);
        let asn = match path(endpoint, &["autonomous_system", "number"]) {
            Some(Value::Int(n)) => Some(AsnArg::Int(*n)),
            Some(Value::Str(s)) => Some(AsnArg::Str(s.clone())),
            _ => None,
        };
        let as_name = text(endpoint, &["autonomous_system", "name"]).map(str::to_owned);
        let ip_class = unmapped_str(record, "ClientIPClass")?;
        let key = format!(
            "{ip}\u{0}{}\u{0}{}\u{0}{}\u{0}{}",
            country.as_deref().unwrap_or("\u{1}"),
            match &asn {
                Some(AsnArg::Int(n)) => format!("i{n}"),
                Some(AsnArg::Str(s)) => format!("s{s}"),
                None => "\u{1}".to_owned(),
            },
            as_name.as_deref().unwrap_or("\u{1}"),
            ip_class.as_deref().unwrap_or("\u{1}"),
        );
        let found = cached(&self.ip_data, key, || {
            let asn: Bound<'_, PyAny> = match &asn {
                Some(AsnArg::Int(n)) => n.into_pyobject(py).map_err(|_| Decline)?.into_any(),
                Some(AsnArg::Str(s)) => PyString::new(py, s).into_any(),
                None => py.None().into_bound(py),
            };
            let args = (ip.clone(), country, asn, as_name, ip_class);
            answer(&data.bind(py).call1(args).map_err(|_| Decline)?)
        })?;
        let Some(found) = found else { return Ok(()) };
        upsert(
            record,
            ["src_endpoint.ip", &ip, "ip_classification", "cfkafka"],
            Some(&found),
        )
    }
}

enum AsnArg {
    Int(i64),
    Str(String),
}

fn path_mut<'a>(value: &'a mut Value, keys: &[&str]) -> Option<&'a mut Value> {
    let mut node = value;
    for key in keys {
        let Value::Dict(pairs) = node else {
            return None;
        };
        node = pairs
            .iter_mut()
            .find(|(k, _)| **k == **key)
            .map(|(_, v)| v)?;
    }
    Some(node)
}
