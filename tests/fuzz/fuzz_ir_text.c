/* Fuzz target: the IR text parser, then a print of whatever it accepted and
 * a parse of that print (which must succeed: print(parse(text)) is text). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_ir.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    bnn_diag diag = {0};
    bnn_graph *g = NULL;
    bnn_status st = bnn_graph_parse(text, "fuzz.bnn", &g, &diag);
    fuzz_check(st, &diag);
    if (st == BNN_OK) {
        char *printed = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&printed, &len);
        if (f) {
            bnn_status ps = bnn_graph_print(g, f);
            fclose(f);
            bnn_graph *again = NULL;
            if (ps == BNN_OK) {
                bnn_status st2 = bnn_graph_parse(printed, "printed.bnn", &again, &diag);
                if (st2 != BNN_OK && st2 != BNN_ERR_NOMEM) {
                    fprintf(stderr, "fuzz: the printed graph does not parse back: %s\n",
                            diag.message);
                    abort();
                }
            }
            bnn_graph_destroy(again);
            free(printed);
        }
    }
    bnn_graph_destroy(g);
    free(text);
    return 0;
}
