/* run_vm: starting, watching and stopping the vm processes of a run (see run_vm.h).
 *
 * GSubprocess reaps its child on GLib's worker thread; g_subprocess_get_identifier()
 * turns NULL once it has, which is what the bounded waits below look at. */
#include "run_vm.h"

#include "mb_error.h"
#include "mb_util.h"

#include <string.h>

#define STDERR_TAIL 4096

/* True once the process has ended, waiting for that up to `wait_ms`. */
static bool ended(RunVm *vm, int wait_ms)
{
    int64_t deadline = mb_monotonic_ns() + (int64_t)wait_ms * 1000000;

    while (g_subprocess_get_identifier(vm->proc) && mb_monotonic_ns() < deadline)
        g_usleep(1000);
    if (g_subprocess_get_identifier(vm->proc))
        return false;
    g_subprocess_wait(vm->proc, NULL, NULL); /* returns at once: the child is reaped */
    return true;
}

gchar *run_vm_exit_message(RunVm *vm, int wait_ms)
{
    GString *msg;
    gchar *text = NULL;
    gsize len = 0;

    if (!vm->proc || !ended(vm, wait_ms))
        return NULL;
    msg = g_string_new(NULL);
    if (g_subprocess_get_if_signaled(vm->proc))
        g_string_printf(msg, "%s vm was killed by signal %d", vm->name,
                        g_subprocess_get_term_sig(vm->proc));
    else
        g_string_printf(msg, "%s vm exited with status %d", vm->name,
                        g_subprocess_get_exit_status(vm->proc));
    if (vm->err_path && g_file_get_contents(vm->err_path, &text, &len, NULL)) {
        const char *tail = len > STDERR_TAIL ? text + len - STDERR_TAIL : text;
        gchar *t = g_strstrip(g_strdup(tail));
        if (*t)
            g_string_append_printf(msg, ": %s", t);
        g_free(t);
        g_free(text);
    }
    return g_string_free(msg, FALSE);
}

bool run_vm_start(RunVm *vm, const char *dir, const char *name, const char *const *args,
                  int timeout_ms, GError **err)
{
    gchar *self = g_file_read_link("/proc/self/exe", err);
    GPtrArray *argv;
    GSubprocessLauncher *l;

    vm->name = name;
    if (!self)
        return false;
    vm->qmp_path = g_strdup_printf("%s/%s.qmp", dir, name);
    vm->report_path = g_strdup_printf("%s/%s.report.json", dir, name);
    vm->log_path = g_strdup_printf("%s/%s.log", dir, name);
    vm->err_path = g_strdup_printf("%s/%s.stderr", dir, name);
    gchar *addr = g_strdup_printf("unix:%s", vm->qmp_path);
    argv = g_ptr_array_new();
    const char *fixed[] = { self, "vm", "--qmp", addr, "--report", vm->report_path };
    for (size_t i = 0; i < G_N_ELEMENTS(fixed); i++)
        g_ptr_array_add(argv, (char *)fixed[i]);
    for (size_t i = 0; args[i]; i++)
        g_ptr_array_add(argv, (char *)args[i]);
    g_ptr_array_add(argv, NULL);
    l = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDIN_INHERIT);
    g_subprocess_launcher_set_stdout_file_path(l, vm->log_path);
    g_subprocess_launcher_set_stderr_file_path(l, vm->err_path);
    vm->proc = g_subprocess_launcher_spawnv(l, (const char *const *)argv->pdata, err);
    g_object_unref(l);
    g_ptr_array_free(argv, TRUE);
    g_free(self);
    if (!vm->proc) {
        g_free(addr);
        return false;
    }
    /* Short connection attempts while the process lives: a vm that dies starting (a bad
     * schema, an address in use) is reported with its own words at once. */
    int64_t deadline = mb_monotonic_ns() + (int64_t)timeout_ms * 1000000;
    for (;;) {
        GError *local = NULL;
        vm->qmp = qmp_client_connect(addr, 1000, false, &local);
        if (vm->qmp)
            break;
        gchar *died = run_vm_exit_message(vm, 0);
        if (died || mb_monotonic_ns() >= deadline) {
            if (died) {
                mb_error_set(err, "%s", died);
                g_error_free(local);
            } else {
                g_propagate_prefixed_error(err, local, "%s vm: ", name);
            }
            g_free(died);
            break;
        }
        g_error_free(local);
    }
    g_free(addr);
    return vm->qmp != NULL;
}

void run_vm_stop(RunVm *vm)
{
    if (vm->qmp) {
        json_object *r = qmp_client_execute(vm->qmp, "quit", NULL, 5000, NULL);
        json_object_put(r);
        qmp_client_free(vm->qmp);
        vm->qmp = NULL;
    }
    if (vm->proc) {
        if (!ended(vm, 10000)) {
            g_subprocess_force_exit(vm->proc);
            g_subprocess_wait(vm->proc, NULL, NULL);
        }
        g_object_unref(vm->proc);
        vm->proc = NULL;
    }
    g_clear_pointer(&vm->qmp_path, g_free);
    g_clear_pointer(&vm->report_path, g_free);
    g_clear_pointer(&vm->log_path, g_free);
    g_clear_pointer(&vm->err_path, g_free);
}
