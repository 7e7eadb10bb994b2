/* SPDX-License-Identifier: MIT */
/* The HTTP layer's server: listeners (public and admin), the connection
 * guard and its sweep, TLS, threads, start, drain and stop. */
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http_int.h"
#include "upgate/connguard.h"
#include "upgate/file.h"
#include "upgate/log.h"
#include "upgate/ratelimit.h"
#include "upgate/secret.h"
#include "upgate/tls.h"
#include "upgate/ts.h"

#define HTTP_CONN_MEMORY (16 * 1024)

/* Accept a connection unless its address holds its share already. */
static enum MHD_Result
on_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
	const struct listener *l = cls;

	(void)len;
	return connguard_admit(l->s->guard, addr) ? MHD_YES : MHD_NO;
}

/* Each connection is guarded from its start to its close. */
static void
on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
    enum MHD_ConnectionNotificationCode code)
{
	const struct listener *l = cls;

	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		connguard_close(l->s->guard, *socket_context);
		*socket_context = NULL;
	} else if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *fd = MHD_get_connection_info(
		    conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
		    conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

		if (fd != NULL && ci != NULL && ci->client_addr != NULL)
			*socket_context = connguard_open(l->s->guard,
			    ci->client_addr, fd->connect_fd, ts_mono_ms());
	}
}

static void
sweeper_main(struct worker *w, void *arg)
{
	struct http_server *s = arg;

	while (worker_sleep(w, 250, false))
		connguard_sweep(s->guard, ts_mono_ms());
}

/* MHD's messages: its format strings, checked as such. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_warn("http: %s", msg);
}

static void
server_free(struct http_server *s)
{
	if (s == NULL)
		return;
	if (s->keepalive_started)
		worker_stop(&s->keepalive);
	if (s->sweeper_started)
		worker_stop(&s->sweeper);
	connguard_free(s->guard);
	pthread_mutex_destroy(&s->streams_lock);
	ratelimit_free(s->rl);
	if (s->tls)
		tls_creds_free();
	http_counts_free(s->counts);
	free(s);
}

int
http_pem_read(const char *file, char **out)
{
	char where[4096], *pem = NULL;
	int err;

	err = file_read(
	    secret_path(file, where, sizeof(where)), 1u << 20, &pem, NULL);
	if (err < 0)
		return err;
	if (strstr(pem, "-----BEGIN ") == NULL) {
		secret_free(pem);
		return -EBADMSG;
	}
	*out = pem;
	return 0;
}

/* Read the PEM pair [server] names and make it the one the next
 * handshakes use (tls.c). Returns 0 or -errno after logging why. */
static int
tls_load(const char *cert_file, const char *key_file)
{
	const char *files[2] = {cert_file, key_file};
	char *pem[2] = {NULL, NULL};
	int err = 0;

	for (int i = 0; err == 0 && i < 2; i++)
		if ((err = http_pem_read(files[i], &pem[i])) < 0)
			log_err("http: cannot read [server] %s %s: %s",
			    i ? "tls_key" : "tls_cert", files[i],
			    strerror(-err));
	if (err == 0)
		err = tls_creds_set(pem[0], pem[1]);
	free(pem[0]);
	secret_free(pem[1]);
	return err;
}

static int
load_tls(struct http_server *s, const struct http_config *cfg)
{
	int err;

	if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
		log_err("http: this libmicrohttpd has no TLS support");
		return -ENOTSUP;
	}
	if ((err = tls_load(cfg->tls_cert, cfg->tls_key)) == 0)
		s->tls = true;
	return err;
}

int
http_tls_reload(
    struct http_server *s, const char *cert_file, const char *key_file)
{
	return s->tls ? tls_load(cert_file, key_file) : -ENOTSUP;
}

/* The CPUs this process may run on (its affinity: systemd's
 * CPUAffinity=, taskset, a container's cpuset), else the online ones. */
static unsigned
cpus_allowed(void)
{
	cpu_set_t set;
	long n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

unsigned
http_threads(unsigned threads, unsigned spare_cpus)
{
	unsigned cpus;

	if (threads > 0)
		return threads;
	cpus = cpus_allowed();
	return cpus > spare_cpus ? cpus - spare_cpus : 1;
}

/* Start listening on address (host:port) with threads request threads,
 * for l. Returns 0, or -errno after logging why. */
static int
listener_start(struct http_server *s, struct listener *l, const char *address,
    unsigned threads)
{
	const struct http_config *cfg = &s->cfg;
	struct sockaddr_storage ss;
	socklen_t sl;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			 MHD_USE_ITC | MHD_USE_ERROR_LOG |
			 MHD_ALLOW_SUSPEND_RESUME;
	struct MHD_OptionItem opts[16];
	int n = 0;

	if (addr_parse(address, &ss, &sl) < 0) {
		log_err("http: bad listen address '%s'", address);
		return -EINVAL;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (s->tls)
		flags |= MHD_USE_TLS;
	l->s = s;
#define OPT(o, v, p)                                                           \
	opts[n++] = (struct MHD_OptionItem){(o), (intptr_t)(v), (p)}
	/* Two-argument options: the function as value, its cls as pointer. */
	OPT(MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL);
	OPT(MHD_OPTION_SOCK_ADDR, 0, &ss);
	/* One thread is MHD's own polling thread, not a pool of one: MHD
	 * warns of a pool size of 1 and ignores it. */
	if (threads > 1)
		OPT(MHD_OPTION_THREAD_POOL_SIZE, threads, NULL);
	OPT(MHD_OPTION_CONNECTION_LIMIT,
	    cfg->conn_limit ? cfg->conn_limit : 1024, NULL);
	/* Idle connections are closed after this; the guard holds each
	 * phase of a request to its own deadline, which no byte moves. */
	OPT(MHD_OPTION_CONNECTION_TIMEOUT,
	    cfg->conn_timeout_s ? cfg->conn_timeout_s : 30, NULL);
	OPT(MHD_OPTION_NOTIFY_COMPLETED, http_on_completed, l);
	OPT(MHD_OPTION_NOTIFY_CONNECTION, on_connection, l);
	OPT(MHD_OPTION_URI_LOG_CALLBACK, http_on_uri, l);
	/* Each connection's buffer for headers and reads (bodies are
	 * copied out as they come): MHD's 32 KiB default made 1,000 open
	 * connections cost 26 MiB. */
	OPT(MHD_OPTION_CONNECTION_MEMORY_LIMIT, HTTP_CONN_MEMORY, NULL);
	OPT(MHD_OPTION_END, 0, NULL);
#undef OPT
	/* With HTTPS, handshakes take the certificate and key from tls.c
	 * (which SIGHUP can replace): the callback is its own argument
	 * after the array, which ends the list without HTTPS. */
	l->mhd = MHD_start_daemon(flags, 0, on_accept, l, http_on_request, l,
	    MHD_OPTION_ARRAY, opts,
	    s->tls ? MHD_OPTION_HTTPS_CERT_CALLBACK : MHD_OPTION_END,
	    tls_creds_retrieve, MHD_OPTION_END);
	if (l->mhd == NULL) {
		log_err(
		    "http: cannot listen on %s: %s", address, strerror(errno));
		return -EADDRINUSE;
	}
	return 0;
}

const struct access_store *
http_access(struct http_server *s)
{
	return s->cfg.access;
}

int
http_start(const struct http_config *cfg, struct http_server **out)
{
	struct http_server *s;
	bool tls_cert = cfg->tls_cert && *cfg->tls_cert;
	bool tls_key = cfg->tls_key && *cfg->tls_key;
	int err;

	if (tls_cert != tls_key) {
		log_err("http: [server] tls_cert and tls_key go together");
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->cfg = *cfg;
	pthread_mutex_init(&s->streams_lock, NULL);
	if ((s->counts = http_counts_new(cfg->n_routes)) == NULL) {
		server_free(s);
		return -ENOMEM;
	}
	if (cfg->rate_limit > 0 &&
	    (s->rl = ratelimit_new(cfg->rate_limit, cfg->rate_burst)) == NULL) {
		server_free(s);
		return -ENOMEM;
	}
	if (cfg->trusted_proxies != NULL) {
		int k = addr_ranges_parse(
		    cfg->trusted_proxies, s->proxies, ADDR_RANGES_MAX);

		if (k < 0) {
			log_err("http: bad trusted_proxies '%s'",
			    cfg->trusted_proxies);
			server_free(s);
			return -EINVAL;
		}
		s->n_proxies = (size_t)k;
	}
	s->guard = connguard_new(&(struct connguard_conf){
	    .per_address = cfg->per_address,
	    .idle_ms =
		(cfg->conn_timeout_s ? cfg->conn_timeout_s : 30) * 1000LL,
	    .request_ms =
		cfg->request_timeout_ms > 0 ? cfg->request_timeout_ms : 30000,
	    .exempt = s->proxies,
	    .n_exempt = s->n_proxies});
	if (s->guard == NULL) {
		server_free(s);
		return -ENOMEM;
	}
	if (worker_start(&s->sweeper, sweeper_main, s) == 0)
		s->sweeper_started = true;
	if (tls_cert && (err = load_tls(s, cfg)) < 0) {
		server_free(s);
		return err;
	}
	/* Which listener serves what is settled before either takes a
	 * connection: no moment where the public one serves admin routes. */
	s->split = cfg->admin_listen != NULL && cfg->admin_listen[0] != '\0';
	s->adm.admin = true;
	if ((err = listener_start(
		 s, &s->pub, cfg->listen, http_threads(cfg->threads, 0))) < 0 ||
	    (s->split &&
		(err = listener_start(s, &s->adm, cfg->admin_listen, 1)) < 0)) {
		http_stop(s);
		return err;
	}
	*out = s;
	return 0;
}

bool
http_tls(const struct http_server *s)
{
	return s->tls;
}

static unsigned
listener_port(const struct listener *l)
{
	const union MHD_DaemonInfo *di =
	    l->mhd ? MHD_get_daemon_info(l->mhd, MHD_DAEMON_INFO_BIND_PORT)
		   : NULL;

	return di ? di->port : 0;
}

unsigned
http_port(struct http_server *s)
{
	return listener_port(&s->pub);
}

unsigned
http_admin_port(struct http_server *s)
{
	return listener_port(&s->adm);
}

void
http_quiesce(struct http_server *s)
{
	struct listener *ls[] = {&s->pub, &s->adm};

	for (size_t i = 0; i < 2; i++) {
		MHD_socket fd = ls[i]->mhd ? MHD_quiesce_daemon(ls[i]->mhd)
					   : MHD_INVALID_SOCKET;

		if (fd != MHD_INVALID_SOCKET)
			close(fd);
	}
	/* Open streams never end by themselves: end them, so the drain
	 * does not wait for them. */
	http_streams_close(s);
}

bool
http_drain(struct http_server *s, int timeout_ms)
{
	struct timespec ts = {0, 10 * 1000000};

	for (int waited = 0; atomic_load(&s->active) > 0; waited += 10) {
		if (waited >= timeout_ms)
			return false;
		nanosleep(&ts, NULL);
	}
	return true;
}

void
http_stop(struct http_server *s)
{
	if (s == NULL)
		return;
	/* MHD must not stop with suspended connections. */
	http_streams_close(s);
	if (s->pub.mhd != NULL)
		MHD_stop_daemon(s->pub.mhd);
	if (s->adm.mhd != NULL)
		MHD_stop_daemon(s->adm.mhd);
	s->pub.mhd = s->adm.mhd = NULL;
}

void
http_free(struct http_server *s)
{
	http_stop(s);
	server_free(s);
}
