/* SPDX-License-Identifier: MIT */
/* Telling the user that the last upgrade failed: always on stderr, and as
 * a desktop notification (notify-send) inside a graphical session. The
 * gateway sends each failure once, so each is shown once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ln.h"

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

void
notice_show(const struct ln *l, const json_t *failure)
{
	char summary[512], body[1024];
	const char *code = str(failure, "error_code");
	const char *msg = str(failure, "message");
	const char *running = *l->installed ? l->installed : "nothing";

	snprintf(summary, sizeof(summary), "%s: the upgrade to %s failed",
	    l->c.app, str(failure, "to_version"));
	snprintf(body, sizeof(body), "%s%s%s (at %s). Version %s starts.", code,
	    *msg ? ": " : "", msg, str(failure, "failed_at"), running);
	fprintf(stderr, "upgate-launch: %s: %s\n", summary, body);
	desktop(summary, body);
}
