/* The graph's arena: a list of blocks freed all at once with the graph.
 * Large requests get a block of their own so that param data does not waste
 * the tail of a shared block. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "arena_impl.h"

enum { BLOCK_SIZE = 64 * 1024 };

typedef struct bnn_arena_block {
    struct bnn_arena_block *next;
    size_t size, used;
    unsigned char data[];
} bnn_arena_block;

struct bnn_arena {
    bnn_arena_block *head; /* owned, a linked list; head is the block being filled */
    size_t total;          /* bytes handed out, for reports */
};

bnn_arena *bnn_arena_create(void)
{
    return calloc(1, sizeof(bnn_arena));
}

void bnn_arena_destroy(bnn_arena *arena)
{
    if (!arena)
        return;
    for (bnn_arena_block *b = arena->head, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(arena);
}

/* calloc for the big blocks: their zero pages come from the system untouched,
 * so a large zero-filled param costs nothing until it is written. */
static bnn_arena_block *new_block(size_t size, bool zeroed)
{
    bnn_arena_block *b = zeroed ? calloc(1, sizeof(bnn_arena_block) + size)
                                : malloc(sizeof(bnn_arena_block) + size);
    if (!b)
        return NULL;
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

/* The first offset >= used in block b whose address is a multiple of align. */
static size_t aligned_offset(const bnn_arena_block *b, size_t used, size_t align)
{
    uintptr_t at = (uintptr_t)(b->data + used);
    return used + (size_t)(((at + align - 1) & ~(uintptr_t)(align - 1)) - at);
}

void *bnn_arena_alloc(bnn_arena *arena, size_t size, size_t align)
{
    BNN_ASSERT(align && (align & (align - 1)) == 0 && align <= 4096);
    if (size == 0)
        size = 1;
    if (size > SIZE_MAX / 2)
        return NULL;
    bnn_arena_block *b = arena->head;
    if (b) {
        size_t at = aligned_offset(b, b->used, align);
        if (at + size <= b->size) {
            b->used = at + size;
            arena->total += size;
            return memset(b->data + at, 0, size);
        }
    }
    if (size > BLOCK_SIZE / 4) {
        /* A big request: its own block, linked behind the current one. */
        bnn_arena_block *big = new_block(size + align, true);
        if (!big)
            return NULL;
        size_t at = aligned_offset(big, 0, align);
        big->used = big->size;
        if (b) {
            big->next = b->next;
            b->next = big;
        } else {
            arena->head = big;
        }
        arena->total += size;
        return big->data + at; /* zeroed by calloc */
    }
    bnn_arena_block *fresh = new_block(BLOCK_SIZE + align, false);
    if (!fresh)
        return NULL;
    fresh->next = b;
    arena->head = fresh;
    size_t at = aligned_offset(fresh, 0, align);
    fresh->used = at + size;
    arena->total += size;
    return memset(fresh->data + at, 0, size);
}

char *bnn_arena_strdup(bnn_arena *arena, const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = bnn_arena_alloc(arena, n, 1);
    return copy ? memcpy(copy, s, n) : NULL;
}

size_t bnn_arena_used(const bnn_arena *arena)
{
    return arena->total;
}
