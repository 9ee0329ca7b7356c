/*
 * suz-auth demo: obtains a token through every flow via the C ABI, against the bundled
 * emulator, with real GOST signatures made by OpenSSL's GOST engine.
 *
 *   demo EMULATOR_URL CERT_PEM KEY_PEM
 *
 * Run it through scripts/demo.sh, which starts the emulator and makes the certificate.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "openssl_signer.h"
#include "suz_auth.h"

/* Demo credentials the emulator knows (see emulator/README.md). */
#define OMS_ID "cdf12109-10d3-11e6-8b6f-0050569977a1"
#define REGISTRATION_KEY "4344d884-7f21-456c-981e-cd68e92391e8"
#define MDLP_CLIENT_ID "7df0d06f-6510-44fe-a378-76cb53e2605f"
#define MDLP_CLIENT_SECRET "49781b3a-19d5-4ad7-b1b6-abb57e598d41"
#define SM_CLIENT_ID "e5623627-bb8c-412c-94b7-1a6998e8ef3a"
#define SM_CLIENT_SECRET "887d15a2-cb4f-4998-9591-5b26d62d3751"

static int failures = 0;

static void report_failure(const char *what, SuzResult rc)
{
    failures++;
    printf("%-28s FAILED %s: %s\n", what, suz_result_name(rc), suz_last_error_message());
}

static void show(const char *what, SuzResult rc, SuzToken *token)
{
    char when[64];
    const char *value;
    time_t expires;

    if (rc != SUZ_RESULT_OK) {
        report_failure(what, rc);
        return;
    }
    value = suz_token_value(token);
    expires = (time_t)(suz_token_expires_at_ms(token) / 1000);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime(&expires));
    /* Tokens are secrets: show only the first characters. */
    printf("%-28s %.6s…(%zu chars)  expires %s\n", what, value, strlen(value), when);
    suz_token_free(token);
}

int main(int argc, char **argv)
{
    char config[512];
    char *connection = NULL;
    char *response = NULL;
    SuzClient *client = NULL;
    SuzSigner *signer = NULL;
    SuzToken *token = NULL;
    SuzResult rc;
    OpensslSigner gost = {0};

    if (argc != 4) {
        fprintf(stderr, "usage: %s EMULATOR_URL CERT_PEM KEY_PEM\n", argv[0]);
        return 2;
    }
    gost.cert_pem = argv[2];
    gost.key_pem = argv[3];
    printf("suz-auth %s against %s\n\n", suz_version(), argv[1]);

    /* One profile: True API's own token, fetched through the profile calls. */
    snprintf(config, sizeof config,
             "{\"stand\": \"emulator\", \"emulator_url\": \"%s\", \"cache\": {\"persist\": false},"
             " \"profiles\": {\"trueapi_own\": {\"flow\": \"trueapi_token\","
             " \"certificate\": \"demo-certificate\", \"inn\": \"7707083893\"}}}",
             argv[1]);
    rc = suz_client_new(config, &client);
    if (rc != SUZ_RESULT_OK) {
        report_failure("client", rc);
        return 1;
    }
    rc = suz_signer_new_callback(openssl_sign_callback, &gost, NULL, &signer);
    if (rc != SUZ_RESULT_OK) {
        report_failure("signer", rc);
        suz_client_free(client);
        return 1;
    }

    rc = suz_register_connection(client, OMS_ID, REGISTRATION_KEY, "г.Москва, ул. Ленинские горы, 1",
                                 false, signer, &connection);
    if (rc != SUZ_RESULT_OK) {
        report_failure("1. registration", rc);
        suz_signer_free(signer);
        suz_client_free(client);
        return 1;
    }
    printf("%-28s omsConnection %s\n", "1. registration", connection);

    rc = suz_get_token_mdlp(client, connection, MDLP_CLIENT_ID, MDLP_CLIENT_SECRET, "1865725612",
                            NULL, signer, &token);
    show("2. MDLP (signed code)", rc, token);
    rc = suz_get_token_mdlp(client, connection, MDLP_CLIENT_ID, MDLP_CLIENT_SECRET,
                            "user@example.org", "password123", NULL, &token);
    show("2. MDLP (password)", rc, token);
    rc = suz_get_token_gismt(client, connection, signer, &token);
    show("3. GIS MT", rc, token);
    rc = suz_get_token_trueapi(client, connection, "7707083893", signer, &token);
    show("4. True API (inn)", rc, token);
    rc = suz_get_token_smartmarket(client, SM_CLIENT_ID, SM_CLIENT_SECRET, NULL, &token);
    if (rc == SUZ_RESULT_OK) {
        SuzResult push = suz_smartpush_request(client, suz_token_value(token),
                                               "{\"requestPayload\": {\"text\": \"demo\"}}", &response);
        show("5. SmartMarket OAuth", rc, token);
        if (push == SUZ_RESULT_OK) {
            printf("%-28s %.70s…\n", "6. SmartPush apprequest", response);
            suz_string_free(response);
        } else {
            report_failure("6. SmartPush apprequest", push);
        }
    } else {
        report_failure("5. SmartMarket OAuth", rc);
    }

    rc = suz_client_set_signer(client, "trueapi_own", signer);
    if (rc == SUZ_RESULT_OK) {
        rc = suz_token_get(client, "trueapi_own", &token);
    }
    show("7. True API own token", rc, token);

    printf("\n%d GOST signatures made by the callback signer\n", gost.calls);
    suz_string_free(connection);
    suz_signer_free(signer);
    suz_client_free(client);
    return failures == 0 ? 0 : 1;
}
