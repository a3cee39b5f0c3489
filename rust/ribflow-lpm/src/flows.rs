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

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple, PyType};

use crate::frags::{Frag, Frags, FRAGS_MAX};
use crate::json::Val;
use crate::records::*;
use crate::shared::GilCell;
use crate::text::{put_field, put_timestamp, write_v4, write_v6};
use crate::{Address, Inner, PrefixTable};

/// One side's route: its set's fragments and the matched prefix.
struct Side {
    frag: Arc<Frag>,
    length: u32,
    network: u128,
}

#[pyclass(module = "ribflow_lpm", frozen)]
pub struct FlowRenderer {
    token: Py<PyAny>,
    cached: Py<PyAny>,
    attrs_type: Py<PyType>,
    no_route: [String; 4],
    tail: Vec<u8>,
    proto_text: Vec<String>,
    epoch: bool,
    usec: bool,
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
    fn route<'py>(
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
fn network(address: Address, length: u32) -> u128 {
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

/// A side's fragments (dst run, src run, as, peer as): its set's, or those of "no route".
fn texts<'a>(no_route: &'a [String; 4], side: &'a Option<Side>) -> PyResult<[&'a str; 4]> {
    match side {
        Some(side) => {
            let p = &side.frag.parts;
            Ok([&p[0], &p[1], &p[2], &p[3]])
        }
        None => Ok([&no_route[0], &no_route[1], &no_route[2], &no_route[3]]),
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

impl FlowRenderer {
    /// Render one record into `out`: `Some((source hit, destination hit))`, or None.
    fn one<'py>(
        &self,
        py: Python<'py>,
        rec: &Record<'_>,
        v4: Option<&Bound<'py, PrefixTable>>,
        v6: Option<&Bound<'py, PrefixTable>>,
        out: &mut Vec<u8>,
    ) -> PyResult<Option<(bool, bool)>> {
        let Some((dst, dst_text)) = address(rec[DST_ADDR]) else {
            return Ok(None);
        };
        let Some((src, src_text)) = address(rec[SRC_ADDR]) else {
            return Ok(None);
        };
        let v4_family = matches!(dst, Address::V4(_));
        if v4_family != matches!(src, Address::V4(_)) {
            return Ok(None); // mixed families: Python's formatting decides
        }
        let Some(Val::Str(exporter)) = rec[EXPORTER] else {
            return Ok(None);
        };
        let (Some(Val::Int(packets)), Some(Val::Int(bytes))) = (rec[PACKETS], rec[BYTES]) else {
            return Ok(None);
        };
        let ints = [IN_IF, OUT_IF, SRC_PORT, DST_PORT, TCP_FLAGS, TOS].map(|k| int_or(rec[k], 0));
        let [Some(in_if), Some(out_if), Some(sport), Some(dport), Some(flags), Some(tos)] = ints
        else {
            return Ok(None);
        };
        let Some(sampling) = int_or(rec[SAMPLING_RATE], 1) else {
            return Ok(None);
        };
        let Some(proto) = int_or(rec[PROTO], 0).filter(|p| (0..256).contains(p)) else {
            return Ok(None);
        };
        let Some(version) = int_or(rec[VERSION], 0) else {
            return Ok(None);
        };
        // nfacctd's tcp_flags: NetFlow v5's only for TCP (NF_tcp_flags_handler), and the low
        // octet of a two-byte tcpControlBits (as ribflow.enrich.pmacct.pmacct_tcp_flags)
        let flags = if version == 5 && proto != 6 {
            0
        } else {
            flags & 0xFF
        };
        let version = match version {
            5 | 5005 => 5,
            9 => 9,
            10 => 10,
            _ => 0,
        };
        let table = if v4_family { v4 } else { v6 };
        let d = match self.route(py, table, dst, Some(rec[BGP_NEXT_HOP])) {
            Ok(side) => side,
            Err(Some(e)) => return Err(e),
            Err(None) => return Ok(None),
        };
        let s = match self.route(py, table, src, None) {
            Ok(side) => side,
            Err(Some(e)) => return Err(e),
            Err(None) => return Ok(None),
        };
        let zero: &[u8] = if v4_family { b"0.0.0.0" } else { b"::" };
        let texts = |side| texts(&self.no_route, side);
        // parts: (dst run, src run, as, peer as)
        let [d_dst, _, _, d_peer] = texts(&d)?;
        let [_, s_src, s_as, s_peer] = texts(&s)?;
        let net = |out: &mut Vec<u8>, side: &Option<Side>| match side {
            Some(side) if v4_family => write_v4(out, side.network as u32),
            Some(side) => write_v6(out, side.network),
            None => out.extend_from_slice(zero),
        };
        out.extend_from_slice(b"{\"event_type\":\"purge\",\"as_src\":");
        out.extend_from_slice(s_as.as_bytes());
        out.push(b',');
        out.extend_from_slice(d_dst.as_bytes());
        out.extend_from_slice(b",\"peer_as_src\":");
        out.extend_from_slice(s_peer.as_bytes());
        out.extend_from_slice(b",\"peer_as_dst\":");
        out.extend_from_slice(d_peer.as_bytes());
        out.extend_from_slice(b",\"peer_ip_src\":\"");
        out.extend_from_slice(exporter.as_bytes());
        out.extend_from_slice(b"\",\"peer_ip_dst\":\"");
        match &d {
            Some(side) if !side.frag.parts[4].is_empty() => {
                out.extend_from_slice(side.frag.parts[4].as_bytes())
            }
            _ => out.extend_from_slice(zero),
        }
        out.extend_from_slice(b"\",");
        out.extend_from_slice(s_src.as_bytes());
        put_field(out, b",\"iface_in\":", in_if);
        put_field(out, b",\"iface_out\":", out_if);
        out.extend_from_slice(b",\"ip_src\":\"");
        out.extend_from_slice(src_text.as_bytes());
        out.extend_from_slice(b"\",\"net_src\":\"");
        net(out, &s);
        out.extend_from_slice(b"\",\"ip_dst\":\"");
        out.extend_from_slice(dst_text.as_bytes());
        out.extend_from_slice(b"\",\"net_dst\":\"");
        net(out, &d);
        put_field(
            out,
            b"\",\"mask_src\":",
            s.as_ref().map_or(0, |x| i64::from(x.length)),
        );
        put_field(
            out,
            b",\"mask_dst\":",
            d.as_ref().map_or(0, |x| i64::from(x.length)),
        );
        put_field(out, b",\"port_src\":", sport);
        put_field(out, b",\"port_dst\":", dport);
        put_field(out, b",\"tcp_flags\":\"", flags);
        out.extend_from_slice(b"\",\"ip_proto\":\"");
        out.extend_from_slice(self.proto_text[proto as usize].as_bytes());
        put_field(out, b"\",\"tos\":", tos);
        put_field(out, b",\"sampling_rate\":", sampling);
        out.extend_from_slice(b",\"timestamp_start\":\"");
        for (k, next) in [
            (START, "\",\"timestamp_end\":\""),
            (END, "\",\"timestamp_arrival\":\""),
            (TIME_RECEIVED, "\",\"timestamp_export\":\""),
            (TIME_EXPORT, "\","),
        ] {
            if put_timestamp(out, rec[k], self.epoch, self.usec).is_none() {
                return Ok(None);
            }
            out.extend_from_slice(next.as_bytes());
        }
        put_field(out, b"\"export_proto_version\":", version);
        put_field(out, b",\"flows\":1,\"packets\":", packets);
        put_field(out, b",\"bytes\":", bytes);
        out.extend_from_slice(&self.tail);
        Ok(Some((s.is_some(), d.is_some())))
    }
}
