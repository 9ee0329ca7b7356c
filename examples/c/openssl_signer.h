/*
 * A suz-auth signing callback that signs with OpenSSL's GOST engine through `openssl cms`.
 *
 * It stands in for the host's real crypto (CryptoPro, 1C's crypto manager) so that the demo
 * and the tests make real GOST R 34.10-2012 CAdES signatures without a CSP.
 */
#ifndef SUZ_OPENSSL_SIGNER_H
#define SUZ_OPENSSL_SIGNER_H

#include "suz_auth.h"

typedef struct {
    const char *cert_pem; /* path of the signer's certificate */
    const char *key_pem;  /* path of its private key */
    int calls;            /* how many signatures were made */
} OpensslSigner;

/* Matches SuzSignCallback; userdata is an OpensslSigner. */
int32_t openssl_sign_callback(void *userdata, const uint8_t *data, size_t len,
                              SuzSignatureKind kind, SuzSignatureSink *sink);

#endif
