/* test_history.c - the broker's per-stream history (src/ab_history.c): the
 * bytes come back exactly, the window forgets the oldest, a slot's buffer
 * grows for a larger block and is reused, clear forgets everything. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ab_history.h"
#include "check.h"

/* A block of len bytes whose content names its seq. */
static void s_fill(uint8_t *out, size_t len, uint64_t seq)
{
    for (size_t i = 0; i < len; i++)
        out[i] = (uint8_t)(seq * 31 + i);
}

static int s_same(ab_history_t *h, uint64_t seq, size_t want_len)
{
    uint8_t want[4096];
    s_fill(want, want_len, seq);
    size_t len = 0;
    const void *got = ab_history_get(h, seq, &len);
    return got && len == want_len && memcmp(got, want, len) == 0;
}

int main(void)
{
    ab_history_t *h = ab_history_new(8);
    CHECK(h && ab_history_capacity(h) == 8 && ab_history_empty(h), "a new history is empty");
    uint8_t block[4096];
    size_t len;
    CHECK(ab_history_get(h, 0, &len) == NULL, "nothing held yet");

    for (uint64_t seq = 1; seq <= 20; seq++) {
        size_t size = seq == 15 ? 3000 : 1163; /* one larger block: its slot grows */
        s_fill(block, size, seq);
        CHECK(ab_history_put(h, seq, seq * 256, 256, block, size), "put seq %llu", (unsigned long long)seq);
    }
    CHECK(ab_history_newest(h) == 20 && ab_history_oldest(h) == 13, "window 13..20: %llu..%llu",
          (unsigned long long)ab_history_oldest(h), (unsigned long long)ab_history_newest(h));
    for (uint64_t seq = 13; seq <= 20; seq++)
        CHECK(s_same(h, seq, seq == 15 ? 3000 : 1163), "seq %llu comes back exactly", (unsigned long long)seq);
    CHECK(ab_history_get(h, 12, &len) == NULL, "seq 12 was overwritten");
    CHECK(ab_history_get(h, 21, &len) == NULL, "seq 21 was never stored");

    /* The slot of 15 (now 23) holds a smaller block after the larger one. */
    s_fill(block, 100, 23);
    CHECK(ab_history_put(h, 23, 23 * 256, 256, block, 100), "put seq 23");
    CHECK(s_same(h, 23, 100), "a smaller block in a grown slot comes back at its own size");
    CHECK(ab_history_seq_after_frame(h, 19 * 256 + 10) == 19, "the block holding frame 19*256+10: %llu",
          (unsigned long long)ab_history_seq_after_frame(h, 19 * 256 + 10));

    s_fill(block, 1163, 5);
    CHECK(!ab_history_put(h, 5, 5 * 256, 256, block, 1163), "a block older than the window is refused");

    ab_history_clear(h);
    CHECK(ab_history_empty(h) && ab_history_get(h, 23, &len) == NULL, "clear forgets every block");
    s_fill(block, 1163, 100);
    CHECK(ab_history_put(h, 100, 0, 256, block, 1163) && s_same(h, 100, 1163), "a cleared history stores again");
    ab_history_destroy(&h);
    CHECK(h == NULL, "destroy clears the pointer");
    return s_failures ? 1 : 0;
}
