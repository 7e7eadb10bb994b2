/* SPDX-License-Identifier: MIT */
/* The HTTPS server's certificate chain and key, replaceable while it
 * serves: libmicrohttpd asks GnuTLS for them at every handshake through
 * a certificate callback, and the callback hands out the newest pair. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

#include "upgate/log.h"
#include "upgate/tls.h"

struct tls_creds {
	gnutls_pcert_st *pcert;
	unsigned n;
	gnutls_privkey_t key;
	/* Older pairs stay until tls_creds_free(): a handshake that began
	 * with one may still read it. A reload is an admin's SIGHUP, so
	 * they are few and small. */
	struct tls_creds *older;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct tls_creds *current;

static void
creds_free(struct tls_creds *c)
{
	for (unsigned i = 0; i < c->n; i++)
		gnutls_pcert_deinit(&c->pcert[i]);
	free(c->pcert);
	if (c->key != NULL)
		gnutls_privkey_deinit(c->key);
	free(c);
}

static gnutls_datum_t
datum(const char *pem)
{
	return (gnutls_datum_t){
	    (unsigned char *)(uintptr_t)pem, (unsigned)strlen(pem)};
}

/* Import the chain into c. Returns 0 or a GnuTLS error. */
static int
chain_import(struct tls_creds *c, const gnutls_datum_t *cert)
{
	unsigned max = 4;
	int rc;

	for (;;) {
		if ((c->pcert = calloc(max, sizeof(*c->pcert))) == NULL) {
			c->n = 0; /* creds_free() deinits n of them */
			return GNUTLS_E_MEMORY_ERROR;
		}
		c->n = max;
		rc = gnutls_pcert_list_import_x509_raw(
		    c->pcert, &c->n, cert, GNUTLS_X509_FMT_PEM, 0);
		if (rc != GNUTLS_E_SHORT_MEMORY_BUFFER)
			break;
		free(c->pcert);
		c->pcert = NULL;
		max = c->n > max ? c->n : max * 2;
	}
	if (rc < 0)
		c->n = 0;
	return rc < 0 ? rc : 0;
}

/* Whether c's key is the one its first certificate was issued for: the
 * same public key, compared by its ID (a digest of the key). */
static bool
key_matches(const struct tls_creds *c)
{
	unsigned char a[64], b[64];
	size_t na = sizeof(a), nb = sizeof(b);
	gnutls_pubkey_t pub;
	bool same;

	if (c->n == 0 || gnutls_pubkey_init(&pub) < 0)
		return false;
	same = gnutls_pubkey_import_privkey(pub, c->key, 0, 0) == 0 &&
	       gnutls_pubkey_get_key_id(pub, 0, a, &na) == 0 &&
	       gnutls_pubkey_get_key_id(c->pcert[0].pubkey, 0, b, &nb) == 0 &&
	       na == nb && memcmp(a, b, na) == 0;
	gnutls_pubkey_deinit(pub);
	return same;
}

/* Load a pair into *out, checking that the key is the certificate's:
 * what both the configuration check and the server use. Returns 0 or a
 * GnuTLS error (nothing kept). */
static int
creds_load(const char *cert_pem, const char *key_pem, struct tls_creds **out)
{
	const gnutls_datum_t cert = datum(cert_pem), key = datum(key_pem);
	struct tls_creds *c = calloc(1, sizeof(*c));
	int rc;

	if (c == NULL)
		return GNUTLS_E_MEMORY_ERROR;
	if ((rc = chain_import(c, &cert)) == 0 &&
	    (rc = gnutls_privkey_init(&c->key)) == 0 &&
	    (rc = gnutls_privkey_import_x509_raw(
		 c->key, &key, GNUTLS_X509_FMT_PEM, NULL, 0)) == 0 &&
	    !key_matches(c))
		rc = GNUTLS_E_CERTIFICATE_KEY_MISMATCH;
	if (rc < 0) {
		creds_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

const char *
tls_pair_problem(const char *cert_pem, const char *key_pem)
{
	struct tls_creds *c;
	int rc = creds_load(cert_pem, key_pem, &c);

	if (rc < 0)
		return gnutls_strerror(rc);
	creds_free(c);
	return NULL;
}

int
tls_creds_set(const char *cert_pem, const char *key_pem)
{
	struct tls_creds *c;
	int rc = creds_load(cert_pem, key_pem, &c);

	if (rc < 0) {
		log_err("tls: certificate and key: %s", gnutls_strerror(rc));
		return rc == GNUTLS_E_MEMORY_ERROR ? -ENOMEM : -EINVAL;
	}
	pthread_mutex_lock(&lock);
	c->older = current;
	current = c;
	pthread_mutex_unlock(&lock);
	return 0;
}

int
tls_creds_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_dn,
    int nreqs, const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
    gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *pkey)
{
	int ret = -1;

	(void)session;
	(void)req_ca_dn;
	(void)nreqs;
	(void)pk_algos;
	(void)pk_algos_length;
	pthread_mutex_lock(&lock);
	if (current != NULL) {
		*pcert = current->pcert;
		*pcert_length = current->n;
		*pkey = current->key;
		ret = 0;
	}
	pthread_mutex_unlock(&lock);
	return ret;
}

void
tls_creds_free(void)
{
	struct tls_creds *c, *older;

	pthread_mutex_lock(&lock);
	c = current;
	current = NULL;
	pthread_mutex_unlock(&lock);
	for (; c != NULL; c = older) {
		older = c->older;
		creds_free(c);
	}
}
