//! suz-auth as a 1C:Enterprise add-in (Native API technology).
//!
//! The platform loads this library from a common template (`ПодключитьВнешнююКомпоненту`),
//! asks [`GetClassNames`] for its one class, `Client`, and makes objects of it with
//! [`GetClassObject`] (`Новый("AddIn.<name>.Client")`). Everything a 1C developer calls is in
//! [`addin`]: methods and properties with Russian and English names. This file is the
//! boundary: the five exported functions and the object's four C++ interfaces, each entry
//! point catching panics, checking its pointers, and handing the platform only memory from its
//! own memory manager.
//!
//! The vtables are written here rather than taken from the `addin1c` crate: that crate's
//! connection wrapper does not expose `AddError` (which is how this add-in reports a failure),
//! its entry points do not catch panics, and its layout has no compile-time check per target.

mod addin;
mod messages;
mod native;

use std::ffi::{c_long, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use addin::Addin;
use native::{
    Connection, InitDoneVtbl, LanguageExtenderVtbl, LocaleVtbl, MemoryManager, TVariant,
    UserLanguageVtbl, WChar, NO_DTOR,
};

/// The one class: `Client`.
const CLASS_NAME: &str = "Client";
/// `GetClassNames`'s answer, NUL-terminated UTF-16 (static: the platform does not free it).
static CLASS_NAMES: [WChar; 7] = [
    b'C' as u16,
    b'l' as u16,
    b'i' as u16,
    b'e' as u16,
    b'n' as u16,
    b't' as u16,
    0,
];

/// An add-in object as the platform sees a C++ `IComponentBase`: four interface pointers
/// (one per base class), then this add-in's state.
#[repr(C)]
struct Object {
    init_done: &'static InitDoneVtbl<c_void>,
    language: &'static LanguageExtenderVtbl<c_void>,
    locale: &'static LocaleVtbl<c_void>,
    user_language: &'static UserLanguageVtbl<c_void>,
    memory: *mut MemoryManager,
    connection: *mut Connection,
    addin: Addin,
}

const AT_INIT_DONE: usize = std::mem::offset_of!(Object, init_done);
const AT_LANGUAGE: usize = std::mem::offset_of!(Object, language);
const AT_LOCALE: usize = std::mem::offset_of!(Object, locale);
const AT_USER_LANGUAGE: usize = std::mem::offset_of!(Object, user_language);

static INIT_DONE: InitDoneVtbl<c_void> = InitDoneVtbl {
    dtor: NO_DTOR,
    init,
    set_mem_manager,
    get_info,
    done,
};

static LANGUAGE: LanguageExtenderVtbl<c_void> = LanguageExtenderVtbl {
    dtor: NO_DTOR,
    register_extension_as,
    get_n_props,
    find_prop,
    get_prop_name,
    get_prop_val,
    set_prop_val,
    is_prop_readable,
    is_prop_writable,
    get_n_methods,
    find_method,
    get_method_name,
    get_n_params,
    get_param_def_value,
    has_ret_val,
    call_as_proc,
    call_as_func,
};

static LOCALE: LocaleVtbl<c_void> = LocaleVtbl {
    dtor: NO_DTOR,
    set_locale,
};

static USER_LANGUAGE: UserLanguageVtbl<c_void> = UserLanguageVtbl {
    dtor: NO_DTOR,
    set_user_interface_language_code,
};

/// Runs `f` on the object behind an interface pointer `this` (at `offset` in [`Object`]);
/// `fallback` when `this` is null or `f` panicked. No panic leaves this function.
fn with_object<R>(
    this: *mut c_void,
    offset: usize,
    fallback: R,
    f: impl FnOnce(&mut Object) -> R,
) -> R {
    if this.is_null() {
        return fallback;
    }
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the platform calls an interface method with the interface pointer this
        // library handed out, which is `offset` bytes into a live `Object`.
        let object = unsafe { &mut *this.cast::<u8>().sub(offset).cast::<Object>() };
        f(object)
    }))
    .unwrap_or(fallback)
}

// --- IInitDoneBase ------------------------------------------------------------------------

unsafe extern "system" fn init(this: *mut c_void, connection: *mut c_void) -> bool {
    with_object(this, AT_INIT_DONE, false, |o| {
        o.connection = connection.cast();
        true
    })
}

unsafe extern "system" fn set_mem_manager(this: *mut c_void, memory: *mut c_void) -> bool {
    with_object(this, AT_INIT_DONE, false, |o| {
        o.memory = memory.cast();
        !memory.is_null()
    })
}

/// The Native API version this object implements (2000: properties, methods, locale).
unsafe extern "system" fn get_info(this: *mut c_void) -> c_long {
    with_object(this, AT_INIT_DONE, 2000, |_| 2000)
}

unsafe extern "system" fn done(this: *mut c_void) {
    with_object(this, AT_INIT_DONE, (), |o| o.addin.done())
}

// --- ILanguageExtenderBase ----------------------------------------------------------------

unsafe extern "system" fn register_extension_as(this: *mut c_void, out: *mut *mut WChar) -> bool {
    with_object(this, AT_LANGUAGE, false, |o| {
        if out.is_null() {
            return false;
        }
        let name: Vec<WChar> = addin::EXTENSION_NAME.encode_utf16().collect();
        // SAFETY: `o.memory` is the platform's memory manager (or null: refused).
        match unsafe { MemoryManager::alloc_wstr(o.memory, &name) } {
            Some(p) => {
                // SAFETY: `out` is non-null, from the platform.
                unsafe { *out = p };
                true
            }
            None => false,
        }
    })
}

unsafe extern "system" fn get_n_props(this: *mut c_void) -> c_long {
    with_object(this, AT_LANGUAGE, 0, |_| addin::PROPS.len() as c_long)
}

/// `FindProp` and `FindMethod`: the index of `name` among `all`, or -1.
fn find_in(
    this: *mut c_void,
    name: *const WChar,
    all: impl Iterator<Item = addin::Names>,
) -> c_long {
    with_object(this, AT_LANGUAGE, -1, |_| {
        // SAFETY: the platform passes a NUL-terminated name (or null).
        let name = unsafe { native::wide_name(name) };
        name.and_then(|n| addin::find(all, &n))
            .map_or(-1, |i| i as c_long)
    })
}

unsafe extern "system" fn find_prop(this: *mut c_void, name: *const WChar) -> c_long {
    find_in(this, name, addin::PROPS.iter().map(|p| p.names))
}

/// A name of property or method `num` (alias 0: English, 1: Russian) in the platform's memory.
fn name_of(o: &Object, names: Option<addin::Names>, alias: c_long) -> *const WChar {
    let Some(names) = names else {
        return ptr::null();
    };
    let name = if alias == 0 { names.en } else { names.ru };
    let wide: Vec<WChar> = name.encode_utf16().collect();
    // SAFETY: `o.memory` is the platform's memory manager (or null: refused).
    unsafe { MemoryManager::alloc_wstr(o.memory, &wide) }.map_or(ptr::null(), |p| p.cast_const())
}

unsafe extern "system" fn get_prop_name(
    this: *mut c_void,
    num: c_long,
    alias: c_long,
) -> *const WChar {
    with_object(this, AT_LANGUAGE, ptr::null(), |o| {
        let names = usize::try_from(num)
            .ok()
            .and_then(|n| addin::PROPS.get(n))
            .map(|p| p.names);
        name_of(o, names, alias)
    })
}

unsafe extern "system" fn get_prop_val(
    this: *mut c_void,
    num: c_long,
    value: *mut TVariant,
) -> bool {
    with_object(this, AT_LANGUAGE, false, |o| {
        let Ok(num) = usize::try_from(num) else {
            return false;
        };
        if value.is_null() {
            return false;
        }
        let mut out = addin::Out::new(o.memory, value);
        o.addin.get_prop(num, &mut out)
    })
}

unsafe extern "system" fn set_prop_val(
    this: *mut c_void,
    _num: c_long,
    _value: *mut TVariant,
) -> bool {
    // Every property is read-only.
    with_object(this, AT_LANGUAGE, false, |_| false)
}

unsafe extern "system" fn is_prop_readable(this: *mut c_void, num: c_long) -> bool {
    with_object(this, AT_LANGUAGE, false, |_| {
        usize::try_from(num).is_ok_and(|n| n < addin::PROPS.len())
    })
}

unsafe extern "system" fn is_prop_writable(this: *mut c_void, _num: c_long) -> bool {
    with_object(this, AT_LANGUAGE, false, |_| false)
}

unsafe extern "system" fn get_n_methods(this: *mut c_void) -> c_long {
    with_object(this, AT_LANGUAGE, 0, |_| addin::METHODS.len() as c_long)
}

unsafe extern "system" fn find_method(this: *mut c_void, name: *const WChar) -> c_long {
    find_in(this, name, addin::METHODS.iter().map(|m| m.names))
}

unsafe extern "system" fn get_method_name(
    this: *mut c_void,
    num: c_long,
    alias: c_long,
) -> *const WChar {
    with_object(this, AT_LANGUAGE, ptr::null(), |o| {
        name_of(o, addin::method(num).map(|m| m.names), alias)
    })
}

unsafe extern "system" fn get_n_params(this: *mut c_void, num: c_long) -> c_long {
    with_object(this, AT_LANGUAGE, 0, |_| {
        addin::method(num).map_or(0, |m| m.params.len() as c_long)
    })
}

unsafe extern "system" fn get_param_def_value(
    this: *mut c_void,
    num: c_long,
    param: c_long,
    value: *mut TVariant,
) -> bool {
    with_object(this, AT_LANGUAGE, false, |o| {
        let Some(param) = addin::method(num)
            .zip(usize::try_from(param).ok())
            .and_then(|(m, p)| m.params.get(p))
        else {
            return false;
        };
        if value.is_null() {
            return false;
        }
        let mut out = addin::Out::new(o.memory, value);
        param.default_into(&mut out)
    })
}

unsafe extern "system" fn has_ret_val(this: *mut c_void, num: c_long) -> bool {
    with_object(this, AT_LANGUAGE, false, |_| addin::method(num).is_some())
}

/// The platform's parameter array as a slice (empty when there is none).
///
/// # Safety
/// `params` is null or points to `count` variants.
unsafe fn params_of<'a>(params: *mut TVariant, count: c_long) -> Option<&'a mut [TVariant]> {
    let count = usize::try_from(count).ok()?;
    if count == 0 {
        return Some(&mut []);
    }
    if params.is_null() {
        return None;
    }
    Some(std::slice::from_raw_parts_mut(params, count))
}

unsafe extern "system" fn call_as_proc(
    this: *mut c_void,
    num: c_long,
    params: *mut TVariant,
    count: c_long,
) -> bool {
    with_object(this, AT_LANGUAGE, false, |o| {
        // SAFETY: the platform passes `count` variants.
        let Some(params) = (unsafe { params_of(params, count) }) else {
            return false;
        };
        o.addin.call(o.memory, o.connection, num, params, None)
    })
}

unsafe extern "system" fn call_as_func(
    this: *mut c_void,
    num: c_long,
    ret: *mut TVariant,
    params: *mut TVariant,
    count: c_long,
) -> bool {
    with_object(this, AT_LANGUAGE, false, |o| {
        // SAFETY: the platform passes `count` variants.
        let Some(params) = (unsafe { params_of(params, count) }) else {
            return false;
        };
        if ret.is_null() {
            return false;
        }
        let mut out = addin::Out::new(o.memory, ret);
        o.addin
            .call(o.memory, o.connection, num, params, Some(&mut out))
    })
}

// --- LocaleBase, UserLanguageBase ---------------------------------------------------------

/// The platform's locale (`ru_RU`): the language of error texts when the platform sends no
/// interface language (before 8.3.21).
unsafe extern "system" fn set_locale(this: *mut c_void, locale: *const WChar) {
    with_object(this, AT_LOCALE, (), |o| {
        // SAFETY: the platform passes a NUL-terminated string (or null: nothing changes).
        if let Some(code) = unsafe { native::wide_name(locale) } {
            o.addin.language.locale = messages::Language::from_code(&code);
        }
    })
}

/// The user's interface language (`ru`, `en`): the language of error texts.
unsafe extern "system" fn set_user_interface_language_code(this: *mut c_void, code: *const WChar) {
    with_object(this, AT_USER_LANGUAGE, (), |o| {
        // SAFETY: the platform passes a NUL-terminated string (or null: nothing changes).
        if let Some(code) = unsafe { native::wide_name(code) } {
            o.addin.language.interface = messages::Language::from_code(&code);
        }
    })
}

// --- The five exports ---------------------------------------------------------------------

/// The classes this library makes, `|`-separated: `Client`.
#[no_mangle]
pub extern "C" fn GetClassNames() -> *const WChar {
    CLASS_NAMES.as_ptr()
}

/// Makes an object of class `name` into `*out`; non-zero on success.
///
/// # Safety
/// `name` is null or a NUL-terminated UTF-16 string; `out` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn GetClassObject(name: *const WChar, out: *mut *mut c_void) -> c_long {
    catch_unwind(|| {
        if out.is_null() {
            return 0;
        }
        // SAFETY: as the function's contract.
        let known =
            unsafe { native::wide_name(name) }.is_some_and(|n| n.eq_ignore_ascii_case(CLASS_NAME));
        if !known {
            // SAFETY: `out` is non-null and writable.
            unsafe { *out = ptr::null_mut() };
            return 0;
        }
        let object = Box::new(Object {
            init_done: &INIT_DONE,
            language: &LANGUAGE,
            locale: &LOCALE,
            user_language: &USER_LANGUAGE,
            memory: ptr::null_mut(),
            connection: ptr::null_mut(),
            addin: Addin::default(),
        });
        // SAFETY: `out` is non-null and writable.
        unsafe { *out = Box::into_raw(object).cast::<u8>().add(AT_INIT_DONE).cast() };
        1
    })
    .unwrap_or(0)
}

/// Destroys an object made by [`GetClassObject`] and sets `*object` to null; 0 on success.
///
/// # Safety
/// `object` is null, or points to null or to an object from [`GetClassObject`] not yet
/// destroyed.
#[no_mangle]
pub unsafe extern "C" fn DestroyObject(object: *mut *mut c_void) -> c_long {
    catch_unwind(|| {
        // SAFETY: as the function's contract.
        let Some(p) = (unsafe { object.as_mut() }) else {
            return -1;
        };
        if p.is_null() {
            return -1;
        }
        // SAFETY: `*p` is the `IComponentBase` pointer `GetClassObject` gave out.
        drop(unsafe { Box::from_raw(p.cast::<u8>().sub(AT_INIT_DONE).cast::<Object>()) });
        *p = ptr::null_mut();
        0
    })
    .unwrap_or(-1)
}

/// `AppCapabilities`: the platform says what it supports; this add-in needs nothing beyond the
/// first level, and says so.
#[no_mangle]
pub extern "C" fn SetPlatformCapabilities(_capabilities: i32) -> i32 {
    1
}

/// `AttachType`: `eCanAttachAny` (3) — in the platform's process or isolated in its own.
#[no_mangle]
pub extern "C" fn GetAttachType() -> i32 {
    3
}
