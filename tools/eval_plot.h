/* The SVG report of `bnnc eval --plot`: a reliability diagram and histograms
 * of predictive entropy in and out of distribution, in one self-contained
 * file a browser opens. */
#ifndef BNNC_EVAL_PLOT_H
#define BNNC_EVAL_PLOT_H

#include <stdint.h>

#include "bnn_diag.h"

typedef struct eval_plot {
    const char *title;
    int bins;                  /* reliability bins */
    const int64_t *bin_count;  /* per bin */
    const double *bin_accuracy, *bin_confidence;
    const int64_t *mean_bin_count; /* the posterior-mean model's, or NULL */
    const double *mean_bin_accuracy;
    const float *entropy_in;   /* per in-distribution example */
    int64_t n_in;
    const float *entropy_out;  /* per OOD example, or NULL */
    int64_t n_out;
    double max_entropy;        /* log(classes) */
    const char *subtitle;      /* one line under the title (metrics), or NULL */
    double ece, mean_ece;      /* for the legend; NAN when absent */
} eval_plot;

/* Writes the SVG atomically (temporary file, then rename). */
bnn_status eval_plot_write(const char *path, const eval_plot *plot, bnn_diag *diag);

#endif
