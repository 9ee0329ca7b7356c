/*
 * The rest of the C ABI, so that every export runs under ASan+UBSan and valgrind: profiles and
 * the token cache (suz_token_get, suz_token_invalidate, suz_client_set_signer), authorized
 * requests and their responses, the log callback, the command signer, the two-phase begin of
 * every flow, and every suz_last_* getter after a 429 with Retry-After. tests/c/run.sh checks
 * that the C tests together call every function the header declares.
 *
 *   test_lifecycle EMULATOR_URL CERT_PEM KEY_PEM
 */
#define _XOPEN_SOURCE 700 /* mkdtemp, popen */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "openssl_signer.h"
#include "check.h"
#include "suz_auth.h"


/* POSTs a JSON body to the emulator's admin API over a plain socket; returns the status. */
static int admin_post(const char *base_url, const char *path, const char *body)
{
    char host[64], port[16], request[2048], answer[512];
    struct addrinfo hints, *found = NULL;
    int fd, status = 0;
    ssize_t n;

    if (sscanf(base_url, "http://%63[^:]:%15[0-9]", host, port) != 2) {
        return 0;
    }
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &found) != 0) {
        return 0;
    }
    fd = socket(found->ai_family, found->ai_socktype, found->ai_protocol);
    if (fd >= 0) {
        /* A stuck emulator fails the check instead of hanging the test. */
        struct timeval limit = {10, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
    }
    if (fd >= 0 && connect(fd, found->ai_addr, found->ai_addrlen) == 0) {
        int len = snprintf(request, sizeof request,
                           "POST %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
                           "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                           path, host, strlen(body), body);
        if (write(fd, request, (size_t)len) == len) {
            n = read(fd, answer, sizeof answer - 1);
            if (n > 0) {
                answer[n] = 0;
                sscanf(answer, "HTTP/1.1 %d", &status);
            }
        }
    }
    if (fd >= 0) {
        close(fd);
    }
    freeaddrinfo(found);
    return status;
}

/* Signs data with openssl outside the library (the 1C way); returns the DER length or 0. */
static size_t sign_outside(const OpensslSigner *gost, const uint8_t *data, size_t len,
                           int attached, unsigned char *out, size_t cap)
{
    char in_path[] = "/tmp/suz-c-lifecycle-XXXXXX";
    char command[1024];
    size_t out_len;
    FILE *f;
    int fd = mkstemp(in_path);
    if (fd < 0) {
        return 0;
    }
    f = fdopen(fd, "wb");
    fwrite(data, 1, len, f);
    fclose(f);
    snprintf(command, sizeof command,
             "openssl cms -sign -engine gost -binary %s -outform DER -signer '%s' -inkey '%s' "
             "-in '%s' 2>/dev/null",
             attached ? "-nodetach" : "", gost->cert_pem, gost->key_pem, in_path);
    f = popen(command, "r");
    out_len = fread(out, 1, cap, f);
    if (pclose(f) != 0) {
        out_len = 0;
    }
    remove(in_path);
    return out_len;
}

static int log_lines = 0;
static int log_secret_seen = 0;
static void count_log(void *userdata, SuzLogLevel level, const char *message)
{
    (void)userdata;
    if (level >= SUZ_LOG_LEVEL_ERROR && level <= SUZ_LOG_LEVEL_DEBUG && message != NULL) {
        log_lines++;
        if (strstr(message, SM_CLIENT_SECRET) != NULL) {
            log_secret_seen++;
        }
    }
}

static void test_two_phase_begins(SuzClient *client, const OpensslSigner *gost)
{
    SuzPending *pending = NULL;
    SuzToken *token = NULL;
    char *connection = NULL;
    const uint8_t *data = NULL;
    size_t len = 0, signature_len;
    unsigned char signature[8192];

    CHECK("register begin",
          suz_register_begin(client, OMS_ID, REGISTRATION_KEY, "Line 2", &pending) ==
              SUZ_RESULT_OK);
    CHECK("register data", suz_pending_data(pending, &data, &len) == SUZ_RESULT_OK &&
                               len == strlen("{\"address\":\"Line 2\"}") &&
                               memcmp(data, "{\"address\":\"Line 2\"}", len) == 0);
    CHECK("register kind", suz_pending_kind(pending) == SUZ_SIGNATURE_KIND_DETACHED);
    signature_len = sign_outside(gost, data, len, 0, signature, sizeof signature);
    CHECK("register finish",
          suz_pending_finish_registration(client, pending, signature, signature_len,
                                          &connection) == SUZ_RESULT_OK &&
              connection != NULL && strlen(connection) == 36);
    CHECK("a registration is no token flow",
          suz_pending_finish_token(client, pending, signature, signature_len, &token) ==
                  SUZ_RESULT_INVALID_ARGUMENT &&
              token == NULL);
    suz_string_free(connection);
    suz_pending_free(pending);

    CHECK("mdlp begin", suz_mdlp_begin(client, CONNECTION, MDLP_CLIENT_ID, MDLP_CLIENT_SECRET,
                                       "1865725612", &pending) == SUZ_RESULT_OK);
    CHECK("mdlp kind", suz_pending_kind(pending) == SUZ_SIGNATURE_KIND_DETACHED);
    suz_pending_data(pending, &data, &len);
    signature_len = sign_outside(gost, data, len, 0, signature, sizeof signature);
    CHECK("mdlp finish",
          suz_pending_finish_token(client, pending, signature, signature_len, &token) ==
                  SUZ_RESULT_OK &&
              suz_token_flow(token) == SUZ_FLOW_MDLP);
    suz_token_free(token);
    token = NULL;
    suz_pending_free(pending);

    /* True API, carried: exported, the original freed, imported, finished with a detached
     * signature (as 1C makes it; the library embeds the challenge), and never twice. */
    CHECK("trueapi begin",
          suz_trueapi_begin(client, CONNECTION, "7707083893", &pending) == SUZ_RESULT_OK);
    CHECK("trueapi kind", suz_pending_kind(pending) == SUZ_SIGNATURE_KIND_ATTACHED);
    {
        char *exported = NULL;
        SuzPending *imported = NULL, *again = NULL;

        CHECK("export", suz_pending_export(pending, &exported) == SUZ_RESULT_OK &&
                            exported != NULL && strncmp(exported, "suz-pending.2.", 14) == 0);
        suz_pending_free(pending);
        pending = NULL;
        CHECK("import", suz_pending_import(client, exported, &imported) == SUZ_RESULT_OK);
        suz_pending_data(imported, &data, &len);
        signature_len = sign_outside(gost, data, len, 0, signature, sizeof signature);
        CHECK("trueapi finish, imported, detached signature",
              suz_pending_finish_token(client, imported, signature, signature_len, &token) ==
                      SUZ_RESULT_OK &&
                  suz_token_flow(token) == SUZ_FLOW_TRUE_API);
        suz_token_free(token);
        token = NULL;
        CHECK("import again", suz_pending_import(client, exported, &again) == SUZ_RESULT_OK);
        CHECK("a finished operation is not finished twice",
              suz_pending_finish_token(client, again, signature, signature_len, &token) ==
                      SUZ_RESULT_INVALID_ARGUMENT &&
                  token == NULL && strstr(suz_last_error_message(), "already finished") != NULL);
        CHECK("a damaged string is refused",
              suz_pending_import(client, "suz-pending.2.e30.0000000000000000", &again) ==
                  SUZ_RESULT_INVALID_ARGUMENT);
        suz_pending_free(again);
        suz_pending_free(imported);
        suz_string_free(exported);
    }
}

/* A profile's token with the signature made between two calls, as 1C makes it: acquire gives
 * the cached token, or the lease and the data to sign; complete (here on an imported copy)
 * stores the token; release gives the lease up. */
static void test_acquire(SuzClient *client, OpensslSigner *gost)
{
    SuzToken *token = NULL, *cached = NULL;
    SuzPending *pending = NULL, *imported = NULL;
    const uint8_t *data = NULL;
    size_t len = 0, signature_len;
    uint8_t signature[16384];
    char *exported = NULL;
    bool dropped = false;

    CHECK("acquire: the cached token",
          suz_token_acquire(client, "line1", &token, &pending) == SUZ_RESULT_OK && token != NULL &&
              pending == NULL);
    CHECK("acquire: invalidated",
          suz_token_invalidate(client, "line1", token, &dropped) == SUZ_RESULT_OK && dropped);
    suz_token_free(token);
    token = NULL;
    CHECK("acquire: the lease",
          suz_token_acquire(client, "line1", &token, &pending) == SUZ_RESULT_OK && token == NULL &&
              pending != NULL);
    CHECK("release", suz_token_release(client, pending) == SUZ_RESULT_OK);
    suz_pending_free(pending);
    pending = NULL;
    CHECK("acquire: the lease again at once",
          suz_token_acquire(client, "line1", &token, &pending) == SUZ_RESULT_OK && pending != NULL);
    CHECK("export", suz_pending_export(pending, &exported) == SUZ_RESULT_OK);
    suz_pending_free(pending);
    CHECK("import", suz_pending_import(client, exported, &imported) == SUZ_RESULT_OK);
    suz_pending_data(imported, &data, &len);
    signature_len = sign_outside(gost, data, len, 0, signature, sizeof signature);
    CHECK("complete with a detached signature",
          suz_token_complete(client, imported, signature, signature_len, &token) ==
                  SUZ_RESULT_OK &&
              suz_token_flow(token) == SUZ_FLOW_GISMT);
    CHECK("acquire: the completed token",
          suz_token_acquire(client, "line1", &cached, &pending) == SUZ_RESULT_OK &&
              cached != NULL && pending == NULL &&
              strcmp(suz_token_value(cached), suz_token_value(token)) == 0);
    CHECK("acquire: NULL out-parameter",
          suz_token_acquire(client, "line1", &cached, NULL) == SUZ_RESULT_NULL_ARGUMENT);
    CHECK("complete: NULL pending",
          suz_token_complete(client, NULL, signature, signature_len, &token) ==
              SUZ_RESULT_NULL_ARGUMENT);
    CHECK("result name", strcmp(suz_result_name(SUZ_RESULT_IN_PROGRESS),
                                "SUZ_RESULT_IN_PROGRESS") == 0);
    suz_token_free(cached);
    suz_token_free(token);
    suz_pending_free(imported);
    suz_string_free(exported);
}

static void test_profiles(SuzClient *client, SuzSigner *signer)
{
    SuzToken *first = NULL, *second = NULL, *sber = NULL;
    SuzResponse *response = NULL;
    const uint8_t *body = NULL;
    const char *name = NULL, *value = NULL;
    size_t body_len = 0, count;
    bool dropped = true;

    CHECK("set signer for one profile",
          suz_client_set_signer(client, "line1", signer) == SUZ_RESULT_OK);
    CHECK("set signer for an unknown profile",
          suz_client_set_signer(client, "nope", signer) == SUZ_RESULT_INVALID_ARGUMENT);
    CHECK("token get", suz_token_get(client, "line1", &first) == SUZ_RESULT_OK &&
                           suz_token_flow(first) == SUZ_FLOW_GISMT);
    CHECK("cached token", suz_token_get(client, "line1", &second) == SUZ_RESULT_OK &&
                              strcmp(suz_token_value(first), suz_token_value(second)) == 0);
    suz_token_free(second);
    second = NULL;
    {
        /* The status: the profile's token, masked (the value itself never appears). */
        char *status = NULL;
        CHECK("status", suz_client_status(client, &status) == SUZ_RESULT_OK && status != NULL &&
                            strstr(status, "\"profile\":\"line1\"") != NULL &&
                            strstr(status, "\"expires_at_ms\"") != NULL &&
                            strstr(status, suz_token_value(first)) == NULL);
        suz_string_free(status);
        CHECK("status: NULL out", suz_client_status(client, NULL) == SUZ_RESULT_NULL_ARGUMENT);
    }
    {
        /* The value alone, copied into the caller's buffer: the same cached token. */
        char buf[SUZ_TOKEN_VALUE_MAX], small[4] = "xyz";
        size_t needed = 0, value_len = strlen(suz_token_value(first));
        int64_t expires = 0, fresh_until = 0;
        CHECK("token value into a buffer",
              suz_token_get_value(client, "line1", buf, sizeof buf, &needed, &expires,
                                  &fresh_until) == SUZ_RESULT_OK &&
                  strcmp(buf, suz_token_value(first)) == 0 && needed == value_len + 1 &&
                  expires == suz_token_expires_at_ms(first) &&
                  fresh_until > suz_token_obtained_at_ms(first) && fresh_until < expires);
        needed = 0;
        CHECK("token value: a small buffer is refused, left alone, and told the size",
              suz_token_get_value(client, "line1", small, sizeof small, &needed, NULL, NULL) ==
                      SUZ_RESULT_INVALID_ARGUMENT &&
                  needed == value_len + 1 && strcmp(small, "xyz") == 0 &&
                  strstr(suz_last_error_message(), "needs") != NULL);
        needed = 0;
        CHECK("token value: the size alone",
              suz_token_get_value(client, "line1", NULL, 0, &needed, NULL, NULL) ==
                      SUZ_RESULT_INVALID_ARGUMENT &&
                  needed == value_len + 1);
        CHECK("token value: NULL buffer with a length",
              suz_token_get_value(client, "line1", NULL, 8, NULL, NULL, NULL) ==
                  SUZ_RESULT_NULL_ARGUMENT);
        CHECK("token value: unknown profile",
              suz_token_get_value(client, "nope", buf, sizeof buf, NULL, NULL, NULL) ==
                  SUZ_RESULT_INVALID_ARGUMENT);
    }

    CHECK("request", suz_request(client, "line1", "GET", "/api/v2/pharma/ping", NULL, &response) ==
                         SUZ_RESULT_OK);
    CHECK("response status", suz_response_status(response) == 200);
    CHECK("response body", suz_response_body(response, &body, &body_len) == SUZ_RESULT_OK &&
                               body_len > 0 && body[0] == '{');
    count = suz_response_header_count(response);
    CHECK("response headers", count > 0);
    CHECK("response header at", suz_response_header_at(response, 0, &name, &value) ==
                                        SUZ_RESULT_OK &&
                                    name != NULL && value != NULL);
    CHECK("header index out of range",
          suz_response_header_at(response, count, &name, &value) == SUZ_RESULT_INVALID_ARGUMENT);
    CHECK("response header by name", suz_response_header(response, "CONTENT-TYPE") != NULL &&
                                         suz_response_header(response, "X-None") == NULL);
    suz_response_free(response);
    response = NULL;

    CHECK("invalidate the current token",
          suz_token_invalidate(client, "line1", first, &dropped) == SUZ_RESULT_OK && dropped);
    CHECK("invalidate again keeps what is there",
          suz_token_invalidate(client, "line1", first, &dropped) == SUZ_RESULT_OK && !dropped);
    CHECK("a new token after invalidation",
          suz_token_get(client, "line1", &second) == SUZ_RESULT_OK &&
              strcmp(suz_token_value(first), suz_token_value(second)) != 0);
    suz_token_free(first);
    suz_token_free(second);

    CHECK("smartmarket profile", suz_token_get(client, "sber", &sber) == SUZ_RESULT_OK &&
                                     suz_token_flow(sber) == SUZ_FLOW_SMART_MARKET);
    suz_token_free(sber);
    CHECK("unknown profile", suz_token_get(client, "nope", &sber) == SUZ_RESULT_INVALID_ARGUMENT &&
                                 strstr(suz_last_error_message(), "line1") != NULL);
}

static void test_last_error_details(SuzClient *client, const char *url)
{
    SuzToken *token = NULL;
    char *answer = NULL;

    CHECK("queue a 429",
          admin_post(url, "/admin/faults",
                     "{\"endpoint\":\"smartpush.apprequest\",\"kind\":\"status\",\"status\":429,"
                     "\"retry_after\":7,\"body\":\"{\\\"code\\\":\\\"429\\\",\\\"message\\\":"
                     "\\\"slow down\\\"}\"}") == 200);
    CHECK("token for smartpush",
          suz_get_token_smartmarket(client, SM_CLIENT_ID, SM_CLIENT_SECRET, NULL, &token) ==
              SUZ_RESULT_OK);
    CHECK("429", suz_smartpush_request(client, suz_token_value(token), "{\"requestPayload\":{}}",
                                       &answer) == SUZ_RESULT_TOO_MANY_REQUESTS &&
                     answer == NULL);
    CHECK("last code", suz_last_error_code() == SUZ_RESULT_TOO_MANY_REQUESTS);
    CHECK("last status", suz_last_http_status() == 429);
    CHECK("last retry-after", suz_last_retry_after_ms() == 7000);
    CHECK("last server code", strcmp(suz_last_server_code(), "429") == 0);
    CHECK("last server message", strcmp(suz_last_server_message(), "slow down") == 0);
    CHECK("last rquid", strlen(suz_last_rquid()) == 36);
    suz_token_free(token);
    CHECK("NULL signer", suz_client_set_signer(client, NULL, NULL) == SUZ_RESULT_NULL_ARGUMENT &&
                             suz_last_http_status() == 0 && suz_last_retry_after_ms() == -1);
}

int main(int argc, char **argv)
{
    char config[2048], command_json[1024], cache_dir[] = "/tmp/suz-c-cache-XXXXXX";
    SuzClient *client = NULL;
    SuzSigner *signer = NULL, *command = NULL;
    SuzToken *token = NULL;
    OpensslSigner gost = {0};

    if (argc != 4) {
        fprintf(stderr, "usage: %s EMULATOR_URL CERT_PEM KEY_PEM\n", argv[0]);
        return 2;
    }
    gost.cert_pem = argv[2];
    gost.key_pem = argv[3];
    if (mkdtemp(cache_dir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    CHECK("log level out of range", suz_set_log_callback(count_log, NULL, 9) ==
                                        SUZ_RESULT_INVALID_ARGUMENT);
    CHECK("log callback", suz_set_log_callback(count_log, NULL, SUZ_LOG_LEVEL_DEBUG) ==
                              SUZ_RESULT_OK);
    snprintf(config, sizeof config,
             "{\"stand\":\"emulator\",\"emulator_url\":\"%s\",\"timeouts\":{\"total_ms\":20000},"
             "\"cache\":{\"dir\":\"%s\"},\"profiles\":{"
             "\"line1\":{\"flow\":\"gismt\",\"oms_connection\":\"%s\",\"oms_id\":\"%s\"},"
             "\"sber\":{\"flow\":\"smartmarket\",\"client_id\":\"%s\",\"client_secret\":\"%s\"}}}",
             argv[1], cache_dir, CONNECTION, OMS_ID, SM_CLIENT_ID, SM_CLIENT_SECRET);
    CHECK("client", suz_client_new(config, &client) == SUZ_RESULT_OK);
    CHECK("signer", suz_signer_new_callback(openssl_sign_callback, &gost, NULL, &signer) ==
                        SUZ_RESULT_OK);

    snprintf(command_json, sizeof command_json,
             "{\"attached\":[\"openssl\",\"cms\",\"-sign\",\"-engine\",\"gost\",\"-binary\","
             "\"-nodetach\",\"-outform\",\"DER\",\"-signer\",\"%s\",\"-inkey\",\"%s\"],"
             "\"detached\":[\"openssl\",\"cms\",\"-sign\",\"-engine\",\"gost\",\"-binary\","
             "\"-outform\",\"DER\",\"-signer\",\"%s\",\"-inkey\",\"%s\"],\"timeout_ms\":20000}",
             gost.cert_pem, gost.key_pem, gost.cert_pem, gost.key_pem);
    CHECK("command signer", suz_signer_new_command(command_json, &command) == SUZ_RESULT_OK);
    {
        SuzSigner *bad = NULL;
        CHECK("bad command signer",
              suz_signer_new_command("{\"attached\":[]}", &bad) != SUZ_RESULT_OK && bad == NULL);
    }
    CHECK("gismt with the command signer",
          suz_get_token_gismt(client, CONNECTION, command, &token) == SUZ_RESULT_OK &&
              suz_token_flow(token) == SUZ_FLOW_GISMT);
    suz_token_free(token);

    test_profiles(client, signer);
    test_acquire(client, &gost);
    test_two_phase_begins(client, &gost);
    test_last_error_details(client, argv[1]);

    CHECK("log lines arrived", log_lines > 0);
    CHECK("no secret in the log", log_secret_seen == 0);
    CHECK("log off", suz_set_log_callback(NULL, NULL, SUZ_LOG_LEVEL_ERROR) == SUZ_RESULT_OK);

    suz_signer_free(command);
    suz_signer_free(signer);
    suz_client_free(client);
    printf("checks: %d ok, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
