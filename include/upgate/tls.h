/* SPDX-License-Identifier: MIT */
/* The HTTPS server's certificate and key, for http.c: one HTTPS server
 * per process, whose pair can be replaced while it runs. */
#ifndef UPGATE_TLS_H
#define UPGATE_TLS_H

#include <gnutls/abstract.h>

/* NULL when key (PEM) is the key of the chain's (PEM) first certificate
 * and both load, else why not (a static string). */
const char *tls_pair_problem(const char *cert_pem, const char *key_pem);

/* Make this chain (PEM, the server's certificate first) and key (PEM)
 * the ones the next handshakes use, after checking that they load and
 * belong together. Returns 0, -EINVAL after logging why, or -ENOMEM. */
int tls_creds_set(const char *cert_pem, const char *key_pem);

/* GnuTLS's certificate callback (gnutls_certificate_retrieve_function2,
 * what MHD_OPTION_HTTPS_CERT_CALLBACK takes): the newest pair. */
int tls_creds_retrieve(gnutls_session_t session,
    const gnutls_datum_t *req_ca_dn, int nreqs,
    const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
    gnutls_pcert_st **pcert, unsigned int *pcert_length,
    gnutls_privkey_t *pkey);

/* Free every pair set, once no handshake can run (the server stopped). */
void tls_creds_free(void);

#endif
