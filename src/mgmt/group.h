/* SPDX-License-Identifier: MIT */
/* Alert grouping rules: pure functions over one release's group state. */
#ifndef MG_GROUP_H
#define MG_GROUP_H

#include <stdint.h>

#include "store.h"

enum group_action {
	GROUP_SEND_NOW, /* announce this failure at once */
	GROUP_WAIT,	/* it joins the digest due at g->due_at */
};

/* A failure of g's release arrived at now (ms). The first failure with no
 * window open, and at least repeat after the last announcement, is sent at
 * once and opens a window of length window; later ones wait for one
 * digest: at the window's end, or, once the window closed, at the next
 * time repeat allows. Updates g. */
enum group_action group_on_failure(
    struct alert_group *g, int64_t now, int64_t window, int64_t repeat);

/* g's digest went out at now. A digest sent because repeat allowed it is
 * an announcement: the next one waits repeat again. */
void group_flushed(struct alert_group *g, int64_t now, int64_t repeat);

/* g's release was halted at now: its waiting failures went into the halt
 * alert, which is an announcement opening a new window. */
void group_halted(struct alert_group *g, int64_t now, int64_t window);

#endif
