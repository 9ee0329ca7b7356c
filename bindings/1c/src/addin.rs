//! The `Client` class a 1C developer uses: its methods and properties, in Russian and English,
//! and what each does with suz-auth-core. The table in `bindings/1c/README.md` is this file's
//! [`METHODS`] and [`PROPS`].
//!
//! Every method is a function. On failure it records the error (properties `ErrorCode`,
//! `ErrorDescription`, `HttpStatus`), reports it with `AddError`, and returns false to the
//! platform, which raises an exception with that text in the calling 1C code. A successful call
//! clears the error properties.

use std::ffi::{c_long, c_void};

use suz_auth_core::{Acquired, Client, ErrorKind};

use crate::messages::{Failure, LanguageSettings};
use crate::native::{vt, Connection, MemoryManager, TVariant, WChar, ADDIN_E_FAIL};

/// The name given to `RegisterExtensionAs`, and the source of every `AddError`.
pub const EXTENSION_NAME: &str = "SuzAuth";

/// A method's or property's two names.
#[derive(Clone, Copy)]
pub struct Names {
    /// English (alias 0).
    pub en: &'static str,
    /// Russian (alias 1).
    pub ru: &'static str,
}

const fn names(en: &'static str, ru: &'static str) -> Names {
    Names { en, ru }
}

/// A read-only property.
pub struct Prop {
    pub names: Names,
}

/// The properties, in `GetPropName` order.
pub const PROPS: [Prop; 4] = [
    Prop {
        names: names("ErrorDescription", "ОписаниеОшибки"),
    },
    Prop {
        names: names("ErrorCode", "КодОшибки"),
    },
    Prop {
        names: names("HttpStatus", "HTTPСтатус"),
    },
    Prop {
        names: names("Version", "Версия"),
    },
];

/// A parameter's default, for a call that leaves it out.
#[derive(Clone, Copy)]
pub enum ParamDefault {
    /// Required.
    None,
    /// A string.
    Str(&'static str),
    /// A boolean.
    Bool(bool),
}

/// A method: its id, its names and its parameters' defaults (all are functions).
pub struct Method {
    pub id: MethodId,
    pub names: Names,
    pub params: &'static [ParamDefault],
}

impl ParamDefault {
    /// Writes the default into `out`; false for a required parameter.
    pub fn default_into(&self, out: &mut Out) -> bool {
        match *self {
            ParamDefault::None => false,
            ParamDefault::Str(s) => out.set_str(s),
            ParamDefault::Bool(b) => {
                out.set_bool(b);
                true
            }
        }
    }
}

use ParamDefault::{Bool, None as Required, Str};

/// Which method: what [`Addin::run`] dispatches on (exhaustively, so a method in [`METHODS`]
/// without code, or code for no method, does not build).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MethodId {
    Configure,
    AcquireToken,
    DataToSign,
    SignatureKind,
    CompleteToken,
    CancelToken,
    Token,
    InvalidateToken,
    Request,
    BeginRegistration,
    CompleteRegistration,
    RegisterConnection,
    Status,
}

/// The methods, in `GetMethodName` order: each one's id, names and parameters' defaults. A
/// method's number is its place here; its code is found by its id.
pub const METHODS: [Method; 13] = [
    Method {
        id: MethodId::Configure,
        names: names("Configure", "Настроить"),
        params: &[Required],
    },
    Method {
        id: MethodId::AcquireToken,
        names: names("AcquireToken", "ПолучитьТокен"),
        params: &[Required, Required],
    },
    Method {
        id: MethodId::DataToSign,
        names: names("DataToSign", "ДанныеДляПодписи"),
        params: &[Required],
    },
    Method {
        id: MethodId::SignatureKind,
        names: names("SignatureKind", "ВидПодписи"),
        params: &[Required],
    },
    Method {
        id: MethodId::CompleteToken,
        names: names("CompleteToken", "ЗавершитьПолучениеТокена"),
        params: &[Required, Required],
    },
    Method {
        id: MethodId::CancelToken,
        names: names("CancelToken", "ОтменитьПолучениеТокена"),
        params: &[Required],
    },
    Method {
        id: MethodId::Token,
        names: names("Token", "Токен"),
        params: &[Required],
    },
    Method {
        id: MethodId::InvalidateToken,
        names: names("InvalidateToken", "СброситьТокен"),
        params: &[Required, Required],
    },
    Method {
        id: MethodId::Request,
        names: names("Request", "Запрос"),
        params: &[Required, Required, Required, Str("")],
    },
    Method {
        id: MethodId::BeginRegistration,
        names: names("BeginRegistration", "НачатьРегистрациюУстановки"),
        params: &[Required, Required, Required],
    },
    Method {
        id: MethodId::CompleteRegistration,
        names: names("CompleteRegistration", "ЗавершитьРегистрациюУстановки"),
        params: &[Required, Required],
    },
    Method {
        id: MethodId::RegisterConnection,
        names: names("RegisterConnection", "ЗарегистрироватьУстановку"),
        params: &[Required, Required, Required, Bool(false)],
    },
    Method {
        id: MethodId::Status,
        names: names("Status", "СостояниеТокенов"),
        params: &[],
    },
];

/// The method with number `num`.
pub fn method(num: c_long) -> Option<&'static Method> {
    usize::try_from(num).ok().and_then(|n| METHODS.get(n))
}

/// The index of the entry named `name` in either language, case-insensitively (Cyrillic too).
pub fn find(all: impl Iterator<Item = Names>, name: &str) -> Option<usize> {
    let wanted = name.to_lowercase();
    all.into_iter()
        .position(|n| n.en.to_lowercase() == wanted || n.ru.to_lowercase() == wanted)
}

/// A `tVariant` the add-in writes (a return value, a property, an out-parameter), with the
/// platform's memory manager for what it allocates.
pub struct Out {
    memory: *mut MemoryManager,
    variant: *mut TVariant,
}

impl Out {
    /// `variant` is non-null and the platform's; `memory` is the platform's memory manager.
    pub fn new(memory: *mut MemoryManager, variant: *mut TVariant) -> Out {
        Out { memory, variant }
    }

    /// Frees a string or binary value the variant holds, before it is overwritten (the
    /// platform frees what a variant holds after the call, so the old block would be lost).
    fn release(&mut self) {
        // SAFETY: `variant` is the platform's live variant; a string or blob in it was
        // allocated with the platform's memory manager.
        unsafe {
            let v = &mut *self.variant;
            let old = match v.vt {
                vt::PWSTR => v.value.wstr.ptr.cast::<c_void>(),
                vt::BLOB => v.value.blob.ptr.cast::<c_void>(),
                _ => std::ptr::null_mut(),
            };
            MemoryManager::free(self.memory, old);
            v.vt = vt::EMPTY;
        }
    }

    pub fn set_empty(&mut self) {
        self.release();
    }

    pub fn set_bool(&mut self, b: bool) {
        self.release();
        // SAFETY: as in `release`.
        unsafe {
            (*self.variant).value.b = b;
            (*self.variant).vt = vt::BOOL;
        }
    }

    pub fn set_i32(&mut self, n: i32) {
        self.release();
        // SAFETY: as in `release`.
        unsafe {
            (*self.variant).value.i32 = n;
            (*self.variant).vt = vt::I4;
        }
    }

    /// A string in the platform's memory; false when it cannot allocate.
    pub fn set_str(&mut self, s: &str) -> bool {
        let wide: Vec<WChar> = s.encode_utf16().collect();
        let Ok(len) = u32::try_from(wide.len()) else {
            return false;
        };
        // SAFETY: the platform's memory manager.
        let Some(p) = (unsafe { MemoryManager::alloc_wstr(self.memory, &wide) }) else {
            return false;
        };
        self.release();
        // SAFETY: as in `release`.
        unsafe {
            (*self.variant).value.wstr.ptr = p;
            (*self.variant).value.wstr.len = len;
            (*self.variant).vt = vt::PWSTR;
        }
        true
    }

    /// Binary data (`ДвоичныеДанные`) in the platform's memory; false when it cannot allocate.
    pub fn set_blob(&mut self, bytes: &[u8]) -> bool {
        let Ok(len) = u32::try_from(bytes.len()) else {
            return false;
        };
        // SAFETY: the platform's memory manager.
        let Some(p) = (unsafe { MemoryManager::alloc(self.memory, bytes.len()) }) else {
            return false;
        };
        // SAFETY: `p` has room for `bytes.len()` bytes.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len()) };
        self.release();
        // SAFETY: as in `release`.
        unsafe {
            (*self.variant).value.blob.ptr = p;
            (*self.variant).value.blob.len = len;
            (*self.variant).vt = vt::BLOB;
        }
        true
    }
}

/// What a method returns to 1C.
enum Value {
    Undefined,
    Bool(bool),
    Str(String),
    Blob(Vec<u8>),
}

/// The longest string or binary parameter read (a configuration, a signature, a request body).
const MAX_PARAM: usize = 16 << 20;

/// Reads parameter `i` of a call: 1C's values as Rust ones, with errors that name it.
struct Params<'a> {
    method: &'static Method,
    params: &'a mut [TVariant],
}

/// A wrong parameter: `what` names it (the method's and parameter's 1C names, the same in
/// both languages), `why` is said in English and Russian.
fn bad(what: &str, why_en: &str, why_ru: &str) -> Failure {
    Failure::invalid_argument(format!("{what}: {why_en}"), format!("{what}: {why_ru}"))
}

impl Params<'_> {
    fn get(&self, i: usize, what: &str) -> Result<&TVariant, Failure> {
        self.params
            .get(i)
            .ok_or_else(|| bad(what, "the parameter was not passed", "параметр не передан"))
    }

    /// A string parameter (`Строка`).
    fn text(&self, i: usize, what: &str) -> Result<String, Failure> {
        let v = self.get(i, what)?;
        if v.vt != vt::PWSTR {
            return Err(bad(
                what,
                "must be a string (Строка)",
                "должен быть строкой (Строка)",
            ));
        }
        // SAFETY: vt says the union holds a wide string of `len` units.
        let units = unsafe { wide_units(v.value.wstr.ptr, v.value.wstr.len) }.ok_or_else(|| {
            bad(
                what,
                "the string is longer than 16 MiB or has no data",
                "строка длиннее 16 МиБ или без данных",
            )
        })?;
        String::from_utf16(units).map_err(|_| {
            Failure::own(
                ErrorKind::InvalidUtf8,
                format!("{what}: the string is not valid UTF-16"),
                format!("{what}: строка — не UTF-16"),
            )
        })
    }

    /// A signature or other bytes: `ДвоичныеДанные`, or a string (its UTF-8 bytes, e.g.
    /// `Base64Строка(...)`).
    fn bytes(&self, i: usize, what: &str) -> Result<Vec<u8>, Failure> {
        let v = self.get(i, what)?;
        match v.vt {
            vt::BLOB => {
                let (p, len) = unsafe { (v.value.blob.ptr, v.value.blob.len as usize) };
                if len > MAX_PARAM {
                    return Err(bad(
                        what,
                        "the binary data is longer than 16 MiB",
                        "двоичные данные длиннее 16 МиБ",
                    ));
                }
                if len == 0 {
                    return Ok(Vec::new());
                }
                if p.is_null() {
                    return Err(bad(
                        what,
                        "the binary data has no data",
                        "двоичные данные без данных",
                    ));
                }
                // SAFETY: vt says the union holds `len` bytes at `p`.
                Ok(unsafe { std::slice::from_raw_parts(p, len) }.to_vec())
            }
            vt::PWSTR => Ok(self.text(i, what)?.into_bytes()),
            _ => Err(bad(
                what,
                "must be binary data (ДвоичныеДанные) or a Base64 string",
                "должна быть двоичными данными (ДвоичныеДанные) или строкой Base64",
            )),
        }
    }

    /// A boolean (`Булево`; a number is true when non-zero).
    fn flag(&self, i: usize, what: &str) -> Result<bool, Failure> {
        let v = self.get(i, what)?;
        // SAFETY: each arm reads the union member vt names.
        unsafe {
            match v.vt {
                vt::BOOL => Ok(v.value.b),
                vt::I1 => Ok(v.value.i8 != 0),
                vt::I2 => Ok(v.value.i16 != 0),
                vt::I4 => Ok(v.value.i32 != 0),
                vt::I8 => Ok(v.value.i64 != 0),
                vt::UI1 => Ok(v.value.u8 != 0),
                vt::UI2 => Ok(v.value.u16 != 0),
                vt::UI4 => Ok(v.value.u32 != 0),
                vt::UI8 => Ok(v.value.u64 != 0),
                vt::R4 => Ok(v.value.f32 != 0.0),
                vt::R8 => Ok(v.value.f64 != 0.0),
                vt::EMPTY | vt::NULL => Ok(false),
                _ => Err(bad(
                    what,
                    "must be a boolean (Булево)",
                    "должен быть булевым (Булево)",
                )),
            }
        }
    }

    fn count_ok(&self) -> Result<(), Failure> {
        let want = self.method.params.len();
        let got = self.params.len();
        if got != want {
            return Err(Failure::invalid_argument(
                format!(
                    "{}: takes {want} parameters, {got} were passed",
                    self.method.names.en
                ),
                format!(
                    "{}: параметров должно быть {want}, передано {got}",
                    self.method.names.ru
                ),
            ));
        }
        Ok(())
    }
}

/// A string's units, when it is at most [`MAX_PARAM`] bytes.
///
/// # Safety
/// `p` points to `len` units, or `len` is 0.
unsafe fn wide_units<'a>(p: *const WChar, len: u32) -> Option<&'a [WChar]> {
    let len = len as usize;
    if len == 0 {
        return Some(&[]);
    }
    if p.is_null() || len > MAX_PARAM / 2 {
        return None;
    }
    Some(std::slice::from_raw_parts(p, len))
}

/// The last call's error, as the properties show it.
#[derive(Default)]
struct LastError {
    code: u32,
    text: String,
    http_status: u16,
}

/// One `Client` object's state.
#[derive(Default)]
pub struct Addin {
    client: Option<Client>,
    last: LastError,
    /// What the platform said about its language: the language of every error text.
    pub language: LanguageSettings,
}

impl Addin {
    /// `Done`: the platform is finished with the object.
    pub fn done(&mut self) {
        self.client = None;
    }

    /// Property `num` into `out`.
    pub fn get_prop(&mut self, num: usize, out: &mut Out) -> bool {
        match num {
            0 => out.set_str(&self.last.text),
            1 => {
                out.set_i32(self.last.code as i32);
                true
            }
            2 => {
                out.set_i32(i32::from(self.last.http_status));
                true
            }
            3 => out.set_str(env!("CARGO_PKG_VERSION")),
            _ => false,
        }
    }

    fn client(&self) -> Result<&Client, Failure> {
        self.client.as_ref().ok_or_else(|| {
            Failure::invalid_argument(
                "the component is not configured: call Настроить (Configure) with the configuration JSON first",
                "компонента не настроена: сначала вызовите Настроить (Configure) с настройками JSON",
            )
        })
    }

    /// Runs method `num` on the platform's parameters; its value goes to `ret` (a function
    /// call) or is dropped (a procedure call). False, with the error recorded and reported to
    /// the platform, on failure.
    pub fn call(
        &mut self,
        memory: *mut MemoryManager,
        connection: *mut Connection,
        num: c_long,
        params: &mut [TVariant],
        ret: Option<&mut Out>,
    ) -> bool {
        let Some(method) = method(num) else {
            return false;
        };
        let mut params = Params { method, params };
        let result = params
            .count_ok()
            .and_then(|()| self.run(method.id, memory, &mut params));
        match result {
            Ok((value, http_status)) => {
                self.last = LastError {
                    http_status,
                    ..LastError::default()
                };
                let Some(out) = ret else {
                    return true;
                };
                let written = match value {
                    Value::Undefined => {
                        out.set_empty();
                        true
                    }
                    Value::Bool(b) => {
                        out.set_bool(b);
                        true
                    }
                    Value::Str(s) => out.set_str(&s),
                    Value::Blob(b) => out.set_blob(&b),
                };
                if !written {
                    self.fail(connection, out_of_memory(method));
                }
                written
            }
            Err(e) => {
                self.fail(connection, e);
                false
            }
        }
    }

    fn fail(&mut self, connection: *mut Connection, e: Failure) {
        let code = e.kind().code();
        let text = e.text(self.language.language());
        // SAFETY: the platform's connection from `Init` (or null: nothing is reported).
        unsafe {
            Connection::add_error(connection, ADDIN_E_FAIL, EXTENSION_NAME, &text, code as i32)
        };
        self.last = LastError {
            code,
            text,
            http_status: e.http_status(),
        };
    }

    fn run(
        &mut self,
        id: MethodId,
        memory: *mut MemoryManager,
        p: &mut Params,
    ) -> Result<(Value, u16), Failure> {
        let value = match id {
            MethodId::Configure => {
                let json = p.text(0, "Настроить: Конфигурация")?;
                self.client = Some(Client::from_json(&json)?);
                Value::Bool(true)
            }
            MethodId::AcquireToken => {
                let profile = p.text(0, "ПолучитьТокен: Профиль")?;
                match self.client()?.token_acquire(&profile)? {
                    Acquired::Token(t) => {
                        write_param(p, memory, 1, &Value::Str(String::new()))?;
                        Value::Str(t.value().to_owned())
                    }
                    Acquired::Pending(mut pending) => {
                        let state = match pending.export() {
                            Ok(state) => state,
                            Err(e) => {
                                let _ = self.client()?.token_release(&pending);
                                return Err(e.into());
                            }
                        };
                        if let Err(e) = write_param(p, memory, 1, &Value::Str(state)) {
                            // The caller cannot get the state: give the lease back.
                            let _ = self.client()?.token_release(&pending);
                            return Err(e);
                        }
                        Value::Undefined
                    }
                }
            }
            MethodId::DataToSign => {
                let state = p.text(0, "ДанныеДляПодписи: Состояние")?;
                Value::Blob(self.client()?.pending_import(&state)?.data().to_vec())
            }
            MethodId::SignatureKind => {
                let state = p.text(0, "ВидПодписи: Состояние")?;
                let kind = self.client()?.pending_import(&state)?.kind();
                Value::Str(kind.name().to_owned())
            }
            MethodId::CompleteToken => {
                let state = p.text(0, "ЗавершитьПолучениеТокена: Состояние")?;
                let signature = p.bytes(1, "ЗавершитьПолучениеТокена: Подпись")?;
                let client = self.client()?;
                let pending = client.pending_import(&state)?;
                Value::Str(
                    client
                        .token_complete(&pending, &signature)?
                        .value()
                        .to_owned(),
                )
            }
            MethodId::CancelToken => {
                let state = p.text(0, "ОтменитьПолучениеТокена: Состояние")?;
                let client = self.client()?;
                client.token_release(&client.pending_import(&state)?)?;
                Value::Bool(true)
            }
            MethodId::Status => Value::Str(self.client()?.status()?.to_string()),
            MethodId::Token => {
                let profile = p.text(0, "Токен: Профиль")?;
                Value::Str(self.client()?.token_get(&profile)?.value().to_owned())
            }
            MethodId::InvalidateToken => {
                let profile = p.text(0, "СброситьТокен: Профиль")?;
                let token = p.text(1, "СброситьТокен: Токен")?;
                Value::Bool(self.client()?.token_invalidate(&profile, &token)?)
            }
            MethodId::Request => {
                let profile = p.text(0, "Запрос: Профиль")?;
                let method = p.text(1, "Запрос: Метод")?;
                let path = p.text(2, "Запрос: Путь")?;
                let body = p.text(3, "Запрос: Тело")?;
                let body = (!body.is_empty()).then_some(body.as_bytes());
                let response = self.client()?.request(&profile, &method, &path, body)?;
                let text = String::from_utf8_lossy(&response.body).into_owned();
                return Ok((Value::Str(text), response.status));
            }
            MethodId::BeginRegistration => {
                let oms_id = p.text(0, "НачатьРегистрациюУстановки: ИдентификаторСУЗ")?;
                let key = p.text(1, "НачатьРегистрациюУстановки: КлючРегистрации")?;
                let address = p.text(2, "НачатьРегистрациюУстановки: Адрес")?;
                let mut pending = self.client()?.register_begin(&oms_id, &key, &address)?;
                Value::Str(pending.export()?)
            }
            MethodId::CompleteRegistration => {
                let state = p.text(0, "ЗавершитьРегистрациюУстановки: Состояние")?;
                let signature = p.bytes(1, "ЗавершитьРегистрациюУстановки: Подпись")?;
                let client = self.client()?;
                let pending = client.pending_import(&state)?;
                Value::Str(client.register_finish(&pending, &signature)?)
            }
            MethodId::RegisterConnection => {
                let oms_id = p.text(0, "ЗарегистрироватьУстановку: ИдентификаторСУЗ")?;
                let key = p.text(1, "ЗарегистрироватьУстановку: КлючРегистрации")?;
                let address = p.text(2, "ЗарегистрироватьУстановку: Адрес")?;
                let pharma = p.flag(3, "ЗарегистрироватьУстановку: БезПодписи")?;
                let client = self.client()?;
                Value::Str(client.register_connection(&oms_id, &key, &address, pharma, None)?)
            }
        };
        Ok((value, 0))
    }
}

/// Writes `value` into parameter `i` (an out-parameter: the 1C variable passed there).
fn write_param(
    p: &mut Params,
    memory: *mut MemoryManager,
    i: usize,
    value: &Value,
) -> Result<(), Failure> {
    let method = p.method;
    let variant = p.params.get_mut(i).ok_or_else(|| {
        bad(
            method.names.ru,
            "the out-parameter was not passed",
            "выходной параметр не передан",
        )
    })?;
    let mut out = Out::new(memory, variant);
    let written = match value {
        Value::Str(s) => out.set_str(s),
        _ => {
            out.set_empty();
            true
        }
    };
    if written {
        Ok(())
    } else {
        Err(out_of_memory(method))
    }
}

fn out_of_memory(method: &Method) -> Failure {
    Failure::invalid_argument(
        format!(
            "{}: the platform's memory manager refused to allocate the result (too large?)",
            method.names.ru
        ),
        format!(
            "{}: менеджер памяти платформы не выделил память под результат (слишком большой?)",
            method.names.ru
        ),
    )
}
