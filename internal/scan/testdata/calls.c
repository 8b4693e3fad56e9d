/* A program whose syscalls the scanner must find: through libc wrappers (socket, fchown, adjtimex, which
 * glibc makes clock_adjtime), through glibc's syscall() with a constant number (swapon), and a raw syscall
 * instruction in its own code (ptrace, 101). Built static and dynamic by scan_test.go. */
#define _GNU_SOURCE
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timex.h>
#include <unistd.h>
#include <string.h>

static long raw_ptrace(void) {
    long r = 0;
#ifdef __x86_64__
    __asm__ volatile("mov $101, %%eax\n\tsyscall" : "=a"(r) : : "rcx", "r11", "memory");
#endif
    return r;
}

int main(int argc, char **argv) {
    if (argc > 1 && argv[1][0] == 's') return socket(AF_INET, SOCK_STREAM, 0);
    if (argc > 1 && argv[1][0] == 'c') return fchown(0, -1, -1);
    if (argc > 1 && argv[1][0] == 'w') return syscall(SYS_swapon, "/nonexistent", 0);
    if (argc > 1 && argv[1][0] == 'a') { struct timex tx; memset(&tx, 0, sizeof tx); return adjtimex(&tx); }
    if (argc > 1 && argv[1][0] == 'p') return raw_ptrace();
    return 0;
}
