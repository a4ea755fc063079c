// A note of which file each analysis thread is working on, written to a journal file if the process dies of a
// fault (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT) while analysing it: the one piece of evidence that a
// file crashes a decoder, which the next `retrieve index` records as that file's failure instead of crashing on
// it again. The signal handler only calls async-signal-safe functions (write) and then hands the signal on to
// the handler installed before it (the Swift runtime's backtracer) or to the default action.
#ifndef RETRIEVE_CRASH_NOTE_H
#define RETRIEVE_CRASH_NOTE_H

#ifdef __cplusplus
extern "C" {
#endif

/// Opens (creating or truncating) the journal at `path` and installs the handlers. Returns 0, or -1 with errno
/// set when the file cannot be opened (then nothing is noted). Calling it again closes the previous journal.
int crash_note_open(const char *path);

/// Closes the journal; the handlers stay installed and note nothing.
void crash_note_close(void);

/// The calling thread is analysing `path` (which must stay valid until `crash_note_end`).
void crash_note_begin(const char *path);

/// The calling thread is no longer analysing a file.
void crash_note_end(void);

/// A real invalid memory access, for tests of the whole path (see CrashNote's RETRIEVE_TEST_CRASH_ON).
void crash_note_fault(void);

#ifdef __cplusplus
}
#endif

#endif
