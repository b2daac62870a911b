/* bnnc ops: the ONNX ops bnnc imports, with the opsets it honours, and the
 * IR ops they lower to. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_onnx.h"
#include "cli.h"

static int by_domain_and_type(const void *a, const void *b)
{
    const bnn_onnx_op_support *x = *(const bnn_onnx_op_support *const *)a;
    const bnn_onnx_op_support *y = *(const bnn_onnx_op_support *const *)b;
    int d = strcmp(x->domain, y->domain);
    return d ? d : strcmp(x->op_type, y->op_type);
}

int bnnc_cmd_ops(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: bnnc ops\n\nLists the ONNX ops the importer supports with their opset range,\n"
               "then the IR ops.\n");
        return BNNC_EXIT_OK;
    }
    if (argc > 1)
        return bnnc_usage_error("ops", "takes no arguments");
    int count = 0;
    const bnn_onnx_op_support *table = bnn_onnx_supported_ops(&count);
    /* hand-mapped ops first, then the ops.def rows: sort for reading */
    const bnn_onnx_op_support **ops = malloc(sizeof *ops * (size_t)(count ? count : 1));
    if (!ops) {
        fprintf(stderr, "bnnc: ops: out of memory\n");
        return BNNC_EXIT_ERROR;
    }
    for (int i = 0; i < count; i++)
        ops[i] = &table[i];
    qsort(ops, (size_t)count, sizeof *ops, by_domain_and_type);
    printf("ONNX ops (domain, op, opsets):\n");
    for (int i = 0; i < count; i++)
        printf("  %-8s %-20s %d-%d\n", ops[i]->domain[0] ? ops[i]->domain : "ai.onnx",
               ops[i]->op_type, ops[i]->since_opset, ops[i]->until_opset);
    free(ops);
    printf("\nIR ops:\n");
    for (int op = 0; op < BNN_OP_COUNT; op++)
        printf("  %s\n", bnn_op_get((bnn_op)op)->name);
    return BNNC_EXIT_OK;
}
