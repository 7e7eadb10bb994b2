/* SPDX-License-Identifier: MIT */
/* The gateway's schema, its migrations and the upgrade state names. */
#include <errno.h>
#include <string.h>

#include "store.h"

extern const struct db_sqlset store_release_sql;
extern const struct db_sqlset store_upgrade_sql;
extern const struct db_sqlset store_outbox_sql;

static const char *const migrations[] = {
    /* 1: releases, upgrades with their events, the outbox, launches. */
    "CREATE TABLE releases ("
    "  id INTEGER PRIMARY KEY,"
    "  app TEXT NOT NULL, channel TEXT NOT NULL, version TEXT NOT NULL,"
    "  notes TEXT NOT NULL DEFAULT '',"
    "  rollout_percent INTEGER NOT NULL,"
    "  mandatory INTEGER NOT NULL DEFAULT 0,"
    "  paused INTEGER NOT NULL DEFAULT 0,"
    "  yanked INTEGER NOT NULL DEFAULT 0,"
    "  halted INTEGER NOT NULL DEFAULT 0,"
    "  halted_at INTEGER NOT NULL DEFAULT 0,"
    "  content TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
    "  n_succeeded INTEGER NOT NULL DEFAULT 0,"
    "  n_failed INTEGER NOT NULL DEFAULT 0,"
    "  n_timed_out INTEGER NOT NULL DEFAULT 0,"
    /* counts when the release was last resumed: the halt window */
    "  base_finished INTEGER NOT NULL DEFAULT 0,"
    "  base_failed INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE (app, channel, version));"
    "CREATE TABLE artifacts ("
    "  release_id INTEGER NOT NULL REFERENCES releases(id),"
    "  platform TEXT NOT NULL, url TEXT NOT NULL,"
    "  size INTEGER NOT NULL, sha256 TEXT NOT NULL,"
    "  PRIMARY KEY (release_id, platform)) WITHOUT ROWID;"
    "CREATE TABLE upgrades ("
    "  id INTEGER PRIMARY KEY,"
    "  upgrade_id TEXT NOT NULL UNIQUE,"
    "  client_id TEXT NOT NULL, app TEXT NOT NULL,"
    "  release_id INTEGER NOT NULL REFERENCES releases(id),"
    "  platform TEXT NOT NULL, channel TEXT NOT NULL,"
    "  from_version TEXT NOT NULL, to_version TEXT NOT NULL,"
    "  state TEXT NOT NULL, final INTEGER NOT NULL DEFAULT 0,"
    "  last_seq INTEGER NOT NULL DEFAULT 0,"
    "  progress INTEGER, download_ms INTEGER, install_ms INTEGER,"
    "  error_code TEXT, message TEXT,"
    "  url TEXT NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL,"
    "  notes TEXT NOT NULL, mandatory INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
    "  finished_at INTEGER NOT NULL DEFAULT 0,"
    "  failure_told INTEGER NOT NULL DEFAULT 0);"
    /* at most one unfinished upgrade per client and app */
    "CREATE UNIQUE INDEX upgrades_active ON upgrades(client_id, app)"
    "  WHERE final = 0;"
    "CREATE INDEX upgrades_client ON upgrades(client_id, app, id);"
    "CREATE INDEX upgrades_unfinished ON upgrades(created_at)"
    "  WHERE final = 0;"
    "CREATE INDEX upgrades_app ON upgrades(app, id);"
    "CREATE INDEX upgrades_release ON upgrades(release_id, state);"
    "CREATE TABLE events ("
    "  upgrade INTEGER NOT NULL REFERENCES upgrades(id),"
    "  seq INTEGER NOT NULL, state TEXT NOT NULL,"
    "  error_code TEXT, message TEXT, progress INTEGER,"
    "  download_ms INTEGER, install_ms INTEGER, at INTEGER NOT NULL,"
    "  PRIMARY KEY (upgrade, seq)) WITHOUT ROWID;"
    "CREATE TABLE outbox ("
    "  id INTEGER PRIMARY KEY,"
    "  outcome_id TEXT NOT NULL UNIQUE,"
    "  kind TEXT NOT NULL,"
    "  body TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE launches ("
    "  id INTEGER PRIMARY KEY, at INTEGER NOT NULL,"
    "  client_id TEXT NOT NULL, app TEXT NOT NULL, version TEXT NOT NULL,"
    "  platform TEXT NOT NULL, channel TEXT NOT NULL,"
    "  action TEXT NOT NULL, reason TEXT, upgrade_id TEXT);",
    /* 2: signed releases (the signed document as published, its
     * Ed25519 signature, its serial), rollbacks, and what an upgrade was
     * offered with. */
    "ALTER TABLE releases ADD COLUMN signed TEXT;"
    "ALTER TABLE releases ADD COLUMN signature TEXT;"
    "ALTER TABLE releases ADD COLUMN serial INTEGER;"
    "ALTER TABLE upgrades ADD COLUMN signed TEXT;"
    "ALTER TABLE upgrades ADD COLUMN signature TEXT;"
    "ALTER TABLE upgrades ADD COLUMN rollback INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE rollbacks ("
    "  app TEXT NOT NULL, channel TEXT NOT NULL,"
    "  release_id INTEGER NOT NULL REFERENCES releases(id),"
    "  rollout_percent INTEGER NOT NULL,"
    "  signed TEXT, signature TEXT, serial INTEGER,"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (app, channel));",
    /* 3: a version of what launches decide on (releases, artifacts,
     * rollbacks), raised by triggers in the same transaction as any
     * change, so a cached copy is checked against a reader's snapshot.
     * The counters that every finished upgrade bumps do not raise it. */
    "CREATE TABLE catalog_version (v INTEGER NOT NULL);"
    "INSERT INTO catalog_version VALUES (0);"
#define BUMP " BEGIN UPDATE catalog_version SET v = v + 1; END;"
    "CREATE TRIGGER releases_added AFTER INSERT ON releases" BUMP
    "CREATE TRIGGER releases_removed AFTER DELETE ON releases" BUMP
    "CREATE TRIGGER releases_changed AFTER UPDATE OF app, channel,"
    "  version, notes, rollout_percent, mandatory, paused, yanked, halted,"
    "  signed, signature, serial ON releases" BUMP
    "CREATE TRIGGER artifacts_added AFTER INSERT ON artifacts" BUMP
    "CREATE TRIGGER artifacts_removed AFTER DELETE ON artifacts" BUMP
    "CREATE TRIGGER artifacts_changed AFTER UPDATE ON artifacts" BUMP
    "CREATE TRIGGER rollbacks_added AFTER INSERT ON rollbacks" BUMP
    "CREATE TRIGGER rollbacks_removed AFTER DELETE ON rollbacks" BUMP
    "CREATE TRIGGER rollbacks_changed AFTER UPDATE ON rollbacks" BUMP,
#undef BUMP
    /* 4: upgrades counted by release and state, one row per release
     * (release_counts), kept by store_upgrade.c in the transaction of
     * every change of state. It replaces the index on (release_id,
     * state) that counting scanned: moving a report's entry in it was a
     * quarter of the writer's work per report, and the counts it served
     * cost a scan of every upgrade for each /metrics scrape and admin
     * release list. The columns follow enum upg_state. */
    "CREATE TABLE release_counts ("
    "  release_id INTEGER PRIMARY KEY REFERENCES releases(id),"
    "  offered INTEGER NOT NULL DEFAULT 0,"
    "  downloading INTEGER NOT NULL DEFAULT 0,"
    "  downloaded INTEGER NOT NULL DEFAULT 0,"
    "  verifying INTEGER NOT NULL DEFAULT 0,"
    "  installing INTEGER NOT NULL DEFAULT 0,"
    "  succeeded INTEGER NOT NULL DEFAULT 0,"
    "  failed INTEGER NOT NULL DEFAULT 0,"
    "  timed_out INTEGER NOT NULL DEFAULT 0);"
    "INSERT INTO release_counts SELECT r.id,"
    "  count(u.id) FILTER (WHERE u.state = 'offered'),"
    "  count(u.id) FILTER (WHERE u.state = 'downloading'),"
    "  count(u.id) FILTER (WHERE u.state = 'downloaded'),"
    "  count(u.id) FILTER (WHERE u.state = 'verifying'),"
    "  count(u.id) FILTER (WHERE u.state = 'installing'),"
    "  count(u.id) FILTER (WHERE u.state = 'succeeded'),"
    "  count(u.id) FILTER (WHERE u.state = 'failed'),"
    "  count(u.id) FILTER (WHERE u.state = 'timed_out')"
    "  FROM releases r LEFT JOIN upgrades u ON u.release_id = r.id"
    "  GROUP BY r.id;"
    "DROP INDEX upgrades_release;"
    /* The finished counts are release_counts' now (the halt window
     * reads them there): the releases' own copies go. */
    "ALTER TABLE releases DROP COLUMN n_succeeded;"
    "ALTER TABLE releases DROP COLUMN n_failed;"
    "ALTER TABLE releases DROP COLUMN n_timed_out;"
    "CREATE TRIGGER releases_counted AFTER INSERT ON releases"
    " BEGIN INSERT INTO release_counts (release_id) VALUES (new.id); END;",
};

static const struct db_sqlset *const sets[] = {
    &store_release_sql,
    &store_upgrade_sql,
    &store_outbox_sql,
};

const struct db_schema store_schema = {
    migrations,
    sizeof(migrations) / sizeof(migrations[0]),
    sets,
    sizeof(sets) / sizeof(sets[0]),
};

static const char *const state_names[UPG_STATE_COUNT] = {
    [UPG_OFFERED] = "offered",
    [UPG_DOWNLOADING] = "downloading",
    [UPG_DOWNLOADED] = "downloaded",
    [UPG_VERIFYING] = "verifying",
    [UPG_INSTALLING] = "installing",
    [UPG_SUCCEEDED] = "succeeded",
    [UPG_FAILED] = "failed",
    [UPG_TIMED_OUT] = "timed_out",
};

const char *
store_state_name(enum upg_state s)
{
	return (unsigned)s < UPG_STATE_COUNT ? state_names[s] : "unknown";
}

int
store_state_parse(const char *name, enum upg_state *out)
{
	for (int i = 0; i < UPG_STATE_COUNT; i++) {
		if (strcmp(name, state_names[i]) == 0) {
			*out = (enum upg_state)i;
			return 0;
		}
	}
	return -EINVAL;
}

bool
store_state_final(enum upg_state s)
{
	return s >= UPG_SUCCEEDED;
}
