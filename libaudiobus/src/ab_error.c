/* ab_error.c - messages and names for AB_E... codes. */
#include "audiobus/ab_error.h"

const char *ab_strerror(int err)
{
    switch (err) {
    case AB_OK:
        return "success";
#define AB_ERR_MSG(name, value, msg)                                           \
    case AB_##name:                                                            \
        return msg;
        AB_ERRNO_MAP(AB_ERR_MSG)
#undef AB_ERR_MSG
    default:
        return "unknown error";
    }
}

const char *ab_err_name(int err)
{
    switch (err) {
    case AB_OK:
        return "AB_OK";
#define AB_ERR_NAME(name, value, msg)                                          \
    case AB_##name:                                                            \
        return "AB_" #name;
        AB_ERRNO_MAP(AB_ERR_NAME)
#undef AB_ERR_NAME
    default:
        return "AB_E?";
    }
}
