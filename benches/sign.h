/* The signer the bench programs use: `openssl cms` with the GOST engine in a child process,
 * over files, with the certificate and key at `cert_pem` and `key_pem`. */
#ifndef SUZ_BENCH_SIGN_H
#define SUZ_BENCH_SIGN_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "suz_auth.h"

static const char *cert_pem, *key_pem;

/* Signs DATA with `openssl cms` (attached or detached); returns malloc'd DER, or NULL. */
static uint8_t *openssl_sign(const uint8_t *data, size_t len, int attached, size_t *out_len)
{
    char in[] = "/tmp/suz-bench-in-XXXXXX", out[64];
    int fd = mkstemp(in);
    if (fd < 0 || write(fd, data, len) != (ssize_t)len) return NULL;
    close(fd);
    snprintf(out, sizeof out, "%s.der", in);
    pid_t pid = fork();
    if (pid == 0) {
        const char *argv[] = {"openssl", "cms", "-sign", "-engine", "gost", "-binary",
                              "-outform", "DER", "-signer", cert_pem, "-inkey", key_pem,
                              "-in", in, "-out", out, attached ? "-nodetach" : NULL, NULL};
        freopen("/dev/null", "w", stderr);
        execvp("openssl", (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    unlink(in);
    FILE *f = fopen(out, "rb");
    if (!f) return NULL;
    uint8_t *buf = malloc(1 << 16);
    *out_len = fread(buf, 1, 1 << 16, f);
    fclose(f);
    unlink(out);
    return buf;
}

static int32_t sign_callback(void *userdata, const uint8_t *data, size_t len,
                             SuzSignatureKind kind, SuzSignatureSink *sink)
{
    size_t n = 0;
    uint8_t *sig = openssl_sign(data, len, kind == SUZ_SIGNATURE_KIND_ATTACHED, &n);
    (void)userdata;
    if (!sig) {
        suz_signature_sink_fail(sink, "openssl failed");
        return 1;
    }
    suz_signature_sink_write(sink, sig, n);
    free(sig);
    return 0;
}

#endif
