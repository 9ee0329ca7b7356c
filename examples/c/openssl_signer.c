/* See openssl_signer.h. POSIX only (mkstemp, popen). */
#define _XOPEN_SOURCE 700
#include "openssl_signer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fail(SuzSignatureSink *sink, const char *why)
{
    suz_signature_sink_fail(sink, why);
    return 1;
}

int32_t openssl_sign_callback(void *userdata, const uint8_t *data, size_t len,
                              SuzSignatureKind kind, SuzSignatureSink *sink)
{
    OpensslSigner *signer = (OpensslSigner *)userdata;
    char path[] = "/tmp/suz-sign-XXXXXX";
    char command[2048];
    unsigned char buffer[4096];
    size_t n;
    int fd, status, written_ok = 1;
    FILE *out;

    fd = mkstemp(path);
    if (fd < 0)
        return fail(sink, "cannot create a temporary file");
    if (len > 0 && write(fd, data, len) != (ssize_t)len) {
        close(fd);
        unlink(path);
        return fail(sink, "cannot write the data to sign");
    }
    close(fd);

    snprintf(command, sizeof command,
             "openssl cms -sign -engine gost -binary -outform DER -signer '%s' -inkey '%s' "
             "-in '%s' %s 2>/dev/null",
             signer->cert_pem, signer->key_pem, path,
             kind == SUZ_SIGNATURE_KIND_ATTACHED ? "-nodetach" : "");
    out = popen(command, "r");
    if (out == NULL) {
        unlink(path);
        return fail(sink, "cannot run openssl");
    }
    while ((n = fread(buffer, 1, sizeof buffer, out)) > 0) {
        if (suz_signature_sink_write(sink, buffer, n) != SUZ_RESULT_OK)
            written_ok = 0;
    }
    status = pclose(out);
    unlink(path);
    if (status != 0)
        return fail(sink, "openssl cms -sign failed");
    if (!written_ok)
        return fail(sink, "the signature did not fit the sink");
    signer->calls++;
    return 0;
}
