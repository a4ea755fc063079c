#pragma once
// The header's static callback tables would be unused copies in every importer.
#define OV_EXCLUDE_STATIC_CALLBACKS
#include <vorbis/vorbisfile.h>
