/* SPDX-License-Identifier: MIT */
/* upgatectl: one table of commands and one parse of the options they
 * share; the way to call the daemons is call.c's. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "ctl.h"
#include "upgate/cfg.h"
#include "upgate/httpc.h"
#include "upgate/secret.h"
#include "upgate/version.h"

static const struct command {
	const char *name;
	const char *args; /* synopsis after the name */
	const char *opts; /* short codes of the options it takes */
	int min, max;	  /* positional arguments */
	const char *about;
	int (*run)(struct ctl *, int, char **);
} commands[] = {
    {"publish",
	"[FILE.json] | --app APP --version V --file F --url URL "
	"[--delta-from OLD]... ... [--delta-level N] [--sign-key KEY]",
	"avCnRMfupKNEDZ", 0, 1,
	"Publish a release from a JSON file (the body of POST "
	"/v1/admin/releases), or from options: each --file is an artifact "
	"whose size and SHA-256 are computed here, served at the --url that "
	"follows it, for --platform (default: this machine's). With "
	"--sign-key, sign it (Ed25519) with a serial one above the highest on "
	"its app and channel (or --serial N), valid for --expires (90d). "
	"Each --delta-from OLD after a --file (an artifact of a published "
	"release) makes the zstd patch from OLD's tar to F's, written as "
	"F.from-VERSION.zst and served beside --url; --delta-level (19) is "
	"zstd's level.",
	cmd_publish},
    {"releases", "[--app APP] [--channel C]", "aC", 0, 0,
	"List releases with their upgrade counts and failure rates.",
	cmd_releases},
    {"pause", "APP VERSION [--channel C]", "C", 2, 2,
	"Stop offering a release.", cmd_pause},
    {"resume", "APP VERSION [--channel C]", "C", 2, 2,
	"Offer a paused or halted release again.", cmd_resume},
    {"yank", "APP VERSION [--channel C] [--sign-key KEY]", "CKNE", 2, 2,
	"Withdraw a release for good: never offered, not in the manifest. "
	"Clients on it are offered the newest release below it; with "
	"--sign-key a signed rollback record to that release is made too, "
	"which launchers with trusted keys need.",
	cmd_yank},
    {"rollout", "APP VERSION PERCENT [--channel C]", "C", 3, 3,
	"Offer a release to PERCENT (0-100) of clients.", cmd_rollout},
    {"rollback",
	"APP --to VERSION [--channel C] [--percent P] [--sign-key KEY] | "
	"APP --cancel [--channel C]",
	"WCPKNEX", 1, 1,
	"Offer VERSION (published, not yanked) to clients running a newer "
	"version on the channel, to P percent of them (100), and nothing "
	"newer to anyone until --cancel. --sign-key signs the rollback "
	"record.",
	cmd_rollback},
    {"keygen", "[--out PREFIX]", "o", 0, 0,
	"Make an Ed25519 key pair for signing releases: PREFIX.key (secret, "
	"mode 0600; keep it off the gateway) and PREFIX.pub (give it to "
	"launchers). PREFIX defaults to upgate-release.",
	cmd_keygen},
    {"upgrades",
	"[--app APP] [--state S] [--client ID] [--limit N] "
	"[--after C | --all]",
	"asilFL", 0, 0, "List upgrades on the gateway, newest first.",
	cmd_upgrades},
    {"outcomes",
	"[--app APP] [--version V] [--result R] [--client ID] "
	"[--kind K] [--since T] [--until T] [--limit N] [--after C | "
	"--all]",
	"avrikSUlFL", 0, 0, "List outcomes archived by mgmtd, newest first.",
	cmd_outcomes},
    {"stats", "[--app APP]", "a", 0, 0,
	"Outcome counts and failure rate per app and version (mgmtd).",
	cmd_stats},
    {"alerts",
	"[--state S] [--channel C] [--app APP] [--limit N] [--after C | "
	"--all] | test [--channel C]",
	"sCalFL", 0, 1,
	"List alert deliveries and their states (mgmtd). With test: send a "
	"test alert, marked as one, through each configured channel (or "
	"--channel C: email, sms, webhook, alertmanager, popup) and say "
	"per channel whether it was accepted; nothing is stored or counted.",
	cmd_alerts},
    {"token",
	"create NAME --role ROLE [--apps GLOB] | list | revoke NAME "
	"[--on gateway|mgmt]",
	"QGO", 1, 2,
	"Make, list or revoke a named token on the gateway (or --on mgmt). "
	"ROLE is viewer, publisher or admin; a publisher may change only the "
	"apps matching GLOB (default *). create prints the token, once: "
	"the daemon keeps only its hash. Revoking ends its requests and "
	"event streams at once.",
	cmd_token},
    {"audit",
	"[--since T] [--until T] [--token NAME] [--limit N] [--after C | "
	"--all] [--on gateway|mgmt]",
	"SUBlFLO", 0, 0,
	"The audit log of the gateway (or --on mgmt), newest first: every "
	"change made with a token, refused ones too, with its status.",
	cmd_audit},
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct option options[] = {
    {"gateway", required_argument, NULL, 'g'},
    {"mgmt", required_argument, NULL, 'm'},
    {"token-file", required_argument, NULL, 't'},
    {"config", required_argument, NULL, 'c'},
    {"json", no_argument, NULL, 'j'},
    {"timeout", required_argument, NULL, 'T'},
    {"ca-file", required_argument, NULL, 'A'},
    {"help", no_argument, NULL, 'h'},
    {"app", required_argument, NULL, 'a'},
    {"version", required_argument, NULL, 'v'},
    {"channel", required_argument, NULL, 'C'},
    {"state", required_argument, NULL, 's'},
    {"client", required_argument, NULL, 'i'},
    {"result", required_argument, NULL, 'r'},
    {"kind", required_argument, NULL, 'k'},
    {"since", required_argument, NULL, 'S'},
    {"until", required_argument, NULL, 'U'},
    {"after", required_argument, NULL, 'F'},
    {"limit", required_argument, NULL, 'l'},
    {"all", no_argument, NULL, 'L'},
    {"notes", required_argument, NULL, 'n'},
    {"rollout", required_argument, NULL, 'R'},
    {"mandatory", no_argument, NULL, 'M'},
    {"file", required_argument, NULL, 'f'},
    {"url", required_argument, NULL, 'u'},
    {"platform", required_argument, NULL, 'p'},
    {"out", required_argument, NULL, 'o'},
    {"sign-key", required_argument, NULL, 'K'},
    {"serial", required_argument, NULL, 'N'},
    {"expires", required_argument, NULL, 'E'},
    {"percent", required_argument, NULL, 'P'},
    {"cancel", no_argument, NULL, 'X'},
    {"to", required_argument, NULL, 'W'},
    {"delta-from", required_argument, NULL, 'D'},
    {"delta-level", required_argument, NULL, 'Z'},
    {"role", required_argument, NULL, 'Q'},
    {"apps", required_argument, NULL, 'G'},
    {"on", required_argument, NULL, 'O'},
    {"token", required_argument, NULL, 'B'},
    {NULL, 0, NULL, 0},
};

static const struct cfg_key keys[] = {
    CFG_KEY(struct ctl_conf, "upgatectl", "gateway_url", CFG_STR, gateway_url,
	"http://127.0.0.1:8470", 0, 0),
    CFG_KEY(struct ctl_conf, "upgatectl", "mgmt_url", CFG_STR, mgmt_url,
	"http://127.0.0.1:8471", 0, 0),
    CFG_KEY(struct ctl_conf, "upgatectl", "token_file", CFG_STR, token_file,
	"/etc/upgate/admin.token", 0, 0),
    CFG_KEY(
	struct ctl_conf, "upgatectl", "ca_file", CFG_STR, ca_file, "", 0, 0),
    CFG_KEY(struct ctl_conf, "upgatectl", "timeout", CFG_DUR, timeout, "30s",
	100, 3600000),
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

static void
usage(FILE *f)
{
	fprintf(f, "usage: upgatectl [OPTIONS] COMMAND [ARGS]\n\n"
		   "The admin command line of upgate-gatewayd and "
		   "upgate-mgmtd.\n\nCommands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].args);
	fprintf(f,
	    "\nOptions (every command):\n"
	    "  -g, --gateway URL     the gateway (UPGATE_GATEWAY; default\n"
	    "                        http://127.0.0.1:8470)\n"
	    "  -m, --mgmt URL        mgmtd (UPGATE_MGMT; default "
	    "http://127.0.0.1:8471)\n"
	    "  -t, --token-file F    the admin token (else UPGATE_TOKEN, "
	    "UPGATE_TOKEN_FILE,\n"
	    "                        or /etc/upgate/admin.token)\n"
	    "  -c, --config F        [upgatectl] gateway_url, mgmt_url, "
	    "token_file,\n"
	    "                        ca_file, timeout (UPGATE_CONFIG; default\n"
	    "                        /etc/upgate/upgatectl.conf when present)\n"
	    "      --json            print the daemons' JSON instead of "
	    "tables\n"
	    "      --timeout DUR     per request (default 30s)\n"
	    "      --ca-file F       CA certificates for https\n"
	    "  -h, --help            help (upgatectl COMMAND --help: the "
	    "command's)\n"
	    "  -V, --version         print the version\n\n"
	    "Exit status: 0 done; 1 no answer or a server failure; 2 bad "
	    "usage or\ninput; 3 not found; 4 conflict; 5 not authorized.\n");
}

static void
command_usage(const struct command *c, FILE *f)
{
	fprintf(f,
	    "usage: upgatectl %s %s\n\n%s\n\n"
	    "Global options as in upgatectl --help; --json prints "
	    "JSON.\n",
	    c->name, c->args, c->about);
}

/* Config file, then environment, then options. */
static int
configure(struct ctl *x, const char *config, const char *gateway,
    const char *mgmt, const char *token_file, const char *timeout,
    const char *ca_file)
{
	char *errors = NULL, why[256], home[4096];
	const char *env_token = getenv("UPGATE_TOKEN");
	int err;

	if (config == NULL)
		config = getenv("UPGATE_CONFIG");
	if (config == NULL && getenv("HOME") != NULL) {
		snprintf(home, sizeof(home), "%s/.config/upgate/upgatectl.conf",
		    getenv("HOME"));
		if (access(home, F_OK) == 0)
			config = home;
	}
	if (config == NULL && access("/etc/upgate/upgatectl.conf", F_OK) == 0)
		config = "/etc/upgate/upgatectl.conf";
	if (cfg_load(config, keys, N_KEYS, &x->c, NULL, &errors) < 0) {
		fprintf(stderr, "%s", errors ? errors : "out of memory\n");
		free(errors);
		return CTL_USAGE;
	}
	if (gateway == NULL)
		gateway = getenv("UPGATE_GATEWAY");
	if (mgmt == NULL)
		mgmt = getenv("UPGATE_MGMT");
	if (token_file == NULL && env_token == NULL)
		token_file = getenv("UPGATE_TOKEN_FILE");
	{
		/* Values that override the file, parsed as the file's are. */
		const char *over[][2] = {{"gateway_url", gateway},
		    {"mgmt_url", mgmt}, {"ca_file", ca_file},
		    {"timeout", timeout}};

		for (size_t i = 0; i < sizeof(over) / sizeof(over[0]); i++) {
			if (over[i][1] == NULL)
				continue;
			if (cfg_set(keys, N_KEYS, &x->c, "upgatectl",
				over[i][0], over[i][1], why, sizeof(why)) < 0) {
				fprintf(stderr, "upgatectl: %s\n", why);
				return CTL_USAGE;
			}
		}
	}
	if (token_file == NULL && env_token != NULL && *env_token != '\0') {
		if ((x->token = strdup(env_token)) == NULL)
			return CTL_FAIL;
		return CTL_OK;
	}
	if (token_file == NULL)
		token_file = x->c.token_file;
	if ((err = secret_read(token_file, &x->token)) < 0) {
		fprintf(stderr,
		    "upgatectl: cannot read the admin token from %s: %s\n"
		    "(give --token-file FILE, or set UPGATE_TOKEN)\n",
		    token_file,
		    err == -EINVAL ? "empty or too long" : strerror(-err));
		return CTL_USAGE;
	}
	return CTL_OK;
}

static int
number(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

int
main(int argc, char **argv)
{
	const char *config = NULL, *gateway = NULL, *mgmt = NULL;
	const char *token_file = NULL, *timeout = NULL, *ca_file = NULL;
	const struct command *cmd = NULL;
	struct ctl x = {
	    .o = {
		.limit = -1, .rollout = -1, .percent = -1, .delta_level = 19}};
	char used[64] = "";
	bool help = false;
	int c, rc = CTL_USAGE;

	if (argc == 2 &&
	    (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)) {
		printf("upgatectl %s\n", UPGATE_VERSION);
		return 0;
	}
	opterr = 0;
	while (
	    (c = getopt_long(argc, argv, "g:m:t:c:h", options, NULL)) != -1) {
		if (c != '?' && c != ':' && strchr(used, c) == NULL) {
			size_t n = strlen(used);

			if (n < sizeof(used) - 1) {
				used[n] = (char)c;
				used[n + 1] = '\0';
			}
		}
		switch (c) {
		case 'g':
			gateway = optarg;
			break;
		case 'm':
			mgmt = optarg;
			break;
		case 't':
			token_file = optarg;
			break;
		case 'c':
			config = optarg;
			break;
		case 'j':
			x.json = true;
			break;
		case 'T':
			timeout = optarg;
			break;
		case 'A':
			ca_file = optarg;
			break;
		case 'h':
			help = true;
			break;
		case 'a':
			x.o.app = optarg;
			break;
		case 'Q':
			x.o.role = optarg;
			break;
		case 'G':
			x.o.apps = optarg;
			break;
		case 'B':
			x.o.token_name = optarg;
			break;
		case 'O':
			if (strcmp(optarg, "gateway") != 0 &&
			    strcmp(optarg, "mgmt") != 0) {
				fprintf(stderr, "upgatectl: --on wants gateway "
						"or mgmt\n");
				return CTL_USAGE;
			}
			x.o.on_mgmt = strcmp(optarg, "mgmt") == 0;
			break;
		case 'v':
			x.o.version = optarg;
			break;
		case 'C':
			x.o.channel = optarg;
			break;
		case 's':
			x.o.state = optarg;
			break;
		case 'i':
			x.o.client = optarg;
			break;
		case 'r':
			x.o.result = optarg;
			break;
		case 'k':
			x.o.kind = optarg;
			break;
		case 'S':
			x.o.since = optarg;
			break;
		case 'U':
			x.o.until = optarg;
			break;
		case 'F':
			x.o.after = optarg;
			break;
		case 'L':
			x.o.all = true;
			break;
		case 'n':
			x.o.notes = optarg;
			break;
		case 'M':
			x.o.mandatory = true;
			break;
		case 'o':
			x.o.out = optarg;
			break;
		case 'K':
			x.o.sign_key = optarg;
			break;
		case 'E':
			x.o.expires = optarg;
			break;
		case 'W':
			x.o.to = optarg;
			break;
		case 'X':
			x.o.cancel = true;
			break;
		case 'N':
			if (number(optarg, 1, INT64_MAX / 2, &x.o.serial) < 0) {
				fprintf(stderr, "upgatectl: --serial wants a "
						"whole number from 1\n");
				return CTL_USAGE;
			}
			break;
		case 'P':
			if (number(optarg, 0, 100, &x.o.percent) < 0) {
				fprintf(stderr, "upgatectl: --percent wants 0 "
						"to 100\n");
				return CTL_USAGE;
			}
			break;
		case 'l':
			if (number(optarg, 1, 1000000, &x.o.limit) < 0) {
				fprintf(stderr, "upgatectl: --limit wants a "
						"number from 1\n");
				return CTL_USAGE;
			}
			break;
		case 'R':
			if (number(optarg, 0, 100, &x.o.rollout) < 0) {
				fprintf(stderr, "upgatectl: --rollout wants 0 "
						"to 100\n");
				return CTL_USAGE;
			}
			break;
		case 'f':
			if (x.o.n_art == sizeof(x.o.art) / sizeof(x.o.art[0])) {
				fprintf(stderr, "upgatectl: too many --file\n");
				return CTL_USAGE;
			}
			x.o.art[x.o.n_art++].file = optarg;
			break;
		case 'u':
		case 'p':
		case 'D':
			if (x.o.n_art == 0) {
				fprintf(stderr,
				    "upgatectl: --%s belongs after "
				    "the --file it describes\n",
				    c == 'u'   ? "url"
				    : c == 'p' ? "platform"
					       : "delta-from");
				return CTL_USAGE;
			}
			if (c == 'u') {
				x.o.art[x.o.n_art - 1].url = optarg;
			} else if (c == 'p') {
				x.o.art[x.o.n_art - 1].platform = optarg;
			} else {
				struct ctl_artifact *a =
				    &x.o.art[x.o.n_art - 1];

				if (a->n_delta ==
				    sizeof(a->delta_from) /
					sizeof(a->delta_from[0])) {
					fprintf(stderr, "upgatectl: too many "
							"--delta-from\n");
					return CTL_USAGE;
				}
				a->delta_from[a->n_delta++] = optarg;
			}
			break;
		case 'Z':
			if (number(optarg, 1, 19, &x.o.delta_level) < 0) {
				fprintf(stderr, "upgatectl: --delta-level "
						"wants 1 to 19\n");
				return CTL_USAGE;
			}
			break;
		default:
			fprintf(stderr,
			    "upgatectl: unknown option or missing "
			    "value: %s\n",
			    argv[optind - 1]);
			usage(stderr);
			return CTL_USAGE;
		}
	}
	if (optind < argc && strcmp(argv[optind], "help") == 0) {
		help = true;
		optind++;
	}
	if (optind < argc) {
		for (size_t i = 0; i < N_COMMANDS; i++)
			if (strcmp(argv[optind], commands[i].name) == 0)
				cmd = &commands[i];
		if (cmd == NULL) {
			fprintf(stderr, "upgatectl: unknown command '%s'\n",
			    argv[optind]);
			usage(stderr);
			return CTL_USAGE;
		}
		optind++;
	}
	if (help) {
		if (cmd)
			command_usage(cmd, stdout);
		else
			usage(stdout);
		return 0;
	}
	if (cmd == NULL) {
		usage(stderr);
		return CTL_USAGE;
	}
	x.cmd = cmd->name;
	for (const char *u = used; *u; u++) {
		if (strchr("gmtcjTAh", *u) || strchr(cmd->opts, *u))
			continue;
		for (const struct option *o = options; o->name; o++)
			if (o->val == *u)
				ctl_err(
				    &x, "--%s does not apply here", o->name);
		command_usage(cmd, stderr);
		return CTL_USAGE;
	}
	if (argc - optind < cmd->min || argc - optind > cmd->max) {
		ctl_err(&x, "wrong number of arguments");
		command_usage(cmd, stderr);
		return CTL_USAGE;
	}
	if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		fprintf(stderr, "upgatectl: cannot initialise libraries\n");
		return CTL_FAIL;
	}
	if (cmd->run == cmd_keygen) { /* no daemon involved */
		rc = cmd_keygen(&x, argc - optind, argv + optind);
		curl_global_cleanup();
		return rc;
	}
	rc = configure(&x, config, gateway, mgmt, token_file, timeout, ca_file);
	if (rc == CTL_OK) {
		x.h = httpc_new("upgatectl/" UPGATE_VERSION, 10000,
		    (long)x.c.timeout, x.c.ca_file);
		rc =
		    x.h ? cmd->run(&x, argc - optind, argv + optind) : CTL_FAIL;
	}
	if (x.h != NULL)
		curl_easy_cleanup(x.h);
	curl_global_cleanup();
	secret_free(x.token);
	cfg_free(keys, N_KEYS, &x.c);
	return rc;
}
