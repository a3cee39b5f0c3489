//! Lookup results shared between prefixes: one `(length, value)` tuple per distinct pair.
//!
//! A lookup returns a new reference to a tuple built once at insert time, instead of building
//! a tuple per call (allocating it cost more than the trie walk). The trie stores a 4-byte id
//! into this table; values are Python objects told apart by identity (the tuple keeps each
//! alive, so an address in the index cannot be reused while it is there). In a RIB the values
//! are interned attribute sets, so the pairs are a few per attribute set, not one per prefix.

use std::collections::HashMap;

use pyo3::prelude::*;
use pyo3::types::PyTuple;
use pyo3::IntoPyObjectExt;

struct Slot {
    tuple: Py<PyTuple>,
    value: Py<PyAny>,
    key: (usize, u32),
    refs: u32,
}

#[derive(Default)]
pub struct Shared {
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    index: HashMap<(usize, u32), u32>,
}

impl Shared {
    /// The id of `(length, value)`, one more prefix referring to it.
    pub fn acquire(&mut self, length: u32, value: Bound<'_, PyAny>) -> PyResult<u32> {
        let key = (value.as_ptr() as usize, length);
        if let Some(&id) = self.index.get(&key) {
            self.slot_mut(id).refs += 1;
            return Ok(id);
        }
        let py = value.py();
        let tuple = PyTuple::new(py, [length.into_bound_py_any(py)?, value.clone()])?.unbind();
        let slot = Slot {
            tuple,
            value: value.unbind(),
            key,
            refs: 1,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = Some(slot);
                id
            }
            None => {
                self.slots.push(Some(slot));
                u32::try_from(self.slots.len() - 1).expect("fewer than 2**32 distinct results")
            }
        };
        self.index.insert(key, id);
        Ok(id)
    }

    /// One prefix less refers to `id`; returns its value.
    pub fn release(&mut self, py: Python<'_>, id: u32) -> Py<PyAny> {
        let slot = self.slot_mut(id);
        slot.refs -= 1;
        let value = slot.value.clone_ref(py);
        if slot.refs == 0 {
            let key = slot.key;
            self.slots[id as usize] = None;
            self.index.remove(&key);
            self.free.push(id);
        }
        value
    }

    #[inline]
    fn slot(&self, id: u32) -> &Slot {
        self.slots[id as usize].as_ref().expect("live result id")
    }

    fn slot_mut(&mut self, id: u32) -> &mut Slot {
        self.slots[id as usize].as_mut().expect("live result id")
    }

    /// The `(length, value)` tuple of `id`.
    #[inline]
    pub fn tuple(&self, id: u32) -> &Py<PyTuple> {
        &self.slot(id).tuple
    }

    /// The value of `id`.
    #[inline]
    pub fn value(&self, id: u32) -> &Py<PyAny> {
        &self.slot(id).value
    }

    /// Forget everything (the Python references are released).
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// Distinct `(length, value)` pairs held.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Bytes of this table's own structures (the tuples' Python memory not included).
    pub fn memory(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Option<Slot>>()
            + self.free.capacity() * 4
            + self.index.capacity() * (std::mem::size_of::<((usize, u32), u32)>() + 1)
    }
}
