/* Internals of the graph arena (public allocation calls are in bnn_ir.h). */
#ifndef BNN_ARENA_IMPL_H
#define BNN_ARENA_IMPL_H

#include <stdint.h>

#include "bnn_ir.h"

bnn_arena *bnn_arena_create(void);
void bnn_arena_destroy(bnn_arena *arena);
size_t bnn_arena_used(const bnn_arena *arena);

#endif
