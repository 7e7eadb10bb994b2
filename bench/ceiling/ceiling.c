/* SPDX-License-Identifier: MIT */
/* The ceiling upgate's numbers are divided by: the least an HTTP JSON
 * service can do on this machine with the same libraries. libmicrohttpd
 * with the same threading as the daemons, the request body parsed with
 * jansson, a fixed 500-byte JSON answer. usage: ceiling [THREADS] */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

static char answer[501];

struct body {
	char *p;
	size_t len;
};

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *data, size_t *size,
    void **state)
{
	struct body *b = *state;
	struct MHD_Response *r;
	enum MHD_Result ret;
	json_t *j;

	(void)cls;
	(void)url;
	(void)method;
	(void)version;
	if (b == NULL) {
		if ((b = calloc(1, sizeof(*b))) == NULL)
			return MHD_NO;
		*state = b;
		return MHD_YES;
	}
	if (*size > 0) {
		char *p = realloc(b->p, b->len + *size);

		if (p == NULL)
			return MHD_NO;
		memcpy(p + b->len, data, *size);
		b->p = p;
		b->len += *size;
		*size = 0;
		return MHD_YES;
	}
	j = b->len ? json_loadb(b->p, b->len, 0, NULL) : NULL;
	json_decref(j);
	r = MHD_create_response_from_buffer(
	    sizeof(answer) - 1, answer, MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return ret;
}

static void
on_done(void *cls, struct MHD_Connection *c, void **state,
    enum MHD_RequestTerminationCode toe)
{
	struct body *b = *state;

	(void)cls;
	(void)c;
	(void)toe;
	if (b != NULL) {
		free(b->p);
		free(b);
	}
	*state = NULL;
}

int
main(int argc, char **argv)
{
	unsigned threads = argc > 1 ? (unsigned)atoi(argv[1]) : 2;
	const union MHD_DaemonInfo *info;
	struct MHD_Daemon *d;
	sigset_t set;
	int sig;

	/* {"action":"launch","reason":"up_to_date","pad":"xxx..."}: 500 bytes
	 */
	snprintf(answer, sizeof(answer),
	    "{\"action\":\"launch\",\"reason\":\"up_to_date\","
	    "\"previous_failure\":null,\"pad\":\"%0*d\"}",
	    500 - 76, 0);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	d = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC, 0,
	    NULL, NULL, on_request, NULL, MHD_OPTION_THREAD_POOL_SIZE, threads,
	    MHD_OPTION_CONNECTION_LIMIT, 4096, MHD_OPTION_NOTIFY_COMPLETED,
	    on_done, NULL, MHD_OPTION_END);
	if (d == NULL)
		return 1;
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	printf("listening on http://127.0.0.1:%u\n", info->port);
	fflush(stdout);
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	return 0;
}
