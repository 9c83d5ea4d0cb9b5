/*
 * audio.c - WAVE headers and MP3 encoding (audio.h).
 *
 * A WAVE file here is the canonical 44-byte form: "RIFF" size "WAVE",
 * a 16-byte "fmt " chunk (PCM, channels, rate, byte rate, block align,
 * bits) and one "data" chunk; every field little-endian, written byte by
 * byte so the host's byte order does not matter.
 *
 * MP3 comes from LAME (libmp3lame). The samples keep their rate when it
 * is one MP3 has (24 kHz, Gemini's, is an MPEG-2 rate), at a constant bit
 * rate, without the Xing/LAME frame or an ID3 tag: the answer is MPEG
 * audio frames and nothing else, which every decoder and `file` accept.
 * LAME fills some tables shared by all its encoders the first time one
 * is set up; setting one up is serialised so that conversions on a
 * host's worker threads never write them at once.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include <lame/lame.h>

#include "audio.h"

#define CHUNK	4608		/* samples per channel per encoder call */
#define MP3BUF	(CHUNK * 5 / 4 + 7200)	/* LAME's worst case for CHUNK */

static pthread_mutex_t setup_mu = PTHREAD_MUTEX_INITIALIZER;

static void
le16(unsigned char *p, unsigned v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8 & 0xff;
}

static void
le32(unsigned char *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8 & 0xff;
	p[2] = v >> 16 & 0xff;
	p[3] = v >> 24 & 0xff;
}

int
gb_audio_wav_header(unsigned char *h, unsigned rate, unsigned channels,
    unsigned bits, size_t datalen)
{
	unsigned align = channels * ((bits + 7) / 8);

	if (datalen > UINT32_MAX - (GB_WAV_HEADER - 8))
		return -1;
	memcpy(h, "RIFF", 4);
	le32(h + 4, (uint32_t)(datalen + GB_WAV_HEADER - 8));
	memcpy(h + 8, "WAVEfmt ", 8);
	le32(h + 16, 16);			/* the fmt chunk's size */
	le16(h + 20, 1);			/* PCM */
	le16(h + 22, channels);
	le32(h + 24, rate);
	le32(h + 28, (uint32_t)rate * align);	/* bytes per second */
	le16(h + 32, align);
	le16(h + 34, bits);
	memcpy(h + 36, "data", 4);
	le32(h + 40, (uint32_t)datalen);
	return 0;
}

/* Is rate one of the sampling rates of MPEG-1, -2 or -2.5 audio? */
static int
mp3_rate(unsigned rate)
{
	static const unsigned rates[] = {
		8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000
	};
	size_t i;

	for (i = 0; i < GB_NELEM(rates); i++)
		if (rates[i] == rate)
			return 1;
	return 0;
}

static lame_t
encoder(unsigned rate, unsigned channels, int kbps)
{
	lame_t gf;

	pthread_mutex_lock(&setup_mu);
	if ((gf = lame_init()) == NULL)
		goto out;
	lame_set_num_channels(gf, (int)channels);
	lame_set_in_samplerate(gf, (int)rate);
	/* else LAME picks the nearest rate it has and resamples */
	if (mp3_rate(rate))
		lame_set_out_samplerate(gf, (int)rate);
	lame_set_mode(gf, channels == 1 ? MONO : JOINT_STEREO);
	lame_set_VBR(gf, vbr_off);
	lame_set_brate(gf, kbps);
	lame_set_quality(gf, 5);
	lame_set_bWriteVbrTag(gf, 0);
	lame_set_write_id3tag_automatic(gf, 0);
	if (lame_init_params(gf) < 0) {
		lame_close(gf);
		gf = NULL;
	}
out:
	pthread_mutex_unlock(&setup_mu);
	return gf;
}

/* Append n bytes of frames; -1 with err set at the cap. */
static int
put(struct gb_buf *out, const unsigned char *p, int n, struct gb_err *err)
{
	if (n <= 0 || gb_buf_append(out, p, (size_t)n) == 0)
		return 0;
	if (errno == E2BIG)
		return gb_err_set(err, GB_EXIT_TEMP, 500,
		    "output: more than %zu bytes", out->cap);
	return gb_err_set(err, GB_EXIT_TEMP, 500, "out of memory");
}

int
gb_audio_mp3(const unsigned char *pcm, size_t len, unsigned rate,
    unsigned channels, int kbps, struct gb_buf *out, struct gb_err *err)
{
	static const char *const why[] = {
		"", "buffer too small", "out of memory", "not set up",
		"psychoacoustic model failed"
	};
	short samples[CHUNK * 2];
	unsigned char mp3[MP3BUF];
	size_t frame = (size_t)channels * 2, nframes, off, n, i;
	size_t outlen = out->len;
	lame_t gf;
	int w;

	if ((channels != 1 && channels != 2) || len % frame != 0)
		return gb_err_set(err, GB_EXIT_USAGE, 502, "audio: %zu bytes "
		    "are not whole %u-channel 16-bit samples", len, channels);
	if ((gf = encoder(rate, channels, kbps)) == NULL)
		return gb_err_set(err, GB_EXIT_TEMP, 500, "mp3: the encoder "
		    "cannot be set up for %u Hz, %u channels, %d kbit/s",
		    rate, channels, kbps);
	nframes = len / frame;
	for (off = 0; off < nframes; off += n) {
		n = nframes - off < CHUNK ? nframes - off : CHUNK;
		for (i = 0; i < n * channels; i++) {
			const unsigned char *s = pcm + (off * channels + i) * 2;

			samples[i] = (short)(int16_t)(uint16_t)(s[0] |
			    (unsigned)s[1] << 8);
		}
		if (channels == 1)
			w = lame_encode_buffer(gf, samples, samples, (int)n,
			    mp3, (int)sizeof(mp3));
		else
			w = lame_encode_buffer_interleaved(gf, samples,
			    (int)n, mp3, (int)sizeof(mp3));
		if (w < 0 || put(out, mp3, w, err) == -1)
			goto fail;
	}
	if ((w = lame_encode_flush(gf, mp3, (int)sizeof(mp3))) < 0 ||
	    put(out, mp3, w, err) == -1)
		goto fail;
	lame_close(gf);
	return 0;
fail:
	if (w < 0)
		gb_err_set(err, GB_EXIT_TEMP, 500, "mp3: encoding failed (%s)",
		    -w < (int)GB_NELEM(why) ? why[-w] : "unknown error");
	lame_close(gf);
	out->len = outlen;
	if (out->data != NULL)
		out->data[outlen] = '\0';
	return -1;
}
