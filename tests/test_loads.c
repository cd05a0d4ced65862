/* The GPU form of omq_ld_run_a2 (offload/matmul.h), run here on the host: every run of 1..8
 * words at every 2-aligned offset of a page fenced by inaccessible pages reads back the
 * run's bytes, and no word it loads leaves the page (a run that touches either end of the
 * page would fault otherwise). On GPUs the form is exercised by every product test; this
 * proves its two claims where a stray byte can be caught. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "matmul.h"

static uint8_t *page; /* readable, between two PROT_NONE pages */
static long page_size;

static int fence(void **state) {
    (void)state;
    page_size = sysconf(_SC_PAGESIZE);
    uint8_t *m = mmap(NULL, 3 * (size_t)page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANON, -1, 0);
    if (m == MAP_FAILED) return -1;
    page = m + page_size;
    for (long i = 0; i < page_size; ++i) page[i] = (uint8_t)(i * 131 + 7);
    if (mprotect(m, (size_t)page_size, PROT_NONE) || mprotect(page + page_size, (size_t)page_size, PROT_NONE))
        return -1;
    return 0;
}

static int unfence(void **state) {
    (void)state;
    return munmap(page - page_size, 3 * (size_t)page_size);
}

static void run_words(void **state) {
    (void)state;
    long runs = 0;
    for (int n = 1; n <= 8; ++n)
        for (long at = 0; at + 4 * n <= page_size; at += 2) {
            uint32_t got[8], want[8];
            omq_ld_run_a2_gpu(page + at, n, got);
            memcpy(want, page + at, 4 * (size_t)n);
            assert_memory_equal(got, want, 4 * (size_t)n);
            omq_ld_run_a2(page + at, n, got); /* the host's own form */
            assert_memory_equal(got, want, 4 * (size_t)n);
            ++runs;
        }
    assert_true(runs > 8 * (page_size / 2 - 20));
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(run_words)};
    return cmocka_run_group_tests(tests, fence, unfence);
}
