/* Malformed texts: each fails with BNN_ERR_INVALID and a message
 * "t.ir:LINE:COL: ..." pointing at the offending token. */
#include <criterion/criterion.h>
#include <string.h>

#include "helpers.h"

#define H "graph @g(%x: f32[2]) -> (%y: f32[2]) {\n"
#define OK_BODY "  %y = relu(%x) : f32[2]\n  return %y\n}\n"

typedef struct bad_case {
    const char *text;
    const char *message; /* what follows "t.ir:" */
} bad_case;

static const bad_case cases[] = {
    {"", "1:1: expected 'graph', found end of input"},
    {"grph @g", "1:1: expected 'graph', found 'grph'"},
    {"graph g(", "1:7: expected the graph's name such as @main, found 'g'"},
    {"graph @g(%x f32[2]) -> () {\n  return\n}\n", "1:13: expected ':' and a type after the input's name"},
    {"graph @g(%x: f33[2]) -> () {\n  return\n}\n", "1:14: unknown element type 'f33'"},
    {"graph @g(%x: f32[1,2,3,4,5,6,7,8,9]) -> () {\n  return\n}\n", "1:34: more than 8 dims"},
    {"graph @g(%x: f32[-1]) -> () {\n  return\n}\n", "1:18: a dim must be a size >= 0, a symbol or ?"},
    {"graph @g(%x: f32[2x]) -> () {\n  return\n}\n", "1:18: malformed number"},
    {"graph @g(%x: f32[*) -> () {\n  return\n}\n", "1:19: expected ']' after '*'"},
    {"graph @g(%\"\": f32[2]) -> () {\n  return\n}\n", "1:10: a value name cannot be empty"},
    {"graph @g(% : f32[2]) -> () {\n  return\n}\n", "1:10: expected a name or a quoted name after '%'"},
    {"graph @g(%x: f32[2], %x: f32[2]) -> () {\n  return\n}\n", "1:22: value %x is defined twice"},
    {"graph @g(%x: f32[2]) (%y: f32[2]) {\n", "1:22: expected '->' and the graph's outputs"},
    {H "  %y = relu(%z) : f32[2]\n  return %y\n}\n", "2:13: value %z is not defined before this use"},
    {H "  %y = frobnicate(%x) : f32[2]\n", "2:8: unknown op 'frobnicate'"},
    {H "  %x = relu(%x) : f32[2]\n", "2:3: value %x is defined twice"},
    {H "  %y, %y = relu(%x)\n", "2:7: value %y is defined twice"},
    {H "  %y = relu(%y) : f32[2]\n", "2:13: value %y is not defined before this use"},
    {H "  %y = relu(%x %x)\n", "2:16: expected ',' or ')' after an input, found '%x'"},
    {H "  %y = relu(%x, 3)\n", "2:17: expected an input (%name, or _ when absent), found '3'"},
    {H "  %y = relu(%x) : f32[2]\n  return %x\n}\n", "3:10: return value 1 is %x but the header declares another"},
    {H "  %y = relu(%x) : f32[3]\n  return %y\n}\n", "1:26: output %y is declared with another type than its definition"},
    {H "  %y = relu(%x) : f32[2]\n  return\n}\n", "3:3: return gives 0 values, the header declares 1 outputs"},
    {H "  %y = relu(%x) : f32[2]\n  return %q\n}\n", "3:10: returned value %q is not defined"},
    {H "  %y = relu(%x) : f32[2]\n}\n", "3:1: expected 'param', a node, 'opset' or 'return', found '}'"},
    {H "  %y = relu(%x) : f32[2]\n  return %y\n", "4:1: expected '}' after return, found end of input"},
    {H OK_BODY "x", "5:1: expected end of input after the graph's '}', found 'x'"},
    {H "  %y = relu(%x) {alpha=}", "2:24: expected an attribute value (int, float, \"string\" or [list]), found '}'"},
    {H "  %y = relu(%x) {a=1, a=2}", "2:23: attribute 'a' given twice"},
    {H "  %y = relu(%x) {a=[]} : f32[2]", "2:20: an empty list needs its kind: []:ints or []:floats"},
    {H "  %y = relu(%x) {a=[]:foo}", "2:23: expected 'ints' or 'floats' after ':', found 'foo'"},
    {H "  %y = relu(%x) {a=[1.5]:ints}", "2:20: a float in a list marked ':ints'"},
    {H "  %y = relu(%x) {a=[1, \"s\"]}", "2:24: expected a number in the list, found '\"s\"'"},
    {H "  %y = relu(%x) {a=\"abc\n", "2:20: unterminated string"},
    {H "  %y = relu(%x) {a=\"\\q\"}", "2:21: unknown escape in a string"},
    {H "  %y = relu(%x) {a=\"\\x00\"}", "2:21: \\x00 is not allowed in a string"},
    {H "  %y = relu(%x) {a=\"\\x4\"}", "2:21: expected two hex digits after \\x"},
    {H "  %y = relu(%x) {a=9223372036854775808}", "2:20: integer 9223372036854775808 does not fit in 64 bits"},
    {H "  %y = relu(%x) {a=1e39}", "2:20: 1e39 is out of range for f32"},
    {H "  %y = relu(%x) {a=1e}", "2:20: malformed number: expected digits in the exponent"},
    {H "  %y = relu(%x) {a 1}", "2:20: expected '=' after the attribute name, found '1'"},
    {H "  %y = relu(%x) {a=1 b=2}", "2:22: expected ',' or '}' after an attribute, found 'b'"},
    {H "  %y = relu(%x) : f32[2], f32[2]\n", "2:17: more types than the node's 1 results"},
    {H "  %y, %z = relu(%x) : f32[2]\n", "2:21: 1 types for the node's 2 results"},
    {H "  %y = relu(%x) : [2]\n", "2:19: expected a type such as f32[N,10], found '['"},
    {H "  param %p: f32[3] = [1.0, 2.0]\n", "2:22: 2 values for a shape of 3 elements"},
    {H "  param %p: f32[1] = [1.0, 2.0]\n", "2:28: more values than the 1 the shape holds"},
    {H "  param %p: u8[1] = [256]\n", "2:22: 256 is out of range for u8"},
    {H "  param %p: i8[1] = [-129]\n", "2:22: -129 is out of range for i8"},
    {H "  param %p: bool[1] = [2]\n", "2:24: 2 is out of range for bool"},
    {H "  param %p: u64[1] = [-1]\n", "2:23: -1 is out of range for u64"},
    {H "  param %p: f16[1] = [70000.0]\n", "2:23: value out of range for f16"},
    {H "  param %p: i64[1] = [1.5]\n", "2:23: expected an integer, found '1.5'"},
    {H "  param %p: f32[N]\n", "2:13: a param's shape must be sizes only"},
    {H "  param %p: ?[2]\n", "2:13: a param needs an element type"},
    {H "  param %p: f32[100000,100000,100000]\n", "2:13: param larger than 1073741824 bytes"},
    /* 96 MiB and 48 MiB without data: the second passes the 128 MiB budget. */
    {H "  param %a: f32[1024,1024,24]\n  param %b: f32[1024,1024,12]\n",
     "3:13: params without inline data (zero-filled) would take more than 128 MiB in all"},
    {H "  param %p: string[1] = [1]\n", "2:9: a string param has no inline data"},
    {H "  param %x: f32[1]\n", "2:9: value %x is defined twice"},
    {H "  param %p: f32[1] = 1.0\n", "2:22: expected '[' and the param's values, found '1.0'"},
    {H "  opset 13\n  opset 13\n", "3:3: opset given twice"},
    {H "  opset 0\n", "2:9: the opset must be >= 1"},
    {H "  opset x\n", "2:9: expected the ONNX opset version, found 'x'"},
    {H "  $", "2:3: unexpected character '$'"},
    {H "  \x01", "2:3: unexpected byte 0x01"},
    {H "  / comment", "2:3: unexpected character '/'"},
    {H "  - x", "2:3: unexpected character '-'"},
    {H "  %y = relu(%x) : f32[2] @\n", "2:26: expected a name or a quoted name after '@'"},
    {"graph @g(%x: f32[2]) -> (%y: f32[2]) {\n  %y = relu(%x)\n  return %y\n}\n",
     "1:26: output %y is declared with another type than its definition"},
};

Test(ir_text, malformed_texts)
{
    int mismatches = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bnn_graph *g = (bnn_graph *)1;
        bnn_diag diag = {0};
        bnn_status st = bnn_graph_parse(cases[i].text, "t.ir", &g, &diag);
        cr_assert_eq(st, BNN_ERR_INVALID, "case %zu parsed (status %d):\n%s", i, st, cases[i].text);
        cr_assert_null(g, "case %zu: *out must be NULL on failure", i);
        cr_assert_eq(diag.status, BNN_ERR_INVALID);
        char want[512];
        snprintf(want, sizeof want, "t.ir:%s", cases[i].message);
        if (strncmp(diag.message, want, strlen(want)) != 0) {
            cr_log_error("case %zu:\n  got  %s\n  want %s", i, diag.message, want);
            mismatches++;
        }
    }
    cr_assert_eq(mismatches, 0, "%d messages differ from the expected ones", mismatches);
}

/* A missing filename and a NULL text still give a message, not a crash. */
Test(ir_text, null_arguments)
{
    bnn_graph *g = NULL;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_graph_parse(NULL, NULL, &g, &diag), BNN_ERR_INVALID);
    cr_assert_str_eq(diag.message, "<input>:1:1: expected 'graph', found end of input");
    cr_assert_eq(bnn_graph_parse("graph", "x.ir", &g, NULL), BNN_ERR_INVALID, "diag may be NULL");
    cr_assert_null(g);
}
