//! `DataCodec`: the collector's per-record work for one fixed-length data template (NetFlow v5,
//! v9, IPFIX), compiled: the records of a data set straight to their `flows` JSON.
//!
//! Python (`ribflow.flow.codegen_native`) decides, from the template, which element feeds which
//! record key, exactly as its generated Python decoder does, and hands over a program: one op per
//! record key, in the record's key order, each with the JSON text that precedes its value
//! (`{"exporter":`, `,"version":9`...) and the offsets/lengths of the elements it reads. Here
//! each record of the data set runs that program and is written as orjson writes the Python
//! record (no spaces, integers in decimal, `null`, addresses as `inet_ntop` writes them); records
//! are joined with `,`. A value orjson could not write (an integer beyond 64 bits) or a sampling
//! table entry that is not an integer gives `None`: the caller then decodes the set in Python,
//! which does whatever it always did.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::collect_ops::*;

/// One compiled data template: records of `size` bytes to `flows` JSON.
#[pyclass(module = "ribflow_lpm", frozen)]
pub struct DataCodec {
    size: usize,
    ops: Vec<Op>,
}

fn index(v: i64, size: usize, len: usize, what: &str) -> PyResult<usize> {
    if v < 0 {
        return Ok(usize::MAX);
    }
    let off = usize::try_from(v).unwrap_or(usize::MAX);
    if off.checked_add(len).map_or(true, |end| end > size) {
        return Err(PyValueError::new_err(format!(
            "{what}: offset {v} + {len} > record size {size}"
        )));
    }
    Ok(off)
}

fn opt_int(ob: &Bound<'_, PyAny>) -> PyResult<Option<i128>> {
    if ob.is_none() {
        Ok(None)
    } else {
        ob.extract::<i128>().map(Some)
    }
}

#[pymethods]
impl DataCodec {
    /// `DataCodec(size, ops)`: ops are `(prefix, kind, args)` (see the kinds above); for UINT
    /// the third argument is the limit (-1: none); an offset of -1 (MASK) is an absent element.
    #[new]
    fn new(size: usize, ops: Vec<(Vec<u8>, u8, Vec<i64>)>) -> PyResult<Self> {
        if size == 0 {
            return Err(PyValueError::new_err("record size 0"));
        }
        let mut out = Vec::with_capacity(ops.len());
        for (prefix, kind, args) in ops {
            let arg = |i: usize| args.get(i).copied().unwrap_or(0);
            let len = |i: usize| usize::try_from(arg(i)).unwrap_or(0);
            let (a, b, c) = (arg(0), arg(1), arg(2));
            let (len_b, len_d) = (len(1), len(3));
            let needs_int = |len: usize| -> PyResult<()> {
                if (1..=8).contains(&len) {
                    Ok(())
                } else {
                    Err(PyValueError::new_err(format!("integer length {len}")))
                }
            };
            let mut op = Op {
                prefix,
                kind,
                a: 0,
                b: 0,
                c: 0,
                d: 0,
                e: 0,
                limit: None,
                labels: Vec::new(),
            };
            match kind {
                CONST | EXPORTER | DOMAIN | RECV | TEX | RATE => {}
                UINT => {
                    needs_int(len_b)?;
                    op.a = index(a, size, len_b, "uint")?;
                    op.b = len_b;
                    op.limit = u64::try_from(c).ok();
                }
                ADDR4 => op.a = index(a, size, 4, "ipv4")?,
                ADDR6 => op.a = index(a, size, 16, "ipv6")?,
                ADDR46 => {
                    op.a = index(a, size, 4, "ipv4")?;
                    op.b = index(b, size, 16, "ipv6")?;
                }
                MASK => {
                    op.a = index(a, size, 1, "mask")?;
                    op.b = index(b, size, 1, "mask")?;
                }
                DIRECTION => op.a = index(a, size, 1, "direction")?,
                TIME_NTP => op.a = index(a, size, 8, "ntp")?,
                MAC => op.a = index(a, size, 6, "mac")?,
                RD => op.a = index(a, size, 8, "rd")?,
                TIME_RAW | TIME_SEC | TIME_V9REL | TIME_SYSINIT | TIME_DELTA | SAMP_INTERVAL
                | SAMP_SAMPLER | PM16 => {
                    needs_int(len_b)?;
                    op.a = index(a, size, len_b, "int")?;
                    op.b = len_b;
                }
                TIME_INIT | SAMP_PACKET | SAMP_POPULATION => {
                    needs_int(len_b)?;
                    needs_int(len_d)?;
                    op.a = index(a, size, len_b, "int")?;
                    op.b = len_b;
                    op.c = index(c, size, len_d, "int")?;
                    op.d = len_d;
                }
                VLAN_PM => {
                    op.a = index(a, size, 1, "direction")?;
                    for (o, l) in [(1usize, 2usize), (3, 4)] {
                        if len(l) != 0 {
                            needs_int(len(l))?;
                            index(arg(o), size, len(l), "vlan")?;
                        }
                    }
                    (op.b, op.c, op.d, op.e) = (len(1), len(2), len(3), len(4));
                }
                MPLS_STACK | MPLS_TOP | MPLS_BOTTOM | MPLS_DEPTH => {
                    if args.len() % 2 != 0 || args.len() > 20 {
                        return Err(PyValueError::new_err("mpls: (position, offset) pairs"));
                    }
                    for pair in args.chunks_exact(2) {
                        let k = usize::try_from(pair[0]).unwrap_or(usize::MAX);
                        if k > 9 || op.labels.last().is_some_and(|&(last, _)| last >= k) {
                            return Err(PyValueError::new_err("mpls: positions 0..9, ascending"));
                        }
                        op.labels.push((k, index(pair[1], size, 3, "mpls")?));
                    }
                }
                SRV6 => {
                    op.a = index(a, size, len_b, "srv6")?;
                    op.b = len_b;
                }
                _ => return Err(PyValueError::new_err(format!("unknown op kind {kind}"))),
            }
            if op.a == usize::MAX && kind != MASK {
                return Err(PyValueError::new_err("offset -1"));
            }
            out.push(op);
        }
        Ok(DataCodec { size, ops: out })
    }

    /// Record length in bytes.
    #[getter]
    fn size(&self) -> usize {
        self.size
    }

    /// `(json, count)` of the whole records in `buf` (records joined by `,`, no brackets), or
    /// None when a value is one only Python may write. Bytes after the last whole record are
    /// ignored (padding).
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (buf, exporter, domain, recv, tex, anchor, uptime, sysinit, rates, rate))]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        buf: &[u8],
        exporter: &[u8],
        domain: &Bound<'py, PyAny>,
        recv: &Bound<'py, PyAny>,
        tex: &Bound<'py, PyAny>,
        anchor: &Bound<'py, PyAny>,
        uptime: &Bound<'py, PyAny>,
        sysinit: &Bound<'py, PyAny>,
        rates: &Bound<'py, PyDict>,
        rate: &Bound<'py, PyAny>,
    ) -> PyResult<Option<(Bound<'py, PyBytes>, usize)>> {
        let ints = (|| -> PyResult<_> {
            Ok((
                opt_int(domain)?,
                recv.extract::<i128>()?,
                opt_int(tex)?,
                anchor.extract::<i128>()?,
                uptime.extract::<i128>()?,
                opt_int(sysinit)?,
                rate.extract::<i128>()?,
            ))
        })();
        let Ok((domain, recv, tex, anchor, uptime, sysinit, rate)) = ints else {
            return Ok(None);
        };
        let cx = Ctx {
            exporter,
            domain,
            recv,
            tex,
            anchor,
            uptime,
            sysinit,
            rates,
            rate,
        };
        let count = buf.len() / self.size;
        let mut out = Vec::with_capacity(count * 480);
        for (i, rec) in buf.chunks_exact(self.size).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            if record(&self.ops, rec, &cx, &mut out)?.is_none() {
                return Ok(None);
            }
        }
        Ok(Some((PyBytes::new(py, &out), count)))
    }
}
