//! SQLCipher's page crypto done in Rust (RustCrypto's `aes`, `cbc`, `hmac`, `sha1`/`sha2`,
//! `pbkdf2`), registered as SQLCipher's crypto provider before the first encrypted connection.
//!
//! Why: the bundled SQLCipher calls OpenSSL 3 for every page it writes or reads, and its OpenSSL
//! provider fetches the HMAC and digest implementations by name, allocates a context and seeds an
//! IV through OpenSSL's locked DRBG on every call. Measured on a reading commit (store bench,
//! perf), that bookkeeping cost as much as the AES and SHA work itself. The same algorithms with
//! keys expanded on the stack and hardware instructions picked at run time (AES-NI and SHA-NI on
//! x86, the ARMv8 crypto extensions on phones) do the page for its AES and SHA cost alone, on
//! every platform the same (SQLCipher would otherwise use OpenSSL on Android and CommonCrypto on
//! iOS).
//!
//! The format does not change: AES-256-CBC with a random IV per page, HMAC over ciphertext, IV
//! and page number, PBKDF2 for passphrases. Databases written through OpenSSL open here and the
//! other way round (tests open files OpenSSL wrote, `core/tests/fixtures/sqlcipher/`).
//!
//! The provider is SQLCipher's documented extension point (`sqlcipher_register_provider`, the
//! `sqlcipher_provider` struct of `crypto.h`). Every callback checks its pointers and sizes and
//! answers `SQLITE_ERROR` rather than panic: they run inside SQLite, behind the FFI.

use std::ffi::{c_char, c_int, c_void};
use std::sync::OnceLock;

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hmac::{Hmac, Mac};
use rand::RngCore;

use crate::error::{Error, Result};

const SQLITE_OK: c_int = 0;
const SQLITE_ERROR: c_int = 1;

// crypto.h
const HMAC_SHA1: c_int = 0;
const HMAC_SHA256: c_int = 1;
const HMAC_SHA512: c_int = 2;
const CIPHER_ENCRYPT: c_int = 1;
const CIPHER_DECRYPT: c_int = 0;

const KEY_SIZE: usize = 32;
const BLOCK_SIZE: usize = 16;

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// `struct sqlcipher_provider` of SQLCipher's crypto.h, field for field.
#[repr(C)]
struct Provider {
    init: Option<unsafe extern "C" fn() -> c_int>,
    shutdown: Option<unsafe extern "C" fn()>,
    get_provider_name: Option<unsafe extern "C" fn(*mut c_void) -> *const c_char>,
    add_random: Option<unsafe extern "C" fn(*mut c_void, *const c_void, c_int) -> c_int>,
    random: Option<unsafe extern "C" fn(*mut c_void, *mut c_void, c_int) -> c_int>,
    hmac: Option<
        unsafe extern "C" fn(
            *mut c_void,
            c_int,
            *const u8,
            c_int,
            *const u8,
            c_int,
            *const u8,
            c_int,
            *mut u8,
        ) -> c_int,
    >,
    kdf: Option<
        unsafe extern "C" fn(
            *mut c_void,
            c_int,
            *const u8,
            c_int,
            *const u8,
            c_int,
            c_int,
            c_int,
            *mut u8,
        ) -> c_int,
    >,
    cipher: Option<
        unsafe extern "C" fn(
            *mut c_void,
            c_int,
            *const u8,
            c_int,
            *const u8,
            *const u8,
            c_int,
            *mut u8,
        ) -> c_int,
    >,
    get_cipher: Option<unsafe extern "C" fn(*mut c_void) -> *const c_char>,
    get_key_sz: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
    get_iv_sz: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
    get_block_sz: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
    get_hmac_sz: Option<unsafe extern "C" fn(*mut c_void, c_int) -> c_int>,
    ctx_init: Option<unsafe extern "C" fn(*mut *mut c_void) -> c_int>,
    ctx_free: Option<unsafe extern "C" fn(*mut *mut c_void) -> c_int>,
    fips_status: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
    get_provider_version: Option<unsafe extern "C" fn(*mut c_void) -> *const c_char>,
    next: *mut Provider,
}

unsafe extern "C" {
    /// Makes `p` the provider of every codec context created from now on. SQLCipher keeps the
    /// pointer and frees it with `sqlcipher_free` at `sqlite3_shutdown`, so it must come from
    /// `sqlcipher_malloc`.
    fn sqlcipher_register_provider(p: *mut Provider) -> c_int;
    fn sqlcipher_malloc(size: u64) -> *mut c_void;
}

/// Registers the provider once per process. Call before opening an encrypted connection: codec
/// contexts take the provider registered when they are created.
pub(crate) fn install() -> Result<()> {
    static INSTALLED: OnceLock<c_int> = OnceLock::new();
    let rc = *INSTALLED.get_or_init(|| {
        // Opening a connection is how rusqlite initialises SQLite, and SQLite's initialisation
        // sets up SQLCipher (its mutexes and the default provider) which registering needs.
        if rusqlite::Connection::open_in_memory().is_err() {
            return SQLITE_ERROR;
        }
        // SAFETY: sqlcipher_malloc returns memory suitably aligned for any type, or null.
        unsafe {
            let p = sqlcipher_malloc(std::mem::size_of::<Provider>() as u64) as *mut Provider;
            if p.is_null() {
                return SQLITE_ERROR;
            }
            p.write(provider());
            sqlcipher_register_provider(p)
        }
    });
    match rc {
        SQLITE_OK => Ok(()),
        rc => Err(Error::Sql(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rc),
            Some("registering the page cipher failed".into()),
        ))),
    }
}

fn provider() -> Provider {
    Provider {
        init: None,
        shutdown: None,
        get_provider_name: Some(provider_name),
        add_random: Some(add_random),
        random: Some(random),
        hmac: Some(hmac),
        kdf: Some(kdf),
        cipher: Some(cipher),
        get_cipher: Some(cipher_name),
        get_key_sz: Some(key_size),
        get_iv_sz: Some(block_size),
        get_block_sz: Some(block_size),
        get_hmac_sz: Some(hmac_size),
        ctx_init: Some(ctx_init),
        ctx_free: Some(ctx_free),
        fips_status: Some(fips_status),
        get_provider_version: Some(provider_version),
        next: std::ptr::null_mut(),
    }
}

/// A C buffer as a slice; `None` for a null pointer with a non-zero or negative size.
unsafe fn slice<'a>(p: *const u8, len: c_int) -> Option<&'a [u8]> {
    let len = usize::try_from(len).ok()?;
    if len == 0 {
        return Some(&[]);
    }
    if p.is_null() {
        return None;
    }
    // SAFETY: the caller (SQLCipher) passes `len` readable bytes at `p`.
    Some(unsafe { std::slice::from_raw_parts(p, len) })
}

unsafe fn slice_mut<'a>(p: *mut u8, len: usize) -> Option<&'a mut [u8]> {
    if p.is_null() {
        return None;
    }
    // SAFETY: the caller (SQLCipher) passes `len` writable bytes at `p`.
    Some(unsafe { std::slice::from_raw_parts_mut(p, len) })
}

fn hmac_len(algorithm: c_int) -> Option<usize> {
    match algorithm {
        HMAC_SHA1 => Some(20),
        HMAC_SHA256 => Some(32),
        HMAC_SHA512 => Some(64),
        _ => None,
    }
}

fn mac_of<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: [&[u8]; 2], out: &mut [u8]) -> c_int {
    let Ok(mut mac) = <M as hmac::digest::KeyInit>::new_from_slice(key) else {
        return SQLITE_ERROR;
    };
    for part in parts {
        mac.update(part);
    }
    let tag = mac.finalize().into_bytes();
    if out.len() != tag.len() {
        return SQLITE_ERROR;
    }
    out.copy_from_slice(&tag);
    SQLITE_OK
}

unsafe extern "C" fn hmac(
    _ctx: *mut c_void,
    algorithm: c_int,
    key: *const u8,
    key_sz: c_int,
    input: *const u8,
    in_sz: c_int,
    input2: *const u8,
    in2_sz: c_int,
    out: *mut u8,
) -> c_int {
    // SAFETY: pointers and sizes as SQLCipher passes them; each is checked for null.
    let (Some(key), Some(input), Some(input2), Some(len)) = (
        unsafe { slice(key, key_sz) },
        unsafe { slice(input, in_sz) },
        unsafe { slice(input2, in2_sz) },
        hmac_len(algorithm),
    ) else {
        return SQLITE_ERROR;
    };
    let Some(out) = (unsafe { slice_mut(out, len) }) else {
        return SQLITE_ERROR;
    };
    let parts = [input, input2];
    match algorithm {
        HMAC_SHA1 => mac_of::<Hmac<sha1::Sha1>>(key, parts, out),
        HMAC_SHA256 => mac_of::<Hmac<sha2::Sha256>>(key, parts, out),
        HMAC_SHA512 => mac_of::<Hmac<sha2::Sha512>>(key, parts, out),
        _ => SQLITE_ERROR,
    }
}

unsafe extern "C" fn kdf(
    _ctx: *mut c_void,
    algorithm: c_int,
    pass: *const u8,
    pass_sz: c_int,
    salt: *const u8,
    salt_sz: c_int,
    workfactor: c_int,
    key_sz: c_int,
    key: *mut u8,
) -> c_int {
    // SAFETY: as in `hmac`.
    let (Some(pass), Some(salt), Ok(rounds), Ok(key_len)) = (
        unsafe { slice(pass, pass_sz) },
        unsafe { slice(salt, salt_sz) },
        u32::try_from(workfactor),
        usize::try_from(key_sz),
    ) else {
        return SQLITE_ERROR;
    };
    if rounds == 0 {
        return SQLITE_ERROR;
    }
    let Some(key) = (unsafe { slice_mut(key, key_len) }) else {
        return SQLITE_ERROR;
    };
    match algorithm {
        HMAC_SHA1 => pbkdf2::pbkdf2_hmac::<sha1::Sha1>(pass, salt, rounds, key),
        HMAC_SHA256 => pbkdf2::pbkdf2_hmac::<sha2::Sha256>(pass, salt, rounds, key),
        HMAC_SHA512 => pbkdf2::pbkdf2_hmac::<sha2::Sha512>(pass, salt, rounds, key),
        _ => return SQLITE_ERROR,
    }
    SQLITE_OK
}

unsafe extern "C" fn cipher(
    _ctx: *mut c_void,
    mode: c_int,
    key: *const u8,
    key_sz: c_int,
    iv: *const u8,
    input: *const u8,
    in_sz: c_int,
    out: *mut u8,
) -> c_int {
    // SAFETY: as in `hmac`; SQLCipher gives the IV as one block.
    let (Some(key), Some(iv), Some(input)) = (
        unsafe { slice(key, key_sz) },
        unsafe { slice(iv, BLOCK_SIZE as c_int) },
        unsafe { slice(input, in_sz) },
    ) else {
        return SQLITE_ERROR;
    };
    if key.len() != KEY_SIZE || input.len() % BLOCK_SIZE != 0 || out.is_null() {
        return SQLITE_ERROR;
    }
    // SQLCipher passes separate buffers; should they ever overlap, work from a copy rather
    // than alias the input with the output.
    let (start, end) = (
        input.as_ptr() as usize,
        input.as_ptr() as usize + input.len(),
    );
    let overlaps = (out as usize) < end && start < out as usize + input.len();
    let copy;
    let input = if overlaps {
        copy = input.to_vec();
        &copy[..]
    } else {
        input
    };
    let Some(out) = (unsafe { slice_mut(out, input.len()) }) else {
        return SQLITE_ERROR;
    };
    let done = match mode {
        CIPHER_ENCRYPT => Aes256CbcEnc::new_from_slices(key, iv)
            .ok()
            .and_then(|c| c.encrypt_padded_b2b_mut::<NoPadding>(input, out).ok())
            .map(|o| o.len()),
        CIPHER_DECRYPT => Aes256CbcDec::new_from_slices(key, iv)
            .ok()
            .and_then(|c| c.decrypt_padded_b2b_mut::<NoPadding>(input, out).ok())
            .map(|o| o.len()),
        _ => None,
    };
    match done {
        Some(n) if n == input.len() => SQLITE_OK,
        _ => SQLITE_ERROR,
    }
}

unsafe extern "C" fn random(_ctx: *mut c_void, buffer: *mut c_void, length: c_int) -> c_int {
    let Ok(len) = usize::try_from(length) else {
        return SQLITE_ERROR;
    };
    if len == 0 {
        return SQLITE_OK;
    }
    // SAFETY: SQLCipher passes `length` writable bytes.
    let Some(buf) = (unsafe { slice_mut(buffer as *mut u8, len) }) else {
        return SQLITE_ERROR;
    };
    // ThreadRng: a ChaCha CSPRNG per thread, seeded and reseeded from the OS.
    rand::rng().fill_bytes(buf);
    SQLITE_OK
}

/// `PRAGMA cipher_add_random`: the thread generators are reseeded from the OS; extra entropy
/// from the application is accepted and not needed.
unsafe extern "C" fn add_random(
    _ctx: *mut c_void,
    _buffer: *const c_void,
    _length: c_int,
) -> c_int {
    SQLITE_OK
}

unsafe extern "C" fn provider_name(_ctx: *mut c_void) -> *const c_char {
    c"rustcrypto".as_ptr()
}

unsafe extern "C" fn provider_version(_ctx: *mut c_void) -> *const c_char {
    c"aes 0.8, cbc 0.1, hmac 0.12, sha2 0.10, pbkdf2 0.12".as_ptr()
}

unsafe extern "C" fn cipher_name(_ctx: *mut c_void) -> *const c_char {
    c"aes-256-cbc".as_ptr()
}

unsafe extern "C" fn key_size(_ctx: *mut c_void) -> c_int {
    KEY_SIZE as c_int
}

unsafe extern "C" fn block_size(_ctx: *mut c_void) -> c_int {
    BLOCK_SIZE as c_int
}

unsafe extern "C" fn hmac_size(_ctx: *mut c_void, algorithm: c_int) -> c_int {
    hmac_len(algorithm).map_or(0, |n| n as c_int)
}

/// No per-connection state: keys arrive with every call.
unsafe extern "C" fn ctx_init(_ctx: *mut *mut c_void) -> c_int {
    SQLITE_OK
}

unsafe extern "C" fn ctx_free(_ctx: *mut *mut c_void) -> c_int {
    SQLITE_OK
}

unsafe extern "C" fn fips_status(_ctx: *mut c_void) -> c_int {
    0
}

/// One page through this provider the way SQLCipher's codec drives it
/// (`sqlcipher_page_cipher`): to write, the page's body is encrypted under a fresh random IV and
/// the MAC taken over ciphertext, IV and page number; to read, the MAC is checked, then the body
/// decrypted. The page ends with the IV and the MAC (SQLCipher's reserve). For the page-cipher
/// benchmark (`cargo bench -p fieldcrew-core --bench page_cipher`), so that its figures are this
/// code's; the store itself goes through SQLCipher.
#[doc(hidden)]
pub struct PageCodec {
    key: [u8; KEY_SIZE],
    hmac_key: [u8; KEY_SIZE],
    algorithm: c_int,
    page_size: usize,
}

impl PageCodec {
    /// A codec for `page_size`-byte pages (a multiple of 16, 512 or more) MACed with HMAC-SHA256,
    /// as this version's stores are, or with HMAC-SHA512 (SQLCipher 4's default) if `sha512`.
    pub fn new(page_size: usize, sha512: bool) -> Option<PageCodec> {
        let mut key = [0u8; KEY_SIZE];
        let mut hmac_key = [0u8; KEY_SIZE];
        rand::rng().fill_bytes(&mut key);
        rand::rng().fill_bytes(&mut hmac_key);
        let codec = PageCodec {
            key,
            hmac_key,
            algorithm: if sha512 { HMAC_SHA512 } else { HMAC_SHA256 },
            page_size,
        };
        (page_size.is_multiple_of(BLOCK_SIZE) && page_size >= 512).then_some(codec)
    }

    /// The bytes at a page's end that hold its IV and MAC, rounded up to whole blocks.
    pub fn reserve(&self) -> usize {
        let mac = hmac_len(self.algorithm).unwrap_or(0);
        (BLOCK_SIZE + mac).div_ceil(BLOCK_SIZE) * BLOCK_SIZE
    }

    fn body(&self) -> usize {
        self.page_size - self.reserve()
    }

    /// Encrypts and MACs `plain` (a page's body, `page_size - reserve()` bytes) into `page`
    /// (`page_size` bytes). With `mac` false only the encryption is done, to time it apart.
    pub fn write(&self, plain: &[u8], page: &mut [u8], pgno: u32, mac: bool) -> bool {
        let body = self.body();
        if plain.len() != body || page.len() != self.page_size {
            return false;
        }
        let (data, rest) = page.split_at_mut(body);
        let iv = &mut rest[..BLOCK_SIZE];
        // SAFETY: every pointer is a live slice of the length passed.
        let encrypted = unsafe {
            random(
                std::ptr::null_mut(),
                iv.as_mut_ptr().cast(),
                BLOCK_SIZE as c_int,
            ) == SQLITE_OK
                && cipher(
                    std::ptr::null_mut(),
                    CIPHER_ENCRYPT,
                    self.key.as_ptr(),
                    KEY_SIZE as c_int,
                    iv.as_ptr(),
                    plain.as_ptr(),
                    body as c_int,
                    data.as_mut_ptr(),
                ) == SQLITE_OK
        };
        if !encrypted || !mac {
            return encrypted;
        }
        let len = hmac_len(self.algorithm).unwrap_or(0);
        let mut tag = [0u8; 64];
        if !self.mac(&page[..body + BLOCK_SIZE], pgno, &mut tag[..len]) {
            return false;
        }
        page[body + BLOCK_SIZE..body + BLOCK_SIZE + len].copy_from_slice(&tag[..len]);
        true
    }

    /// Checks `page`'s MAC and decrypts its body into `plain`; false if the page was changed.
    pub fn read(&self, page: &[u8], plain: &mut [u8], pgno: u32) -> bool {
        let body = self.body();
        if plain.len() != body || page.len() != self.page_size {
            return false;
        }
        let len = hmac_len(self.algorithm).unwrap_or(0);
        let mut expected = [0u8; 64];
        let macked = &page[..body + BLOCK_SIZE];
        if !self.mac(macked, pgno, &mut expected[..len]) {
            return false;
        }
        let stored = &page[body + BLOCK_SIZE..body + BLOCK_SIZE + len];
        // Constant time, as SQLCipher compares (sqlcipher_memcmp).
        let differs = stored
            .iter()
            .zip(&expected[..len])
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        // SAFETY: as in `write`.
        differs == 0
            && unsafe {
                cipher(
                    std::ptr::null_mut(),
                    CIPHER_DECRYPT,
                    self.key.as_ptr(),
                    KEY_SIZE as c_int,
                    page[body..].as_ptr(),
                    page.as_ptr(),
                    body as c_int,
                    plain.as_mut_ptr(),
                ) == SQLITE_OK
            }
    }

    fn mac(&self, input: &[u8], pgno: u32, out: &mut [u8]) -> bool {
        let pgno = pgno.to_le_bytes();
        // SAFETY: as in `write`; `out` is the algorithm's MAC length.
        unsafe {
            hmac(
                std::ptr::null_mut(),
                self.algorithm,
                self.hmac_key.as_ptr(),
                KEY_SIZE as c_int,
                input.as_ptr(),
                input.len() as c_int,
                pgno.as_ptr(),
                pgno.len() as c_int,
                out.as_mut_ptr(),
            ) == SQLITE_OK
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_codec_round_trips_and_refuses_a_changed_page() {
        for (size, sha512) in [(1024, false), (4096, false), (4096, true)] {
            let codec = PageCodec::new(size, sha512).unwrap();
            let plain: Vec<u8> = (0..size - codec.reserve())
                .map(|i| (i % 251) as u8)
                .collect();
            let mut page = vec![0u8; size];
            assert!(codec.write(&plain, &mut page, 7, true));
            assert_ne!(&page[..plain.len()], &plain[..]);
            let mut back = vec![0u8; plain.len()];
            assert!(codec.read(&page, &mut back, 7));
            assert_eq!(back, plain);
            // Another page number (a page moved), a flipped bit anywhere MACed: refused.
            assert!(!codec.read(&page, &mut back, 8));
            for at in [
                0,
                plain.len() - 1,
                plain.len(),
                size - 1 - (codec.reserve() - 16 - hmac_len(codec.algorithm).unwrap()),
            ] {
                let mut bad = page.clone();
                bad[at] ^= 1;
                assert!(!codec.read(&bad, &mut back, 7), "{size} byte {at}");
            }
        }
        assert!(PageCodec::new(1000, false).is_none());
    }

    fn call_cipher(mode: c_int, key: &[u8], iv: &[u8; 16], input: &[u8]) -> Option<Vec<u8>> {
        let mut out = vec![0u8; input.len()];
        let rc = unsafe {
            cipher(
                std::ptr::null_mut(),
                mode,
                key.as_ptr(),
                key.len() as c_int,
                iv.as_ptr(),
                input.as_ptr(),
                input.len() as c_int,
                out.as_mut_ptr(),
            )
        };
        (rc == SQLITE_OK).then_some(out)
    }

    #[test]
    fn aes_256_cbc_matches_the_nist_vector() {
        // NIST SP 800-38A, F.2.5 CBC-AES256.Encrypt, first two blocks.
        let key = hex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4");
        let iv: [u8; 16] = hex("000102030405060708090a0b0c0d0e0f").try_into().unwrap();
        let plain = hex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51");
        let expected = hex("f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d");
        let enc = call_cipher(CIPHER_ENCRYPT, &key, &iv, &plain).unwrap();
        assert_eq!(enc, expected);
        assert_eq!(call_cipher(CIPHER_DECRYPT, &key, &iv, &enc).unwrap(), plain);
    }

    #[test]
    fn hmac_matches_rfc_4231_and_joins_its_two_inputs() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?", split in two.
        let mut out = [0u8; 32];
        let (a, b) = (b"what do ya want ".as_slice(), b"for nothing?".as_slice());
        let rc = unsafe {
            hmac(
                std::ptr::null_mut(),
                HMAC_SHA256,
                b"Jefe".as_ptr(),
                4,
                a.as_ptr(),
                a.len() as c_int,
                b.as_ptr(),
                b.len() as c_int,
                out.as_mut_ptr(),
            )
        };
        assert_eq!(rc, SQLITE_OK);
        assert_eq!(
            out.to_vec(),
            hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        );
    }

    #[test]
    fn in_place_works_like_separate_buffers() {
        let key = [7u8; 32];
        let iv = [9u8; 16];
        let plain: Vec<u8> = (0..64u8).collect();
        let expected = call_cipher(CIPHER_ENCRYPT, &key, &iv, &plain).unwrap();
        let mut buf = plain.clone();
        let rc = unsafe {
            cipher(
                std::ptr::null_mut(),
                CIPHER_ENCRYPT,
                key.as_ptr(),
                32,
                iv.as_ptr(),
                buf.as_ptr(),
                buf.len() as c_int,
                buf.as_mut_ptr(),
            )
        };
        assert_eq!(rc, SQLITE_OK);
        assert_eq!(buf, expected);
    }

    #[test]
    fn bad_arguments_are_errors_not_panics() {
        let key = [0u8; 32];
        let iv = [0u8; 16];
        // Not a whole number of blocks, a short key, an unknown mode.
        assert!(call_cipher(CIPHER_ENCRYPT, &key, &iv, &[0u8; 15]).is_none());
        assert!(call_cipher(CIPHER_ENCRYPT, &key[..16], &iv, &[0u8; 16]).is_none());
        assert!(call_cipher(7, &key, &iv, &[0u8; 16]).is_none());
        let mut out = [0u8; 64];
        let rc = unsafe {
            hmac(
                std::ptr::null_mut(),
                9,
                key.as_ptr(),
                32,
                key.as_ptr(),
                32,
                std::ptr::null(),
                0,
                out.as_mut_ptr(),
            )
        };
        assert_eq!(rc, SQLITE_ERROR);
        let rc = unsafe {
            kdf(
                std::ptr::null_mut(),
                HMAC_SHA512,
                std::ptr::null(),
                8,
                key.as_ptr(),
                16,
                1,
                32,
                out.as_mut_ptr(),
            )
        };
        assert_eq!(rc, SQLITE_ERROR, "a null passphrase with a size");
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
}
