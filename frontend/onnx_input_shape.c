/* --input-shape: a graph input's declared shape replaced before the import
 * folds any shape arithmetic, so that a model exported with a fixed batch of
 * 1 (or fixed H and W) gets symbols where the user wants them.  Where the
 * model's own arithmetic pins a dim (a constant Reshape target, say), shape
 * inference then fails at that node, and the message names it.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_impl.h"

bnn_status bnn_onnx_parse_input_shape(char *text, bnn_onnx_input_shape *out, bnn_diag *diag)
{
    memset(out, 0, sizeof *out);
    char whole[256]; /* for messages: text is cut up below */
    snprintf(whole, sizeof whole, "%s", text);
    char *eq = strrchr(text, '=');
    if (!eq || eq == text)
        return bnn_fail(diag, BNN_ERR_INVALID, "--input-shape '%s': expected NAME=DIMS, e.g. x=N,3,224,224",
                        whole);
    *eq = 0;
    out->name = text;
    char *p = eq + 1;
    if (!*p)
        return bnn_fail(diag, BNN_ERR_INVALID, "--input-shape '%s': no dims after '='", whole);
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = 0;
        if (out->rank == BNN_MAX_RANK)
            return bnn_fail(diag, BNN_ERR_INVALID, "--input-shape '%s': more than %d dims", whole,
                            BNN_MAX_RANK);
        int i = out->rank++;
        if (!*p)
            return bnn_fail(diag, BNN_ERR_INVALID, "--input-shape '%s': dim %d is empty", whole, i);
        if (isdigit((unsigned char)*p)) {
            char *end;
            errno = 0;
            long long v = strtoll(p, &end, 10);
            if (errno || *end || v < 0 || v > ((long long)1 << 40))
                return bnn_fail(diag, BNN_ERR_INVALID, "--input-shape '%s': dim %d ('%s') is not a size",
                                whole, i, p);
            out->dims[i] = v;
        } else {
            for (const char *q = p; *q; q++)
                if (!isalnum((unsigned char)*q) && *q != '_')
                    return bnn_fail(diag, BNN_ERR_INVALID,
                                    "--input-shape '%s': dim %d ('%s') is neither a size nor a symbol name",
                                    whole, i, p);
            out->symbols[i] = p;
            out->dims[i] = BNN_DIM_UNKNOWN;
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    return BNN_OK;
}

/* Whether graph input vi is an initializer's default or bound to data. */
static bool input_is_data(onnx_ctx *c, const bnn_onnx_import_options *opts, const char *name)
{
    onnx_name_entry *e = onnx_name_lookup(c, name);
    if (e && e->value_id >= 0)
        return true; /* an initializer */
    for (int b = 0; opts && b < opts->n_bindings; b++)
        if (strcmp(opts->bindings[b].name, name) == 0)
            return true;
    return false;
}

bnn_status onnx_free_fixed_batch(onnx_ctx *c, const bnn_onnx_import_options *opts)
{
    c->freed_batch = 0;
    if (c->keep_fixed_batch || (opts && opts->n_input_shapes > 0))
        return BNN_OK;
    const Onnx__GraphProto *gp = c->graph;
    int candidates = 0;
    bool named_n = false;
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        const Onnx__TypeProto *tp = vi->type;
        if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type ||
            !tp->tensor_type->shape)
            continue;
        const Onnx__TensorShapeProto *sp = tp->tensor_type->shape;
        for (size_t d = 0; d < sp->n_dim; d++)
            if (sp->dim[d]->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM &&
                strcmp(onnx_str(sp->dim[d]->dim_param), "N") == 0)
                named_n = true;
        if (sp->n_dim < 2 || input_is_data(c, opts, onnx_str(vi->name)))
            continue;
        const Onnx__TensorShapeProto__Dimension *d0 = sp->dim[0];
        if (d0->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE || d0->dim_value != 1)
            return BNN_OK; /* a batch that is not a fixed 1: nothing to free */
        candidates++;
    }
    if (candidates == 0)
        return BNN_OK;
    c->freed_batch = bnn_graph_symbol(c->g, named_n ? "batch" : "N");
    if (c->freed_batch == BNN_DIM_UNKNOWN)
        return bnn_fail(c->diag, BNN_ERR_NOMEM, "out of memory");
    c->batch_of_one = c->freed_batch;
    return BNN_OK;
}

static const bnn_onnx_input_shape *find_override(const bnn_onnx_import_options *o, const char *name)
{
    for (int i = 0; o && i < o->n_input_shapes; i++)
        if (strcmp(o->input_shapes[i].name, name) == 0)
            return &o->input_shapes[i];
    return NULL;
}

bnn_status onnx_check_input_shapes(onnx_ctx *c, const bnn_onnx_import_options *opts)
{
    const Onnx__GraphProto *gp = c->graph;
    for (int k = 0; opts && k < opts->n_input_shapes; k++) {
        const char *name = opts->input_shapes[k].name;
        bool found = false;
        for (size_t i = 0; i < gp->n_input && !found; i++)
            found = strcmp(onnx_str(gp->input[i]->name), name) == 0;
        onnx_name_entry *e = onnx_name_lookup(c, name);
        if (!found || (e && e->value_id >= 0)) {
            char list[512];
            size_t at = 0;
            list[0] = 0;
            for (size_t i = 0; i < gp->n_input && at + 8 < sizeof list; i++) {
                onnx_name_entry *ie = onnx_name_lookup(c, onnx_str(gp->input[i]->name));
                if (ie && ie->value_id >= 0)
                    continue; /* an initializer */
                int w = snprintf(list + at, sizeof list - at, "%s'%s'", at ? ", " : "",
                                 onnx_str(gp->input[i]->name));
                at = w < 0 ? at : at + (size_t)w >= sizeof list ? sizeof list - 1 : at + (size_t)w;
            }
            return bnn_fail(c->diag, BNN_ERR_INVALID, "--input-shape names '%s', which is no graph input "
                            "(the inputs are %s)", name, at ? list : "none");
        }
        for (int j = 0; j < k; j++)
            if (strcmp(opts->input_shapes[j].name, name) == 0)
                return bnn_fail(c->diag, BNN_ERR_INVALID, "--input-shape gives input '%s' twice", name);
    }
    return BNN_OK;
}

bnn_status onnx_override_input_shape(onnx_ctx *c, const bnn_onnx_import_options *opts,
                                     const char *name, bnn_shape *shape)
{
    const bnn_onnx_input_shape *o = find_override(opts, name);
    if (!o) {
        if (c->freed_batch && shape->rank >= 2 && shape->dims[0] == 1)
            shape->dims[0] = c->freed_batch;
        return BNN_OK;
    }
    if (shape->rank >= 0 && shape->rank != o->rank)
        return bnn_fail(c->diag, BNN_ERR_INVALID, "--input-shape gives input '%s' %d dims, but the model's "
                        "input has rank %d", name, o->rank, shape->rank);
    bool batch_of_one = shape->rank >= 2 && shape->dims[0] == 1 && o->symbols[0];
    shape->rank = o->rank;
    for (int i = 0; i < o->rank; i++) {
        if (!o->symbols[i]) {
            shape->dims[i] = o->dims[i];
            continue;
        }
        shape->dims[i] = bnn_graph_symbol(c->g, o->symbols[i]);
        if (shape->dims[i] == BNN_DIM_UNKNOWN)
            return bnn_fail(c->diag, BNN_ERR_NOMEM, "out of memory");
    }
    if (batch_of_one && (!c->batch_of_one || c->batch_of_one == shape->dims[0]))
        c->batch_of_one = shape->dims[0]; /* one symbol for every input's batch, else none */
    else if (shape->rank >= 1 && c->batch_of_one && bnn_dim_is_symbol(shape->dims[0]) &&
             shape->dims[0] != c->batch_of_one)
        c->batch_of_one = 0;
    return BNN_OK;
}

static bool has_symbol(const bnn_shape *s)
{
    for (int i = 0; i < s->rank; i++)
        if (bnn_dim_is_symbol(s->dims[i]))
            return true;
    return false;
}

/* After --input-shape put a symbol in: a reshape whose target is all
 * constant while its input's size depends on a symbol fixes that symbol
 * (N * 4 elements into [1, 2, 2] means N = 1), so the freed dim is not free.
 * And a freed batch must reach the outputs: an output whose shape holds
 * neither a symbol nor an unknown dim (x.flatten() of a whole batch-1 tensor
 * before the classifier: f32[3]) says the arithmetic dropped it. */
bnn_status onnx_check_pinned(onnx_ctx *c, const bnn_onnx_import_options *opts)
{
    bool overridden = opts && opts->n_input_shapes > 0;
    if (!overridden && !c->freed_batch)
        return BNN_OK;
    for (int i = 0; i < c->g->n_nodes; i++) {
        const bnn_node *n = bnn_graph_node(c->g, i);
        if (n->dead || n->op != BNN_OP_RESHAPE || n->n_inputs < 1)
            continue;
        const bnn_value *in = bnn_graph_value(c->g, n->inputs[0]);
        const bnn_value *out = bnn_graph_value(c->g, n->outputs[0]);
        if (!has_symbol(&in->shape) || out->shape.rank < 0 || !bnn_shape_is_concrete(&out->shape))
            continue;
        char a[160], b[160];
        return bnn_fail(c->diag, BNN_ERR_SHAPE,
                        "node '%s' (reshape): reshapes '%s' %s to the fixed %s, so the model's own "
                        "arithmetic pins %s", n->name, in->name,
                        bnn_type_text(c->g, in->dtype, &in->shape, a, sizeof a),
                        bnn_type_text(c->g, out->dtype, &out->shape, b, sizeof b),
                        overridden ? "the dims --input-shape made symbolic"
                                   : "the batch it was exported with");
    }
    for (int i = 0; c->freed_batch && i < c->g->n_outputs; i++) {
        const bnn_value *out = bnn_graph_value(c->g, c->g->outputs[i]);
        if (out->shape.rank < 0 || !bnn_shape_is_concrete(&out->shape))
            continue;
        char a[160];
        return bnn_fail(c->diag, BNN_ERR_SHAPE,
                        "output '%s' is %s whatever the batch: the model's arithmetic drops the "
                        "batch it was exported with", out->name,
                        bnn_type_text(c->g, out->dtype, &out->shape, a, sizeof a));
    }
    return BNN_OK;
}
