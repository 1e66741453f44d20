/* What the load tools (rdv-bench, and rdv-attack in tests/adversarial) read
 * about the daemon they drive, from /proc, and the descriptor limit they
 * raise for themselves. One copy for both. */
#ifndef RDV_TOOLS_LIB_PROC_H
#define RDV_TOOLS_LIB_PROC_H

#include <sys/types.h>

/* Resident bytes (statm), -1 if the process is gone. */
long long proc_rss(pid_t pid);
/* CPU seconds used, user + system (stat), by pid and its live children (a
 * master's workers); -1 if gone. */
double proc_cpu(pid_t pid);
/* Read and write system calls so far (io) by pid and its live children; -1
 * if unreadable. */
int proc_io(pid_t pid, unsigned long long *syscr, unsigned long long *syscw);
/* Open-file limit up to the hard limit (many sockets). */
void raise_nofile(void);

#endif
