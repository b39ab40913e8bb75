/* cli_options: GOption for every subcommand (see cli_options.h). */
#include "cli_options.h"

#include <stdarg.h>
#include <stdio.h>

int cli_options_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    gchar *msg;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fprintf(stderr, "migbench %s: %s (see migbench %s --help)\n", cmd, msg, cmd);
    g_free(msg);
    return 2;
}

int cli_options_parse(GOptionContext *ctx, const char *cmd, int *argc, char ***argv)
{
    gboolean help = FALSE;
    GOptionEntry help_entries[] = {
        { "help", 'h', 0, G_OPTION_ARG_NONE, &help, "Show this help and exit", NULL },
        { NULL },
    };
    GError *err = NULL;
    gchar *prg = g_strdup_printf("migbench %s", cmd);

    /* The usage line GOption prints starts with the program name. */
    g_set_prgname(prg);
    g_free(prg);
    g_option_context_set_help_enabled(ctx, FALSE);
    g_option_context_add_main_entries(ctx, help_entries, NULL);
    if (!g_option_context_parse(ctx, argc, argv, &err)) {
        int rc = cli_options_usage_error(cmd, "%s", err->message);
        g_error_free(err);
        return rc;
    }
    if (help) {
        gchar *text = g_option_context_get_help(ctx, TRUE, NULL);
        fputs(text, stdout);
        g_free(text);
        return 0;
    }
    return CLI_OPTIONS_CONTINUE;
}
