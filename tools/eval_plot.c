/* SVG reliability diagram and entropy histograms (see eval_plot.h). */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bnn_file.h"
#include "eval_plot.h"

enum { PANEL = 360, MARGIN = 50, TOP = 80, HIST_BINS = 30 };

/* Text from the user (the model's path) with XML's special characters
 * escaped, so any path gives a well-formed file. */
static void put_xml_text(FILE *f, const char *s)
{
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        switch (*c) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default:
            if (*c >= 0x20 || *c == '\t' || *c == '\n')
                fputc(*c, f);
            else
                fputc('?', f); /* XML 1.0 has no way to write other control characters */
        }
    }
}

static void axes(FILE *f, int x0, int y0, const char *title, const char *xlabel,
                 const char *ylabel)
{
    fprintf(f, "<g transform=\"translate(%d,%d)\">\n", x0, y0);
    fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#fafafa\" stroke=\"#333\"/>\n",
            PANEL, PANEL);
    fprintf(f, "<text x=\"%d\" y=\"-12\" text-anchor=\"middle\" font-size=\"15\">%s</text>\n",
            PANEL / 2, title);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"12\">%s</text>\n",
            PANEL / 2, PANEL + 34, xlabel);
    fprintf(f, "<text transform=\"translate(-34,%d) rotate(-90)\" text-anchor=\"middle\" "
               "font-size=\"12\">%s</text>\n", PANEL / 2, ylabel);
    for (int t = 0; t <= 4; t++) {
        double v = t / 4.0;
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" font-size=\"10\">%.2f</text>\n",
                v * PANEL, PANEL + 15, v);
    }
}

static void reliability(FILE *f, const eval_plot *p)
{
    axes(f, MARGIN, TOP, "Reliability diagram", "confidence (max probability)", "accuracy");
    for (int t = 0; t <= 4; t++)
        fprintf(f, "<text x=\"-6\" y=\"%.1f\" text-anchor=\"end\" font-size=\"10\">%.2f</text>\n",
                PANEL - t / 4.0 * PANEL + 3, t / 4.0);
    fprintf(f, "<line x1=\"0\" y1=\"%d\" x2=\"%d\" y2=\"0\" stroke=\"#999\" stroke-dasharray=\"4\"/>\n",
            PANEL, PANEL);
    double w = (double)PANEL / p->bins;
    for (int b = 0; b < p->bins; b++) {
        if (!p->bin_count[b])
            continue;
        double h = p->bin_accuracy[b] * PANEL;
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#3b75af\" "
                   "fill-opacity=\"0.8\"><title>%lld examples, accuracy %.3f, confidence %.3f"
                   "</title></rect>\n",
                b * w + 1, PANEL - h, w - 2, h, (long long)p->bin_count[b], p->bin_accuracy[b],
                p->bin_confidence[b]);
    }
    /* How many examples each bin holds, as dark strips along the bottom (at
     * most 40 px): a bin of three examples says little about calibration. */
    int64_t most = 0;
    for (int b = 0; b < p->bins; b++)
        most = p->bin_count[b] > most ? p->bin_count[b] : most;
    for (int b = 0; b < p->bins && most > 0; b++)
        if (p->bin_count[b]) {
            double h = 40.0 * (double)p->bin_count[b] / (double)most;
            h = h < 1 ? 1 : h;
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                       "fill=\"#333\" fill-opacity=\"0.6\"/>\n",
                    b * w + 1, PANEL - h, w - 2, h);
        }
    /* A pale box behind the legend keeps it readable over bars and line. */
    fprintf(f, "<rect x=\"4\" y=\"6\" width=\"310\" height=\"%d\" fill=\"white\" "
               "fill-opacity=\"0.8\"/>\n", p->mean_bin_count ? 46 : 32);
    char ece[64] = "";
    if (isfinite(p->ece))
        snprintf(ece, sizeof ece, " (ECE %.3f)", p->ece);
    if (p->mean_bin_count) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"#d9822b\" stroke-width=\"2\" points=\"");
        for (int b = 0; b < p->bins; b++)
            if (p->mean_bin_count[b])
                fprintf(f, "%.1f,%.1f ", (b + 0.5) * w, PANEL - p->mean_bin_accuracy[b] * PANEL);
        fprintf(f, "\"/>\n");
        for (int b = 0; b < p->bins; b++)
            if (p->mean_bin_count[b])
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"#d9822b\"/>\n",
                        (b + 0.5) * w, PANEL - p->mean_bin_accuracy[b] * PANEL);
        char mean_ece[64] = "";
        if (isfinite(p->mean_ece))
            snprintf(mean_ece, sizeof mean_ece, " (ECE %.3f)", p->mean_ece);
        fprintf(f, "<text x=\"8\" y=\"18\" font-size=\"11\" fill=\"#3b75af\">bars: Bayesian "
                   "predictive mean%s</text>\n<text x=\"8\" y=\"32\" font-size=\"11\" "
                   "fill=\"#d9822b\">line: posterior-mean model%s</text>\n", ece, mean_ece);
    } else {
        fprintf(f, "<text x=\"8\" y=\"18\" font-size=\"11\" fill=\"#3b75af\">bars: the "
                   "model%s</text>\n", ece);
    }
    fprintf(f, "<text x=\"8\" y=\"%d\" font-size=\"11\" fill=\"#555\">dashed: perfect "
               "calibration; dark: examples per bin</text>\n",
            p->mean_bin_count ? 46 : 32);
    fprintf(f, "</g>\n");
}

static void histogram(const float *v, int64_t n, double max, int64_t *counts)
{
    memset(counts, 0, sizeof(int64_t) * HIST_BINS);
    for (int64_t i = 0; i < n; i++) {
        int b = max > 0 ? (int)(v[i] / max * HIST_BINS) : 0;
        counts[b < 0 ? 0 : b >= HIST_BINS ? HIST_BINS - 1 : b]++;
    }
}

static void entropies(FILE *f, const eval_plot *p)
{
    int x0 = 2 * MARGIN + PANEL + 20;
    axes(f, x0, TOP, "Predictive entropy", "entropy / log(classes)", "fraction of examples");
    int64_t in[HIST_BINS], out[HIST_BINS];
    histogram(p->entropy_in, p->n_in, p->max_entropy, in);
    if (p->entropy_out)
        histogram(p->entropy_out, p->n_out, p->max_entropy, out);
    double top = 0;
    for (int b = 0; b < HIST_BINS; b++) {
        double a = p->n_in ? (double)in[b] / (double)p->n_in : 0;
        double o = p->entropy_out && p->n_out ? (double)out[b] / (double)p->n_out : 0;
        top = a > top ? a : top;
        top = o > top ? o : top;
    }
    /* Head room, so the tallest bar stays clear of the legend. */
    top = top > 0 ? top * 1.15 : 1;
    for (int t = 0; t <= 4; t++)
        fprintf(f, "<text x=\"-6\" y=\"%.1f\" text-anchor=\"end\" font-size=\"10\">%.2f</text>\n",
                PANEL - t / 4.0 * PANEL + 3, t / 4.0 * top);
    double w = (double)PANEL / HIST_BINS;
    for (int s = 0; s < (p->entropy_out ? 2 : 1); s++) {
        const int64_t *c = s ? out : in;
        int64_t n = s ? p->n_out : p->n_in;
        for (int b = 0; b < HIST_BINS; b++) {
            double h = n ? (double)c[b] / (double)n / top * PANEL : 0;
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" "
                       "fill-opacity=\"0.55\"/>\n",
                    b * w, PANEL - h, w, h, s ? "#c23b22" : "#3b75af");
        }
    }
    fprintf(f, "<text x=\"%d\" y=\"18\" font-size=\"11\" fill=\"#3b75af\" text-anchor=\"end\">"
               "in distribution (%lld)</text>\n", PANEL - 8, (long long)p->n_in);
    if (p->entropy_out)
        fprintf(f, "<text x=\"%d\" y=\"32\" font-size=\"11\" fill=\"#c23b22\" text-anchor=\"end\">"
                   "out of distribution (%lld)</text>\n", PANEL - 8, (long long)p->n_out);
    fprintf(f, "</g>\n");
}

bnn_status eval_plot_write(const char *path, const eval_plot *p, bnn_diag *diag)
{
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    if (!tmp)
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
    snprintf(tmp, n, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        if (fd >= 0)
            close(fd);
        free(tmp);
        return bnn_fail(diag, BNN_ERR_IO, "cannot create a temporary file: %s", strerror(errno));
    }
    bnn_file_umask_mode(fd);
    int width = 3 * MARGIN + 2 * PANEL + 20, height = TOP + PANEL + MARGIN;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n<title>",
            width, height, width, height);
    put_xml_text(f, p->title ? p->title : "bnnc eval");
    fprintf(f, "</title>\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
               "<text x=\"%d\" y=\"20\" font-size=\"13\" font-weight=\"bold\">", MARGIN);
    put_xml_text(f, p->title ? p->title : "bnnc eval");
    fprintf(f, "</text>\n");
    if (p->subtitle) {
        fprintf(f, "<text x=\"%d\" y=\"38\" font-size=\"11\" fill=\"#444\">", MARGIN);
        put_xml_text(f, p->subtitle);
        fprintf(f, "</text>\n");
    }
    reliability(f, p);
    entropies(f, p);
    fprintf(f, "</svg>\n");
    bool ok = fflush(f) == 0 && !ferror(f) && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        int err = errno;
        unlink(tmp);
        free(tmp);
        return bnn_fail(diag, BNN_ERR_IO, "write failed: %s", strerror(err));
    }
    free(tmp);
    return BNN_OK;
}
