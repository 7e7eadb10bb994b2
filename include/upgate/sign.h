/* SPDX-License-Identifier: MIT */
/* Signed ingest requests: HMAC-SHA256 over "timestamp.body" (SPEC, Ingest). */
#ifndef UPGATE_SIGN_H
#define UPGATE_SIGN_H

#include <stddef.h>
#include <stdint.h>

#define SIGN_TS_HEADER "X-Upgate-Timestamp"
#define SIGN_SIG_HEADER "X-Upgate-Signature"
/* "sha256=" and 64 hex digits and the NUL. */
#define SIGN_LEN (7 + 64 + 1)

/* The X-Upgate-Signature value for body (len bytes) sent at ts (Unix
 * seconds) with secret: "sha256=<hex HMAC-SHA256(secret, ts "." body)>". */
void sign_make(const char *secret, int64_t ts, const char *body, size_t len,
    char out[SIGN_LEN]);

/* Check a request's two header values (either may be NULL) against secret,
 * at now (Unix seconds), allowing max_skew seconds either way. Returns 0;
 * -EACCES with *why "missing_signature", "stale_timestamp" or
 * "bad_signature". The comparison takes the same time wherever the
 * signatures differ. */
int sign_check(const char *secret, const char *ts_hdr, const char *sig_hdr,
    const char *body, size_t len, int64_t now, int64_t max_skew,
    const char **why);

#endif
