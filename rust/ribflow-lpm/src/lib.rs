//! `ribflow_lpm`: a compiled drop-in for `ribflow.rib.lpm.PrefixTable`.
//!
//! `PrefixTable(bits)` (32 or 128) offers the same methods with the same results: `insert`,
//! `remove`, `get`, `clear`, `lookup` (-> `(length, value)` or `None`), `lengths`, `items`,
//! `sorted_items`, `len()` and the `bits` attribute. Values are arbitrary Python objects, held
//! by reference. The table does not take part in Python's cycle collector: its values (route
//! attributes) never refer back to it, and traversing a million entries on every full
//! collection would cost more than it could ever free.

mod core;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyInt, PyList, PyTuple};
use pyo3::IntoPyObjectExt;

use crate::core::{Addr, Core};

type Value = Py<PyAny>;

enum Inner {
    V4(Core<u32, Value>),
    V6(Core<u128, Value>),
}

/// Exact and longest-prefix lookups for prefixes of one family (`bits` = 32 or 128).
#[pyclass(module = "ribflow_lpm")]
struct PrefixTable {
    inner: Inner,
    /// Address width of the family: 32 or 128.
    #[pyo3(get)]
    bits: u32,
}

/// A network (or address) argument as the family's integer type; out of range is a ValueError.
fn network_arg<'py, K: Addr + for<'a> FromPyObject<'a, 'py>>(
    ob: &Bound<'py, PyAny>,
) -> PyResult<K> {
    match ob.extract::<K>() {
        Ok(v) => Ok(v),
        Err(_) if ob.is_instance_of::<PyInt>() => Err(PyValueError::new_err(
            "network out of range for the address family",
        )),
        Err(_) => Err(PyTypeError::new_err("network must be an int")),
    }
}

fn length_arg(length: u32, bits: u32) -> PyResult<u32> {
    if length > bits {
        return Err(PyValueError::new_err(format!(
            "prefix length {length} > {bits}"
        )));
    }
    Ok(length)
}

/// Address for a lookup: an int outside the family's range matches nothing (`Ok(None)`).
fn address_arg<'py, K: Addr + for<'a> FromPyObject<'a, 'py>>(
    ob: &Bound<'py, PyAny>,
) -> PyResult<Option<K>> {
    match ob.extract::<K>() {
        Ok(v) => Ok(Some(v)),
        Err(_) if ob.is_instance_of::<PyInt>() => Ok(None),
        Err(_) => Err(PyTypeError::new_err("address must be an int")),
    }
}

fn entries_list<'py, K>(
    py: Python<'py>,
    entries: Vec<(K, u32, &Value)>,
) -> PyResult<Bound<'py, PyList>>
where
    K: IntoPyObject<'py>,
{
    let mut tuples = Vec::with_capacity(entries.len());
    for (network, length, value) in entries {
        let network = network.into_bound_py_any(py)?;
        let length = length.into_bound_py_any(py)?;
        tuples.push(PyTuple::new(py, [network, length, value.bind(py).clone()])?);
    }
    PyList::new(py, tuples)
}

#[pymethods]
impl PrefixTable {
    #[new]
    fn new(bits: u32) -> PyResult<Self> {
        let inner = match bits {
            32 => Inner::V4(Core::default()),
            128 => Inner::V6(Core::default()),
            _ => return Err(PyValueError::new_err("bits must be 32 or 128")),
        };
        Ok(Self { inner, bits })
    }

    fn __len__(&self) -> usize {
        match &self.inner {
            Inner::V4(t) => t.len(),
            Inner::V6(t) => t.len(),
        }
    }

    /// Set the value of `network/length`; returns the value it replaces, if any.
    fn insert(
        &mut self,
        network: &Bound<'_, PyAny>,
        length: u32,
        value: Bound<'_, PyAny>,
    ) -> PyResult<Option<Value>> {
        if value.is_none() {
            return Err(PyValueError::new_err(
                "None cannot be stored (it means 'absent')",
            ));
        }
        let length = length_arg(length, self.bits)?;
        Ok(match &mut self.inner {
            Inner::V4(t) => t.insert(network_arg(network)?, length, value.unbind()),
            Inner::V6(t) => t.insert(network_arg(network)?, length, value.unbind()),
        })
    }

    /// Delete `network/length`; returns the value it had, or None if absent.
    fn remove(&mut self, network: &Bound<'_, PyAny>, length: u32) -> PyResult<Option<Value>> {
        let length = length_arg(length, self.bits)?;
        Ok(match &mut self.inner {
            Inner::V4(t) => t.remove(network_arg(network)?, length),
            Inner::V6(t) => t.remove(network_arg(network)?, length),
        })
    }

    /// Remove every entry.
    fn clear(&mut self) {
        match &mut self.inner {
            Inner::V4(t) => t.clear(),
            Inner::V6(t) => t.clear(),
        }
    }

    /// Value of exactly `network/length`, or None.
    fn get(
        &self,
        py: Python<'_>,
        network: &Bound<'_, PyAny>,
        length: u32,
    ) -> PyResult<Option<Value>> {
        let length = length_arg(length, self.bits)?;
        Ok(match &self.inner {
            Inner::V4(t) => t
                .get(network_arg(network)?, length)
                .map(|v| v.clone_ref(py)),
            Inner::V6(t) => t
                .get(network_arg(network)?, length)
                .map(|v| v.clone_ref(py)),
        })
    }

    /// `(length, value)` of the longest prefix containing `address`, or None.
    fn lookup(
        &mut self,
        py: Python<'_>,
        address: &Bound<'_, PyAny>,
    ) -> PyResult<Option<(u32, Value)>> {
        let clone = |v: &Value| v.clone_ref(py);
        Ok(match &mut self.inner {
            Inner::V4(t) => address_arg(address)?.and_then(|a| t.lookup(a, clone)),
            Inner::V6(t) => address_arg(address)?.and_then(|a| t.lookup(a, clone)),
        })
    }

    /// Prefix lengths present, longest first.
    fn lengths(&self) -> Vec<u32> {
        match &self.inner {
            Inner::V4(t) => t.lengths(),
            Inner::V6(t) => t.lengths(),
        }
    }

    /// Every `(network, length, value)`, grouped by length (no particular order inside).
    fn items<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        match &self.inner {
            Inner::V4(t) => entries_list(py, t.items().collect()),
            Inner::V6(t) => entries_list(py, t.items().collect()),
        }
    }

    /// Every entry ordered by network then length (the order pmacct's dumps walk).
    fn sorted_items<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        match &self.inner {
            Inner::V4(t) => {
                let mut entries: Vec<_> = t.items().collect();
                entries.sort_unstable_by_key(|e| (e.0, e.1));
                entries_list(py, entries)
            }
            Inner::V6(t) => {
                let mut entries: Vec<_> = t.items().collect();
                entries.sort_unstable_by_key(|e| (e.0, e.1));
                entries_list(py, entries)
            }
        }
    }
}

#[pymodule]
fn ribflow_lpm(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PrefixTable>()?;
    Ok(())
}
