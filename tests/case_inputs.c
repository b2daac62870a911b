/* See case_inputs.h. */
#include <string.h>

#include "case_inputs.h"

static bool is(const char *op, const char *want) { return strcmp(op, want) == 0; }

bool case_input_is_constant(const Onnx__GraphProto *g, const char *name)
{
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *nd = g->node[i];
        const char *op = nd->op_type ? nd->op_type : "";
        bool all = is(op, "Range") || is(op, "NonZero") || is(op, "Unique") ||
                   is(op, "MelWeightMatrix");
        bool second = is(op, "OneHot") || is(op, "Compress"); /* input 1 */
        bool resample = is(op, "Resize") || is(op, "Upsample"); /* inputs 1 on */
        bool dropout = is(op, "Dropout"), stft = is(op, "STFT");
        for (size_t k = 0; k < nd->n_input; k++) {
            bool wanted = all || (second && k == 1) || ((resample || dropout) && k >= 1) ||
                          (stft && k == 2);
            if (wanted && nd->input[k] && strcmp(nd->input[k], name) == 0)
                return true;
        }
    }
    return false;
}
