/* test_arena: alignment, zeroing, big blocks, cleanup order, reset and fatal out-of-memory */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "arena.h"

/* Every allocation is 16-aligned and zeroed, whatever sizes came before. */
static void test_alignment_and_zero(void **state)
{
	arena_t *a = arena_new(1024);

	(void)state;
	for (size_t n = 1; n < 300; n += 7) {
		unsigned char *p = arena_alloc(a, n);

		assert_int_equal((uintptr_t)p % 16, 0);
		for (size_t i = 0; i < n; i++)
			assert_int_equal(p[i], 0);
		memset(p, 0xab, n);
	}
	arena_free(a);
}

/* Allocations spanning many blocks keep their contents (no block is reused while live). */
static void test_many_blocks_keep_data(void **state)
{
	arena_t *a = arena_new(256);
	char *ptrs[500];

	(void)state;
	for (int i = 0; i < 500; i++)
		ptrs[i] = arena_printf(a, "item-%d", i);
	for (int i = 0; i < 500; i++) {
		char want[32];

		snprintf(want, sizeof(want), "item-%d", i);
		assert_string_equal(ptrs[i], want);
	}
	arena_free(a);
}

/* A request bigger than the block size gets its own block and is fully usable. */
static void test_big_allocation(void **state)
{
	arena_t *a = arena_new(1024);
	char *small = arena_strdup(a, "before");
	unsigned char *big = arena_alloc(a, 1 << 20);
	char *after = arena_strdup(a, "after");

	(void)state;
	memset(big, 0x5a, 1 << 20);
	assert_string_equal(small, "before");
	assert_string_equal(after, "after");
	assert_true(arena_used(a) >= (1 << 20));
	arena_free(a);
}

static void test_strings(void **state)
{
	arena_t *a = arena_new(512);

	(void)state;
	assert_string_equal(arena_strndup(a, "abcdef", 3), "abc");
	assert_string_equal(arena_strndup(a, "ab", 10), "ab");
	assert_string_equal(arena_strdup(a, ""), "");
	assert_string_equal(arena_printf(a, "%s=%d", "x", 42), "x=42");
	arena_free(a);
}

static char order[16];
static size_t norder;

static void record(void *p)
{
	order[norder++] = *(const char *)p;
}

/* Cleanups run newest first, on reset and on free, exactly once. */
static void test_cleanup_order(void **state)
{
	arena_t *a = arena_new(512);

	(void)state;
	norder = 0;
	arena_cleanup_add(a, record, "1");
	arena_cleanup_add(a, record, "2");
	arena_cleanup_add(a, record, "3");
	arena_reset(a);
	assert_int_equal(norder, 3);
	assert_memory_equal(order, "321", 3);
	arena_reset(a);
	assert_int_equal(norder, 3);
	arena_cleanup_add(a, record, "4");
	arena_free(a);
	assert_int_equal(norder, 4);
	assert_int_equal(order[3], '4');
}

/* Reset forgets everything: used drops to 0 and memory is handed out again, zeroed. */
static void test_reset(void **state)
{
	arena_t *a = arena_new(512);
	unsigned char *p;

	(void)state;
	p = arena_alloc(a, 64);
	memset(p, 0xff, 64);
	(void)arena_alloc(a, 4096);
	assert_true(arena_used(a) >= 64 + 4096);
	arena_reset(a);
	assert_int_equal(arena_used(a), 0);
	p = arena_alloc(a, 64);
	for (int i = 0; i < 64; i++)
		assert_int_equal(p[i], 0);
	arena_free(a);
}

/* Out of memory is fatal: the process exits 70 (a child here, so the test survives). */
static void test_oom_is_fatal(void **state)
{
	pid_t pid;
	int st;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		arena_t *a = arena_new(512);

		close(STDERR_FILENO);
		(void)arena_alloc(a, SIZE_MAX - 8);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 70);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alignment_and_zero),
		cmocka_unit_test(test_many_blocks_keep_data),
		cmocka_unit_test(test_big_allocation),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_cleanup_order),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_oom_is_fatal),
	};

	return cmocka_run_group_tests_name("arena", tests, NULL, NULL);
}
