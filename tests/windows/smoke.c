/*
 * The Windows DLL as a C host on Windows uses it: linked through an import library, against
 * the emulator on 127.0.0.1. A SmartMarket token, a GIS MT token with a callback signer, the
 * token cache in a directory (the Windows file lock: a second client waits on it for the first
 * one's fetch), and the errors a host meets: refused credentials, a port nobody listens on, a
 * signer that fails.
 *
 *   smoke.exe EMULATOR_URL CACHE_DIR SIGN_COMMAND
 *
 * SIGN_COMMAND is run with "IN OUT" appended: it signs the file IN (detached) into OUT, written
 * under another name and renamed, so the file appears whole. Under wine it is a Unix program,
 * which wine starts but does not reliably wait for: the output file is polled for, bounded.
 */
#include <io.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

#include "check.h"
#include "suz_auth.h"

static const char *sign_command;
static int signatures = 0;

static int read_whole(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    long size;
    if (!f) return 0;
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return 0;
    }
    *out = malloc((size_t)size);
    *len = *out ? fread(*out, 1, (size_t)size, f) : 0;
    fclose(f);
    return *len == (size_t)size;
}

/* The host's signer: writes the data to a file, runs the command, hands back what it wrote. */
static int32_t command_signer(void *userdata, const uint8_t *data, size_t len,
                              SuzSignatureKind kind, SuzSignatureSink *sink)
{
    char in[64], out[64], cmd[4096];
    STARTUPINFOA si;
    PROCESS_INFORMATION pi;
    uint8_t *sig = NULL;
    size_t sig_len = 0;
    FILE *f;
    int n = ++signatures, i;
    (void)userdata;
    (void)kind; /* detached either way: the library makes an attached one from it */
    snprintf(in, sizeof in, "sign-%d.bin", n);
    snprintf(out, sizeof out, "sign-%d.der", n);
    remove(out);
    f = fopen(in, "wb");
    if (!f || fwrite(data, 1, len, f) != len) {
        if (f) fclose(f);
        suz_signature_sink_fail(sink, "cannot write the data to sign");
        return 1;
    }
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s %s %s", sign_command, in, out);
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    if (!CreateProcessA(NULL, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi)) {
        suz_signature_sink_fail(sink, "cannot start the signing command");
        return 1;
    }
    WaitForSingleObject(pi.hProcess, 30000);
    CloseHandle(pi.hThread);
    CloseHandle(pi.hProcess);
    for (i = 0; i < 300 && !read_whole(out, &sig, &sig_len); i++) {
        free(sig);
        sig = NULL;
        Sleep(100);
    }
    if (!sig) {
        suz_signature_sink_fail(sink, "the signing command wrote nothing");
        return 1;
    }
    suz_signature_sink_write(sink, sig, sig_len);
    free(sig);
    return 0;
}

static int32_t failing_signer(void *userdata, const uint8_t *data, size_t len,
                              SuzSignatureKind kind, SuzSignatureSink *sink)
{
    (void)userdata;
    (void)data;
    (void)len;
    (void)kind;
    suz_signature_sink_fail(sink, "smart card removed");
    return 1;
}

/* The same signer, slow: the fetch holds the cache directory's lock for a while. */
/* Set by the slow signer when it starts: the first client then holds the cache lock. */
static HANDLE signing_started;

static int32_t slow_signer(void *userdata, const uint8_t *data, size_t len, SuzSignatureKind kind,
                           SuzSignatureSink *sink)
{
    if (signing_started) SetEvent(signing_started);
    Sleep(1500);
    return command_signer(userdata, data, len, kind, sink);
}

/* A token_get on a thread of its own; the value is kept. */
struct Fetch {
    SuzClient *client;
    SuzResult rc;
    char value[1024];
};

static DWORD WINAPI fetch_thread(LPVOID arg)
{
    struct Fetch *f = arg;
    SuzToken *token = NULL;
    f->rc = suz_token_get(f->client, "gismt", &token);
    if (token) snprintf(f->value, sizeof f->value, "%s", suz_token_value(token));
    suz_token_free(token);
    return 0;
}

static int token_ok(SuzResult rc, SuzToken *token, SuzFlow flow)
{
    int ok = rc == SUZ_RESULT_OK && token != NULL && suz_token_flow(token) == flow &&
             strlen(suz_token_value(token)) > 0 &&
             suz_token_expires_at_ms(token) > suz_token_obtained_at_ms(token);
    return ok;
}

/* A JSON string body: the path's backslashes escaped. */
static void json_escape(const char *in, char *out, size_t size)
{
    size_t o = 0;
    for (; *in && o + 2 < size; in++) {
        if (*in == '\\' || *in == '"') out[o++] = '\\';
        out[o++] = *in;
    }
    out[o] = '\0';
}

int main(int argc, char **argv)
{
    char config[4096], cache[1024], closed[512];
    SuzClient *client = NULL, *nowhere = NULL;
    SuzSigner *signer = NULL, *failing = NULL;
    SuzToken *token = NULL, *again = NULL;
    SuzResult rc;

    /* Failures are reported on stdout; make it the same stream as stderr, which a Unix child
     * started under wine leaves intact. */
    _dup2(_fileno(stderr), _fileno(stdout));
    if (argc != 4) {
        fprintf(stderr, "usage: %s EMULATOR_URL CACHE_DIR SIGN_COMMAND\n", argv[0]);
        return 2;
    }
    sign_command = argv[3];
    json_escape(argv[2], cache, sizeof cache);
    snprintf(config, sizeof config,
             "{\"stand\": \"emulator\", \"emulator_url\": \"%s\", \"timeouts\": {\"total_ms\": 20000},"
             " \"cache\": {\"dir\": \"%s\", \"lock_timeout_ms\": 5000},"
             " \"profiles\": {\"gismt\": {\"flow\": \"gismt\", \"oms_connection\": \"" CONNECTION "\"},"
             " \"smartmarket\": {\"flow\": \"smartmarket\", \"client_id\": \"" SM_CLIENT_ID "\","
             " \"client_secret\": \"" SM_CLIENT_SECRET "\"}}}",
             argv[1], cache);

    CHECK("version", strcmp(suz_version(), SUZ_AUTH_VERSION) == 0);
    CHECK("client", suz_client_new(config, &client) == SUZ_RESULT_OK);
    if (!client) return 1;

    rc = suz_get_token_smartmarket(client, SM_CLIENT_ID, SM_CLIENT_SECRET, NULL, &token);
    CHECK("smartmarket token", token_ok(rc, token, SUZ_FLOW_SMART_MARKET));
    suz_token_free(token);
    token = NULL;

    CHECK("callback signer",
          suz_signer_new_callback(command_signer, NULL, NULL, &signer) == SUZ_RESULT_OK);
    rc = suz_get_token_gismt(client, CONNECTION, signer, &token);
    CHECK("gismt token, callback signer", token_ok(rc, token, SUZ_FLOW_GISMT));
    suz_token_free(token);
    token = NULL;

    /* The token cache: one fetch, then the same token from memory, under the directory lock. */
    CHECK("set profile signer", suz_client_set_signer(client, "gismt", signer) == SUZ_RESULT_OK);
    rc = suz_token_get(client, "gismt", &token);
    CHECK("cached token", token_ok(rc, token, SUZ_FLOW_GISMT));
    rc = suz_token_get(client, "gismt", &again);
    CHECK("cached token again",
          token_ok(rc, again, SUZ_FLOW_GISMT) && token &&
              strcmp(suz_token_value(token), suz_token_value(again)) == 0);
    suz_token_free(token);
    suz_token_free(again);
    token = NULL;

    /* Two clients on one new cache directory, as two processes would be: while the first
     * fetches (its signer is slow), the second waits on the directory's file lock, blocked,
     * then reads the token the first one stored. */
    {
        char wait_dir[600], wait_config[2048];
        SuzClient *first = NULL, *second = NULL;
        SuzSigner *slow = NULL;
        SuzToken *got = NULL;
        struct Fetch fetch;
        HANDLE thread;
        DWORD began, waited;
        snprintf(wait_dir, sizeof wait_dir, "%s\\\\wait", cache);
        snprintf(wait_config, sizeof wait_config,
                 "{\"stand\": \"emulator\", \"emulator_url\": \"%s\", \"timeouts\": {\"total_ms\": 60000},"
                 " \"cache\": {\"dir\": \"%s\", \"lock_timeout_ms\": 60000},"
                 " \"profiles\": {\"gismt\": {\"flow\": \"gismt\", \"oms_connection\": \"" CONNECTION "\"}}}",
                 argv[1], wait_dir);
        CHECK("two clients on one cache directory",
              suz_client_new(wait_config, &first) == SUZ_RESULT_OK &&
                  suz_client_new(wait_config, &second) == SUZ_RESULT_OK);
        CHECK("slow signer", suz_signer_new_callback(slow_signer, NULL, NULL, &slow) == SUZ_RESULT_OK);
        CHECK("their signers", suz_client_set_signer(first, "gismt", slow) == SUZ_RESULT_OK &&
                                   suz_client_set_signer(second, "gismt", signer) == SUZ_RESULT_OK);
        memset(&fetch, 0, sizeof fetch);
        fetch.client = first;
        /* The second client starts once the first is inside its fetch (holding the lock):
         * a fixed sleep raced with thread start-up under a loaded wine. */
        signing_started = CreateEventA(NULL, TRUE, FALSE, NULL);
        thread = CreateThread(NULL, 0, fetch_thread, &fetch, 0, NULL);
        CHECK("the first client began signing",
              signing_started && WaitForSingleObject(signing_started, 60000) == WAIT_OBJECT_0);
        began = GetTickCount();
        rc = suz_token_get(second, "gismt", &got);
        waited = GetTickCount() - began;
        if (thread) {
            WaitForSingleObject(thread, 120000);
            CloseHandle(thread);
        }
        CHECK("the second client waited for the lock and read the first one's token",
              thread != NULL && rc == SUZ_RESULT_OK && fetch.rc == SUZ_RESULT_OK && got != NULL &&
                  strcmp(fetch.value, suz_token_value(got)) == 0 && waited >= 300);
        if (rc != SUZ_RESULT_OK) fprintf(stderr, "second client: %s\n", suz_last_error_message());
        if (fetch.rc != SUZ_RESULT_OK || waited < 300)
            fprintf(stderr, "first client: rc %d; the second waited %lu ms\n", (int)fetch.rc,
                    (unsigned long)waited);
        if (signing_started) CloseHandle(signing_started);
        signing_started = NULL;
        suz_token_free(got);
        suz_signer_free(slow);
        suz_client_free(first);
        suz_client_free(second);
    }

    /* Errors: refused credentials, a closed port, a failing signer. */
    rc = suz_get_token_smartmarket(client, SM_CLIENT_ID, "wrong-secret", NULL, &token);
    CHECK("wrong secret is UNAUTHORIZED",
          rc == SUZ_RESULT_UNAUTHORIZED && token == NULL && suz_last_http_status() == 401 &&
              strstr(suz_last_error_message(), "wrong-secret") == NULL);
    snprintf(closed, sizeof closed,
             "{\"stand\": \"emulator\", \"emulator_url\": \"http://127.0.0.1:9\","
             " \"timeouts\": {\"total_ms\": 5000}}");
    CHECK("client for a closed port", suz_client_new(closed, &nowhere) == SUZ_RESULT_OK);
    rc = suz_get_token_smartmarket(nowhere, SM_CLIENT_ID, SM_CLIENT_SECRET, NULL, &token);
    CHECK("closed port is CONNECT", rc == SUZ_RESULT_CONNECT && token == NULL &&
                                        strlen(suz_last_error_message()) > 0);
    suz_client_free(nowhere);
    CHECK("failing signer",
          suz_signer_new_callback(failing_signer, NULL, NULL, &failing) == SUZ_RESULT_OK);
    rc = suz_get_token_gismt(client, CONNECTION, failing, &token);
    CHECK("failing signer is SIGNER_FAILED",
          rc == SUZ_RESULT_SIGNER_FAILED && token == NULL &&
              strstr(suz_last_error_message(), "smart card removed") != NULL);
    CHECK("result name", strcmp(suz_result_name(SUZ_RESULT_SIGNER_FAILED), "SUZ_RESULT_SIGNER_FAILED") == 0);

    suz_signer_free(failing);
    suz_signer_free(signer);
    suz_client_free(client);
    fprintf(stderr, "checks: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
