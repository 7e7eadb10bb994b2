/* SPDX-License-Identifier: MIT */
/* Delta upgrades: a zstd patch (the format of `zstd --patch-from`) that
 * turns the uncompressed tar of an older artifact into the uncompressed
 * tar of a newer one. libarchive takes the tar out of any artifact,
 * libzstd makes and applies the patch, libsodium hashes. */
#ifndef UPGATE_DELTA_H
#define UPGATE_DELTA_H

#include <stddef.h>
#include <stdint.h>

/* The uncompressed tar inside artifact (.tar.gz, .tar.zst, or a plain
 * tar) written to out (replaced; mode 0600), and its SHA-256 in
 * lowercase hex. At most limit bytes (else -EFBIG). Returns 0, or a
 * negative errno with why. */
int delta_tar(const char *artifact, const char *out, int64_t limit,
    char sha256[65], char *why, size_t wl);

/* The tar of an old artifact to apply a patch to, into *tar: artifact
 * itself when it is a plain tar (a launcher keeps the tar a delta made),
 * else scratch, written as delta_tar() does but not hashed. Returns 0,
 * or a negative errno with why. */
int delta_old_tar(const char *artifact, const char *scratch, int64_t limit,
    const char **tar, char *why, size_t wl);

/* Write to out the patch from old_tar to new_tar at level (1-19): old_tar
 * is the compressor's prefix, with long-distance matching and a window
 * that covers both, and the frame records new_tar's size. Memory: both
 * files mapped, and the patch. Returns 0, or a negative errno with why. */
int delta_make(const char *old_tar, const char *new_tar, int level,
    const char *out, char *why, size_t wl);

/* Apply the patch in file patch to old_tar, writing out (replaced; mode
 * 0600) and the SHA-256 of what it wrote. The patch must say how large
 * its result is, and that must be at most limit. Memory stays near the
 * two tars' sizes: old_tar, patch and out are mapped, and the decoder
 * writes straight into out's mapping (no window buffer). Returns 0,
 * -EBADMSG when the patch is corrupt or not made from old_tar's bytes,
 * -EFBIG over limit, or another negative errno; why says which. */
int delta_apply(const char *old_tar, const char *patch, const char *out,
    int64_t limit, char sha256[65], char *why, size_t wl);

/* The same on memory: decode patch (len bytes) against old into out
 * (cap bytes), and when sha256 is not NULL hash what it writes there (on
 * a second thread, behind the decoder). Returns how many bytes it wrote,
 * which is what the patch declares; -EFBIG when that is over cap,
 * -EBADMSG when the patch declares nothing or does not decode to it
 * (nothing is written past the size it declares), or -ENOMEM. */
long long delta_apply_mem(const void *old, size_t old_len, const void *patch,
    size_t len, void *out, size_t cap, unsigned char sha256[32]);

/* The size the patch says its result has: >= 0, or -EBADMSG when the
 * frame does not say (or is no zstd frame). */
long long delta_result_size(const void *patch, size_t len);

#endif
