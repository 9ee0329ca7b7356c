/*
 * A mock 1C:Enterprise platform: loads the add-in as the platform does (dlopen / LoadLibrary,
 * GetClassNames, GetClassObject, setMemManager, Init with a connection that records AddError,
 * SetLocale and SetUserInterfaceLanguageCode (the user's language), RegisterExtensionAs, properties and methods found by name, GetNParams, GetParamDefValue,
 * HasRetVal, CallAsFunc / CallAsProc with UTF-16 strings and binary data in tVariants,
 * DestroyObject) and drives every flow against the emulator.
 *
 * Its memory manager records every block: every pointer the add-in hands over (names, strings,
 * binary data) must be one of its blocks, every block is freed by the end, and nothing is freed
 * twice or that it did not allocate.
 *
 * C, not C++: the interfaces are written as vtables by hand, one destructor slot on Windows
 * (MSVC's layout, which the platform uses) and two elsewhere (GCC's).
 *
 * Usage: mock_1c COMPONENT CONFIG_JSON_FILE SIGN_COMMAND [--server-signer]
 * Run in a work directory: data to sign is written to ./sign-N.bin and SIGN_COMMAND is run with
 * "sign-N.bin sign-N.der" appended; it must leave a detached DER CMS in ./sign-N.der (written
 * under another name and renamed, as the host polls for it).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef _WIN32
#include <windows.h>
#define ADDIN_API __stdcall
#define DTORS 1
#else
#include <dlfcn.h>
#include <unistd.h>
#define ADDIN_API
#define DTORS 2
#endif

typedef uint16_t WCHAR_T;

/* ---- tVariant, as types.h lays it out ---- */
enum {
    VTYPE_EMPTY = 0, VTYPE_I4 = 3, VTYPE_R8 = 5, VTYPE_BOOL = 11, VTYPE_PWSTR = 22,
    VTYPE_BLOB = 23
};

typedef struct {
    union {
        int32_t lVal;
        double dblVal;
        bool bVal;
        struct tm tmVal;
        struct { void *pInterfaceVal; uint8_t InterfaceID[16]; } iface;
        struct { char *pstrVal; uint32_t strLen; } str;
        struct { WCHAR_T *pwstrVal; uint32_t wstrLen; } wstr;
    } u;
    uint32_t cbElements;
    uint16_t vt;
} tVariant;

#if defined(_WIN32)
_Static_assert(sizeof(tVariant) == 48, "tVariant is 48 bytes on Windows");
#elif defined(__x86_64__)
_Static_assert(sizeof(tVariant) == 64, "tVariant is 64 bytes on Linux x86_64");
#endif

/* ---- the platform's side: memory manager and connection ---- */
typedef struct MemoryManager MemoryManager;
typedef struct {
    void *dtor[DTORS];
    bool (ADDIN_API *AllocMemory)(MemoryManager *self, void **p, unsigned long n);
    void (ADDIN_API *FreeMemory)(MemoryManager *self, void **p);
} MemoryManagerVtbl;
struct MemoryManager { const MemoryManagerVtbl *vtbl; };

#define MAX_BLOCKS 4096
static void *blocks[MAX_BLOCKS];
static size_t allocations, frees, foreign_frees, foreign_pointers;

static int block_index(const void *p)
{
    for (int i = 0; i < MAX_BLOCKS; i++)
        if (p && blocks[i] == p) return i;
    return -1;
}

static bool ADDIN_API mm_alloc(MemoryManager *self, void **p, unsigned long n)
{
    (void)self;
    int free_slot = block_index(NULL);
    for (int i = 0; i < MAX_BLOCKS && free_slot < 0; i++)
        if (!blocks[i]) free_slot = i;
    if (free_slot < 0 || n == 0) return false;
    *p = malloc(n);
    if (!*p) return false;
    blocks[free_slot] = *p;
    allocations++;
    return true;
}

static void ADDIN_API mm_free(MemoryManager *self, void **p)
{
    (void)self;
    if (!p || !*p) return;
    int i = block_index(*p);
    if (i < 0) { foreign_frees++; return; }
    blocks[i] = NULL;
    free(*p);
    *p = NULL;
    frees++;
}

static const MemoryManagerVtbl mm_vtbl = {{0}, mm_alloc, mm_free};
static MemoryManager memory = {&mm_vtbl};

/* The platform frees what the add-in gave it; a pointer that is not its block is counted. */
static void platform_free(void *p)
{
    if (!p) return;
    if (block_index(p) < 0) { foreign_pointers++; return; }
    mm_free(&memory, &p);
}

typedef struct Connection Connection;
typedef struct {
    void *dtor[DTORS];
    bool (ADDIN_API *AddError)(Connection *, unsigned short, const WCHAR_T *, const WCHAR_T *, long);
    void *rest[9];
} ConnectionVtbl;
struct Connection { const ConnectionVtbl *vtbl; };

static int errors_added;
static unsigned short last_wcode;
static long last_scode;
static char last_error[4096], last_source[64];

static void narrow(const WCHAR_T *w, size_t len, char *out, size_t cap);

static size_t wlen(const WCHAR_T *w)
{
    size_t n = 0;
    while (w && w[n]) n++;
    return n;
}

static bool ADDIN_API conn_add_error(Connection *self, unsigned short wcode, const WCHAR_T *source,
                                     const WCHAR_T *descr, long scode)
{
    (void)self;
    errors_added++;
    last_wcode = wcode;
    last_scode = scode;
    narrow(source, wlen(source), last_source, sizeof last_source);
    narrow(descr, wlen(descr), last_error, sizeof last_error);
    return true;
}

static const ConnectionVtbl conn_vtbl = {{0}, conn_add_error, {0}};
static Connection connection = {&conn_vtbl};

/* ---- the add-in's side: IComponentBase's four interfaces ---- */
typedef struct {
    void *dtor[DTORS];
    bool (ADDIN_API *Init)(void *self, void *disp);
    bool (ADDIN_API *setMemManager)(void *self, void *mem);
    long (ADDIN_API *GetInfo)(void *self);
    void (ADDIN_API *Done)(void *self);
} InitDoneVtbl;

typedef struct {
    void *dtor[DTORS];
    bool (ADDIN_API *RegisterExtensionAs)(void *self, WCHAR_T **name);
    long (ADDIN_API *GetNProps)(void *self);
    long (ADDIN_API *FindProp)(void *self, const WCHAR_T *name);
    const WCHAR_T *(ADDIN_API *GetPropName)(void *self, long num, long alias);
    bool (ADDIN_API *GetPropVal)(void *self, long num, tVariant *val);
    bool (ADDIN_API *SetPropVal)(void *self, long num, tVariant *val);
    bool (ADDIN_API *IsPropReadable)(void *self, long num);
    bool (ADDIN_API *IsPropWritable)(void *self, long num);
    long (ADDIN_API *GetNMethods)(void *self);
    long (ADDIN_API *FindMethod)(void *self, const WCHAR_T *name);
    const WCHAR_T *(ADDIN_API *GetMethodName)(void *self, long num, long alias);
    long (ADDIN_API *GetNParams)(void *self, long num);
    bool (ADDIN_API *GetParamDefValue)(void *self, long num, long param, tVariant *val);
    bool (ADDIN_API *HasRetVal)(void *self, long num);
    bool (ADDIN_API *CallAsProc)(void *self, long num, tVariant *params, long count);
    bool (ADDIN_API *CallAsFunc)(void *self, long num, tVariant *ret, tVariant *params, long count);
} LanguageExtenderVtbl;

/* LocaleBase and UserLanguageBase: one method each. */
typedef struct {
    void *dtor[DTORS];
    void (ADDIN_API *SetLocale)(void *self, const WCHAR_T *locale);
} LocaleVtbl;

typedef struct {
    void *dtor[DTORS];
    void (ADDIN_API *SetUserInterfaceLanguageCode)(void *self, const WCHAR_T *code);
} UserLanguageVtbl;

typedef struct { void *vtbl; } Interface;

typedef struct {
    void *base; /* IComponentBase*, as GetClassObject gave it */
    Interface *init_done;
    Interface *language;
    Interface *locale;
    Interface *user_language;
} Component;

typedef const WCHAR_T *(*GetClassNamesFn)(void);
typedef long (*GetClassObjectFn)(const WCHAR_T *, void **);
typedef long (*DestroyObjectFn)(void **);
typedef int (*SetPlatformCapabilitiesFn)(int);
typedef int (*GetAttachTypeFn)(void);

static GetClassNamesFn get_class_names;
static GetClassObjectFn get_class_object;
static DestroyObjectFn destroy_object;
static SetPlatformCapabilitiesFn set_platform_capabilities;
static GetAttachTypeFn get_attach_type;

/* ---- checks ---- */
static int checks, failures;
#define CHECK(cond, ...)                                                              \
    do {                                                                              \
        checks++;                                                                     \
        if (!(cond)) {                                                                \
            failures++;                                                               \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);           \
            fprintf(stderr, __VA_ARGS__);                                             \
            fprintf(stderr, "\n");                                                    \
        }                                                                             \
    } while (0)

/* ---- UTF-8 <-> UTF-16 ---- */
static WCHAR_T *widen(const char *s)
{
    size_t n = strlen(s);
    WCHAR_T *w = calloc(n + 1, sizeof *w);
    size_t j = 0;
    for (size_t i = 0; i < n;) {
        unsigned c = (unsigned char)s[i];
        uint32_t cp;
        if (c < 0x80) { cp = c; i += 1; }
        else if ((c & 0xE0) == 0xC0) { cp = ((c & 0x1F) << 6) | (s[i + 1] & 0x3F); i += 2; }
        else if ((c & 0xF0) == 0xE0) {
            cp = ((c & 0x0F) << 12) | ((s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F);
            i += 3;
        } else { cp = '?'; i += 4; }
        w[j++] = (WCHAR_T)cp;
    }
    w[j] = 0;
    return w;
}

static void narrow(const WCHAR_T *w, size_t len, char *out, size_t cap)
{
    size_t j = 0;
    for (size_t i = 0; w && i < len && j + 4 < cap; i++) {
        unsigned cp = w[i];
        if (cp < 0x80) out[j++] = (char)cp;
        else if (cp < 0x800) {
            out[j++] = (char)(0xC0 | (cp >> 6));
            out[j++] = (char)(0x80 | (cp & 0x3F));
        } else {
            out[j++] = (char)(0xE0 | (cp >> 12));
            out[j++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            out[j++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    out[j] = 0;
}

/* ---- variants the platform makes (its own memory manager, as for any value) ---- */
static void set_string(tVariant *v, const char *s)
{
    WCHAR_T *w = widen(s);
    size_t n = wlen(w);
    void *p = NULL;
    memset(v, 0, sizeof *v);
    if (mm_alloc(&memory, &p, (unsigned long)((n + 1) * sizeof(WCHAR_T)))) {
        memcpy(p, w, (n + 1) * sizeof(WCHAR_T));
        v->vt = VTYPE_PWSTR;
        v->u.wstr.pwstrVal = p;
        v->u.wstr.wstrLen = (uint32_t)n;
    }
    free(w);
}

static void set_blob(tVariant *v, const void *data, size_t len)
{
    void *p = NULL;
    memset(v, 0, sizeof *v);
    if (mm_alloc(&memory, &p, (unsigned long)(len ? len : 1))) {
        memcpy(p, data, len);
        v->vt = VTYPE_BLOB;
        v->u.str.pstrVal = p;
        v->u.str.strLen = (uint32_t)len;
    }
}

static void set_number(tVariant *v, double d)
{
    memset(v, 0, sizeof *v);
    v->vt = VTYPE_R8;
    v->u.dblVal = d;
}

/* After a call the platform frees whatever string or binary value a variant holds. */
static void clear(tVariant *v)
{
    if (v->vt == VTYPE_PWSTR) platform_free(v->u.wstr.pwstrVal);
    if (v->vt == VTYPE_BLOB) platform_free(v->u.str.pstrVal);
    memset(v, 0, sizeof *v);
}

/* A string value as UTF-8 (static buffer per slot). */
static const char *text_of(const tVariant *v, char *buf, size_t cap)
{
    if (v->vt != VTYPE_PWSTR) { snprintf(buf, cap, "<vt %u>", v->vt); return buf; }
    if (block_index(v->u.wstr.pwstrVal) < 0) foreign_pointers++;
    narrow(v->u.wstr.pwstrVal, v->u.wstr.wstrLen, buf, cap);
    return buf;
}

/* ---- the component ---- */
static LanguageExtenderVtbl *lang(Component *c) { return c->language->vtbl; }

static long find_method(Component *c, const char *name)
{
    WCHAR_T *w = widen(name);
    long n = lang(c)->FindMethod(c->language, w);
    free(w);
    return n;
}

static long find_prop(Component *c, const char *name)
{
    WCHAR_T *w = widen(name);
    long n = lang(c)->FindProp(c->language, w);
    free(w);
    return n;
}

/* Calls method NAME as the platform does: finds it, asks its parameter count, fills in the
 * defaults of parameters not given, calls it as a function. The params array stays with the
 * caller (out-parameters are read from it); ret is the return value. */
static bool call(Component *c, const char *name, tVariant *ret, tVariant *params, long given)
{
    long num = find_method(c, name);
    CHECK(num >= 0, "method %s not found", name);
    if (num < 0) return false;
    long n = lang(c)->GetNParams(c->language, num);
    for (long i = given; i < n; i++) {
        memset(&params[i], 0, sizeof params[i]);
        CHECK(lang(c)->GetParamDefValue(c->language, num, i, &params[i]),
              "%s: parameter %ld has no default", name, i);
    }
    CHECK(lang(c)->HasRetVal(c->language, num), "%s has no return value", name);
    memset(ret, 0, sizeof *ret);
    return lang(c)->CallAsFunc(c->language, num, ret, params, n);
}

static void clear_all(tVariant *params, long n)
{
    for (long i = 0; i < n; i++) clear(&params[i]);
}

static double prop_number(Component *c, const char *name)
{
    tVariant v;
    memset(&v, 0, sizeof v);
    long num = find_prop(c, name);
    CHECK(lang(c)->IsPropReadable(c->language, num), "%s not readable", name);
    CHECK(lang(c)->GetPropVal(c->language, num, &v), "%s", name);
    CHECK(v.vt == VTYPE_I4, "%s is vt %u", name, v.vt);
    return v.u.lVal;
}

static char prop_buf[4096];
static const char *prop_text(Component *c, const char *name)
{
    tVariant v;
    memset(&v, 0, sizeof v);
    long num = find_prop(c, name);
    CHECK(lang(c)->GetPropVal(c->language, num, &v), "%s", name);
    text_of(&v, prop_buf, sizeof prop_buf);
    clear(&v);
    return prop_buf;
}

/* The user's session as the platform describes it to a new object: its locale (SetLocale, every
 * version) and its interface language (SetUserInterfaceLanguageCode, 8.3.21 and newer); NULL
 * for a call the platform does not make. */
typedef struct { const char *locale, *interface_language; } Session;
static const Session RUSSIAN = {"ru_RU", "ru"}, ENGLISH = {"en_US", "en"};

static Component make(Session session)
{
    Component c;
    WCHAR_T *name = widen("Client");
    memset(&c, 0, sizeof c);
    CHECK(get_class_object(name, &c.base) != 0 && c.base, "GetClassObject(Client)");
    free(name);
    /* IComponentBase : IInitDoneBase, ILanguageExtenderBase, LocaleBase, UserLanguageBase:
     * each base is one vtable pointer, in that order. */
    c.init_done = (Interface *)c.base;
    c.language = (Interface *)((char *)c.base + sizeof(void *));
    c.locale = (Interface *)((char *)c.base + 2 * sizeof(void *));
    c.user_language = (Interface *)((char *)c.base + 3 * sizeof(void *));
    InitDoneVtbl *id = c.init_done->vtbl;
    CHECK(id->setMemManager(c.init_done, &memory), "setMemManager");
    CHECK(id->Init(c.init_done, &connection), "Init");
    CHECK(id->GetInfo(c.init_done) == 2000, "GetInfo");
    if (session.locale) {
        WCHAR_T *w = widen(session.locale);
        ((LocaleVtbl *)c.locale->vtbl)->SetLocale(c.locale, w);
        free(w);
    }
    if (session.interface_language) {
        WCHAR_T *w = widen(session.interface_language);
        ((UserLanguageVtbl *)c.user_language->vtbl)->SetUserInterfaceLanguageCode(c.user_language, w);
        free(w);
    }
    WCHAR_T *ext = NULL;
    CHECK(lang(&c)->RegisterExtensionAs(c.language, &ext) && ext, "RegisterExtensionAs");
    char buf[64];
    narrow(ext, wlen(ext), buf, sizeof buf);
    CHECK(strcmp(buf, "SuzAuth") == 0, "extension %s", buf);
    platform_free(ext);
    return c;
}

static void destroy(Component *c)
{
    InitDoneVtbl *id = c->init_done->vtbl;
    id->Done(c->init_done);
    CHECK(destroy_object(&c->base) == 0 && c->base == NULL, "DestroyObject");
}

/* ---- signing through the command, in the work directory ---- */
static const char *sign_command;
static int sign_count;

static bool read_file(const char *path, unsigned char **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    *data = buf;
    *len = n;
    return true;
}

static void sleep_ms(int ms)
{
#ifdef _WIN32
    Sleep((DWORD)ms);
#else
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
#endif
}

/* Signs DATA detached, as 1C's МенеджерКриптографии.Подписать does. */
static bool sign_detached(const unsigned char *data, size_t len, unsigned char **sig, size_t *sig_len)
{
    char in[64], out[64], cmd[4096];
    int n = ++sign_count;
    snprintf(in, sizeof in, "sign-%d.bin", n);
    snprintf(out, sizeof out, "sign-%d.der", n);
    remove(out); /* a file left by an earlier run is not this signature */
    FILE *f = fopen(in, "wb");
    if (!f) return false;
    fwrite(data, 1, len, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s %s %s", sign_command, in, out);
#ifdef _WIN32
    /* Under wine a Unix program can be started like a Windows one; it is not waited for
     * reliably, so the host polls for the renamed output below, as for any command. */
    STARTUPINFOA si;
    PROCESS_INFORMATION pi;
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    if (!CreateProcessA(NULL, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi)) return false;
    WaitForSingleObject(pi.hProcess, 30000);
    CloseHandle(pi.hThread);
    CloseHandle(pi.hProcess);
#else
    if (system(cmd) != 0) return false;
#endif
    for (int i = 0; i < 300; i++) {
        if (read_file(out, sig, sig_len)) return *sig_len > 0;
        sleep_ms(100);
    }
    return false;
}

/* Base64 with CRLF every 76 characters, as 1C's Base64Строка writes it. */
static char *base64_1c(const unsigned char *d, size_t n)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc(n * 2 + 8), *o = out;
    size_t col = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0) |
                     (i + 2 < n ? d[i + 2] : 0);
        char q[4] = {t[v >> 18 & 63], t[v >> 12 & 63], i + 1 < n ? t[v >> 6 & 63] : '=',
                     i + 2 < n ? t[v & 63] : '='};
        for (int k = 0; k < 4; k++) {
            if (col == 76) { *o++ = '\r'; *o++ = '\n'; col = 0; }
            *o++ = q[k];
            col++;
        }
    }
    *o = 0;
    return out;
}

/* ---- the flows ---- */
#define CONNECTION_ID "11b1abc9-f4ee-47db-8a20-f80ac83504e8"
#define DEMO_KEY "4344d884-7f21-456c-981e-cd68e92391e8"
#define PHARMA_KEY "a1f3c2d4-0b5e-4c6f-8d7a-9e0b1c2d3e4f"

static char buf_a[8192], buf_b[8192];

/* What ЗарегистрироватьУстановку says when the SUZ refuses a registration key: the summary in
 * the session's language, the SUZ's own code and text ("Unknown registration key") as they
 * came, the core's detail in English. */
#define REJECTED_RU                                                                            \
    "СУЗ отклонил регистрацию установки (HTTP 200, код сервера REJECTED: Unknown registration " \
    "key). Подробности: the SUZ rejected the registration: Unknown registration key "           \
    "(SUZ_RESULT_REGISTRATION_REJECTED)"
#define REJECTED_EN                                                                            \
    "the SUZ rejected the registration: Unknown registration key (HTTP 200, server code "       \
    "REJECTED: Unknown registration key) (SUZ_RESULT_REGISTRATION_REJECTED)"


/* AcquireToken on ACQUIRER (Russian or English names), signed detached by the host, completed
 * on COMPLETER (another instance, possibly); the signature goes as binary data or as a
 * Base64 string. Returns the token in buf_a. */
static const char *acquire_sign_complete(Component *acquirer, Component *completer,
                                         const char *profile, const char *want_kind,
                                         bool russian, bool as_base64)
{
    tVariant p[4], ret;
    set_string(&p[0], profile);
    memset(&p[1], 0, sizeof p[1]); /* the 1C variable for the state: Неопределено */
    bool ok = call(acquirer, russian ? "ПолучитьТокен" : "acquiretoken", &ret, p, 2);
    CHECK(ok, "AcquireToken(%s): %s", profile, last_error);
    CHECK(ret.vt == VTYPE_EMPTY, "AcquireToken(%s) gave a token, not a pending state", profile);
    char state[4096];
    text_of(&p[1], state, sizeof state);
    CHECK(strncmp(state, "suz-pending.2.", 14) == 0, "state %s", state);
    clear_all(p, 2);
    clear(&ret);

    set_string(&p[0], state);
    CHECK(call(acquirer, russian ? "ВидПодписи" : "SignatureKind", &ret, p, 1), "kind");
    CHECK(strcmp(text_of(&ret, buf_b, sizeof buf_b), want_kind) == 0, "kind %s", buf_b);
    clear(&ret);
    CHECK(call(completer, russian ? "данныедляподписи" : "DATATOSIGN", &ret, p, 1), "data");
    CHECK(ret.vt == VTYPE_BLOB && ret.u.str.strLen > 0, "data is vt %u", ret.vt);
    CHECK(block_index(ret.u.str.pstrVal) >= 0, "data not from the memory manager");
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    CHECK(sign_detached((unsigned char *)ret.u.str.pstrVal, ret.u.str.strLen, &sig, &sig_len),
          "signing %s", profile);
    clear(&ret);
    clear_all(p, 1);

    set_string(&p[0], state);
    if (as_base64) {
        char *b64 = base64_1c(sig, sig_len);
        set_string(&p[1], b64);
        free(b64);
    } else {
        set_blob(&p[1], sig, sig_len);
    }
    free(sig);
    ok = call(completer, russian ? "ЗавершитьПолучениеТокена" : "CompleteToken", &ret, p, 2);
    CHECK(ok, "CompleteToken(%s): %s", profile, last_error);
    text_of(&ret, buf_a, sizeof buf_a);
    CHECK(ret.vt == VTYPE_PWSTR && strlen(buf_a) > 8, "token %s", buf_a);
    clear(&ret);
    clear_all(p, 2);
    return buf_a;
}

/* The token AcquireToken gives at once (cached, or a flow that signs nothing). */
static const char *acquire_at_once(Component *c, const char *profile)
{
    tVariant p[2], ret;
    set_string(&p[0], profile);
    set_number(&p[1], 0);
    bool ok = call(c, "AcquireToken", &ret, p, 2);
    CHECK(ok, "AcquireToken(%s): %s", profile, last_error);
    text_of(&ret, buf_a, sizeof buf_a);
    CHECK(ret.vt == VTYPE_PWSTR && strlen(buf_a) > 8, "%s: no token at once (%s)", profile, buf_a);
    CHECK(p[1].vt == VTYPE_PWSTR && p[1].u.wstr.wstrLen == 0, "%s: state not emptied", profile);
    clear(&ret);
    clear_all(p, 2);
    return buf_a;
}

static int request_status(Component *c, const char *profile, const char *path)
{
    tVariant p[4], ret;
    set_string(&p[0], profile);
    set_string(&p[1], "GET");
    set_string(&p[2], path);
    bool ok = call(c, "Запрос", &ret, p, 3); /* the body is left to its default */
    CHECK(ok, "Request(%s): %s", path, last_error);
    clear(&ret);
    clear_all(p, 4);
    return (int)prop_number(c, "HTTPСтатус");
}

/* A call that must fail: false, one AddError, the error properties set. */
static void expect_failure(Component *c, const char *method, tVariant *p, long given,
                           int want_code, const char *want_text)
{
    tVariant ret;
    int before = errors_added;
    bool ok = call(c, method, &ret, p, given);
    CHECK(!ok, "%s succeeded", method);
    CHECK(errors_added == before + 1, "%s: AddError called %d times", method, errors_added - before);
    CHECK(last_wcode == 1006, "AddError code %u", last_wcode);
    CHECK(strcmp(last_source, "SuzAuth") == 0, "AddError source %s", last_source);
    CHECK(strstr(last_error, want_text) != NULL, "%s: AddError text %s", method, last_error);
    CHECK((int)prop_number(c, "КодОшибки") == want_code, "%s: code %d, want %d", method,
          (int)prop_number(c, "ErrorCode"), want_code);
    CHECK(last_scode == want_code, "AddError scode %ld", last_scode);
    CHECK(strstr(prop_text(c, "ОписаниеОшибки"), want_text) != NULL, "description %s", prop_buf);
    clear(&ret);
    clear_all(p, lang(c)->GetNParams(c->language, find_method(c, method)));
}

/* A call that must fail with exactly WANT as its text: AddError's and ОписаниеОшибки's. */
static void expect_text(Component *c, const char *method, tVariant *p, long given, const char *want)
{
    tVariant ret;
    bool ok = call(c, method, &ret, p, given);
    CHECK(!ok, "%s succeeded", method);
    CHECK(strcmp(last_error, want) == 0, "%s: AddError text\n  got:  %s\n  want: %s", method,
          last_error, want);
    CHECK(strcmp(prop_text(c, "ОписаниеОшибки"), want) == 0,
          "%s: ОписаниеОшибки\n  got:  %s\n  want: %s", method, prop_buf, want);
    clear(&ret);
    clear_all(p, lang(c)->GetNParams(c->language, find_method(c, method)));
}

#define OMS_ID "cdf12109-10d3-11e6-8b6f-0050569977a1"

/* Error texts follow the session's language, as the platform gives it to each object: the
 * interface language first, else the locale, else Russian. The server's own text is kept as
 * it came. */
static void error_languages(const char *config)
{
    const Session nothing = {NULL, NULL}, locale_only = {"en_US", NULL}, en_in_ru = {"ru_RU", "en"};
    Component ru = make(RUSSIAN), en = make(ENGLISH), old = make(nothing), by_locale = make(locale_only),
              mixed = make(en_in_ru);
    const char *unconfigured_ru = "компонента не настроена: сначала вызовите Настроить (Configure) "
                                  "с настройками JSON (SUZ_RESULT_INVALID_ARGUMENT)";
    const char *unconfigured_en = "the component is not configured: call Настроить (Configure) with "
                                  "the configuration JSON first (SUZ_RESULT_INVALID_ARGUMENT)";
    struct { Component *c; const char *want; } unconfigured[] = {
        {&ru, unconfigured_ru}, {&en, unconfigured_en}, {&old, unconfigured_ru},
        {&by_locale, unconfigured_en}, {&mixed, unconfigured_en}};
    tVariant p[4], ret;
    for (size_t i = 0; i < sizeof unconfigured / sizeof unconfigured[0]; i++) {
        set_string(&p[0], "gismt");
        memset(&p[1], 0, sizeof p[1]);
        expect_text(unconfigured[i].c, "ПолучитьТокен", p, 2, unconfigured[i].want);
    }

    set_string(&p[0], config);
    CHECK(call(&ru, "Настроить", &ret, p, 1), "Configure ru: %s", last_error);
    clear(&ret);
    CHECK(call(&en, "Настроить", &ret, p, 1), "Configure en: %s", last_error);
    clear(&ret);
    clear_all(p, 1);

    set_number(&p[0], 5);
    memset(&p[1], 0, sizeof p[1]);
    expect_text(&ru, "ПолучитьТокен", p, 2,
                "ПолучитьТокен: Профиль: должен быть строкой (Строка) (SUZ_RESULT_INVALID_ARGUMENT)");
    set_number(&p[0], 5);
    memset(&p[1], 0, sizeof p[1]);
    expect_text(&en, "ПолучитьТокен", p, 2,
                "ПолучитьТокен: Профиль: must be a string (Строка) (SUZ_RESULT_INVALID_ARGUMENT)");

    /* The SUZ refuses a wrong registration key: its own text, as it came, in both. */
    for (int i = 0; i < 2; i++) {
        set_string(&p[0], OMS_ID);
        set_string(&p[1], "00000000-0000-0000-0000-000000000000");
        set_string(&p[2], "127.0.0.1");
        set_number(&p[3], 1);
        expect_text(i == 0 ? &ru : &en, "ЗарегистрироватьУстановку", p, 4,
                    i == 0 ? REJECTED_RU : REJECTED_EN);
    }

    destroy(&ru);
    destroy(&en);
    destroy(&old);
    destroy(&by_locale);
    destroy(&mixed);
}

static char *read_text(const char *path)
{
    unsigned char *d;
    size_t n;
    if (!read_file(path, &d, &n)) return NULL;
    d = realloc(d, n + 1);
    d[n] = 0;
    return (char *)d;
}

static void names_and_properties(Component *c)
{
    CHECK(lang(c)->GetNProps(c->language) == 4, "GetNProps");
    const char *props[][2] = {{"ErrorDescription", "ОписаниеОшибки"}, {"ErrorCode", "КодОшибки"},
                              {"HttpStatus", "HTTPСтатус"}, {"Version", "Версия"}};
    for (long i = 0; i < 4; i++) {
        for (long alias = 0; alias < 2; alias++) {
            const WCHAR_T *w = lang(c)->GetPropName(c->language, i, alias);
            char buf[128];
            narrow(w, wlen(w), buf, sizeof buf);
            CHECK(strcmp(buf, props[i][alias]) == 0, "prop %ld alias %ld: %s", i, alias, buf);
            platform_free((void *)w);
        }
        CHECK(find_prop(c, props[i][1]) == i, "FindProp %s", props[i][1]);
        CHECK(!lang(c)->IsPropWritable(c->language, i), "prop %ld writable", i);
    }
    CHECK(find_prop(c, "errordescription") == 0, "FindProp in lower case");
    CHECK(find_prop(c, "ОПИСАНИЕОШИБКИ") == 0, "FindProp in Cyrillic upper case");
    CHECK(find_prop(c, "httpстатус") == 2, "FindProp mixed");
    CHECK(find_prop(c, "Nothing") == -1, "FindProp unknown");
    CHECK(lang(c)->GetPropName(c->language, 99, 0) == NULL, "GetPropName out of range");
    CHECK(strlen(prop_text(c, "Версия")) > 0, "version %s", prop_buf);
    CHECK(prop_number(c, "ErrorCode") == 0, "no error yet");

    long n = lang(c)->GetNMethods(c->language);
    CHECK(n >= 12, "GetNMethods %ld", n);
    for (long i = 0; i < n; i++) {
        for (long alias = 0; alias < 2; alias++) {
            const WCHAR_T *w = lang(c)->GetMethodName(c->language, i, alias);
            char buf[128];
            narrow(w, wlen(w), buf, sizeof buf);
            CHECK(w && find_method(c, buf) == i, "method %ld alias %ld: %s", i, alias, buf);
            platform_free((void *)w);
        }
    }
    CHECK(find_method(c, "ПОЛУЧИТЬТОКЕН") == find_method(c, "AcquireToken"), "case-insensitive");
    CHECK(find_method(c, "запрос") == find_method(c, "REQUEST"), "Запрос / Request");
    CHECK(find_method(c, "NoSuchMethod") == -1, "unknown method");
    CHECK(lang(c)->GetNParams(c->language, find_method(c, "Запрос")) == 4, "Request params");
    tVariant def;
    memset(&def, 0, sizeof def);
    CHECK(lang(c)->GetParamDefValue(c->language, find_method(c, "Request"), 3, &def) &&
              def.vt == VTYPE_PWSTR && def.u.wstr.wstrLen == 0,
          "Request's body defaults to an empty string");
    clear(&def);
    CHECK(!lang(c)->GetParamDefValue(c->language, find_method(c, "Request"), 0, &def),
          "the profile has no default");
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s COMPONENT CONFIG_JSON_FILE SIGN_COMMAND [--server-signer]\n",
                argv[0]);
        return 2;
    }
    sign_command = argv[3];
    bool server_signer = argc > 4 && strcmp(argv[4], "--server-signer") == 0;
    char *config = read_text(argv[2]);
    if (!config) { fprintf(stderr, "cannot read %s\n", argv[2]); return 2; }

#ifdef _WIN32
    HMODULE lib = LoadLibraryA(argv[1]);
    if (!lib) { fprintf(stderr, "LoadLibrary(%s) failed: %lu\n", argv[1], GetLastError()); return 2; }
#define LOAD(var, name)                                                                   \
    do {                                                                                  \
        FARPROC f_ = GetProcAddress(lib, name);                                           \
        memcpy(&var, &f_, sizeof var);                                                    \
    } while (0)
#else
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 2; }
/* Function pointers from dlsym's void* through memcpy: ISO C has no direct conversion. */
#define LOAD(var, name)                                                                   \
    do {                                                                                  \
        void *s_ = dlsym(lib, name);                                                      \
        memcpy(&var, &s_, sizeof var);                                                    \
    } while (0)
#endif
    LOAD(get_class_names, "GetClassNames");
    LOAD(get_class_object, "GetClassObject");
    LOAD(destroy_object, "DestroyObject");
    LOAD(set_platform_capabilities, "SetPlatformCapabilities");
    LOAD(get_attach_type, "GetAttachType");
    if (!get_class_names || !get_class_object || !destroy_object || !set_platform_capabilities ||
        !get_attach_type) {
        fprintf(stderr, "a Native API export is missing\n");
        return 2;
    }

    /* The platform's order: capabilities, attach type, class names, objects. */
    CHECK(set_platform_capabilities(3) == 1, "SetPlatformCapabilities");
    CHECK(get_attach_type() == 3, "GetAttachType: any");
    char names[128];
    narrow(get_class_names(), wlen(get_class_names()), names, sizeof names);
    CHECK(strcmp(names, "Client") == 0, "GetClassNames %s", names);
    WCHAR_T *other = widen("Server");
    void *none = (void *)1;
    CHECK(get_class_object(other, &none) == 0 && none == NULL, "an unknown class is refused");
    free(other);

    /* A speaks to a Russian session, B to an English one. */
    Component a = make(RUSSIAN), b = make(ENGLISH);
    names_and_properties(&a);

    tVariant p[4], ret;
    /* Before Настроить: a readable refusal. */
    set_string(&p[0], "gismt");
    memset(&p[1], 0, sizeof p[1]);
    expect_failure(&a, "ПолучитьТокен", p, 2, 3, "Настроить");

    set_string(&p[0], config);
    CHECK(call(&a, "Настроить", &ret, p, 1) && ret.vt == VTYPE_BOOL && ret.u.bVal, "Configure A: %s", last_error);
    clear(&ret);
    CHECK(call(&b, "configure", &ret, p, 1), "Configure B: %s", last_error);
    clear(&ret);
    clear_all(p, 1);

    /* GIS MT: acquire in A, sign (detached; the library embeds the challenge), complete in B. */
    char token[4096];
    snprintf(token, sizeof token, "%s",
             acquire_sign_complete(&a, &b, "gismt", "attached", true, false));
    CHECK(prop_number(&b, "ErrorCode") == 0 && strlen(prop_text(&b, "ErrorDescription")) == 0,
          "no error after success");
    /* HTTPСтатус is Запрос's answer or a failure's; any other successful call reads 0, even one
     * whose server answered 200 (the README says so). */
    CHECK(prop_number(&b, "HTTPСтатус") == 0, "HTTPСтатус after CompleteToken: %d",
          (int)prop_number(&b, "HTTPСтатус"));
    /* A sees B's token: one token per installation. */
    CHECK(strcmp(acquire_at_once(&a, "gismt"), token) == 0, "A got another token");
    {
        int status = request_status(&a, "gismt", "/api/v2/pharma/ping");
        CHECK(status == 200, "ping with the token: HTTP %d", status);
    }

    /* True API, English names, the signature as 1C's Base64Строка. */
    acquire_sign_complete(&b, &a, "trueapi", "attached", false, true);
    /* True API's own token (no installation): the same calls, a JWT back. */
    {
        const char *own = acquire_sign_complete(&a, &b, "trueapi_own", "attached", true, false);
        int dots = 0;
        for (const char *q = own; *q; q++) dots += *q == '.';
        CHECK(dots == 2, "True API's own token is a JWT: %s", own);
    }
    /* The united token and GIS MT's own token (no installation either): the same calls. */
    {
        const char *united = acquire_sign_complete(&b, &a, "united", "attached", false, true);
        CHECK(strlen(united) == 36 && united[8] == '-' && united[23] == '-',
              "the united token is a UUID: %s", united);
        const char *gis = acquire_sign_complete(&a, &b, "gismt_own", "attached", true, true);
        int dots = 0;
        for (const char *q = gis; *q; q++) dots += *q == '.';
        CHECK(dots == 2, "GIS MT's own token is a JWT: %s", gis);
        /* MDLP's own session: the code signed detached on one component, sent by the other. */
        const char *session = acquire_sign_complete(&b, &a, "mdlp_own", "detached", true, false);
        CHECK(strlen(session) == 36 && session[8] == '-', "the MDLP session is a UUID: %s", session);
    }
    /* MDLP signed code: detached. */
    acquire_sign_complete(&a, &b, "mdlp", "detached", true, true);
    /* Flows that sign nothing give the token at once. */
    acquire_at_once(&a, "mdlp_password");
    acquire_at_once(&b, "smartmarket");
    /* СостояниеТокенов: JSON, each profile with its cached token and its certificate. */
    {
        tVariant ret;
        static char status[65536];
        CHECK(call(&a, "СостояниеТокенов", &ret, NULL, 0), "СостояниеТокенов: %s", last_error);
        text_of(&ret, status, sizeof status);
        clear(&ret);
        CHECK(strstr(status, "\"profile\":\"trueapi_own\"") != NULL &&
                  strstr(status, "\"thumbprint\"") != NULL,
              "the status names the profiles and the signing certificate: %.300s", status);
    }
    /* SmartPush through Запрос: Bearer and RqUID added by the component; the answer's body. */
    set_string(&p[0], "smartmarket");
    set_string(&p[1], "POST");
    set_string(&p[2], "/api/v2/smartpush/apprequest");
    set_string(&p[3], "{\"requestPayload\": {\"text\": \"привет\"}}");
    CHECK(call(&b, "Request", &ret, p, 4), "SmartPush: %s", last_error);
    CHECK(strstr(text_of(&ret, buf_b, sizeof buf_b), "привет") != NULL, "SmartPush answer %s", buf_b);
    CHECK(prop_number(&b, "HttpStatus") == 200, "SmartPush status %d", (int)prop_number(&b, "HttpStatus"));
    clear(&ret);
    clear_all(p, 4);

    /* CancelToken gives the lease back: the next acquire gets its own pending state at once. */
    set_string(&p[0], "trueapi2");
    memset(&p[1], 0, sizeof p[1]);
    CHECK(call(&a, "AcquireToken", &ret, p, 2) && ret.vt == VTYPE_EMPTY, "acquire: %s", last_error);
    char state[4096];
    text_of(&p[1], state, sizeof state);
    clear(&ret);
    clear_all(p, 2);
    set_string(&p[0], state);
    /* As a procedure: the platform drops the value. */
    CHECK(lang(&b)->CallAsProc(b.language, find_method(&b, "ОтменитьПолучениеТокена"), p, 1),
          "cancel: %s", last_error);
    clear_all(p, 1);
    acquire_sign_complete(&b, &b, "trueapi2", "attached", true, false);

    /* A bad signature: refused before anything is sent, through ОписаниеОшибки. */
    set_string(&p[0], "gismt2");
    memset(&p[1], 0, sizeof p[1]);
    CHECK(call(&a, "AcquireToken", &ret, p, 2), "acquire: %s", last_error);
    text_of(&p[1], state, sizeof state);
    clear(&ret);
    clear_all(p, 2);
    set_string(&p[0], state);
    set_blob(&p[1], "not a signature", 15);
    expect_failure(&b, "ЗавершитьПолучениеТокена", p, 2, 15, "signer");
    set_string(&p[0], state);
    CHECK(call(&a, "CancelToken", &ret, p, 1), "cancel: %s", last_error);
    clear(&ret);
    clear_all(p, 1);

    /* Invalidate: the next acquire needs a new signature. */
    set_string(&p[0], "gismt");
    set_string(&p[1], token);
    CHECK(call(&a, "СброситьТокен", &ret, p, 2) && ret.vt == VTYPE_BOOL && ret.u.bVal,
          "invalidate: %s", last_error);
    clear(&ret);
    clear_all(p, 2);
    CHECK(strcmp(acquire_sign_complete(&a, &a, "gismt", "attached", false, false), token) != 0,
          "the same token after invalidation");

    /* Registration, two phases: body signed (detached) by the host. */
    set_string(&p[0], OMS_ID);
    set_string(&p[1], DEMO_KEY);
    set_string(&p[2], "127.0.0.1");
    CHECK(call(&a, "НачатьРегистрациюУстановки", &ret, p, 3), "begin registration: %s", last_error);
    text_of(&ret, state, sizeof state);
    clear(&ret);
    clear_all(p, 3);
    set_string(&p[0], state);
    CHECK(call(&a, "DataToSign", &ret, p, 1) && ret.vt == VTYPE_BLOB, "registration data");
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    CHECK(sign_detached((unsigned char *)ret.u.str.pstrVal, ret.u.str.strLen, &sig, &sig_len),
          "signing the registration");
    clear(&ret);
    clear_all(p, 1);
    set_string(&p[0], state);
    set_blob(&p[1], sig, sig_len);
    free(sig);
    CHECK(call(&b, "CompleteRegistration", &ret, p, 2), "complete registration: %s", last_error);
    CHECK(strlen(text_of(&ret, buf_b, sizeof buf_b)) == 36, "omsConnection %s", buf_b);
    clear(&ret);
    clear_all(p, 2);

    /* Registration in one call: the pharma group sends no signature. */
    set_string(&p[0], OMS_ID);
    set_string(&p[1], PHARMA_KEY);
    set_string(&p[2], "127.0.0.1");
    set_number(&p[3], 1);
    CHECK(call(&a, "ЗарегистрироватьУстановку", &ret, p, 4), "register pharma: %s", last_error);
    CHECK(strlen(text_of(&ret, buf_b, sizeof buf_b)) == 36, "omsConnection %s", buf_b);
    clear(&ret);
    clear_all(p, 4);

    if (server_signer) {
        /* The server signs itself (signer.command in the configuration): one call. */
        set_string(&p[0], "server");
        CHECK(call(&a, "Токен", &ret, p, 1), "Token(server): %s", last_error);
        CHECK(strlen(text_of(&ret, buf_b, sizeof buf_b)) > 8, "token %s", buf_b);
        clear(&ret);
        clear_all(p, 1);
    }

    /* Errors through the properties and AddError. */
    set_string(&p[0], "nosuchprofile");
    memset(&p[1], 0, sizeof p[1]);
    expect_failure(&a, "AcquireToken", p, 2, 3, "nosuchprofile");
    set_number(&p[0], 5);
    memset(&p[1], 0, sizeof p[1]);
    expect_failure(&a, "ПолучитьТокен", p, 2, 3, "Строка");
    set_string(&p[0], "suz-pending.2.garbage.0000");
    expect_failure(&a, "ДанныеДляПодписи", p, 1, 3, "cannot import");
    set_string(&p[0], "{not json");
    expect_failure(&a, "Настроить", p, 1, 4, "");
    /* A wrong registration key: the server's refusal and its HTTP status. */
    set_string(&p[0], OMS_ID);
    set_string(&p[1], "00000000-0000-0000-0000-000000000000");
    set_string(&p[2], "127.0.0.1");
    set_number(&p[3], 1);
    {
        bool ok = call(&a, "RegisterConnection", &ret, p, 4);
        CHECK(!ok, "a wrong key registered");
        CHECK(prop_number(&a, "HttpStatus") > 0, "HttpStatus %d", (int)prop_number(&a, "HttpStatus"));
        CHECK(prop_number(&a, "ErrorCode") == 14, "ErrorCode %d: %s", (int)prop_number(&a, "ErrorCode"),
              prop_text(&a, "ErrorDescription"));
        clear(&ret);
        clear_all(p, 4);
    }
    error_languages(config);

    /* A successful call clears the error. */
    CHECK(strcmp(acquire_at_once(&a, "gismt"), "") != 0, "cached token");
    CHECK(prop_number(&a, "ErrorCode") == 0 && prop_number(&a, "HttpStatus") == 0, "error cleared");

    destroy(&a);
    destroy(&b);
    free(config);

    size_t outstanding = 0;
    for (int i = 0; i < MAX_BLOCKS; i++)
        if (blocks[i]) outstanding++;
    CHECK(outstanding == 0, "%zu blocks of the memory manager never freed", outstanding);
    CHECK(foreign_frees == 0, "%zu frees of memory the manager did not allocate", foreign_frees);
    CHECK(foreign_pointers == 0, "%zu values not allocated with the memory manager", foreign_pointers);
    /* On stderr: under wine, a program that started a Unix process loses its buffered stdout. */
    fprintf(stderr, "memory manager: %zu allocations, %zu frees, %zu outstanding, %zu foreign\n",
            allocations, frees, outstanding, foreign_frees + foreign_pointers);
    fprintf(stderr, "AddError calls: %d\n", errors_added);
    fprintf(stderr, "checks: %d, failures: %d\n", checks, failures);
#ifdef _WIN32
    FreeLibrary(lib);
#else
    dlclose(lib);
#endif
    return failures == 0 ? 0 : 1;
}
