/* SPDX-License-Identifier: MIT */
/* Telling the user that the last upgrade failed: always on stderr, and as
 * a desktop notification (notify-send) inside a graphical session. The
 * gateway sends each failure once, so each is shown once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ln.h"
#include "upgate/ts.h"

static const char *
str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

/* Start notify-send without waiting for it: the app must start now, and
 * a grandchild is reaped by init rather than left to the app. */
static void
desktop(char *summary, char *body)
{
	char prog[] = "notify-send", app[] = "--app-name=upgate",
	     icon[] = "--icon=dialog-warning";
	char *argv[] = {prog, app, icon, summary, body, NULL};
	pid_t pid;

	if (getenv("DISPLAY") == NULL && getenv("WAYLAND_DISPLAY") == NULL)
		return;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		if (fork() == 0) {
			execvp(argv[0], argv);
			_exit(127);
		}
		_exit(0);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

/* An RFC 3339 time from the gateway as this machine's local time, for
 * a person ("2026-12-04 15:30"); the text itself when it does not parse. */
static void
local_time(const char *rfc3339, char *out, size_t len)
{
	int64_t ms;
	time_t t;
	struct tm tm;

	if (ts_parse(rfc3339, &ms) < 0) {
		snprintf(out, len, "%s", rfc3339);
		return;
	}
	t = (time_t)(ms / 1000);
	if (localtime_r(&t, &tm) == NULL ||
	    strftime(out, len, "%Y-%m-%d %H:%M", &tm) == 0)
		snprintf(out, len, "%s", rfc3339);
}

void
notice_next(const struct ln *l, const json_t *ans, char *out, size_t len)
{
	const char *action = str(ans, "action"), *reason = str(ans, "reason");
	char when[64];

	if (strcmp(action, "upgrade") == 0) {
		snprintf(out, len, "Trying again now.");
		return;
	}
	if (strcmp(reason, "retry_backoff") == 0 && *str(ans, "retry_at")) {
		local_time(str(ans, "retry_at"), when, sizeof(when));
		snprintf(out, len, "It will be tried again after %s; %s.", when,
		    *l->installed ? "until then the installed version starts"
				  : "until then nothing can start, as nothing "
				    "is installed yet");
	} else if (strcmp(reason, "attempts_exhausted") == 0) {
		snprintf(out, len,
		    "It will not be tried again until a newer release is "
		    "published; %s.",
		    *l->installed ? "the installed version starts"
				  : "nothing is installed yet, so nothing can "
				    "start: ask the people who publish it");
	} else if (strcmp(reason, "release_halted") == 0) {
		snprintf(out, len,
		    "The release is halted for failing too often; it is "
		    "offered again when an admin resumes it.");
	} else if (*l->installed) {
		snprintf(out, len, "Version %s starts.", l->installed);
	} else if (strcmp(reason, "not_in_rollout") == 0) {
		snprintf(out, len,
		    "Nothing is installed yet, and this machine is not in the "
		    "release's rollout yet; each launch asks again.");
	} else if (strcmp(reason, "no_release") == 0) {
		snprintf(out, len,
		    "Nothing is installed yet, and no release is published "
		    "for this platform; each launch asks again.");
	} else {
		snprintf(out, len,
		    "Nothing is installed yet, so nothing "
		    "can start.");
	}
}

void
notice_show(const struct ln *l, const json_t *failure, const json_t *ans)
{
	char summary[512], body[1024], next[256];
	const char *code = str(failure, "error_code");
	const char *msg = str(failure, "message");
	char when[64];

	local_time(str(failure, "failed_at"), when, sizeof(when));
	notice_next(l, ans, next, sizeof(next));
	snprintf(summary, sizeof(summary), "%s: the %s %s failed", l->c.app,
	    *l->installed ? "upgrade to" : "first install of",
	    str(failure, "to_version"));
	snprintf(body, sizeof(body), "%s%s%s (at %s). %s", code,
	    *msg ? ": " : "", msg, when, next);
	fprintf(stderr, "upgate-launch: %s: %s\n", summary, body);
	desktop(summary, body);
}
