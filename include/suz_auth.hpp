/*
 * suz_auth.hpp: the C++17 interface of suz-auth, header-only, over suz_auth.h.
 *
 *  - Every object is a move-only RAII handle: suz::Client, suz::Signer, suz::Token,
 *    suz::Pending, suz::Response. A moved-from handle is empty; using it throws
 *    std::logic_error.
 *  - Every failure is a suz::Error (a std::runtime_error) with the result code and what the
 *    library recorded: HTTP status, the server's code and text, Retry-After, RqUID. It is read
 *    on the failing thread right after the call.
 *  - Strings go in as std::string_view (an embedded NUL is std::invalid_argument) and come out
 *    as std::string; bytes are std::string (binary-safe) or std::string_view into the object.
 *  - A signer is a std::function. No exception crosses the C library: the trampoline catches
 *    everything, reports it as the signer's failure, and the call throws a suz::Error
 *    (SUZ_RESULT_SIGNER_FAILED) with the signer's own exception nested in it
 *    (std::rethrow_if_nested gets it back).
 *  - Thread rules are the C library's: Client, Signer and Token may be shared between threads;
 *    Pending is for one thread at a time.
 */
#ifndef SUZ_AUTH_HPP
#define SUZ_AUTH_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "suz_auth.h"

namespace suz {

/* A failed call: the result code and the library's details of the failure. */
class Error : public std::runtime_error {
public:
    Error(SuzResult code, const std::string &message, std::uint16_t http_status,
          std::string server_code, std::string server_message,
          std::optional<std::chrono::milliseconds> retry_after, std::string rquid)
        : std::runtime_error(message), code_(code), http_status_(http_status),
          server_code_(std::move(server_code)), server_message_(std::move(server_message)),
          retry_after_(retry_after), rquid_(std::move(rquid))
    {
    }

    SuzResult code() const noexcept { return code_; }
    /* The code's name, e.g. "SUZ_RESULT_UNAUTHORIZED". */
    std::string name() const { return suz_result_name(static_cast<std::uint32_t>(code_)); }
    /* The HTTP status of the answer that failed the call; 0 if there was none. */
    std::uint16_t http_status() const noexcept { return http_status_; }
    /* The server's own error code and text, when it sent them ("" otherwise). */
    const std::string &server_code() const noexcept { return server_code_; }
    const std::string &server_message() const noexcept { return server_message_; }
    /* The server's Retry-After, when it sent one. */
    std::optional<std::chrono::milliseconds> retry_after() const noexcept { return retry_after_; }
    /* The RqUID of the last SmartMarket request sent ("" for other services). */
    const std::string &rquid() const noexcept { return rquid_; }

private:
    SuzResult code_;
    std::uint16_t http_status_;
    std::string server_code_, server_message_;
    std::optional<std::chrono::milliseconds> retry_after_;
    std::string rquid_;
};

enum class Flow : std::uint32_t {
    Mdlp = SUZ_FLOW_MDLP,
    Gismt = SUZ_FLOW_GISMT,
    TrueApi = SUZ_FLOW_TRUE_API,
    SmartMarket = SUZ_FLOW_SMART_MARKET,
    TrueApiToken = SUZ_FLOW_TRUE_API_TOKEN,
    UnitedToken = SUZ_FLOW_UNITED_TOKEN,
    GismtToken = SUZ_FLOW_GISMT_TOKEN,
    MdlpSession = SUZ_FLOW_MDLP_SESSION,
};

enum class SignatureKind : std::uint32_t {
    Attached = SUZ_SIGNATURE_KIND_ATTACHED,
    Detached = SUZ_SIGNATURE_KIND_DETACHED,
};

enum class LogLevel : std::uint32_t {
    Error = SUZ_LOG_LEVEL_ERROR,
    Warn = SUZ_LOG_LEVEL_WARN,
    Info = SUZ_LOG_LEVEL_INFO,
    Debug = SUZ_LOG_LEVEL_DEBUG,
};

/* Signs `data` (the exact bytes) as `kind` asks; returns the signature: DER, BER, PEM or base64
 * text, as bytes in a std::string. Throwing is reporting a failure. */
using SignFunction = std::function<std::string(std::string_view data, SignatureKind kind)>;

namespace detail {

/* The exception a signer threw on this thread, until the failing call picks it up. */
inline thread_local std::exception_ptr signer_exception;

inline std::string copy(const char *s) { return s ? std::string(s) : std::string(); }

[[noreturn]] inline void throw_last(SuzResult code)
{
    std::int64_t retry = suz_last_retry_after_ms();
    Error error(code, copy(suz_last_error_message()), suz_last_http_status(),
                copy(suz_last_server_code()), copy(suz_last_server_message()),
                retry >= 0 ? std::optional<std::chrono::milliseconds>(retry) : std::nullopt,
                copy(suz_last_rquid()));
    std::exception_ptr from_signer = std::exchange(signer_exception, nullptr);
    if (from_signer && code == SUZ_RESULT_SIGNER_FAILED) {
        try {
            std::rethrow_exception(from_signer);
        } catch (...) {
            std::throw_with_nested(error);
        }
    }
    throw error;
}

inline void check(SuzResult code)
{
    if (code != SUZ_RESULT_OK) throw_last(code);
    signer_exception = nullptr;
}

/* A NUL-terminated copy of `s` for the C library. */
inline std::string c_str(std::string_view s, const char *what)
{
    if (s.find('\0') != std::string_view::npos)
        throw std::invalid_argument(std::string(what) + " contains a NUL character");
    return std::string(s);
}

/* Takes a string the library allocated. */
inline std::string take(char *s)
{
    std::string out = copy(s);
    suz_string_free(s);
    return out;
}

template <typename T, void (*Free)(T *)> struct Deleter {
    void operator()(T *p) const noexcept { Free(p); }
};

template <typename T, void (*Free)(T *)> using Owned = std::unique_ptr<T, Deleter<T, Free>>;

template <typename Ptr> auto *get(const Ptr &p, const char *what)
{
    if (!p) throw std::logic_error(std::string("use of an empty (moved-from) suz::") + what);
    return p.get();
}

inline int32_t sign_trampoline(void *userdata, const std::uint8_t *data, std::size_t len,
                               SuzSignatureKind kind, SuzSignatureSink *sink) noexcept
{
    try {
        const SignFunction &fn = *static_cast<const SignFunction *>(userdata);
        std::string signature = fn(std::string_view(reinterpret_cast<const char *>(data), len),
                                   static_cast<SignatureKind>(kind));
        suz_signature_sink_write(sink, reinterpret_cast<const std::uint8_t *>(signature.data()),
                                 signature.size());
        return 0;
    } catch (const std::exception &e) {
        signer_exception = std::current_exception();
        suz_signature_sink_fail(sink, e.what());
    } catch (...) {
        signer_exception = std::current_exception();
        suz_signature_sink_fail(sink, "the signer threw an exception that is not a std::exception");
    }
    return 1;
}

inline void free_sign_function(void *userdata) noexcept
{
    delete static_cast<SignFunction *>(userdata);
}

inline std::function<void(LogLevel, std::string_view)> *&log_handler()
{
    static std::function<void(LogLevel, std::string_view)> *handler = nullptr;
    return handler;
}

inline void log_trampoline(void *userdata, SuzLogLevel level, const char *message) noexcept
{
    try {
        (*static_cast<std::function<void(LogLevel, std::string_view)> *>(userdata))(
            static_cast<LogLevel>(level), message ? std::string_view(message) : std::string_view());
    } catch (...) {
        /* A log handler that throws loses that message; nothing crosses the library. */
    }
}

} // namespace detail

/* The library version, e.g. "0.1.0". */
inline std::string version() { return suz_version(); }

/* A result code's name, e.g. "SUZ_RESULT_TIMEOUT". */
inline std::string result_name(SuzResult code) { return suz_result_name(static_cast<std::uint32_t>(code)); }

/* Sends the library's log up to `level` to `handler` (process-wide); an empty handler switches
 * logging off. The handler runs on any thread, must not call back into the library, and may
 * throw (the message is then dropped). */
inline void set_log_handler(std::function<void(LogLevel, std::string_view)> handler,
                            LogLevel level = LogLevel::Info)
{
    using Handler = std::function<void(LogLevel, std::string_view)>;
    std::unique_ptr<Handler> next(handler ? new Handler(std::move(handler)) : nullptr);
    detail::check(suz_set_log_callback(next ? detail::log_trampoline : nullptr, next.get(),
                                       static_cast<std::uint32_t>(level)));
    /* The previous handler has returned everywhere and is never called again. */
    delete std::exchange(detail::log_handler(), next.release());
}

/* A token: its value (a secret: never log it whole), flow, and lifetime (Unix ms). */
class Token {
public:
    explicit Token(SuzToken *raw) : raw_(raw) {}
    std::string_view value() const { return suz_token_value(detail::get(raw_, "Token")); }
    Flow flow() const { return static_cast<Flow>(suz_token_flow(detail::get(raw_, "Token"))); }
    std::int64_t obtained_at_ms() const { return suz_token_obtained_at_ms(detail::get(raw_, "Token")); }
    std::int64_t expires_at_ms() const { return suz_token_expires_at_ms(detail::get(raw_, "Token")); }
    const SuzToken *get() const noexcept { return raw_.get(); }
    explicit operator bool() const noexcept { return static_cast<bool>(raw_); }

private:
    detail::Owned<SuzToken, suz_token_free> raw_;
};

/* How a flow's bytes are signed: a C++ function or an external command. */
class Signer {
public:
    /* A signer calling `fn` on the thread that runs the flow (several at once if shared).
     * With `any_thread`, `fn` may also run on a thread of the library's, which then refreshes
     * a token ahead of its expiry while every caller gets the valid one (see
     * suz_signer_new_callback_any_thread). What `fn` refers to must outlive every client it is
     * set on. */
    static Signer function(SignFunction fn, bool any_thread = false)
    {
        if (!fn) throw std::invalid_argument("suz::Signer::function needs a callable");
        auto *state = new SignFunction(std::move(fn));
        SuzSigner *raw = nullptr;
        auto make = any_thread ? suz_signer_new_callback_any_thread : suz_signer_new_callback;
        SuzResult rc = make(detail::sign_trampoline, state, detail::free_sign_function, &raw);
        if (rc != SUZ_RESULT_OK) {
            delete state; /* not kept on failure */
            detail::throw_last(rc);
        }
        return Signer(raw);
    }

    /* A signer running a command: `{"attached": [argv...], "detached": [argv...], "timeout_ms": N}`. */
    static Signer command(std::string_view json)
    {
        SuzSigner *raw = nullptr;
        detail::check(suz_signer_new_command(detail::c_str(json, "command json").c_str(), &raw));
        return Signer(raw);
    }

    const SuzSigner *get() const noexcept { return raw_.get(); }

private:
    explicit Signer(SuzSigner *raw) : raw_(raw) {}
    detail::Owned<SuzSigner, suz_signer_free> raw_;
};

/* A signed flow between its two phases: sign data() as kind() elsewhere, then finish it. */
class Pending {
public:
    explicit Pending(SuzPending *raw) : raw_(raw) {}

    /* The exact bytes to sign, valid while this object lives. */
    std::string_view data() const
    {
        const std::uint8_t *bytes = nullptr;
        std::size_t len = 0;
        detail::check(suz_pending_data(detail::get(raw_, "Pending"), &bytes, &len));
        return std::string_view(reinterpret_cast<const char *>(bytes), len);
    }

    SignatureKind kind() const
    {
        return static_cast<SignatureKind>(suz_pending_kind(detail::get(raw_, "Pending")));
    }

    /* The state as text (no secrets) for Client::import_pending in another process. */
    std::string exported()
    {
        char *out = nullptr;
        detail::check(suz_pending_export(detail::get(raw_, "Pending"), &out));
        return detail::take(out);
    }

    const SuzPending *get() const noexcept { return raw_.get(); }

private:
    detail::Owned<SuzPending, suz_pending_free> raw_;
};

/* The answer to Client::request, whatever its status. */
class Response {
public:
    explicit Response(SuzResponse *raw) : raw_(raw) {}
    std::uint16_t status() const { return suz_response_status(detail::get(raw_, "Response")); }

    std::string_view body() const
    {
        const std::uint8_t *bytes = nullptr;
        std::size_t len = 0;
        detail::check(suz_response_body(detail::get(raw_, "Response"), &bytes, &len));
        return std::string_view(reinterpret_cast<const char *>(bytes), len);
    }

    /* A header's value (names compare case-insensitively). */
    std::optional<std::string> header(std::string_view name) const
    {
        const char *v = suz_response_header(detail::get(raw_, "Response"),
                                            detail::c_str(name, "header name").c_str());
        return v ? std::optional<std::string>(v) : std::nullopt;
    }

    std::vector<std::pair<std::string, std::string>> headers() const
    {
        const SuzResponse *r = detail::get(raw_, "Response");
        std::vector<std::pair<std::string, std::string>> out;
        std::size_t n = suz_response_header_count(r);
        for (std::size_t i = 0; i < n; i++) {
            const char *name = nullptr, *value = nullptr;
            detail::check(suz_response_header_at(r, i, &name, &value));
            out.emplace_back(detail::copy(name), detail::copy(value));
        }
        return out;
    }

private:
    detail::Owned<SuzResponse, suz_response_free> raw_;
};

/* A configured client (see the README's configuration reference). */
class Client {
public:
    explicit Client(std::string_view config_json)
    {
        SuzClient *raw = nullptr;
        detail::check(suz_client_new(detail::c_str(config_json, "config").c_str(), &raw));
        raw_.reset(raw);
    }

    /* --- one-call flows (a Signer, or nullptr for the configured signer.command) */

    /* The status of every profile as JSON (suz_client_status): flow, the cached token (masked)
     * with its expiry and refresh time, the signing certificate's facts. Fetches nothing. */
    std::string status() const
    {
        char *out = nullptr;
        detail::check(suz_client_status(raw(), &out));
        return detail::take(out);
    }

    std::string register_connection(std::string_view oms_id, std::string_view registration_key,
                                     std::string_view address, bool pharma = false,
                                     const Signer *signer = nullptr) const
    {
        char *out = nullptr;
        detail::check(suz_register_connection(
            raw(), arg(oms_id, "oms_id"), arg(registration_key, "registration_key"),
            arg(address, "address"), pharma, signer ? signer->get() : nullptr, &out));
        return detail::take(out);
    }

    /* MDLP: with a password (no signer), or SIGNED_CODE when `password` is empty. */
    Token token_mdlp(std::string_view oms_connection, std::string_view client_id,
                     std::string_view client_secret, std::string_view user_id,
                     std::optional<std::string_view> password, const Signer *signer = nullptr) const
    {
        std::string pw = password ? detail::c_str(*password, "password") : std::string();
        SuzToken *t = nullptr;
        SuzResult rc = suz_get_token_mdlp(raw(), arg(oms_connection, "oms_connection"),
                                        arg(client_id, "client_id"),
                                        arg(client_secret, "client_secret"), arg(user_id, "user_id"),
                                        password ? pw.c_str() : nullptr,
                                        signer ? signer->get() : nullptr, &t);
        return make_token(rc, t);
    }

    Token token_gismt(std::string_view oms_connection, const Signer *signer = nullptr) const
    {
        SuzToken *t = nullptr;
        SuzResult rc = suz_get_token_gismt(raw(), arg(oms_connection, "oms_connection"),
                                         signer ? signer->get() : nullptr, &t);
        return make_token(rc, t);
    }

    Token token_trueapi(std::string_view oms_connection, std::optional<std::string_view> inn = {},
                        const Signer *signer = nullptr) const
    {
        std::string i = inn ? detail::c_str(*inn, "inn") : std::string();
        SuzToken *t = nullptr;
        SuzResult rc = suz_get_token_trueapi(raw(), arg(oms_connection, "oms_connection"),
                                           inn ? i.c_str() : nullptr,
                                           signer ? signer->get() : nullptr, &t);
        return make_token(rc, t);
    }

    Token token_smartmarket(std::string_view client_id, std::string_view client_secret,
                            std::optional<std::string_view> scope = {}) const
    {
        std::string s = scope ? detail::c_str(*scope, "scope") : std::string();
        SuzToken *t = nullptr;
        SuzResult rc = suz_get_token_smartmarket(raw(), arg(client_id, "client_id"),
                                               arg(client_secret, "client_secret"),
                                               scope ? s.c_str() : nullptr, &t);
        return make_token(rc, t);
    }

    /* SmartPush apprequest: the whole JSON body in, the answer's JSON out. */
    std::string smartpush(std::string_view access_token, std::string_view body_json) const
    {
        char *out = nullptr;
        detail::check(suz_smartpush_request(raw(), arg(access_token, "access_token"),
                                            arg(body_json, "body_json"), &out));
        return detail::take(out);
    }

    /* --- two phases */

    Pending begin_registration(std::string_view oms_id, std::string_view registration_key,
                               std::string_view address) const
    {
        SuzPending *p = nullptr;
        detail::check(suz_register_begin(raw(), arg(oms_id, "oms_id"),
                                         arg(registration_key, "registration_key"),
                                         arg(address, "address"), &p));
        return Pending(p);
    }

    Pending begin_mdlp(std::string_view oms_connection, std::string_view client_id,
                       std::string_view client_secret, std::string_view user_id) const
    {
        SuzPending *p = nullptr;
        detail::check(suz_mdlp_begin(raw(), arg(oms_connection, "oms_connection"),
                                     arg(client_id, "client_id"), arg(client_secret, "client_secret"),
                                     arg(user_id, "user_id"), &p));
        return Pending(p);
    }

    Pending begin_gismt(std::string_view oms_connection) const
    {
        SuzPending *p = nullptr;
        detail::check(suz_gismt_begin(raw(), arg(oms_connection, "oms_connection"), &p));
        return Pending(p);
    }

    Pending begin_trueapi(std::string_view oms_connection, std::optional<std::string_view> inn = {}) const
    {
        std::string i = inn ? detail::c_str(*inn, "inn") : std::string();
        SuzPending *p = nullptr;
        detail::check(suz_trueapi_begin(raw(), arg(oms_connection, "oms_connection"),
                                        inn ? i.c_str() : nullptr, &p));
        return Pending(p);
    }

    Token finish_token(const Pending &pending, std::string_view signature) const
    {
        SuzToken *t = nullptr;
        SuzResult rc = suz_pending_finish_token(raw(), pending_ptr(pending),
                                              bytes(signature), signature.size(), &t);
        return make_token(rc, t);
    }

    std::string finish_registration(const Pending &pending, std::string_view signature) const
    {
        char *out = nullptr;
        detail::check(suz_pending_finish_registration(raw(), pending_ptr(pending), bytes(signature),
                                                      signature.size(), &out));
        return detail::take(out);
    }

    Pending import_pending(std::string_view exported) const
    {
        SuzPending *p = nullptr;
        detail::check(suz_pending_import(raw(), arg(exported, "exported"), &p));
        return Pending(p);
    }

    /* --- profiles and the token cache */

    /* The signer of one profile, or (no profile) of every profile without its own. */
    void set_signer(const Signer &signer, std::optional<std::string_view> profile = {}) const
    {
        std::string p = profile ? detail::c_str(*profile, "profile") : std::string();
        detail::check(suz_client_set_signer(raw(), profile ? p.c_str() : nullptr,
                                            signer_ptr(signer)));
    }

    /* The profile's token: cached while fresh, else fetched once for everyone. */
    Token token(std::string_view profile) const
    {
        SuzToken *t = nullptr;
        SuzResult rc = suz_token_get(raw(), arg(profile, "profile"), &t);
        return make_token(rc, t);
    }

    /* The same token's value only, with no object: the call to make per request. */
    std::string token_value(std::string_view profile) const
    {
        std::string buffer(SUZ_TOKEN_VALUE_MAX, '\0');
        std::size_t needed = 0;
        detail::check(suz_token_get_value(raw(), arg(profile, "profile"), buffer.data(),
                                          buffer.size(), &needed, nullptr, nullptr));
        buffer.resize(needed > 0 ? needed - 1 : 0);
        return buffer;
    }

    /* The cached token, or this caller's lease and the Pending to sign (see suz_token_acquire). */
    std::variant<Token, Pending> acquire(std::string_view profile) const
    {
        SuzToken *t = nullptr;
        SuzPending *p = nullptr;
        detail::check(suz_token_acquire(raw(), arg(profile, "profile"), &t, &p));
        if (t) return Token(t);
        return Pending(p);
    }

    Token complete(const Pending &pending, std::string_view signature) const
    {
        SuzToken *t = nullptr;
        SuzResult rc = suz_token_complete(raw(), pending_ptr(pending), bytes(signature),
                                        signature.size(), &t);
        return make_token(rc, t);
    }

    void release(const Pending &pending) const
    {
        detail::check(suz_token_release(raw(), pending_ptr(pending)));
    }

    /* Drops the cached token only if it is still `token`; true if it did. */
    bool invalidate(std::string_view profile, const Token &token) const
    {
        bool dropped = false;
        detail::check(suz_token_invalidate(raw(), arg(profile, "profile"),
                                           token_ptr(token), &dropped));
        return dropped;
    }

    /* An authorized call with the profile's token; retried once with a new token on 401. */
    Response request(std::string_view profile, std::string_view method, std::string_view path,
                     std::optional<std::string_view> body = {}) const
    {
        std::string b = body ? detail::c_str(*body, "body") : std::string();
        SuzResponse *r = nullptr;
        detail::check(suz_request(raw(), arg(profile, "profile"), arg(method, "method"),
                                  arg(path, "path"), body ? b.c_str() : nullptr, &r));
        return Response(r);
    }

    const SuzClient *get() const noexcept { return raw_.get(); }

private:
    /* Each argument's NUL-terminated copy lives until the end of the full expression. */
    struct Arg {
        std::string s;
        operator const char *() const noexcept { return s.c_str(); }
    };
    static Arg arg(std::string_view s, const char *what) { return Arg{detail::c_str(s, what)}; }
    static const std::uint8_t *bytes(std::string_view s)
    {
        return reinterpret_cast<const std::uint8_t *>(s.data());
    }
    static const SuzPending *pending_ptr(const Pending &p)
    {
        if (!p.get()) throw std::logic_error("use of an empty (moved-from) suz::Pending");
        return p.get();
    }
    static const SuzSigner *signer_ptr(const Signer &s)
    {
        if (!s.get()) throw std::logic_error("use of an empty (moved-from) suz::Signer");
        return s.get();
    }
    static const SuzToken *token_ptr(const Token &t)
    {
        if (!t.get()) throw std::logic_error("use of an empty (moved-from) suz::Token");
        return t.get();
    }
    const SuzClient *raw() const { return detail::get(raw_, "Client"); }
    static Token make_token(SuzResult rc, SuzToken *t)
    {
        detail::check(rc);
        return Token(t);
    }

    detail::Owned<SuzClient, suz_client_free> raw_;
};

} // namespace suz

#endif /* SUZ_AUTH_HPP */
