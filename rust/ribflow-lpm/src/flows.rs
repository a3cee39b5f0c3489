//! `FlowRenderer`: one `flows` message in, its pmacct records out, in one call.
//!
//! The compiled twin of `ribflow.enrich.flows.enrich_records` + `FlowFormatter.flow_json` for
//! the common record shape: it parses the message's JSON, looks source and destination up in
//! the router's two `PrefixTable`s, chooses the ADD-PATH path by the record's BGP next hop,
//! and renders the records with the attribute sets' pre-rendered fragments (the formatter's
//! per-set cache, rendered once per set by Python). Anything it is not sure to render exactly
//! as Python does (a key outside the base record, escapes, floats, bad addresses, an ADD-PATH
//! choice needing the shorter-prefix walk, ...) makes it return `None` for the whole message,
//! and the caller renders that message in Python: output is byte-identical either way.
//!
//! This file holds the class and the route of each side (lookup, ADD-PATH choice, the set's
//! fragments); flows_record.rs writes one record.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple, PyType};

use crate::frags::{Frag, Frags, FRAGS_MAX};
use crate::json::Val;
use crate::records::message;
use crate::shared::GilCell;
use crate::table::{Address, Inner, PrefixTable};

/// One side's route: its set's fragments and the matched prefix.
pub(crate) struct Side {
    pub(crate) frag: Arc<Frag>,
    pub(crate) length: u32,
    pub(crate) network: u128,
}

#[pyclass(module = "ribflow_lpm", frozen)]
pub struct FlowRenderer {
    token: Py<PyAny>,
    cached: Py<PyAny>,
    attrs_type: Py<PyType>,
    pub(crate) no_route: [String; 4],
    pub(crate) tail: Vec<u8>,
    pub(crate) proto_text: Vec<String>,
    pub(crate) epoch: bool,
    pub(crate) usec: bool,
    frags: GilCell<Frags>,
}

impl FlowRenderer {
    /// The side's attribute set's fragments, from the formatter's cache on the set.
    fn side(&self, attrs: &Bound<'_, PyAny>, length: u32, network: u128) -> PyResult<Side> {
        let py = attrs.py();
        let key = attrs.as_ptr() as usize;
        if let Some(frag) = self.frags.borrow(py).get(&key) {
            return Ok(Side {
                frag: frag.clone(),
                length,
                network,
            });
        }
        let mut cached = attrs.getattr(pyo3::intern!(py, "fmt_cache"))?;
        let fresh = match cached.cast::<PyTuple>() {
            Ok(t) => t.len() == 3 && t.get_item(0)?.is(self.token.bind(py)),
            Err(_) => false,
        };
        if !fresh {
            cached = self.cached.bind(py).call1((attrs,))?;
        }
        let t = cached
            .cast::<PyTuple>()?
            .get_item(2)?
            .cast_into::<PyTuple>()?;
        let item = |i| -> PyResult<String> {
            Ok(t.get_item(i)?.cast_into::<PyString>()?.to_str()?.to_owned())
        };
        let next_hop = attrs.getattr(pyo3::intern!(py, "next_hop"))?;
        let next_hop = next_hop.cast::<PyString>()?.to_str()?.to_owned();
        let parts = [item(0)?, item(1)?, item(2)?, item(3)?, next_hop];
        let frag = Arc::new(Frag {
            attrs: attrs.clone().unbind(),
            parts,
        });
        let dropped = {
            let mut frags = self.frags.borrow_mut(py);
            let dropped = if frags.len() >= FRAGS_MAX {
                std::mem::take(&mut *frags)
            } else {
                Frags::default()
            };
            frags.insert(key, frag.clone());
            dropped
        };
        drop(dropped); // the sets' references go after the borrow
        Ok(Side {
            frag,
            length,
            network,
        })
    }

    /// The route of `address` in `table` for one side: `Ok(None)` unrouted, `Err(None)` not
    /// renderable here (leave the message to Python).
    pub(crate) fn route<'py>(
        &self,
        py: Python<'py>,
        table: Option<&Bound<'py, PrefixTable>>,
        address: Address,
        next_hop: Option<Option<Val<'_>>>,
    ) -> Result<Option<Side>, Option<PyErr>> {
        let Some(table) = table else {
            return Ok(None);
        };
        let hit = {
            let inner = table.get().inner.borrow(py);
            match (&*inner, address) {
                (Inner::V4(t), Address::V4(a)) => t.lookup(a).map(|(l, &id)| (l, id)),
                (Inner::V6(t), Address::V6(a)) => t.lookup(a).map(|(l, &id)| (l, id)),
                _ => return Err(None),
            }
            .map(|(l, id)| (l, id.tuple(py)))
        };
        let Some((length, tuple)) = hit else {
            return Ok(None);
        };
        let value = tuple.get_item(1).map_err(Some)?;
        let known = self
            .frags
            .borrow(py)
            .get(&(value.as_ptr() as usize))
            .cloned();
        if let Some(frag) = known {
            return Ok(Some(Side {
                frag,
                length,
                network: network(address, length),
            })); // a set seen before (an ADD-PATH tuple is never a key)
        }
        let attrs = if value.get_type().is(self.attrs_type.bind(py)) {
            value
        } else {
            // ADD-PATH paths ((path_id, attrs), ...), best first
            let paths = value.cast_into::<PyTuple>().map_err(|e| Some(e.into()))?;
            let first = || -> PyResult<Bound<'py, PyAny>> { paths.get_item(0)?.get_item(1) };
            match next_hop {
                None => first().map_err(Some)?, // the source side: the best path
                Some(None | Some(Val::Null)) => first().map_err(Some)?,
                Some(Some(Val::Str(nh))) if nh.is_empty() || nh == "0.0.0.0" || nh == "::" => {
                    first().map_err(Some)?
                }
                Some(Some(Val::Str(nh))) => {
                    let mut found = None;
                    for path in paths.iter() {
                        let attrs = path.get_item(1).map_err(Some)?;
                        let hop = attrs.getattr(pyo3::intern!(py, "next_hop")).map_err(Some)?;
                        if hop
                            .cast::<PyString>()
                            .is_ok_and(|h| h.to_str().is_ok_and(|h| h == nh))
                        {
                            found = Some(attrs);
                            break;
                        }
                    }
                    found.ok_or(None)? // canonical spellings, shorter prefixes: Python
                }
                Some(Some(_)) => return Err(None),
            }
        };
        let network = network(address, length);
        self.side(&attrs, length, network).map(Some).map_err(Some)
    }
}

/// The network of `address`'s prefix of `length` bits.
pub(crate) fn network(address: Address, length: u32) -> u128 {
    match address {
        Address::V4(a) => {
            if length == 0 {
                0
            } else {
                u128::from(a >> (32 - length) << (32 - length))
            }
        }
        Address::V6(a) => {
            if length == 0 {
                0
            } else {
                a >> (128 - length) << (128 - length)
            }
        }
    }
}

#[pymethods]
impl FlowRenderer {
    /// `token`/`cached`: the formatter's cache token and its `_cached(attrs)`; `attrs_type`:
    /// RouteAttrs; `no_route`: the 4 fragments of an unrouted side; `tail`: the bytes that
    /// close a record; `proto_text`: the 256 protocol names.
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        token: Py<PyAny>,
        cached: Py<PyAny>,
        attrs_type: Py<PyType>,
        no_route: (String, String, String, String),
        tail: Vec<u8>,
        proto_text: Vec<String>,
        epoch: bool,
        usec: bool,
    ) -> PyResult<Self> {
        if proto_text.len() != 256 {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "256 protocol names",
            ));
        }
        Ok(Self {
            token,
            cached,
            attrs_type,
            no_route: [no_route.0, no_route.1, no_route.2, no_route.3],
            tail,
            proto_text,
            epoch,
            usec,
            frags: GilCell::new(Frags::default()),
        })
    }

    /// `(outputs, source hits, destination hits)` of one `flows` message looked up in the
    /// router's tables (`None`: no routes, every record unrouted), or None when the message
    /// is not one this renders (then Python does, with the same result).
    fn render<'py>(
        &self,
        py: Python<'py>,
        raw: &[u8],
        v4: Option<Bound<'py, PrefixTable>>,
        v6: Option<Bound<'py, PrefixTable>>,
    ) -> PyResult<Option<(Bound<'py, PyList>, u64, u64)>> {
        let Ok(text) = std::str::from_utf8(raw) else {
            return Ok(None);
        };
        let Some(records) = message(text) else {
            return Ok(None);
        };
        let mut outputs = Vec::with_capacity(records.len());
        let (mut src_hits, mut dst_hits) = (0u64, 0u64);
        let mut buf: Vec<u8> = Vec::with_capacity(1024);
        for rec in &records {
            buf.clear();
            match self.one(py, rec, v4.as_ref(), v6.as_ref(), &mut buf) {
                Ok(Some((s, d))) => {
                    src_hits += u64::from(s);
                    dst_hits += u64::from(d);
                    outputs.push(PyBytes::new(py, &buf));
                }
                Ok(None) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        Ok(Some((PyList::new(py, outputs)?, src_hits, dst_hits)))
    }
}
