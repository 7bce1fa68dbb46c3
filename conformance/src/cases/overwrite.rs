//! Checks of the `overwrite` area.

use crate::check::Check;

/// The checks of this area.
pub fn checks() -> Vec<Check> {
    vec![]
}
