/*
 * Shared by the C tests: the emulator's known identifiers and the CHECK macro, which counts
 * and reports each check with the library's last error message.
 */
#ifndef SUZ_TEST_CHECK_H
#define SUZ_TEST_CHECK_H

#include <stdio.h>

#include "suz_auth.h"

#define OMS_ID "cdf12109-10d3-11e6-8b6f-0050569977a1"
#define CONNECTION "11b1abc9-f4ee-47db-8a20-f80ac83504e8"
#define REGISTRATION_KEY "4344d884-7f21-456c-981e-cd68e92391e8"
#define PHARMA_KEY "a1f3c2d4-0b5e-4c6f-8d7a-9e0b1c2d3e4f"
#define MDLP_CLIENT_ID "7df0d06f-6510-44fe-a378-76cb53e2605f"
#define MDLP_CLIENT_SECRET "49781b3a-19d5-4ad7-b1b6-abb57e598d41"
#define SM_CLIENT_ID "e5623627-bb8c-412c-94b7-1a6998e8ef3a"
#define SM_CLIENT_SECRET "887d15a2-cb4f-4998-9591-5b26d62d3751"

static int passed = 0, failed = 0;

#define CHECK(name, cond)                                                                   \
    do {                                                                                    \
        if (cond) {                                                                         \
            passed++;                                                                       \
        } else {                                                                            \
            failed++;                                                                       \
            printf("FAIL %s (line %d): %s\n", name, __LINE__, suz_last_error_message());    \
        }                                                                                   \
    } while (0)

#endif
