//! The 1C Native API as the platform sees it: `tVariant`, the C++ interfaces the platform hands
//! to an add-in (memory manager, connection) and the ones an add-in object implements, written
//! as `#[repr(C)]` vtables.
//!
//! Facts this layout rests on (from the platform's `types.h`, `ComponentBase.h`,
//! `AddInDefBase.h` and `IMemoryManager.h`, and checked against the `addin1c` crate):
//!
//! - Every interface method is `__stdcall` on Windows x86 (`extern "system"`; the same as
//!   `extern "C"` everywhere else). The five exported functions are plain `extern "C"`.
//! - A virtual destructor takes one vtable slot under MSVC (Windows) and two under the Itanium
//!   C++ ABI (GCC on Linux).
//! - C++ `long` is 32-bit on Windows and 64-bit on Linux x86_64: [`c_long`].
//! - Strings are UTF-16 (`WCHAR_T` is 16-bit on every OS), NUL-terminated when passed alone.
//! - `tVariant` is a union (largest member `struct tm`: 36 bytes on Windows, 56 on Linux),
//!   then `uint32_t cbElements`, then `uint16_t vt`: 48 bytes on Windows x86 and x64, 64 on
//!   Linux x64 (asserted below, so a cross-build for a wrong layout does not compile).
//! - Memory returned to the platform (strings, binary data, names) is allocated with its
//!   memory manager's `AllocMemory` and freed by the platform with `FreeMemory`.

use std::ffi::{c_long, c_ulong, c_void};
use std::ptr;

/// A 1C character: UTF-16 code unit.
pub type WChar = u16;

/// `VTYPE_*` values of `tVariant::vt` this add-in reads or writes.
pub mod vt {
    pub const EMPTY: u16 = 0;
    pub const NULL: u16 = 1;
    pub const I2: u16 = 2;
    pub const I4: u16 = 3;
    pub const R4: u16 = 4;
    pub const R8: u16 = 5;
    pub const BOOL: u16 = 11;
    pub const I1: u16 = 13;
    pub const UI1: u16 = 14;
    pub const UI2: u16 = 15;
    pub const UI4: u16 = 16;
    pub const I8: u16 = 17;
    pub const UI8: u16 = 18;
    pub const PWSTR: u16 = 22;
    pub const BLOB: u16 = 23;
}

/// `struct tm` as the platform's compiler lays it out (only its size matters here).
#[repr(C)]
#[derive(Clone, Copy)]
struct Tm {
    fields: [i32; 9],
    #[cfg(not(windows))]
    gmtoff: c_long,
    #[cfg(not(windows))]
    zone: *const u8,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct WStr {
    pub ptr: *mut WChar,
    pub len: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct Blob {
    pub ptr: *mut u8,
    pub len: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Iface {
    ptr: *mut c_void,
    iid: [u8; 16],
}

#[repr(C)]
#[derive(Clone, Copy)]
pub union Value {
    pub b: bool,
    pub i8: i8,
    pub i16: i16,
    pub i32: i32,
    pub i64: i64,
    pub u8: u8,
    pub u16: u16,
    pub u32: u32,
    pub u64: u64,
    pub f32: f32,
    pub f64: f64,
    pub wstr: WStr,
    pub blob: Blob,
    tm: Tm,
    iface: Iface,
}

/// `tVariant`.
#[repr(C)]
pub struct TVariant {
    pub value: Value,
    pub elements: u32,
    pub vt: u16,
}

#[cfg(windows)]
const _: () = assert!(std::mem::size_of::<TVariant>() == 48);
#[cfg(windows)]
const _: () = assert!(std::mem::offset_of!(TVariant, vt) == 44);
#[cfg(all(unix, target_pointer_width = "64"))]
const _: () = assert!(std::mem::size_of::<TVariant>() == 64);
#[cfg(all(unix, target_pointer_width = "64"))]
const _: () = assert!(std::mem::offset_of!(TVariant, vt) == 60);

/// The slots a C++ virtual destructor takes at the start of a vtable.
#[cfg(windows)]
pub type DtorSlots = [usize; 1];
#[cfg(not(windows))]
pub type DtorSlots = [usize; 2];

/// Destructor slots of this add-in's own vtables. The platform never destroys an add-in object
/// through them (it calls the exported `DestroyObject`), so they are left empty.
#[cfg(windows)]
pub const NO_DTOR: DtorSlots = [0];
#[cfg(not(windows))]
pub const NO_DTOR: DtorSlots = [0, 0];

// --- What the platform gives the add-in ---------------------------------------------------

/// `IMemoryManager`'s vtable.
#[repr(C)]
struct MemoryManagerVtbl {
    dtor: DtorSlots,
    alloc: unsafe extern "system" fn(*mut MemoryManager, *mut *mut c_void, c_ulong) -> bool,
    free: unsafe extern "system" fn(*mut MemoryManager, *mut *mut c_void),
}

/// The platform's `IMemoryManager`.
#[repr(C)]
pub struct MemoryManager {
    vtbl: *const MemoryManagerVtbl,
}

impl MemoryManager {
    /// `len` bytes from the platform's allocator, or `None`: refused, or over 4 GiB (a
    /// value's length field is 32-bit, and `AllocMemory` takes a C `unsigned long`, 32-bit on
    /// Windows).
    ///
    /// # Safety
    /// `this` is the platform's live memory manager.
    pub unsafe fn alloc(this: *mut MemoryManager, len: usize) -> Option<*mut u8> {
        // Zero-length values still get a (one-byte) block, so every pointer handed over is
        // one the platform can free.
        let Ok(len) = u32::try_from(len.max(1)) else {
            return None;
        };
        if this.is_null() {
            return None;
        }
        let mut p: *mut c_void = ptr::null_mut();
        let ok = ((*(*this).vtbl).alloc)(this, &mut p, c_ulong::from(len));
        (ok && !p.is_null()).then_some(p.cast())
    }

    /// Gives a block back to the platform's allocator.
    ///
    /// # Safety
    /// `this` is the platform's live memory manager; `p` came from [`MemoryManager::alloc`].
    pub unsafe fn free(this: *mut MemoryManager, p: *mut c_void) {
        if this.is_null() || p.is_null() {
            return;
        }
        let mut p = p;
        ((*(*this).vtbl).free)(this, &mut p);
    }

    /// `text` as a NUL-terminated UTF-16 string in the platform's memory.
    ///
    /// # Safety
    /// As [`MemoryManager::alloc`].
    pub unsafe fn alloc_wstr(this: *mut MemoryManager, text: &[WChar]) -> Option<*mut WChar> {
        let bytes = text.len().checked_add(1)?.checked_mul(2)?;
        let p = Self::alloc(this, bytes)?.cast::<WChar>();
        ptr::copy_nonoverlapping(text.as_ptr(), p, text.len());
        *p.add(text.len()) = 0;
        Some(p)
    }
}

/// `IAddInDefBase`'s vtable (the platform's side of the connection; only `AddError` is used,
/// the rest are declared to keep the layout).
#[repr(C)]
struct ConnectionVtbl {
    dtor: DtorSlots,
    add_error:
        unsafe extern "system" fn(*mut Connection, u16, *const WChar, *const WChar, c_long) -> bool,
    read: usize,
    write: usize,
    register_profile_as: usize,
    set_event_buffer_depth: usize,
    get_event_buffer_depth: usize,
    external_event: usize,
    clean_event_buffer: usize,
    set_status_line: usize,
    reset_status_line: usize,
}

/// The platform's `IAddInDefBase`, passed to `Init`.
#[repr(C)]
pub struct Connection {
    vtbl: *const ConnectionVtbl,
}

/// `ADDIN_E_FAIL`: an error; the platform shows it with "!!!" and, as the call then returns
/// false, raises an exception with its text.
pub const ADDIN_E_FAIL: u16 = 1006;

impl Connection {
    /// `AddError(wcode, source, description, scode)`.
    ///
    /// # Safety
    /// `this` is null or the platform's live connection.
    pub unsafe fn add_error(
        this: *mut Connection,
        wcode: u16,
        source: &str,
        text: &str,
        code: i32,
    ) {
        if this.is_null() {
            return;
        }
        let source = to_wide_nul(source);
        let text = to_wide_nul(text);
        ((*(*this).vtbl).add_error)(this, wcode, source.as_ptr(), text.as_ptr(), code as c_long);
    }
}

// --- What the add-in object implements ----------------------------------------------------

/// `IInitDoneBase`'s vtable.
#[repr(C)]
pub struct InitDoneVtbl<T> {
    pub dtor: DtorSlots,
    pub init: unsafe extern "system" fn(*mut T, *mut c_void) -> bool,
    pub set_mem_manager: unsafe extern "system" fn(*mut T, *mut c_void) -> bool,
    pub get_info: unsafe extern "system" fn(*mut T) -> c_long,
    pub done: unsafe extern "system" fn(*mut T),
}

/// `ILanguageExtenderBase`'s vtable.
#[repr(C)]
pub struct LanguageExtenderVtbl<T> {
    pub dtor: DtorSlots,
    pub register_extension_as: unsafe extern "system" fn(*mut T, *mut *mut WChar) -> bool,
    pub get_n_props: unsafe extern "system" fn(*mut T) -> c_long,
    pub find_prop: unsafe extern "system" fn(*mut T, *const WChar) -> c_long,
    pub get_prop_name: unsafe extern "system" fn(*mut T, c_long, c_long) -> *const WChar,
    pub get_prop_val: unsafe extern "system" fn(*mut T, c_long, *mut TVariant) -> bool,
    pub set_prop_val: unsafe extern "system" fn(*mut T, c_long, *mut TVariant) -> bool,
    pub is_prop_readable: unsafe extern "system" fn(*mut T, c_long) -> bool,
    pub is_prop_writable: unsafe extern "system" fn(*mut T, c_long) -> bool,
    pub get_n_methods: unsafe extern "system" fn(*mut T) -> c_long,
    pub find_method: unsafe extern "system" fn(*mut T, *const WChar) -> c_long,
    pub get_method_name: unsafe extern "system" fn(*mut T, c_long, c_long) -> *const WChar,
    pub get_n_params: unsafe extern "system" fn(*mut T, c_long) -> c_long,
    pub get_param_def_value:
        unsafe extern "system" fn(*mut T, c_long, c_long, *mut TVariant) -> bool,
    pub has_ret_val: unsafe extern "system" fn(*mut T, c_long) -> bool,
    pub call_as_proc: unsafe extern "system" fn(*mut T, c_long, *mut TVariant, c_long) -> bool,
    pub call_as_func:
        unsafe extern "system" fn(*mut T, c_long, *mut TVariant, *mut TVariant, c_long) -> bool,
}

/// `LocaleBase`'s vtable.
#[repr(C)]
pub struct LocaleVtbl<T> {
    pub dtor: DtorSlots,
    pub set_locale: unsafe extern "system" fn(*mut T, *const WChar),
}

/// `UserLanguageBase`'s vtable.
#[repr(C)]
pub struct UserLanguageVtbl<T> {
    pub dtor: DtorSlots,
    pub set_user_interface_language_code: unsafe extern "system" fn(*mut T, *const WChar),
}

// --- Strings ------------------------------------------------------------------------------

/// The longest NUL-terminated string read from the platform (a name or a locale); longer is
/// treated as absent rather than read on without end.
pub const MAX_NAME: usize = 1024;

/// A NUL-terminated UTF-16 string from the platform, at most [`MAX_NAME`] units, or `None`.
///
/// # Safety
/// `p` is null or points to a NUL-terminated UTF-16 string.
pub unsafe fn wide_name(p: *const WChar) -> Option<String> {
    if p.is_null() {
        return None;
    }
    let mut len = 0;
    while *p.add(len) != 0 {
        len += 1;
        if len > MAX_NAME {
            return None;
        }
    }
    String::from_utf16(std::slice::from_raw_parts(p, len)).ok()
}

/// `text` as UTF-16 with a terminating NUL.
pub fn to_wide_nul(text: &str) -> Vec<WChar> {
    text.encode_utf16().chain(std::iter::once(0)).collect()
}
