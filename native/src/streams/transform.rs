//! `cfkafka_native.OcsfTransform`: one dataset's raw Avro -> OCSF Avro, around the Python
//! steps in between.
//!
//! `prepare` decodes a raw Confluent-framed value and normalizes it (`ocsf::Normalizer`).
//! The record stays in Rust (a `Prepared`); Python gets a *view* of it: the top-level fields
//! the Python steps read (enrichers, sampling, alert rule subjects) as a dict, with only the
//! `unmapped` entries they read. Python enriches the view in place; `encode` writes the
//! record as the class's Confluent-framed Avro, with the top-level fields the Python steps
//! may change (`view_writes`: what the enrichers write) taken from the view. Either call
//! returns None where the Python path must handle the record (the transform declines, or a
//! bug panicked): nothing differs from Python's output.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Mutex;

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString};

use super::avro::{decode, encode_mixed, encode_value, parse_schema, Schema};
use super::enrich::{Enrich, Names, StepKind};
use super::ocsf::Normalizer;
use super::value::{Key, Value};

/// A normalized record between `prepare` and `encode` (opaque to Python; `encode` takes it).
#[pyclass(frozen, module = "cfkafka_native", name = "Prepared")]
pub struct Prepared {
    record: Mutex<Option<Value>>,
    /// enriched in Rust (`checked`): `encode` takes nothing from the view
    enriched: bool,
}

/// One dataset's raw schema, OCSF normalization and OCSF class schema.
#[pyclass(frozen, module = "cfkafka_native", name = "OcsfTransform")]
pub struct OcsfTransform {
    raw: Schema,
    out: Schema,
    normalizer: Normalizer,
    /// magic byte + the OCSF schema id (big endian)
    frame: [u8; 5],
    /// the `unmapped` entries the view carries
    view_unmapped: Vec<String>,
    /// the top-level fields `encode` takes from the view
    view_writes: Vec<String>,
    /// the top-level fields the view carries (the Python steps read no others)
    view_fields: Vec<String>,
    /// the top-level fields the view of `checked` carries (what alert rules read)
    rule_fields: Vec<String>,
    /// dict keys as Python strings, made once (interned: their hash is cached too)
    keys: Mutex<HashMap<Key, Py<PyString>>>,
    /// the enricher's steps in Rust (`enrich_natively`), if it can run them all
    enrich: std::sync::OnceLock<Enrich>,
}

/// What the views carry: (``unmapped`` names, fields ``encode`` takes from a view, fields
/// of ``prepare``'s view, fields of ``checked``'s view).
type Views = (Vec<String>, Vec<String>, Vec<String>, Vec<String>);

/// Converts values to Python objects, with dict keys from the transform's cache.
struct ToPy<'py, 'k> {
    py: Python<'py>,
    keys: &'k mut HashMap<Key, Py<PyString>>,
}

impl<'py> ToPy<'py, '_> {
    fn key(&mut self, key: &Key) -> Bound<'py, PyString> {
        let py = self.py;
        self.keys
            .entry(key.clone())
            .or_insert_with(|| PyString::intern(py, key).unbind())
            .bind(py)
            .clone()
    }

    fn value(&mut self, value: &Value) -> PyResult<Bound<'py, PyAny>> {
        let py = self.py;
        Ok(match value {
            Value::Null => py.None().into_bound(py),
            Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
            Value::Int(i) => PyInt::new(py, *i).into_any(),
            Value::Float(f) => PyFloat::new(py, *f).into_any(),
            Value::Str(s) => PyString::new(py, s).into_any(),
            Value::List(items) => {
                let list = PyList::empty(py);
                for item in items {
                    list.append(self.value(item)?)?;
                }
                list.into_any()
            }
            Value::Dict(pairs) => {
                let dict = PyDict::new(py);
                for (key, item) in pairs {
                    dict.set_item(self.key(key), self.value(item)?)?;
                }
                dict.into_any()
            }
        })
    }
}

impl OcsfTransform {
    /// The decoded raw value and its OCSF record, or None (Python handles the record).
    fn normalized(&self, value: &[u8], key: &str, scope: Option<&str>) -> Option<(Value, Value)> {
        if value.len() < 5 || value[0] != 0 {
            return None;
        }
        let raw = decode(&self.raw, &value[5..]).ok()?;
        let record = self.normalizer.normalize(&raw, key, scope)?;
        matches!(record, Value::Dict(_)).then_some((raw, record))
    }

    /// The view of `record`: its top-level `fields`, `unmapped` cut to `view_unmapped`.
    fn view<'py>(
        &self,
        py: Python<'py>,
        record: &Value,
        fields: &[String],
    ) -> PyResult<Bound<'py, PyDict>> {
        let mut keys = match self.keys.lock() {
            Ok(keys) => keys,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut to_py = ToPy {
            py,
            keys: &mut keys,
        };
        let dict = PyDict::new(py);
        let Value::Dict(pairs) = record else {
            return Ok(dict);
        };
        for (name, item) in pairs {
            if !fields.iter().any(|f| **f == **name) {
                continue;
            }
            if &**name == "unmapped" {
                let view = PyDict::new(py);
                for wanted in &self.view_unmapped {
                    if let Some(text) = item.get(wanted) {
                        view.set_item(wanted, to_py.value(text)?)?;
                    }
                }
                dict.set_item(to_py.key(name), view)?;
            } else {
                dict.set_item(to_py.key(name), to_py.value(item)?)?;
            }
        }
        Ok(dict)
    }

    /// The record decoded, normalized and enriched in Rust, or None.
    fn enriched(
        &self,
        py: Python<'_>,
        value: &[u8],
        key: &str,
        scope: Option<&str>,
    ) -> Option<Value> {
        let enrich = self.enrich.get()?;
        let (raw, mut record) = self.normalized(value, key, scope)?;
        enrich.run(py, &mut record, &raw).ok()?;
        Some(record)
    }

    /// ``(view, prepared)`` of the record ``make`` gives, the view with ``fields``; None when
    /// there is none or a bug panicked (Python's turn).
    fn viewed<'py>(
        &self,
        py: Python<'py>,
        fields: &[String],
        enriched: bool,
        make: impl FnOnce() -> Option<Value>,
    ) -> Option<(Bound<'py, PyDict>, Bound<'py, Prepared>)> {
        let made = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let record = make()?;
            let view = self.view(py, &record, fields).ok()?;
            Some((view, record))
        }));
        let (view, record) = made.ok().flatten()?;
        let prepared = Prepared {
            record: Mutex::new(Some(record)),
            enriched,
        };
        Some((view, Bound::new(py, prepared).ok()?))
    }

    fn framed(&self, record: &Value) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(8192);
        out.extend_from_slice(&self.frame);
        encode_value(&self.out, record, &mut out).ok()?;
        Some(out)
    }
}

#[pymethods]
impl OcsfTransform {
    /// ``OcsfTransform(raw_schema, ocsf_schema, spec, ocsf_schema_id, (view_unmapped,
    /// view_writes, view_fields, rule_fields))``: the raw topic's Avro schema (JSON text;
    /// values must be written with it), the OCSF class schema (JSON text), the dataset's map
    /// digest (``streams.ocsf.native_spec``), the registry id of the OCSF schema, the
    /// ``unmapped`` names the views carry, the top-level fields ``encode`` takes from a view,
    /// the top-level fields ``prepare``'s view carries, and those ``checked``'s carries.
    #[new]
    fn new(
        raw_schema: &str,
        ocsf_schema: &str,
        spec: &str,
        ocsf_schema_id: u32,
        views: Views,
    ) -> PyResult<Self> {
        let (view_unmapped, view_writes, view_fields, rule_fields) = views;
        let bad = pyo3::exceptions::PyValueError::new_err;
        let id = ocsf_schema_id.to_be_bytes();
        Ok(OcsfTransform {
            raw: parse_schema(raw_schema).map_err(bad)?,
            out: parse_schema(ocsf_schema).map_err(bad)?,
            normalizer: Normalizer::from_spec(spec).map_err(bad)?,
            frame: [0, id[0], id[1], id[2], id[3]],
            view_unmapped,
            view_writes,
            view_fields,
            rule_fields,
            keys: Mutex::new(HashMap::new()),
            enrich: std::sync::OnceLock::new(),
        })
    }

    /// ``(view, prepared)`` of one raw Confluent-framed value, or None (Python's turn).
    #[pyo3(signature = (value, key, scope = None))]
    fn prepare<'py>(
        &self,
        py: Python<'py>,
        value: &[u8],
        key: &str,
        scope: Option<&str>,
    ) -> Option<(Bound<'py, PyDict>, Bound<'py, Prepared>)> {
        self.viewed(py, &self.view_fields, false, || {
            self.normalized(value, key, scope).map(|(_, record)| record)
        })
    }

    /// The Confluent-framed OCSF Avro of one raw value, decoded, normalized and enriched
    /// here (``enrich_natively``), or None (Python's turn).
    #[pyo3(signature = (value, key, scope = None))]
    fn run<'py>(
        &self,
        py: Python<'py>,
        value: &[u8],
        key: &str,
        scope: Option<&str>,
    ) -> Option<Bound<'py, PyBytes>> {
        let made = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let record = self.enriched(py, value, key, scope)?;
            self.framed(&record)
        }));
        made.ok().flatten().map(|out| PyBytes::new(py, &out))
    }

    /// As ``run``, but first ``(view, prepared)`` with the view's ``rule_fields`` (for the
    /// alert rules' subject checks); ``encode`` then writes the record, not the view.
    #[pyo3(signature = (value, key, scope = None))]
    fn checked<'py>(
        &self,
        py: Python<'py>,
        value: &[u8],
        key: &str,
        scope: Option<&str>,
    ) -> Option<(Bound<'py, PyDict>, Bound<'py, Prepared>)> {
        self.viewed(py, &self.rule_fields, true, || {
            self.enriched(py, value, key, scope)
        })
    }

    /// Run the enricher's steps here: ``steps`` in its order, each ``("names", (accounts,
    /// zones, learn, max_learned, zone_data))``, ``("roster", None)``, ``("user_agent",
    /// data)`` or ``("ip_class", data)``. Set once, before the first record.
    fn enrich_natively(&self, steps: Vec<(String, Bound<'_, PyAny>)>) -> PyResult<()> {
        let bad = pyo3::exceptions::PyValueError::new_err;
        let mut kinds = Vec::with_capacity(steps.len());
        for (name, arg) in steps {
            kinds.push(match name.as_str() {
                "names" => {
                    let (accounts, zones, learn, max_learned, zone_data): (
                        Bound<'_, PyDict>,
                        Bound<'_, PyDict>,
                        bool,
                        usize,
                        Bound<'_, PyAny>,
                    ) = arg.extract()?;
                    StepKind::Names(Names {
                        accounts: accounts.unbind(),
                        zones: zones.unbind(),
                        learn,
                        max_learned,
                        zone_data: zone_data.unbind(),
                    })
                }
                "roster" => StepKind::Roster,
                "user_agent" => StepKind::UserAgent(arg.unbind()),
                "ip_class" => StepKind::IpClass(arg.unbind()),
                other => return Err(bad(format!("unknown enrichment step {other}"))),
            });
        }
        self.enrich
            .set(Enrich::new(kinds))
            .map_err(|_| bad("enrich_natively was called already".to_owned()))
    }

    /// The Confluent-framed OCSF Avro of a prepared record, its ``view_writes`` fields taken
    /// from ``view``; or None (Python's turn). A ``Prepared`` is encoded once.
    fn encode<'py>(
        &self,
        py: Python<'py>,
        view: &Bound<'py, PyAny>,
        prepared: &Bound<'py, Prepared>,
    ) -> Option<Bound<'py, PyBytes>> {
        let prepared = prepared.get();
        let record = prepared.record.lock().ok()?.take()?;
        if prepared.enriched {
            let written = std::panic::catch_unwind(AssertUnwindSafe(|| self.framed(&record)));
            return written.ok().flatten().map(|out| PyBytes::new(py, &out));
        }
        let view = view.cast_exact::<PyDict>().ok()?;
        let names: Vec<&str> = self.view_writes.iter().map(String::as_str).collect();
        let written = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let mut out = Vec::with_capacity(8192);
            out.extend_from_slice(&self.frame);
            encode_mixed(&self.out, &record, view, &names, &mut out).map(|()| out)
        }));
        match written {
            Ok(Ok(out)) => Some(PyBytes::new(py, &out)),
            _ => None,
        }
    }
}
