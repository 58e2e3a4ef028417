//! Choosing values from fuzz input bytes with `arbitrary`'s [`Unstructured`]: mostly from a
//! list of values at the edges of what is valid, now and then anything at all. The input is
//! the record of the choices, so byte mutations change a choice and a crash file replays it.

use arbitrary::{Result, Unstructured};

/// One of `values`, or (one time in five) any string.
pub fn string(u: &mut Unstructured, values: &[&str]) -> Result<String> {
    if values.is_empty() || u.ratio(1, 5)? {
        return u.arbitrary();
    }
    Ok(u.choose(values)?.to_string())
}

/// One of `values`, or (one time in five) any number.
pub fn number<T: Copy + for<'a> arbitrary::Arbitrary<'a>>(
    u: &mut Unstructured,
    values: &[T],
) -> Result<T> {
    if values.is_empty() || u.ratio(1, 5)? {
        return u.arbitrary();
    }
    Ok(*u.choose(values)?)
}

/// Up to `max` parts chosen with `part`, joined by `separator`.
pub fn joined(
    u: &mut Unstructured,
    max: u32,
    separator: &str,
    part: impl Fn(&mut Unstructured) -> Result<String>,
) -> Result<String> {
    let n = u.int_in_range(0..=max)?;
    let parts = (0..n).map(|_| part(u)).collect::<Result<Vec<_>>>()?;
    Ok(parts.join(separator))
}
