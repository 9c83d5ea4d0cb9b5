/*
 * voice.h - the speech voices /v1/audio/speech and TTS_VOICE accept:
 * Gemini's 30 prebuilt voices by name (any case), and OpenAI's voice
 * names, each mapped to one Gemini voice by a fixed table (gb-convert(1),
 * Speech). No dependencies, so the configuration can check TTS_VOICE.
 */
#ifndef GB_VOICE_H
#define GB_VOICE_H

/*
 * The Gemini voice a name means, spelled as Gemini wants it ("kore" ->
 * "Kore", "alloy" -> "Schedar"), or NULL for a name that is neither.
 */
const char	*gb_voice_find(const char *);

#endif
