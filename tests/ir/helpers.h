/* Small builders for IR unit tests: shapes from text, inputs, params, nodes. */
#ifndef BNN_TEST_IR_HELPERS_H
#define BNN_TEST_IR_HELPERS_H

#include "bnn_ir.h"

/* "N,3,?,5": known dims, '?' unknown, names become graph symbols; "" is a
 * scalar, "*" an unknown rank. */
bnn_shape t_shape(bnn_graph *g, const char *spec);
/* A graph input value. */
int t_input(bnn_graph *g, const char *name, bnn_dtype dtype, const char *spec);
/* A value with no producer that is not a graph input. */
int t_value(bnn_graph *g, const char *name, bnn_dtype dtype, const char *spec);
/* A zero-filled constant param. */
int t_param(bnn_graph *g, const char *name, bnn_dtype dtype, const char *spec);
/* A node named `name` whose one output value is also called `name`
 * (unknown type until inferred); inputs are value ids, -1 for absent. */
int t_node(bnn_graph *g, bnn_op op, const char *name, int n_inputs, const int *inputs);
#define T_NODE(g, op, name, ...) \
    t_node(g, op, name, (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)), (int[]){__VA_ARGS__})
/* The node's first output. */
int t_out(const bnn_graph *g, int node);
/* "f32[N,3]" for a value (a static buffer, overwritten by the next call). */
const char *t_type(const bnn_graph *g, int value);
void t_ints(bnn_graph *g, int node, const char *name, int count, const int64_t *v);
#define T_INTS(g, node, name, ...)                                                    \
    t_ints(g, node, name, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), \
           (int64_t[]){__VA_ARGS__})

/* Infers one node: asserts success and returns the output's type text. */
const char *t_infer(bnn_graph *g, int node);
/* Infers one node: asserts BNN_ERR_SHAPE with a message that names the node
 * and contains `part`. */
void t_infer_fails(bnn_graph *g, int node, const char *part);

#endif
