//! The store's encryption key. The shell creates it once in the platform keystore (Android
//! Keystore, iOS Keychain) and hands it in at every open; the core never invents, logs or stores
//! it. It is a raw 256-bit key, given to SQLite3 Multiple Ciphers as `raw:…` so no passphrase
//! derivation runs: the keystore's random key needs none, and opening stays fast.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::{Error, Result};

#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct StoreKey([u8; 32]);

impl StoreKey {
    pub const LEN: usize = 32;

    /// A key from the 32 bytes the keystore holds.
    pub fn from_bytes(bytes: &[u8]) -> Result<StoreKey> {
        let key: [u8; 32] = bytes.try_into().map_err(|_| {
            Error::invalid(
                "key",
                format!("a store key is {} bytes, not {}", Self::LEN, bytes.len()),
            )
        })?;
        if key.iter().all(|b| *b == 0) {
            return Err(Error::invalid("key", "an all-zero key is not a key"));
        }
        Ok(StoreKey(key))
    }

    /// The key as SQLite3 Multiple Ciphers takes a raw key, `raw:` and 64 hex digits (for
    /// `PRAGMA key`, `PRAGMA rekey` and a `key=` URI parameter). Only letters, digits and a
    /// colon: nothing to quote or escape.
    pub(crate) fn raw_hex(&self) -> zeroize::Zeroizing<String> {
        let mut s = String::with_capacity(68);
        s.push_str("raw:");
        for b in self.0 {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        zeroize::Zeroizing::new(s)
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StoreKey(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_32_nonzero_bytes_and_never_printed() {
        assert!(StoreKey::from_bytes(&[1; 31]).is_err());
        assert!(StoreKey::from_bytes(&[0; 32]).is_err());
        let k = StoreKey::from_bytes(&[0xab; 32]).unwrap();
        assert_eq!(format!("{k:?}"), "StoreKey(…)");
        let lit = k.raw_hex();
        assert_eq!(lit.len(), 4 + 64);
        assert!(lit.starts_with("raw:abab"));
    }
}
