/*
 * Fetches through the C ABI next to a bare HTTP/1.1 keep-alive client written for the purpose
 * (one socket, fixed requests, no TLS, no JSON parser), both against the emulator on 127.0.0.1:
 *
 *   - the SmartMarket OAuth fetch: wall time and the process's CPU time per fetch;
 *   - the GIS MT flow (challenge, attached signature, token): the same, both signing with the
 *     same function (`openssl cms` with the GOST engine, in a child process, whose CPU is not
 *     counted for either).
 *
 * The two sides run interleaved, call by call, in five rounds, each on new connections (a new
 * socket for the bare client, a new client for the library): which server thread answers which
 * connection, and on which core, sways a round's wall time either way, so both sides get the
 * same draws. Each figure is the median of all its iterations.
 *
 *   fetch MODE EMULATOR_URL CERT_PEM KEY_PEM [OAUTH_N [GISMT_N]]
 *
 * MODE: `all` prints every figure; `lib-oauth`, `bare-oauth`, `lib-gismt` and `bare-gismt` only
 * run that loop (for
 * counting its threads and system calls under strace).
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "sign.h"
#include "suz_auth.h"

#define SM_CLIENT_ID "e5623627-bb8c-412c-94b7-1a6998e8ef3a"
#define SM_CLIENT_SECRET "887d15a2-cb4f-4998-9591-5b26d62d3751"
#define CONNECTION "11b1abc9-f4ee-47db-8a20-f80ac83504e8"

static char host[64];
static int port;

/* --- the bare keep-alive client ----------------------------------------------------------- */

static int bare_fd = -1;

static int bare_connect(void)
{
    struct sockaddr_in addr;
    int one = 1;
    bare_fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, host, &addr.sin_addr);
    setsockopt(bare_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return connect(bare_fd, (struct sockaddr *)&addr, sizeof addr);
}

/* One request on the kept-alive socket; the body of the answer into RESP (NUL-terminated). */
static int bare_request(const char *head, const char *body, char *resp, size_t cap)
{
    static char buf[1 << 16];
    char request[8192];
    size_t have = 0, need;
    int n = snprintf(request, sizeof request, "%sContent-Length: %zu\r\n\r\n%s", head,
                     strlen(body), body);
    if (write(bare_fd, request, (size_t)n) != n) return -1;
    for (;;) {
        ssize_t r = read(bare_fd, buf + have, sizeof buf - 1 - have);
        if (r <= 0) return -1;
        have += (size_t)r;
        buf[have] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (!end) continue;
        char *cl = strstr(buf, "content-length: ");
        if (!cl) cl = strstr(buf, "Content-Length: ");
        if (!cl) return -1;
        size_t header_len = (size_t)(end + 4 - buf);
        need = header_len + (size_t)atol(cl + 16);
        if (have < need) continue;
        size_t body_len = need - header_len;
        if (body_len >= cap) return -1;
        memcpy(resp, end + 4, body_len);
        resp[body_len] = '\0';
        return atoi(buf + 9);
    }
}

/* The value of "name":"..." in JSON text, copied into OUT. */
static int json_string(const char *json, const char *name, char *out, size_t cap)
{
    char key[64];
    snprintf(key, sizeof key, "\"%s\":\"", name);
    const char *p = strstr(json, key);
    if (!p) return -1;
    p += strlen(key);
    const char *q = strchr(p, '"');
    if (!q || (size_t)(q - p) >= cap) return -1;
    memcpy(out, p, (size_t)(q - p));
    out[q - p] = '\0';
    return 0;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void base64(const uint8_t *in, size_t len, char *out)
{
    size_t i, o = 0;
    for (i = 0; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        out[o++] = b64[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
}

static int bare_oauth(void)
{
    static unsigned counter = 0;
    char head[1024], resp[4096], token[2048], basic[256];
    const char *creds = SM_CLIENT_ID ":" SM_CLIENT_SECRET;
    base64((const uint8_t *)creds, strlen(creds), basic);
    snprintf(head, sizeof head,
             "POST /smartmarket/api/v2/oauth HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: Basic %s\r\n"
             "RqUID: %032x\r\nAccept: application/json\r\n"
             "Content-Type: application/x-www-form-urlencoded\r\n",
             host, port, basic, ++counter);
    return bare_request(head, "scope=SMART_PUSH", resp, sizeof resp) == 200 &&
                   json_string(resp, "access_token", token, sizeof token) == 0
               ? 0
               : -1;
}

static int bare_gismt(void)
{
    char head[1024], resp[4096], uuid[128], data[256], token[2048];
    static char body[1 << 18], sig64[1 << 17];
    snprintf(head, sizeof head,
             "GET /gismt/api/v3/auth/cert/key HTTP/1.1\r\nHost: %s:%d\r\nAccept: application/json\r\n",
             host, port);
    if (bare_request(head, "", resp, sizeof resp) != 200 ||
        json_string(resp, "uuid", uuid, sizeof uuid) || json_string(resp, "data", data, sizeof data))
        return -1;
    size_t n = 0;
    uint8_t *sig = openssl_sign((const uint8_t *)data, strlen(data), 1, &n);
    if (!sig) return -1;
    base64(sig, n, sig64);
    free(sig);
    snprintf(body, sizeof body, "{\"uuid\":\"%s\",\"data\":\"%s\"}", uuid, sig64);
    snprintf(head, sizeof head,
             "POST /gismt/api/v3/auth/cert/" CONNECTION " HTTP/1.1\r\nHost: %s:%d\r\n"
             "Accept: application/json\r\nContent-Type: application/json\r\n",
             host, port);
    return bare_request(head, body, resp, sizeof resp) == 200 &&
                   json_string(resp, "token", token, sizeof token) == 0
               ? 0
               : -1;
}

/* --- the library -------------------------------------------------------------------------- */

static SuzClient *client;
static char config[1024];
static SuzSigner *signer;

static int lib_oauth(void)
{
    SuzToken *t = NULL;
    int rc = suz_get_token_smartmarket(client, SM_CLIENT_ID, SM_CLIENT_SECRET, NULL, &t);
    suz_token_free(t);
    return rc == SUZ_RESULT_OK ? 0 : -1;
}

static int lib_gismt(void)
{
    SuzToken *t = NULL;
    int rc = suz_get_token_gismt(client, CONNECTION, signer, &t);
    suz_token_free(t);
    return rc == SUZ_RESULT_OK ? 0 : -1;
}

/* One timed call: wall and process CPU time in microseconds. */
static void timed(const char *label, int (*fn)(void), double *wall, double *cpu)
{
    double w0 = clock_us(CLOCK_MONOTONIC), c0 = clock_us(CLOCK_PROCESS_CPUTIME_ID);
    if (fn() != 0) {
        fprintf(stderr, "%s failed: %s\n", label, suz_last_error_message());
        exit(1);
    }
    *cpu = clock_us(CLOCK_PROCESS_CPUTIME_ID) - c0;
    *wall = clock_us(CLOCK_MONOTONIC) - w0;
}

#define ROUNDS 5

/* Runs the bare client's FN and the library's FN N times each, interleaved (so both see the
 * same machine), and prints the medians of wall and CPU time per call and their ratios. */
static void compare(const char *what, const char *bare_label, int (*bare)(void),
                    const char *lib_label, int (*lib)(void), int n)
{
    double *bw = malloc(sizeof(double) * (size_t)n), *bc = malloc(sizeof(double) * (size_t)n);
    double *lw = malloc(sizeof(double) * (size_t)n), *lc = malloc(sizeof(double) * (size_t)n);
    double w, c;
    for (int i = 0; i < n; i++) {
        if (i % ((n + ROUNDS - 1) / ROUNDS) == 0) {
            close(bare_fd);
            suz_client_free(client);
            client = NULL;
            if (bare_connect() != 0 || suz_client_new(config, &client) != SUZ_RESULT_OK) {
                fprintf(stderr, "new connections: %s\n", suz_last_error_message());
                exit(1);
            }
            timed(bare_label, bare, &w, &c); /* warm: connections made and kept */
            timed(lib_label, lib, &w, &c);
        }
        if (i % 2) {
            timed(bare_label, bare, &bw[i], &bc[i]);
            timed(lib_label, lib, &lw[i], &lc[i]);
        } else {
            timed(lib_label, lib, &lw[i], &lc[i]);
            timed(bare_label, bare, &bw[i], &bc[i]);
        }
    }
    double bwm = median(bw, n), bcm = median(bc, n), lwm = median(lw, n), lcm = median(lc, n);
    printf("%-34s n=%-4d wall p50=%7.0f us  cpu p50=%7.0f us\n", bare_label, n, bwm, bcm);
    printf("%-34s n=%-4d wall p50=%7.0f us  cpu p50=%7.0f us\n", lib_label, n, lwm, lcm);
    printf("ratio %s: wall %.2fx, cpu %.2fx the bare client\n", what, lwm / bwm, lcm / bcm);
    free(bw);
    free(bc);
    free(lw);
    free(lc);
}

/* Runs FN N times (for strace). */
static void repeat(const char *label, int (*fn)(void), int n)
{
    double w, c;
    for (int i = 0; i < n; i++) timed(label, fn, &w, &c);
}

int main(int argc, char **argv)
{
    int oauth_n = 300, gismt_n = 20;
    if (argc < 5) {
        fprintf(stderr, "usage: %s all|lib-oauth|bare-oauth|lib-gismt|bare-gismt EMULATOR_URL CERT KEY [OAUTH_N [GISMT_N]]\n",
                argv[0]);
        return 2;
    }
    const char *mode = argv[1];
    cert_pem = argv[3];
    key_pem = argv[4];
    if (argc > 5) oauth_n = atoi(argv[5]);
    if (argc > 6) gismt_n = atoi(argv[6]);
    if (sscanf(argv[2], "http://%63[^:]:%d", host, &port) != 2) {
        fprintf(stderr, "EMULATOR_URL must be http://IP:PORT\n");
        return 2;
    }
    snprintf(config, sizeof config, "{\"stand\": \"emulator\", \"emulator_url\": \"%s\"}", argv[2]);
    if (suz_client_new(config, &client) != SUZ_RESULT_OK ||
        suz_signer_new_callback(sign_callback, NULL, NULL, &signer) != SUZ_RESULT_OK ||
        bare_connect() != 0) {
        fprintf(stderr, "setup: %s\n", suz_last_error_message());
        return 1;
    }
    if (strcmp(mode, "lib-oauth") == 0) {
        repeat("suz_get_token_smartmarket", lib_oauth, oauth_n);
    } else if (strcmp(mode, "bare-oauth") == 0) {
        repeat("bare keep-alive client, OAuth", bare_oauth, oauth_n);
    } else if (strcmp(mode, "lib-gismt") == 0) {
        repeat("suz_get_token_gismt", lib_gismt, gismt_n);
    } else if (strcmp(mode, "bare-gismt") == 0) {
        repeat("bare keep-alive client, GIS MT", bare_gismt, gismt_n);
    } else {
        compare("OAuth fetch", "bare keep-alive client, OAuth", bare_oauth,
                "suz_get_token_smartmarket", lib_oauth, oauth_n);
        compare("GIS MT flow", "bare keep-alive client, GIS MT", bare_gismt,
                "suz_get_token_gismt", lib_gismt, gismt_n);
    }
    suz_signer_free(signer);
    suz_client_free(client);
    close(bare_fd);
    return 0;
}
