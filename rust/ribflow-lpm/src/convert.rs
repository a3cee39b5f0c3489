//! Python ints and packed bytes to the families' address types.

use pyo3::exceptions::{PyOverflowError, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyInt;

/// An integer argument converted to the family's address type.
pub trait FromInt: Sized {
    /// `Ok(None)` when `ob` is an int outside the type's range; `TypeError` when not an int.
    fn from_int(ob: &Bound<'_, PyAny>) -> PyResult<Option<Self>>;
    /// The address from `Self::BYTES` big-endian bytes.
    fn from_be_slice(bytes: &[u8]) -> Self;
}

impl FromInt for u32 {
    #[inline]
    fn from_int(ob: &Bound<'_, PyAny>) -> PyResult<Option<Self>> {
        match ob.extract::<u32>() {
            Ok(v) => Ok(Some(v)),
            Err(_) if ob.is_instance_of::<PyInt>() => Ok(None),
            Err(_) => Err(PyTypeError::new_err("address must be an int")),
        }
    }
    #[inline]
    fn from_be_slice(bytes: &[u8]) -> Self {
        u32::from_be_bytes(bytes.try_into().expect("4 bytes"))
    }
}

impl FromInt for u128 {
    /// PyO3's own u128 conversion is slow under the stable ABI (several Python operations);
    /// this one costs one C call below 2**64 and one shift above.
    #[inline]
    fn from_int(ob: &Bound<'_, PyAny>) -> PyResult<Option<Self>> {
        if !ob.is_instance_of::<PyInt>() {
            return Err(PyTypeError::new_err("address must be an int"));
        }
        match ob.extract::<u64>() {
            Ok(v) => return Ok(Some(u128::from(v))),
            Err(e) if !e.is_instance_of::<PyOverflowError>(ob.py()) => return Err(e),
            Err(_) => {}
        }
        let high = match ob.rshift(64)?.extract::<u64>() {
            Ok(h) => h,
            Err(e) if e.is_instance_of::<PyOverflowError>(ob.py()) => return Ok(None),
            Err(e) => return Err(e),
        };
        // SAFETY: `ob` is a live int (checked above); the mask conversion cannot fail for ints.
        let low = unsafe { ffi::PyLong_AsUnsignedLongLongMask(ob.as_ptr()) };
        Ok(Some(u128::from(high) << 64 | u128::from(low)))
    }
    #[inline]
    fn from_be_slice(bytes: &[u8]) -> Self {
        u128::from_be_bytes(bytes.try_into().expect("16 bytes"))
    }
}
