/* SPDX-License-Identifier: MIT */
/* Identifiers: random ids made here, and checks of ids that come from outside.
 */
#ifndef UPGATE_ID_H
#define UPGATE_ID_H

#include <stdbool.h>
#include <stddef.h>

#define ID_LEN 32

/* Write a new id: ID_LEN lowercase hex characters from libsodium's CSPRNG,
 * NUL-terminated. sodium_init() must have succeeded. Thread-safe. */
void id_new(char out[ID_LEN + 1]);

/* An id as id_new() makes them. */
bool id_valid(const char *s);

/* What id_app_valid() accepts, for error messages. */
#define ID_APP_RULE "must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"

/* ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$ (app names; channels; platforms). */
bool id_app_valid(const char *s);

/* 1-128 printable ASCII characters. */
bool id_client_valid(const char *s);

/* An error code as launchers report them: ^[a-z][a-z0-9_]{0,63}$. */
bool id_code_valid(const char *s);

/* Exactly 64 hex digits (either case). */
bool id_sha256_valid(const char *s);

/* Copy s into out (len bytes, NUL included; longer s is cut), with ASCII
 * letters lowercased: hex digests compared and named in one case. */
void id_lower(char *out, size_t len, const char *s);

/* This machine's platform name, <os>-<machine> in lowercase from uname
 * ("linux-x86_64"). Returns 0 or -EIO. */
int id_platform(char *out, size_t len);

#endif
