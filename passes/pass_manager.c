/* pass manager (stub) */
#include "bnn_ir.h"
