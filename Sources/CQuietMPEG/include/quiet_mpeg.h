#ifndef RETRIEVE_QUIET_MPEG_H
#define RETRIEVE_QUIET_MPEG_H

/// Non-zero once a libmpg123 handle has been created through this target's `mpg123_new` (i.e. the
/// interposition is in effect in this process). Tests use it; the product never needs to call anything.
int retrieve_quiet_mpeg_handles_created(void);

#endif
