/*
 * A C host the library must never kill, hang or corrupt:
 *  - a command signer that exits without reading its input (/bin/false), 200 times: the
 *    library never writes to a pipe nobody reads, so no SIGPIPE (this host keeps the default
 *    SIGPIPE disposition, as C and C++ hosts do);
 *  - the log callback replaced while other threads log: after suz_set_log_callback returns,
 *    the old userdata is freed at once, and ASan or valgrind would see any later use.
 *
 *   test_safety EMULATOR_URL CERT_PEM KEY_PEM
 */
#define _XOPEN_SOURCE 700
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "suz_auth.h"

/* A log sink whose userdata is freed as soon as it is replaced. */
struct sink {
    unsigned long lines;
    char last[64];
};

static void to_sink(void *userdata, SuzLogLevel level, const char *message)
{
    struct sink *s = userdata;
    (void)level;
    s->lines++;
    snprintf(s->last, sizeof s->last, "%s", message);
}

struct worker {
    const SuzClient *client;
    volatile int stop;
    volatile unsigned long calls;
};

/* Cache hits log at debug level: each call runs the log callback. */
static void *get_tokens(void *arg)
{
    struct worker *w = arg;
    while (!w->stop) {
        SuzToken *token = NULL;
        if (suz_token_get(w->client, "sber", &token) == SUZ_RESULT_OK) {
            suz_token_free(token);
        }
        w->calls++;
    }
    return NULL;
}

static void test_false_signer(const SuzClient *client)
{
    SuzSigner *signer = NULL;
    int failed_as_documented = 0, i;
    char *connection = NULL;

    CHECK("/bin/false signer",
          suz_signer_new_command("{\"attached\":[\"/bin/false\"],\"detached\":[\"/bin/false\"]}",
                                 &signer) == SUZ_RESULT_OK);
    for (i = 0; i < 200; i++) {
        if (suz_register_connection(client, OMS_ID, REGISTRATION_KEY, "Moscow, 1 Red Square",
                                    false, signer, &connection) == SUZ_RESULT_SIGNER_FAILED &&
            connection == NULL) {
            failed_as_documented++;
        }
    }
    CHECK("200 x SUZ_RESULT_SIGNER_FAILED, the host alive", failed_as_documented == 200);
    CHECK("the message names the command", strstr(suz_last_error_message(), "/bin/false") != NULL);
    suz_signer_free(signer);
}

static void test_log_callback_replaced_under_load(const SuzClient *client)
{
    struct worker workers[3];
    pthread_t threads[3];
    struct sink *current = calloc(1, sizeof *current);
    int round, i, replace_failures = 0;

    CHECK("log callback set", suz_set_log_callback(to_sink, current, SUZ_LOG_LEVEL_DEBUG) ==
                             SUZ_RESULT_OK);
    for (i = 0; i < 3; i++) {
        workers[i].client = client;
        workers[i].stop = 0;
        workers[i].calls = 0;
        pthread_create(&threads[i], NULL, get_tokens, &workers[i]);
    }
    /* Replace until every worker made 100 calls under the churn (bounded: 2 000 000 rounds).
     * Each round lets the workers run: under valgrind, which runs one thread at a time, a
     * replacer that never yields starves them. */
    for (round = 0; round < 2000000; round++) {
        sched_yield();
        struct sink *next = calloc(1, sizeof *next);
        if (suz_set_log_callback(to_sink, next, SUZ_LOG_LEVEL_DEBUG) != SUZ_RESULT_OK) {
            replace_failures++;
        }
        /* The old callback may not run any more: its userdata goes now. */
        free(current);
        current = next;
        if (workers[0].calls > 100 && workers[1].calls > 100 && workers[2].calls > 100) {
            break;
        }
    }
    CHECK("every replacement succeeded", replace_failures == 0);
    for (i = 0; i < 3; i++) {
        workers[i].stop = 1;
        pthread_join(threads[i], NULL);
        CHECK("the workers made calls under the churn", workers[i].calls > 100);
    }
    CHECK("log off", suz_set_log_callback(NULL, NULL, SUZ_LOG_LEVEL_ERROR) == SUZ_RESULT_OK);
    free(current);
}

int main(int argc, char **argv)
{
    char config[1024];
    SuzClient *client = NULL;

    if (argc < 2) {
        fprintf(stderr, "usage: %s EMULATOR_URL [CERT_PEM KEY_PEM]\n", argv[0]);
        return 2;
    }
    /* The default disposition, as in any C host: a SIGPIPE would end this process. */
    signal(SIGPIPE, SIG_DFL);
    snprintf(config, sizeof config,
             "{\"stand\":\"emulator\",\"emulator_url\":\"%s\",\"cache\":{\"persist\":false},"
             "\"profiles\":{\"sber\":{\"flow\":\"smartmarket\",\"client_id\":\"%s\","
             "\"client_secret\":\"%s\"}}}",
             argv[1], SM_CLIENT_ID, SM_CLIENT_SECRET);
    CHECK("client", suz_client_new(config, &client) == SUZ_RESULT_OK);

    test_false_signer(client);
    test_log_callback_replaced_under_load(client);

    suz_client_free(client);
    printf("checks: %d ok, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
