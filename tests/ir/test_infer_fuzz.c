/* Random operands and attributes for every op: inference must either succeed
 * with a well-formed result that the verifier accepts, or fail with a shape
 * error naming the node; never crash, overflow or read out of bounds (run it
 * under ASan/UBSan). */
#include <criterion/criterion.h>
#include <string.h>

#include "helpers.h"
#include "infer_impl.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
    /* xorshift64*: deterministic, so a failure reproduces. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1du;
}

static int pick(int n) { return (int)(rnd() % (uint64_t)n); }

static int64_t random_dim(bnn_graph *g)
{
    static const int64_t dims[] = {1, 1, 2, 3, 4, 5, 8, 0, -1, INT64_MAX, (int64_t)1 << 62};
    if (pick(5) == 0)
        return bnn_graph_symbol(g, pick(2) ? "N" : "M");
    return dims[pick(pick(3) ? 7 : 11)];
}

static int64_t random_int(void)
{
    static const int64_t v[] = {0, 1, 1, 2, 3, -1, -2, 4, 5, 400, (int64_t)1 << 40,
                                INT64_MAX, INT64_MIN};
    return v[pick(pick(4) ? 9 : 13)];
}

static int random_operand(bnn_graph *g, int k)
{
    static const bnn_dtype types[] = {BNN_F32, BNN_F32, BNN_F32, BNN_I64, BNN_F64, BNN_I32,
                                      BNN_UNDEFINED, BNN_BOOL};
    bnn_shape s = {.rank = pick(7) - 1};
    for (int i = 0; i < s.rank; i++)
        s.dims[i] = random_dim(g);
    char name[16];
    snprintf(name, sizeof name, "in%d", k);
    int id = bnn_graph_add_value(g, name, types[pick(pick(2) ? 3 : 8)], &s);
    cr_assert_eq(bnn_graph_add_input(g, id), BNN_OK);
    return id;
}

static void random_attrs(bnn_graph *g, int node)
{
    bnn_schema_attr attrs[BNN_SCHEMA_MAX_ATTRS];
    int n = bnn_schema_parse(bnn_op_get(g->nodes[node].op)->attrs, attrs, BNN_SCHEMA_MAX_ATTRS);
    for (int i = 0; i < n; i++) {
        if (pick(2))
            continue;
        bnn_attr_kind kind = pick(20) ? attrs[i].kind : (bnn_attr_kind)pick(5);
        int64_t ints[10];
        float floats[3] = {0.5f, -1.0f, 2.0f};
        int count = pick(pick(3) ? 5 : 10);
        for (int j = 0; j < count; j++)
            ints[j] = random_int();
        switch (kind) {
        case BNN_ATTR_INT: bnn_node_set_int(g, node, attrs[i].name, random_int()); break;
        case BNN_ATTR_FLOAT: bnn_node_set_float(g, node, attrs[i].name, floats[pick(3)]); break;
        case BNN_ATTR_STRING:
            bnn_node_set_string(g, node, attrs[i].name, pick(2) ? "reflect" : "bogus");
            break;
        case BNN_ATTR_INTS: bnn_node_set_ints(g, node, attrs[i].name, ints, count); break;
        case BNN_ATTR_FLOATS: bnn_node_set_floats(g, node, attrs[i].name, floats, 3); break;
        }
    }
}

static void check_result(bnn_graph *g, int node, bnn_status st, const bnn_diag *d)
{
    char label[200];
    bnn_node_label(g, node, label, sizeof label);
    if (st != BNN_OK) {
        cr_assert_eq(st, BNN_ERR_SHAPE, "%s: status %d: %s", label, st, d->message);
        cr_assert(strstr(d->message, label), "message does not name the node: %s", d->message);
        return;
    }
    const bnn_value *out = &g->values[t_out(g, node)];
    cr_assert(out->shape.rank >= -1 && out->shape.rank <= BNN_MAX_RANK, "%s: rank %d", label,
              out->shape.rank);
    for (int i = 0; i < out->shape.rank; i++) {
        int64_t dim = out->shape.dims[i];
        cr_assert(dim >= -1 || bnn_dim_symbol_index(dim) < g->n_symbols, "%s: dim %lld", label,
                  (long long)dim);
    }
    bnn_diag vd = {0};
    cr_assert_eq(bnn_graph_verify(g, &vd), BNN_OK, "%s: verify after inference: %s", label,
                 vd.message);
}

Test(infer_fuzz, random_operands_and_attributes_for_every_op)
{
    int ok = 0, failed = 0;
    for (int iter = 0; iter < 20000; iter++) {
        bnn_op op = (bnn_op)(iter % BNN_OP_COUNT);
        const bnn_op_info *info = bnn_op_get(op);
        bnn_graph *g = bnn_graph_create("fuzz");
        int max = info->max_inputs == BNN_VARIADIC ? 4 : info->max_inputs;
        int n_in = info->min_inputs + pick(max - info->min_inputs + 1);
        int inputs[16];
        for (int k = 0; k < n_in; k++)
            inputs[k] = k >= info->min_inputs && pick(3) == 0 ? -1 : random_operand(g, k);
        /* Operands that usually fit: sometimes every input is input 0. */
        if (pick(4) == 0)
            for (int k = 1; k < n_in; k++)
                if (inputs[k] >= 0)
                    inputs[k] = inputs[0];
        int node = t_node(g, op, "n", n_in, inputs);
        random_attrs(g, node);
        bnn_diag d = {0};
        bnn_status st = bnn_graph_infer_node(g, node, &d);
        check_result(g, node, st, &d);
        ok += st == BNN_OK;
        failed += st != BNN_OK;
        bnn_graph_destroy(g);
    }
    /* Both outcomes must be common, or the generator tests nothing. */
    cr_assert_gt(ok, 2000, "only %d successes", ok);
    cr_assert_gt(failed, 2000, "only %d failures", failed);
}
