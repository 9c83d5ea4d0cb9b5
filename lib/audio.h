/*
 * audio.h - the audio containers /v1/audio/speech answers in, made from
 * the 16-bit little-endian PCM Gemini speaks: a WAVE file (a 44-byte
 * RIFF header before the samples) and MP3 (LAME, constant bit rate, no
 * ID3 or Xing tag). Never prints, never exits.
 */
#ifndef GB_AUDIO_H
#define GB_AUDIO_H

#include <stddef.h>

#include "buf.h"
#include "gb.h"

#define GB_WAV_HEADER	44	/* bytes of a canonical PCM WAVE header */
#define GB_MP3_KBPS	64	/* the bit rate of the MP3 answers */

/*
 * The header of a PCM WAVE file (format 1) of datalen bytes of samples,
 * rate Hz, channels, bits per sample, into hdr (GB_WAV_HEADER bytes).
 * Returns 0, or -1 when datalen does not fit a RIFF file (4 GiB).
 */
int	gb_audio_wav_header(unsigned char *, unsigned, unsigned, unsigned,
	    size_t);

/*
 * Encode len bytes of 16-bit little-endian PCM (rate Hz, 1 or 2
 * channels interleaved) as MP3 at kbps kbit/s, appended to out; the
 * encoder is flushed, so the frames hold every sample. Returns 0, or -1
 * with err set (out's cap: E2BIG in errno; an encoder failure) and out
 * as it was. Thread-safe.
 */
int	gb_audio_mp3(const unsigned char *, size_t, unsigned, unsigned, int,
	    struct gb_buf *, struct gb_err *);

#endif
