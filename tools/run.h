/* run.h — `pce run` (run.c). */
#ifndef PCE_TOOLS_RUN_H
#define PCE_TOOLS_RUN_H

/* argv excludes "pce run". Exit status: 0 ok, 1 a pce call failed, 2 bad
 * usage. */
int pce_run_main(int argc, char **argv);
/* `pce run MODEL -p TEXT` and `pce chat MODEL` (chat.c): text in, text out. */
int pce_run_text_main(int argc, char **argv);
int pce_chat_main(int argc, char **argv);

#endif
