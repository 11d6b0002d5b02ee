//! Transaction layer: see issue; filled in next.
