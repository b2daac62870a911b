/* The roofline of a training step (bench_roofline.h), as issue 14 defines
 * it: the step's matrix products at the machine's measured sgemm speed plus
 * its parameter traffic at the measured memory bandwidth.
 *
 * Products: every dense, gemm, conv and Bayesian layer does three per step:
 * forward [rows, out] = x [rows, in] w^T, the weight gradient [out, in] and
 * the input gradient [rows, in] (only where the engine plans one: not for a
 * layer whose input depends on no trainable param).  A convolution counts as
 * its im2col GEMM per group, the batch's images side by side (n = batch *
 * output pixels).  Their floating-point operations run at the machine's
 * sgemm rate, measured here and now as a bare cblas_sgemm of 512 x 512 x 512
 * (bare sgemm calls of the layers' own shapes were tried: for LeNet's
 * tall, thin convolution products OpenBLAS is several times slower than
 * bnnc's own kernels, which made a "roofline" the step beat).

 * Parameter traffic, the least a step can move if every pass over the
 * parameters is fused into one: the optimizer reads param, gradient and its
 * moments and writes param and moments (Adam: 7 floats per trainable float;
 * SGD with momentum: 5), and sampling reads mu and rho and writes the sampled
 * weight (3 floats per Bayesian weight or bias).  The KL and its gradient
 * read the same mu and rho and add into the same gradients, so a fused pass
 * moves nothing more for them.  Activations are not counted: the roofline is
 * a floor, not an estimate.  Bandwidth is a triad (a = b + s c) over three
 * 32 MiB arrays, counting 12 bytes per element.
 *
 * Every timing is the median of several runs, so on a loaded machine the
 * roofline and the step it is compared with slow down together. */
#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_roofline.h"
#include "bnn_runtime.h"

#define ROOFLINE_REPS 7
#define TRIAD_FLOATS ((size_t)8 << 20)

typedef struct product {
    int64_t m, n, k;
    int count; /* groups */
} product;

#define RATE_SIZE 512

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The layer's products as GEMMs (false for a node that is not a layer). */
static bool layer_products(const bnn_graph *g, const bnn_node *node, bool wants_dx,
                           product out[3], int *n_out)
{
    const bnn_shape *y = &g->values[node->outputs[0]].shape;
    const bnn_shape *w = &g->values[node->inputs[1]].shape;
    int64_t m, n, k, groups = 1;
    switch (node->op) {
    case BNN_OP_DENSE:
    case BNN_OP_DENSE_REPARAM:
        if (w->rank != 2 || y->rank < 1)
            return false;
        m = w->dims[0];                     /* out features */
        k = w->dims[1];                     /* in features */
        n = m ? bnn_shape_numel(y) / m : 0; /* rows */
        break;
    case BNN_OP_GEMM: {
        const bnn_shape *a = &g->values[node->inputs[0]].shape;
        if (a->rank != 2 || y->rank != 2)
            return false;
        n = y->dims[0];
        m = y->dims[1];
        k = a->dims[bnn_node_int(node, "trans_a", 0) ? 0 : 1];
        break;
    }
    case BNN_OP_CONV:
    case BNN_OP_CONV_REPARAM:
        if (w->rank < 3 || y->rank != w->rank)
            return false;
        groups = bnn_node_int(node, "group", 1);
        if (groups < 1 || w->dims[0] % groups)
            return false;
        m = w->dims[0] / groups;
        k = bnn_shape_numel(w) / w->dims[0]; /* C/group * kernel size */
        n = bnn_shape_numel(y) / w->dims[0] * groups; /* batch * output pixels */
        break;
    default:
        return false;
    }
    /* forward: [n, m] = [n, k] [k, m]; dW: [m, k] = [m, n] [n, k]; dX: [n, k] = [n, m] [m, k] */
    int c = 0;
    out[c++] = (product){n, m, k, (int)groups};
    out[c++] = (product){m, k, n, (int)groups};
    if (wants_dx)
        out[c++] = (product){n, k, m, (int)groups};
    *n_out = c;
    return true;
}

/* The machine's sgemm rate (GFLOP/s): the median of bare RATE_SIZE^3 calls. */
static double sgemm_gflops(void)
{
    size_t n = (size_t)RATE_SIZE * RATE_SIZE;
    float *a = aligned_alloc(64, n * sizeof(float)), *b = aligned_alloc(64, n * sizeof(float));
    float *c = aligned_alloc(64, n * sizeof(float));
    double rate = 0;
    if (a && b && c) {
        for (size_t i = 0; i < n; i++) {
            a[i] = (float)(i % 7) * 0.125f;
            b[i] = (float)(i % 5) * 0.25f;
        }
        double t[ROOFLINE_REPS];
        for (int r = -1; r < ROOFLINE_REPS; r++) { /* r = -1: warm-up */
            double t0 = now_ms();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, RATE_SIZE, RATE_SIZE,
                        RATE_SIZE, 1.0f, a, RATE_SIZE, b, RATE_SIZE, 0.0f, c, RATE_SIZE);
            if (r >= 0)
                t[r] = now_ms() - t0;
        }
        double ms = median(t, ROOFLINE_REPS);
        rate = ms > 0 ? 2e-9 * RATE_SIZE * RATE_SIZE * (double)RATE_SIZE / (ms * 1e-3) : 0;
    }
    free(a);
    free(b);
    free(c);
    return rate;
}

static double triad_gbs(void)
{
    float *a = aligned_alloc(64, TRIAD_FLOATS * sizeof(float));
    float *b = aligned_alloc(64, TRIAD_FLOATS * sizeof(float));
    float *c = aligned_alloc(64, TRIAD_FLOATS * sizeof(float));
    double gbs = 0;
    if (a && b && c) {
        const long n = (long)TRIAD_FLOATS;
#pragma omp parallel for schedule(static)
        for (long i = 0; i < n; i++) {
            a[i] = 0;
            b[i] = (float)(i & 1023);
            c[i] = 1.0f;
        }
        double t[ROOFLINE_REPS];
        for (int r = -1; r < ROOFLINE_REPS; r++) {
            double t0 = now_ms();
#pragma omp parallel for schedule(static)
            for (long i = 0; i < n; i++)
                a[i] = b[i] + 0.5f * c[i];
            if (r >= 0)
                t[r] = now_ms() - t0;
        }
        double ms = median(t, ROOFLINE_REPS);
        gbs = ms > 0 ? 3.0 * sizeof(float) * (double)n / (ms * 1e6) : 0;
    }
    free(a);
    free(b);
    free(c);
    return gbs;
}

bnn_status bnnc_roofline_measure(const bnn_graph *graph, int64_t batch, bool adam,
                                 bnnc_roofline *out, bnn_diag *diag)
{
    memset(out, 0, sizeof *out);
    /* a plan for backward, for the concrete shapes at this batch and for
     * which layers' inputs get a gradient (nothing is run) */
    bnn_session *s = NULL;
    bnn_session_options so = bnn_session_defaults();
    so.threads = omp_get_max_threads();
    so.backward = true;
    BNN_TRY(bnn_session_create_batch(graph, batch, &so, &s, diag));
    const bnn_graph *g = bnn_session_graph(s);
    int n_nodes = bnn_session_n_nodes(s);
    int n = 0;
    for (int p = 0; p < n_nodes; p++) {
        const bnn_node *node = &g->nodes[bnn_session_node_at(s, p).node_id];
        product products[3];
        int c = 0;
        bool wants_dx = node->inputs[0] >= 0 && bnn_session_grad(s, node->inputs[0]);
        if (!layer_products(g, node, wants_dx, products, &c))
            continue;
        for (int i = 0; i < c; i++, n++) {
            const product *q = &products[i];
            out->gemm_gflop += 2e-9 * (double)q->m * (double)q->n * (double)q->k * q->count;
        }
        if (bnn_op_is_bayesian(node->op))
            for (int k = 1; k < node->n_inputs; k += 2)
                if (node->inputs[k] >= 0)
                    out->sampled += (double)bnn_shape_numel(&g->values[node->inputs[k]].shape);
    }
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].kind == BNN_VALUE_PARAM && g->values[v].trainable &&
            g->values[v].dtype == BNN_F32)
            out->trainable += (double)bnn_shape_numel(&g->values[v].shape);
    bnn_session_destroy(s);
    out->n_products = n;
    out->sgemm_gflops = sgemm_gflops();
    out->gemm_ms = out->sgemm_gflops > 0 ? out->gemm_gflop / out->sgemm_gflops * 1e3 : 0;
    double bytes = sizeof(float) * ((adam ? 7.0 : 5.0) * out->trainable + 3.0 * out->sampled);
    out->param_mib = bytes / (1024.0 * 1024.0);
    out->bandwidth_gbs = triad_gbs();
    out->memory_ms = out->bandwidth_gbs > 0 ? bytes / (out->bandwidth_gbs * 1e6) : 0;
    out->roofline_ms = out->gemm_ms + out->memory_ms;
    return BNN_OK;
}
