//! Lookup results shared by every table of the process: one `(length, value)` tuple per
//! distinct pair.
//!
//! A lookup returns a new reference to a tuple built once at insert time, instead of building
//! a tuple per call (allocating it cost more than the trie walk). The trie stores a pointer to
//! the tuple, owned here with a count of the prefixes referring to it; values are Python
//! objects told apart by identity (the tuple keeps each alive, so an address in the index
//! cannot be reused while it is there). In the enricher the
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
use std::ptr::NonNull;

use pyo3::prelude::*;
use pyo3::types::PyTuple;
use pyo3::IntoPyObjectExt;

/// Python memory of one shared `(length, value)` tuple (GC header + 2-item tuple).
const TUPLE_BYTES: usize = 56;

/// What a trie holds per prefix: a borrowed pointer to its shared `(length, value)` tuple,
/// owned by [`Shared`] for as long as some prefix refers to it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TupleRef(NonNull<pyo3::ffi::PyObject>);

// SAFETY: dereferenced only with the GIL held (every accessor takes a `Python` token), and only
// while `Shared` owns the tuple (a prefix referring to it holds one of its counted references).
unsafe impl Send for TupleRef {}

impl TupleRef {
    /// A new reference to the `(length, value)` tuple.
    #[inline]
    pub fn tuple<'py>(self, py: Python<'py>) -> Bound<'py, PyTuple> {
        // SAFETY: a live tuple owned by `Shared` (see the type's invariant), GIL held.
        unsafe { Bound::from_borrowed_ptr(py, self.0.as_ptr()).cast_into_unchecked::<PyTuple>() }
    }

    /// A new reference to the value.
    pub fn value(self, py: Python<'_>) -> Py<PyAny> {
        self.tuple(py).get_item(1).expect("a 2-tuple").unbind()
    }
}

pub struct Slot {
    tuple: Py<PyTuple>,
    refs: u32,
}

type Index = HashMap<u64, Slot, BuildHasherDefault<std::hash::DefaultHasher>>;

pub struct Shared {
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
            index: HashMap::with_hasher(BuildHasherDefault::new()),
        }
    }

    /// The tuple of `(length, value)`, one more prefix referring to it.
    pub fn acquire(&mut self, length: u32, value: Bound<'_, PyAny>) -> PyResult<TupleRef> {
        let key = key(&value, length);
        if let Some(slot) = self.index.get_mut(&key) {
            slot.refs += 1;
            return Ok(Self::reference(&slot.tuple));
        }
        let py = value.py();
        let tuple = PyTuple::new(py, [length.into_bound_py_any(py)?, value])?.unbind();
        let tuple_ref = Self::reference(&tuple);
        self.index.insert(key, Slot { tuple, refs: 1 });
        Ok(tuple_ref)
    }

    fn reference(tuple: &Py<PyTuple>) -> TupleRef {
        TupleRef(NonNull::new(tuple.as_ptr()).expect("a live tuple"))
    }

    /// One prefix less refers to `tuple`: its value, and the slot when this was the last
    /// reference (for the caller to drop once the table is no longer borrowed).
    pub fn release(&mut self, py: Python<'_>, tuple: TupleRef) -> (Py<PyAny>, Option<Slot>) {
        let bound = tuple.tuple(py);
        let value = bound.get_item(1).expect("a 2-tuple");
        let length: u32 = bound
            .get_item(0)
            .and_then(|l| l.extract())
            .expect("an int length");
        let key = key(&value, length);
        let slot = self.index.get_mut(&key).expect("a live result");
        slot.refs -= 1;
        let freed = if slot.refs == 0 {
            self.index.remove(&key)
        } else {
            None
        };
        (value.unbind(), freed)
    }

    /// Distinct `(length, value)` pairs held.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Bytes of this table, the tuples' Python memory included (not the values).
    pub fn memory(&self) -> usize {
        self.index.capacity() * (std::mem::size_of::<(u64, Slot)>() + 1) + self.len() * TUPLE_BYTES
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

    /// Borrow in code that runs only with the GIL held but has no `Python` token at hand (a
    /// lookup called from a method that holds one).
    #[inline]
    pub fn borrow_held(&self) -> Ref<'_, T> {
        self.0.borrow()
    }

    /// Mutable [`GilCell::borrow_held`].
    #[inline]
    pub fn borrow_mut_held(&self) -> RefMut<'_, T> {
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
