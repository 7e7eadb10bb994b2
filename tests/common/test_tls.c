/* SPDX-License-Identifier: MIT */
/* Tests of the HTTPS pair store: a key must be its certificate's, and a
 * refused pair leaves the one in use. Keys and certificates are made
 * here with GnuTLS, so no fixture can expire. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "upgate/tls.h"

struct pair {
	char *cert, *key; /* PEM, NUL-terminated */
};

static char *
pem_of(gnutls_datum_t *d)
{
	char *s = malloc(d->size + 1);

	assert_non_null(s);
	memcpy(s, d->data, d->size);
	s[d->size] = '\0';
	gnutls_free(d->data);
	return s;
}

/* A fresh P-256 key and a self-signed certificate for it. */
static struct pair
pair_new(const char *cn)
{
	static const unsigned char serial[] = {1};
	gnutls_x509_privkey_t key;
	gnutls_x509_crt_t crt;
	gnutls_datum_t d;
	struct pair p;
	time_t now = time(NULL);

	assert_int_equal(gnutls_x509_privkey_init(&key), 0);
	assert_int_equal(
	    gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
		GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0),
	    0);
	assert_int_equal(gnutls_x509_crt_init(&crt), 0);
	assert_int_equal(gnutls_x509_crt_set_version(crt, 3), 0);
	assert_int_equal(
	    gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)), 0);
	assert_int_equal(gnutls_x509_crt_set_activation_time(crt, now - 60), 0);
	assert_int_equal(
	    gnutls_x509_crt_set_expiration_time(crt, now + 3600), 0);
	assert_int_equal(gnutls_x509_crt_set_dn_by_oid(crt,
			     GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen(cn)),
	    0);
	assert_int_equal(gnutls_x509_crt_set_key(crt, key), 0);
	assert_int_equal(
	    gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0), 0);
	assert_int_equal(
	    gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &d), 0);
	p.cert = pem_of(&d);
	assert_int_equal(
	    gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &d), 0);
	p.key = pem_of(&d);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(key);
	return p;
}

static void
pair_free(struct pair *p)
{
	free(p->cert);
	free(p->key);
}

/* The certificate a handshake would be given now, as DER. */
static gnutls_datum_t
served(void)
{
	gnutls_pcert_st *pcert = NULL;
	unsigned n = 0;
	gnutls_privkey_t key = NULL;

	assert_int_equal(
	    tls_creds_retrieve(NULL, NULL, 0, NULL, 0, &pcert, &n, &key), 0);
	assert_int_equal(n, 1);
	assert_non_null(key);
	return pcert[0].cert;
}

static bool
served_is(const struct pair *p)
{
	gnutls_datum_t pem = {(unsigned char *)p->cert, strlen(p->cert)};
	gnutls_datum_t der, now = served();
	bool same;

	assert_int_equal(
	    gnutls_pem_base64_decode2("CERTIFICATE", &pem, &der), 0);
	same =
	    der.size == now.size && memcmp(der.data, now.data, der.size) == 0;
	gnutls_free(der.data);
	return same;
}

static void
test_pair_must_match(void **state)
{
	struct pair a = pair_new("a.test"), b = pair_new("b.test");
	gnutls_pcert_st *pcert;
	unsigned n;
	gnutls_privkey_t key;

	(void)state;
	/* Nothing loaded: no handshake can be served. */
	assert_int_equal(
	    tls_creds_retrieve(NULL, NULL, 0, NULL, 0, &pcert, &n, &key), -1);

	assert_null(tls_pair_problem(a.cert, a.key));
	assert_int_equal(tls_creds_set(a.cert, a.key), 0);
	assert_true(served_is(&a));

	/* Another key than the certificate's: refused, a stays. */
	assert_non_null(tls_pair_problem(a.cert, b.key));
	assert_int_equal(tls_creds_set(a.cert, b.key), -EINVAL);
	assert_int_equal(tls_creds_set(b.cert, a.key), -EINVAL);
	assert_true(served_is(&a));

	/* Not PEM at all: refused too. */
	assert_int_equal(tls_creds_set("not a certificate", a.key), -EINVAL);
	assert_int_equal(tls_creds_set(a.cert, "not a key"), -EINVAL);
	assert_true(served_is(&a));

	/* A matching new pair replaces it. */
	assert_int_equal(tls_creds_set(b.cert, b.key), 0);
	assert_true(served_is(&b));

	tls_creds_free();
	assert_int_equal(
	    tls_creds_retrieve(NULL, NULL, 0, NULL, 0, &pcert, &n, &key), -1);
	pair_free(&a);
	pair_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pair_must_match),
	};

	gnutls_global_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
