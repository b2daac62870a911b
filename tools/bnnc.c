/* bnnc: turn ordinary neural networks into Bayesian ones.
 * The entry point only dispatches to a subcommand (tools/cmd_*.c). */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bnn_runtime.h"
#include "cli.h"

static const struct {
    const char *name;
    bnnc_command_fn run;
    const char *summary;
} commands[] = {
    {"convert", bnnc_cmd_convert, "replace Dense/Conv layers with Bayesian ones"},
    {"dump", bnnc_cmd_dump, "print a model's IR"},
    {"run", bnnc_cmd_run, "run a model on inputs from .npy files"},
    {"train", bnnc_cmd_train, "train a model (Bayes by Backprop for Bayesian layers)"},
    {"eval", bnnc_cmd_eval, "accuracy, calibration and uncertainty on a data set"},
    {"calibrate", bnnc_cmd_calibrate, "fit a temperature on held-out data"},
    {"bench", bnnc_cmd_bench, "time inference or training steps"},
    {"export", bnnc_cmd_export, "write a Bayesian model as standard ONNX or as its mean"},
    {"passes", bnnc_cmd_passes, "list the passes and their options"},
    {"ops", bnnc_cmd_ops, "list the supported ONNX ops"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: bnnc COMMAND [OPTIONS] [ARGS]\n\n"
                 "Turns a trained ONNX network into a Bayesian one, and runs, trains and\n"
                 "evaluates it.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'bnnc COMMAND --help' describes a command.\n"
                 "options: --help, --version\n"
                 "  --max-memory SIZE  (any command) refuse to plan a model needing more than\n"
                 "                     SIZE bytes of activations (K, M, G suffixes); default:\n"
                 "                     the memory available when bnnc starts\n");
}

/* True for the commands that run training steps. */
static bool trains(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "train") == 0)
        return true;
    for (int i = 2; argc > 1 && strcmp(argv[1], "bench") == 0 && i < argc; i++)
        if (strcmp(argv[i], "--train") == 0)
            return true;
    return false;
}

/* libgomp reads its wait policy, and OpenBLAS OPENBLAS_THREAD_TIMEOUT, once,
 * when they are loaded.  By default libgomp's idle threads spin for 300,000
 * rounds after each parallel region and take the cores OpenBLAS's threads
 * need next (on 2 busy cores the MLP's dense layers ran 7x slower); waiting
 * passively instead makes every parallel region pay a wake-up (LeNet-5 at
 * batch 64: 0.72 ms against 0.45 ms).  A short spin of 2,000 rounds, then
 * sleep, was as good as either at its best on every benchmark of tools/bench.
 * OpenBLAS's short timeout pays only in training, where our own OpenMP loops
 * run between GEMMs (Bayesian MLP step 70 -> 42 ms); for inference its
 * wake-up costs more than it saves (MLP batch 1: 0.06 -> 0.11 ms).  So, unless
 * the user chose otherwise, re-execute once with these settings.  If the
 * re-execution fails, go on as we are. */
static void prefer_short_waits(int argc, char **argv)
{
    bool changed = false;
    if (!getenv("OMP_WAIT_POLICY") && !getenv("GOMP_SPINCOUNT"))
        changed |= setenv("OMP_WAIT_POLICY", "active", 1) == 0 &&
                   setenv("GOMP_SPINCOUNT", "2000", 1) == 0;
    if (trains(argc, argv) && !getenv("OPENBLAS_THREAD_TIMEOUT"))
        changed |= setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1) == 0;
    if (!changed)
        return;
    fflush(NULL);
    execv("/proc/self/exe", argv);
}

/* The memory available now (MemAvailable), the default --max-memory; 0 if
 * unknown (no cap). */
static size_t available_memory(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
            break;
    fclose(f);
    return kb > SIZE_MAX / 1024 ? SIZE_MAX : (size_t)kb * 1024;
}

/* "512M", "2G", "1000000" (bytes; K, M, G, T are powers of 1024). */
static bool parse_size(const char *text, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (end == text || errno || *text == '-')
        return false;
    unsigned shift = 0;
    switch (*end) {
    case 0: break;
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    case 't': case 'T': shift = 40; end++; break;
    default: return false;
    }
    if ((*end == 'B' || *end == 'b') && shift)
        end++;
    if (*end || v == 0 || v > (SIZE_MAX >> shift))
        return false;
    *out = (size_t)v << shift;
    return true;
}

/* Takes --max-memory SIZE (or --max-memory=SIZE) out of argv, wherever it is,
 * and sets it as every session's limit; the default is the memory available
 * now.  Returns false (after a message) on a bad size. */
static bool take_max_memory(int *argc, char **argv)
{
    size_t limit = available_memory();
    int out = 0;
    for (int i = 0; i < *argc; i++) {
        const char *value = NULL;
        if (strcmp(argv[i], "--max-memory") == 0 && i + 1 < *argc)
            value = argv[++i];
        else if (strncmp(argv[i], "--max-memory=", 13) == 0)
            value = argv[i] + 13;
        else if (strcmp(argv[i], "--") == 0) {
            while (i < *argc)
                argv[out++] = argv[i++];
            break;
        } else {
            argv[out++] = argv[i];
            continue;
        }
        if (!parse_size(value, &limit)) {
            fprintf(stderr, "bnnc: --max-memory wants a size such as 512M or 4G, not '%s'\n",
                    value);
            return false;
        }
    }
    argv[out] = NULL;
    *argc = out;
    bnn_runtime_set_max_memory(limit);
    return true;
}

int main(int argc, char **argv)
{
    /* Past a file size limit (ulimit -f) write() must fail with EFBIG, so the
     * output's writer reports it and removes its temporary file, rather than
     * SIGXFSZ ending the process with the temporary file left behind. */
    signal(SIGXFSZ, SIG_IGN);
    prefer_short_waits(argc, argv);
    if (!take_max_memory(&argc, argv))
        return BNNC_EXIT_USAGE;
    if (argc < 2) {
        usage(stderr);
        return BNNC_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        usage(stdout);
        return BNNC_EXIT_OK;
    }
    if (strcmp(name, "--version") == 0) {
        printf("bnnc %s\n", BNNC_VERSION);
        return BNNC_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(name, commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "bnnc: unknown command '%s'\n", name);
    usage(stderr);
    return BNNC_EXIT_USAGE;
}
