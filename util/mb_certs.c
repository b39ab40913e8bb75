/* mb_certs: a CA and certificates made with certtool (see mb_certs.h). */
#include "mb_certs.h"
#include "mb_error.h"

#include <string.h>

static const char ca_template[] = "cn = \"migbench run CA\"\nca\ncert_signing_key\n"
                                  "expiration_days = 2\n";
static const char server_template[] = "organization = \"migbench\"\ncn = \"localhost\"\n"
                                      "dns_name = \"localhost\"\nip_address = \"127.0.0.1\"\n"
                                      "tls_www_server\nencryption_key\nsigning_key\n"
                                      "expiration_days = 2\n";
static const char client_template[] = "organization = \"migbench\"\ncn = \"migbench-run-source\"\n"
                                      "tls_www_client\nencryption_key\nsigning_key\n"
                                      "expiration_days = 2\n";

/* Runs certtool with `args` (NULL-terminated, after the program name). */
static bool certtool(const char *const *args, GError **err)
{
    gchar *prog = g_find_program_in_path("certtool");
    GPtrArray *argv = g_ptr_array_new();
    gchar *errout = NULL;
    gint status = 0;
    GError *local = NULL;

    if (!prog) {
        mb_error_set(err, "certtool not found: install gnutls-bin (scripts/setup-deps.sh)");
        g_ptr_array_free(argv, TRUE);
        return false;
    }
    g_ptr_array_add(argv, prog);
    for (const char *const *a = args; *a; a++)
        g_ptr_array_add(argv, (gpointer)*a);
    g_ptr_array_add(argv, NULL);
    bool ok = g_spawn_sync(NULL, (gchar **)argv->pdata, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL,
                           NULL, NULL, &errout, &status, &local) &&
              g_spawn_check_wait_status(status, &local);
    if (!ok) {
        mb_error_set(err, "certtool %s failed: %s%s%s", args[0], local->message,
                     errout && *errout ? ": " : "", errout ? g_strstrip(errout) : "");
        g_error_free(local);
    }
    g_free(errout);
    g_free(prog);
    g_ptr_array_free(argv, TRUE);
    return ok;
}

static gchar *write_file(const char *dir, const char *name, const char *text, GError **err)
{
    gchar *path = g_build_filename(dir, name, NULL);

    if (!g_file_set_contents(path, text, -1, err)) {
        g_free(path);
        return NULL;
    }
    return path;
}

static bool make_key(const char *path, GError **err)
{
    const char *args[] = {
        "--generate-privkey", "--key-type=rsa", "--sec-param=medium", "--outfile", path, NULL
    };
    return certtool(args, err);
}

bool mb_certs_make(const char *dir, GError **err)
{
    gchar *ca_key = g_build_filename(dir, "ca-key.pem", NULL);
    gchar *ca_cert = g_build_filename(dir, "ca-cert.pem", NULL);
    gchar *tmpl = write_file(dir, "ca.info", ca_template, err);
    bool ok = tmpl && make_key(ca_key, err);

    if (ok) {
        const char *args[] = { "--generate-self-signed",
                               "--load-privkey",
                               ca_key,
                               "--template",
                               tmpl,
                               "--outfile",
                               ca_cert,
                               NULL };
        ok = certtool(args, err);
    }
    g_free(tmpl);
    static const struct {
        const char *who;
        const char *text;
    } leaves[] = { { "server", server_template }, { "client", client_template } };
    for (size_t i = 0; ok && i < G_N_ELEMENTS(leaves); i++) {
        gchar *name = g_strdup_printf("%s.info", leaves[i].who);
        gchar *key = g_strdup_printf("%s/%s-key.pem", dir, leaves[i].who);
        gchar *cert = g_strdup_printf("%s/%s-cert.pem", dir, leaves[i].who);
        tmpl = write_file(dir, name, leaves[i].text, err);
        ok = tmpl && make_key(key, err);
        if (ok) {
            const char *args[] = { "--generate-certificate",
                                   "--load-privkey",
                                   key,
                                   "--load-ca-certificate",
                                   ca_cert,
                                   "--load-ca-privkey",
                                   ca_key,
                                   "--template",
                                   tmpl,
                                   "--outfile",
                                   cert,
                                   NULL };
            ok = certtool(args, err);
        }
        g_free(tmpl);
        g_free(name);
        g_free(key);
        g_free(cert);
    }
    g_free(ca_key);
    g_free(ca_cert);
    return ok;
}
