/* bnn_version(): the library's own version, which a program compares with the
 * BNNC_VERSION_* macros it was compiled against. */
#include "bnnc_version.h"

const char *bnn_version(void)
{
    return BNNC_VERSION_STRING;
}
