//! `PrefixTable`: the Python class over the [`View`] of its family (lib.rs describes the module).
//!
//! The class is `frozen` (no per-call borrow flag, an atomic operation in PyO3): its state sits
//! in a [`GilCell`], used with the GIL held, and no Python code runs while it is borrowed.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};
use pyo3::IntoPyObjectExt;

use crate::convert::FromInt;
use crate::shared::{self, GilCell, TupleRef};
use crate::view::{self, View};

type Value = Py<PyAny>;
/// What the trie holds per prefix: its shared result tuple.
type Id = TupleRef;
/// A table's entries as `(network, length, id)`.
type Entries<K> = Vec<(K, u32, Id)>;

pub(crate) enum Inner {
    V4(View<u32>),
    V6(View<u128>),
}

/// An address of the table's family.
#[derive(Clone, Copy)]
pub(crate) enum Address {
    V4(u32),
    V6(u128),
}

impl Inner {
    #[inline]
    fn lookup(&self, address: Address) -> Option<Id> {
        match (self, address) {
            (Inner::V4(t), Address::V4(a)) => t.lookup(a).map(|(_, &id)| id),
            (Inner::V6(t), Address::V6(a)) => t.lookup(a).map(|(_, &id)| id),
            _ => None,
        }
    }

    fn len(&self) -> usize {
        match self {
            Inner::V4(t) => t.len(),
            Inner::V6(t) => t.len(),
        }
    }
}

/// Exact and longest-prefix lookups for prefixes of one family (`bits` = 32 or 128).
#[pyclass(module = "ribflow_lpm", frozen)]
pub struct PrefixTable {
    pub(crate) inner: GilCell<Inner>,
    /// Address width of the family: 32 or 128.
    #[pyo3(get)]
    bits: u32,
}

fn length_arg(length: u32, bits: u32) -> PyResult<u32> {
    if length > bits {
        return Err(PyValueError::new_err(format!(
            "prefix length {length} > {bits}"
        )));
    }
    Ok(length)
}

/// `(network, length, value)` tuples of `entries` (ids copied out of the borrowed table).
fn entries_list<'py, K>(py: Python<'py>, entries: Entries<K>) -> PyResult<Bound<'py, PyList>>
where
    K: IntoPyObject<'py>,
{
    let values: Vec<Value> = entries.iter().map(|e| e.2.value(py)).collect();
    let mut tuples = Vec::with_capacity(entries.len());
    for ((network, length, _), value) in entries.into_iter().zip(values) {
        let network = network.into_bound_py_any(py)?;
        let length = length.into_bound_py_any(py)?;
        tuples.push(PyTuple::new(py, [network, length, value.into_bound(py)])?);
    }
    PyList::new(py, tuples)
}

/// The Python result of one lookup: the shared `(length, value)` tuple, or None.
#[inline]
fn found<'py>(py: Python<'py>, hit: Option<Id>) -> Bound<'py, PyAny> {
    match hit {
        Some(tuple) => tuple.tuple(py).into_any(),
        None => py.None().into_bound(py),
    }
}

impl PrefixTable {
    /// `ob` as an address of the family: `Ok(None)` for an int out of its range.
    #[inline]
    fn address(&self, ob: &Bound<'_, PyAny>) -> PyResult<Option<Address>> {
        Ok(if self.bits == 32 {
            u32::from_int(ob)?.map(Address::V4)
        } else {
            u128::from_int(ob)?.map(Address::V6)
        })
    }

    /// `ob` as a network of the family; out of range is a ValueError.
    fn network(&self, ob: &Bound<'_, PyAny>) -> PyResult<Address> {
        self.address(ob)?
            .ok_or_else(|| PyValueError::new_err("network out of range for the address family"))
    }

    /// Empty the trie and give its result ids back (values are released after the borrows).
    fn release_all(&self, py: Python<'_>) {
        let ids = {
            let mut inner = self.inner.borrow_mut(py);
            match &mut *inner {
                Inner::V4(t) => std::mem::take(t).into_values(),
                Inner::V6(t) => std::mem::take(t).into_values(),
            }
        };
        let freed: Vec<_> = shared::with_mut(py, |s| {
            ids.into_iter().map(|id| s.release(py, id)).collect()
        });
        drop(freed);
    }

    /// `(network, length, value)` tuples of the entries `v4`/`v6` list, made after the borrow.
    fn entries<'py>(
        &self,
        py: Python<'py>,
        v4: fn(&View<u32>) -> Entries<u32>,
        v6: fn(&View<u128>) -> Entries<u128>,
    ) -> PyResult<Bound<'py, PyList>> {
        let inner = self.inner.borrow(py);
        match &*inner {
            Inner::V4(t) => {
                let entries = v4(t);
                drop(inner);
                entries_list(py, entries)
            }
            Inner::V6(t) => {
                let entries = v6(t);
                drop(inner);
                entries_list(py, entries)
            }
        }
    }
}

#[pymethods]
impl PrefixTable {
    #[new]
    fn new(bits: u32) -> PyResult<Self> {
        let inner = match bits {
            32 => Inner::V4(View::default()),
            128 => Inner::V6(View::default()),
            _ => return Err(PyValueError::new_err("bits must be 32 or 128")),
        };
        Ok(Self {
            inner: GilCell::new(inner),
            bits,
        })
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        self.inner.borrow(py).len()
    }

    /// Set the value of `network/length`; returns the value it replaces, if any.
    fn insert(
        &self,
        network: &Bound<'_, PyAny>,
        length: u32,
        value: Bound<'_, PyAny>,
    ) -> PyResult<Option<Value>> {
        if value.is_none() {
            return Err(PyValueError::new_err(
                "None cannot be stored (it means 'absent')",
            ));
        }
        let py = value.py();
        let length = length_arg(length, self.bits)?;
        let network = self.network(network)?;
        let id = acquire(length, value)?;
        let old = match (&mut *self.inner.borrow_mut(py), network) {
            (Inner::V4(t), Address::V4(n)) => t.insert(n, length, id),
            (Inner::V6(t), Address::V6(n)) => t.insert(n, length, id),
            _ => unreachable!("the address is of the table's family"),
        };
        Ok(old.map(|id| release(py, id)))
    }

    /// Delete `network/length`; returns the value it had, or None if absent.
    fn remove(&self, network: &Bound<'_, PyAny>, length: u32) -> PyResult<Option<Value>> {
        let py = network.py();
        let length = length_arg(length, self.bits)?;
        let network = self.network(network)?;
        let old = match (&mut *self.inner.borrow_mut(py), network) {
            (Inner::V4(t), Address::V4(n)) => t.remove(n, length),
            (Inner::V6(t), Address::V6(n)) => t.remove(n, length),
            _ => None,
        };
        Ok(old.map(|id| release(py, id)))
    }

    /// Remove every entry.
    fn clear(&self, py: Python<'_>) {
        self.release_all(py);
    }

    /// Value of exactly `network/length`, or None.
    fn get(
        &self,
        py: Python<'_>,
        network: &Bound<'_, PyAny>,
        length: u32,
    ) -> PyResult<Option<Value>> {
        let length = length_arg(length, self.bits)?;
        let network = self.network(network)?;
        let id = match (&*self.inner.borrow(py), network) {
            (Inner::V4(t), Address::V4(n)) => t.get(n, length).copied(),
            (Inner::V6(t), Address::V6(n)) => t.get(n, length).copied(),
            _ => None,
        };
        Ok(id.map(|id| id.value(py)))
    }

    /// `(length, value)` of the longest prefix containing `address`, or None.
    fn lookup<'py>(
        &self,
        py: Python<'py>,
        address: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let address = self.address(address)?;
        let inner = self.inner.borrow(py); // held while the tuple is taken: it stays alive
        Ok(found(py, address.and_then(|a| inner.lookup(a))))
    }

    /// `lookup` of every address of an iterable of ints, as a list.
    fn lookup_many<'py>(
        &self,
        py: Python<'py>,
        addresses: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        // the addresses first: iterating may run Python code, which must not meet a borrow
        let mut wanted = Vec::with_capacity(addresses.len().unwrap_or(0));
        for address in addresses.try_iter()? {
            wanted.push(self.address(&address?)?);
        }
        // the walks first, then the tuples (faster than interleaved), under one borrow
        let inner = self.inner.borrow(py);
        let hits: Vec<Option<Id>> = wanted
            .into_iter()
            .map(|a| a.and_then(|a| inner.lookup(a)))
            .collect();
        let items: Vec<_> = hits.into_iter().map(|h| found(py, h)).collect();
        drop(inner);
        PyList::new(py, items)
    }

    /// `lookup` of addresses packed in bytes (4 or 16 bytes each, big-endian, i.e. network
    /// order as `socket.inet_pton` gives them), as a list.
    fn lookup_packed<'py>(&self, py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyList>> {
        let size = (self.bits / 8) as usize;
        if !data.len().is_multiple_of(size) {
            return Err(PyValueError::new_err(format!(
                "packed addresses: {} bytes is not a multiple of {size}",
                data.len()
            )));
        }
        let inner = self.inner.borrow(py);
        let hits: Vec<Option<Id>> = match &*inner {
            Inner::V4(t) => data
                .chunks_exact(4)
                .map(|c| t.lookup(u32::from_be_slice(c)).map(|(_, &id)| id))
                .collect(),
            Inner::V6(t) => data
                .chunks_exact(16)
                .map(|c| t.lookup(u128::from_be_slice(c)).map(|(_, &id)| id))
                .collect(),
        };
        let items: Vec<_> = hits.into_iter().map(|h| found(py, h)).collect();
        drop(inner);
        PyList::new(py, items)
    }

    /// Prefix lengths present, longest first.
    fn lengths(&self, py: Python<'_>) -> Vec<u32> {
        match &*self.inner.borrow(py) {
            Inner::V4(t) => t.lengths(),
            Inner::V6(t) => t.lengths(),
        }
    }

    /// Every `(network, length, value)`, grouped by length, shortest first.
    fn items<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.entries(py, View::items, View::items)
    }

    /// Every entry ordered by network then length (the order pmacct's dumps walk).
    fn sorted_items<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.entries(py, View::sorted_items, View::sorted_items)
    }

    /// Bytes held by this table's own part (its results by prefix id). The prefix index and
    /// the result tuples are shared by every table of the process: see the module's
    /// `index_nbytes()` and `shared_nbytes()`.
    fn nbytes(&self, py: Python<'_>) -> usize {
        match &*self.inner.borrow(py) {
            Inner::V4(t) => t.memory(),
            Inner::V6(t) => t.memory(),
        }
    }

    /// Number of nodes of the family's trie (shared by every table of the process).
    fn node_count(&self, py: Python<'_>) -> usize {
        let _held = self.inner.borrow(py);
        if self.bits == 32 {
            view::with_index::<u32, _>(|i| i.map_or(1, |i| i.nodes()))
        } else {
            view::with_index::<u128, _>(|i| i.map_or(1, |i| i.nodes()))
        }
    }
}

impl Drop for PrefixTable {
    fn drop(&mut self) {
        if self.inner.get_mut().len() > 0 {
            Python::attach(|py| self.release_all(py));
        }
    }
}

/// One more prefix refers to `(length, value)`: its id in the process-wide results.
fn acquire(length: u32, value: Bound<'_, PyAny>) -> PyResult<Id> {
    let py = value.py();
    shared::with_mut(py, |s| s.acquire(length, value))
}

/// One prefix less refers to `id`: its value (the tuple is dropped after the borrow ends).
fn release(py: Python<'_>, id: Id) -> Value {
    let (value, freed) = shared::with_mut(py, |s| s.release(py, id));
    drop(freed);
    value
}
