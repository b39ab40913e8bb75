/* run_vm: the two `migbench vm` child processes of a `migbench run`.
 *
 * A run is only as clear as what it says when a vm fails, so each vm's stderr goes to its
 * own file (stdout to NAME.log, stderr to NAME.stderr in the work directory) and, when a vm
 * dies at any point, run_vm_exit_message() says which side, how it ended and what it wrote
 * on stderr.  Connecting to a fresh vm watches the process too, so a vm that dies while
 * starting is reported at once instead of after a connect timeout. */
#ifndef RUN_VM_H
#define RUN_VM_H

#include "qmp_client.h"

#include <gio/gio.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    const char *name; /* "source" or "destination" (static) */
    GSubprocess *proc;
    QmpClient *qmp;
    gchar *qmp_path;
    gchar *report_path;
    gchar *log_path; /* stdout */
    gchar *err_path; /* stderr */
} RunVm;

/* Starts `migbench vm --qmp unix:DIR/NAME.qmp --report DIR/NAME.report.json ARGS...` (this
 * same binary) and connects to its monitor, waiting up to `timeout_ms` for it to listen.
 * `vm` must be zeroed; `args` is NULL-terminated.  False with *err when it cannot be
 * started, or dies before it listens (run_vm_exit_message's text), or does not listen in
 * time.  Call run_vm_stop() in every case. */
bool run_vm_start(RunVm *vm, const char *dir, const char *name, const char *const *args,
                  int timeout_ms, GError **err);

/* When the vm process has ended, or ends within `wait_ms`: "NAME vm exited with status N"
 * or "NAME vm was killed by signal N", then ": " and the end of its stderr (at most the
 * last 4 KiB, trimmed) when it wrote any.  NULL while it still runs.  New string. */
gchar *run_vm_exit_message(RunVm *vm, int wait_ms);

/* Quits the vm over QMP and reaps it (a vm that does not exit within 10 s is killed), then
 * frees what run_vm_start allocated.  Safe on a vm that never started. */
void run_vm_stop(RunVm *vm);

#endif
