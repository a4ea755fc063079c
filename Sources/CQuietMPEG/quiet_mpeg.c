// libsndfile decodes MP3 through libmpg123 and never sets MPG123_QUIET, so every damaged MP3 — or any
// non-MP3 file named .mp3 — makes libmpg123 print "Note: Illegal Audio-MPEG-Header …", "Note: Trying to
// resync…" lines straight to the process's stderr, between our own one-line reasons and over the progress
// bar. libsndfile offers no way to reach its mpg123 handle, so this file defines `mpg123_new` itself: the
// executable's definition comes first in the dynamic linker's search, so libsndfile's call lands here, the
// real function (found with RTLD_NEXT) makes the handle, and the printouts are switched off. Errors still
// reach us as libsndfile error codes; only libmpg123's own console chatter goes.
//
// If libmpg123 is not loaded (a libsndfile without MP3 support) nothing ever calls this.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <mpg123.h>
#include <stddef.h>

#include "quiet_mpeg.h"

typedef mpg123_handle *(*mpg123_new_fn)(const char *, int *);
// `mpg123_param` (enum type) has been exported by every libmpg123 since 1.0; enums are ints in this ABI.
typedef int (*mpg123_param_fn)(mpg123_handle *, int, long, double);

static int handles_created = 0;

int retrieve_quiet_mpeg_handles_created(void) {
    return __atomic_load_n(&handles_created, __ATOMIC_RELAXED);
}

mpg123_handle *mpg123_new(const char *decoder, int *error) {
    // dlsym is thread-safe and returns the same pointer every time, so no caching (and no race) is needed;
    // one lookup per opened MP3 file is noise next to decoding it.
    mpg123_new_fn real_new = (mpg123_new_fn)dlsym(RTLD_NEXT, "mpg123_new");
    if (real_new == NULL) {
        if (error != NULL) *error = MPG123_ERR;
        return NULL;
    }
    mpg123_handle *handle = real_new(decoder, error);
    mpg123_param_fn param = (mpg123_param_fn)dlsym(RTLD_NEXT, "mpg123_param");
    if (handle != NULL && param != NULL) {
        param(handle, MPG123_ADD_FLAGS, MPG123_QUIET, 0.0);
        __atomic_store_n(&handles_created, 1, __ATOMIC_RELAXED);
    }
    return handle;
}
