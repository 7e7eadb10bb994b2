/* SPDX-License-Identifier: MIT */
/* Alert grouping: when a release's failures are sent at once, and when they
 * wait for a digest. */
#include "group.h"

enum group_action
group_on_failure(
    struct alert_group *g, int64_t now, int64_t window, int64_t repeat)
{
	if (g->pending == 0 && now >= g->window_end &&
	    (g->announced_at == 0 || now >= g->announced_at + repeat)) {
		g->announced_at = now;
		g->window_end = now + window;
		g->due_at = 0;
		return GROUP_SEND_NOW;
	}
	if (g->pending == 0)
		g->due_at = now < g->window_end ? g->window_end
						: g->announced_at + repeat;
	g->pending++;
	return GROUP_WAIT;
}

void
group_flushed(struct alert_group *g, int64_t now, int64_t repeat)
{
	if (g->due_at >= g->announced_at + repeat)
		g->announced_at = now;
	g->pending = 0;
	g->due_at = 0;
}

void
group_halted(struct alert_group *g, int64_t now, int64_t window)
{
	g->announced_at = now;
	g->window_end = now + window;
	g->pending = 0;
	g->due_at = 0;
}
