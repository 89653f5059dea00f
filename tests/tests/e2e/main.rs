//! The end-to-end suite: the real server on loopback, phone stores, the core sync client, the
//! fault proxy. One test binary, so the server, the core and their dependencies are linked and
//! stored once rather than once per file (CI's disk and link time).
//!
//! Run one part with a filter, e.g. `cargo test -p fieldcrew-e2e --test e2e convergence::`.

mod convergence;
mod office;
mod photo_faults;
mod photos;
mod sync;
mod tls;
