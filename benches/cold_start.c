/*
 * The cold start: PROCS processes x THREADS threads that all want the same installation's
 * token at the same moment, with nothing cached, next to one process with one thread doing
 * the same: the fetch it makes is the peer.
 *
 * Every process and thread is started first and waits at a gate (a pipe none of them can read
 * before the parent closes it); then all the threads call `suz_token_get_value`. A run's time
 * goes from the gate's opening to the last thread holding its token (CLOCK_MONOTONIC, one
 * clock for all processes). Starting processes and threads is the harness's cost and is left
 * out on both sides; so is ending them (a thread with its token blocks, and the processes end
 * together after the last token). Three measures:
 *
 *   - `get`: each process made its client before the gate: from the moment of demand;
 *   - `client_new + get`: each process makes its client (`suz_client_new`) after the gate;
 *   - the floor, next to `get`: the same processes and threads, but only the first thread
 *     calls the library; the others wait on a pipe it closes when it has the token, and copy
 *     the value. That is the cheapest waiting there is (every waiter blocked in the kernel,
 *     all woken at once), so its time less one fetch is what merely waking PROCS x THREADS
 *     threads twice costs on this machine.
 *
 * The runs are interleaved, ROUNDS rounds of the five, every run in a new cache directory (so
 * every run fetches). Times are medians over the rounds; a ratio is the median of the rounds'
 * ratios (each between runs made a moment apart). The GIS MT flow signs with `openssl cms` and
 * the GOST engine through the profile's `signer.command`.
 *
 *   cold_start EMULATOR_URL CERT_PEM KEY_PEM WORK_DIR [PROCS [THREADS [ROUNDS]]]
 *
 * Prints each measure's two sides and ratio, when the many side's first caller had its token
 * (the fetch; the rest of its time is everyone else being served), `get` against the floor,
 * each measure's last token against its first within the same run (what serving the other
 * callers costs once the fetch is done, without the delay their start caused the fetch), and
 * the distinct token values the callers of a run got (1 when one fetch served everyone).
 */
#define _DEFAULT_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "suz_auth.h"

#define CONNECTION "11b1abc9-f4ee-47db-8a20-f80ac83504e8"
#define MAX_CALLERS 4096
#define MAX_ROUNDS 100
#define VALUE_MAX 1024

/* What the processes report, in memory shared with the parent. */
struct Shared {
    double done_us[MAX_CALLERS]; /* when each caller had its token; 0 if it failed */
    char value[MAX_CALLERS][VALUE_MAX];
};

enum Mode { GET, CLIENT_NEW_AND_GET, FLOOR };

static struct Shared *shared;
static const char *config;
static enum Mode mode;
static int token_pipe[2]; /* FLOOR: closed by the one caller of the library once it has the token */

/* One process's callers: they wait for the client, then get the token once each. */
struct Process {
    int ready[2]; /* a pipe closed once the client exists: every caller's read() returns 0 */
    int done[2];  /* a pipe: one byte when every caller has its token */
    SuzClient *client;
    int threads, finished;
};

struct Caller {
    struct Process *process;
    int slot;
};

static void *caller(void *arg)
{
    struct Caller *c = arg;
    struct Process *p = c->process;
    char byte;
    /* All the callers wake together when the pipe closes, with no lock to queue on. */
    if (read(p->ready[0], &byte, 1) != 0 || p->client == NULL) _exit(4);
    char *value = shared->value[c->slot];
    if (mode == FLOOR && c->slot != 0) {
        if (read(token_pipe[0], &byte, 1) != 0) _exit(4);
        if (shared->done_us[0] != 0) {
            memcpy(value, shared->value[0], VALUE_MAX);
            shared->done_us[c->slot] = clock_us(CLOCK_MONOTONIC);
        }
    } else {
        size_t needed = 0;
        if (suz_token_get_value(p->client, "line", value, VALUE_MAX, &needed, NULL, NULL) == SUZ_RESULT_OK) {
            shared->done_us[c->slot] = clock_us(CLOCK_MONOTONIC);
        } else {
            fprintf(stderr, "get failed: %s\n", suz_last_error_message());
        }
        if (mode == FLOOR) close(token_pipe[1]);
    }
    /* Done: the last caller tells the process, and every caller stays blocked (the process
     * ends with _exit), so no lock, wake-up or thread exit of the harness takes a core from
     * the callers still being served. */
    if (__atomic_add_fetch(&p->finished, 1, __ATOMIC_ACQ_REL) == p->threads) {
        byte = 1;
        if (write(p->done[1], &byte, 1) != 1) _exit(5);
    }
    for (;;) pause();
}

/* A child: its callers are started, then it waits at the gate (the read end of GATE). */
static void child(int gate, int report, int leave, int first_slot, int threads)
{
    struct Process p = {.client = NULL, .threads = threads, .finished = 0};
    if (pipe(p.ready) != 0 || pipe(p.done) != 0) _exit(2);
    if (mode == FLOOR && first_slot != 0) close(token_pipe[1]);
    pthread_t tid;
    static struct Caller callers[MAX_CALLERS];
    for (int t = 0; t < threads; t++) {
        callers[t] = (struct Caller){.process = &p, .slot = first_slot + t};
        if (pthread_create(&tid, NULL, caller, &callers[t]) != 0) _exit(2);
    }
    char byte;
    SuzClient *client = NULL;
    if (mode != CLIENT_NEW_AND_GET && suz_client_new(config, &client) != SUZ_RESULT_OK) client = NULL;
    if (read(gate, &byte, 1) != 0) _exit(3); /* returns 0 when the parent closes the pipe */
    if (mode == CLIENT_NEW_AND_GET && suz_client_new(config, &client) != SUZ_RESULT_OK) client = NULL;
    if (client == NULL) fprintf(stderr, "suz_client_new: %s\n", suz_last_error_message());
    p.client = client;
    close(p.ready[1]);
    /* Every caller has its token: tell the parent, and end only once every process is done,
     * so no process's exit takes a core from the callers of another still being served. */
    if (read(p.done[0], &byte, 1) != 1 || write(report, &byte, 1) != 1) _exit(6);
    _exit(read(leave, &byte, 1) == 0 ? 0 : 7);
}

/* One run: PROCS x THREADS callers from the gate's opening; returns the ms to the last token,
 * or a negative number if any caller failed. *first_ms receives the ms to the first token,
 * *distinct the distinct values got. */
static double run(int procs, int threads, double *first_ms, int *distinct)
{
    int callers = procs * threads;
    memset(shared, 0, sizeof *shared);
    int gate[2], report[2], leave[2];
    if (pipe(gate) != 0 || pipe(report) != 0 || pipe(leave) != 0) return -1;
    if (mode == FLOOR && pipe(token_pipe) != 0) return -1;
    pid_t pids[MAX_CALLERS];
    for (int i = 0; i < procs; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            close(gate[1]);
            close(report[0]);
            close(leave[1]);
            child(gate[0], report[1], leave[0], i * threads, threads);
        }
    }
    close(gate[0]);
    close(report[1]);
    close(leave[0]);
    if (mode == FLOOR) close(token_pipe[1]);
    /* Let every process start its threads and block at the gate. */
    struct timespec settle = {0, 200 * 1000 * 1000};
    nanosleep(&settle, NULL);
    double t0 = clock_us(CLOCK_MONOTONIC);
    close(gate[1]);
    /* One byte from each process when all its callers are done (EOF if one died), then they
     * may all end. */
    char byte;
    for (int i = 0; i < procs && read(report[0], &byte, 1) == 1; i++) {
    }
    close(report[0]);
    close(leave[1]);
    if (mode == FLOOR) close(token_pipe[0]);
    int failed = 0;
    for (int i = 0; i < procs; i++) {
        int status;
        waitpid(pids[i], &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed = 1;
    }
    double first = 0, last = 0;
    *distinct = 0;
    for (int i = 0; i < callers; i++) {
        double d = shared->done_us[i];
        if (d == 0) return -1;
        if (d > last) last = d;
        if (first == 0 || d < first) first = d;
        int seen = 0;
        for (int j = 0; j < i && !seen; j++) seen = strcmp(shared->value[i], shared->value[j]) == 0;
        *distinct += !seen;
    }
    *first_ms = (first - t0) / 1e3;
    return failed ? -1 : (last - t0) / 1e3;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s EMULATOR_URL CERT_PEM KEY_PEM WORK_DIR [PROCS [THREADS [ROUNDS]]]\n", argv[0]);
        return 2;
    }
    const char *url = argv[1], *cert = argv[2], *key = argv[3], *work = argv[4];
    int procs = argc > 5 ? atoi(argv[5]) : 8;
    int threads = argc > 6 ? atoi(argv[6]) : 32;
    int rounds = argc > 7 ? atoi(argv[7]) : 11;
    if (procs < 1 || threads < 1 || procs * threads > MAX_CALLERS || rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "PROCS x THREADS must be 1..%d, ROUNDS 1..%d\n", MAX_CALLERS, MAX_ROUNDS);
        return 2;
    }
    shared = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) return 1;
    const char *sign = "\"openssl\", \"cms\", \"-sign\", \"-engine\", \"gost\", \"-binary\", "
                       "\"-outform\", \"DER\", \"-signer\", \"%s\", \"-inkey\", \"%s\"";
    char argv_json[1024];
    snprintf(argv_json, sizeof argv_json, sign, cert, key);

    /* The five runs of a round: (mode, processes, threads). */
    struct {
        enum Mode mode;
        int many;
    } runs[] = {{GET, 0}, {GET, 1}, {FLOOR, 1}, {CLIENT_NEW_AND_GET, 0}, {CLIENT_NEW_AND_GET, 1}};
    enum { RUNS = sizeof runs / sizeof runs[0] };
    static double ms[RUNS][MAX_ROUNDS], first[RUNS][MAX_ROUNDS];
    int distinct_max = 0;
    for (int r = 0; r < rounds; r++) {
        for (int k = 0; k < RUNS; k++) {
            /* A new cache directory for every run: nothing is cached when it starts. */
            char cache[512];
            snprintf(cache, sizeof cache, "%s/cold-%d-%d", work, r, k);
            static char json[4096];
            int n = snprintf(json, sizeof json,
                             "{\"stand\": \"emulator\", \"emulator_url\": \"%s\", \"cache\": {\"dir\": \"%s\"},"
                             " \"profiles\": {\"line\": {\"flow\": \"gismt\", \"oms_connection\": \"%s\","
                             " \"signer\": {\"command\": {\"attached\": [%s, \"-nodetach\"], \"detached\": [%s]}}}}}",
                             url, cache, CONNECTION, argv_json, argv_json);
            if (n < 0 || (size_t)n >= sizeof json) return 1;
            config = json;
            mode = runs[k].mode;
            int distinct = 0;
            double t = runs[k].many ? run(procs, threads, &first[k][r], &distinct) : run(1, 1, &first[k][r], &distinct);
            if (t < 0) {
                fprintf(stderr, "a caller failed in round %d\n", r);
                return 1;
            }
            ms[k][r] = t;
            if (runs[k].many && distinct > distinct_max) distinct_max = distinct;
        }
    }
    /* Each many-side run against the one-side run of its measure in the same round. */
    struct {
        const char *name;
        int one, many;
    } lines[] = {{"get", 0, 1}, {"floor (waiting on a pipe)", 0, 2}, {"client_new + get", 3, 4}};
    printf("%d processes x %d threads next to 1 x 1 (medians of %d rounds; ms)\n", procs, threads, rounds);
    for (size_t l = 0; l < sizeof lines / sizeof lines[0]; l++) {
        double ratio[MAX_ROUNDS], one[MAX_ROUNDS], many[MAX_ROUNDS], at[MAX_ROUNDS];
        for (int r = 0; r < rounds; r++) {
            one[r] = ms[lines[l].one][r];
            many[r] = ms[lines[l].many][r];
            at[r] = first[lines[l].many][r];
            ratio[r] = many[r] / one[r];
        }
        printf("%-26s 1 x 1: %6.2f   %d x %d: %6.2f (first token at %6.2f)   ratio %.2fx\n", lines[l].name,
               median(one, rounds), procs, threads, median(many, rounds), median(at, rounds), median(ratio, rounds));
    }
    /* The library's waiting against the floor's, run by run. */
    double against_floor[MAX_ROUNDS];
    for (int r = 0; r < rounds; r++) against_floor[r] = ms[1][r] / ms[2][r];
    printf("get / floor (the library's waiting against a pipe's): %.2fx\n", median(against_floor, rounds));
    /* Within each many-side run: the last token against the first, which is when the one fetch
     * ended in that run. This leaves out how much the start of all the threads delayed the
     * fetch itself, and keeps what serving everyone else costs once it is done. */
    double after[3][MAX_ROUNDS];
    for (int r = 0; r < rounds; r++)
        for (int l = 0; l < 3; l++) after[l][r] = ms[lines[l].many][r] / first[lines[l].many][r];
    printf("last token / first token within a run of %d x %d: get %.2fx, floor %.2fx, client_new + get %.2fx\n",
           procs, threads, median(after[0], rounds), median(after[1], rounds), median(after[2], rounds));
    printf("distinct tokens in a run of %d x %d: at most %d\n", procs, threads, distinct_max);
    return 0;
}
