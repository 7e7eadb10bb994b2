/* SPDX-License-Identifier: MIT */
/* Tests of alert texts: email rendering, SMS length, digests, halts, and
 * the .eml spool. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "notify.h"

#define T0 1795510464000

static const struct outcome failed = {
    .kind = OUTCOME_UPGRADE,
    .outcome_id = "0123456789abcdef0123456789abcdef",
    .gateway_id = "gw-1",
    .upgrade_id = "fedcba9876543210fedcba9876543210",
    .client_id = "host-42",
    .app = "com.example.editor",
    .platform = "linux-x86_64",
    .from_version = "1.4.2",
    .to_version = "1.5.0",
    .result = "failed",
    .error_code = "sha256_mismatch",
    .message = "expected ab12\r\nSubject: injected",
    .started_at = T0 - 7000,
    .finished_at = T0,
    .download_ms = -1,
    .install_ms = -1,
};

static void
test_failure_texts(void **state)
{
	struct notify_text t;

	(void)state;
	assert_int_equal(notify_render_failure(&failed, &t), 0);
	assert_non_null(strstr(t.subject, "com.example.editor"));
	assert_non_null(strstr(t.subject, "1.4.2 -> 1.5.0"));
	assert_non_null(strstr(t.subject, "host-42"));
	assert_non_null(strstr(t.subject, "sha256_mismatch"));
	assert_null(strchr(t.subject, '\n'));
	assert_non_null(strstr(t.body, "Upgrade id:  "
				       "fedcba9876543210"));
	assert_non_null(strstr(t.body, "Client:      host-42"));
	assert_non_null(strstr(t.body, "Error code:  sha256_mismatch"));
	/* The launcher's message cannot start a header or a line. */
	assert_non_null(strstr(t.body, "expected ab12  Subject: injected"));
	assert_true(strlen(t.sms) < 160);
	assert_non_null(strstr(t.sms, "sha256_mismatch"));
	notify_text_fini(&t);
}

/* A first install (from "0.0.0" in the API) reads as one. */
static void
test_first_install_texts(void **state)
{
	struct outcome o = failed;
	struct waiting w = {.finished_at = T0,
	    .client_id = (char[]){"host-7"},
	    .from_version = (char[]){"0.0.0"},
	    .result = (char[]){"failed"},
	    .error_code = (char[]){"disk_full"},
	    .upgrade_id = (char[]){"fedcba9876543210fedcba9876543210"},
	    .message = (char[]){"no room"}};
	struct notify_text t;

	(void)state;
	o.from_version = "0.0.0";
	assert_int_equal(notify_render_failure(&o, &t), 0);
	assert_non_null(strstr(t.subject, "(first install) -> 1.5.0"));
	assert_non_null(strstr(t.body, "From:        (first install)\n"));
	assert_non_null(strstr(t.sms, "(first install, upgrade fedcba98)"));
	assert_null(strstr(t.subject, "0.0.0"));
	assert_null(strstr(t.body, "0.0.0"));
	assert_null(strstr(t.sms, "0.0.0"));
	notify_text_fini(&t);
	assert_int_equal(
	    notify_render_digest("com.example.editor", "1.5.0", &w, 1, 1, &t),
	    0);
	assert_non_null(strstr(t.body, "from (first install)"));
	assert_null(strstr(t.body, "0.0.0"));
	notify_text_fini(&t);
}

static void
test_sms_under_160(void **state)
{
	struct outcome o = failed;
	char client[129];
	struct notify_text t;

	(void)state;
	memset(client, 'c', 128);
	client[128] = '\0';
	o.client_id = client;
	assert_int_equal(notify_render_failure(&o, &t), 0);
	assert_int_equal(strlen(t.sms), NOTIFY_SMS_MAX);
	notify_text_fini(&t);
}

static void
test_email_message(void **state)
{
	struct mg_conf c = {.mail_from = (char[]){"upgate@localhost"},
	    .mail_to = (char[]){" ops@example.com ,, dev@example.com"}};
	struct notify_text t;
	struct delivery d = {
	    .id = 7, .alert_id = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
	char *msg = NULL, *body;
	size_t len = 0;

	(void)state;
	assert_int_equal(notify_render_failure(&failed, &t), 0);
	d.subject = t.subject;
	d.body = t.body;
	assert_int_equal(notify_email_message(&c, &d, T0, &msg, &len), 0);
	assert_int_equal(len, strlen(msg));
	assert_non_null(
	    strstr(msg, "Date: Tue, 24 Nov 2026 08:54:24 +0000\r\n"));
	assert_non_null(strstr(msg, "From: upgate@localhost\r\n"));
	assert_non_null(
	    strstr(msg, "To: ops@example.com, dev@example.com\r\n"));
	assert_non_null(strstr(msg, "Subject: [upgate] com.example.editor"));
	assert_non_null(strstr(msg,
	    "Message-ID: <aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.7@upgate-mgmtd>"));
	/* Headers end with one empty line; every line ends in CRLF. */
	body = strstr(msg, "\r\n\r\n");
	assert_non_null(body);
	for (char *p = msg; *p; p++)
		if (*p == '\n')
			assert_true(p > msg && p[-1] == '\r');
	assert_non_null(strstr(body, "Upgrade id:  "));
	free(msg);
	notify_text_fini(&t);
}

static void
test_digest_and_halt(void **state)
{
	char c1[] = "host-1", c2[] = "host-2", f1[] = "1.4.0", f2[] = "1.4.1";
	char e1[] = "disk_full", e2[] = "timed_out", m1[] = "no space",
	     m2[] = "";
	char u1[] = "11111111", u2[] = "22222222", r1[] = "failed";
	char r2[] = "timed_out";
	struct waiting w[2] = {
	    {c1, f1, e1, m1, u1, r1, T0},
	    {c2, f2, e2, m2, u2, r2, T0},
	};
	struct outcome halt = {.kind = OUTCOME_HALT,
	    .outcome_id = "0123456789abcdef0123456789abcdef",
	    .gateway_id = "gw-1",
	    .app = "com.example.editor",
	    .channel = "stable",
	    .to_version = "1.5.0",
	    .result = "halted",
	    .finished_at = T0,
	    .halt_finished = 20,
	    .halt_failed = 6,
	    .halt_rate = 0.3,
	    .halt_threshold = 0.25};
	struct notify_text t;

	(void)state;
	assert_int_equal(
	    notify_render_digest("com.example.editor", "1.5.0", w, 2, 9, &t),
	    0);
	assert_non_null(strstr(t.subject, "9 more failures"));
	assert_non_null(strstr(t.body, "client host-1"));
	assert_non_null(strstr(t.body, "upgrade 22222222"));
	assert_non_null(strstr(t.body, "... and 7 more."));
	assert_true(strlen(t.sms) < 160);
	notify_text_fini(&t);

	assert_int_equal(notify_render_halt(&halt, 4, 3, &t), 0);
	assert_non_null(strstr(t.subject, "HALTED com.example.editor 1.5.0"));
	assert_non_null(strstr(t.subject, "6 of 20"));
	assert_non_null(strstr(t.body, "replaces 3 failure alert deliveries"));
	assert_non_null(strstr(t.body, "\"halted\": false"));
	notify_text_fini(&t);
}

static void
test_list_items(void **state)
{
	char buf[64];

	(void)state;
	assert_true(notify_list_item(" a@x , b@y,,c@z ", 0, buf, sizeof(buf)));
	assert_string_equal(buf, "a@x");
	assert_true(notify_list_item(" a@x , b@y,,c@z ", 1, buf, sizeof(buf)));
	assert_string_equal(buf, "b@y");
	assert_true(notify_list_item(" a@x , b@y,,c@z ", 2, buf, sizeof(buf)));
	assert_string_equal(buf, "c@z");
	assert_false(notify_list_item(" a@x , b@y,,c@z ", 3, buf, sizeof(buf)));
	assert_false(notify_list_item("", 0, buf, sizeof(buf)));
	assert_false(notify_list_item(" , ", 0, buf, sizeof(buf)));
}

static void
test_spool(void **state)
{
	char dir[] = "/tmp/upgate-spool-XXXXXX", path[512], err[256] = "";
	struct mg_conf c = {.mail_from = (char[]){"upgate@localhost"},
	    .mail_to = (char[]){"ops@example.com"},
	    .smtp_host = (char[]){""}};
	struct delivery d = {.id = 3,
	    .channel = "email",
	    .alert_id = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
	    .subject = (char[]){"subject"},
	    .body = (char[]){"line one\nline two\n"},
	    .created_at = T0};
	bool permanent = false;
	struct dirent *de;
	int files = 0;
	DIR *dh;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/mail", dir);
	c.spool_dir = path;
	/* Twice: a retry rewrites the same file, never a second one. */
	for (int i = 0; i < 2; i++)
		assert_int_equal(
		    notify_send(&c, &d, T0, err, sizeof(err), &permanent), 0);
	dh = opendir(path);
	assert_non_null(dh);
	while ((de = readdir(dh)) != NULL) {
		char full[1024];
		FILE *f;
		char text[4096];
		size_t n;

		if (de->d_name[0] == '.')
			continue;
		files++;
		assert_string_equal(de->d_name,
		    "1795510464000-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-3.eml");
		snprintf(full, sizeof(full), "%s/%s", path, de->d_name);
		f = fopen(full, "r");
		assert_non_null(f);
		n = fread(text, 1, sizeof(text) - 1, f);
		text[n] = '\0';
		fclose(f);
		assert_non_null(
		    strstr(text, "\r\n\r\nline one\r\nline two\r\n"));
		unlink(full);
	}
	closedir(dh);
	assert_int_equal(files, 1);
	rmdir(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_failure_texts),
	    cmocka_unit_test(test_sms_under_160),
	    cmocka_unit_test(test_email_message),
	    cmocka_unit_test(test_digest_and_halt),
	    cmocka_unit_test(test_first_install_texts),
	    cmocka_unit_test(test_list_items),
	    cmocka_unit_test(test_spool),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
