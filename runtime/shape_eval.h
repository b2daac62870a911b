/* Shape arithmetic evaluated at session creation (runtime/shape_eval.c). */
#ifndef BNN_SHAPE_EVAL_H
#define BNN_SHAPE_EVAL_H

#include "bnn_ir.h"

/* On a session's clone of the graph whose input shapes are bound: re-infers
 * every node in order and turns each reshape/pad/constant_of_shape target
 * that the model computes into the node's attribute, evaluating the integer
 * nodes that compute it.  What cannot be evaluated is left for the planner to report. */
bnn_status bnn_shape_eval(bnn_graph *graph, bnn_diag *diag);

#endif
