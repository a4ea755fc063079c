#include "crash_note.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static volatile int note_fd = -1;
static __thread const char *current_path = 0;
static const int noted_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT};
#define NOTED_COUNT (sizeof(noted_signals) / sizeof(noted_signals[0]))
static struct sigaction previous[NOTED_COUNT];
static volatile int installed = 0;

static void write_all(int fd, const char *bytes, size_t count) {
    while (count > 0) {
        ssize_t written = write(fd, bytes, count);
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) return;
        bytes += written;
        count -= (size_t)written;
    }
}

static void handler(int signal_number, siginfo_t *info, void *context) {
    (void)context;
    int saved_errno = errno;
    const char *path = current_path;
    int fd = note_fd;
    if (fd >= 0 && path) {
        // One record: the signal number in decimal, a tab, the path, a NUL (paths may hold tabs and newlines).
        char head[12];
        char *start = head + sizeof head;
        *--start = '\t';
        int value = signal_number;
        do { *--start = (char)('0' + value % 10); value /= 10; } while (value > 0);
        write_all(fd, start, (size_t)(head + sizeof head - start));
        write_all(fd, path, strlen(path));
        write_all(fd, "", 1);
        fsync(fd);
    }
    errno = saved_errno;
    // Hand the signal on: put back the handler installed before this one (the Swift runtime's backtracer, or the
    // default action) and let it run as it would have without us — a fault re-runs its instruction when this
    // handler returns; a signal sent by raise() or kill() (si_code <= 0) is sent again, pending until then.
    // Calling the previous handler from here instead left the Swift backtracer's helper process waiting for ever.
    for (unsigned i = 0; i < NOTED_COUNT; i++) {
        if (noted_signals[i] != signal_number) continue;
        sigaction(signal_number, &previous[i], 0);
        if (!info || info->si_code <= 0) raise(signal_number);
        return;
    }
}

int crash_note_open(const char *path) {
    crash_note_close();
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    note_fd = fd;
    if (!installed) {
        installed = 1;
        for (unsigned i = 0; i < NOTED_COUNT; i++) {
            struct sigaction action;
            memset(&action, 0, sizeof action);
            action.sa_sigaction = handler;
            action.sa_flags = SA_SIGINFO | SA_ONSTACK;
            sigemptyset(&action.sa_mask);
            sigaction(noted_signals[i], &action, &previous[i]);
        }
    }
    return 0;
}

void crash_note_close(void) {
    int fd = note_fd;
    note_fd = -1;
    if (fd >= 0) close(fd);
}

void crash_note_begin(const char *path) { current_path = path; }

void crash_note_end(void) { current_path = 0; }

void crash_note_fault(void) {
    volatile int *nowhere = 0;
    *nowhere = 1;
}
