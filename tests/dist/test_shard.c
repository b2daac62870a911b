/* What data-parallel runs stand on, testable without MPI: how rows are cut
 * into shards, the communicator of a job of one, and the row-range readers
 * (IDX plain and gzip'd, .npy) against the whole-file readers. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "bnn_comm.h"
#include "bnn_data.h"
#include "bnn_runtime.h"
#include "dist_shard.h"
#include "bnn_npy.h"
#include "bnn_train.h"

/* Every n, unit and size: the shards are contiguous, in rank order, cover
 * [0, n) once, start on a unit boundary, and differ by at most one unit. */
Test(shard, covers_every_row_once_in_whole_units)
{
    for (int64_t n = 0; n <= 40; n++)
        for (int64_t unit = 1; unit <= 9; unit++)
            for (int size = 1; size <= 6; size++) {
                int64_t next = 0, least = INT64_MAX, most = 0;
                for (int r = 0; r < size; r++) {
                    int64_t first, count;
                    bnn_comm_shard(n, unit, r, size, &first, &count);
                    cr_assert_eq(first, next, "n %lld unit %lld size %d rank %d", (long long)n,
                                 (long long)unit, size, r);
                    cr_assert(count >= 0);
                    cr_assert(first % unit == 0 || count == 0);
                    int64_t units = (count + unit - 1) / unit;
                    least = units < least ? units : least;
                    most = units > most ? units : most;
                    next = first + count;
                }
                cr_assert_eq(next, n);
                cr_assert(most - least <= 1);
            }
}

Test(shard, uneven_batch_of_ten_over_three)
{
    int64_t first, count;
    bnn_comm_shard(10, 1, 0, 3, &first, &count);
    cr_assert(first == 0 && count == 4);
    bnn_comm_shard(10, 1, 1, 3, &first, &count);
    cr_assert(first == 4 && count == 3);
    bnn_comm_shard(10, 1, 2, 3, &first, &count);
    cr_assert(first == 7 && count == 3);
    /* in batches of 4: [0,4) [4,8) [8,10) */
    bnn_comm_shard(10, 4, 2, 3, &first, &count);
    cr_assert(first == 8 && count == 2);
    /* more ranks than batches: the last gets nothing */
    bnn_comm_shard(10, 8, 2, 3, &first, &count);
    cr_assert(first == 10 && count == 0);
}

/* Without mpirun the communicator is one rank whose collectives leave
 * buffers as they are, whichever implementation was built. */
Test(comm, alone_without_a_launcher)
{
    unsetenv("OMPI_COMM_WORLD_SIZE");
    unsetenv("PMIX_RANK");
    unsetenv("PMI_RANK");
    bnn_comm *comm = NULL;
    bnn_diag diag;
    cr_assert_eq(bnn_comm_create(&comm, &diag), BNN_OK, "%s", diag.message);
    cr_assert_eq(bnn_comm_rank(comm), 0);
    cr_assert_eq(bnn_comm_size(comm), 1);
    float f[3] = {1.5f, -2, 3};
    double d[2] = {0.25, 7};
    cr_assert_eq(bnn_comm_allreduce_f32(comm, f, 3, &diag), BNN_OK);
    cr_assert_eq(bnn_comm_allreduce_f64(comm, d, 2, &diag), BNN_OK);
    cr_assert(f[0] == 1.5f && f[1] == -2 && f[2] == 3 && d[0] == 0.25 && d[1] == 7);
    uint64_t x = 42;
    cr_assert_eq(bnn_comm_broadcast(comm, &x, sizeof x, 0, &diag), BNN_OK);
    cr_assert_eq(x, 42);
    cr_assert_neq(bnn_comm_broadcast(comm, &x, sizeof x, 1, &diag), BNN_OK);
    cr_assert_eq(bnn_comm_barrier(comm, &diag), BNN_OK);
    cr_assert_eq(bnn_comm_require_same(comm, 99, "model", &diag), BNN_OK);
    int mismatched = -1, differs = -1;
    cr_assert_eq(bnn_comm_agree(comm, 5, &mismatched, &differs, &diag), BNN_OK);
    cr_assert(mismatched == 0 && differs == 0);
    /* a NULL communicator is the same job of one */
    cr_assert_eq(bnn_comm_size(NULL), 1);
    cr_assert_eq(bnn_comm_allreduce_f32(NULL, f, 3, &diag), BNN_OK);
    bnn_comm_destroy(comm);
}

/* The one-rank communicator's halves of an all-reduce leave the buffer:
 * the one part is the whole, already summed. */
Test(comm, reduce_scatter_and_allgather_alone)
{
    bnn_diag diag;
    float part[4] = {1, 2, 3, 4}, buf[3] = {5, 6, 7};
    size_t counts[1] = {4}, displs[1] = {0}, three[1] = {3};
    cr_assert_eq(bnn_comm_reduce_scatter_f32(NULL, part, counts, &diag), BNN_OK);
    cr_assert(part[0] == 1 && part[1] == 2 && part[2] == 3 && part[3] == 4);
    cr_assert_eq(bnn_comm_allgather_f32(NULL, buf, three, displs, &diag), BNN_OK);
    cr_assert(buf[0] == 5 && buf[1] == 6 && buf[2] == 7);
}

/* Two Bayesian layers: fc1's rho gradients derived (laid out after the
 * summed front), fc2's not (its mu has a second reader), as in
 * tests/runtime/test_backward.c; fc1 is wide enough for the cuts to fall
 * inside it. */
static const char *shard_net =
    "graph @s(%x: f32[N,40]) -> (%y: f32[N,3]) {\n"
    "  param %w.mu: f32[50,40] trainable\n"
    "  param %w.rho: f32[50,40] trainable\n"
    "  param %b.mu: f32[50] trainable\n"
    "  param %b.rho: f32[50] trainable\n"
    "  param %v.mu: f32[3,50] trainable\n"
    "  param %v.rho: f32[3,50] trainable\n"
    "  %h = bnn.dense_reparam(%x, %w.mu, %w.rho, %b.mu, %b.rho) : f32[N,50] @fc1\n"
    "  %t = tanh(%h) : f32[N,50] @act\n"
    "  %y0 = bnn.dense_reparam(%t, %v.mu, %v.rho) : f32[N,3] @fc2\n"
    "  %u = dense(%t, %v.mu) : f32[N,3] @shared\n"
    "  %y = add(%y0, %u) : f32[N,3] @sum\n"
    "  return %y\n"
    "}\n";

/* bnn_shard_create for 1 to 6 ranks: the slices cut the summed front in
 * order, on multiples of 16; the ranks' segments cover every trainable float
 * exactly once, each derived rho element on the rank whose slice holds its
 * mu; the gather layout adds up; and the work (a front float with a derived
 * rho counting twice) is shared evenly, within two blocks of 16 pairs. */
Test(zero, slices_cover_every_float_once)
{
    bnn_diag diag = {0};
    bnn_graph *g = NULL;
    cr_assert_eq(bnn_graph_parse(shard_net, "test", &g, &diag), BNN_OK, "%s", diag.message);
    bnn_session_options o = bnn_session_defaults();
    o.backward = true;
    o.derive_rho_grads = true;
    o.threads = 1;
    bnn_session *s = NULL;
    cr_assert_eq(bnn_session_create_batch(g, 2, &o, &s, &diag), BNN_OK, "%s", diag.message);
    size_t n = 0, front = bnn_session_param_grads_reduced(s);
    bnn_session_param_grads(s, &n);
    int64_t off[16];
    cr_assert_leq(g->n_values, 16);
    for (int v = 0; v < g->n_values; v++)
        off[v] = bnn_session_param_grad_offset(s, v);
    int w_mu = bnn_graph_find_value(g, "w.mu"), w_rho = bnn_graph_find_value(g, "w.rho");
    int b_mu = bnn_graph_find_value(g, "b.mu"), b_rho = bnn_graph_find_value(g, "b.rho");
    cr_assert_eq(n, 2 * (2000 + 50 + 150));
    cr_assert_eq(front, n - 2050, "w.rho and b.rho derived");
    int *owner = malloc(n * sizeof(int));
    for (int ranks = 1; ranks <= 6; ranks++) {
        for (size_t i = 0; i < n; i++)
            owner[i] = -1;
        size_t at = 0, prev_hi = 0, work_total = 0, work[6] = {0};
        for (int r = 0; r < ranks; r++) {
            bnn_shard *sh = NULL;
            cr_assert_eq(bnn_shard_create(g, off, front, n, r, ranks, &sh, &diag), BNN_OK, "%s",
                         diag.message);
            size_t lo, hi;
            bnn_shard_slice(sh, r, &lo, &hi);
            cr_assert_eq(lo, prev_hi, "%d ranks: rank %d starts at %zu", ranks, r, lo);
            cr_assert(lo <= hi && hi <= front);
            cr_assert(hi == front || hi % 16 == 0, "cut at %zu", hi);
            prev_hi = hi;
            int count = 0;
            const bnn_shard_seg *seg = bnn_shard_segs(sh, r, &count);
            size_t floats = 0;
            for (int i = 0; i < count; i++) {
                const bnn_value *val = &g->values[seg[i].value];
                cr_assert_eq((int64_t)seg[i].flat, off[seg[i].value] + (int64_t)seg[i].elem);
                cr_assert_leq(seg[i].elem + seg[i].len, val->nbytes / sizeof(float));
                cr_assert_gt(seg[i].len, 0u);
                for (size_t k = 0; k < seg[i].len; k++) {
                    size_t f = seg[i].flat + k;
                    cr_assert_eq(owner[f], -1, "%d ranks: float %zu owned twice", ranks, f);
                    owner[f] = r;
                    if (f < front) {
                        cr_assert(f >= lo && f < hi, "front float %zu outside rank %d's slice",
                                  f, r);
                    } else { /* a derived rho: its mu in this rank's slice */
                        int mu = seg[i].value == w_rho ? w_mu : seg[i].value == b_rho ? b_mu : -1;
                        cr_assert_geq(mu, 0, "%s is not derived", val->name);
                        size_t m = (size_t)off[mu] + seg[i].elem + k;
                        cr_assert(m >= lo && m < hi, "rho float %zu's mu %zu is not rank %d's",
                                  f, m, r);
                    }
                }
                floats += seg[i].len;
            }
            work[r] = floats;
            work_total += floats;
            at += floats;
            bnn_shard_destroy(sh);
        }
        cr_assert_eq(prev_hi, front);
        cr_assert_eq(at, n);
        for (size_t i = 0; i < n; i++)
            cr_assert_geq(owner[i], 0, "%d ranks: float %zu has no owner", ranks, i);
        for (int r = 0; r < ranks; r++)
            cr_assert_leq(labs((long)(work[r] * (size_t)ranks) - (long)work_total),
                          (long)(64 * ranks), "%d ranks: rank %d does %zu of %zu", ranks, r,
                          work[r], work_total);
    }
    /* one rank owns it all, and its reduce-scatter and gather leave the
     * buffers as they were */
    bnn_shard *sh = NULL;
    cr_assert_eq(bnn_shard_create(g, off, front, n, 0, 1, &sh, &diag), BNN_OK);
    float *grads = bnn_session_param_grads(s, NULL);
    for (size_t i = 0; i < n; i++)
        grads[i] = (float)i;
    cr_assert_eq(bnn_shard_reduce_scatter(sh, NULL, grads, &diag), BNN_OK);
    cr_assert_eq(bnn_shard_gather_params(sh, NULL, g, &diag), BNN_OK);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(grads[i], (float)i);
    /* sizes that do not add up are refused */
    bnn_shard_destroy(sh);
    sh = NULL;
    cr_assert_eq(bnn_shard_create(g, off, front, n + 1, 0, 2, &sh, &diag), BNN_ERR_INVALID);
    cr_assert_null(sh);
    free(owner);
    bnn_session_destroy(s);
    bnn_graph_destroy(g);
}

Test(comm, hash_tells_bytes_apart)
{
    uint64_t a = bnn_comm_hash(BNN_COMM_HASH_SEED, "model-a", 7);
    uint64_t b = bnn_comm_hash(BNN_COMM_HASH_SEED, "model-b", 7);
    cr_assert_neq(a, b);
    cr_assert_eq(a, bnn_comm_hash(BNN_COMM_HASH_SEED, "model-a", 7));
}

/* An IDX file of u8 rows [7, 3, 2] (row r, element i holds r*6+i) or, with
 * wide, i32 rows [7, 3] (big-endian, value -r*1000-i), plain or gzip'd. */
static void write_idx(const char *path, bool gz, bool wide, int rows)
{
    unsigned char buf[4096];
    size_t n = 0;
    buf[n++] = 0, buf[n++] = 0, buf[n++] = wide ? 0x0C : 0x08, buf[n++] = wide ? 2 : 3;
    int dims[3] = {rows, 3, 2};
    for (int d = 0; d < (wide ? 2 : 3); d++) {
        buf[n++] = 0, buf[n++] = 0, buf[n++] = 0, buf[n++] = (unsigned char)dims[d];
    }
    for (int r = 0; r < 7; r++) /* may be more than `rows`: then the header understates */
        for (int i = 0; i < (wide ? 3 : 6); i++) {
            if (wide) {
                int32_t v = -r * 1000 - i;
                uint32_t u = (uint32_t)v;
                buf[n++] = u >> 24, buf[n++] = u >> 16, buf[n++] = u >> 8, buf[n++] = u;
            } else {
                buf[n++] = (unsigned char)(r * 6 + i);
            }
        }
    if (gz) {
        gzFile f = gzopen(path, "wb");
        cr_assert(f);
        gzwrite(f, buf, (unsigned)n);
        gzclose(f);
    } else {
        FILE *f = fopen(path, "wb");
        cr_assert(f);
        fwrite(buf, 1, n, f);
        fclose(f);
    }
}

Test(rows, idx_ranges_equal_slices_of_the_whole)
{
    char path[] = "/tmp/bnnc-shard-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    for (int variant = 0; variant < 4; variant++) {
        bool gz = variant & 1, wide = variant & 2;
        write_idx(path, gz, wide, 7);
        bnn_tensor whole, part;
        bnn_diag diag;
        cr_assert_eq(bnn_idx_read(path, &whole, &diag), BNN_OK, "%s", diag.message);
        size_t row = bnn_tensor_nbytes(&whole) / 7;
        for (int64_t first = 0; first <= 7; first++)
            for (int64_t count = 0; first + count <= 7; count++) {
                int64_t total = -1;
                cr_assert_eq(bnn_idx_read_rows(path, first, count, &part, &total, &diag), BNN_OK,
                             "%s", diag.message);
                cr_assert_eq(total, 7);
                cr_assert_eq(part.shape.dims[0], count);
                cr_assert_eq(part.shape.rank, whole.shape.rank);
                cr_assert_eq(memcmp(part.data, (char *)whole.data + first * row, count * row), 0,
                             "variant %d rows %lld+%lld", variant, (long long)first,
                             (long long)count);
                bnn_tensor_free(&part);
            }
        cr_assert_eq(bnn_idx_read_rows(path, 5, -1, &part, NULL, &diag), BNN_OK);
        cr_assert_eq(part.shape.dims[0], 2);
        bnn_tensor_free(&part);
        cr_assert_neq(bnn_idx_read_rows(path, 5, 3, &part, NULL, &diag), BNN_OK);
        cr_assert(strstr(diag.message, "the file has 7"), "%s", diag.message);
        cr_assert(strstr(diag.message, path), "%s", diag.message);
        bnn_tensor_free(&whole);
    }
    /* A header that promises 9 rows over 7 rows of data: the rows that exist
     * read, the missing ones fail naming the file. */
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    fclose(f);
    write_idx(path, true, false, 9);
    bnn_tensor part;
    bnn_diag diag;
    cr_assert_eq(bnn_idx_read_rows(path, 0, 7, &part, NULL, &diag), BNN_OK, "%s", diag.message);
    bnn_tensor_free(&part);
    cr_assert_neq(bnn_idx_read_rows(path, 6, 3, &part, NULL, &diag), BNN_OK);
    cr_assert(strstr(diag.message, path) && strstr(diag.message, "ends"), "%s", diag.message);
    unlink(path);
}

Test(rows, npy_ranges_equal_slices_of_the_whole)
{
    char path[] = "/tmp/bnnc-shard-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    bnn_shape shape = {3, {6, 2, 3}};
    bnn_tensor t;
    bnn_diag diag;
    cr_assert_eq(bnn_tensor_alloc(&t, BNN_F32, &shape, &diag), BNN_OK);
    for (int i = 0; i < 36; i++)
        ((float *)t.data)[i] = (float)i * 0.5f - 3;
    cr_assert_eq(bnn_npy_write_file(path, &t, &diag), BNN_OK, "%s", diag.message);
    for (int64_t first = 0; first <= 6; first++)
        for (int64_t count = 0; first + count <= 6; count++) {
            bnn_tensor part;
            int64_t total = -1;
            cr_assert_eq(bnn_npy_read_rows(path, first, count, &part, &total, &diag), BNN_OK,
                         "%s", diag.message);
            cr_assert_eq(total, 6);
            cr_assert_eq(part.shape.rank, 3);
            cr_assert_eq(part.shape.dims[0], count);
            cr_assert_eq(memcmp(part.data, (float *)t.data + first * 6, count * 6 * 4), 0);
            bnn_tensor_free(&part);
        }
    bnn_tensor part;
    cr_assert_neq(bnn_npy_read_rows(path, 4, 3, &part, NULL, &diag), BNN_OK);
    cr_assert(strstr(diag.message, "the array has 6"), "%s", diag.message);
    /* a file cut short is refused as the whole-file reader refuses it */
    cr_assert_eq(truncate(path, 128 + 4 * 30), 0);
    cr_assert_neq(bnn_npy_read_rows(path, 0, 1, &part, NULL, &diag), BNN_OK);
    cr_assert(strstr(diag.message, "does not match"), "%s", diag.message);
    bnn_tensor_free(&t);
    unlink(path);
}

/* Row lists (a rank's examples for an epoch): every ascending subset of the
 * 7 rows, gathered in order, equals the same rows of the whole file. */
Test(rows, idx_and_npy_row_lists_equal_gathers_of_the_whole)
{
    char path[] = "/tmp/bnnc-shard-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    for (int variant = 0; variant < 5; variant++) {
        bool npy = variant == 4, gz = variant & 1, wide = variant & 2;
        bnn_tensor whole;
        bnn_diag diag;
        if (npy) {
            bnn_shape shape = {2, {7, 5}};
            cr_assert_eq(bnn_tensor_alloc(&whole, BNN_I16, &shape, &diag), BNN_OK);
            for (int i = 0; i < 35; i++)
                ((int16_t *)whole.data)[i] = (int16_t)(i * 37 - 500);
            cr_assert_eq(bnn_npy_write_file(path, &whole, &diag), BNN_OK, "%s", diag.message);
        } else {
            write_idx(path, gz, wide, 7);
            cr_assert_eq(bnn_idx_read(path, &whole, &diag), BNN_OK, "%s", diag.message);
        }
        size_t row = bnn_tensor_nbytes(&whole) / 7;
        for (int mask = 0; mask < 128; mask++) {
            int64_t rows[7], count = 0, total = -1;
            for (int r = 0; r < 7; r++)
                if (mask & (1 << r))
                    rows[count++] = r;
            bnn_tensor part;
            bnn_status st = npy ? bnn_npy_read_row_list(path, rows, count, &part, &total, &diag)
                                : bnn_idx_read_row_list(path, rows, count, &part, &total, &diag);
            cr_assert_eq(st, BNN_OK, "variant %d mask %d: %s", variant, mask, diag.message);
            cr_assert_eq(total, 7);
            cr_assert_eq(part.shape.dims[0], count);
            for (int64_t i = 0; i < count; i++)
                cr_assert_eq(memcmp((char *)part.data + i * row,
                                    (char *)whole.data + rows[i] * row, row), 0,
                             "variant %d mask %d row %lld", variant, mask, (long long)rows[i]);
            bnn_tensor_free(&part);
        }
        /* out of order, repeated or out of range: refused */
        int64_t bad[3][2] = {{3, 1}, {2, 2}, {0, 7}};
        for (int b = 0; b < 3; b++) {
            bnn_tensor part;
            bnn_status st = npy ? bnn_npy_read_row_list(path, bad[b], 2, &part, NULL, &diag)
                                : bnn_idx_read_row_list(path, bad[b], 2, &part, NULL, &diag);
            cr_assert_neq(st, BNN_OK, "variant %d bad list %d", variant, b);
            cr_assert(strstr(diag.message, "ascend"), "%s", diag.message);
        }
        bnn_tensor_free(&whole);
    }
    unlink(path);
}
