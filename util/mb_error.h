/* mb_error: the one error domain of migbench.
 *
 * Errors travel as GError (glib's convention) so every layer can add context with
 * g_prefix_error().  The error *code* is the QMP error class, because most errors end up
 * in a QMP reply and QEMU's clients (libvirt) dispatch on the class name.  Code that is
 * not QMP-facing simply uses MB_ERR_GENERIC. */
#ifndef MB_ERROR_H
#define MB_ERROR_H

#include <glib.h>

#define MB_ERROR (mb_error_quark())

typedef enum {
    MB_ERR_GENERIC = 0,       /* "GenericError" */
    MB_ERR_COMMAND_NOT_FOUND, /* "CommandNotFound" */
    MB_ERR_DEVICE_NOT_ACTIVE, /* "DeviceNotActive" */
    MB_ERR_DEVICE_NOT_FOUND,  /* "DeviceNotFound" */
    MB_ERR_KVM_MISSING_CAP,   /* "KVMMissingCap" */
} MbErrorClass;

GQuark mb_error_quark(void);

/* The QMP wire name of an error class ("GenericError", ...).  Never NULL. */
const char *mb_error_class_name(int code);

/* Set *err (if err is not NULL) to a GenericError with a printf-style message. */
void mb_error_set(GError **err, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

#endif
