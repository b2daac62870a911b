/* End to end on the bundled LeNet-5 (examples/lenet5.onnx): convert every
 * layer with to-bnn, lower the sampling to standard ops (lower-bnn-to-onnx,
 * what `bnnc export --mode standard` runs), write the ONNX file, read it
 * back, and check that
 *   - the file has no Bayesian (ai.bnnc) op left, and one RandomNormalLike
 *     per weight and per bias;
 *   - a seed gives the same output and other seeds other outputs;
 *   - over many samples, the lowered model's outputs have the same
 *     distribution as the Bayesian model's: per logit, the Monte-Carlo means
 *     agree within a few standard errors and the variances agree (seeded,
 *     so the check is fixed);
 * and that random_normal_like's attributes survive export and import.
 *
 * Depends on the ONNX importer/exporter and the runtime's session API; exits
 * 77 (skipped) while examples/lenet5.onnx does not exist. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bnn_npy.h"
#include "bnn_onnx.h"
#include "bnn_passes.h"
#include "bnn_runtime.h"

#define CHECK(cond, ...)                                    \
    do {                                                    \
        if (!(cond)) {                                      \
            fprintf(stderr, __VA_ARGS__);                   \
            fputc('\n', stderr);                            \
            exit(1);                                        \
        }                                                   \
    } while (0)

#define SAMPLES 400

/* Per-element sums of the logits over `samples` forward passes of g (one
 * session: each pass is a new step, so new weights). */
static void sample_stats(const bnn_graph *g, const bnn_tensor *x, uint64_t seed, int samples,
                         double *sum, double *sum2, int64_t n)
{
    bnn_diag diag = {0};
    bnn_session_options opt = bnn_session_defaults();
    opt.threads = 1;
    opt.seed = seed;
    bnn_session *s = NULL;
    CHECK(bnn_session_create_batch(g, x->shape.dims[0], &opt, &s, &diag) == BNN_OK,
          "session: %s", diag.message);
    CHECK(bnn_session_set_input(s, NULL, x, &diag) == BNN_OK, "input: %s", diag.message);
    memset(sum, 0, sizeof(double) * (size_t)n);
    memset(sum2, 0, sizeof(double) * (size_t)n);
    for (int k = 0; k < samples; k++) {
        CHECK(bnn_session_run(s, &diag) == BNN_OK, "run: %s", diag.message);
        const bnn_tensor *y = bnn_session_output(s, 0);
        CHECK(bnn_tensor_numel(y) == n, "output size");
        const float *p = y->data;
        for (int64_t i = 0; i < n; i++) {
            CHECK(isfinite(p[i]), "sample %d: logit %lld is %g", k, (long long)i, p[i]);
            sum[i] += p[i];
            sum2[i] += (double)p[i] * p[i];
        }
    }
    bnn_session_destroy(s);
}

/* One forward pass with a fresh session (step 0) keyed by seed. */
static float *run_once(const bnn_graph *g, const bnn_tensor *x, uint64_t seed, int64_t n)
{
    double *sum = malloc(sizeof(double) * (size_t)n), *sum2 = malloc(sizeof(double) * (size_t)n);
    float *out = malloc(sizeof(float) * (size_t)n);
    CHECK(sum && sum2 && out, "out of memory");
    sample_stats(g, x, seed, 1, sum, sum2, n);
    for (int64_t i = 0; i < n; i++)
        out[i] = (float)sum[i];
    free(sum);
    free(sum2);
    return out;
}

static int count_op(const bnn_graph *g, bnn_op op)
{
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++)
        n += !g->nodes[i].dead && g->nodes[i].op == op;
    return n;
}

/* random_normal_like goes out as RandomNormalLike and comes back with its
 * attributes (runs without the LeNet-5 file). */
static void attributes_round_trip(void)
{
    const char *text =
        "graph @g(%x: f32[N,3]) -> (%y: f32[N,3], %z: f32[N,3]) {\n"
        "  %y = random_normal_like(%x) {mean=0.5, scale=2.0, seed=3.0} : f32[N,3] @r1\n"
        "  %z = random_normal_like(%x) {dtype=1} : f32[N,3] @r2\n"
        "  return %y, %z\n"
        "}\n";
    bnn_diag diag = {0};
    bnn_graph *g = NULL;
    CHECK(bnn_graph_parse(text, "rt", &g, &diag) == BNN_OK, "parse: %s", diag.message);
    char path[] = "/tmp/bnnc_rnl_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    close(fd);
    CHECK(bnn_onnx_export_file(g, path, &diag) == BNN_OK, "export: %s", diag.message);
    bnn_graph *back = NULL;
    CHECK(bnn_onnx_import_file(path, NULL, &back, &diag) == BNN_OK, "import: %s", diag.message);
    unlink(path);
    int r1 = bnn_graph_find_node(back, "r1"), r2 = bnn_graph_find_node(back, "r2");
    CHECK(r1 >= 0 && r2 >= 0, "nodes r1/r2 not read back");
    const bnn_node *a = bnn_graph_node(back, r1), *b = bnn_graph_node(back, r2);
    CHECK(a->op == BNN_OP_RANDOM_NORMAL_LIKE && b->op == BNN_OP_RANDOM_NORMAL_LIKE, "ops");
    CHECK(bnn_node_float(a, "mean", -1) == 0.5f && bnn_node_float(a, "scale", -1) == 2.0f &&
              bnn_node_float(a, "seed", -1) == 3.0f && !bnn_node_attr(a, "dtype"),
          "r1's attributes did not survive");
    CHECK(bnn_node_float(b, "mean", -1) == 0.0f && bnn_node_float(b, "scale", -1) == 1.0f &&
              bnn_node_int(b, "dtype", -1) == BNN_F32 && !bnn_node_attr(b, "seed"),
          "r2's attributes: ONNX defaults expected");
    CHECK(bnn_graph_value(back, b->outputs[0])->dtype == BNN_F32, "r2's dtype");
    bnn_graph_destroy(back);
    bnn_graph_destroy(g);
}

int main(void)
{
    attributes_round_trip();
    const char *root = getenv("BNNC_SOURCE_ROOT");
    char model[4096], digits[4096];
    snprintf(model, sizeof model, "%s/examples/lenet5.onnx", root ? root : ".");
    snprintf(digits, sizeof digits, "%s/examples/digits/batch16.npy", root ? root : ".");
    FILE *f = fopen(model, "rb");
    if (!f) {
        fprintf(stderr, "%s missing: skipped\n", model);
        return 77;
    }
    fclose(f);
    bnn_diag diag = {0};
    bnn_graph *bayes = NULL;
    CHECK(bnn_onnx_import_file(model, NULL, &bayes, &diag) == BNN_OK, "%s: %s", model,
          diag.message);
    bnn_tensor x;
    CHECK(bnn_npy_read_file(digits, &x, &diag) == BNN_OK, "%s: %s", digits, diag.message);
    /* delta=0.3: posterior sigmas large enough that the outputs spread well
     * beyond float noise, so a lowering that lost (or doubled) the noise fails. */
    CHECK(bnn_passes_run_text("canonicalize,to-bnn{layers=all delta=0.3},dce", bayes, &diag) ==
              BNN_OK, "convert: %s", diag.message);
    CHECK(count_op(bayes, BNN_OP_DENSE_REPARAM) == 3 && count_op(bayes, BNN_OP_CONV_REPARAM) == 2,
          "expected 5 Bayesian layers");

    bnn_graph *lowered = bnn_graph_clone(bayes);
    CHECK(lowered, "out of memory");
    CHECK(bnn_passes_run_text("lower-bnn-to-onnx,dce", lowered, &diag) == BNN_OK, "lower: %s",
          diag.message);
    char path[] = "/tmp/bnnc_lenet5_standard_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    close(fd);
    CHECK(bnn_onnx_export_file(lowered, path, &diag) == BNN_OK, "export: %s", diag.message);
    bnn_graph *back = NULL;
    CHECK(bnn_onnx_import_file(path, NULL, &back, &diag) == BNN_OK, "re-import: %s", diag.message);
    unlink(path);
    for (int i = 0; i < back->n_nodes; i++)
        CHECK(!bnn_op_is_bayesian(back->nodes[i].op) &&
                  strncmp(bnn_op_get(back->nodes[i].op)->name, "bnn.", 4) != 0,
              "node '%s' of the standard model is %s", back->nodes[i].name,
              bnn_op_get(back->nodes[i].op)->name);
    CHECK(count_op(back, BNN_OP_RANDOM_NORMAL_LIKE) == 10, "expected 10 random_normal_like, got %d",
          count_op(back, BNN_OP_RANDOM_NORMAL_LIKE));
    CHECK(count_op(back, BNN_OP_SOFTPLUS) == 10, "expected 10 softplus");
    CHECK(count_op(back, BNN_OP_CONV) == 2, "expected 2 conv2d");
    CHECK(count_op(back, BNN_OP_DENSE) + count_op(back, BNN_OP_GEMM) == 3, "expected 3 dense/gemm");

    int64_t n = x.shape.dims[0] * 10;
    /* a seed is reproducible; other seeds give other weights */
    float *a = run_once(back, &x, 7, n), *b = run_once(back, &x, 7, n), *c = run_once(back, &x, 8, n);
    CHECK(memcmp(a, b, sizeof(float) * (size_t)n) == 0, "seed 7 twice gave different outputs");
    CHECK(memcmp(a, c, sizeof(float) * (size_t)n) != 0, "seeds 7 and 8 gave the same outputs");
    free(a);
    free(b);
    free(c);

    double *sl = malloc(sizeof(double) * (size_t)n), *ql = malloc(sizeof(double) * (size_t)n);
    double *sb = malloc(sizeof(double) * (size_t)n), *qb = malloc(sizeof(double) * (size_t)n);
    CHECK(sl && ql && sb && qb, "out of memory");
    sample_stats(back, &x, 1, SAMPLES, sl, ql, n);
    sample_stats(bayes, &x, 2, SAMPLES, sb, qb, n);
    double max_z = 0, sum_z2 = 0, sum_vl = 0, sum_vb = 0, sum_gap = 0, sum_sd = 0;
    for (int64_t i = 0; i < n; i++) {
        double ml = sl[i] / SAMPLES, mb = sb[i] / SAMPLES;
        double vl = (ql[i] - SAMPLES * ml * ml) / (SAMPLES - 1);
        double vb = (qb[i] - SAMPLES * mb * mb) / (SAMPLES - 1);
        double se = sqrt((vl + vb) / SAMPLES);
        double z = se > 0 ? (ml - mb) / se : 0;
        max_z = fabs(z) > max_z ? fabs(z) : max_z;
        sum_z2 += z * z;
        sum_vl += vl;
        sum_vb += vb;
        sum_gap += fabs(ml - mb);
        sum_sd += sqrt(vb);
    }
    double var_ratio = sum_vl / sum_vb;
    printf("lenet5 standard: %d samples each; mean |mean gap| %.4g, mean output sd %.4g; "
           "z: max %.3g, mean z^2 %.3g; variance ratio lowered/bayesian %.4g\n",
           SAMPLES, sum_gap / (double)n, sum_sd / (double)n, max_z, sum_z2 / (double)n, var_ratio);
    CHECK(sum_sd / (double)n > 0.05, "the Bayesian outputs hardly spread (sd %g): weak test",
          sum_sd / (double)n);
    /* 160 logits (correlated): |z| < 5 everywhere and mean z^2 near 1 */
    CHECK(max_z < 5, "a logit's Monte-Carlo means differ by %.3g standard errors", max_z);
    CHECK(sum_z2 / (double)n < 2.0, "mean z^2 %.3g: the means disagree", sum_z2 / (double)n);
    /* the variances: within 25% overall (their sampling error at 400 draws
     * is about 7% each) */
    CHECK(var_ratio > 0.8 && var_ratio < 1.25, "variance ratio %.4g, expected about 1", var_ratio);

    free(sl);
    free(ql);
    free(sb);
    free(qb);
    bnn_tensor_free(&x);
    bnn_graph_destroy(back);
    bnn_graph_destroy(lowered);
    bnn_graph_destroy(bayes);
    return 0;
}
