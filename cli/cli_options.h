/* cli_options: how every subcommand parses its command line (GLib's GOption), so that all
 * of them accept the same forms (--opt VALUE, --opt=VALUE, -x, "--" ends the options),
 * answer -h/--help on stdout with exit status 0, and reject a bad command line with one
 * clear line on stderr and exit status 2.
 *
 * GOption's built-in help is turned off: it prints and calls exit() from inside the
 * parser, which would skip the callers' cleanup (and the leak checker would notice). */
#ifndef CLI_OPTIONS_H
#define CLI_OPTIONS_H

#include <glib.h>

/* What cli_options_parse() returns when the command should go on. */
#define CLI_OPTIONS_CONTINUE (-1)

/* Parses argc and argv (argv[0] is the subcommand's name, e.g. "vm") with `ctx`, whose
 * entries the caller has added; `cmd` names the command in messages ("vm", "trace info").
 * Adds -h/--help.  Parsed options are removed from argv; non-option arguments stay, in
 * order, after argv[0] (unless the caller added a G_OPTION_REMAINING entry).
 * Returns CLI_OPTIONS_CONTINUE, or the exit status after printing: 0 for --help (the help
 * on stdout), 2 for an unknown option or a missing or bad value ("migbench CMD: MESSAGE
 * (see migbench CMD --help)" on stderr).  The caller frees `ctx`. */
int cli_options_parse(GOptionContext *ctx, const char *cmd, int *argc, char ***argv);

/* Prints "migbench CMD: MESSAGE (see migbench CMD --help)" on stderr and returns 2, the
 * exit status of a usage error, for checks made after parsing. */
int cli_options_usage_error(const char *cmd, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

#endif
