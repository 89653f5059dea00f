//! Photo files at rest: XChaCha20-Poly1305 under a key the store key wraps.
//!
//! The store makes a random 256-bit photo data key once and keeps it inside the encrypted
//! database, so the store key (the one the shell keeps in the platform keystore) wraps it: there
//! is one secret to protect, and rotating it re-encrypts the database but never a photo file.
//! The file key is HKDF-SHA256 of that data key. Each file gets a fresh random 192-bit
//! nonce (safe to draw at random, unlike AES-GCM's 96 bits), and the associated data binds the
//! ciphertext to its content address and role (photo or thumbnail): a file swapped for another,
//! truncated or with one byte flipped fails authentication and is reported, never shown.
//!
//! File layout: `FCP1` magic, 24-byte nonce, ciphertext with its 16-byte tag.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

const MAGIC: &[u8; 4] = b"FCP1";
const NONCE_LEN: usize = 24;

/// Which file of a photo: the associated data differs so a thumbnail cannot pose as the photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Photo,
    Thumbnail,
}

#[derive(Clone)]
pub struct PhotoCipher {
    aead: XChaCha20Poly1305,
}

impl std::fmt::Debug for PhotoCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PhotoCipher(…)")
    }
}

/// The file could not be authenticated: tampered with, truncated, or under another key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unauthentic;

fn aad(sha256: &str, role: Role) -> Vec<u8> {
    let role = match role {
        Role::Photo => "photo",
        Role::Thumbnail => "thumbnail",
    };
    format!("fieldcrew photo v1/{role}/{sha256}").into_bytes()
}

impl PhotoCipher {
    /// The cipher of the files under the store's photo data key.
    pub fn from_data_key(data_key: &[u8; 32]) -> PhotoCipher {
        let mut okm = Zeroizing::new([0u8; 32]);
        Hkdf::<Sha256>::new(Some(b"fieldcrew/photos"), data_key)
            .expand(b"photo files v1", okm.as_mut())
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        PhotoCipher {
            aead: XChaCha20Poly1305::new(okm.as_ref().into()),
        }
    }

    pub fn seal(&self, sha256: &str, role: Role, plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .aead
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: &aad(sha256, role),
                },
            )
            .expect("XChaCha20-Poly1305 encrypts any in-memory photo");
        let mut out = Vec::with_capacity(MAGIC.len() + NONCE_LEN + sealed.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    pub fn open(&self, sha256: &str, role: Role, file: &[u8]) -> Result<Vec<u8>, Unauthentic> {
        let body = file.strip_prefix(MAGIC.as_slice()).ok_or(Unauthentic)?;
        if body.len() < NONCE_LEN {
            return Err(Unauthentic);
        }
        let (nonce, sealed) = body.split_at(NONCE_LEN);
        self.aead
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad(sha256, role),
                },
            )
            .map_err(|_| Unauthentic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "aa00000000000000000000000000000000000000000000000000000000000000";

    #[test]
    fn round_trips_and_detects_every_kind_of_tampering() {
        let c = PhotoCipher::from_data_key(&[7; 32]);
        let plain = b"\xff\xd8 a jpeg".to_vec();
        let sealed = c.seal(SHA, Role::Photo, &plain);
        assert!(!sealed.windows(6).any(|w| w == b"a jpeg"));
        assert_eq!(c.open(SHA, Role::Photo, &sealed), Ok(plain.clone()));
        assert_ne!(
            c.seal(SHA, Role::Photo, &plain),
            sealed,
            "fresh nonce per file"
        );

        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert_eq!(c.open(SHA, Role::Photo, &bad), Err(Unauthentic), "byte {i}");
        }
        assert_eq!(
            c.open(SHA, Role::Photo, &sealed[..sealed.len() - 1]),
            Err(Unauthentic)
        );
        assert_eq!(c.open(SHA, Role::Thumbnail, &sealed), Err(Unauthentic));
        let other = SHA.replace("aa", "bb");
        assert_eq!(c.open(&other, Role::Photo, &sealed), Err(Unauthentic));
        let wrong_key = PhotoCipher::from_data_key(&[8; 32]);
        assert_eq!(wrong_key.open(SHA, Role::Photo, &sealed), Err(Unauthentic));
    }
}
