//! fieldcrew-cli: the desktop shell over the core (binary `fieldcrew`) and the one-command demo.
//!
//! - [`cli`]: the commands, a phone app's actions from a terminal, with `--json` for scripts.
//! - [`device`]: a device data directory: the encrypted store, its key file, the server settings.
//! - [`demo`]: a city's day with two crews offline and the sync that follows.
//! - [`proxy`]: a byte-counting loopback proxy, for the demo's transfer figures.
//! - [`output`], [`error`]: tables, and one-line errors with exit codes.

pub mod cli;
pub mod demo;
pub mod device;
pub mod error;
pub mod output;
pub mod proxy;
