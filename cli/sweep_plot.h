/* sweep_plot: draws the plots of `migbench report` with gnuplot (Debian's gnuplot-nox),
 * driven through its command interface: the caller writes the plot commands with the data
 * inline (gnuplot's `$name << EOD` data blocks), gnuplot writes SVG on its stdout, and the
 * SVG element is embedded as it is in the page, so the page needs no network and no
 * script to show its plots.  Plotting is delegated on purpose: axes, ticks, legends and
 * scales are gnuplot's well-tested work, not chart code of our own. */
#ifndef SWEEP_PLOT_H
#define SWEEP_PLOT_H

#include <glib.h>
#include <stdbool.h>

/* The gnuplot program: $MIGBENCH_GNUPLOT, or "gnuplot" on PATH; NULL when there is none.
 * Returns a new string. */
gchar *sweep_plot_program(void);

/* Runs `commands` (after a preamble setting the SVG terminal of the given size in pixels
 * and the page's font) and returns the <svg ...>...</svg> element gnuplot drew, or NULL
 * with an error carrying gnuplot's own message.  Gives up after 60 s: a plot must never
 * hang a report. */
gchar *sweep_plot_svg(const char *gnuplot, const char *commands, int width, int height,
                      GError **err);

/* Appends `text` to `s` as a gnuplot string in double quotes (escaping '"', '\\' and '@'
 * so that enhanced text mode takes it literally). */
void sweep_plot_quote(GString *s, const char *text);

#endif
