/* cli: the subcommands of the single `migbench` binary (one file each, like kvmtool's
 * builtin-*.c).  Each takes the arguments after its own name (argv[0] is the subcommand
 * name) and returns the process exit status. */
#ifndef CLI_H
#define CLI_H

int cmd_vm_main(int argc, char **argv);      /* cmd_vm.c: host one guest, serve QMP */
int cmd_qmp_main(int argc, char **argv);     /* cmd_qmp.c: QMP client, one-shot or interactive */
int cmd_run_main(int argc, char **argv);     /* cmd_run.c: the main job, a whole migration */
int cmd_trace_main(int argc, char **argv);   /* cmd_trace.c: gen/record/info/stats/cat/convert */
int cmd_sweep_main(int argc, char **argv);   /* cmd_sweep.c: a grid of runs, local or Slurm */
int cmd_report_main(int argc, char **argv);  /* cmd_report.c: HTML page of plots */
int cmd_compare_main(int argc, char **argv); /* cmd_compare.c: per-metric change, regression gate */

#endif
