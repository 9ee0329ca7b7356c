/*
 * A cached token through the C ABI, next to its floor measured in the same program: taking a
 * mutex and copying a 64-byte token out of shared memory. Each thread times every call
 * (clock_gettime around one get + value + free) and the p50 and p99 over all threads are
 * printed, for 1 and for 8 threads.
 *
 *   cached_get EMULATOR_URL [ITERATIONS]
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "suz_auth.h"

#define SM_CLIENT_ID "e5623627-bb8c-412c-94b7-1a6998e8ef3a"
#define SM_CLIENT_SECRET "887d15a2-cb4f-4998-9591-5b26d62d3751"

static SuzClient *client;
static long iterations = 200000;
static pthread_mutex_t floor_lock = PTHREAD_MUTEX_INITIALIZER;
static char floor_token[64] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde";
static volatile char sink;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

typedef struct {
    int floor;
    uint64_t *samples;
    int failed;
} Job;

static void *run(void *arg)
{
    Job *job = arg;
    char copy[64];
    for (long i = 0; i < iterations; i++) {
        uint64_t t0 = now_ns();
        if (job->floor) {
            pthread_mutex_lock(&floor_lock);
            memcpy(copy, floor_token, sizeof copy);
            pthread_mutex_unlock(&floor_lock);
            sink = copy[i % 64];
        } else {
            SuzToken *token = NULL;
            if (suz_token_get(client, "smartmarket", &token) != SUZ_RESULT_OK) {
                job->failed = 1;
                return NULL;
            }
            sink = suz_token_value(token)[0];
            suz_token_free(token);
        }
        job->samples[i] = now_ns() - t0;
    }
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Runs THREADS threads and prints "label threads p50 p99" in ns; returns p50. */
static double measure(const char *label, int floor, int threads)
{
    pthread_t tid[64];
    Job jobs[64];
    size_t total = (size_t)threads * (size_t)iterations;
    uint64_t *all = malloc(total * sizeof *all);
    if (!all) exit(2);
    for (int t = 0; t < threads; t++) {
        jobs[t].floor = floor;
        jobs[t].samples = all + (size_t)t * (size_t)iterations;
        jobs[t].failed = 0;
        pthread_create(&tid[t], NULL, run, &jobs[t]);
    }
    for (int t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        if (jobs[t].failed) {
            fprintf(stderr, "suz_token_get failed: %s\n", suz_last_error_message());
            exit(1);
        }
    }
    qsort(all, total, sizeof *all, cmp);
    double p50 = (double)all[total / 2], p99 = (double)all[total * 99 / 100];
    printf("%-28s threads=%d p50=%.0f ns p99=%.0f ns\n", label, threads, p50, p99);
    free(all);
    return p50;
}

int main(int argc, char **argv)
{
    char config[1024];
    if (argc < 2) {
        fprintf(stderr, "usage: %s EMULATOR_URL [ITERATIONS]\n", argv[0]);
        return 2;
    }
    if (argc > 2) iterations = atol(argv[2]);
    snprintf(config, sizeof config,
             "{\"stand\": \"emulator\", \"emulator_url\": \"%s\", \"profiles\": {\"smartmarket\":"
             " {\"flow\": \"smartmarket\", \"client_id\": \"" SM_CLIENT_ID "\", \"client_secret\": \""
             SM_CLIENT_SECRET "\"}}}",
             argv[1]);
    if (suz_client_new(config, &client) != SUZ_RESULT_OK) {
        fprintf(stderr, "client: %s\n", suz_last_error_message());
        return 1;
    }
    int counts[] = {1, 8};
    for (int i = 0; i < 2; i++) {
        double f = measure("floor (mutex + 64-byte copy)", 1, counts[i]);
        double g = measure("suz_token_get cached", 0, counts[i]);
        printf("ratio threads=%d: %.1fx the floor\n", counts[i], g / f);
    }
    suz_client_free(client);
    return 0;
}
