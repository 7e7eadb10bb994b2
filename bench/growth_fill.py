# SPDX-License-Identifier: MIT
"""The growth benchmark's data: a gateway's and an mgmtd's databases
filled, with the daemons stopped, as a year of a fleet would leave them.

n upgrades of CLIENTS clients over HISTORY_DAYS, in time order, each to
the release of its app current at its time (five apps of eleven
releases, published through the API before), 3 % failed with
sha256_mismatch and 1 % timed out (alike in every app), the rest succeeded; upgrade events
for those created within EVENT_DAYS (older ones the gateway's
[storage] event_retention has pruned); n launch records over
LAUNCH_DAYS ([storage] launch_retention); the same n outcomes in
mgmtd's archive with their events, per-release statistics, and an
alert with its email and pop-up deliveries per thousand outcomes.

The rows are made by the database engine itself (a recursive CTE on
SQLite, generate_series on PostgreSQL) with the secondary indexes
dropped and rebuilt after, so 10M of each take minutes, not hours. They
are inserted in time order (ORDER BY i: a hash join would group them by
release), so ids follow time and interleave the apps, as a fleet's do."""
import os
import shutil
import sqlite3

APPS = ["com.example.bench", "com.example.editor", "com.example.mail",
        "com.example.chat", "com.example.office"]
VERSIONS = ["0.%d.0" % i for i in range(1, 10)] + ["1.0.0", "1.1.0"]
CLIENTS = 100000
DAY_MS = 86400 * 1000
HISTORY_DAYS = 365
EVENT_DAYS = 30
LAUNCH_DAYS = 90
# Bytes on disk per upgrade (with its launch record and its share of
# events) and per outcome, measured at 10M, with a margin: what
# disk_problem() expects the databases to take.
BYTES_PER_UPGRADE = {"sqlite": 700, "postgres": 1100}
BYTES_PER_OUTCOME = {"sqlite": 1000, "postgres": 1400}
# Sorting for an index rebuild and the engines' own slack.
MARGIN = 1.5


def disk_problem(n, where, postgres):
    """Why n upgrades and outcomes cannot be written under where, or
    None."""
    engine = "postgres" if postgres else "sqlite"
    need = MARGIN * n * (BYTES_PER_UPGRADE[engine] + BYTES_PER_OUTCOME[engine])
    free = shutil.disk_usage(where).free
    if need > free:
        return ("%d upgrades and outcomes need about %.1f GB on %s, which has %.1f GB free;"
                " choose smaller GROWTH_SIZES or another GROWTH_DIR"
                % (n, need / 1e9, where, free / 1e9))
    return None


def _plan(n, now_ms):
    """The numbers every statement shares."""
    return {
        "n": n, "clients": CLIENTS, "apps": len(APPS), "versions": len(VERSIONS),
        "t0": now_ms - HISTORY_DAYS * DAY_MS,
        "step": HISTORY_DAYS * DAY_MS // max(n, 1),
        "events_from": now_ms - EVENT_DAYS * DAY_MS,
        "l0": now_ms - LAUNCH_DAYS * DAY_MS,
        "lstep": LAUNCH_DAYS * DAY_MS // max(n, 1),
        "alerts": n // 1000,
        "astep": HISTORY_DAYS * DAY_MS // max(n // 1000, 1),
    }


# Upgrade i: client (i * 48271) mod CLIENTS, app i mod 5, the release of
# that app current at its time; its result by (i / 5) mod 100, so every
# app fails alike.
RESULT = ("CASE WHEN (i / 5) % 100 < 3 THEN 'failed' WHEN (i / 5) % 100 = 3 THEN 'timed_out'"
          " ELSE 'succeeded' END")
ERROR = ("CASE WHEN (i / 5) % 100 < 3 THEN 'sha256_mismatch' WHEN (i / 5) % 100 = 3 THEN 'timed_out' END")
MESSAGE = ("CASE WHEN (i / 5) % 100 < 3 THEN 'expected 9f86d081884c7d65, got 2c26b46b68ffc68f'"
           " WHEN (i / 5) % 100 = 3 THEN 'no final report within 1h' END")
REL_KEY = "(i % :apps) * :versions + (i * :versions / :n)"
CLIENT = "'bench-' || ((i * 48271) % :clients)"

# The releases, numbered by app and age (k), each with the version before
# it (a first install comes from 0.0.0), from src: a query aliased r.
REL = """CREATE TEMP TABLE rel AS SELECT
         (row_number() OVER (ORDER BY r.app, r.id) - 1) AS k, r.id, r.app, r.channel,
         r.version, coalesce(lag(r.version) OVER (PARTITION BY r.app ORDER BY r.id),
                             '0.0.0') AS from_version,
         r.platform, r.url, r.size, r.sha256, r.notes, r.mandatory FROM {src}"""
RELEASES = ("SELECT r.id, r.app, r.channel, r.version, a.platform, a.url, a.size, a.sha256,"
            " r.notes, r.mandatory FROM releases r JOIN artifacts a ON a.release_id = r.id")
SQLITE_SERIES = "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < :n - 1)"
SQLITE_HEX = "lower(hex(randomblob(16)))"

SQLITE_GATEWAY = [
    REL.format(src="(" + RELEASES + ") r"),
    SQLITE_SERIES + """
       INSERT INTO upgrades (upgrade_id, client_id, app, release_id, platform, channel,
         from_version, to_version, state, final, last_seq, progress, download_ms,
         install_ms, error_code, message, url, size, sha256, notes, mandatory,
         created_at, updated_at, finished_at, failure_told, bytes_downloaded)
       SELECT """ + SQLITE_HEX + ", " + CLIENT + """, rel.app, rel.id,
         rel.platform, rel.channel, rel.from_version, rel.version, """ + RESULT + """, 1,
         CASE WHEN (i / 5) % 100 < 3 THEN 4 WHEN (i / 5) % 100 = 3 THEN 1 ELSE 5 END, 100,
         2000 + i % 5000, 500 + (i / 5) % 1000, """ + ERROR + ", " + MESSAGE + """,
         rel.url, rel.size, rel.sha256, rel.notes, rel.mandatory,
         :t0 + i * :step, :t0 + i * :step + 60000, :t0 + i * :step + 60000,
         (i / 5) % 100 < 4, rel.size
       FROM s JOIN rel ON rel.k = """ + REL_KEY + " WHERE :n > 0 ORDER BY i",
    """CREATE TEMP TABLE ev(seq, state);
       INSERT INTO ev VALUES (1, 'downloading'), (2, 'downloaded'), (3, 'verifying'),
         (4, 'installing'), (5, 'succeeded')""",
    """INSERT INTO events (upgrade, seq, state, error_code, message, progress, download_ms,
         install_ms, at)
       SELECT u.id, ev.seq, CASE WHEN u.state = 'failed' AND ev.seq = 4 THEN 'failed'
         ELSE ev.state END,
         CASE WHEN u.state = 'failed' AND ev.seq = 4 THEN u.error_code END,
         CASE WHEN u.state = 'failed' AND ev.seq = 4 THEN u.message END,
         CASE WHEN ev.seq = 1 THEN 100 END, CASE WHEN ev.seq = 2 THEN u.download_ms END,
         CASE WHEN ev.seq = 5 THEN u.install_ms END, u.created_at + ev.seq * 10000
       FROM upgrades u JOIN ev ON ev.seq <= u.last_seq
       WHERE u.created_at >= :events_from ORDER BY u.id, ev.seq""",
    SQLITE_SERIES + """
       INSERT INTO launches (at, client_id, app, version, platform, channel, action,
         reason, upgrade_id)
       SELECT :l0 + i * :lstep, """ + CLIENT + """, rel.app, rel.version, rel.platform,
         rel.channel, 'launch', 'up_to_date', NULL
       FROM s JOIN rel ON rel.k = (i % :apps) * :versions + :versions - 1
       WHERE :n > 0 ORDER BY i""",
    """UPDATE release_counts SET succeeded = c.s, failed = c.f, timed_out = c.t
       FROM (SELECT release_id, count(*) FILTER (WHERE state = 'succeeded') AS s,
               count(*) FILTER (WHERE state = 'failed') AS f,
               count(*) FILTER (WHERE state = 'timed_out') AS t
             FROM upgrades GROUP BY release_id) c
       WHERE c.release_id = release_counts.release_id""",
]

# The outcomes' events, as the gateway forwards them.
SQLITE_TS = "strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', (%s) / 1000, 'unixepoch')"
EVENTS_JSON = ("'[{\"seq\":1,\"state\":\"downloading\",\"progress\":100,\"at\":\"' || {t1} ||"
               " '\"},{\"seq\":2,\"state\":\"downloaded\",\"download_ms\":' || (2000 + i % 5000)"
               " || ',\"at\":\"' || {t2} || '\"},{\"seq\":3,\"state\":\"verifying\",\"at\":\"'"
               " || {t3} || '\"},{\"seq\":4,\"state\":\"' || CASE WHEN (i / 5) % 100 < 3 THEN"
               " 'failed\",\"error_code\":\"sha256_mismatch' ELSE 'installing' END ||"
               " '\",\"at\":\"' || {t4} || '\"}]'")


def _outcomes_sql(ts, series, hexid):
    t = ":t0 + i * :step"
    events = EVENTS_JSON
    for k in range(1, 5):
        events = events.replace("{t%d}" % k, ts % ("%s + %d" % (t, k * 10000)))
    return (series + """
       INSERT INTO outcomes (outcome_id, kind, gateway_id, upgrade_id, client_id, app,
         platform, channel, from_version, to_version, result, error_code, message,
         started_at, finished_at, received_at, download_ms, install_ms, events,
         bytes_downloaded, artifact_size)
       SELECT """ + hexid + ", 'upgrade', 'gw-' || (i % 3 + 1), " + hexid + ", " + CLIENT + """,
         rel.app, rel.platform, rel.channel, rel.from_version, rel.version, """ + RESULT + """,
         """ + ERROR + ", " + MESSAGE + ", " + t + ", " + t + " + 60000, " + t + """ + 61000,
         2000 + i % 5000, 500 + (i / 5) % 1000, """ + events + """, rel.size, rel.size
       FROM s JOIN rel ON rel.k = """ + REL_KEY + " WHERE :n > 0 ORDER BY i")


def _alerts_sql(series, hexid):
    return [series.replace(":n", ":alerts") + """
       INSERT INTO alerts (alert_id, kind, app, version, outcome_id, failures, subject, body,
         sms, created_at)
       SELECT """ + hexid + """, 'failure', rel.app, rel.version, NULL, 1,
         'upgrade of ' || rel.app || ' to ' || rel.version || ' failed',
         'A client failed to upgrade: sha256_mismatch', 'upgate: ' || rel.app || ' failed',
         :t0 + i * :astep
       FROM s JOIN rel ON rel.k = (i % :apps) * :versions + (i * :versions / :alerts)
       WHERE :alerts > 0 ORDER BY i""",
            """INSERT INTO deliveries (alert, channel, recipient, state, attempts, next_at,
         created_at, updated_at, sent_at)
       SELECT a.id, c.channel, c.recipient, 'sent', 1, a.created_at, a.created_at,
         a.created_at + 1000, a.created_at + 1000
       FROM alerts a, (SELECT 'email' AS channel, 'ops@example.com' AS recipient
                       UNION ALL SELECT 'popup', '') c""",
            """INSERT INTO release_stats (app, version, total, succeeded, failed, timed_out,
         bytes_downloaded)
       SELECT app, to_version, count(*), count(*) FILTER (WHERE result = 'succeeded'),
         count(*) FILTER (WHERE result = 'failed'),
         count(*) FILTER (WHERE result = 'timed_out'), sum(bytes_downloaded)
       FROM outcomes WHERE kind = 'upgrade' GROUP BY app, to_version"""]


SQLITE_MGMT = [REL.format(src="rels r"), _outcomes_sql(SQLITE_TS, SQLITE_SERIES, SQLITE_HEX)
               ] + _alerts_sql(SQLITE_SERIES, SQLITE_HEX)


def _sqlite_run(path, statements, plan, pre=()):
    con = sqlite3.connect(path, isolation_level=None)
    try:
        for p in ("journal_mode = OFF", "synchronous = OFF", "cache_size = -2000000",
                  "temp_store = FILE"):
            con.execute("PRAGMA " + p)
        indexes = con.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            " AND tbl_name IN ('upgrades', 'launches', 'outcomes', 'alerts', 'deliveries')"
        ).fetchall()
        con.execute("BEGIN")
        for name, _ in indexes:
            con.execute("DROP INDEX " + name)
        for st in pre:
            con.execute(*st)
        for st in statements:
            for part in st.split(";"):
                if part.strip():
                    con.execute(part, plan)
        for _, sql in indexes:
            con.execute(sql)
        con.execute("COMMIT")
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("ANALYZE")
    finally:
        con.close()
    return sum(os.path.getsize(path + ext) for ext in ("", "-wal")
               if os.path.exists(path + ext))


def _releases(gw_db):
    con = sqlite3.connect(gw_db)
    try:
        return con.execute(RELEASES).fetchall()
    finally:
        con.close()


def _fill_sqlite(gw, mg, plan):
    rels = _releases(gw.db)
    gw_bytes = _sqlite_run(gw.db, SQLITE_GATEWAY, plan)
    pre = [("CREATE TEMP TABLE rels (id, app, channel, version, platform, url, size, sha256,"
            " notes, mandatory)",)] + [
        ("INSERT INTO rels VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", r) for r in rels]
    mg_bytes = _sqlite_run(mg.db, SQLITE_MGMT, plan, pre)
    return gw_bytes, mg_bytes


# PostgreSQL: the same rows from the same statements, in its dialect.
PG_TS = "to_char(to_timestamp((%s) / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
PG_SERIES = "WITH s(i) AS (SELECT generate_series(0, :n - 1)::bigint)"
PG_HEX = "md5(random()::text)"


def _pg_statements(which):
    if which == "gateway":
        sts = [s.replace(SQLITE_SERIES, PG_SERIES) for s in SQLITE_GATEWAY]
        sts = [s.replace(SQLITE_HEX, PG_HEX)
               .replace("(i / 5) % 100 < 4, rel.size", "((i / 5) % 100 < 4)::int, rel.size")
               .replace("CREATE TEMP TABLE ev(seq, state)",
                        "CREATE TEMP TABLE ev(seq int, state text)")
               for s in sts]
        return sts
    return [REL.format(src="rels r"), _outcomes_sql(PG_TS, PG_SERIES, PG_HEX)] + _alerts_sql(PG_SERIES, PG_HEX)


def _pg_bind(sql, plan):
    for k in sorted(plan, key=len, reverse=True):
        sql = sql.replace(":" + k, "%d::bigint" % plan[k])
    return sql


def _pg_run(d, statements, plan, pre=""):
    rows = d.pg.psql(d.pg_db, (
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
        " AND tablename IN ('upgrades', 'launches', 'outcomes', 'alerts', 'deliveries')"
        " AND indexname NOT LIKE '%_pkey' AND indexname NOT LIKE '%_key'"))
    script = ["SET synchronous_commit = off", "SET maintenance_work_mem = '1GB'",
              "SET work_mem = '256MB'", "BEGIN"]
    script += ["DROP INDEX %s" % name for name, _ in rows]
    if pre:
        script.append(pre)
    script += [_pg_bind(st, plan) for st in statements]
    script += [sql for _, sql in rows]
    script += ["COMMIT"]
    d.pg.psql(d.pg_db, ";\n".join(script))
    d.pg.psql(d.pg_db, "VACUUM ANALYZE")
    return int(d.pg.psql(d.pg_db, "SELECT pg_database_size(current_database())")[0][0])


def _fill_pg(gw, mg, plan):
    rels = gw.pg.psql(gw.pg_db, RELEASES)
    gw_bytes = _pg_run(gw, _pg_statements("gateway"), plan)
    values = ", ".join("(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)" % tuple(
        v if k in (0, 6, 9) else "'%s'" % v.replace("'", "''") for k, v in enumerate(r))
        for r in rels)
    pre = ("CREATE TEMP TABLE rels (id bigint, app text, channel text, version text,"
           " platform text, url text, size bigint, sha256 text, notes text, mandatory int);"
           " INSERT INTO rels VALUES " + values)
    mg_bytes = _pg_run(mg, _pg_statements("mgmt"), plan, pre)
    return gw_bytes, mg_bytes


def fill(gw, mg, n, now_ms):
    """Fill the stopped gw's and mg's databases with n upgrades and n
    outcomes; returns their sizes in bytes."""
    plan = _plan(n, now_ms)
    if gw.pg_db is not None:
        gw_bytes, mg_bytes = _fill_pg(gw, mg, plan)
    else:
        gw_bytes, mg_bytes = _fill_sqlite(gw, mg, plan)
    return {"upgrades": n, "outcomes": n, "gateway_bytes": gw_bytes, "mgmt_bytes": mg_bytes}
