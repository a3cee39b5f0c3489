//! Lookup results shared by every table of the process: one `(length, value)` tuple per
//! distinct pair.
//!
//! A lookup returns a new reference to a tuple built once at insert time, instead of building
//! a tuple per call (allocating it cost more than the trie walk). The trie stores a 4-byte id
//! into this table; values are Python objects told apart by identity (the tuple keeps each
//! alive, so an address in the index cannot be reused while it is there). In the enricher the
//! values are attribute sets interned once for the whole process, so all routers' tables share
//! the same few pairs per attribute set.
//!
//! The table is process-wide and used only with the GIL held (every accessor takes a
//! `Python` token; the module is built for the stable ABI of GIL-ful CPython). A `RefCell`
//! turns any re-entrant use (a value's finaliser calling back into a table) into a panic, and
//! Python objects are released only after the borrow ends.

use std::cell::{Ref, RefCell, RefMut};
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use pyo3::prelude::*;
use pyo3::types::PyTuple;
use pyo3::IntoPyObjectExt;

/// Python memory of one shared `(length, value)` tuple (GC header + 2-item tuple).
const TUPLE_BYTES: usize = 56;

pub struct Slot {
    tuple: Py<PyTuple>,
    value: Py<PyAny>,
    key: u64,
    refs: u32,
}

type Index = HashMap<u64, u32, BuildHasherDefault<std::hash::DefaultHasher>>;

pub struct Shared {
    slots: Vec<Option<Slot>>,
    free: Vec<u32>,
    index: Index,
}

/// The key of a pair: the value's address (below 2**56) and the length.
#[inline]
fn key(value: &Bound<'_, PyAny>, length: u32) -> u64 {
    (value.as_ptr() as u64) << 8 | u64::from(length)
}

impl Shared {
    const fn new() -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
            index: HashMap::with_hasher(BuildHasherDefault::new()),
        }
    }

    /// The id of `(length, value)`, one more prefix referring to it.
    pub fn acquire(&mut self, length: u32, value: Bound<'_, PyAny>) -> PyResult<u32> {
        let key = key(&value, length);
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

    /// One prefix less refers to `id`: its value, and the slot when this was the last
    /// reference (for the caller to drop once the table is no longer borrowed).
    pub fn release(&mut self, py: Python<'_>, id: u32) -> (Py<PyAny>, Option<Slot>) {
        let slot = self.slot_mut(id);
        slot.refs -= 1;
        let value = slot.value.clone_ref(py);
        if slot.refs > 0 {
            return (value, None);
        }
        let slot = self.slots[id as usize].take();
        if let Some(s) = &slot {
            self.index.remove(&s.key);
        }
        self.free.push(id);
        (value, slot)
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

    /// Distinct `(length, value)` pairs held.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Bytes of this table, the tuples' Python memory included (not the values).
    pub fn memory(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Option<Slot>>()
            + self.free.capacity() * 4
            + self.index.capacity() * (std::mem::size_of::<(u64, u32)>() + 1)
            + self.len() * TUPLE_BYTES
    }
}

/// A value used only with the GIL held: every accessor takes a `Python` token.
pub struct GilCell<T>(RefCell<T>);

// SAFETY: the cell is only reached through methods that require a `Python` token, i.e. the GIL
// held by the calling thread; the module is built for the stable ABI of GIL-ful CPython (abi3),
// so no two threads can hold it at once. A re-entrant use (Python code run while borrowed) is
// a `RefCell` panic, not undefined behaviour.
unsafe impl<T: Send> Sync for GilCell<T> {}

impl<T> GilCell<T> {
    pub const fn new(value: T) -> Self {
        Self(RefCell::new(value))
    }

    #[inline]
    pub fn borrow<'a>(&'a self, _py: Python<'_>) -> Ref<'a, T> {
        self.0.borrow()
    }

    #[inline]
    pub fn borrow_mut<'a>(&'a self, _py: Python<'_>) -> RefMut<'a, T> {
        self.0.borrow_mut()
    }

    /// Exclusive access through `&mut` (no borrow needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.0.get_mut()
    }
}

static SHARED: GilCell<Shared> = GilCell::new(Shared::new());

/// Read the process-wide results (GIL held).
#[inline]
pub fn with<R>(py: Python<'_>, f: impl FnOnce(&Shared) -> R) -> R {
    f(&SHARED.borrow(py))
}

/// Change the process-wide results (GIL held). Slots `f` returns are dropped after the borrow.
#[inline]
pub fn with_mut<R>(py: Python<'_>, f: impl FnOnce(&mut Shared) -> R) -> R {
    f(&mut SHARED.borrow_mut(py))
}
