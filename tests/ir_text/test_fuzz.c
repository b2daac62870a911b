/* A deterministic mini-fuzz: thousands of random mutations of valid texts.
 * Each must either parse, and then print canonically (print, parse, print
 * gives the same text), or fail with a "FILE:LINE:COL: ..." message.  Run
 * under ASan/UBSan by the sanitizer build, where a crash or leak fails. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static uint64_t rng_state;

static uint64_t rng(void)
{
    /* xorshift64*: fixed seed, same mutations on every run. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717u;
}

static size_t pick(size_t n) { return n ? (size_t)(rng() % n) : 0; }

static const char alphabet[] = "%@\"\\[](){},:=?*-_.0123456789eE \n\t/xfin_Nabz";
static const char *const snippets[] = {
    "9999999999999999999999", "-1", "1e400", "0", "nan", "-inf", "[]", "[]:ints", "\"\\x",
    "%\"", "@", "// c\n", "f32[*]", "?[?]", "_", ",", "param %q: f32[2]", "return", "}",
    "%1", "\xff\xfe", "\x01", "1.5", "[1, 2.5]", "{a=1}", ": f32[2]", "18446744073709551616",
    "65536", "N,N,N,N,N,N,N,N", "f16[1] = [1e5]"};

/* Applies 1-4 random edits to text (len bytes) into a fresh buffer. */
static char *mutate(const char *text, size_t len)
{
    size_t cap = len + 4 * 64 + 1;
    char *buf = malloc(cap);
    cr_assert(buf);
    memcpy(buf, text, len + 1);
    int edits = 1 + (int)pick(4);
    for (int e = 0; e < edits; e++) {
        size_t n = strlen(buf);
        size_t at = pick(n + 1);
        switch (pick(7)) {
        case 0: /* replace a byte */
            if (n)
                buf[pick(n)] = pick(4) ? alphabet[pick(sizeof alphabet - 1)] : (char)(1 + pick(255));
            break;
        case 1: { /* delete a run */
            size_t k = 1 + pick(8);
            if (at + k > n)
                k = n - at;
            memmove(buf + at, buf + at + k, n - at - k + 1);
            break;
        }
        case 2: { /* insert a snippet */
            const char *s = snippets[pick(sizeof snippets / sizeof snippets[0])];
            size_t k = strlen(s);
            memmove(buf + at + k, buf + at, n - at + 1);
            memcpy(buf + at, s, k);
            break;
        }
        case 3: { /* duplicate a run */
            size_t from = pick(n + 1), k = pick(40);
            if (from + k > n)
                k = n - from;
            char tmp[40];
            memcpy(tmp, buf + from, k);
            memmove(buf + at + k, buf + at, n - at + 1);
            memcpy(buf + at, tmp, k);
            break;
        }
        case 4: /* truncate */
            buf[at] = '\0';
            break;
        case 5: /* change a digit: often still valid, so the printer gets fuzzed too */
            for (size_t k = 0; k < n; k++) {
                size_t i = (at + k) % n;
                if (buf[i] >= '0' && buf[i] <= '9') {
                    buf[i] = (char)('0' + pick(10));
                    break;
                }
            }
            break;
        default: { /* insert one random byte */
            memmove(buf + at + 1, buf + at, n - at + 1);
            buf[at] = (char)(1 + pick(255));
            break;
        }
        }
    }
    return buf;
}

/* IR_TEXT_FUZZ_ROUNDS and IR_TEXT_FUZZ_SEED run a longer or different
 * campaign by hand; the default is fixed so that the test is reproducible. */
static void fuzz_from(const char *seed_text, uint64_t seed, int rounds, int *parsed)
{
    const char *env_rounds = getenv("IR_TEXT_FUZZ_ROUNDS");
    const char *env_seed = getenv("IR_TEXT_FUZZ_SEED");
    if (env_rounds)
        rounds = atoi(env_rounds);
    if (env_seed)
        seed ^= strtoull(env_seed, NULL, 0) * 0x9e3779b97f4a7c15u;
    rng_state = seed ? seed : 1;
    size_t len = strlen(seed_text);
    for (int r = 0; r < rounds; r++) {
        char *text = mutate(seed_text, len);
        bnn_graph *g = NULL;
        bnn_diag diag = {0};
        bnn_status st = bnn_graph_parse(text, "fuzz.ir", &g, &diag);
        if (st == BNN_OK) {
            (*parsed)++;
            char *once = graph_to_text(g);
            bnn_graph *again = NULL;
            bnn_diag d2 = {0};
            cr_assert_eq(bnn_graph_parse(once, "printed.ir", &again, &d2), BNN_OK,
                         "round %d: printed text does not parse: %s\n%s", r, d2.message, once);
            char *twice = graph_to_text(again);
            cr_assert_str_eq(once, twice, "round %d: printing is not canonical", r);
            free(once);
            free(twice);
            bnn_graph_destroy(again);
            bnn_graph_destroy(g);
        } else {
            int line = 0, col = 0;
            cr_assert_null(g);
            cr_assert(st == BNN_ERR_INVALID, "round %d: status %d: %s", r, st, diag.message);
            cr_assert_eq(sscanf(diag.message, "fuzz.ir:%d:%d: ", &line, &col), 2,
                         "round %d: message without a place: %s", r, diag.message);
            cr_assert(line >= 1 && col >= 1);
        }
        free(text);
    }
}

Test(ir_text, fuzz_features)
{
    char *text = fixture_read("features.ir");
    int parsed = 0;
    fuzz_from(text, 0x9e3779b97f4a7c15u, 2500, &parsed);
    /* Some mutations (in comments, names, numbers) leave valid texts. */
    cr_log_info("%d of the mutated texts parsed", parsed);
    cr_assert_gt(parsed, 0);
    free(text);
}

Test(ir_text, fuzz_lenet5)
{
    char *text = fixture_read("lenet5.ir");
    int parsed = 0;
    fuzz_from(text, 0x2545f4914f6cdd1du, 2500, &parsed);
    cr_log_info("%d of the mutated texts parsed", parsed);
    cr_assert_gt(parsed, 0);
    free(text);
}
