/* probe MODE...: makes the named syscalls in order and reports each. ExecStart of the e2e units.
 * Built by the e2e tests with gcc. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timex.h>
#include <time.h>
int main(int argc, char **argv) {
  int strict = 0, failed = 0; /* "strict" first: exit 1 if a call failed (a unit that breaks on a denial) */
  for (int i = 1; i < argc; i++) {
    const char *m = argv[i]; long r;
    if (!strcmp(m, "strict")) { strict = 1; continue; }
    printf("probe[%d]: calling %s\n", getpid(), m); fflush(stdout); errno = 0;
    if (!strcmp(m, "fchown")) r = fchown(0, (uid_t)-1, (gid_t)-1);                            /* @chown      */
    else if (!strcmp(m, "socket")) r = socket(AF_INET, SOCK_STREAM, 0);                       /* @network-io */
    else if (!strcmp(m, "mount")) r = mount("none", "/nonexistent-sysdiag", "tmpfs", 0, NULL); /* @mount      */
    else if (!strcmp(m, "ptrace")) r = syscall(SYS_ptrace, 0x4206 /*SEIZE*/, 0, 0, 0);         /* @debug      */
    else if (!strcmp(m, "swapon")) r = syscall(SYS_swapon, "/nonexistent-sysdiag", 0);         /* @swap       */
    else if (!strcmp(m, "sethostname")) r = sethostname("x", 1);                              /* @system-service? no */
    else if (!strcmp(m, "seccomp")) { unsigned act = 0x7fff0000U; r = syscall(SYS_seccomp, 2 /*GET_ACTION_AVAIL*/, 0, &act); } /* @sandbox (v254) */
    else if (!strcmp(m, "open_tree_attr")) r = syscall(467, -1, "", 0, NULL, 0);              /* Linux 6.15: newer than 252's and 257's @known */
    else if (!strcmp(m, "tick")) { /* sleep to 50 ms past the next full second: units started together die in one second */
      struct timespec now; clock_gettime(CLOCK_REALTIME, &now);
      struct timespec d = {0, 1050000000L - now.tv_nsec};
      if (d.tv_nsec >= 1000000000L) { d.tv_sec = 1; d.tv_nsec -= 1000000000L; }
      r = nanosleep(&d, NULL); }
    else if (!strcmp(m, "adjtimex")) { struct timex tx; memset(&tx, 0, sizeof tx); r = adjtimex(&tx); if (r > 0) r = 0; } /* @clock, read-only (modes 0): harmless when let through */
    else if (!strcmp(m, "loop")) { for (long k = 0; k < 200000; k++) syscall(SYS_swapon, "/nonexistent-sysdiag", 0); r = 0; }
    else { fprintf(stderr, "unknown mode %s\n", m); return 2; }
    printf("probe: %s returned %ld (%s)\n", m, r, r < 0 ? strerror(errno) : "ok"); fflush(stdout);
    if (r < 0) failed = 1;
  }
  return strict && failed ? 1 : 0;
}
