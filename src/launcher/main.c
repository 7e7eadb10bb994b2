/* SPDX-License-Identifier: MIT */
/* upgate-launch: ask the gateway whether to upgrade, upgrade when told,
 * then start the installed version. Whatever happens on the way, the app
 * starts: the gateway's slowness or an upgrade's failure costs at most
 * [launcher] timeout per call before the launch decision. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "ln.h"
#include "upgate/httpc.h"
#include "upgate/log.h"
#include "upgate/version.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: upgate-launch [OPTIONS] -- COMMAND [ARGS...]\n\n"
	    "Ask the upgate gateway whether APP should be upgraded, upgrade "
	    "it\n"
	    "when told to, then run COMMAND from the installed version.\n\n"
	    "  -c, --config FILE      read options from FILE ([launcher] "
	    "section)\n"
	    "      --gateway URL      the gateway, e.g. http://127.0.0.1:8470\n"
	    "      --app APP          the application id\n"
	    "      --client-id ID     this client (default: /etc/machine-id)\n"
	    "      --install-dir DIR  where versions/ and current live\n"
	    "      --channel C        release channel (default stable)\n"
	    "      --platform P       default <os>-<machine>, e.g. "
	    "linux-x86_64\n"
	    "      --timeout DUR      limit of each gateway call before the "
	    "app\n"
	    "                         starts (default 3s)\n"
	    "      --ca-file FILE     CA certificates for https\n"
	    "      --public-key KEY   trust releases signed by KEY (base64;\n"
	    "                         repeat it while rotating keys)\n"
	    "  -v, --verbose          say what happens (log level info)\n"
	    "  -V, --version          print the version and exit\n"
	    "  -h, --help             print this help and exit\n\n"
	    "A relative COMMAND is run from DIR/current. Exit status: "
	    "COMMAND's;\n"
	    "1 when nothing is installed to run; 2 on bad usage.\n");
}

/* Options that are config keys, by getopt value. */
static const struct {
	int val;
	const char *key;
} opt_keys[] = {
    {'g', "gateway"},
    {'a', "app"},
    {'i', "client_id"},
    {'d', "install_dir"},
    {'C', "channel"},
    {'p', "platform"},
    {'t', "timeout"},
    {'A', "ca_file"},
};
#define N_OPT_KEYS (sizeof(opt_keys) / sizeof(opt_keys[0]))

/* Parse the command line into l->c. Returns -1 to go on, or an exit code. */
static int
parse_args(struct ln *l, int argc, char **argv, char ***cmd)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"gateway", required_argument, NULL, 'g'},
	    {"app", required_argument, NULL, 'a'},
	    {"client-id", required_argument, NULL, 'i'},
	    {"install-dir", required_argument, NULL, 'd'},
	    {"channel", required_argument, NULL, 'C'},
	    {"platform", required_argument, NULL, 'p'},
	    {"timeout", required_argument, NULL, 't'},
	    {"ca-file", required_argument, NULL, 'A'},
	    {"public-key", required_argument, NULL, 'k'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *given[N_OPT_KEYS] = {0};
	const char *path = NULL;
	char *errors = NULL, why[512], keys[1024] = "";
	bool verbose = false;
	int c;

	/* '+': options end at COMMAND, whose own options are its own. */
	while ((c = getopt_long(argc, argv, "+c:vVh", opts, NULL)) != -1) {
		size_t i;

		switch (c) {
		case 'c':
			path = optarg;
			continue;
		case 'v':
			verbose = true;
			continue;
		case 'k':
			if (strlen(keys) + strlen(optarg) + 2 > sizeof(keys)) {
				fprintf(stderr, "upgate-launch: too many "
						"--public-key\n");
				return 2;
			}
			if (*keys)
				strcat(keys, ",");
			strcat(keys, optarg);
			continue;
		case 'V':
			printf("upgate-launch %s\n", UPGATE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		}
		for (i = 0; i < N_OPT_KEYS && opt_keys[i].val != c; i++)
			;
		if (i == N_OPT_KEYS) {
			usage(stderr);
			return 2;
		}
		given[i] = optarg;
	}
	if (ln_conf_load(path, &l->c, &errors) < 0) {
		fprintf(stderr, "%s", errors ? errors : "out of memory\n");
		free(errors);
		return 2;
	}
	for (size_t i = 0; i < N_OPT_KEYS; i++) {
		if (given[i] == NULL)
			continue;
		if (ln_conf_set(&l->c, opt_keys[i].key, given[i], why,
			sizeof(why)) < 0) {
			fprintf(stderr, "upgate-launch: --%s: %s\n",
			    opts[i + 1].name, why);
			return 2;
		}
	}
	if (*keys &&
	    ln_conf_set(&l->c, "public_keys", keys, why, sizeof(why)) < 0) {
		fprintf(stderr, "upgate-launch: --public-key: %s\n", why);
		return 2;
	}
	if (ln_conf_finish(&l->c, why, sizeof(why)) < 0 ||
	    trust_load_keys(l, why, sizeof(why)) < 0) {
		fprintf(stderr, "upgate-launch: %s\n", why);
		return 2;
	}
	if (optind >= argc) {
		fprintf(stderr, "upgate-launch: no COMMAND to run (give it "
				"after --)\n");
		return 2;
	}
	*cmd = argv + optind;
	log_set_level(verbose ? LOG_LVL_INFO
			      : (enum log_level)(LOG_LVL_ERR + l->c.log_level));
	return -1;
}

/* Talk to the gateway and upgrade when told to. Never fails: whatever
 * goes wrong, the installed version starts. */
static void
consult(struct ln *l)
{
	json_t *ans = NULL, *up, *pf;
	const char *action, *reason;
	struct offer o = {0};
	char why[256];
	bool resume = false;

	l->deadline = ts_mono_ms() + l->c.timeout;
	api_flush_pending(l);
	if (api_launch(l, &ans) < 0) {
		log_warn("no answer from the gateway: starting %s %s; the next "
			 "launch asks again",
		    l->c.app, *l->installed ? l->installed : "(nothing)");
		snprintf(l->why_none, sizeof(l->why_none),
		    "The gateway did not answer; the next launch asks again.");
		return;
	}
	pf = json_object_get(ans, "previous_failure");
	if (json_is_object(pf))
		notice_show(l, pf, ans);
	else if (*l->installed == '\0')
		notice_next(l, ans, l->why_none, sizeof(l->why_none));
	action = json_string_value(json_object_get(ans, "action"));
	reason = json_string_value(json_object_get(ans, "reason"));
	up = json_object_get(ans, "upgrade");
	if (action != NULL && strcmp(action, "upgrade") == 0) {
		/* the offer is for now: no more deadline */
	} else if (reason != NULL &&
		   strcmp(reason, "upgrade_in_progress") == 0 &&
		   json_is_object(up)) {
		/* We hold the lock, so the launcher that started it is gone. */
		resume = true;
	} else {
		log_info("gateway: launch (%s)", reason ? reason : "?");
		goto out;
	}
	if (offer_parse(up, &o, why, sizeof(why)) < 0) {
		log_err("the gateway's offer is unusable: %s", why);
		if (!resume && o.upgrade_id[0] != '\0') {
			/* Say so now rather than leave it to time out. */
			struct report r = REPORT_INIT("failed");

			report_fail(&r, "invalid_offer", "%s", why);
			l->deadline = 0;
			l->seq = 0;
			l->reached = 0;
			api_report(l, &o, &r);
		}
		goto out;
	}
	if (resume && api_pending(l, o.upgrade_id)) {
		log_info("upgrade %s: its final report is still to be sent",
		    o.upgrade_id);
		goto out;
	}
	l->deadline = 0;
	if (upgrade_run(l, &o, resume) < 0 && *l->installed == '\0')
		snprintf(l->why_none, sizeof(l->why_none),
		    "The next launch says when it is tried again.");
out:
	offer_fini(&o);
	json_decref(ans);
}

/* Replace this process with COMMAND from the installed version. */
static int
run(struct ln *l, char **cmd)
{
	char path[8192];

	if (*l->installed == '\0') {
		fprintf(stderr,
		    "upgate-launch: nothing of %s is installed in %s yet, and "
		    "no upgrade could install it. %s\n",
		    l->c.app, l->c.install_dir, l->why_none);
		return 1;
	}
	if (cmd[0][0] == '/')
		snprintf(path, sizeof(path), "%s", cmd[0]);
	else
		snprintf(path, sizeof(path), "%s/current/%s", l->c.install_dir,
		    cmd[0]);
	setenv("UPGATE_APP", l->c.app, 1);
	setenv("UPGATE_VERSION", l->installed, 1);
	setenv("UPGATE_INSTALL_DIR", l->c.install_dir, 1);
	/* The app gets default signal handling, not the launcher's. */
	signal(SIGPIPE, SIG_DFL);
	signal(SIGXFSZ, SIG_DFL);
	fflush(NULL);
	execv(path, cmd);
	fprintf(stderr, "upgate-launch: cannot run %s: %s\n", path,
	    strerror(errno));
	return errno == ENOENT ? 127 : 126;
}

int
main(int argc, char **argv)
{
	struct ln l = {0};
	char **cmd = NULL;
	int rc, err;

	log_init("upgate-launch");
	log_set_level(LOG_LVL_WARNING);
	if ((rc = parse_args(&l, argc, argv, &cmd)) >= 0)
		goto out;
	/* A failed write is an error to report, not a reason to die. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);
	if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		fatal("cannot initialise libsodium or libcurl");
	if ((err = install_open(&l)) < 0) {
		rc = 1;
		goto out;
	}
	err = install_lock(&l, false);
	if (err == -EWOULDBLOCK) {
		/* Another launcher is upgrading: start what is installed,
		 * or wait for the first install to finish. */
		log_info("another launcher is at work in %s", l.c.install_dir);
		if (*l.installed == '\0' && install_lock(&l, true) == 0)
			install_read_current(&l);
	} else if (err < 0) {
		log_err("cannot lock %s/lock: %s", l.state, strerror(-err));
	} else if ((l.api = httpc_new("upgate-launch/" UPGATE_VERSION,
			(long)l.c.timeout, (long)l.c.timeout, l.c.ca_file)) !=
		   NULL) {
		consult(&l);
		curl_easy_cleanup(l.api);
		l.api = NULL;
	}
	curl_global_cleanup();
	rc = run(&l, cmd);
out:
	free(l.state);
	ln_conf_free(&l.c);
	return rc;
}
