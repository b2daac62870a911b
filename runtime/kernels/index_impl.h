/* What the scatter kernels share (index.c's scatter_elements, index_nd.c's
 * scatter_nd): the reductions and how one update combines with what is
 * there. */
#ifndef BNN_INDEX_IMPL_H
#define BNN_INDEX_IMPL_H

#include <string.h>

#include "kernel.h"

typedef enum { SC_NONE, SC_ADD, SC_MUL, SC_MAX, SC_MIN } scatter_reduction;

#define COMBINE(T, r, dst, src)                                      \
    do {                                                             \
        T a_ = (dst), b_ = (src);                                    \
        switch (r) {                                                 \
        case SC_ADD: (dst) = (T)(a_ + b_); break;                    \
        case SC_MUL: (dst) = (T)(a_ * b_); break;                    \
        case SC_MAX: (dst) = b_ > a_ ? b_ : a_; break;               \
        case SC_MIN: (dst) = b_ < a_ ? b_ : a_; break;               \
        default: (dst) = b_; break;                                  \
        }                                                            \
    } while (0)

#define COMBINE_INT(T, U, r, dst, src)                               \
    do {                                                             \
        T a_ = (dst), b_ = (src);                                    \
        switch (r) {                                                 \
        case SC_ADD: (dst) = (T)((U)a_ + (U)b_); break;              \
        case SC_MUL: (dst) = (T)((U)a_ * (U)b_); break;              \
        case SC_MAX: (dst) = b_ > a_ ? b_ : a_; break;               \
        case SC_MIN: (dst) = b_ < a_ ? b_ : a_; break;               \
        default: (dst) = b_; break;                                  \
        }                                                            \
    } while (0)

/* The reduction named by `name`, or a failure naming the node. */
static inline bnn_status bnn_scatter_reduction(const bnn_kernel_args *args, const char *name,
                                               scatter_reduction *r, bnn_diag *diag)
{
    if (strcmp(name, "none") == 0) *r = SC_NONE;
    else if (strcmp(name, "add") == 0) *r = SC_ADD;
    else if (strcmp(name, "mul") == 0) *r = SC_MUL;
    else if (strcmp(name, "max") == 0) *r = SC_MAX;
    else if (strcmp(name, "min") == 0) *r = SC_MIN;
    else
        return bnn_kernel_fail(args, diag, BNN_ERR_UNSUPPORTED, "reduction '%s' is not supported",
                               name);
    return BNN_OK;
}

#endif
