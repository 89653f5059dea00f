//! The phone store (being written).
