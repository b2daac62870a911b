/* Each moment rule of bnn-to-moments against Monte-Carlo with 10^5 samples.
 *
 * Every case is a small graph whose input is a batch of ones feeding a
 * Bayesian dense layer with estimator=local ("src"): each row of its output
 * is an independent draw of K independent Gaussian units (mean mu_k,
 * variance softplus(rho_k)^2).  The op under test follows (reshaped to the
 * shape it wants).  Running the graph once on 10^5 rows gives 10^5
 * independent samples of every output element; the moment graph
 * (bnn-to-moments, and its GLM form where asked) runs once on one row.
 *
 * Tolerances, per output element, with se_m = sqrt(var_mc / S) and se_v the
 * standard error of the sample variance (from the sample's fourth moment):
 *   exact rules (linear layers, relu, pools other than max, layout, ...):
 *     |mean - mc| <= 5 se_m + 1e-5,  |var - mc| <= 5 se_v + 1e-6
 *   approximations add a stated bias allowance: sigmoid/tanh and the
 *   other smooth functions' quadrature 1e-4 absolute; quadrature across a
 *   kink (hard_swish, clip) 5% of the sd on the mean, 10% on the variance; Clark's max-pool 2% of the output's standard deviation
 *   on the mean and 10% on the variance (20% for 3x3 windows: the
 *   sequential pairwise match underestimates the variance of a max of 9;
 *   and for the 36 overlapping 2x2 windows of a stride-1 pool, see there),
 *   and for relu followed by max-pool, which the pass turns into max-pool
 *   followed by relu (they commute): 5% of the sd on the mean and 20% on
 *   the variance for the relu of Clark's Gaussian, where relu then Clark
 *   (the order as written) was 3x low on the variance and 5 tolerances off
 *   on the mean.
 * A failure prints the worst element. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

enum { SAMPLES = 100000 };

static uint64_t rng_state = 88172645463325252ull;
static double uniform(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((rng_state >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}
static double normal(void)
{
    return sqrt(-2 * log(uniform())) * cos(2 * M_PI * uniform());
}

/* Fills every param by its name: *_rho gives sigma in [0.2, 1.0]; *_mu of
 * the source N(0, 1); a batch_norm's running var U(0.5, 2); others N(0, 0.5). */
static void fill_params(bnn_graph *g)
{
    for (int v = 0; v < g->n_values; v++) {
        bnn_value *val = &g->values[v];
        if (val->kind != BNN_VALUE_PARAM || val->dtype != BNN_F32)
            continue;
        float *d = val->data;
        int64_t n = bnn_shape_numel(&val->shape);
        const char *name = val->name;
        size_t len = strlen(name);
        for (int64_t i = 0; i < n; i++) {
            if (len > 4 && strcmp(name + len - 4, "_rho") == 0) {
                double sigma = 0.2 + 0.8 * uniform();
                d[i] = (float)log(expm1(sigma));
            } else if (strncmp(name, "src", 3) == 0) {
                d[i] = (float)normal();
            } else if (strncmp(name, "two", 3) == 0) { /* an exponent */
                d[i] = 2.0f;
            } else if (strstr(name, "running_var")) {
                d[i] = (float)(0.5 + 1.5 * uniform());
            } else {
                d[i] = (float)(0.5 * normal());
            }
        }
    }
}

typedef struct stats {
    double *mean, *var, *se_m, *se_v;
    int64_t width;
} stats;

/* Runs g on rows of ones, returning output 0 (owned copy). */
static float *run_ones(const bnn_graph *g, int64_t rows, int out_index, int64_t *width)
{
    bnn_diag diag = {0};
    bnn_session_options o = bnn_session_defaults();
    o.seed = 7;
    bnn_session *s = NULL;
    CHECK(bnn_session_create_batch(g, rows, &o, &s, &diag) == BNN_OK, "session: %s", diag.message);
    bnn_tensor x;
    bnn_shape shape = {.rank = 2, .dims = {rows, 1}};
    CHECK(bnn_tensor_alloc(&x, BNN_F32, &shape, &diag) == BNN_OK, "%s", diag.message);
    for (int64_t i = 0; i < rows; i++)
        ((float *)x.data)[i] = 1.0f;
    CHECK(bnn_session_set_input(s, NULL, &x, &diag) == BNN_OK, "input: %s", diag.message);
    CHECK(bnn_session_run(s, &diag) == BNN_OK, "run: %s", diag.message);
    const bnn_tensor *y = bnn_session_output(s, out_index);
    *width = bnn_tensor_numel(y) / rows;
    float *copy = malloc(bnn_tensor_nbytes(y));
    memcpy(copy, y->data, bnn_tensor_nbytes(y));
    bnn_tensor_free(&x);
    bnn_session_destroy(s);
    return copy;
}

static stats monte_carlo(const bnn_graph *g)
{
    stats st;
    float *y = run_ones(g, SAMPLES, 0, &st.width);
    int64_t w = st.width;
    st.mean = calloc((size_t)w, sizeof(double));
    st.var = calloc((size_t)w, sizeof(double));
    st.se_m = calloc((size_t)w, sizeof(double));
    st.se_v = calloc((size_t)w, sizeof(double));
    for (int64_t j = 0; j < w; j++) {
        double sum = 0, m2 = 0, m4 = 0;
        for (int64_t i = 0; i < SAMPLES; i++)
            sum += y[i * w + j];
        double m = sum / SAMPLES;
        for (int64_t i = 0; i < SAMPLES; i++) {
            double d = y[i * w + j] - m;
            m2 += d * d;
            m4 += d * d * d * d;
        }
        m2 /= SAMPLES;
        m4 /= SAMPLES;
        st.mean[j] = m;
        st.var[j] = m2;
        st.se_m[j] = sqrt(m2 / SAMPLES);
        st.se_v[j] = sqrt(fmax(m4 - m2 * m2, 0) / SAMPLES);
    }
    free(y);
    return st;
}

static void stats_free(stats *s)
{
    free(s->mean);
    free(s->var);
    free(s->se_m);
    free(s->se_v);
}

/* Tolerance allowances beyond the statistical ones. */
typedef struct allowance {
    double mean_abs, var_abs;      /* absolute */
    double mean_sd, var_rel;       /* fractions of the MC sd / variance */
} allowance;

static int failures;

static void check_case(const char *name, const char *text, const char *mode, allowance a)
{
    bnn_diag diag = {0};
    bnn_graph *g = NULL;
    CHECK(bnn_graph_parse(text, name, &g, &diag) == BNN_OK, "%s: parse: %s", name, diag.message);
    fill_params(g);
    stats mc = monte_carlo(g);
    bnn_graph *mg = bnn_graph_clone(g);
    char pipeline[80];
    snprintf(pipeline, sizeof pipeline, "bnn-to-moments{mode=%s}", mode);
    CHECK(mg && bnn_passes_run_text(pipeline, mg, &diag) == BNN_OK, "%s: pass: %s", name,
          diag.message);
    int64_t w1, w2;
    float *m = run_ones(mg, 1, 0, &w1);
    float *v = run_ones(mg, 1, mg->n_outputs - 1, &w2);
    CHECK(w1 == mc.width && w2 == mc.width, "%s: widths %lld %lld, MC %lld", name,
          (long long)w1, (long long)w2, (long long)mc.width);
    double worst_m = 0, worst_v = 0;
    int64_t at_m = 0, at_v = 0;
    for (int64_t j = 0; j < mc.width; j++) {
        double tol_m = 5 * mc.se_m[j] + 1e-5 + a.mean_abs + a.mean_sd * sqrt(mc.var[j]);
        double tol_v = 5 * mc.se_v[j] + 1e-6 + a.var_abs + a.var_rel * mc.var[j];
        double em = fabs(m[j] - mc.mean[j]) / tol_m, ev = fabs(v[j] - mc.var[j]) / tol_v;
        if (em > worst_m) { worst_m = em; at_m = j; }
        if (ev > worst_v) { worst_v = ev; at_v = j; }
    }
    bool ok = worst_m <= 1 && worst_v <= 1;
    printf("%-28s %-7s worst mean error %.2f of tolerance (element %lld: %.5f vs MC %.5f), "
           "variance %.2f (element %lld: %.5f vs MC %.5f) %s\n", name, mode, worst_m,
           (long long)at_m, m[at_m], mc.mean[at_m], worst_v, (long long)at_v, v[at_v],
           mc.var[at_v], ok ? "ok" : "FAIL");
    failures += !ok;
    free(m);
    free(v);
    stats_free(&mc);
    bnn_graph_destroy(mg);
    bnn_graph_destroy(g);
}

/* The source: K independent Gaussian units per row. */
#define SRC(K)                                                                     \
    "  param %src_mu: f32[" #K ",1]\n"                                              \
    "  param %src_rho: f32[" #K ",1]\n"                                             \
    "  %z = bnn.dense_reparam(%one, %src_mu, %src_rho) {estimator=\"local\"} : f32[N," #K "] @src\n"
#define SRC2(K)                                                                    \
    "  param %src2_mu: f32[" #K ",1]\n"                                             \
    "  param %src2_rho: f32[" #K ",1]\n"                                            \
    "  %z2 = bnn.dense_reparam(%one, %src2_mu, %src2_rho) {estimator=\"local\"} : f32[N," #K "] @src2\n"

static const allowance EXACT = {0, 0, 0, 0};

/* The GLM form of the quadrature rule for gelu: the mean gelu(mu) and the
 * variance gelu'(mu)^2 sigma^2 of each source unit (mu, sigma from its
 * params), the slope taken by the pass from f(mu +- 0.01). */
static void check_glm_gelu(void)
{
    const char *text = "graph @t(%one: f32[N,1]) -> (%y: f32[N,64]) {\n" SRC(64)
                       "  %y = gelu(%z) : f32[N,64]\n  return %y\n}\n";
    bnn_diag diag = {0};
    bnn_graph *g = NULL;
    CHECK(bnn_graph_parse(text, "glm", &g, &diag) == BNN_OK, "glm: parse: %s", diag.message);
    fill_params(g);
    CHECK(bnn_passes_run_text("bnn-to-moments{mode=glm}", g, &diag) == BNN_OK, "glm: pass: %s",
          diag.message);
    int64_t w;
    float *m = run_ones(g, 1, 0, &w), *v = run_ones(g, 1, g->n_outputs - 1, &w);
    const float *mu = g->values[bnn_graph_find_value(g, "src_mu")].data;
    const float *rho = g->values[bnn_graph_find_value(g, "src_rho")].data;
    double worst = 0;
    for (int64_t j = 0; j < w; j++) {
        double x = mu[j], sigma = log1p(exp(rho[j]));
        double cdf = 0.5 * erfc(-x / sqrt(2)), pdf = exp(-x * x / 2) / sqrt(2 * M_PI);
        double em = fabs(m[j] - x * cdf) / (1e-5 + 1e-5 * fabs(x * cdf));
        double d = cdf + x * pdf, want = d * d * sigma * sigma;
        double ev = fabs(v[j] - want) / (1e-5 + 1e-3 * want); /* the slope's O(h^2) */
        worst = fmax(worst, fmax(em, ev));
    }
    bool ok = worst <= 1;
    printf("%-28s glm     worst error %.2f of tolerance %s\n", "gelu (quadrature's GLM form)", worst,
           ok ? "ok" : "FAIL");
    failures += !ok;
    free(m);
    free(v);
    bnn_graph_destroy(g);
}

int main(void)
{
    const allowance smooth = {1e-4, 1e-4, 0, 0};
    const allowance clark = {0, 0, 0.02, 0.10};
    const allowance clark9 = {0, 0, 0.02, 0.20}; /* 9-element windows: Clark drifts further */
    const allowance clark_relu = {0, 0, 0.05, 0.20}; /* relu of Clark's Gaussian */
    const allowance kink = {0, 0, 0.05, 0.10}; /* quadrature across a kink */
    const char *cases[][3] = {
        {"relu", "graph @t(%one: f32[N,1]) -> (%y: f32[N,64]) {\n" SRC(64)
                 "  %y = relu(%z) : f32[N,64]\n  return %y\n}\n", "exact"},
        {"leaky_relu", "graph @t(%one: f32[N,1]) -> (%y: f32[N,64]) {\n" SRC(64)
                       "  %y = leaky_relu(%z) {alpha=0.1} : f32[N,64]\n  return %y\n}\n", "exact"},
        {"sigmoid", "graph @t(%one: f32[N,1]) -> (%y: f32[N,64]) {\n" SRC(64)
                    "  %y = sigmoid(%z) : f32[N,64]\n  return %y\n}\n", "smooth"},
        {"tanh", "graph @t(%one: f32[N,1]) -> (%y: f32[N,64]) {\n" SRC(64)
                 "  %y = tanh(%z) : f32[N,64]\n  return %y\n}\n", "smooth"},
        {"max_pool 2x2", "graph @t(%one: f32[N,1]) -> (%y: f32[N,4,2,2]) {\n" SRC(64)
                         "  %r = reshape(%z) {shape=[-1, 4, 4, 4]} : f32[N,4,4,4]\n"
                         "  %y = max_pool(%r) {kernel_shape=[2, 2], strides=[2, 2]} : f32[N,4,2,2]\n"
                         "  return %y\n}\n", "clark"},
        {"relu, max_pool 2x2 (pool first)", "graph @t(%one: f32[N,1]) -> (%y: f32[N,4,2,2]) {\n" SRC(64)
                         "  %r = reshape(%z) {shape=[-1, 4, 4, 4]} : f32[N,4,4,4]\n"
                         "  %a = relu(%r) : f32[N,4,4,4]\n"
                         "  %y = max_pool(%a) {kernel_shape=[2, 2], strides=[2, 2]} : f32[N,4,2,2]\n"
                         "  return %y\n}\n", "clark_relu"},
        {"leaky_relu, max_pool 3x3 pad 1", "graph @t(%one: f32[N,1]) -> (%y: f32[N,2,3,3]) {\n" SRC(50)
                               "  %r = reshape(%z) {shape=[-1, 2, 5, 5]} : f32[N,2,5,5]\n"
                               "  %a = leaky_relu(%r) {alpha=0.1} : f32[N,2,5,5]\n"
                               "  %y = max_pool(%a) {kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]} : f32[N,2,3,3]\n"
                               "  return %y\n}\n", "clark9"},
        {"max_pool 3x3 pad 1", "graph @t(%one: f32[N,1]) -> (%y: f32[N,2,3,3]) {\n" SRC(50)
                               "  %r = reshape(%z) {shape=[-1, 2, 5, 5]} : f32[N,2,5,5]\n"
                               "  %y = max_pool(%r) {kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]} : f32[N,2,3,3]\n"
                               "  return %y\n}\n", "clark9"},
        /* the other max-pool paths: overlapping windows (gathered per
         * offset), a 9-element window inside the image, a 1-D pool (the
         * non-overlapping path with 2-element windows).  The stride-1 pool
         * has 36 windows to the 2x2's 16, and Clark's sequential match of 4
         * Gaussians is off by more than 10% in the variance now and then (in
         * 200 random windows of this test's distribution, simulated in
         * double against 40,000 draws each, the worst was 23% low): it gets
         * the 20% allowance. */
        {"max_pool 2x2 stride 1", "graph @t(%one: f32[N,1]) -> (%y: f32[N,4,3,3]) {\n" SRC(64)
                                  "  %r = reshape(%z) {shape=[-1, 4, 4, 4]} : f32[N,4,4,4]\n"
                                  "  %y = max_pool(%r) {kernel_shape=[2, 2], strides=[1, 1]} : f32[N,4,3,3]\n"
                                  "  return %y\n}\n", "clark9"},
        {"max_pool 3x3 stride 2", "graph @t(%one: f32[N,1]) -> (%y: f32[N,2,2,2]) {\n" SRC(50)
                                  "  %r = reshape(%z) {shape=[-1, 2, 5, 5]} : f32[N,2,5,5]\n"
                                  "  %y = max_pool(%r) {kernel_shape=[3, 3], strides=[2, 2]} : f32[N,2,2,2]\n"
                                  "  return %y\n}\n", "clark9"},
        {"max_pool 1-D, 2 stride 2", "graph @t(%one: f32[N,1]) -> (%y: f32[N,4,8]) {\n" SRC(64)
                                     "  %r = reshape(%z) {shape=[-1, 4, 16]} : f32[N,4,16]\n"
                                     "  %y = max_pool(%r) {kernel_shape=[2], strides=[2]} : f32[N,4,8]\n"
                                     "  return %y\n}\n", "clark"},
        {"avg_pool", "graph @t(%one: f32[N,1]) -> (%y: f32[N,4,2,2]) {\n" SRC(64)
                     "  %r = reshape(%z) {shape=[-1, 4, 4, 4]} : f32[N,4,4,4]\n"
                     "  %y = avg_pool(%r) {kernel_shape=[2, 2], strides=[2, 2]} : f32[N,4,2,2]\n"
                     "  return %y\n}\n", "exact"},
        {"global_avg_pool", "graph @t(%one: f32[N,1]) -> (%y: f32[N,4,1,1]) {\n" SRC(64)
                            "  %r = reshape(%z) {shape=[-1, 4, 4, 4]} : f32[N,4,4,4]\n"
                            "  %y = global_avg_pool(%r) : f32[N,4,1,1]\n  return %y\n}\n", "exact"},
        {"resize nearest x2", "graph @t(%one: f32[N,1]) -> (%y: f32[N,4,8,8]) {\n" SRC(64)
                              "  %r = reshape(%z) {shape=[-1, 4, 4, 4]} : f32[N,4,4,4]\n"
                              "  %y = resize(%r) {mode=\"nearest\", scales=[1.0, 1.0, 2.0, 2.0]} : f32[N,4,8,8]\n"
                              "  return %y\n}\n", "exact"},
        {"resize linear x2 (half_pixel)", "graph @t(%one: f32[N,1]) -> (%y: f32[N,4,8,8]) {\n" SRC(64)
                              "  %r = reshape(%z) {shape=[-1, 4, 4, 4]} : f32[N,4,4,4]\n"
                              "  %y = resize(%r) {mode=\"linear\", scales=[1.0, 1.0, 2.0, 2.0]} : f32[N,4,8,8]\n"
                              "  return %y\n}\n", "exact"},
        {"resize linear to 7x3 (align_corners)", "graph @t(%one: f32[N,1]) -> (%y: f32[N,4,7,3]) {\n" SRC(64)
                              "  %r = reshape(%z) {shape=[-1, 4, 4, 4]} : f32[N,4,4,4]\n"
                              "  %y = resize(%r) {mode=\"linear\", coordinate_transformation_mode=\"align_corners\", sizes=[-1, -1, 7, 3]} : f32[N,4,7,3]\n"
                              "  return %y\n}\n", "exact"},
        {"resize cubic x0.5 antialias, rows", "graph @t(%one: f32[N,1]) -> (%y: f32[N,2,4,8]) {\n" SRC(64)
                              "  %r = reshape(%z) {shape=[-1, 2, 8, 4]} : f32[N,2,8,4]\n"
                              "  %y = resize(%r) {mode=\"cubic\", antialias=1, scales=[1.0, 1.0, 0.5, 2.0]} : f32[N,2,4,8]\n"
                              "  return %y\n}\n", "exact"},
        {"resize linear 1-D x1.5", "graph @t(%one: f32[N,1]) -> (%y: f32[N,4,24]) {\n" SRC(64)
                              "  %r = reshape(%z) {shape=[-1, 4, 16]} : f32[N,4,16]\n"
                              "  %y = resize(%r) {mode=\"linear\", scales=[1.0, 1.0, 1.5]} : f32[N,4,24]\n"
                              "  return %y\n}\n", "exact"},
        {"pow 2", "graph @t(%one: f32[N,1]) -> (%y: f32[N,32]) {\n" SRC(32)
                  "  param %two: f32[1]\n  %y = pow(%z, %two) : f32[N,32]\n  return %y\n}\n", "exact"},
        /* the square's mean (m^2 + v, not the node's m^2) reaches its user */
        {"mul x x, then sub", "graph @t(%one: f32[N,1]) -> (%y: f32[N,32]) {\n" SRC(32)
                  "  %s = mul(%z, %z) : f32[N,32]\n  param %c: f32[32]\n"
                  "  %y = sub(%s, %c) : f32[N,32]\n  return %y\n}\n", "exact"},
        {"add x x", "graph @t(%one: f32[N,1]) -> (%y: f32[N,32]) {\n" SRC(32)
                    "  %y = add(%z, %z) : f32[N,32]\n  return %y\n}\n", "exact"},
        /* any other elementwise function by 16-point Gauss-Hermite */
        {"gelu", "graph @t(%one: f32[N,1]) -> (%y: f32[N,64]) {\n" SRC(64)
                 "  %y = gelu(%z) : f32[N,64]\n  return %y\n}\n", "smooth"},
        {"elu", "graph @t(%one: f32[N,1]) -> (%y: f32[N,64]) {\n" SRC(64)
                "  %y = elu(%z) {alpha=0.7} : f32[N,64]\n  return %y\n}\n", "smooth"},
        {"softplus", "graph @t(%one: f32[N,1]) -> (%y: f32[N,64]) {\n" SRC(64)
                     "  %y = softplus(%z) : f32[N,64]\n  return %y\n}\n", "smooth"},
        {"exp", "graph @t(%one: f32[N,1]) -> (%y: f32[N,64]) {\n" SRC(64)
                "  %y = exp(%z) : f32[N,64]\n  return %y\n}\n", "smooth"},
        {"mish", "graph @t(%one: f32[N,1]) -> (%y: f32[N,64]) {\n" SRC(64)
                 "  %y = mish(%z) : f32[N,64]\n  return %y\n}\n", "smooth"},
        {"silu: mul(x, sigmoid(x))", "graph @t(%one: f32[N,1]) -> (%y: f32[N,64]) {\n" SRC(64)
                 "  %s = sigmoid(%z) : f32[N,64]\n  %y = mul(%z, %s) : f32[N,64]\n  return %y\n}\n",
         "smooth"},
        {"hard_swish (kinks)", "graph @t(%one: f32[N,1]) -> (%y: f32[N,64]) {\n" SRC(64)
                       "  %y = hard_swish(%z) : f32[N,64]\n  return %y\n}\n", "kink"},
        {"clip to [-0.5, 0.8] (kinks)", "graph @t(%one: f32[N,1]) -> (%y: f32[N,64]) {\n" SRC(64)
                 "  %y = clip(%z) {min=-0.5, max=0.8} : f32[N,64]\n  return %y\n}\n", "kink"},
        {"batch_norm", "graph @t(%one: f32[N,1]) -> (%y: f32[N,4,2,2]) {\n" SRC(16)
                       "  param %scale: f32[4]\n  param %bias: f32[4]\n  param %mean: f32[4]\n"
                       "  param %running_var: f32[4]\n"
                       "  %r = reshape(%z) {shape=[-1, 4, 2, 2]} : f32[N,4,2,2]\n"
                       "  %y = batch_norm(%r, %scale, %bias, %mean, %running_var) {epsilon=0.001} : f32[N,4,2,2]\n"
                       "  return %y\n}\n", "exact"},
        {"dense (fixed weights)", "graph @t(%one: f32[N,1]) -> (%y: f32[N,16]) {\n" SRC(32)
                                  "  param %w: f32[16,32]\n  param %b: f32[16]\n"
                                  "  %y = dense(%z, %w, %b) : f32[N,16]\n  return %y\n}\n", "exact"},
        {"conv2d (fixed weights)", "graph @t(%one: f32[N,1]) -> (%y: f32[N,3,4,4]) {\n" SRC(32)
                                   "  param %w: f32[3,2,3,3]\n  param %b: f32[3]\n"
                                   "  %r = reshape(%z) {shape=[-1, 2, 4, 4]} : f32[N,2,4,4]\n"
                                   "  %y = conv(%r, %w, %b) {pads=[1, 1, 1, 1]} : f32[N,3,4,4]\n"
                                   "  return %y\n}\n", "exact"},
        {"dense_reparam", "graph @t(%one: f32[N,1]) -> (%y: f32[N,16]) {\n" SRC(32)
                          "  param %fc_mu: f32[16,32]\n  param %fc_rho: f32[16,32]\n"
                          "  param %fcb_mu: f32[16]\n  param %fcb_rho: f32[16]\n"
                          "  %y = bnn.dense_reparam(%z, %fc_mu, %fc_rho, %fcb_mu, %fcb_rho) {estimator=\"local\"} : f32[N,16]\n"
                          "  return %y\n}\n", "exact"},
        {"conv_reparam", "graph @t(%one: f32[N,1]) -> (%y: f32[N,3,4,4]) {\n" SRC(32)
                         "  param %c_mu: f32[3,2,3,3]\n  param %c_rho: f32[3,2,3,3]\n"
                         "  param %cb_mu: f32[3]\n  param %cb_rho: f32[3]\n"
                         "  %r = reshape(%z) {shape=[-1, 2, 4, 4]} : f32[N,2,4,4]\n"
                         "  %y = bnn.conv_reparam(%r, %c_mu, %c_rho, %cb_mu, %cb_rho) {pads=[1, 1, 1, 1], estimator=\"local\"} : f32[N,3,4,4]\n"
                         "  return %y\n}\n", "exact"},
        {"conv_transpose_reparam", "graph @t(%one: f32[N,1]) -> (%y: f32[N,4,9,7]) {\n" SRC(32)
                                   "  param %t_mu: f32[2,2,3,2]\n  param %t_rho: f32[2,2,3,2]\n"
                                   "  param %tb_mu: f32[4]\n  param %tb_rho: f32[4]\n"
                                   "  %r = reshape(%z) {shape=[-1, 2, 4, 4]} : f32[N,2,4,4]\n"
                                   "  %y = bnn.conv_transpose_reparam(%r, %t_mu, %t_rho, %tb_mu, %tb_rho) {strides=[2, 2], pads=[1, 0, 0, 1], group=2, output_padding=[1, 0], estimator=\"local\"} : f32[N,4,9,7]\n"
                                   "  return %y\n}\n", "exact"},
        {"conv_transpose (fixed weights)", "graph @t(%one: f32[N,1]) -> (%y: f32[N,3,5,7]) {\n" SRC(32)
                                           "  param %w: f32[2,3,2,3]\n  param %b: f32[3]\n"
                                           "  %r = reshape(%z) {shape=[-1, 2, 4, 4]} : f32[N,2,4,4]\n"
                                           "  %y = conv_transpose(%r, %w, %b) {pads=[0, 1, 0, 0], dilations=[1, 2]} : f32[N,3,5,7]\n"
                                           "  return %y\n}\n", "exact"},
        {"add (residual)", "graph @t(%one: f32[N,1]) -> (%y: f32[N,32]) {\n" SRC(32) SRC2(32)
                           "  %y = add(%z, %z2) : f32[N,32]\n  return %y\n}\n", "exact"},
        {"sub constant", "graph @t(%one: f32[N,1]) -> (%y: f32[N,32]) {\n" SRC(32)
                         "  param %c: f32[32]\n  %y = sub(%z, %c) : f32[N,32]\n  return %y\n}\n", "exact"},
        {"mul constant", "graph @t(%one: f32[N,1]) -> (%y: f32[N,32]) {\n" SRC(32)
                         "  param %c: f32[32]\n  %y = mul(%z, %c) : f32[N,32]\n  return %y\n}\n", "exact"},
        {"mul random", "graph @t(%one: f32[N,1]) -> (%y: f32[N,32]) {\n" SRC(32) SRC2(32)
                       "  %y = mul(%z, %z2) : f32[N,32]\n  return %y\n}\n", "exact"},
        {"concat, transpose, flatten", "graph @t(%one: f32[N,1]) -> (%y: f32[N,48]) {\n" SRC(32) SRC2(16)
                                       "  %a = reshape(%z) {shape=[-1, 2, 4, 4]} : f32[N,2,4,4]\n"
                                       "  %b = reshape(%z2) {shape=[-1, 1, 4, 4]} : f32[N,1,4,4]\n"
                                       "  %c = concat(%a, %b) {axis=1} : f32[N,3,4,4]\n"
                                       "  %t = transpose(%c) {perm=[0, 2, 3, 1]} : f32[N,4,4,3]\n"
                                       "  %y = flatten(%t) {axis=1} : f32[N,48]\n  return %y\n}\n", "exact"},
    };
    int n_cases = (int)(sizeof cases / sizeof cases[0]);
    for (int i = 0; i < n_cases; i++) {
        const char *kind = cases[i][2];
        allowance a = strcmp(kind, "smooth") == 0 ? smooth : strcmp(kind, "clark") == 0 ? clark
                     : strcmp(kind, "clark9") == 0 ? clark9
                     : strcmp(kind, "clark_relu") == 0 ? clark_relu
                     : strcmp(kind, "kink") == 0 ? kink : EXACT;
        check_case(cases[i][0], cases[i][1], "moments", a);
    }
    check_glm_gelu();
    printf("%d of %d rules outside tolerance\n", failures, n_cases + 1);
    return failures ? 1 : 0;
}
