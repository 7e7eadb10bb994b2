/* SPDX-License-Identifier: MIT */
/* Delta patches with libzstd's prefix API: the old tar is the prefix of
 * the window, so the patch holds only what the new tar does not share
 * with it. Files are mapped rather than read: the kernel pages them in
 * and out as memory allows, and the decoder writes its result straight
 * into the mapping of the output file. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <sodium.h>
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_d_windowLogMax's bounds */
#include <zstd.h>
#include <zstd_errors.h>

#include "upgate/delta.h"
#include "upgate/file.h"

/* A file mapped for reading; an empty one has no mapping. */
struct map {
	void *p;
	size_t len;
};

static int
map_open(const char *path, struct map *m, char *why, size_t wl)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int err = 0;

	m->p = NULL;
	m->len = 0;
	if (fd < 0 || fstat(fd, &st) < 0) {
		err = -errno;
		snprintf(why, wl, "cannot read %s: %s", path, strerror(-err));
	} else if (st.st_size > 0) {
		m->len = (size_t)st.st_size;
		m->p = mmap(NULL, m->len, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m->p == MAP_FAILED) {
			err = -errno;
			m->p = NULL;
			snprintf(
			    why, wl, "cannot map %s: %s", path, strerror(-err));
		}
	}
	if (fd >= 0)
		close(fd);
	return err;
}

static void
map_close(struct map *m)
{
	if (m->p != NULL)
		munmap(m->p, m->len);
	m->p = NULL;
}

static void
hex_of(const unsigned char h[crypto_hash_sha256_BYTES], char out[65])
{
	sodium_bin2hex(out, 65, h, crypto_hash_sha256_BYTES);
}

/* delta_tar(), and delta_old_tar() when plain is not NULL: then a
 * plain tar is not copied (*plain true) and nothing is hashed. */
static int
take_tar(const char *artifact, const char *out, int64_t limit, bool *plain,
    char sha256[65], char *why, size_t wl)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	crypto_hash_sha256_state st;
	unsigned char h[crypto_hash_sha256_BYTES];
	char buf[64 * 1024];
	int64_t total = 0;
	int fd = -1, err = 0;
	la_ssize_t n;

	if (a == NULL) {
		snprintf(why, wl, "out of memory");
		return -ENOMEM;
	}
	/* The raw "format": the decompressed stream as one entry. */
	archive_read_support_filter_all(a);
	archive_read_support_format_raw(a);
	if (archive_read_open_filename(a, artifact, sizeof(buf)) !=
		ARCHIVE_OK ||
	    archive_read_next_header(a, &e) != ARCHIVE_OK) {
		snprintf(why, wl, "cannot read %s: %s", artifact,
		    archive_error_string(a) ? archive_error_string(a)
					    : "not an archive");
		archive_read_free(a);
		return -EBADMSG;
	}
	if (plain != NULL &&
	    (*plain = archive_filter_code(a, 0) == ARCHIVE_FILTER_NONE)) {
		archive_read_free(a);
		return 0; /* nothing to take out: the caller reads it as is */
	}
	unlink(out);
	if ((fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) <
	    0) {
		err = -errno;
		snprintf(why, wl, "cannot create %s: %s", out, strerror(-err));
		archive_read_free(a);
		return err;
	}
	crypto_hash_sha256_init(&st);
	while ((n = archive_read_data(a, buf, sizeof(buf))) > 0) {
		if ((total += n) > limit) {
			snprintf(why, wl, "%s holds more than %lld bytes",
			    artifact, (long long)limit);
			err = -EFBIG;
			break;
		}
		if (sha256 != NULL)
			crypto_hash_sha256_update(
			    &st, (unsigned char *)buf, (size_t)n);
		if ((err = file_write_all(fd, buf, (size_t)n)) < 0) {
			snprintf(why, wl, "cannot write %s: %s", out,
			    strerror(-err));
			break;
		}
	}
	if (err == 0 && n < 0) {
		snprintf(why, wl, "cannot read %s: %s", artifact,
		    archive_error_string(a));
		err = -EBADMSG;
	}
	archive_read_free(a);
	if (close(fd) < 0 && err == 0) {
		err = -errno;
		snprintf(why, wl, "cannot write %s: %s", out, strerror(-err));
	}
	if (err < 0) {
		unlink(out);
		return err;
	}
	crypto_hash_sha256_final(&st, h);
	if (sha256 != NULL)
		hex_of(h, sha256);
	return 0;
}

int
delta_tar(const char *artifact, const char *out, int64_t limit, char sha256[65],
    char *why, size_t wl)
{
	return take_tar(artifact, out, limit, NULL, sha256, why, wl);
}

int
delta_old_tar(const char *artifact, const char *scratch, int64_t limit,
    const char **tar, char *why, size_t wl)
{
	bool plain = false;
	int err = take_tar(artifact, scratch, limit, &plain, NULL, why, wl);

	*tar = plain ? artifact : scratch;
	return err;
}

/* Write len bytes to path whole or not at all (a temporary renamed
 * over it). */
static int
write_file(const char *path, const void *p, size_t len)
{
	char dir[4096], *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL)
		return file_write_atomic(".", path, p, len);
	*slash = '\0';
	return file_write_atomic(*dir ? dir : "/", slash + 1, p, len);
}

/* The window log that covers n bytes (the prefix and the result). */
static int
window_log(size_t n)
{
	int log = ZSTD_WINDOWLOG_MIN;

	while (log < ZSTD_WINDOWLOG_MAX && ((size_t)1 << log) < n)
		log++;
	return log;
}

int
delta_make(const char *old_tar, const char *new_tar, int level, const char *out,
    char *why, size_t wl)
{
	struct map o, n;
	ZSTD_CCtx *cc = NULL;
	void *patch = NULL;
	size_t cap, got;
	int err;

	if ((err = map_open(old_tar, &o, why, wl)) < 0)
		return err;
	if ((err = map_open(new_tar, &n, why, wl)) < 0) {
		map_close(&o);
		return err;
	}
	cap = ZSTD_compressBound(n.len);
	if ((cc = ZSTD_createCCtx()) == NULL || (patch = malloc(cap)) == NULL) {
		snprintf(why, wl, "out of memory");
		err = -ENOMEM;
		goto out;
	}
	/* What `zstd --long --patch-from` sets: the old tar in the
	 * window, long-distance matching to find it there. */
	if (ZSTD_isError(
		ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, level)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(
		cc, ZSTD_c_enableLongDistanceMatching, 1)) ||
	    /* A checksum of the result: applied to another old tar, the
	     * patch fails instead of making something else. */
	    ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1)) ||
	    /* The window holds the whole prefix and the result after it,
	     * or the start of the old tar is out of reach by its end. */
	    ZSTD_isError(ZSTD_CCtx_setParameter(
		cc, ZSTD_c_windowLog, window_log(o.len + n.len))) ||
	    ZSTD_isError(ZSTD_CCtx_refPrefix(cc, o.p, o.len))) {
		snprintf(
		    why, wl, "zstd refused the parameters (level %d)", level);
		err = -EINVAL;
		goto out;
	}
	/* One worker thread, as the zstd command line runs by default:
	 * its long-distance matcher sees the whole prefix, and patches come
	 * out ten times smaller than in-thread (3 KB against 35 KB between
	 * two typescript releases). Without threads in libzstd: in-thread. */
	(void)ZSTD_CCtx_setParameter(cc, ZSTD_c_nbWorkers, 1);
	got = ZSTD_compress2(cc, patch, cap, n.p, n.len);
	if (ZSTD_isError(got)) {
		snprintf(why, wl, "zstd: %s", ZSTD_getErrorName(got));
		err = -EIO;
		goto out;
	}
	if ((err = write_file(out, patch, got)) < 0)
		snprintf(why, wl, "cannot write %s: %s", out, strerror(-err));
out:
	free(patch);
	ZSTD_freeCCtx(cc);
	map_close(&o);
	map_close(&n);
	return err;
}

long long
delta_result_size(const void *patch, size_t len)
{
	unsigned long long n = ZSTD_getFrameContentSize(patch, len);

	if (n == ZSTD_CONTENTSIZE_ERROR || n == ZSTD_CONTENTSIZE_UNKNOWN ||
	    n > (unsigned long long)INT64_MAX)
		return -EBADMSG;
	return (long long)n;
}

/* The SHA-256 of the decoder's output, taken on another core while the
 * decoder writes it: verifying then costs next to nothing after the last
 * byte (hashing alone takes as long as decoding). */
struct follow {
	pthread_t t;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	const unsigned char *p;
	size_t written; /* by the decoder so far, under mu */
	bool stopped;	/* the decoder has ended, under mu */
	crypto_hash_sha256_state st;
};

static void *
follow_run(void *arg)
{
	struct follow *f = arg;
	size_t hashed = 0, upto;
	bool stopped;

	for (;;) {
		pthread_mutex_lock(&f->mu);
		while (f->written == hashed && !f->stopped)
			pthread_cond_wait(&f->cv, &f->mu);
		upto = f->written;
		stopped = f->stopped;
		pthread_mutex_unlock(&f->mu);
		if (upto == hashed && stopped)
			return NULL;
		crypto_hash_sha256_update(&f->st, f->p + hashed, upto - hashed);
		hashed = upto;
	}
}

static void
follow_tell(struct follow *f, size_t written, bool stopped)
{
	pthread_mutex_lock(&f->mu);
	f->written = written;
	f->stopped = stopped;
	pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

/* Patch bytes handed to the decoder per call: each call then writes a
 * few blocks at most, and the hasher follows close behind. */
#define SLICE 256

/* Decode patch into out as a stream with out as the window (stable
 * output buffer: no window buffer of zstd's own), telling f, when not
 * NULL, how far it got. Returns the bytes written or a negative errno. */
static long long
decode(ZSTD_DCtx *dc, const unsigned char *patch, size_t len, void *out,
    size_t cap, struct follow *f)
{
	ZSTD_inBuffer in = {patch, 0, 0};
	ZSTD_outBuffer o = {out, cap, 0};
	size_t left = 1, pos, done;

	while (left != 0) {
		if (in.pos == in.size && in.size == len)
			return -EBADMSG; /* the patch ends inside its frame */
		if (in.pos == in.size)
			in.size +=
			    len - in.size < SLICE ? len - in.size : SLICE;
		pos = in.pos;
		done = o.pos;
		left = ZSTD_decompressStream(dc, &o, &in);
		if (ZSTD_isError(left))
			return ZSTD_getErrorCode(left) ==
				       ZSTD_error_memory_allocation
				   ? -ENOMEM
				   : -EBADMSG;
		if (f != NULL && o.pos != done)
			follow_tell(f, o.pos, false);
		/* Input was there to take: a call that takes none and
		 * writes nothing is stuck (an output the frame overruns). */
		if (in.pos == pos && o.pos == done)
			return -EBADMSG;
	}
	/* Anything after the frame is not a patch of ours. */
	return in.pos == len ? (long long)o.pos : -EBADMSG;
}

long long
delta_apply_mem(const void *old, size_t old_len, const void *patch, size_t len,
    void *out, size_t cap, unsigned char sha256[crypto_hash_sha256_BYTES])
{
	long long want = delta_result_size(patch, len), got;
	struct follow f = {.mu = PTHREAD_MUTEX_INITIALIZER,
	    .cv = PTHREAD_COND_INITIALIZER,
	    .p = out};
	bool follows = false;
	ZSTD_DCtx *dc;

	if (want < 0)
		return -EBADMSG;
	if ((unsigned long long)want > cap)
		return -EFBIG;
	if ((dc = ZSTD_createDCtx()) == NULL)
		return -ENOMEM;
	/* The window is out and the prefix, never a buffer of its own, so
	 * any window log may pass. */
	if (ZSTD_isError(ZSTD_DCtx_setParameter(
		dc, ZSTD_d_windowLogMax, ZSTD_WINDOWLOG_MAX)) ||
	    ZSTD_isError(
		ZSTD_DCtx_setParameter(dc, ZSTD_d_stableOutBuffer, 1)) ||
	    ZSTD_isError(ZSTD_DCtx_refPrefix(dc, old, old_len))) {
		ZSTD_freeDCtx(dc);
		return -ENOMEM;
	}
	if (sha256 != NULL) {
		crypto_hash_sha256_init(&f.st);
		follows = pthread_create(&f.t, NULL, follow_run, &f) == 0;
	}
	got = decode(dc, patch, len, out, (size_t)want, follows ? &f : NULL);
	ZSTD_freeDCtx(dc);
	if (follows) {
		follow_tell(&f, got > 0 ? (size_t)got : f.written, true);
		pthread_join(f.t, NULL);
	} else if (sha256 != NULL && got > 0) {
		/* No thread to be had: hash here, after the decoder. */
		crypto_hash_sha256_update(&f.st, out, (size_t)got);
	}
	if (sha256 != NULL)
		crypto_hash_sha256_final(&f.st, sha256);
	/* A frame that says one size and makes another is not a patch of
	 * ours. */
	if (got >= 0 && got != want)
		return -EBADMSG;
	return got;
}

int
delta_apply(const char *old_tar, const char *patch, const char *out,
    int64_t limit, char sha256[65], char *why, size_t wl)
{
	struct map o, p;
	unsigned char h[crypto_hash_sha256_BYTES], none = 0;
	void *dst = MAP_FAILED;
	long long size, got = 0;
	int fd = -1, err;

	if ((err = map_open(old_tar, &o, why, wl)) < 0)
		return err;
	if ((err = map_open(patch, &p, why, wl)) < 0) {
		map_close(&o);
		return err;
	}
	if ((size = delta_result_size(p.p, p.len)) < 0) {
		snprintf(why, wl, "%s is not a zstd patch that says its size",
		    patch);
		err = -EBADMSG;
		goto out;
	}
	if (size > limit) {
		snprintf(why, wl, "%s would make %lld bytes, over %lld", patch,
		    size, (long long)limit);
		err = -EFBIG;
		goto out;
	}
	unlink(out);
	if ((fd = open(out, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0 ||
	    (size > 0 && posix_fallocate(fd, 0, (off_t)size) != 0 &&
		ftruncate(fd, (off_t)size) < 0)) {
		err = -errno;
		snprintf(why, wl, "cannot make %s (%lld bytes): %s", out, size,
		    strerror(-err));
		goto out;
	}
	if (size > 0 && (dst = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE,
			     MAP_SHARED, fd, 0)) == MAP_FAILED) {
		err = -errno;
		snprintf(why, wl, "cannot map %s: %s", out, strerror(-err));
		goto out;
	}
	got = delta_apply_mem(o.p ? o.p : "", o.len, p.p ? p.p : "", p.len,
	    size > 0 ? dst : (void *)&none, (size_t)size, h);
	if (got == -ENOMEM) {
		snprintf(why, wl, "out of memory");
		err = -ENOMEM;
	} else if (got < 0 || got != size) {
		snprintf(why, wl,
		    "%s does not apply to %s: corrupt, or made "
		    "from another file",
		    patch, old_tar);
		err = -EBADMSG;
	} else {
		/* Not synced: a tar lost in a crash is made again, and
		 * its checksum is checked by whoever uses it. */
		hex_of(h, sha256);
	}
out:
	if (dst != MAP_FAILED)
		munmap(dst, (size_t)size);
	if (fd >= 0 && close(fd) < 0 && err == 0)
		err = -errno;
	if (err < 0 && fd >= 0)
		unlink(out);
	map_close(&o);
	map_close(&p);
	return err;
}
