/* Owned and borrowed tensors. */
#include <stdlib.h>
#include <string.h>

#include "bnn_tensor.h"

bnn_status bnn_tensor_alloc(bnn_tensor *t, bnn_dtype dtype, const bnn_shape *shape, bnn_diag *diag)
{
    memset(t, 0, sizeof *t);
    int64_t n = bnn_shape_numel(shape);
    size_t elem = bnn_dtype_size(dtype);
    if (n < 0 || elem == 0)
        return bnn_fail(diag, BNN_ERR_INVALID, "cannot allocate a tensor of shape with unknown dims or type");
    if ((uint64_t)n > (SIZE_MAX - 64) / elem)
        return bnn_fail(diag, BNN_ERR_NOMEM, "tensor of %lld elements is too large", (long long)n);
    size_t bytes = ((size_t)n * elem + 63) & ~(size_t)63;
    void *data = aligned_alloc(64, bytes ? bytes : 64);
    if (!data)
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory for a tensor of %zu bytes", bytes);
    memset(data, 0, bytes ? bytes : 64);
    t->dtype = dtype;
    t->shape = *shape;
    t->data = data;
    t->owns_data = true;
    return BNN_OK;
}

void bnn_tensor_free(bnn_tensor *t)
{
    if (t->owns_data)
        free(t->data);
    memset(t, 0, sizeof *t);
}

int64_t bnn_tensor_numel(const bnn_tensor *t)
{
    return bnn_shape_numel(&t->shape);
}

size_t bnn_tensor_nbytes(const bnn_tensor *t)
{
    int64_t n = bnn_shape_numel(&t->shape);
    return n < 0 ? 0 : (size_t)n * bnn_dtype_size(t->dtype);
}

bnn_tensor bnn_tensor_view_param(const bnn_value *param)
{
    bnn_tensor t = {param->dtype, param->shape, param->data, false};
    return t;
}

const char *bnn_shape_format(const bnn_shape *shape, bnn_dtype dtype, char *buf, size_t n)
{
    size_t at = 0;
    const char *name = bnn_dtype_name(dtype);
    at += (size_t)snprintf(buf + at, n - at, "%s[", name ? name : "?");
    for (int i = 0; i < shape->rank && at < n; i++) {
        int64_t d = shape->dims[i];
        if (d >= 0)
            at += (size_t)snprintf(buf + at, n - at, "%s%lld", i ? "," : "", (long long)d);
        else
            at += (size_t)snprintf(buf + at, n - at, "%s?", i ? "," : "");
    }
    if (at < n)
        snprintf(buf + at, n - at, "]");
    return buf;
}
