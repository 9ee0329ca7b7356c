/*
 * Every flow through the C ABI with the callback signer, plus the argument checks a C caller
 * can get wrong. Built with -Wall -Wextra -Wpedantic -Werror and run plain, under ASan+UBSan
 * and under valgrind by tests/c/run.sh.
 *
 *   test_flows EMULATOR_URL CERT_PEM KEY_PEM
 */
#define _XOPEN_SOURCE 700 /* mkstemp, popen */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "openssl_signer.h"
#include "check.h"
#include "suz_auth.h"


static int token_ok(SuzResult rc, SuzToken *token, SuzFlow flow)
{
    int ok = rc == SUZ_RESULT_OK && token != NULL && suz_token_flow(token) == flow &&
             strlen(suz_token_value(token)) > 0 &&
             suz_token_expires_at_ms(token) > suz_token_obtained_at_ms(token);
    suz_token_free(token);
    return ok;
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

static int userdata_freed = 0;
static void count_free(void *userdata)
{
    (void)userdata;
    userdata_freed++;
}

static void test_two_phase(SuzClient *client, OpensslSigner *gost)
{
    SuzPending *pending = NULL;
    SuzToken *token = NULL;
    const uint8_t *data = NULL;
    size_t len = 0;
    int signed_ok;

    /* The 1C way: begin, sign outside the library, finish. */
    CHECK("gismt begin", suz_gismt_begin(client, CONNECTION, &pending) == SUZ_RESULT_OK);
    CHECK("pending data", suz_pending_data(pending, &data, &len) == SUZ_RESULT_OK && len > 0);
    CHECK("pending kind", suz_pending_kind(pending) == SUZ_SIGNATURE_KIND_ATTACHED);
    {
        /* Sign the challenge with openssl via a temporary file; read back PEM text. */
        char in_path[] = "/tmp/suz-c-test-XXXXXX";
        char command[1024];
        unsigned char signature[8192];
        size_t signature_len;
        FILE *f;
        int fd = mkstemp(in_path);
        f = fdopen(fd, "wb");
        fwrite(data, 1, len, f);
        fclose(f);
        snprintf(command, sizeof command,
                 "openssl cms -sign -engine gost -binary -nodetach -outform PEM -signer '%s' "
                 "-inkey '%s' -in '%s' 2>/dev/null",
                 gost->cert_pem, gost->key_pem, in_path);
        f = popen(command, "r");
        signature_len = fread(signature, 1, sizeof signature, f);
        signed_ok = pclose(f) == 0 && signature_len > 0;
        remove(in_path);
        CHECK("two-phase signing", signed_ok);
        /* PEM text with its armour and line breaks: the library cleans it. */
        SuzResult rc = suz_pending_finish_token(client, pending, signature, signature_len, &token);
        CHECK("gismt finish", token_ok(rc, token, SUZ_FLOW_GISMT));
        token = NULL;
        /* Finished once: the library refuses a second finish before sending anything. */
        CHECK("challenge is single-use",
              suz_pending_finish_token(client, pending, signature, signature_len, &token) ==
                      SUZ_RESULT_INVALID_ARGUMENT &&
                  token == NULL);
    }
    suz_pending_free(pending);
}

static void test_arguments(SuzClient *client, SuzSigner *signer)
{
    SuzClient *other = NULL;
    SuzToken *token = NULL;
    SuzSigner *bad = NULL;
    char *connection = NULL;
    const char invalid_utf8[] = {'{', '"', (char)0xff, '"', '}', 0};

    CHECK("NULL config", suz_client_new(NULL, &other) == SUZ_RESULT_NULL_ARGUMENT && other == NULL);
    CHECK("NULL out", suz_client_new("{}", NULL) == SUZ_RESULT_NULL_ARGUMENT);
    CHECK("invalid UTF-8", suz_client_new(invalid_utf8, &other) == SUZ_RESULT_INVALID_UTF8);
    CHECK("unknown key", suz_client_new("{\"stnd\":\"demo\"}", &other) == SUZ_RESULT_CONFIG &&
                             strstr(suz_last_error_message(), "stnd") != NULL);
    CHECK("NULL client", suz_get_token_gismt(NULL, CONNECTION, signer, &token) ==
                             SUZ_RESULT_NULL_ARGUMENT);
    CHECK("not a UUID", suz_get_token_gismt(client, "42", signer, &token) ==
                            SUZ_RESULT_INVALID_ARGUMENT && token == NULL);
    CHECK("rejected", suz_register_connection(client, OMS_ID, "00000000-0000-4000-8000-000000000001",
                                              "x", false, signer, &connection) ==
                          SUZ_RESULT_REGISTRATION_REJECTED &&
                          strlen(suz_last_server_message()) > 0 && connection == NULL);
    CHECK("wrong secret", suz_get_token_smartmarket(client, SM_CLIENT_ID, "nope", NULL, &token) ==
                              SUZ_RESULT_UNAUTHORIZED && suz_last_http_status() == 401 &&
                              strlen(suz_last_rquid()) == 36);
    CHECK("failing signer new", suz_signer_new_callback(failing_signer, NULL, count_free, &bad) ==
                                    SUZ_RESULT_OK);
    CHECK("failing signer", suz_get_token_gismt(client, CONNECTION, bad, &token) ==
                                SUZ_RESULT_SIGNER_FAILED &&
                                strstr(suz_last_error_message(), "smart card") != NULL);
    suz_signer_free(bad);
    CHECK("userdata_free called once", userdata_freed == 1);
    CHECK("result name", strcmp(suz_result_name(SUZ_RESULT_TIMEOUT), "SUZ_RESULT_TIMEOUT") == 0);
    CHECK("version", strcmp(suz_version(), SUZ_AUTH_VERSION) == 0);
    suz_client_free(NULL);
    suz_token_free(NULL);
    suz_string_free(NULL);
}

int main(int argc, char **argv)
{
    char config[512];
    SuzClient *client = NULL;
    SuzSigner *signer = NULL;
    SuzToken *token = NULL;
    char *connection = NULL;
    char *response = NULL;
    OpensslSigner gost = {0};
    SuzResult rc;

    if (argc != 4) {
        fprintf(stderr, "usage: %s EMULATOR_URL CERT_PEM KEY_PEM\n", argv[0]);
        return 2;
    }
    gost.cert_pem = argv[2];
    gost.key_pem = argv[3];
    snprintf(config, sizeof config,
             "{\"stand\":\"emulator\",\"emulator_url\":\"%s\",\"timeouts\":{\"total_ms\":20000}}",
             argv[1]);
    CHECK("client", suz_client_new(config, &client) == SUZ_RESULT_OK);
    CHECK("signer", suz_signer_new_callback(openssl_sign_callback, &gost, NULL, &signer) ==
                        SUZ_RESULT_OK);

    rc = suz_register_connection(client, OMS_ID, REGISTRATION_KEY, "Цех 1", false, signer,
                                 &connection);
    CHECK("registration", rc == SUZ_RESULT_OK && connection != NULL);
    suz_string_free(connection);
    connection = NULL;
    rc = suz_register_connection(client, OMS_ID, PHARMA_KEY, "Склад", true, NULL, &connection);
    CHECK("pharma registration", rc == SUZ_RESULT_OK && connection != NULL);
    suz_string_free(connection);

    rc = suz_get_token_mdlp(client, CONNECTION, MDLP_CLIENT_ID, MDLP_CLIENT_SECRET, "1865725612",
                            NULL, signer, &token);
    CHECK("mdlp signed code", token_ok(rc, token, SUZ_FLOW_MDLP));
    rc = suz_get_token_mdlp(client, CONNECTION, MDLP_CLIENT_ID, MDLP_CLIENT_SECRET,
                            "user@example.org", "password123", NULL, &token);
    CHECK("mdlp password", token_ok(rc, token, SUZ_FLOW_MDLP));
    rc = suz_get_token_gismt(client, CONNECTION, signer, &token);
    CHECK("gismt", token_ok(rc, token, SUZ_FLOW_GISMT));
    rc = suz_get_token_trueapi(client, CONNECTION, NULL, signer, &token);
    CHECK("trueapi", token_ok(rc, token, SUZ_FLOW_TRUE_API));
    {
        /* The same callback declared callable from any thread signs the same. */
        SuzSigner *any = NULL;
        CHECK("signer for any thread",
              suz_signer_new_callback_any_thread(openssl_sign_callback, &gost, NULL, &any) ==
                  SUZ_RESULT_OK);
        rc = suz_get_token_gismt(client, CONNECTION, any, &token);
        CHECK("gismt, signer for any thread", token_ok(rc, token, SUZ_FLOW_GISMT));
        suz_signer_free(any);
        any = NULL;
        CHECK("signer for any thread, NULL callback",
              suz_signer_new_callback_any_thread(NULL, NULL, NULL, &any) ==
                      SUZ_RESULT_NULL_ARGUMENT &&
                  any == NULL);
    }
    rc = suz_get_token_trueapi(client, CONNECTION, "7707083893", signer, &token);
    CHECK("trueapi with inn", token_ok(rc, token, SUZ_FLOW_TRUE_API));
    rc = suz_get_token_smartmarket(client, SM_CLIENT_ID, SM_CLIENT_SECRET, NULL, &token);
    CHECK("smartmarket", rc == SUZ_RESULT_OK);
    if (rc == SUZ_RESULT_OK) {
        rc = suz_smartpush_request(client, suz_token_value(token), "{\"requestPayload\":{}}",
                                   &response);
        CHECK("smartpush", rc == SUZ_RESULT_OK && strstr(response, "responseId") != NULL);
        suz_string_free(response);
        CHECK("smartmarket token", token_ok(SUZ_RESULT_OK, token, SUZ_FLOW_SMART_MARKET));
    }

    test_two_phase(client, &gost);
    test_arguments(client, signer);

    suz_signer_free(signer);
    suz_client_free(client);
    printf("checks: %d ok, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
