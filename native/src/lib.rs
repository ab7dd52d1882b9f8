//! `cfkafka_native`: NDJSON lines -> (key, Confluent-framed Avro value), in Rust; and the
//! stream worker's raw Avro -> OCSF Avro transform (`streams`, `cfkafka_native.OcsfTransform`).
//!
//! The encoder is [`encoder::Codec`]; the Python module (feature `python`, built by maturin)
//! exposes it as `cfkafka_native.Codec`. Lines it cannot encode exactly as the Python path
//! would are handed back (None, or the raw line in a chunk) for `connector.lines` to encode.

pub mod encoder;

/// mimalloc: the stream transform allocates hundreds of small strings per event, and
/// glibc's malloc was half of its profile.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
pub mod streams;

#[cfg(feature = "python")]
mod python {
    use std::cell::RefCell;
    use std::panic::AssertUnwindSafe;

    use pyo3::exceptions::PyValueError;
    use pyo3::prelude::*;
    use pyo3::types::{PyBytes, PyList, PyTuple};

    use crate::encoder::{split_lines, Branch, Codec, FieldSpec, Kind, Prim, Scratch};

    thread_local! {
        static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
    }

    /// (prefix, kind, items): kind is an Avro primitive name, "array" (items: a primitive
    /// name) or "map" (of strings).
    type BranchSpec = (Vec<u8>, String, Option<String>);
    /// (name, null bytes or None if required, branches, JSON string prefix or None).
    type FieldTuple = (String, Option<Vec<u8>>, Vec<BranchSpec>, Option<Vec<u8>>);

    fn branch(spec: BranchSpec) -> PyResult<Branch> {
        let (prefix, kind, items) = spec;
        let bad = || PyValueError::new_err(format!("unsupported branch {kind:?} {items:?}"));
        let kind = match (kind.as_str(), items.as_deref()) {
            ("array", Some(items)) => Kind::Array(Prim::parse(items).ok_or_else(bad)?),
            ("map", _) => Kind::Map,
            (name, None) => Kind::Prim(Prim::parse(name).ok_or_else(bad)?),
            _ => return Err(bad()),
        };
        Ok(Branch { prefix, kind })
    }

    /// A flat Avro record schema compiled for NDJSON lines.
    ///
    /// ``Codec(fields, extra, key_field, prefix)``: ``fields`` in schema order without
    /// ``extra``, each ``(name, null_bytes | None, [(prefix, kind, items | None)],
    /// json_prefix | None)``; ``extra`` = ``(position, empty_map_bytes)`` or None.
    #[pyclass(frozen, module = "cfkafka_native", name = "Codec")]
    struct PyCodec {
        inner: Codec,
    }

    impl PyCodec {
        /// Encode into `s`; a panic (a bug) counts as "Python path", never as an exception.
        fn run(&self, line: &[u8], s: &mut Scratch) -> bool {
            let inner = &self.inner;
            std::panic::catch_unwind(AssertUnwindSafe(|| inner.encode_into(line, s).is_ok()))
                .unwrap_or(false)
        }

        fn one<'py>(
            &self,
            py: Python<'py>,
            line: &[u8],
            s: &mut Scratch,
        ) -> Option<Bound<'py, PyTuple>> {
            if !self.run(line, s) {
                return None;
            }
            let key = PyBytes::new(py, &s.key);
            let value = PyBytes::new(py, &s.value);
            PyTuple::new(py, [key, value]).ok()
        }
    }

    #[pymethods]
    impl PyCodec {
        #[new]
        fn new(
            fields: Vec<FieldTuple>,
            extra: Option<(usize, Vec<u8>)>,
            key_field: &str,
            prefix: Vec<u8>,
        ) -> PyResult<Self> {
            let mut specs = Vec::with_capacity(fields.len());
            for (name, null, branches, json) in fields {
                let branches = branches.into_iter().map(branch).collect::<PyResult<_>>()?;
                specs.push(FieldSpec {
                    name,
                    null,
                    branches,
                    json,
                });
            }
            let inner =
                Codec::new(specs, extra, key_field, prefix).map_err(PyValueError::new_err)?;
            Ok(PyCodec { inner })
        }

        /// Number of schema fields (without ``extra``).
        #[getter]
        fn field_count(&self) -> usize {
            self.inner.field_count()
        }

        /// ``(key, value)`` of one line, or None when the Python path must encode it.
        fn encode<'py>(&self, py: Python<'py>, line: &[u8]) -> Option<Bound<'py, PyTuple>> {
            SCRATCH.with(|cell| match cell.try_borrow_mut() {
                Ok(mut s) => self.one(py, line, &mut s),
                Err(_) => self.one(py, line, &mut Scratch::default()),
            })
        }

        /// ``encode`` of every line, in order.
        fn encode_lines<'py>(
            &self,
            py: Python<'py>,
            lines: Vec<Vec<u8>>,
        ) -> PyResult<Bound<'py, PyList>> {
            let out = PyList::empty(py);
            let mut s = Scratch::default();
            for line in &lines {
                match self.one(py, line, &mut s) {
                    Some(t) => out.append(t)?,
                    None => out.append(py.None())?,
                }
            }
            Ok(out)
        }

        /// Split a piece of the decompressed stream into lines and encode them:
        /// ``(keys, values, consumed)``, one entry per line in order. Where the Python path
        /// must handle a line, ``values[i]`` is None and ``keys[i]`` is the raw line.
        /// ``data[consumed:]`` is an unfinished line to prepend to the next piece; with
        /// ``last`` everything is consumed (a non-blank tail is a line). Empty lines are
        /// skipped. (Two lists, not a list of pairs: no tuple per line.)
        #[pyo3(signature = (data, last = false))]
        fn encode_chunk<'py>(
            &self,
            py: Python<'py>,
            data: &[u8],
            last: bool,
        ) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyList>, usize)> {
            let mut spans = Vec::new();
            let consumed = split_lines(data, last, &mut spans);
            let keys = PyList::empty(py);
            let values = PyList::empty(py);
            SCRATCH.with(|cell| -> PyResult<()> {
                let mut owned = Scratch::default();
                let mut borrowed = cell.try_borrow_mut().ok();
                let s = borrowed.as_deref_mut().unwrap_or(&mut owned);
                for &(a, b) in &spans {
                    let line = &data[a..b];
                    if self.run(line, s) {
                        keys.append(PyBytes::new(py, &s.key))?;
                        values.append(PyBytes::new(py, &s.value))?;
                    } else {
                        keys.append(PyBytes::new(py, line))?;
                        values.append(py.None())?;
                    }
                }
                Ok(())
            })?;
            Ok((keys, values, consumed))
        }
    }

    #[pymodule]
    fn cfkafka_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add_class::<PyCodec>()?;
        m.add_class::<crate::streams::transform::OcsfTransform>()?;
        m.add_class::<crate::streams::transform::Prepared>()?;
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        Ok(())
    }
}
