#pragma once
#include <opusfile.h>
#include <opus.h>

// opus_decoder_ctl is variadic, which Swift cannot call: the one request we make, as a plain function.
static inline int retrieve_opus_set_gain(OpusDecoder *decoder, int gain_q8) {
    return opus_decoder_ctl(decoder, OPUS_SET_GAIN(gain_q8));
}
