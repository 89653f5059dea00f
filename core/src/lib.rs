//! fieldcrew-core: the offline-first core of a utility field crew's phone app.
//!
//! The crate is pure Rust with no FFI types; `fieldcrew-ffi` (in `bindings/`) converts at the
//! boundary. Read it top-down:
//!
//! - [`work_order`]: the crew's dispatched orders, their appointments and status machine.
//! - [`reading`]: meter readings, parsing and validation.
//! - [`survey`]: site survey, meter replacement and customer evaluation records.
//! - [`photo`]: document and meter photos: normalise, strip metadata, store by content.
//! - [`store`]: the phone's SQLite store, its schema and migrations, the outbox.
//! - [`hlc`], [`clock`], [`geo`]: the small pieces the others stand on.

/// Implements `as_str`, `Display`, `FromStr` and `ALL` for a fieldless enum whose text form is
/// used in SQLite columns and on the wire.
#[macro_export]
#[doc(hidden)]
macro_rules! text_enum {
    ($ty:ty { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$(<$ty>::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $(<$ty>::$variant => $text),+ }
            }
        }
        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result { f.write_str(self.as_str()) }
        }
        impl ::std::str::FromStr for $ty {
            type Err = $crate::error::UnknownName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s { $($text => Ok(<$ty>::$variant),)+ _ => Err($crate::error::UnknownName(s.to_owned())) }
            }
        }
    };
}

pub mod clock;
pub mod error;
pub mod fixtures;
pub mod geo;
pub mod hlc;
pub mod photo;
pub mod reading;
pub mod store;
pub mod survey;
pub mod sync;
pub mod work_order;

pub use error::{Error, Result};
