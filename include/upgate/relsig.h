/* SPDX-License-Identifier: MIT */
/* Signed release documents: what upgatectl signs with Ed25519, the
 * gateway stores and serves, and launchers verify. The document is
 * canonical JSON (sorted keys, no spaces):
 *   {"app", "artifacts": {PLATFORM: {"sha256", "size", "url"}},
 *    "channel", "expires": RFC 3339, "rollback": bool, "serial": N,
 *    "version"}
 * and the signature an Ed25519 detached signature over its exact bytes,
 * in standard base64. */
#ifndef UPGATE_RELSIG_H
#define UPGATE_RELSIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define RELSIG_PK_BYTES 32
#define RELSIG_SK_BYTES 64
#define RELSIG_SIG_BYTES 64
/* base64 of 64 bytes with padding, and its NUL */
#define RELSIG_B64_MAX 90

struct relsig_doc {
	json_t *root; /* owned */
	const char *app, *channel, *version;
	json_t *artifacts; /* borrowed from root */
	bool rollback;
	int64_t serial;	    /* >= 1 */
	int64_t expires_ms; /* Unix ms */
};

/* Parse and check the shape of a signed document (not its signature).
 * Returns 0, or -EINVAL with why. relsig_fini either way. */
int relsig_parse(
    const char *text, struct relsig_doc *out, char *why, size_t wl);
void relsig_fini(struct relsig_doc *d);

/* The document for a release: artifacts is {platform: {url, size,
 * sha256}} (borrowed). Returns malloc'd canonical text or NULL. */
char *relsig_make(const char *app, const char *channel, const char *version,
    json_t *artifacts, bool rollback, int64_t serial, int64_t expires_ms);

/* Whether artifacts (the same shape) equal the document's, exactly. */
bool relsig_artifacts_equal(const struct relsig_doc *d, json_t *artifacts);

/* Sign text with sk; the base64 signature goes to sig. */
void relsig_sign(const char *text, const unsigned char sk[RELSIG_SK_BYTES],
    char sig[RELSIG_B64_MAX]);

/* Whether sig (base64) is a valid signature of text by pk. */
bool relsig_verify(
    const char *text, const char *sig, const unsigned char pk[RELSIG_PK_BYTES]);

/* Decode base64 b64 into exactly n bytes. Returns 0 or -EINVAL. */
int relsig_b64_decode(const char *b64, unsigned char *out, size_t n);
/* Encode n bytes as base64 (with padding) into out (>= n*4/3+4). */
void relsig_b64_encode(
    const unsigned char *in, size_t n, char *out, size_t len);

#endif
