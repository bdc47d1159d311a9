/* test_queue: the pure parts of durable jobs — backoff growth and cap, jitter bounds, schedules,
 * Retry-After, per-queue policy fallback to the config, and name validation */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "events.h"
#include "queue.h"

static const struct queue_policy exp_policy = { .queue = "t", .max_attempts = 5, .base_ms = 1000,
						 .cap_ms = 60000 };

/* u = 0.5 is the unjittered value: base * 2^(attempt-1), then the cap. */
static void test_backoff_doubles_then_caps(void **state)
{
	(void)state;
	assert_int_equal(queue_backoff_ms(&exp_policy, 1, 0.5), 1000);
	assert_int_equal(queue_backoff_ms(&exp_policy, 2, 0.5), 2000);
	assert_int_equal(queue_backoff_ms(&exp_policy, 3, 0.5), 4000);
	assert_int_equal(queue_backoff_ms(&exp_policy, 6, 0.5), 32000);
	assert_int_equal(queue_backoff_ms(&exp_policy, 7, 0.5), 60000);
	assert_int_equal(queue_backoff_ms(&exp_policy, 1000, 0.5), 60000);   /* no overflow */
	assert_int_equal(queue_backoff_ms(&exp_policy, 0, 0.5), 1000);       /* clamped to attempt 1 */
}

/* Jitter stays within ±20 % for every u in [0, 1), and out-of-range u is clamped. */
static void test_jitter_bounds(void **state)
{
	(void)state;
	for (int attempt = 1; attempt <= 10; attempt++) {
		long long mid = queue_backoff_ms(&exp_policy, attempt, 0.5);

		for (double u = 0.0; u < 1.0; u += 0.01) {
			long long d = queue_backoff_ms(&exp_policy, attempt, u);

			assert_true(d >= mid * 8 / 10);
			assert_true(d <= mid * 12 / 10);
		}
	}
	assert_int_equal(queue_backoff_ms(&exp_policy, 1, 0.0), 800);
	assert_int_equal(queue_backoff_ms(&exp_policy, 1, -5.0), 800);
	assert_true(queue_backoff_ms(&exp_policy, 1, 7.0) < 1200);
	assert_true(queue_backoff_ms(&exp_policy, 1, 0.999) > 1190);
}

static void test_schedule_replaces_exponential(void **state)
{
	static const int sched[] = { 5000, 300000, 1800000 };
	struct queue_policy p = { .queue = "w", .base_ms = 1, .cap_ms = 2, .schedule_ms = sched,
				  .nschedule = NELEM(sched) };

	(void)state;
	assert_int_equal(queue_backoff_ms(&p, 1, 0.5), 5000);
	assert_int_equal(queue_backoff_ms(&p, 2, 0.5), 300000);
	assert_int_equal(queue_backoff_ms(&p, 3, 0.5), 1800000);
	assert_int_equal(queue_backoff_ms(&p, 9, 0.5), 1800000);   /* the last one repeats */
}

static void test_retry_after_wins_and_is_bounded(void **state)
{
	(void)state;
	assert_int_equal(queue_retry_delay_ms(&exp_policy, 1, 120000, 0.0), 120000);
	assert_int_equal(queue_retry_delay_ms(&exp_policy, 1, 10LL * QUEUE_RETRY_AFTER_MAX_MS, 0.0),
			 QUEUE_RETRY_AFTER_MAX_MS);
	assert_int_equal(queue_retry_delay_ms(&exp_policy, 2, 0, 0.5), 2000);
	assert_int_equal(queue_retry_delay_ms(&exp_policy, 2, -1, 0.5), 2000);
}

/* Queues without their own numbers take the config's. */
static void test_policy_falls_back_to_config(void **state)
{
	struct config cfg = { .job_max_attempts = 3, .job_backoff_base_ms = 200,
			      .job_backoff_cap_ms = 2000 };
	struct queue_policy p;

	(void)state;
	queue_init(NULL, &cfg);
	p = queue_policy("ops");
	assert_int_equal(p.max_attempts, 3);
	assert_int_equal(p.base_ms, 200);
	assert_int_equal(p.cap_ms, 2000);
	p = queue_policy("unlisted");
	assert_string_equal(p.queue, "unlisted");
	assert_int_equal(p.max_attempts, 3);
	queue_init(NULL, NULL);
}

static void test_names(void **state)
{
	char key[64];

	(void)state;
	assert_true(queue_name_valid("ops"));
	assert_true(queue_name_valid("web_hooks2"));
	assert_false(queue_name_valid(""));
	assert_false(queue_name_valid(NULL));
	assert_false(queue_name_valid("Ops"));
	assert_false(queue_name_valid("2ops"));
	assert_false(queue_name_valid("ops:x"));
	assert_false(queue_name_valid("a23456789012345678901234567890123"));   /* 33 bytes */
	queue_stream_key("ops", key, sizeof(key));
	assert_string_equal(key, "atrium:q:ops");

	assert_true(events_type_valid("submission.created"));
	assert_true(events_type_valid("ops.ping_2.x"));
	assert_false(events_type_valid("submission"));
	assert_false(events_type_valid("submission."));
	assert_false(events_type_valid(".created"));
	assert_false(events_type_valid("a..b"));
	assert_false(events_type_valid("Sub.created"));
	assert_false(events_type_valid("sub.2x"));
	assert_false(events_type_valid(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff_doubles_then_caps),
		cmocka_unit_test(test_jitter_bounds),
		cmocka_unit_test(test_schedule_replaces_exponential),
		cmocka_unit_test(test_retry_after_wins_and_is_bounded),
		cmocka_unit_test(test_policy_falls_back_to_config),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
