/* Fuzz target: the pass-pipeline parser, then the canonical form of whatever
 * it accepted, which must parse again to the same canonical form. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_passes.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char text[4097];
    memcpy(text, data, size);
    text[size] = 0;
    bnn_diag diag = {0};
    bnn_pipeline *p = NULL;
    bnn_status st = bnn_pipeline_parse(text, &p, &diag);
    fuzz_check(st, &diag);
    if (st == BNN_OK) {
        static char canon[65536], again[65536];
        bnn_pipeline_format(p, canon, sizeof canon);
        bnn_pipeline *q = NULL;
        if (strlen(canon) + 1 < sizeof canon) {
            if (bnn_pipeline_parse(canon, &q, &diag) != BNN_OK) {
                fprintf(stderr, "fuzz: canonical pipeline '%s' does not parse: %s\n", canon,
                        diag.message);
                abort();
            }
            bnn_pipeline_format(q, again, sizeof again);
            if (strcmp(canon, again) != 0) {
                fprintf(stderr, "fuzz: '%s' formats as '%s'\n", canon, again);
                abort();
            }
        }
        bnn_pipeline_destroy(q);
    }
    bnn_pipeline_destroy(p);
    return 0;
}
