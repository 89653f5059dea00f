//! SQLite's default page cache, wrapped to skip one needless scan.
//!
//! When a B-tree balance puts sibling pages in page-number order it parks one of them for a
//! moment under the number of the lock page (`PENDING_BYTE / page size + 1`: 1,048,577 with
//! 1 KiB pages), which never holds data. The default cache (`pcache1`) remembers that as the
//! largest key it has seen, so the commit's "drop cached pages past the end of the file" sees a
//! key past the end and walks every page it holds. About one reading's commit in five balances
//! that way; with a writer that has cached a pull's pages (16 MiB, 16,000 pages of 1 KiB) the walk
//! was a quarter of the reading's time and its p95 1.5 ms (store bench `--warm`, perf).
//!
//! The wrapper forwards every call to the default cache and tracks the largest page number it
//! really holds, not counting the lock page. A truncate above that number would drop nothing, so
//! it is not forwarded; any other truncate is, and the default cache does what it always does.
//!
//! Installed with `SQLITE_CONFIG_PCACHE2`, which SQLite accepts only before it initialises: the
//! store installs it before it opens its first connection. If something in the process started
//! SQLite earlier, SQLite keeps its own cache and nothing else changes.

use std::ffi::{c_int, c_uint};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::ffi;

/// SQLite's `PENDING_BYTE`: the byte offset of the lock page.
const PENDING_BYTE: u64 = 0x4000_0000;

/// The default cache's methods, taken before ours replace them.
static DEFAULT: OnceLock<Methods> = OnceLock::new();
/// Truncates not forwarded after a page was parked at the lock page, each one a walk over the
/// whole cache the default would have made, since the process started (tests, diagnostics).
static SCANS_SAVED: AtomicU64 = AtomicU64::new(0);

/// One cache: the default one's handle and what it holds.
struct Cache {
    inner: *mut ffi::sqlite3_pcache,
    /// The lock page's number at this cache's page size.
    lock_page: c_uint,
    /// The largest page number created or moved into the cache since its last forwarded
    /// truncate, the lock page excepted.
    max_key: c_uint,
    /// A page was moved to the lock page since the last truncate (the default cache then
    /// believes it holds a page that far out).
    parked: bool,
}

/// The default cache's method table.
struct Methods(ffi::sqlite3_pcache_methods2);
// SAFETY: function pointers and SQLite's own argument pointer, written once before SQLite starts
// and only read afterwards; SQLite itself calls them from any thread.
unsafe impl Send for Methods {}
unsafe impl Sync for Methods {}

/// Installs the wrapper once per process, if SQLite has not started yet. Returns whether it is
/// installed.
pub(crate) fn install() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        let mut default = std::mem::MaybeUninit::<ffi::sqlite3_pcache_methods2>::zeroed();
        // SAFETY: SQLITE_CONFIG_GETPCACHE2 writes the current methods into the struct it is
        // given; both config calls are made once, before any connection is opened (the caller
        // installs this before its first open), which is when SQLite allows them.
        unsafe {
            if ffi::sqlite3_config(ffi::SQLITE_CONFIG_GETPCACHE2, default.as_mut_ptr())
                != ffi::SQLITE_OK
            {
                return false;
            }
            let default = default.assume_init();
            if default.xCreate.is_none()
                || default.xFetch.is_none()
                || default.xTruncate.is_none()
                || default.xRekey.is_none()
            {
                return false;
            }
            let _ = DEFAULT.set(Methods(default));
            let ours = methods();
            let rc = ffi::sqlite3_config(ffi::SQLITE_CONFIG_PCACHE2, &ours as *const _);
            if rc != ffi::SQLITE_OK {
                tracing::debug!(rc, "SQLite already started: its default page cache stays");
                return false;
            }
            true
        }
    })
}

/// How many whole-cache walks the wrapper saved since the process started.
pub(crate) fn scans_saved() -> u64 {
    SCANS_SAVED.load(Ordering::Relaxed)
}

fn default() -> &'static ffi::sqlite3_pcache_methods2 {
    // Our methods are registered only after DEFAULT is set; should that ever not hold, every
    // callback finds no method to forward to and answers "no page" rather than panic in SQLite.
    // SAFETY: an all-zero method table is valid: no functions, a null argument.
    &DEFAULT
        .get_or_init(|| Methods(unsafe { std::mem::zeroed() }))
        .0
}

fn methods() -> ffi::sqlite3_pcache_methods2 {
    let d = default();
    ffi::sqlite3_pcache_methods2 {
        iVersion: d.iVersion,
        pArg: d.pArg,
        // The default cache's own set-up and tear-down, with its own argument.
        xInit: d.xInit,
        xShutdown: d.xShutdown,
        xCreate: Some(create),
        xCachesize: Some(cache_size),
        xPagecount: Some(page_count),
        xFetch: Some(fetch),
        xUnpin: Some(unpin),
        xRekey: Some(rekey),
        xTruncate: Some(truncate),
        xDestroy: Some(destroy),
        xShrink: Some(shrink),
    }
}

/// # Safety
/// `p` must be a handle `create` returned and `destroy` has not freed.
unsafe fn cache<'a>(p: *mut ffi::sqlite3_pcache) -> &'a mut Cache {
    // SAFETY: per the contract, `p` is a live Box<Cache>; SQLite calls a cache's methods from
    // one connection at a time.
    unsafe { &mut *(p as *mut Cache) }
}

unsafe extern "C" fn create(
    sz_page: c_int,
    sz_extra: c_int,
    purgeable: c_int,
) -> *mut ffi::sqlite3_pcache {
    let Some(create) = default().xCreate else {
        return std::ptr::null_mut();
    };
    // SAFETY: forwarding SQLite's own call to the default cache.
    let inner = unsafe { create(sz_page, sz_extra, purgeable) };
    if inner.is_null() {
        return inner;
    }
    let lock_page = if sz_page > 0 {
        (PENDING_BYTE / sz_page as u64 + 1).min(c_uint::MAX as u64) as c_uint
    } else {
        c_uint::MAX
    };
    Box::into_raw(Box::new(Cache {
        inner,
        lock_page,
        max_key: 0,
        parked: false,
    })) as *mut ffi::sqlite3_pcache
}

unsafe extern "C" fn cache_size(p: *mut ffi::sqlite3_pcache, n: c_int) {
    // SAFETY: `p` is ours (SQLite passes back what `create` returned).
    let c = unsafe { cache(p) };
    if let Some(f) = default().xCachesize {
        // SAFETY: forwarding to the default cache with its own handle.
        unsafe { f(c.inner, n) }
    }
}

unsafe extern "C" fn page_count(p: *mut ffi::sqlite3_pcache) -> c_int {
    // SAFETY: as in `cache_size`.
    let c = unsafe { cache(p) };
    match default().xPagecount {
        // SAFETY: forwarding.
        Some(f) => unsafe { f(c.inner) },
        None => 0,
    }
}

unsafe extern "C" fn fetch(
    p: *mut ffi::sqlite3_pcache,
    key: c_uint,
    create_flag: c_int,
) -> *mut ffi::sqlite3_pcache_page {
    // SAFETY: as in `cache_size`.
    let c = unsafe { cache(p) };
    let Some(f) = default().xFetch else {
        return std::ptr::null_mut();
    };
    // SAFETY: forwarding.
    let page = unsafe { f(c.inner, key, create_flag) };
    // A page may have been created under `key` (even the lock page, which SQLite asks for and
    // then drops when it refuses to read it): count it, so a later truncate is forwarded.
    if !page.is_null() && create_flag != 0 && key > c.max_key {
        c.max_key = key;
    }
    page
}

unsafe extern "C" fn unpin(
    p: *mut ffi::sqlite3_pcache,
    page: *mut ffi::sqlite3_pcache_page,
    discard: c_int,
) {
    // SAFETY: as in `cache_size`.
    let c = unsafe { cache(p) };
    if let Some(f) = default().xUnpin {
        // SAFETY: forwarding.
        unsafe { f(c.inner, page, discard) }
    }
}

unsafe extern "C" fn rekey(
    p: *mut ffi::sqlite3_pcache,
    page: *mut ffi::sqlite3_pcache_page,
    old: c_uint,
    new: c_uint,
) {
    // SAFETY: as in `cache_size`.
    let c = unsafe { cache(p) };
    // The balance's swap moves a page to the lock page and on to its final number in the same
    // call of SQLite's: only the final number is held when anything truncates.
    if new == c.lock_page {
        c.parked = true;
    } else if new > c.max_key {
        c.max_key = new;
    }
    if let Some(f) = default().xRekey {
        // SAFETY: forwarding.
        unsafe { f(c.inner, page, old, new) }
    }
}

unsafe extern "C" fn truncate(p: *mut ffi::sqlite3_pcache, limit: c_uint) {
    // SAFETY: as in `cache_size`.
    let c = unsafe { cache(p) };
    // Drops pages numbered `limit` and above. None is held above `max_key`.
    let parked = std::mem::take(&mut c.parked);
    if limit > c.max_key {
        if parked {
            SCANS_SAVED.fetch_add(1, Ordering::Relaxed);
        }
        return;
    }
    if let Some(f) = default().xTruncate {
        // SAFETY: forwarding.
        unsafe { f(c.inner, limit) }
    }
    c.max_key = limit.saturating_sub(1);
}

unsafe extern "C" fn destroy(p: *mut ffi::sqlite3_pcache) {
    // SAFETY: `p` came from Box::into_raw in `create`; SQLite destroys a cache once.
    let c = unsafe { Box::from_raw(p as *mut Cache) };
    if let Some(f) = default().xDestroy {
        // SAFETY: forwarding.
        unsafe { f(c.inner) }
    }
}

unsafe extern "C" fn shrink(p: *mut ffi::sqlite3_pcache) {
    // SAFETY: as in `cache_size`.
    let c = unsafe { cache(p) };
    if let Some(f) = default().xShrink {
        // SAFETY: forwarding.
        unsafe { f(c.inner) }
    }
}
