/* mb_error: GError domain whose codes are the QMP error classes (see mb_error.h). */
#include "mb_error.h"

#include <stdarg.h>

GQuark mb_error_quark(void)
{
    return g_quark_from_static_string("migbench-error");
}

const char *mb_error_class_name(int code)
{
    switch (code) {
    case MB_ERR_COMMAND_NOT_FOUND: return "CommandNotFound";
    case MB_ERR_DEVICE_NOT_ACTIVE: return "DeviceNotActive";
    case MB_ERR_DEVICE_NOT_FOUND: return "DeviceNotFound";
    case MB_ERR_KVM_MISSING_CAP: return "KVMMissingCap";
    default: return "GenericError";
    }
}

void mb_error_set(GError **err, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return;
    g_return_if_fail(*err == NULL);
    va_start(ap, fmt);
    *err = g_error_new_valist(MB_ERROR, MB_ERR_GENERIC, fmt, ap);
    va_end(ap);
}
