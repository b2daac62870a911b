/* The up-front support check: before anything is lowered, every node's op is
 * looked up in the lowering table, so that a model bnnc cannot take gets one
 * message that lists every missing op with its node count (and the first
 * node's name) and the model's opset, instead of one op per attempt.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_impl.h"

typedef struct missing_op {
    const char *domain, *op_type; /* borrowed from the model */
    const char *first;            /* the first node's name */
    int count;
    int needs;                    /* > 0: the op exists from this opset on */
} missing_op;

/* Adds the ops of gp and of its subgraphs (If branches, Loop and Scan
 * bodies) the table lacks to *miss; false: out of memory. */
static bool collect_missing(onnx_ctx *c, const Onnx__GraphProto *gp, missing_op **miss_p,
                            size_t *n_miss_p, int depth)
{
    missing_op *miss = *miss_p;
    size_t n_miss = *n_miss_p;
    bool ok = true;
    for (size_t i = 0; i < gp->n_node && ok; i++) {
        const Onnx__NodeProto *sub = gp->node[i];
        for (size_t a = 0; a < sub->n_attribute && ok && depth < ONNX_MAX_NESTING; a++) {
            const Onnx__AttributeProto *at = sub->attribute[a];
            *miss_p = miss;
            *n_miss_p = n_miss;
            if (at->g)
                ok = collect_missing(c, at->g, miss_p, n_miss_p, depth + 1);
            for (size_t k = 0; k < at->n_graphs && ok; k++)
                ok = collect_missing(c, at->graphs[k], miss_p, n_miss_p, depth + 1);
            miss = *miss_p;
            n_miss = *n_miss_p;
        }
    }
    for (size_t i = 0; i < gp->n_node && ok; i++) {
        const Onnx__NodeProto *nd = gp->node[i];
        const char *dom = onnx_str(nd->domain), *op = onnx_str(nd->op_type);
        if (strcmp(dom, "ai.onnx") == 0)
            dom = "";
        onnx_lower_fn fn;
        const bnn_onnx_op_support *e = NULL;
        if (!*dom || strcmp(dom, "ai.bnnc") == 0)
            e = onnx_op_lookup(dom, op, &fn);
        int64_t opset = *dom ? c->bnnc_opset : c->opset;
        int needs = 0;
        if (e && opset > 0 && opset < e->since_opset)
            needs = e->since_opset;
        else if (e)
            continue; /* a missing opset or one past the range is reported by the walk */
        size_t k = 0;
        while (k < n_miss && !(strcmp(miss[k].domain, dom) == 0 && strcmp(miss[k].op_type, op) == 0))
            k++;
        if (k == n_miss) {
            missing_op *grown = realloc(miss, sizeof *miss * (n_miss + 1));
            if (!grown) {
                ok = false;
                break;
            }
            miss = grown;
            miss[n_miss++] = (missing_op){ dom, op, onnx_str(nd->name), 0, needs };
        }
        miss[k].count++;
    }
    *miss_p = miss;
    *n_miss_p = n_miss;
    return ok;
}

bnn_status onnx_check_support(onnx_ctx *c)
{
    missing_op *miss = NULL;
    size_t n_miss = 0;
    if (!collect_missing(c, c->graph, &miss, &n_miss, 0)) {
        free(miss);
        return bnn_fail(c->diag, BNN_ERR_NOMEM, "out of memory");
    }
    if (n_miss == 0)
        return BNN_OK;
    char list[900];
    size_t at = 0;
    size_t shown = 0;
    for (; shown < n_miss; shown++) {
        const missing_op *m = &miss[shown];
        char item[400], why[48] = "";
        if (m->needs)
            snprintf(why, sizeof why, ", needs opset %d", m->needs);
        snprintf(item, sizeof item, "%s%s%s%s (%d node%s%s%s%s%s)", shown ? ", " : "", m->domain,
                 *m->domain ? ":" : "", m->op_type, m->count, m->count == 1 ? "" : "s",
                 *m->first ? ", first '" : "", m->first, *m->first ? "'" : "", why);
        size_t len = strlen(item);
        if (at + len + 32 >= sizeof list)
            break;
        memcpy(list + at, item, len + 1);
        at += len;
    }
    if (shown < n_miss)
        snprintf(list + at, sizeof list - at, ", and %zu more", n_miss - shown);
    size_t total = n_miss;
    free(miss);
    return bnn_fail(c->diag, BNN_ERR_UNSUPPORTED,
                    "the model (opset %lld) uses %zu op%s bnnc does not support: %s (`bnnc ops` lists the supported ones)",
                    (long long)c->opset, total, total == 1 ? "" : "s", list);
}
