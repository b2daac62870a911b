/* Status codes and diagnostics shared by every bnnc library.
 *
 * A fallible function returns a bnn_status and, on failure, fills a bnn_diag the
 * caller owns with one line that says what went wrong and where (file, node
 * name, op, attribute).  Libraries never print and never exit: only tools/ does.
 */
#ifndef BNN_DIAG_H
#define BNN_DIAG_H

#include <stdio.h>
#include <stdlib.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum bnn_status {
    BNN_OK = 0,
    BNN_ERR_INVALID,     /* malformed input: a file, a text, an argument */
    BNN_ERR_UNSUPPORTED, /* well-formed, but an op, type or feature bnnc lacks */
    BNN_ERR_SHAPE,       /* shapes or types that do not fit together */
    BNN_ERR_IO,          /* a file could not be read or written */
    BNN_ERR_NOMEM,       /* an allocation failed or a size overflowed */
    BNN_ERR_NUMERIC,     /* a NaN or an Inf where a number was needed */
} bnn_status;

typedef struct bnn_diag {
    bnn_status status;
    char message[1024];
} bnn_diag;

/* Fills diag (which may be NULL) with a printf-style message and returns status,
 * so that a failing path reads `return bnn_fail(diag, BNN_ERR_SHAPE, "...", ...);`. */
bnn_status bnn_fail(bnn_diag *diag, bnn_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Puts "prefix: " in front of the message already in diag; used to add the
 * place (a file name, a node) as an error travels up. Returns diag->status. */
bnn_status bnn_diag_prefix(bnn_diag *diag, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

const char *bnn_status_name(bnn_status status);

/* An internal invariant. Never compiled out: a broken invariant is a bug, and
 * stopping with its place beats computing garbage. */
#define BNN_ASSERT(cond)                                                        \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "bnnc: internal error: %s:%d: %s: assertion '%s'\n", \
                    __FILE__, __LINE__, __func__, #cond);                       \
            abort();                                                            \
        }                                                                       \
    } while (0)

/* Propagates a failing status. */
#define BNN_TRY(expr)                        \
    do {                                     \
        bnn_status bnn_try_status_ = (expr); \
        if (bnn_try_status_ != BNN_OK)       \
            return bnn_try_status_;          \
    } while (0)

#ifdef __cplusplus
}
#endif

#endif
