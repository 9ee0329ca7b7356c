/*
 * Gets while the token refreshes: THREADS threads ask for a profile's token through
 * suz_token_get_value every PAUSE_US microseconds for SECONDS seconds. Run it against an
 * emulator that issues short-lived tokens (scripts/bench.sh uses 2-second tokens, and a 50 ms
 * delay on the OAuth answer), so the token enters its refresh margin several times. Once the
 * first token exists a valid one always does: prints the slowest get after the first token,
 * how many took over 1 ms, and p50/p99.
 *
 * Without CERT_PEM the profile is SmartMarket's (its refresh signs nothing). With it, GIS MT's
 * own token (a JWT whose expiry the emulator's `--token-ttl-ms` sets), signed by a callback (`openssl cms` with the GOST engine, benches/sign.h) made with
 * suz_signer_new_callback_any_thread (`any`: refreshed ahead on a thread of the library's) or
 * suz_signer_new_callback (`plain`: the caller that finds the token due runs the flow).
 *
 *   refresh EMULATOR_URL [THREADS [SECONDS [PAUSE_US [CERT_PEM KEY_PEM any|plain]]]]
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sign.h"
#include "suz_auth.h"

#define SM_CLIENT_ID "e5623627-bb8c-412c-94b7-1a6998e8ef3a"
#define SM_CLIENT_SECRET "887d15a2-cb4f-4998-9591-5b26d62d3751"
#define MAX_SAMPLES 2000000

static SuzClient *client;
static const char *profile = "push";
static double seconds = 8;
static long pause_us = 100;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

typedef struct {
    uint64_t *samples;
    long count;
    int failed;
} Job;

static void *run(void *arg)
{
    Job *job = arg;
    char value[SUZ_TOKEN_VALUE_MAX];
    uint64_t end = now_ns() + (uint64_t)(seconds * 1e9);
    struct timespec pause = {0, pause_us * 1000};
    while (now_ns() < end && job->count < MAX_SAMPLES) {
        uint64_t t0 = now_ns();
        if (suz_token_get_value(client, profile, value, sizeof value, NULL, NULL, NULL) !=
            SUZ_RESULT_OK) {
            job->failed = 1;
            return NULL;
        }
        job->samples[job->count++] = now_ns() - t0;
        nanosleep(&pause, NULL);
    }
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    char config[1024], value[SUZ_TOKEN_VALUE_MAX];
    int threads = 8;
    if (argc < 2) {
        fprintf(stderr, "usage: %s EMULATOR_URL [THREADS [SECONDS [PAUSE_US [CERT_PEM KEY_PEM any|plain]]]]\n",
                argv[0]);
        return 2;
    }
    if (argc > 2) threads = atoi(argv[2]);
    if (argc > 3) seconds = atof(argv[3]);
    if (argc > 4) pause_us = atol(argv[4]);
    if (threads < 1 || threads > 64) return 2;
    int signed_flow = argc > 7;
    if (signed_flow) {
        cert_pem = argv[5];
        key_pem = argv[6];
        profile = "line";
        snprintf(config, sizeof config,
                 "{\"stand\": \"emulator\", \"emulator_url\": \"%s\", \"cache\": {\"persist\": false},"
                 " \"profiles\": {\"line\": {\"flow\": \"gismt_token\", \"certificate\": \"bench\"}}}",
                 argv[1]);
    } else {
        snprintf(config, sizeof config,
                 "{\"stand\": \"emulator\", \"emulator_url\": \"%s\", \"cache\": {\"persist\": false},"
                 " \"profiles\": {\"push\": {\"flow\": \"smartmarket\", \"client_id\": \"" SM_CLIENT_ID
                 "\", \"client_secret\": \"" SM_CLIENT_SECRET "\"}}}",
                 argv[1]);
    }
    SuzSigner *signer = NULL;
    if (suz_client_new(config, &client) != SUZ_RESULT_OK) {
        fprintf(stderr, "setup: %s\n", suz_last_error_message());
        return 1;
    }
    if (signed_flow) {
        int any = strcmp(argv[7], "any") == 0;
        SuzResult rc = any ? suz_signer_new_callback_any_thread(sign_callback, NULL, NULL, &signer)
                           : suz_signer_new_callback(sign_callback, NULL, NULL, &signer);
        if (rc != SUZ_RESULT_OK || suz_client_set_signer(client, NULL, signer) != SUZ_RESULT_OK) {
            fprintf(stderr, "signer: %s\n", suz_last_error_message());
            return 1;
        }
        suz_signer_free(signer);
    }
    if (suz_token_get_value(client, profile, value, sizeof value, NULL, NULL, NULL) != SUZ_RESULT_OK) {
        fprintf(stderr, "setup: %s\n", suz_last_error_message());
        return 1;
    }
    /* From here on a valid token exists. */
    pthread_t tid[64];
    Job jobs[64];
    for (int t = 0; t < threads; t++) {
        jobs[t].samples = malloc(sizeof(uint64_t) * MAX_SAMPLES);
        jobs[t].count = 0;
        jobs[t].failed = 0;
        pthread_create(&tid[t], NULL, run, &jobs[t]);
    }
    long total = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        if (jobs[t].failed) {
            fprintf(stderr, "a get failed: %s\n", suz_last_error_message());
            return 1;
        }
        total += jobs[t].count;
    }
    uint64_t *all = malloc(sizeof(uint64_t) * (size_t)total);
    long n = 0, over = 0;
    for (int t = 0; t < threads; t++) {
        memcpy(all + n, jobs[t].samples, sizeof(uint64_t) * (size_t)jobs[t].count);
        n += jobs[t].count;
        free(jobs[t].samples);
    }
    qsort(all, (size_t)n, sizeof *all, cmp);
    for (long i = 0; i < n; i++) over += all[i] > 1000000;
    printf("gets while a valid token existed: %ld from %d threads over %.0f s; p50=%.0f ns "
           "p99=%.0f ns slowest=%.3f ms; over 1 ms: %ld\n",
           n, threads, seconds, (double)all[n / 2], (double)all[n * 99 / 100],
           (double)all[n - 1] / 1e6, over);
    free(all);
    suz_client_free(client);
    return 0;
}
