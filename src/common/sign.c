/* SPDX-License-Identifier: MIT */
/* HMAC-SHA256 request signatures (libsodium), made and checked in one place. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "upgate/sign.h"

static void
mac(const char *secret, const char *ts, const char *body, size_t len,
    unsigned char out[crypto_auth_hmacsha256_BYTES])
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(
	    &st, (const unsigned char *)secret, strlen(secret));
	crypto_auth_hmacsha256_update(
	    &st, (const unsigned char *)ts, strlen(ts));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, len);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}

void
sign_make(const char *secret, int64_t ts, const char *body, size_t len,
    char out[SIGN_LEN])
{
	unsigned char m[crypto_auth_hmacsha256_BYTES];
	char tsbuf[24];

	snprintf(tsbuf, sizeof(tsbuf), "%" PRId64, ts);
	mac(secret, tsbuf, body, len, m);
	memcpy(out, "sha256=", 7);
	sodium_bin2hex(out + 7, SIGN_LEN - 7, m, sizeof(m));
}

int
sign_check(const char *secret, const char *ts_hdr, const char *sig_hdr,
    const char *body, size_t len, int64_t now, int64_t max_skew,
    const char **why)
{
	unsigned char want[crypto_auth_hmacsha256_BYTES];
	unsigned char got[crypto_auth_hmacsha256_BYTES];
	char *end;
	long long ts;

	*why = "missing_signature";
	if (secret == NULL || ts_hdr == NULL || sig_hdr == NULL)
		return -EACCES;
	*why = "stale_timestamp";
	if (ts_hdr[0] < '0' || ts_hdr[0] > '9' || strlen(ts_hdr) > 18)
		return -EACCES;
	errno = 0;
	ts = strtoll(ts_hdr, &end, 10);
	if (errno != 0 || *end != '\0' || ts < now - max_skew ||
	    ts > now + max_skew)
		return -EACCES;
	*why = "bad_signature";
	if (strncmp(sig_hdr, "sha256=", 7) != 0 || strlen(sig_hdr) != 71 ||
	    sodium_hex2bin(
		got, sizeof(got), sig_hdr + 7, 64, NULL, NULL, NULL) != 0)
		return -EACCES;
	mac(secret, ts_hdr, body, len, want);
	if (sodium_memcmp(want, got, sizeof(want)) != 0)
		return -EACCES;
	return 0;
}
