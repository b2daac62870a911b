/* Matrix products: dense, gemm, matmul, forward and backward, all through
 * nn_gemm (gemm_impl.h), which picks OpenBLAS or its own AVX-512 path.
 * dense is f32 (the hot path of every MLP); gemm and matmul also take f64,
 * which ONNX models use now and then. */
#include <string.h>

#include "gemm_impl.h"
#include "kernel.h"
#include "nn_impl.h"

static const bnn_tensor *optional_input(const bnn_kernel_args *args, int i)
{
    return args->n_inputs > i && args->inputs[i].data ? &args->inputs[i] : NULL;
}

/* ---- dense: y = x . W^T + b, W [M, K], x [..., K] ------------------------ */

typedef struct dense_geom {
    int64_t rows, m, k;
} dense_geom;

static bnn_status dense_geometry(const bnn_kernel_args *args, dense_geom *g, bnn_diag *diag)
{
    const bnn_tensor *x = &args->inputs[0], *w = &args->inputs[1];
    for (int i = 0; i < args->n_inputs; i++)
        if (args->inputs[i].data || i < 2)
            BNN_TRY(nn_check_dtype(args, &args->inputs[i], i, false, BNN_F32, BNN_UNDEFINED, diag));
    BNN_TRY(nn_check_dtype(args, &args->outputs[0], 0, true, BNN_F32, BNN_UNDEFINED, diag));
    if (w->shape.rank != 2 || x->shape.rank < 1 ||
        x->shape.dims[x->shape.rank - 1] != w->shape.dims[1])
        return nn_fail_shape(args, "x [..., K] and weight [M, K] do not fit", diag);
    g->m = w->shape.dims[0];
    g->k = w->shape.dims[1];
    g->rows = 1;
    for (int i = 0; i < x->shape.rank - 1; i++)
        g->rows *= x->shape.dims[i];
    const bnn_tensor *b = optional_input(args, 2);
    if (b && bnn_tensor_numel(b) != g->m)
        return nn_fail_shape(args, "bias must have M elements", diag);
    if (bnn_tensor_numel(&args->outputs[0]) != g->rows * g->m)
        return nn_fail_shape(args, "output does not have rows x M elements", diag);
    return BNN_OK;
}

/* A few rows against a large weight: OpenBLAS's sgemm packs all of W on
 * every call, which at batch 1 costs 4-7x a matrix-vector product (1200x1200:
 * ~500 us against ~100 us), so rows go one by one through sgemv up to the
 * measured crossover. */
#define DENSE_GEMV_MAX_ROWS 4
#define DENSE_GEMV_MIN_WEIGHTS 65536

static bnn_status dense_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    dense_geom g;
    BNN_TRY(dense_geometry(args, &g, diag));
    const bnn_tensor *b = optional_input(args, 2);
    float *y = args->outputs[0].data;
    const float *x = args->inputs[0].data, *w = args->inputs[1].data;
    if (g.rows <= DENSE_GEMV_MAX_ROWS && g.m * g.k >= DENSE_GEMV_MIN_WEIGHTS) {
        for (int64_t r = 0; r < g.rows; r++) {
            if (b) /* start at the bias row so sgemv adds the product onto it */
                memcpy(y + r * g.m, b->data, (size_t)g.m * sizeof(float));
            cblas_sgemv(CblasRowMajor, CblasNoTrans, (blasint)g.m, (blasint)g.k, 1.0f, w,
                        (blasint)g.k, x + r * g.k, 1, b ? 1.0f : 0.0f, y + r * g.m, 1);
        }
        return BNN_OK;
    }
    nn_gemm(BNN_F32, false, true, g.rows, g.m, g.k, 1.0f, x, g.k, w, g.k, 0.0f, y, g.m,
            b ? b->data : NULL, args->scratch);
    return BNN_OK;
}

static size_t dense_scratch_size(const bnn_kernel_args *args)
{
    dense_geom g = {0};
    if (dense_geometry(args, &g, NULL) != BNN_OK)
        return 0;
    /* backward's dx product too, when a training plan will run it */
    size_t forward = nn_gemm_scratch_size(BNN_F32, g.rows, g.m, g.k);
    size_t backward = args->training ? nn_gemm_scratch_size(BNN_F32, g.rows, g.k, g.m) : 0;
    return forward > backward ? forward : backward;
}

static bnn_status dense_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                 bnn_diag *diag)
{
    dense_geom g;
    BNN_TRY(dense_geometry(args, &g, diag));
    const float *gy = grads->grad_outputs[0].data;
    bnn_tensor *gi = grads->grad_inputs;
    if (gi[0].data) /* dx [rows, K] += dy [rows, M] . W [M, K]; scratch sized for it if training */
        nn_gemm(BNN_F32, false, false, g.rows, g.k, g.m, 1.0f, gy, g.m, args->inputs[1].data, g.k,
                1.0f, gi[0].data, g.k, NULL, args->training ? args->scratch : NULL);
    if (gi[1].data) /* dW [M, K] += dy^T . x */
        nn_gemm(BNN_F32, true, false, g.m, g.k, g.rows, 1.0, gy, g.m, args->inputs[0].data, g.k,
                1.0, gi[1].data, g.k, NULL, NULL);
    if (args->n_inputs > 2 && gi[2].data) {
        float *gb = gi[2].data;
        for (int64_t r = 0; r < g.rows; r++)
            for (int64_t j = 0; j < g.m; j++)
                gb[j] += gy[r * g.m + j];
    }
    return BNN_OK;
}

const bnn_kernel bnn_kernel_dense = {
    .forward = dense_forward, .backward = dense_backward, .scratch_size = dense_scratch_size};

/* ---- gemm: Y = alpha op(A) op(B) + beta C, C broadcast to [M, N] ---------- */

typedef struct gemm_geom {
    bnn_dtype dtype;
    bool trans_a, trans_b;
    double alpha, beta;
    int64_t m, n, k;
    int64_t cm, cn; /* C's broadcast shape: 1 or m, 1 or n */
} gemm_geom;

static bnn_status gemm_geometry(const bnn_kernel_args *args, gemm_geom *g, bnn_diag *diag)
{
    const bnn_tensor *a = &args->inputs[0], *b = &args->inputs[1], *c = optional_input(args, 2);
    g->dtype = a->dtype;
    BNN_TRY(nn_check_dtype(args, a, 0, false, BNN_F32, BNN_F64, diag));
    BNN_TRY(nn_check_dtype(args, b, 1, false, g->dtype, BNN_UNDEFINED, diag));
    if (c)
        BNN_TRY(nn_check_dtype(args, c, 2, false, g->dtype, BNN_UNDEFINED, diag));
    BNN_TRY(nn_check_dtype(args, &args->outputs[0], 0, true, g->dtype, BNN_UNDEFINED, diag));
    g->trans_a = bnn_node_int(args->node, "trans_a", 0) != 0;
    g->trans_b = bnn_node_int(args->node, "trans_b", 0) != 0;
    g->alpha = bnn_node_float(args->node, "alpha", 1.0f);
    g->beta = bnn_node_float(args->node, "beta", 1.0f);
    if (a->shape.rank != 2 || b->shape.rank != 2)
        return nn_fail_shape(args, "gemm operands A and B must be 2-D", diag);
    g->m = a->shape.dims[g->trans_a ? 1 : 0];
    g->k = a->shape.dims[g->trans_a ? 0 : 1];
    int64_t kb = b->shape.dims[g->trans_b ? 1 : 0];
    g->n = b->shape.dims[g->trans_b ? 0 : 1];
    if (kb != g->k)
        return nn_fail_shape(args, "gemm inner dimensions differ", diag);
    g->cm = g->cn = 1;
    if (c) {
        if (c->shape.rank > 2)
            return nn_fail_shape(args, "gemm C has rank above 2", diag);
        g->cm = c->shape.rank == 2 ? c->shape.dims[0] : 1;
        g->cn = c->shape.rank >= 1 ? c->shape.dims[c->shape.rank - 1] : 1;
        if ((g->cm != 1 && g->cm != g->m) || (g->cn != 1 && g->cn != g->n))
            return nn_fail_shape(args, "gemm C does not broadcast to [M, N]", diag);
    }
    if (bnn_tensor_numel(&args->outputs[0]) != g->m * g->n)
        return nn_fail_shape(args, "gemm output is not [M, N]", diag);
    return BNN_OK;
}

static bnn_status gemm_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    gemm_geom g;
    BNN_TRY(gemm_geometry(args, &g, diag));
    const bnn_tensor *c = optional_input(args, 2);
    void *y = args->outputs[0].data;
    double beta = 0;
    if (c && g.beta != 0) {
        for (int64_t i = 0; i < g.m; i++)
            for (int64_t j = 0; j < g.n; j++)
                nn_store(g.dtype, y, i * g.n + j,
                         nn_load(g.dtype, c->data, (g.cm == 1 ? 0 : i) * g.cn + (g.cn == 1 ? 0 : j)));
        beta = g.beta;
    }
    const void *a = args->inputs[0].data, *b = args->inputs[1].data;
    int64_t lda = g.trans_a ? g.m : g.k, ldb = g.trans_b ? g.k : g.n;
    nn_gemm(g.dtype, g.trans_a, g.trans_b, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, beta, y, g.n,
            NULL, args->scratch);
    return BNN_OK;
}

static size_t gemm_scratch_size(const bnn_kernel_args *args)
{
    gemm_geom g = {0};
    if (gemm_geometry(args, &g, NULL) != BNN_OK || g.dtype != BNN_F32)
        return 0;
    return nn_gemm_scratch_size(BNN_F32, g.m, g.n, g.k);
}

static bnn_status gemm_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                bnn_diag *diag)
{
    gemm_geom g;
    BNN_TRY(gemm_geometry(args, &g, diag));
    const void *gy = grads->grad_outputs[0].data, *a = args->inputs[0].data, *b = args->inputs[1].data;
    bnn_tensor *gi = grads->grad_inputs;
    int64_t lda = g.trans_a ? g.m : g.k, ldb = g.trans_b ? g.k : g.n;
    if (gi[0].data) {
        if (!g.trans_a) /* dA [M, K] = alpha dY op(B)^T */
            nn_gemm(g.dtype, false, !g.trans_b, g.m, g.k, g.n, g.alpha, gy, g.n, b, ldb, 1.0,
                    gi[0].data, g.k, NULL, NULL);
        else /* A stored [K, M]: dA = alpha op(B) dY^T */
            nn_gemm(g.dtype, g.trans_b, true, g.k, g.m, g.n, g.alpha, b, ldb, gy, g.n, 1.0,
                    gi[0].data, g.m, NULL, NULL);
    }
    if (gi[1].data) {
        if (!g.trans_b) /* dB [K, N] = alpha op(A)^T dY */
            nn_gemm(g.dtype, !g.trans_a, false, g.k, g.n, g.m, g.alpha, a, lda, gy, g.n, 1.0,
                    gi[1].data, g.n, NULL, NULL);
        else /* B stored [N, K]: dB = alpha dY^T op(A) */
            nn_gemm(g.dtype, true, g.trans_a, g.n, g.k, g.m, g.alpha, gy, g.n, a, lda, 1.0,
                    gi[1].data, g.k, NULL, NULL);
    }
    if (args->n_inputs > 2 && gi[2].data && args->inputs[2].data) {
        for (int64_t i = 0; i < g.m; i++)
            for (int64_t j = 0; j < g.n; j++) {
                int64_t ci = (g.cm == 1 ? 0 : i) * g.cn + (g.cn == 1 ? 0 : j);
                nn_store(g.dtype, gi[2].data, ci,
                         nn_load(g.dtype, gi[2].data, ci) + g.beta * nn_load(g.dtype, gy, i * g.n + j));
            }
    }
    return BNN_OK;
}

const bnn_kernel bnn_kernel_gemm = {
    .forward = gemm_forward, .backward = gemm_backward, .scratch_size = gemm_scratch_size};

/* ---- matmul: numpy semantics ---------------------------------------------- */

typedef struct matmul_geom {
    bnn_dtype dtype;
    int64_t m, n, k;
    int batch_rank;
    int64_t out_dims[BNN_MAX_RANK]; /* broadcast batch dims */
    int64_t a_step[BNN_MAX_RANK];   /* matrices to step in A per unit of each batch dim; 0 = broadcast */
    int64_t b_step[BNN_MAX_RANK];
    int64_t batches;
    bool b_unbatched; /* B is one matrix: A's batches fold into M for one GEMM */
} matmul_geom;

static bnn_status matmul_geometry(const bnn_kernel_args *args, matmul_geom *g, bnn_diag *diag)
{
    const bnn_tensor *a = &args->inputs[0], *b = &args->inputs[1];
    g->dtype = a->dtype;
    BNN_TRY(nn_check_dtype(args, a, 0, false, BNN_F32, BNN_F64, diag));
    BNN_TRY(nn_check_dtype(args, b, 1, false, g->dtype, BNN_UNDEFINED, diag));
    BNN_TRY(nn_check_dtype(args, &args->outputs[0], 0, true, g->dtype, BNN_UNDEFINED, diag));
    int ra = a->shape.rank, rb = b->shape.rank;
    if (ra < 1 || rb < 1)
        return nn_fail_shape(args, "matmul operands must have rank >= 1", diag);
    int a_batch = ra == 1 ? 0 : ra - 2, b_batch = rb == 1 ? 0 : rb - 2;
    g->m = ra == 1 ? 1 : a->shape.dims[ra - 2];
    g->k = a->shape.dims[ra - 1];
    int64_t kb = b->shape.dims[rb == 1 ? 0 : rb - 2];
    g->n = rb == 1 ? 1 : b->shape.dims[rb - 1];
    if (kb != g->k)
        return nn_fail_shape(args, "matmul inner dimensions differ", diag);
    int r = a_batch > b_batch ? a_batch : b_batch;
    g->batch_rank = r;
    g->b_unbatched = b_batch == 0;
    int64_t acc_a = 1, acc_b = 1;
    g->batches = 1;
    for (int i = r - 1; i >= 0; i--) {
        int64_t ad = i >= r - a_batch ? a->shape.dims[i - (r - a_batch)] : 1;
        int64_t bd = i >= r - b_batch ? b->shape.dims[i - (r - b_batch)] : 1;
        if (ad != bd && ad != 1 && bd != 1)
            return nn_fail_shape(args, "matmul batch dimensions do not broadcast", diag);
        g->out_dims[i] = ad == 1 ? bd : ad;
        g->a_step[i] = ad == 1 ? 0 : acc_a;
        g->b_step[i] = bd == 1 ? 0 : acc_b;
        acc_a *= ad;
        acc_b *= bd;
        g->batches *= g->out_dims[i];
    }
    if (bnn_tensor_numel(&args->outputs[0]) != g->batches * g->m * g->n)
        return nn_fail_shape(args, "matmul output has the wrong number of elements", diag);
    return BNN_OK;
}

/* The matrix offsets (in matrices) of batch `index` in A and B. */
static void matmul_batch(const matmul_geom *g, int64_t index, int64_t *ia, int64_t *ib)
{
    *ia = *ib = 0;
    for (int i = g->batch_rank - 1; i >= 0; i--) {
        int64_t d = index % g->out_dims[i];
        index /= g->out_dims[i];
        *ia += d * g->a_step[i];
        *ib += d * g->b_step[i];
    }
}

static bnn_status matmul_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    matmul_geom g;
    BNN_TRY(matmul_geometry(args, &g, diag));
    size_t es = bnn_dtype_size(g.dtype);
    const char *a = args->inputs[0].data, *b = args->inputs[1].data;
    char *y = args->outputs[0].data;
    if (g.b_unbatched) {
        nn_gemm(g.dtype, false, false, g.batches * g.m, g.n, g.k, 1.0, a, g.k, b, g.n, 0.0, y, g.n,
                NULL, NULL);
        return BNN_OK;
    }
    for (int64_t t = 0; t < g.batches; t++) {
        int64_t ia, ib;
        matmul_batch(&g, t, &ia, &ib);
        nn_gemm(g.dtype, false, false, g.m, g.n, g.k, 1.0, a + (size_t)(ia * g.m * g.k) * es, g.k,
                b + (size_t)(ib * g.k * g.n) * es, g.n, 0.0, y + (size_t)(t * g.m * g.n) * es, g.n,
                NULL, NULL);
    }
    return BNN_OK;
}

static bnn_status matmul_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                                  bnn_diag *diag)
{
    matmul_geom g;
    BNN_TRY(matmul_geometry(args, &g, diag));
    size_t es = bnn_dtype_size(g.dtype);
    const char *a = args->inputs[0].data, *b = args->inputs[1].data;
    const char *gy = grads->grad_outputs[0].data;
    char *ga = grads->grad_inputs[0].data, *gb = grads->grad_inputs[1].data;
    if (g.b_unbatched) {
        int64_t rows = g.batches * g.m;
        if (ga) /* dA [rows, K] += dY [rows, N] . B^T */
            nn_gemm(g.dtype, false, true, rows, g.k, g.n, 1.0, gy, g.n, b, g.n, 1.0, ga, g.k, NULL,
                    NULL);
        if (gb) /* dB [K, N] += A^T . dY */
            nn_gemm(g.dtype, true, false, g.k, g.n, rows, 1.0, a, g.k, gy, g.n, 1.0, gb, g.n, NULL,
                    NULL);
        return BNN_OK;
    }
    /* Sequential over batches: a broadcast operand sums the gradients of
     * every batch that read it. */
    for (int64_t t = 0; t < g.batches; t++) {
        int64_t ia, ib;
        matmul_batch(&g, t, &ia, &ib);
        const char *gyt = gy + (size_t)(t * g.m * g.n) * es;
        if (ga)
            nn_gemm(g.dtype, false, true, g.m, g.k, g.n, 1.0, gyt, g.n,
                    b + (size_t)(ib * g.k * g.n) * es, g.n, 1.0, ga + (size_t)(ia * g.m * g.k) * es,
                    g.k, NULL, NULL);
        if (gb)
            nn_gemm(g.dtype, true, false, g.k, g.n, g.m, 1.0, a + (size_t)(ia * g.m * g.k) * es,
                    g.k, gyt, g.n, 1.0, gb + (size_t)(ib * g.k * g.n) * es, g.n, NULL, NULL);
    }
    return BNN_OK;
}

const bnn_kernel bnn_kernel_matmul = {.forward = matmul_forward, .backward = matmul_backward};
