//! `ribflow_lpm`: a compiled drop-in for `ribflow.rib.lpm.PrefixTable`.
//!
//! `PrefixTable(bits)` (32 or 128) offers the same methods with the same results: `insert`,
//! `remove`, `get`, `clear`, `lookup` (-> `(length, value)` or `None`), the batch lookups
//! `lookup_many` (a sequence of ints) and `lookup_packed` (bytes of big-endian addresses),
//! `lengths`, `items`, `sorted_items`, `len()` and the `bits` attribute. The tables of one
//! family share one prefix index for the whole process (view.rs): a table keeps only its own
//! results per prefix, so routers announcing the same prefixes pay for the trie once.
//! `nbytes()` is a table's own memory, `node_count()` the nodes of the shared trie; the
//! module's `index_nbytes()` and `index_count()` describe the shared indexes, `shared_nbytes()`
//! and `shared_count()` the result tuples all tables share. Values are arbitrary Python objects,
//! held by reference. The table does not take part in Python's cycle collector: its values
//! (route attributes) never refer back to it, and traversing a million entries on every full
//! collection would cost more than it could ever free.
//!
//! `FlowRenderer` (flows.rs) enriches a whole `flows` message in one call: JSON parse, source
//! and destination lookups in the router's two tables, the ADD-PATH choice by BGP next hop, the
//! pmacct records; a message it cannot render byte-identically is left to Python (`None`).
//!
//! `DataCodec` (collect.rs) writes the records of one collector data set straight to their
//! `flows` JSON.
//!
//! This file is the module's surface only: the classes live in table.rs (`PrefixTable`),
//! flows.rs (`FlowRenderer`) and collect.rs (`DataCodec`).

mod collect;
mod collect_ops;
mod collect_text;
mod convert;
mod core;
mod flows;
mod flows_record;
mod frags;
mod json;
mod node;
mod records;
mod shared;
mod table;
mod text;
mod view;

use pyo3::prelude::*;

use crate::shared::Shared;

/// Bytes of the result tuples shared by every table of the process (tuples included).
#[pyfunction]
fn shared_nbytes(py: Python<'_>) -> usize {
    shared::with(py, Shared::memory)
}

/// Number of distinct `(length, value)` results shared by every table of the process.
#[pyfunction]
fn shared_count(py: Python<'_>) -> usize {
    shared::with(py, Shared::len)
}

/// Bytes of the prefix indexes (IPv4 and IPv6) every table of the process shares.
#[pyfunction]
fn index_nbytes(_py: Python<'_>) -> usize {
    view::with_index::<u32, _>(|i| i.map_or(0, |i| i.memory()))
        + view::with_index::<u128, _>(|i| i.map_or(0, |i| i.memory()))
}

/// Distinct prefixes (IPv4 and IPv6) held by any table of the process.
#[pyfunction]
fn index_count(_py: Python<'_>) -> usize {
    view::with_index::<u32, _>(|i| i.map_or(0, |i| i.len()))
        + view::with_index::<u128, _>(|i| i.map_or(0, |i| i.len()))
}

#[pymodule]
fn ribflow_lpm(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<table::PrefixTable>()?;
    m.add_class::<flows::FlowRenderer>()?;
    m.add_class::<collect::DataCodec>()?;
    m.add_function(wrap_pyfunction!(shared_nbytes, m)?)?;
    m.add_function(wrap_pyfunction!(shared_count, m)?)?;
    m.add_function(wrap_pyfunction!(index_nbytes, m)?)?;
    m.add_function(wrap_pyfunction!(index_count, m)?)?;
    Ok(())
}
