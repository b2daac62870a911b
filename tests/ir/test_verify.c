/* The verifier: a valid graph passes; each broken invariant gives its own
 * one-line error naming the node or value. */
#include <criterion/criterion.h>
#include <string.h>

#include "helpers.h"

static bnn_graph *g;
static int x, w, b, fw, conv, relu, flat, fc;

/* x[N,1,6,6] -> conv(w, b) -> relu -> flatten -> dense(fw) -> output. */
static void setup(void)
{
    g = bnn_graph_create("net");
    x = t_input(g, "x", BNN_F32, "N,1,6,6");
    w = t_param(g, "w", BNN_F32, "2,1,3,3");
    b = t_param(g, "b", BNN_F32, "2");
    fw = t_param(g, "fw", BNN_F32, "10,32");
    conv = T_NODE(g, BNN_OP_CONV, "conv", x, w, b);
    T_INTS(g, conv, "strides", 1, 1);
    relu = T_NODE(g, BNN_OP_RELU, "relu", t_out(g, conv));
    flat = T_NODE(g, BNN_OP_FLATTEN, "flat", t_out(g, relu));
    fc = T_NODE(g, BNN_OP_DENSE, "fc", t_out(g, flat), fw, -1);
    cr_assert_eq(bnn_graph_add_output(g, t_out(g, fc)), BNN_OK);
    bnn_diag d = {0};
    cr_assert_eq(bnn_graph_infer(g, &d), BNN_OK, "%s", d.message);
}
static void teardown(void) { bnn_graph_destroy(g); }
TestSuite(verify, .init = setup, .fini = teardown);

/* Asserts that verification fails with `status` and a message holding each
 * of the given parts. */
static void fails(bnn_status status, const char *part1, const char *part2)
{
    bnn_diag d = {0};
    bnn_status st = bnn_graph_verify(g, &d);
    cr_assert_eq(st, status, "expected status %d, got %d: %s", status, st, d.message);
    cr_assert(strstr(d.message, part1), "message lacks '%s': %s", part1, d.message);
    if (part2)
        cr_assert(strstr(d.message, part2), "message lacks '%s': %s", part2, d.message);
    cr_assert_null(strchr(d.message, '\n'), "one line: %s", d.message);
}

Test(verify, valid_graph_passes)
{
    bnn_diag d = {0};
    cr_assert_eq(bnn_graph_verify(g, &d), BNN_OK, "%s", d.message);
    cr_assert_str_eq(t_type(g, t_out(g, fc)), "f32[N,10]");
}

Test(verify, value_produced_twice)
{
    int out = t_out(g, relu);
    bnn_graph_add_node(g, BNN_OP_NEG, "again", &x, 1, &out, 1);
    g->values[out].producer = relu; /* as if the second node had not claimed it */
    fails(BNN_ERR_INVALID, "node 'again' (neg)", "already produced by node 'relu' (relu)");
}

Test(verify, producer_field_inconsistent)
{
    g->values[t_out(g, relu)].producer = fc;
    fails(BNN_ERR_INVALID, "value 'relu'", "does not output it");
}

Test(verify, input_used_before_it_is_produced)
{
    /* Swap relu and flatten without sorting. */
    int relu_out = t_out(g, relu), flat_out = t_out(g, flat);
    bnn_node tmp = g->nodes[relu];
    g->nodes[relu] = g->nodes[flat];
    g->nodes[flat] = tmp;
    g->values[relu_out].producer = flat;
    g->values[flat_out].producer = relu;
    fails(BNN_ERR_INVALID, "node 'flat' (flatten)", "used before it is produced by node 'relu'");
}

Test(verify, input_never_defined)
{
    int stray = t_value(g, "stray", BNN_F32, "N,32");
    g->nodes[fc].inputs[0] = stray;
    fails(BNN_ERR_INVALID, "node 'fc' (dense)", "'stray' is neither a graph input");
}

Test(verify, input_from_dead_node)
{
    g->nodes[flat].dead = true;
    fails(BNN_ERR_INVALID, "node 'fc' (dense)", "produced only by node 'flat'");
}

Test(verify, id_out_of_range)
{
    g->nodes[relu].inputs[0] = 1000;
    fails(BNN_ERR_INVALID, "node 'relu' (relu)", "refers to value 1000");
}

Test(verify, arity_against_the_op_table)
{
    g->nodes[relu].n_inputs = 0;
    fails(BNN_ERR_INVALID, "node 'relu' (relu)", "has 0 inputs, expected 1..1");
}

Test(verify, absent_input_only_where_optional)
{
    g->nodes[fc].inputs[1] = -1;
    fails(BNN_ERR_INVALID, "node 'fc' (dense)", "required input 1 is absent");
}

Test(verify, unknown_attribute)
{
    cr_assert_eq(bnn_node_set_int(g, conv, "kernel", 3), BNN_OK);
    fails(BNN_ERR_INVALID, "node 'conv' (conv)", "unknown attribute 'kernel'");
}

Test(verify, attribute_of_the_wrong_kind)
{
    cr_assert_eq(bnn_node_set_float(g, conv, "group", 1.0f), BNN_OK);
    fails(BNN_ERR_INVALID, "node 'conv' (conv)", "attribute 'group' is float, expected int");
}

Test(verify, param_data_size)
{
    g->values[fw].nbytes -= 4;
    fails(BNN_ERR_INVALID, "param 'fw'", "1276 bytes");
}

Test(verify, param_shape_must_be_concrete)
{
    g->values[b].shape.dims[0] = BNN_DIM_UNKNOWN;
    fails(BNN_ERR_INVALID, "param 'b'", "concrete shape");
}

Test(verify, graph_input_must_be_an_input_value)
{
    cr_assert_eq(bnn_graph_add_input(g, w), BNN_OK);
    fails(BNN_ERR_INVALID, "graph input 'w'", "is a param");
}

Test(verify, graph_input_listed_twice)
{
    cr_assert_eq(bnn_graph_add_input(g, x), BNN_OK);
    fails(BNN_ERR_INVALID, "graph input 'x'", "listed twice");
}

Test(verify, graph_output_must_be_defined)
{
    int v = t_value(g, "nowhere", BNN_F32, "2");
    cr_assert_eq(bnn_graph_add_output(g, v), BNN_OK);
    fails(BNN_ERR_INVALID, "graph output 'nowhere'", "not produced");
}

Test(verify, value_names_unique)
{
    g->values[b].name = g->values[w].name;
    fails(BNN_ERR_INVALID, "value 'w'", "more than once");
}

Test(verify, symbol_out_of_range)
{
    g->values[x].shape.dims[0] = bnn_dim_from_symbol(5);
    fails(BNN_ERR_INVALID, "value 'x'", "symbol 5");
}

Test(verify, rank_out_of_range)
{
    g->values[x].shape.rank = BNN_MAX_RANK + 1;
    fails(BNN_ERR_INVALID, "value 'x'", "rank 9");
}

Test(verify, output_that_is_a_graph_input)
{
    int orphan = t_out(g, relu);
    g->values[orphan].kind = BNN_VALUE_INPUT; /* now an unused value, which is fine */
    g->values[orphan].producer = -1;
    g->nodes[relu].outputs[0] = x;
    fails(BNN_ERR_INVALID, "node 'relu' (relu)", "output 'x' is a graph input");
}

Test(verify, invalid_op)
{
    g->nodes[relu].op = BNN_OP_COUNT;
    fails(BNN_ERR_INVALID, "node 1 'relu'", "invalid op");
}

Test(verify, recorded_shape_differs_from_inference)
{
    g->values[t_out(g, fc)].shape.dims[1] = 12;
    fails(BNN_ERR_SHAPE, "node 'fc' (dense)", "recorded as f32[N,12] but inference gives f32[N,10]");
    cr_assert_str_eq(t_type(g, t_out(g, fc)), "f32[N,12]", "verify leaves the graph as it was");
}

Test(verify, recorded_dtype_differs_from_inference)
{
    g->values[t_out(g, relu)].dtype = BNN_F64;
    fails(BNN_ERR_SHAPE, "node 'relu' (relu)", "recorded as f64[N,2,4,4]");
}

Test(verify, inference_failure_names_the_node)
{
    g->values[fw].shape.dims[1] = 30;
    g->values[fw].nbytes = 10 * 30 * 4;
    fails(BNN_ERR_SHAPE, "node 'fc' (dense)", "weight expects 30 features");
}

Test(verify, dead_nodes_are_ignored)
{
    int dead = T_NODE(g, BNN_OP_EXP, "dead", 999);
    g->nodes[dead].dead = true;
    bnn_diag d = {0};
    cr_assert_eq(bnn_graph_verify(g, &d), BNN_OK, "%s", d.message);
}

Test(verify, output_count_against_the_op_table)
{
    g->nodes[relu].n_outputs = 0;
    fails(BNN_ERR_INVALID, "value 'relu'", "does not output it");
    g->nodes[relu].n_outputs = 1;
    int extra = t_value(g, "extra", BNN_F32, "2");
    int outs[2] = {t_out(g, relu), extra};
    int two = bnn_graph_add_node(g, BNN_OP_NEG, "two", &x, 1, outs, 2);
    g->values[t_out(g, relu)].producer = relu;
    cr_assert_geq(two, 0);
    fails(BNN_ERR_INVALID, "node 'two' (neg)", "has 2 outputs, expected 1");
}

Test(verify, attribute_set_twice)
{
    T_INTS(g, conv, "pads", 0, 0, 0, 0);
    bnn_node *n = &g->nodes[conv];
    n->attrs[1].name = n->attrs[0].name;
    n->attrs[1].kind = n->attrs[0].kind;
    fails(BNN_ERR_INVALID, "node 'conv' (conv)", "attribute 'strides' is set twice");
}

Test(verify, param_with_a_producer_or_without_data)
{
    g->values[b].producer = conv;
    fails(BNN_ERR_INVALID, "value 'b' is a param", "records producer");
    g->values[b].producer = -1;
    g->values[b].data = NULL;
    fails(BNN_ERR_INVALID, "param 'b'", "has no data");
}

Test(verify, invalid_dtype_and_kind)
{
    g->values[x].dtype = (bnn_dtype)99;
    fails(BNN_ERR_INVALID, "value 'x'", "invalid element type 99");
    g->values[x].dtype = BNN_F32;
    g->values[x].kind = (bnn_value_kind)7;
    fails(BNN_ERR_INVALID, "value 'x'", "invalid kind 7");
}

Test(verify, graph_output_out_of_range)
{
    g->outputs[0] = g->n_values + 3;
    fails(BNN_ERR_INVALID, "graph output 0", "refers to value");
}

/* LeNet-5 as the issue describes it, with a symbolic batch: every shape on
 * the way, then the verifier. */
Test(verify, lenet5_infers_and_verifies)
{
    bnn_graph *h = bnn_graph_create("lenet5");
    int v = t_input(h, "input", BNN_F32, "N,1,28,28");
    struct {
        bnn_op op;
        const char *name, *w, *b, *type;
    } layers[] = {
        {BNN_OP_CONV, "conv1", "6,1,5,5", "6", "f32[N,6,28,28]"},
        {BNN_OP_RELU, "relu1", NULL, NULL, "f32[N,6,28,28]"},
        {BNN_OP_MAX_POOL, "pool1", NULL, NULL, "f32[N,6,14,14]"},
        {BNN_OP_CONV, "conv2", "16,6,5,5", "16", "f32[N,16,10,10]"},
        {BNN_OP_RELU, "relu2", NULL, NULL, "f32[N,16,10,10]"},
        {BNN_OP_MAX_POOL, "pool2", NULL, NULL, "f32[N,16,5,5]"},
        {BNN_OP_FLATTEN, "flatten", NULL, NULL, "f32[N,400]"},
        {BNN_OP_DENSE, "fc1", "120,400", "120", "f32[N,120]"},
        {BNN_OP_RELU, "relu3", NULL, NULL, "f32[N,120]"},
        {BNN_OP_DENSE, "fc2", "84,120", "84", "f32[N,84]"},
        {BNN_OP_RELU, "relu4", NULL, NULL, "f32[N,84]"},
        {BNN_OP_DENSE_REPARAM, "fc3", "10,84", "10", "f32[N,10]"},
    };
    for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
        int node;
        char wn[32], bn[32];
        snprintf(wn, sizeof wn, "%s.w", layers[i].name);
        snprintf(bn, sizeof bn, "%s.b", layers[i].name);
        if (layers[i].op == BNN_OP_DENSE_REPARAM) {
            char rw[32], rb[32];
            snprintf(rw, sizeof rw, "%s.w_rho", layers[i].name);
            snprintf(rb, sizeof rb, "%s.b_rho", layers[i].name);
            node = T_NODE(h, layers[i].op, layers[i].name, v, t_param(h, wn, BNN_F32, layers[i].w),
                          t_param(h, rw, BNN_F32, layers[i].w), t_param(h, bn, BNN_F32, layers[i].b),
                          t_param(h, rb, BNN_F32, layers[i].b));
            cr_assert_eq(bnn_node_set_float(h, node, "prior_sigma", 0.1f), BNN_OK);
        } else if (layers[i].w) {
            node = T_NODE(h, layers[i].op, layers[i].name, v, t_param(h, wn, BNN_F32, layers[i].w),
                          t_param(h, bn, BNN_F32, layers[i].b));
        } else {
            node = T_NODE(h, layers[i].op, layers[i].name, v);
        }
        if (strcmp(layers[i].name, "conv1") == 0)
            T_INTS(h, node, "pads", 2, 2, 2, 2);
        if (layers[i].op == BNN_OP_MAX_POOL) {
            T_INTS(h, node, "kernel_shape", 2, 2);
            T_INTS(h, node, "strides", 2, 2);
        }
        cr_assert_str_eq(t_infer(h, node), layers[i].type, "%s", layers[i].name);
        v = t_out(h, node);
    }
    cr_assert_eq(bnn_graph_add_output(h, v), BNN_OK);
    bnn_diag d = {0};
    cr_assert_eq(bnn_graph_verify(h, &d), BNN_OK, "%s", d.message);
    bnn_graph_destroy(h);
}
