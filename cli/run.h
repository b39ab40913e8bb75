/* run: shared between cmd_run.c (orchestration) and run_report.c (report and golden check).
 *
 * A run's result is one JSON object.  Everything under "result" and "query-migrate" (each
 * side's final reply, verbatim) is a pure function of the inputs in sim mode (guest time
 * only); wall-clock measurements live under "wall" and are ignored by golden comparisons. */
#ifndef RUN_H
#define RUN_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>

/* Builds the "result" object from the two vm reports and the run's settings. */
json_object *run_report_build(json_object *settings, json_object *src, json_object *dst);
/* A QMP reply value made fit to be written verbatim with json-c: member names and order
 * are kept as received (json-c objects keep insertion order); each double is given the
 * text QEMU 5.0 and migbench's server write on the wire ("%f" without trailing zeros),
 * which json-c then prints instead of its own "%.17g".  Takes `v`, returns it. */
json_object *run_report_verbatim(json_object *v);
/* Prints the report table for people. */
void run_report_print(FILE *out, json_object *report);
/* Compares `report` with a golden file field by field: "settings", "result", and
 * "query-migrate" when the golden file has it (never "wall"); prints a readable diff to
 * `out`.  Returns true when they are equal. */
bool run_report_check(FILE *out, json_object *report, const char *golden_path);

#endif
