/* SPDX-License-Identifier: MIT */
/* Roles, token names and apps globs, new tokens and their hashes, and a
 * token's lookup in a daemon's store. */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "upgate/access.h"
#include "upgate/log.h"
#include "upgate/ts.h"
#include "upgate/worker.h"

/* Audit lines deleted per transaction, so that writers wait little. */
#define AUDIT_PRUNE_BATCH 1000

static const char *const role_names[] = {
    [ACCESS_VIEWER] = "viewer",
    [ACCESS_PUBLISHER] = "publisher",
    [ACCESS_ADMIN] = "admin",
};

const char *
access_role_name(enum access_role role)
{
	return role > ACCESS_NONE && role <= ACCESS_ADMIN ? role_names[role]
							  : "none";
}

enum access_role
access_role_parse(const char *name)
{
	for (int r = ACCESS_VIEWER; r <= ACCESS_ADMIN; r++)
		if (name != NULL && strcmp(name, role_names[r]) == 0)
			return (enum access_role)r;
	return ACCESS_NONE;
}

static bool
is_name_char(int c)
{
	return isalnum(c) || c == '.' || c == '_' || c == '-';
}

bool
access_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > ACCESS_NAME_MAX || !isalnum((unsigned char)name[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_name_char((unsigned char)name[i]))
			return false;
	return true;
}

bool
access_apps_valid(const char *apps)
{
	size_t n = apps ? strlen(apps) : 0;

	if (n == 0 || n > ACCESS_APPS_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)apps[i];

		if (!is_name_char(c) && c != '*' && c != '?')
			return false;
	}
	return true;
}

bool
access_app_allowed(const struct access_caller *c, const char *app)
{
	if (c->role == ACCESS_ADMIN)
		return true;
	/* No FNM_PERIOD: '*' covers dots, as "com.example.*" means. */
	return c->role == ACCESS_PUBLISHER && app != NULL &&
	       fnmatch(c->apps, app, 0) == 0;
}

void
access_token_new(char out[ACCESS_TOKEN_LEN + 1])
{
	unsigned char raw[32];

	randombytes_buf(raw, sizeof(raw));
	memcpy(out, "upg_", 4);
	sodium_bin2base64(out + 4, ACCESS_TOKEN_LEN + 1 - 4, raw, sizeof(raw),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
}

void
access_token_hash(const char *token, size_t len, char out[65])
{
	unsigned char h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, (const unsigned char *)token, len);
	sodium_bin2hex(out, 65, h, sizeof(h));
}

struct lookup {
	const char *hash;
	struct access_caller *out;
};

static int
lookup_run(const struct access_conn *c, void *arg)
{
	struct lookup *l = arg;

	return access_token_find(c, l->hash, l->out);
}

int
access_identify(const struct access_store *st, bool is_file_token,
    const char *token, size_t len, struct access_caller *out)
{
	char hash[65];
	struct lookup l = {hash, out};
	int err;

	if (is_file_token) {
		*out = (struct access_caller){
		    ACCESS_FILE_TOKEN_NAME, ACCESS_ADMIN, "*"};
		return 0;
	}
	/* Only tokens of the shape made here are looked for: anything else
	 * costs no query. */
	if (st == NULL || len != ACCESS_TOKEN_LEN ||
	    strncmp(token, "upg_", 4) != 0)
		return -EACCES;
	access_token_hash(token, len, hash);
	err = st->read(st->ctx, lookup_run, &l);
	return err == -ENOENT ? -EACCES : err;
}

struct prune {
	int64_t before;
	int n;
};

static int
prune_run(const struct access_conn *c, void *arg)
{
	struct prune *p = arg;
	int n = access_audit_prune(c, p->before, AUDIT_PRUNE_BATCH);

	if (n >= 0)
		p->n = n;
	return n < 0 ? n : 0;
}

int
access_audit_expire(const struct access_store *st, int64_t keep_ms)
{
	struct prune p = {ts_now_ms() - keep_ms, 0};
	int total = 0, err;

	if (keep_ms <= 0)
		return 0;
	do {
		if ((err = st->write(st->ctx, prune_run, &p)) < 0)
			return err;
		total += p.n;
	} while (p.n == AUDIT_PRUNE_BATCH);
	return total;
}

#define PRUNE_EVERY_MS (3600 * 1000)

struct access_pruner {
	struct worker w;
	const struct access_store *st;
	int64_t keep_ms;
};

static void
pruner_main(struct worker *w, void *arg)
{
	struct access_pruner *p = arg;

	do {
		int n = access_audit_expire(p->st, p->keep_ms);

		if (n > 0)
			log_info("audit: deleted %d lines past retention", n);
		else if (n < 0)
			log_warn(
			    "audit: cannot delete old lines: %s", strerror(-n));
	} while (worker_sleep(w, PRUNE_EVERY_MS, false));
}

struct access_pruner *
access_pruner_start(const struct access_store *st, int64_t keep_ms)
{
	struct access_pruner *p = calloc(1, sizeof(*p));
	int err;

	if (p == NULL)
		return NULL;
	p->st = st;
	p->keep_ms = keep_ms;
	if ((err = worker_start(&p->w, pruner_main, p)) < 0) {
		log_err("audit: cannot start the retention thread: %s",
		    strerror(-err));
		free(p);
		return NULL;
	}
	return p;
}

void
access_pruner_stop(struct access_pruner *p)
{
	if (p == NULL)
		return;
	worker_stop(&p->w);
	free(p);
}
