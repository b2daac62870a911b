/* The one GEMM of the kernels (gemm_impl.h): nn_gemm and its three paths.
 *
 * GEMM_PATH_BLAS is one OpenBLAS call.  GEMM_PATH_TILES keeps OpenBLAS's
 * threads asleep on medium products (a LeNet dense layer at batch 64) and
 * inside the kernels' own parallel loops: C is cut into tiles of at most
 * NN_SERIAL_MNK multiply-adds, each one serial sgemm, run on OpenMP's
 * threads.  Waking OpenBLAS's threads for a 3-MFLOP product costs more than
 * it gives, and they then spin in sched_yield, taking the cores from the
 * OpenMP loops of the next kernels (over half of LeNet's batch-64 time); in a
 * parallel loop they would oversubscribe the cores.
 *
 * GEMM_PATH_AVX512: a dense layer at batch 64 multiplies few rows (the
 * activations) by a large weight.  OpenBLAS packs the whole weight into panels
 * on every call, which costs a read and a write of the largest operand for 64
 * uses of each element.  This path vectorises along M instead: op(A), the
 * small operand, is packed transposed into scratch as [k][rows padded to 16],
 * and each step of k broadcasts one element of NC columns of op(B) straight
 * from the caller's matrix, so the weight is read in place and never packed
 * (nor cached: the plan's weights may change between runs).  The micro-kernel
 * holds MV x NC accumulators (MV vectors of 16 rows, MV * NC = 24) in
 * registers over the whole of k, then transposes them in registers into C's
 * rows, adding alpha, the bias and beta C.
 *
 * Threads split the rows, or for few rows the columns (gemm_thread).  Each
 * element of C is one chain of multiply-adds in the order of k, whichever
 * tile and thread compute it, so the result does not depend on the thread
 * count.  AVX-512 is chosen at run time, so the build needs no -march flag.
 */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "gemm_impl.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define GEMM_HAVE_AVX512 1
#else
#define GEMM_HAVE_AVX512 0
#endif

/* Rows per block of the packed op(A): four vectors of 16. */
#define GEMM_BLOCK 64
/* The rows the path takes.  Fewer go to sgemv (dense) or OpenBLAS.  Up to
 * the upper bound it was measured faster than OpenBLAS here (256 x 1200 x
 * 1200 on 2 cores: 3.25 ms against 3.6 ms); larger batches, not measured,
 * keep OpenBLAS, whose packed panels read the weight once where this path
 * streams it once per block of 64 rows and thread. */
#define GEMM_MIN_ROWS 5
#define GEMM_MAX_ROWS 256
/* Products of at most this many multiply-adds keep OpenBLAS: packing and
 * the tiles' set-up cost as much as they save (64 x 10 x 84: 1.7 us here,
 * 1.5 us in OpenBLAS; 64 x 64 x 64: 3.9 us against 6.2 us). */
#define GEMM_MIN_WORK ((int64_t)1 << 17)
/* Packed copies of op(A) in scratch for up to 64 rows split by columns: one
 * per thread up to this many (see gemm_thread); one copy for more rows. */
#define GEMM_COPIES 4
/* Below this many multiply-adds one thread does the product. */
#define GEMM_THREAD_MIN_WORK ((int64_t)1 << 18)

static bool gemm_own_path(int64_t m, int64_t n, int64_t k)
{
    return GEMM_HAVE_AVX512 && m >= GEMM_MIN_ROWS && m <= GEMM_MAX_ROWS && n >= 1 && k >= 1 &&
           m * n * k > GEMM_MIN_WORK;
}

/* Floats of one packed copy of op(A); a multiple of 16, so copies stay
 * 64-byte aligned. */
static int64_t gemm_copy_floats(int64_t m, int64_t k)
{
    return (m + 15) / 16 * 16 * k;
}

static int gemm_copies(int64_t m)
{
    return m <= GEMM_BLOCK ? GEMM_COPIES : 1;
}

size_t nn_gemm_scratch_size(bnn_dtype dtype, int64_t m, int64_t n, int64_t k)
{
    if (dtype != BNN_F32 || !gemm_own_path(m, n, k))
        return 0;
    return (size_t)gemm_copies(m) * (size_t)gemm_copy_floats(m, k) * sizeof(float);
}

#if GEMM_HAVE_AVX512
/* Columns per tile for a block of mv vectors: 24 accumulators in all. */
static int tile_cols(int mv)
{
    return mv == 1 ? 16 : 24 / mv;
}

/* Where a tile's results go: rows x cols of C from c (the rest of the tile
 * is padding), as alpha * product + bias, plus beta C unless beta is 0. */
typedef struct tile_out {
    float *c;
    int64_t ldc;
    int rows, cols;
    float alpha, beta;
    const float *bias; /* the tile's first column's, or NULL */
} tile_out;

/* Stores columns c0 .. c0 + 7 of the tile's rows row0 .. row0 + 15, held as
 * a[q] = column c0 + q: transposed in registers (pairs of columns unpacked,
 * then 4 x 4 squares gathered within 128-bit lanes, then each row's two
 * halves joined), then one masked store per row. */
__attribute__((target("avx512f"), always_inline)) static inline void
store_rows(const tile_out *o, int row0, int c0, const __m512 *a)
{
    int valid = o->cols - c0 < 8 ? o->cols - c0 : 8, rows = o->rows - row0;
    if (valid <= 0 || rows <= 0)
        return;
    __mmask16 mask = (__mmask16)((1u << valid) - 1);
    __m512 t[8], u[8];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm512_unpacklo_ps(a[2 * i], a[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(a[2 * i], a[2 * i + 1]);
    }
    /* lane L of u[j]: row 4 L + j, columns 0-3; of u[4 + j]: columns 4-7 */
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
        u[4 * h] = _mm512_shuffle_ps(t[4 * h], t[4 * h + 2], 0x44);
        u[4 * h + 1] = _mm512_shuffle_ps(t[4 * h], t[4 * h + 2], 0xee);
        u[4 * h + 2] = _mm512_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0x44);
        u[4 * h + 3] = _mm512_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0xee);
    }
    __m512 beta = _mm512_set1_ps(o->beta);
#pragma GCC unroll 16
    for (int r = 0; r < 16; r++) {
        if (r >= rows)
            break;
        int l = 4 * (r / 4);
        __m512i idx = _mm512_setr_epi32(l, l + 1, l + 2, l + 3, 16 + l, 17 + l, 18 + l, 19 + l,
                                        0, 0, 0, 0, 0, 0, 0, 0);
        __m512 v = _mm512_permutex2var_ps(u[r % 4], idx, u[4 + r % 4]);
        float *cr = o->c + (row0 + r) * o->ldc + c0;
        if (o->beta != 0)
            v = _mm512_fmadd_ps(beta, _mm512_maskz_loadu_ps(mask, cr), v);
        _mm512_mask_storeu_ps(cr, mask, v);
    }
}

/* One tile: the product of the packed rows xt ([p][16 mv]) and nc columns of
 * op(B), column c starting at bp[c] and stepping by sk along p, stored
 * through o.  mv, nc and sk == 1 are constants after inlining, so the
 * accumulators stay in registers. */
__attribute__((target("avx512f"), always_inline)) static inline void
tile_kernel(int mv, int nc, bool unit_sk, const float *xt, int64_t k, const float *const *bp,
            int64_t sk, const tile_out *o)
{
    __m512 acc[4][24];
    int64_t xs = 16 * mv;
#pragma GCC unroll 24
    for (int c = 0; c < nc; c++)
#pragma GCC unroll 4
        for (int v = 0; v < mv; v++)
            acc[v][c] = _mm512_setzero_ps();
    const float *col[24];
#pragma GCC unroll 24
    for (int c = 0; c < nc; c++)
        col[c] = bp[c];
    for (int64_t p = 0; p < k; p++) {
        __m512 x[4];
#pragma GCC unroll 4
        for (int v = 0; v < mv; v++)
            x[v] = _mm512_load_ps(xt + p * xs + 16 * v);
#pragma GCC unroll 24
        for (int c = 0; c < nc; c++) {
            __m512 w = _mm512_set1_ps(unit_sk ? col[c][p] : col[c][p * sk]);
#pragma GCC unroll 4
            for (int v = 0; v < mv; v++)
                acc[v][c] = _mm512_fmadd_ps(x[v], w, acc[v][c]);
        }
    }
    __m512 alpha = _mm512_set1_ps(o->alpha);
#pragma GCC unroll 24
    for (int c = 0; c < nc; c++) {
        __m512 bias = o->bias ? _mm512_set1_ps(o->bias[c < o->cols ? c : o->cols - 1])
                              : _mm512_setzero_ps();
#pragma GCC unroll 4
        for (int v = 0; v < mv; v++)
            acc[v][c] = _mm512_fmadd_ps(acc[v][c], alpha, bias);
    }
#pragma GCC unroll 4
    for (int v = 0; v < mv; v++)
#pragma GCC unroll 2
        for (int c0 = 0; c0 < nc; c0 += 8) {
            __m512 a[8];
#pragma GCC unroll 8
            for (int q = 0; q < 8; q++)
                a[q] = c0 + q < nc ? acc[v][c0 + q] : _mm512_setzero_ps();
            store_rows(o, 16 * v, c0, a);
        }
}

__attribute__((target("avx512f"))) static void tile_dispatch(int mv, bool unit_sk, const float *xt,
                                                             int64_t k, const float *const *bp,
                                                             int64_t sk, const tile_out *o)
{
    switch (mv * 2 + unit_sk) {
    case 2: tile_kernel(1, 16, false, xt, k, bp, sk, o); break;
    case 3: tile_kernel(1, 16, true, xt, k, bp, sk, o); break;
    case 4: tile_kernel(2, 12, false, xt, k, bp, sk, o); break;
    case 5: tile_kernel(2, 12, true, xt, k, bp, sk, o); break;
    case 6: tile_kernel(3, 8, false, xt, k, bp, sk, o); break;
    case 7: tile_kernel(3, 8, true, xt, k, bp, sk, o); break;
    case 8: tile_kernel(4, 6, false, xt, k, bp, sk, o); break;
    default: tile_kernel(4, 6, true, xt, k, bp, sk, o); break;
    }
}

typedef struct gemm_job {
    bool trans_a, trans_b;
    int64_t m, n, k;
    float alpha, beta;
    const float *a, *b;
    int64_t lda, ldb, ldc;
    float *c;
    const float *bias;
    float *xt; /* rows [r0, r0 + rows), r0 a multiple of 16: at xt + r0 * k,
                * [k][rows padded to 16] */
} gemm_job;

/* Transposes the 16 x 16 floats in r: unpack pairs of rows, then gather
 * columns within 128-bit lanes, then move the lanes into place. */
__attribute__((target("avx512f"), always_inline)) static inline void transpose16(__m512 r[16])
{
    __m512 t[16];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    /* lane L of r[4 g + j]: rows 4 g .. 4 g + 3 of column 4 L + j */
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++) {
        r[4 * g] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
        r[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xee);
        r[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
        r[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xee);
    }
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        __m512 s0 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x88);
        __m512 s1 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xdd);
        __m512 s2 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x88);
        __m512 s3 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xdd);
        t[j] = _mm512_shuffle_f32x4(s0, s2, 0x88);
        t[4 + j] = _mm512_shuffle_f32x4(s1, s3, 0x88);
        t[8 + j] = _mm512_shuffle_f32x4(s0, s2, 0xdd);
        t[12 + j] = _mm512_shuffle_f32x4(s1, s3, 0xdd);
    }
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++)
        r[i] = t[i];
}

/* Packs rows [r0, r0 + rows) of op(A) as [p][width]: 16 x 16 squares of A
 * transposed in registers, rows past `rows` zero. */
__attribute__((target("avx512f"))) static void pack_block(const gemm_job *j, int64_t r0,
                                                          int64_t rows)
{
    int64_t k = j->k;
    int64_t width = (rows + 15) / 16 * 16;
    float *dst = j->xt + r0 * j->k;
    if (j->trans_a) { /* A is [k, m]: rows of op(A) are contiguous along p */
        for (int64_t p = 0; p < k; p++) {
            memcpy(dst + p * width, j->a + p * j->lda + r0, (size_t)rows * sizeof(float));
            memset(dst + p * width + rows, 0, (size_t)(width - rows) * sizeof(float));
        }
        return;
    }
    for (int64_t i0 = 0; i0 < rows; i0 += 16) {
        int64_t valid = rows - i0 < 16 ? rows - i0 : 16;
        for (int64_t p = 0; p < k; p += 16) {
            int64_t q = k - p < 16 ? k - p : 16;
            __mmask16 mask = (__mmask16)((1u << q) - 1);
            __m512 r[16];
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++)
                r[i] = i < valid ? _mm512_maskz_loadu_ps(mask, j->a + (r0 + i0 + i) * j->lda + p)
                                 : _mm512_setzero_ps();
            transpose16(r);
            for (int64_t c = 0; c < q; c++)
                _mm512_store_ps(dst + (p + c) * width + i0, r[c]);
        }
    }
}

/* Tile t of the block at rows [r0, r0 + rows): computes and stores it. */
static void run_tile(const gemm_job *j, int64_t r0, int64_t rows, int64_t t)
{
    int mv = (int)((rows + 15) / 16), nc = tile_cols(mv);
    int64_t j0 = t * nc, cols = j->n - j0 < nc ? j->n - j0 : nc;
    int64_t sn = j->trans_b ? j->ldb : 1, sk = j->trans_b ? 1 : j->ldb;
    const float *bp[24];
    for (int c = 0; c < nc; c++) /* columns past n repeat the last one, never stored */
        bp[c] = j->b + (c < cols ? j0 + c : j->n - 1) * sn;
    tile_out o = {.c = j->c + r0 * j->ldc + j0, .ldc = j->ldc, .rows = (int)rows, .cols = (int)cols,
                  .alpha = j->alpha, .beta = j->beta, .bias = j->bias ? j->bias + j0 : NULL};
    tile_dispatch(mv, sk == 1, j->xt + r0 * j->k, j->k, bp, sk, &o);
}

/* Rows [r0, r1) of C, every column: packs them into their place in xt, then
 * runs every tile of each block of up to 64. */
static void gemm_rows(const gemm_job *j, int64_t r0, int64_t r1)
{
    for (; r0 < r1; r0 += GEMM_BLOCK) {
        int64_t rows = r1 - r0 < GEMM_BLOCK ? r1 - r0 : GEMM_BLOCK;
        pack_block(j, r0, rows);
        int64_t nc = tile_cols((int)((rows + 15) / 16)), tiles = (j->n + nc - 1) / nc;
        for (int64_t t = 0; t < tiles; t++)
            run_tile(j, r0, rows, t);
    }
}

/* The work of thread `id` of `count`.  With at least two vectors of rows per
 * thread, each takes a range of rows and all columns: it packs only its own
 * rows, and leaves in its cache the rows of C that the next kernel's static
 * OpenMP loop (a ReLU) gives the same thread; each streams all of op(B) from
 * the shared L3.  With fewer rows, threads split the columns by tiles, and
 * the first `copies` threads each pack all the rows into a copy of their own
 * (the others share them, after a barrier): reading a copy another core
 * packed costs more than packing it (64 x 10 x 1200 takes 27 us shared, 15 us
 * private). */
static void gemm_thread(const gemm_job *shared, int id, int count)
{
    int64_t groups = (shared->m + 15) / 16;
    if (groups >= 2 * count) {
        int64_t r0 = 16 * (groups * id / count), r1 = 16 * (groups * (id + 1) / count);
        gemm_rows(shared, r0, r1 < shared->m ? r1 : shared->m);
        return;
    }
    int copies = gemm_copies(shared->m);
    gemm_job copy = *shared;
    const gemm_job *j = &copy;
    copy.xt += (id % copies) * gemm_copy_floats(j->m, j->k);
    if (id < copies)
        for (int64_t r0 = 0; r0 < j->m; r0 += GEMM_BLOCK)
            pack_block(j, r0, j->m - r0 < GEMM_BLOCK ? j->m - r0 : GEMM_BLOCK);
    if (count > copies) {
#pragma omp barrier
    }
    for (int64_t r0 = 0; r0 < j->m; r0 += GEMM_BLOCK) {
        int64_t rows = j->m - r0 < GEMM_BLOCK ? j->m - r0 : GEMM_BLOCK;
        int64_t nc = tile_cols((int)((rows + 15) / 16)), tiles = (j->n + nc - 1) / nc;
        for (int64_t t = tiles * id / count; t < tiles * (id + 1) / count; t++)
            run_tile(j, r0, rows, t);
    }
}
#endif

/* ---- GEMM_PATH_BLAS and GEMM_PATH_TILES ----------------------------------- */

static void gemm_blas(bnn_dtype dtype, bool trans_a, bool trans_b, int64_t m, int64_t n,
                      int64_t k, double alpha, const void *a, int64_t lda, const void *b,
                      int64_t ldb, double beta, void *c, int64_t ldc)
{
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0) { /* an empty sum: only the beta scaling is left */
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                if (dtype == BNN_F64) {
                    double *p = (double *)c + i * ldc + j;
                    *p = beta == 0 ? 0 : beta * *p;
                } else {
                    float *p = (float *)c + i * ldc + j;
                    *p = beta == 0 ? 0 : (float)(beta * *p);
                }
            }
        return;
    }
    enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
    if (dtype == BNN_F64)
        cblas_dgemm(CblasRowMajor, ta, tb, (blasint)m, (blasint)n, (blasint)k, alpha, a,
                    (blasint)lda, b, (blasint)ldb, beta, c, (blasint)ldc);
    else
        cblas_sgemm(CblasRowMajor, ta, tb, (blasint)m, (blasint)n, (blasint)k, (float)alpha, a,
                    (blasint)lda, b, (blasint)ldb, (float)beta, c, (blasint)ldc);
}

/* f32 C in tiles of at most NN_SERIAL_MNK multiply-adds, roughly square,
 * columns in multiples of 16; the tiling depends only on the shape. */
static void gemm_tiles(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
                       const float *a, int64_t lda, const float *b, int64_t ldb, double beta,
                       float *c, int64_t ldc)
{
    int64_t work = m * n * k;
    int64_t tiles = (work + NN_SERIAL_MNK - 1) / NN_SERIAL_MNK;
    int64_t tn = (int64_t)(sqrt((double)tiles * (double)n / (double)m) + 0.5);
    /* no more column tiles than tiles: a wide C of few rows is cut in
     * columns only, as evenly as multiples of 16 allow */
    int64_t max_tn = (n + 15) / 16 < tiles ? (n + 15) / 16 : tiles;
    tn = tn < 1 ? 1 : tn > max_tn ? max_tn : tn;
    int64_t cols = ((n + tn - 1) / tn + 15) / 16 * 16;
    if (cols > n)
        cols = n;
    int64_t rows = m;
    while (rows > 1 && rows * cols * k > NN_SERIAL_MNK)
        rows = (rows + 1) / 2;
    while (cols > 16 && rows * cols * k > NN_SERIAL_MNK)
        cols = (cols / 2 + 15) / 16 * 16;
    int64_t n_r = (m + rows - 1) / rows, n_c = (n + cols - 1) / cols, count = n_r * n_c;
    /* inside a parallel region (even one of one thread) the caller's loop
     * owns the threads; the same tiles run on the calling thread */
    int threads = omp_get_level() > 0 ? 1 : omp_get_max_threads();
    if (threads > count)
        threads = (int)count;
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (int64_t t = 0; t < count; t++) {
        int64_t i0 = t / n_c * rows, j0 = t % n_c * cols;
        int64_t mi = m - i0 < rows ? m - i0 : rows, nj = n - j0 < cols ? n - j0 : cols;
        gemm_blas(BNN_F32, trans_a, trans_b, mi, nj, k, alpha, trans_a ? a + i0 : a + i0 * lda,
                  lda, trans_b ? b + j0 * ldb : b + j0, ldb, beta, c + i0 * ldc + j0, ldc);
    }
}

/* ---- the entry point ------------------------------------------------------- */

static bool have_avx512(void)
{
#if GEMM_HAVE_AVX512
    return __builtin_cpu_supports("avx512f");
#else
    return false;
#endif
}

gemm_path nn_gemm_path(bnn_dtype dtype, int64_t m, int64_t n, int64_t k, bool has_scratch)
{
    if (dtype != BNN_F32 || m <= 0 || n <= 0 || k <= 0)
        return GEMM_PATH_BLAS;
    if (has_scratch && gemm_own_path(m, n, k) && have_avx512())
        return GEMM_PATH_AVX512;
    int64_t work = m * n * k;
    if (work <= NN_SERIAL_MNK)
        return GEMM_PATH_BLAS;
    if (work <= NN_TILED_MAX_MNK || omp_get_level() > 0)
        return GEMM_PATH_TILES;
    return GEMM_PATH_BLAS;
}

void nn_gemm(bnn_dtype dtype, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
             double alpha, const void *a, int64_t lda, const void *b, int64_t ldb, double beta,
             void *c, int64_t ldc, const void *bias, void *scratch)
{
    gemm_path path = nn_gemm_path(dtype, m, n, k, scratch != NULL);
#if GEMM_HAVE_AVX512
    if (path == GEMM_PATH_AVX512) {
        gemm_job j = {.trans_a = trans_a, .trans_b = trans_b, .m = m, .n = n, .k = k,
                      .alpha = (float)alpha, .beta = (float)beta, .a = a, .b = b, .lda = lda,
                      .ldb = ldb, .ldc = ldc, .c = c, .bias = bias, .xt = scratch};
        bool serial = omp_in_parallel() || m * n * k < GEMM_THREAD_MIN_WORK;
        int threads = serial ? 1 : omp_get_max_threads();
        if (threads <= 1) {
            gemm_rows(&j, 0, m);
            return;
        }
#pragma omp parallel num_threads(threads)
        gemm_thread(&j, omp_get_thread_num(), omp_get_num_threads());
        return;
    }
#endif
    if (m <= 0 || n <= 0)
        return;
    if (bias) { /* start C at beta C + bias so that the product adds onto it */
        for (int64_t i = 0; i < m; i++)
            for (int64_t jj = 0; jj < n; jj++) {
                if (dtype == BNN_F64) {
                    double *p = (double *)c + i * ldc + jj;
                    *p = (beta == 0 ? 0.0 : beta * *p) + ((const double *)bias)[jj];
                } else {
                    float *p = (float *)c + i * ldc + jj;
                    *p = (beta == 0 ? 0.0f : (float)beta * *p) + ((const float *)bias)[jj];
                }
            }
        beta = 1;
    }
    if (path == GEMM_PATH_TILES)
        gemm_tiles(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    else
        gemm_blas(dtype, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
