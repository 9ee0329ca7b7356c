// suz_auth.hpp against the emulator: every flow, the two phases, the token cache, requests,
// every error family a C++ host meets, signers that throw, moves, threads and the log handler.
// Built with -std=c++17 -Wall -Wextra -Wpedantic -Werror; run plain and under ASan + UBSan by
// tests/cpp/run.sh.
//
//   test_hpp EMULATOR_URL CERT_PEM KEY_PEM
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "suz_auth.hpp"

namespace {

const char *const CONNECTION = "11b1abc9-f4ee-47db-8a20-f80ac83504e8";
const char *const OMS_ID = "cdf12109-10d3-11e6-8b6f-0050569977a1";
const char *const REGISTRATION_KEY = "4344d884-7f21-456c-981e-cd68e92391e8";
const char *const PHARMA_KEY = "a1f3c2d4-0b5e-4c6f-8d7a-9e0b1c2d3e4f";
const char *const MDLP_ID = "7df0d06f-6510-44fe-a378-76cb53e2605f";
const char *const MDLP_SECRET = "49781b3a-19d5-4ad7-b1b6-abb57e598d41";
const char *const SM_ID = "e5623627-bb8c-412c-94b7-1a6998e8ef3a";
const char *const SM_SECRET = "887d15a2-cb4f-4998-9591-5b26d62d3751";

int passed = 0, failed = 0;
std::string url, cert, key;

void check(const char *name, bool ok, const std::string &detail = "")
{
    if (ok) {
        passed++;
    } else {
        failed++;
        std::cout << "FAIL " << name << (detail.empty() ? "" : ": ") << detail << "\n";
    }
}

// Runs `body`; returns the suz::Error it threw (or fails the check if none).
template <typename F> std::optional<suz::Error> error_of(const char *name, F body)
{
    try {
        body();
    } catch (const suz::Error &e) {
        return e;
    } catch (const std::exception &e) {
        check(name, false, std::string("threw another exception: ") + e.what());
        return std::nullopt;
    }
    check(name, false, "did not throw");
    return std::nullopt;
}

std::string read_file(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::atomic<int> sign_count{0};

// The host's signer: `openssl cms` with the GOST engine through temporary files.
std::string openssl_sign(std::string_view data, suz::SignatureKind kind)
{
    int n = ++sign_count;
    std::string base = "/tmp/suz-cpp-" + std::to_string(::getpid()) + "-" + std::to_string(n);
    {
        std::ofstream out(base + ".in", std::ios::binary);
        out.write(data.data(), static_cast<std::streamsize>(data.size()));
    }
    std::string cmd = "openssl cms -sign -engine gost -binary -outform DER -signer " + cert +
                      " -inkey " + key + " -in " + base + ".in -out " + base + ".der" +
                      (kind == suz::SignatureKind::Attached ? " -nodetach" : "") + " 2>/dev/null";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("openssl failed");
    std::string signature = read_file(base + ".der");
    std::remove((base + ".in").c_str());
    std::remove((base + ".der").c_str());
    return signature;
}

// The emulator's admin API, through python3 (always present where the tests run).
std::string admin(const std::string &method, const std::string &path, const std::string &body = "")
{
    std::string cmd = "python3 -c 'import sys, urllib.request; r = urllib.request.Request(sys.argv[1], "
                      "data=sys.argv[3].encode() or None, method=sys.argv[2], "
                      "headers={\"Content-Type\": \"application/json\"}); "
                      "print(urllib.request.urlopen(r).read().decode())' '" +
                      url + path + "' " + method + " '" + body + "'";
    std::string out;
    if (FILE *p = popen(cmd.c_str(), "r")) {
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
        pclose(p);
    }
    return out;
}

long stat(const std::string &name)
{
    std::string stats = admin("GET", "/admin/stats");
    auto at = stats.find("\"" + name + "\":");
    return at == std::string::npos ? -1 : std::atol(stats.c_str() + at + name.size() + 3);
}

std::string config(const std::string &extra = "")
{
    return "{\"stand\": \"emulator\", \"emulator_url\": \"" + url +
           "\", \"timeouts\": {\"total_ms\": 20000}" + extra + "}";
}

void test_flows()
{
    suz::Client client(config());
    suz::Signer signer = suz::Signer::function(openssl_sign);

    check("version", suz::version() == SUZ_AUTH_VERSION);
    suz::Token sm = client.token_smartmarket(SM_ID, SM_SECRET);
    check("smartmarket", sm.flow() == suz::Flow::SmartMarket && !sm.value().empty() &&
                             sm.expires_at_ms() > sm.obtained_at_ms());
    std::string push = client.smartpush(sm.value(), "{\"requestPayload\": {\"x\": 1}}");
    check("smartpush", push.find("requestId") != std::string::npos, push);

    suz::Token g = client.token_gismt(CONNECTION, &signer);
    check("gismt, function signer", g.flow() == suz::Flow::Gismt && !g.value().empty());
    suz::Token t = client.token_trueapi(CONNECTION, std::string_view("7707083893"), &signer);
    check("trueapi with inn", t.flow() == suz::Flow::TrueApi);
    suz::Token m = client.token_mdlp(CONNECTION, MDLP_ID, MDLP_SECRET, "1865725612", std::nullopt, &signer);
    check("mdlp signed code", m.flow() == suz::Flow::Mdlp);
    suz::Token mp = client.token_mdlp(CONNECTION, MDLP_ID, MDLP_SECRET, "user@example.org",
                                      std::string_view("password123"));
    check("mdlp password", mp.flow() == suz::Flow::Mdlp);
    std::string conn = client.register_connection(OMS_ID, REGISTRATION_KEY, "line 1", false, &signer);
    check("registration, signed", conn.size() == 36, conn);
    check("registration, pharma", client.register_connection(OMS_ID, PHARMA_KEY, "line 2", true).size() == 36);

    std::string sign_argv = "[\"openssl\", \"cms\", \"-sign\", \"-engine\", \"gost\", \"-binary\", "
                            "\"-outform\", \"DER\", \"-signer\", \"" + cert + "\", \"-inkey\", \"" + key + "\"";
    suz::Signer command = suz::Signer::command("{\"attached\": " + sign_argv + ", \"-nodetach\"], \"detached\": " +
                                               sign_argv + "]}");
    check("gismt, command signer", client.token_gismt(CONNECTION, &command).flow() == suz::Flow::Gismt);
}

void test_two_phases()
{
    suz::Client client(config());
    suz::Pending pending = client.begin_gismt(CONNECTION);
    check("pending kind", pending.kind() == suz::SignatureKind::Attached);
    std::string signature = openssl_sign(pending.data(), pending.kind());
    std::string state = pending.exported();
    check("exported state holds no signature", state.find(signature.substr(0, 16)) == std::string::npos);
    // Finished by another client, as in another process.
    suz::Client other(config());
    suz::Pending imported = other.import_pending(state);
    suz::Token token = other.finish_token(imported, signature);
    check("two phases across clients", token.flow() == suz::Flow::Gismt);
    auto twice = error_of("a spent pending", [&] { other.finish_token(imported, signature); });
    check("a spent pending is refused", twice && twice->code() != SUZ_RESULT_OK);

    suz::Pending reg = client.begin_registration(OMS_ID, REGISTRATION_KEY, "line 3");
    check("registration, two phases",
          client.finish_registration(reg, openssl_sign(reg.data(), reg.kind())).size() == 36);
    suz::Pending mdlp = client.begin_mdlp(CONNECTION, MDLP_ID, MDLP_SECRET, "1865725612");
    check("mdlp, two phases", client.finish_token(mdlp, openssl_sign(mdlp.data(), mdlp.kind())).flow() ==
                                  suz::Flow::Mdlp);
    suz::Pending ta = client.begin_trueapi(CONNECTION);
    check("trueapi, two phases",
          client.finish_token(ta, openssl_sign(ta.data(), ta.kind())).flow() == suz::Flow::TrueApi);
}

void test_cache_and_requests()
{
    std::string profiles = ", \"cache\": {\"persist\": false}, \"profiles\": {\"line\": {\"flow\": \"gismt\", "
                           "\"oms_connection\": \"" + std::string(CONNECTION) + "\", \"oms_id\": \"" + OMS_ID + "\"}}";
    suz::Client client(config(profiles));
    client.set_signer(suz::Signer::function(openssl_sign), std::string_view("line"));
    long before = stat("tokens_issued_total");
    std::vector<std::string> values(8);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < values.size(); i++)
        threads.emplace_back([&, i] { values[i] = std::string(client.token("line").value()); });
    for (auto &th : threads) th.join();
    bool same = true;
    for (auto &v : values) same = same && v == values[0];
    check("8 threads, one token", same && stat("tokens_issued_total") - before == 1);
    check("token_value is the cached token", client.token_value("line") == values[0]);

    suz::Response ping = client.request("line", "GET", "/api/v2/pharma/ping");
    check("request", ping.status() == 200 && !ping.body().empty());
    check("response headers", !ping.headers().empty() && ping.header("content-type").has_value());

    suz::Token current = client.token("line");
    check("invalidate the current token", client.invalidate("line", current));
    check("invalidate again keeps what is there", !client.invalidate("line", current));
    auto acquired = client.acquire("line");
    if (auto *p = std::get_if<suz::Pending>(&acquired)) {
        suz::Token done = client.complete(*p, openssl_sign(p->data(), p->kind()));
        check("acquire and complete", done.value() == client.token("line").value());
    } else {
        check("acquire gives a pending after invalidation", false);
    }
    auto unknown = error_of("unknown profile", [&] { client.token("nope"); });
    check("unknown profile", unknown && unknown->code() == SUZ_RESULT_INVALID_ARGUMENT);
}

/* The tokens signed in without an installation come through the same profile calls. */
void test_signed_in_tokens()
{
    struct Case { const char *flow; suz::Flow want; bool jwt; };
    const Case cases[] = {
        {"trueapi_token", suz::Flow::TrueApiToken, true},
        {"united_token", suz::Flow::UnitedToken, false},
        {"gismt_token", suz::Flow::GismtToken, true},
    };
    for (const Case &c : cases) {
        std::string profiles = std::string(", \"cache\": {\"persist\": false}, \"profiles\": {\"own\": {\"flow\": \"") +
                               c.flow + "\", \"certificate\": \"cpp-test-cert\"}}";
        suz::Client client(config(profiles));
        client.set_signer(suz::Signer::function(openssl_sign), std::string_view("own"));
        long before = stat("tokens_issued_total");
        suz::Token t = client.token("own");
        std::string value(t.value());
        size_t dots = static_cast<size_t>(std::count(value.begin(), value.end(), '.'));
        check("signed in without an installation: the flow", t.flow() == c.want, c.flow);
        check("signed in without an installation: a JWT, or the united token's UUID",
              (dots == 2) == c.jwt, std::string(c.flow) + ": " + value);
        std::string status = client.status();
        check("signed in without an installation: the status shows the certificate",
              status.find("\"thumbprint\"") != std::string::npos &&
                  status.find(value) == std::string::npos,
              c.flow);
        check("signed in without an installation: cached, one sign-in",
              client.token_value("own") == value && stat("tokens_issued_total") - before == 1, c.flow);
    }
}

void test_errors()
{
    auto config_error = error_of("config", [] { suz::Client c("{\"stnad\": \"emulator\"}"); });
    check("config error names the key", config_error && config_error->code() == SUZ_RESULT_CONFIG &&
                                            std::string(config_error->what()).find("stnad") != std::string::npos);
    suz::Client nowhere("{\"stand\": \"emulator\", \"emulator_url\": \"http://127.0.0.1:9\", "
                        "\"timeouts\": {\"total_ms\": 5000}}");
    auto refused = error_of("refused", [&] { nowhere.token_smartmarket(SM_ID, SM_SECRET); });
    check("connection refused", refused && refused->code() == SUZ_RESULT_CONNECT);

    suz::Client client(config());
    auto wrong = error_of("401", [&] { client.token_smartmarket(SM_ID, "wrong-secret"); });
    check("401 with status and RqUID", wrong && wrong->code() == SUZ_RESULT_UNAUTHORIZED &&
                                           wrong->http_status() == 401 && !wrong->rquid().empty() &&
                                           std::string(wrong->what()).find("wrong-secret") == std::string::npos);
    admin("POST", "/admin/faults", "{\"endpoint\": \"smartmarket.oauth\", \"kind\": \"status\", \"status\": 429, "
                                   "\"retry_after\": 7, \"times\": 3}");
    auto busy = error_of("429", [&] { client.token_smartmarket(SM_ID, SM_SECRET); });
    check("429 with Retry-After", busy && busy->code() == SUZ_RESULT_TOO_MANY_REQUESTS &&
                                      busy->retry_after() == std::chrono::milliseconds(7000));
    admin("DELETE", "/admin/faults");
    admin("POST", "/admin/faults", "{\"endpoint\": \"smartmarket.oauth\", \"kind\": \"html\", \"times\": 3}");
    auto html = error_of("html", [&] { client.token_smartmarket(SM_ID, SM_SECRET); });
    check("a proxy's HTML page", html && html->code() == SUZ_RESULT_HTTP_SERVER_ERROR && html->http_status() == 502);
    admin("DELETE", "/admin/faults");
    admin("POST", "/admin/faults", "{\"endpoint\": \"gismt.key\", \"kind\": \"status\", \"status\": 500, \"times\": 3}");
    suz::Signer signer = suz::Signer::function(openssl_sign);
    auto server = error_of("500", [&] { client.token_gismt(CONNECTION, &signer); });
    check("500", server && server->code() == SUZ_RESULT_HTTP_SERVER_ERROR && server->http_status() == 500);
    admin("DELETE", "/admin/faults");

    // Signers that fail: a std::exception, anything else, garbage.
    suz::Signer throws = suz::Signer::function([](std::string_view, suz::SignatureKind) -> std::string {
        throw std::runtime_error("smart card removed");
    });
    auto thrown = error_of("throwing signer", [&] { client.token_gismt(CONNECTION, &throws); });
    bool nested = false;
    check("a throwing signer: SIGNER_FAILED with its message",
          thrown && thrown->code() == SUZ_RESULT_SIGNER_FAILED &&
              std::string(thrown->what()).find("smart card removed") != std::string::npos);
    // The nested exception travels inside the thrown object: catch by reference to see it.
    try {
        client.token_gismt(CONNECTION, &throws);
    } catch (const suz::Error &e) {
        try {
            std::rethrow_if_nested(e);
        } catch (const std::runtime_error &inner) {
            nested = std::string(inner.what()) == "smart card removed";
        }
    }
    check("the signer's own exception is nested in the suz::Error", nested);
    suz::Signer throws_int = suz::Signer::function([](std::string_view, suz::SignatureKind) -> std::string {
        throw 42;
    });
    auto odd = error_of("non-std throw", [&] { client.token_gismt(CONNECTION, &throws_int); });
    check("a signer throwing a non-std exception", odd && odd->code() == SUZ_RESULT_SIGNER_FAILED);
    suz::Signer garbage = suz::Signer::function([](std::string_view, suz::SignatureKind) {
        return std::string("not a signature");
    });
    auto junk = error_of("garbage", [&] { client.token_gismt(CONNECTION, &garbage); });
    check("a signer returning garbage", junk && junk->code() == SUZ_RESULT_SIGNER_FAILED);
    // After all that, the client still works.
    check("the client still works", client.token_gismt(CONNECTION, &signer).flow() == suz::Flow::Gismt);

    bool nul = false;
    try {
        client.token_gismt(std::string_view("11b1\0abc", 8), &signer);
    } catch (const std::invalid_argument &) {
        nul = true;
    }
    check("an embedded NUL is std::invalid_argument", nul);
}

void test_moves_and_log()
{
    suz::Client a(config());
    suz::Client b(std::move(a));
    bool empty = false;
    try {
        a.token_smartmarket(SM_ID, SM_SECRET); // NOLINT: use after move is the point
    } catch (const std::logic_error &) {
        empty = true;
    }
    check("a moved-from client throws std::logic_error", empty);
    suz::Token t = b.token_smartmarket(SM_ID, SM_SECRET);
    suz::Token u(std::move(t));
    check("a token moves", !t && u && !u.value().empty());

    std::mutex m;
    std::vector<std::string> lines;
    suz::set_log_handler(
        [&](suz::LogLevel, std::string_view message) {
            std::lock_guard<std::mutex> lock(m);
            lines.emplace_back(message);
        },
        suz::LogLevel::Debug);
    std::string profiles = ", \"cache\": {\"persist\": false}, \"profiles\": {\"push\": {\"flow\": \"smartmarket\", "
                           "\"client_id\": \"" + std::string(SM_ID) + "\", \"client_secret\": \"" + SM_SECRET + "\"}}";
    suz::Client logged(config(profiles));
    logged.token("push");
    suz::set_log_handler([](suz::LogLevel, std::string_view) { throw std::runtime_error("log sink full"); },
                         suz::LogLevel::Debug);
    logged.token("push"); // a throwing handler loses messages, nothing else
    suz::set_log_handler(nullptr);
    bool secret_logged = false;
    for (auto &l : lines) secret_logged = secret_logged || l.find(SM_SECRET) != std::string::npos;
    check("the log handler hears the library, never a secret", !lines.empty() && !secret_logged);
}

} // namespace

/* A signer declared callable from any thread refreshes a due token on a thread of the
 * library's: the callers keep the valid token meanwhile. */
void test_refresh_ahead()
{
    std::string profiles = ", \"cache\": {\"persist\": false}, \"profiles\": {\"early\": {\"flow\": \"gismt\", "
                           "\"oms_connection\": \"" + std::string(CONNECTION) + "\", \"refresh_margin_ms\": 36000000}}";
    /* Declared before the client: a refresh may still sign while the client is freed. */
    std::mutex lock;
    std::vector<std::thread::id> threads;
    suz::Client client(config(profiles));
    client.set_signer(suz::Signer::function(
                          [&](std::string_view data, suz::SignatureKind kind) {
                              {
                                  std::lock_guard<std::mutex> hold(lock);
                                  threads.push_back(std::this_thread::get_id());
                              }
                              return openssl_sign(data, kind);
                          },
                          true));
    std::string first(client.token_value("early"));
    std::string again(client.token_value("early")); /* due: a refresh starts behind it */
    check("refresh ahead: the valid token at once", again == first);
    std::string renewed = first;
    for (int i = 0; i < 1000 && renewed == first; i++) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        renewed = std::string(client.token_value("early"));
    }
    std::lock_guard<std::mutex> hold(lock);
    check("refresh ahead: a new token", renewed != first);
    check("refresh ahead: signed on a thread of the library's",
          threads.size() >= 2 && threads[0] == std::this_thread::get_id() &&
              threads[1] != std::this_thread::get_id());
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        std::cerr << "usage: " << argv[0] << " EMULATOR_URL CERT_PEM KEY_PEM\n";
        return 2;
    }
    url = argv[1];
    cert = argv[2];
    key = argv[3];
    try {
        test_flows();
        test_two_phases();
        test_cache_and_requests();
        test_signed_in_tokens();
        test_refresh_ahead();
        test_errors();
        test_moves_and_log();
    } catch (const suz::Error &e) {
        check("unexpected suz::Error", false, e.name() + ": " + e.what());
    } catch (const std::exception &e) {
        check("unexpected exception", false, e.what());
    }
    std::cout << "checks: " << passed << " ok, " << failed << " failed\n";
    return failed == 0 ? 0 : 1;
}
